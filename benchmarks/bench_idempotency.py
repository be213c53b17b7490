"""What an idempotent write costs: POST /api/v1/transfers through the whole service (guard,
idempotency records in the ledger's database, route, ledger write) against the same transfer
written through the library, on one SQLite ledger (WAL, synchronous=FULL), in one process.

The difference is the HTTP stack plus the two short transactions of an idempotency record
(claim before the route, the response after it), each a commit with its fsync.

Also: one pass of the service's pruning of expired records (``PRUNE_ROWS`` of the oldest, in
a transaction of its own) in a table of ``PRUNE_TABLE_ROWS`` records, with the index on the
claim time (migration 7) and, as the baseline in the same run, without it.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path

from benchmarks.timing import median_seconds
from hashmarket.api.record_writer import PRUNE_ROWS

BATCH = 50
PRUNE_TABLE_ROWS = 1_000_000


def main() -> None:
    from fastapi.testclient import TestClient

    from hashmarket.api import ServiceConfig, create_app
    from hashmarket.api.keys import Role, ServiceStore
    from hashmarket.ledger import Account, Asset, Ledger, Transfer
    from hashmarket.ledger import idempotency as idem

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        url = f"sqlite:///{data_dir / 'ledger.sqlite'}"
        with Ledger.open(url, create=True) as ledger:
            ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="btc-issuer")
            ledger.create_accounts([Account(1001, "BTC"), Account(1002, "BTC")])
        secret = ServiceStore.in_data_dir(data_dir).create_key(Role.ADMIN)[1]
        config = ServiceConfig(data_dir=data_dir, rate_limit_per_s=1e6, rate_limit_burst=1e6)
        client = TestClient(create_app(config))
        ids = itertools.count(1)

        def through_http() -> None:
            for _ in range(BATCH):
                n = next(ids)
                body = {"id": n, "debit_account_id": 1, "credit_account_id": 1001, "amount": 1}
                headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": f"k{n}"}
                response = client.post("/api/v1/transfers", json=body, headers=headers)
                assert response.status_code == 201, response.text

        with Ledger.open(url) as ledger:

            def through_library() -> None:
                for _ in range(BATCH):
                    ledger.transfer(Transfer(next(ids), 1, 1002, 1))

            def records_alone() -> None:
                stored = idem.StoredResponse(201, "application/json", b"{}")
                for _ in range(BATCH):
                    key = f"r{next(ids)}"
                    claim = idem.claim(ledger, "bench", key, "sha", lease_ns=10**12)
                    assert claim.token is not None
                    idem.complete(ledger, "bench", key, claim.token, stored)

            start = time.perf_counter()
            http_s = median_seconds(through_http, repeat=5)
            library_s = median_seconds(through_library, repeat=5)
            records_s = median_seconds(records_alone, repeat=5)
            total_s = time.perf_counter() - start
    print(f"one SQLite ledger in a temporary directory, batches of {BATCH}, median of 5")
    print(f"(the three measurements took {total_s:.0f} s)")
    for name, seconds in (
        ("POST /api/v1/transfers (HTTP in process, idempotency records)", http_s),
        ("baseline: Ledger.transfer, the same write through the library", library_s),
        ("an idempotency record alone (claim + complete)", records_s),
    ):
        print(f"{name}: {seconds / BATCH * 1e3:.2f} ms per request")
    prune_ms, scan_ms = _pruning()
    print(
        f"pruning, {PRUNE_TABLE_ROWS:,} records, passes of the {PRUNE_ROWS:,} oldest, median of 5:"
    )
    print(f"  with the index on the claim time (migration 7): {prune_ms:.1f} ms per pass")
    print(f"  baseline, the same passes without the index: {scan_ms:.1f} ms per pass")


def _pruning() -> tuple[float, float]:
    """Median milliseconds of a pruning pass with the index, then without it."""
    from hashmarket.ledger import Ledger
    from hashmarket.ledger import idempotency as idem

    stored = idem.StoredResponse(201, "application/json", b'{"id": 1}')
    with (
        tempfile.TemporaryDirectory() as tmp,
        Ledger.open(f"sqlite:///{Path(tmp) / 'ledger.sqlite'}", create=True) as ledger,
    ):
        with ledger.records() as store:
            for n in range(PRUNE_TABLE_ROWS):
                claim = idem.claim_in(store, "bench", f"k{n}", "sha", now_ns=n, lease_ns=1)
                assert claim.token is not None
                idem.complete_in(store, "bench", f"k{n}", claim.token, stored, now_ns=n)
        medians = []
        for indexed in (True, False):
            passes = []
            for _ in range(5):
                start = time.perf_counter()
                with ledger.records() as store:
                    deleted = idem.prune_in(store, before_ns=PRUNE_TABLE_ROWS, limit=PRUNE_ROWS)
                passes.append(time.perf_counter() - start)
                assert deleted == PRUNE_ROWS
            medians.append(sorted(passes)[2] * 1e3)
            if indexed:
                with ledger.records() as store:
                    store.execute("DROP INDEX idempotency_records_by_age")
        return medians[0], medians[1]
