"""The order path's group commits, on real SQLite and PostgreSQL ledgers.

* The record writer commits many requests' idempotency records in one transaction and
  answers each from it: claims, replays, mismatches as one at a time would.
* Many concurrent orders over HTTP, two server processes, distinct and repeated keys: each
  order is executed exactly once (the log, the order ids and the reserved budgets say so,
  to the sat) and every request of a repeated key gets the same bytes.
* A server killed before the exchange committed an order (nothing of it, its key's claim
  included, is on disk), or after the commit but before it answered: the retry executes the
  order once or replays the stored response; never twice.
* An order whose key a live request on another route holds waits, then gets 409; after the
  claim's lease the exchange takes it over and runs the order once.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.api.market_service import MarketService, Recorded, Recording
from hashmarket.api.record_writer import ClaimSlot, RecordWriter, RequestKey
from hashmarket.api.state import ServiceState
from hashmarket.ledger import Account, Ledger, Outcome, Store, StoredResponse, Transfer
from hashmarket.market import PlaceOrder, Side
from hashmarket.market.log import read_log
from tests.conftest import STORES, UrlFactory, open_ledger
from tests.integration.test_api_idempotency import serve

BUYERS = (1001, 1002, 1003, 1004)
BUDGET_SATS = 5_000  # each resting buy reserves its whole budget
REPO = Path(__file__).resolve().parents[2]


def test_record_writer_commits_a_batch_and_answers_each(ledger_url: str) -> None:
    with open_ledger(ledger_url):
        pass
    writer = RecordWriter(ledger_url, lease_ns=60 * 10**9)
    try:
        # Hold the writer on a first operation so the next ones queue up behind it.
        started, release = threading.Event(), threading.Event()

        def blocker(store: Store, now_ns: int) -> None:
            started.set()
            release.wait(10)

        first = writer._put(("", ""), blocker)
        assert started.wait(10)
        claims = [writer.claim("k1", f"key-{i}", f"hash-{i}") for i in range(40)]
        again = writer.claim("k1", "key-0", "hash-0")  # queued behind the first claim of key-0
        other = writer.claim("k1", "key-1", "hash-other")
        scoped = writer.claim("k2", "key-0", "hash-x")  # another API key has its own keys
        release.set()
        first.result(10)
        outcomes = [c.result(10).outcome for c in claims]
        assert outcomes == [Outcome.CLAIMED] * 40
        assert again.result(10).outcome is Outcome.IN_FLIGHT
        assert other.result(10).outcome is Outcome.MISMATCH
        assert scoped.result(10).outcome is Outcome.CLAIMED
        # The blocker alone, then the 43 queued operations in one transaction.
        assert writer.batches == 2

        token = claims[0].result().token
        assert token is not None
        stored = StoredResponse(201, "application/json", b'{"order_id":7}')
        assert writer.complete(ClaimSlot("k1", "key-0", token), stored).result(10)
        replay = writer.claim("k1", "key-0", "hash-0").result(10)
        assert (replay.outcome, replay.response) == (Outcome.REPLAY, stored)
        # A released claim may be claimed again.
        token_1 = claims[1].result().token
        assert token_1 is not None
        writer.release(ClaimSlot("k1", "key-1", token_1)).result(10)
        assert writer.claim("k1", "key-1", "hash-1").result(10).outcome is Outcome.CLAIMED
    finally:
        writer.stop()


def _funded(url: str, data_dir: Path) -> dict[int, str]:
    with open_ledger(url) as ledger:
        for i, account in enumerate(BUYERS):
            ledger.create_account(Account(account, "BTC"))
            ledger.transfer(Transfer(10 + i, 1, account, 1_000_000))
    store = ServiceStore.in_data_dir(data_dir)
    return {a: store.create_key(Role.TRADER, account=str(a))[1] for a in BUYERS}


def _buy(n: int) -> tuple[int, dict[str, Any]]:
    """Order ``n``: a buy that rests (there are no sellers), reserving its budget."""
    account = BUYERS[n % len(BUYERS)]
    body = {"account_id": account, "market": "HASHPOWER", "side": "buy", "size": 100,
            "price": 40_000 + 10 * n, "budget_sats": BUDGET_SATS, "duration_s": 3_600}  # fmt: skip
    return account, body


def _places(url: str) -> list[dict[str, Any]]:
    with Ledger.open(url) as ledger, ledger.snapshot() as store:
        commands = [json.loads(e.command) for e in read_log(store)]
    return [c for c in commands if c.get("kind") == "place"]


def _pending(url: str) -> dict[int, int]:
    with Ledger.open(url) as ledger:
        return {a: ledger.account(a).debits_pending for a in BUYERS}


@pytest.mark.parametrize("kind", STORES)
def test_concurrent_orders_execute_once_and_repeats_replay_the_same_bytes(
    kind: str, new_url: UrlFactory, tmp_path: Path
) -> None:
    url = new_url(kind)
    secrets = _funded(url, tmp_path)
    distinct, repeated, copies = 48, 8, 3
    requests = [(f"order-{n}", *_buy(n)) for n in range(distinct)]
    requests += [(f"order-{n}", *_buy(n)) for n in range(repeated) for _ in range(copies - 1)]
    random.Random(20261207).shuffle(requests)

    def send(base: str, item: tuple[str, int, dict[str, Any]]) -> httpx.Response:
        key, account, body = item
        headers = {"Authorization": f"Bearer {secrets[account]}", "Idempotency-Key": key}
        # One connection per request, so the two worker processes share them.
        return httpx.post(f"{base}/api/v1/market/orders", json=body, headers=headers, timeout=60)

    with serve(tmp_path, url, workers=2) as base, ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda item: send(base, item), requests))

    by_key: dict[str, list[httpx.Response]] = {}
    for (key, _, _), response in zip(requests, responses, strict=True):
        by_key.setdefault(key, []).append(response)
    statuses = [r.status_code for r in responses]
    assert statuses == [201] * (distinct + repeated * (copies - 1)), [
        r.text for r in responses if r.status_code != 201
    ][:3]
    for key, answers in by_key.items():
        assert len({r.content for r in answers}) == 1, key  # byte for byte the same
        fresh = [r for r in answers if r.headers.get("idempotent-replayed") != "true"]
        assert len(fresh) == 1, key  # one executed, the others replayed
    order_ids = [json.loads(a[0].content)["order_id"] for a in by_key.values()]
    assert sorted(order_ids) == list(range(1, distinct + 1))
    # The log holds each order once, and each buyer has 12 resting buys of 5,000 sats
    # reserved: 60,000 sats pending, to the sat.
    places = _places(url)
    assert len(places) == distinct
    assert sorted(p["price"] for p in places) == [40_000 + 10 * n for n in range(distinct)]
    assert _pending(url) == dict.fromkeys(BUYERS, 12 * BUDGET_SATS)
    assert Counter(p["account_id"] for p in places) == dict.fromkeys(BUYERS, 12)


CHILD = """
import os, signal, sys
from pathlib import Path
from fastapi.testclient import TestClient
from hashmarket.api import ServiceConfig, create_app
data_dir, url, secret, where = sys.argv[1:5]
app = create_app(ServiceConfig(data_dir=Path(data_dir), ledger_url=url))
def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
if where == "before_exchange":
    # The request is past the guard; the order never reaches the exchange (nothing is on
    # disk: its key is claimed in the exchange's transaction).
    async def submit_recorded(*args, **kwargs):
        die()
    app.state.market.submit_recorded = submit_recorded
