"""Idempotency-Key across server processes: ``hashmarket serve --workers 2`` on SQLite and on
PostgreSQL, concurrent requests with one key, replays after a restart; and the records
themselves (claim, replay, mismatch, in flight, release, takeover after the lease)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hashmarket.api.keys import Role, ServiceStore
from hashmarket.ledger import Account, Ledger, ManualClock
from hashmarket.ledger import idempotency as idem
from hashmarket.ledger.idempotency import Outcome, StoredResponse
from tests.conftest import STORES, UrlFactory, open_ledger

ROUNDS, CONCURRENT = 5, 8
LEASE_NS = 10 * 10**9


def test_records_claim_replay_mismatch_release_and_takeover(ledger_url: str) -> None:
    clock = ManualClock(10**18)
    with open_ledger(ledger_url, clock) as ledger:
        before = ledger.state_hash()
        first = idem.claim(ledger, "k1", "a", "hash-1", lease_ns=LEASE_NS)
        assert first.outcome is Outcome.CLAIMED
        assert (
            idem.claim(ledger, "k1", "a", "hash-1", lease_ns=LEASE_NS).outcome is Outcome.IN_FLIGHT
        )
        assert (
            idem.claim(ledger, "k1", "a", "hash-2", lease_ns=LEASE_NS).outcome is Outcome.MISMATCH
        )
        # Another scope (API key) has its own keys.
        assert idem.claim(ledger, "k2", "a", "hash-2", lease_ns=LEASE_NS).outcome is Outcome.CLAIMED
        assert first.token is not None
        stored = StoredResponse(201, "application/json", b'{"id": 1}')
        assert idem.complete(ledger, "k1", "a", first.token, stored)
        replay = idem.claim(ledger, "k1", "a", "hash-1", lease_ns=LEASE_NS)
        assert (replay.outcome, replay.response) == (Outcome.REPLAY, stored)
        assert not idem.complete(ledger, "k1", "a", first.token, stored)  # only once

        # A released claim (server error) may run again.
        failed = idem.claim(ledger, "k1", "b", "hash-3", lease_ns=LEASE_NS)
        assert failed.token is not None
        idem.release(ledger, "k1", "b", failed.token)
        assert idem.claim(ledger, "k1", "b", "hash-3", lease_ns=LEASE_NS).outcome is Outcome.CLAIMED

        # A claim whose process died is taken over once its lease has run out; the old
        # claimant can then no longer complete it.
        dead = idem.claim(ledger, "k1", "c", "hash-4", lease_ns=LEASE_NS)
        assert dead.token is not None
        clock.advance(9)
        assert (
            idem.claim(ledger, "k1", "c", "hash-4", lease_ns=LEASE_NS).outcome is Outcome.IN_FLIGHT
        )
        clock.advance(1)
        taken = idem.claim(ledger, "k1", "c", "hash-4", lease_ns=LEASE_NS)
        assert taken.outcome is Outcome.CLAIMED and taken.token != dead.token
        assert not idem.complete(ledger, "k1", "c", dead.token, stored)
        assert taken.token is not None and idem.complete(ledger, "k1", "c", taken.token, stored)
        # None of it is ledger state.
        assert ledger.state_hash() == before
        assert ledger.verify().ok


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def serve(
    data_dir: Path, ledger_url: str, *, workers: int = 2, options: tuple[str, ...] = ()
) -> Iterator[str]:
    """``hashmarket serve --workers N [options]`` as a user runs it, until the block ends."""
    port = free_port()
    env = {**os.environ, "HASHMARKET_DATA_DIR": str(data_dir), "HOME": str(data_dir)}
    command = [sys.executable, "-m", "hashmarket", "serve", "--port", str(port)]
    command += ["--workers", str(workers), "--db", ledger_url, *options]
    # The server's log goes to a file (a pipe nobody reads would block it once full); a
    # failing test shows its end.
    log_path = data_dir / "serve.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log_path.read_text()[-4000:]
            try:
                if httpx.get(f"{base}/static/favicon.svg", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def post(base: str, secret: str, key: str, body: dict) -> httpx.Response:
    # One connection per request, so the two worker processes share the requests.
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": key}
    return httpx.post(f"{base}/api/v1/transfers", json=body, headers=headers, timeout=60)


def transfer_ids(ledger_url: str) -> list[int]:
    with Ledger.open(ledger_url) as ledger:
        return sorted(e.id for e in ledger.journal() if e.id is not None and e.id >= 100)


@pytest.mark.parametrize("kind", STORES)
def test_one_key_applies_once_across_two_workers_and_a_restart(
    kind: str, new_url: UrlFactory, tmp_path: Path
) -> None:
    url = new_url(kind)
    with open_ledger(url) as ledger:
        ledger.create_accounts([Account(1001, "BTC"), Account(1002, "BTC")])
    secret = ServiceStore.in_data_dir(tmp_path).create_key(Role.ADMIN)[1]
    winners: dict[str, dict] = {}
    with serve(tmp_path, url) as base, ThreadPoolExecutor(CONCURRENT) as pool:
        for round_ in range(ROUNDS):
            key = f"round-{round_}"
            bodies = [
                {"id": 100 + 10 * round_ + i, "debit_account_id": 1, "credit_account_id": 1001}
                | {"amount": 1 + i}
                for i in range(CONCURRENT)
            ]
            responses = list(pool.map(lambda b, k=key: post(base, secret, k, b), bodies))
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [201] + [409] * (CONCURRENT - 1), [r.text for r in responses]
            (won,) = [r for r in responses if r.status_code == 201]
            assert "idempotent-replayed" not in won.headers
            winners[key] = won.json()
            for r in responses:
                assert r.status_code == 201 or r.headers["content-type"] == (
                    "application/problem+json"
                )
        # One key, one body, eight at once: one applies, seven replay its response.
        same = {"id": 900, "debit_account_id": 1, "credit_account_id": 1002, "amount": 5}
        responses = list(pool.map(lambda _: post(base, secret, "same", same), range(CONCURRENT)))
        assert [r.status_code for r in responses] == [201] * CONCURRENT
        replays = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
        assert len(replays) == CONCURRENT - 1
        assert all(r.json() == responses[0].json() for r in responses)

    applied = transfer_ids(url)
    assert len(applied) == ROUNDS + 1
    assert [*sorted(w["id"] for w in winners.values()), 900] == applied

    # A restarted service still knows every key: the winner replays, the others conflict.
    with serve(tmp_path, url, workers=1) as base:
        first = winners["round-0"]
        body = {k: first[k] for k in ("id", "debit_account_id", "credit_account_id")}
        again = post(base, secret, "round-0", body | {"amount": first["amount_units"]})
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first
        other = post(base, secret, "round-0", body | {"id": 999, "amount": 99})
        assert other.status_code == 409
    assert transfer_ids(url) == applied
