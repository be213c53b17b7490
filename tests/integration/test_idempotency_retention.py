"""Idempotency records are kept for the service's retention, then forgotten.

* Pruning deletes the records claimed before the cut-off, oldest first and at most as many
  as asked, on SQLite and PostgreSQL; a forgotten key is new again, a kept one still
  refuses another request.
* The service's record writer prunes by itself, between batches: a key replays while its
  record is kept and runs anew once the retention has passed.
* A retention that does not exceed the claims' lease is refused (a live claim could be
  forgotten).
* Every ledger has the index pruning reads (migration 7), so a pass never scans the table.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hashmarket.api import ServiceConfig
from hashmarket.api.record_writer import ClaimSlot, RecordWriter
from hashmarket.cli.app import app as cli
from hashmarket.errors import UsageError
from hashmarket.ledger import Outcome, StoredResponse, idempotency
from tests.conftest import open_ledger

OK = StoredResponse(201, "application/json", b"{}")


def test_pruning_forgets_the_oldest_records_before_the_cut_off(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        with ledger.snapshot() as store:
            if ledger_url.startswith("sqlite"):
                sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND name = ?"
            else:
                sql = "SELECT indexname FROM pg_indexes WHERE indexname = ?"
            assert store.query(sql, ("idempotency_records_by_age",))
        with ledger.records() as store:
            for i in range(10):
                claim = idempotency.claim_in(
                    store, "k1", f"key-{i}", f"hash-{i}", now_ns=1_000 * (i + 1), lease_ns=10
                )
                assert claim.outcome is Outcome.CLAIMED and claim.token is not None
                if i % 2 == 0:  # completed and in-flight records are forgotten alike
                    idempotency.complete_in(
                        store, "k1", f"key-{i}", claim.token, OK, now_ns=1_000 * (i + 1)
                    )
        with ledger.records() as store:
            # key-0 … key-4 were claimed before 5,001 ns: three, then the other two
            assert idempotency.prune_in(store, before_ns=5_001, limit=3) == 3
            assert idempotency.prune_in(store, before_ns=5_001, limit=100) == 2
            assert idempotency.prune_in(store, before_ns=5_001, limit=100) == 0
        with ledger.records() as store:
            forgotten = idempotency.claim_in(
                store, "k1", "key-0", "another request", now_ns=20_000, lease_ns=10
            )
            kept = idempotency.claim_in(
                store, "k1", "key-6", "another request", now_ns=20_000, lease_ns=10
            )
            replay = idempotency.claim_in(
                store, "k1", "key-8", "hash-8", now_ns=20_000, lease_ns=10
            )
        assert forgotten.outcome is Outcome.CLAIMED  # new again
        assert kept.outcome is Outcome.MISMATCH  # still refuses a different request
        assert replay.outcome is Outcome.REPLAY and replay.response == OK


def test_the_record_writer_forgets_expired_records_by_itself(ledger_url: str) -> None:
    with open_ledger(ledger_url):
        pass
    writer = RecordWriter(
        ledger_url, lease_ns=10**8, retention_ns=5 * 10**8, prune_every_s=0.05
    )  # a lease of 0.1 s, a retention of 0.5 s, a pass every 50 ms
    try:
        claim = writer.claim("k1", "order-1", "hash-1").result(10)
        assert claim.outcome is Outcome.CLAIMED and claim.token is not None
        assert writer.complete(ClaimSlot("k1", "order-1", claim.token), OK).result(10)
        again = writer.claim("k1", "order-1", "hash-1").result(10)
        assert again.outcome is Outcome.REPLAY and again.response == OK
        deadline = time.monotonic() + 20
        while writer.pruned < 1:
            assert time.monotonic() < deadline, "the record was never forgotten"
            time.sleep(0.05)
        # The writer's own thread pruned: with nothing queued, between batches.
        fresh = writer.claim("k1", "order-1", "another request").result(10)
        assert fresh.outcome is Outcome.CLAIMED
    finally:
        writer.stop()


def test_a_retention_within_the_lease_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="must exceed the claims' lease"):
        ServiceConfig(data_dir=tmp_path, idempotency_retention_s=300.0)
    assert ServiceConfig(data_dir=tmp_path).idempotency_retention_s == 86_400.0
    result = CliRunner().invoke(cli, ["serve", "--idempotency-retention", "60"])
    assert result.exit_code == 2 and "--idempotency-retention" in result.output