else:
    # The exchange committed the order and its response; the client never hears it.
    def killing(app):
        async def app_(scope, receive, send):
            async def send_(message):
                if message["type"] == "http.response.start" and scope["method"] == "POST":
                    die()
                await send(message)
            await app(scope, receive, send_)
        return app_
    app.add_middleware(killing)
with TestClient(app) as client:
    body = {"account_id": 1001, "market": "HASHPOWER", "side": "buy", "size": 100,
            "price": 40000, "budget_sats": 5000, "duration_s": 3600}
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "crash-1"}
    client.post("/api/v1/market/orders", json=body, headers=headers)
print("not killed", flush=True)
"""


@pytest.mark.parametrize("where", ["before_exchange", "after_commit"])
@pytest.mark.parametrize("kind", STORES)
def test_a_server_killed_mid_order_never_executes_it_twice(
    kind: str, where: str, new_url: UrlFactory, tmp_path: Path
) -> None:
    url = new_url(kind)
    secret = _funded(url, tmp_path)[1001]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), url, secret, where],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "HOME": str(tmp_path)},
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    assert len(_places(url)) == (0 if where == "before_exchange" else 1)
    _, body = _buy(0)
    body["price"] = 40_000
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "crash-1"}
    # A restarted server with a short lease: the dead claim is taken over after it.
    config = ServiceConfig(data_dir=tmp_path, ledger_url=url, idempotency_lease_s=0.5)
    with TestClient(create_app(config)) as client:
        retry = client.post("/api/v1/market/orders", json=body, headers=headers)
        again = client.post("/api/v1/market/orders", json=body, headers=headers)
    assert retry.status_code == 201, retry.text
    replayed = retry.headers.get("idempotent-replayed") == "true"
    assert replayed is (where == "after_commit")
    assert again.headers["idempotent-replayed"] == "true" and again.content == retry.content
    assert json.loads(retry.content)["order_id"] == 1
    assert len(_places(url)) == 1
    assert _pending(url)[1001] == BUDGET_SATS  # one reservation of 5,000 sats, not two


@pytest.mark.parametrize("kind", STORES)
def test_an_order_whose_key_another_route_holds_waits_and_runs_once_after_the_lease(
    kind: str, new_url: UrlFactory, tmp_path: Path
) -> None:
    """A key claimed by a live request on another route: the order waits for it as long as
    the service waits, then gets 409 and never executes; once the claim's lease ran out,
    the exchange takes the claim over in its own transaction and runs the order once."""
    url = new_url(kind)
    _funded(url, tmp_path)
    store = ServiceStore.in_data_dir(tmp_path)
    held = ServiceConfig(data_dir=tmp_path, ledger_url=url, idempotency_wait_s=0.3)
    state = ServiceState(config=held, store=store)
    market = MarketService(state)
    writer = state.record_writer
    _, body = _buy(0)
    command = PlaceOrder(0, 1001, "HASHPOWER", Side.BUY, 100, body["price"],
                         budget_sats=BUDGET_SATS, duration_s=3_600)  # fmt: skip

    def render(result: Any, _: Any) -> StoredResponse:
        return StoredResponse(201, "application/json", b"{}")

    recording = Recording(RequestKey("k1", "order-x", "hash-x"), render)
    try:
        assert writer.claim("k1", "order-x", "hash-x").result(10).outcome is Outcome.CLAIMED
        started = time.monotonic()
        answer = asyncio.run(market.submit_recorded(command, recording))
        assert answer == Recorded(Outcome.IN_FLIGHT)
        assert time.monotonic() - started >= 0.3  # it waited for the other request
        assert _places(url) == [] and _pending(url)[1001] == 0
    finally:
        market.stop()
        writer.stop()
    # Another service on the same database whose lease is 0: the claim is stale there.
    stale = ServiceConfig(data_dir=tmp_path, ledger_url=url, idempotency_lease_s=0)
    state = ServiceState(config=stale, store=store)
    market = MarketService(state)
    try:
        answer = asyncio.run(market.submit_recorded(command, recording))
        assert answer == Recorded(Outcome.CLAIMED, StoredResponse(201, "application/json", b"{}"))
        assert len(_places(url)) == 1 and _pending(url)[1001] == BUDGET_SATS
        again = asyncio.run(market.submit_recorded(command, recording))
        assert again == Recorded(Outcome.REPLAY, answer.response)
        assert len(_places(url)) == 1 and _pending(url)[1001] == BUDGET_SATS
    finally:
        market.stop()
        state.record_writer.stop()
