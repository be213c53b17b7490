"""An exchange command under an Idempotency-Key costs one commit: its key is claimed, and its
response recorded, in the exchange's own batch transaction (docs/order-path.md)."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import ServiceStore
from hashmarket.api.market_service import MarketService, Recorded, Recording
from hashmarket.api.record_writer import RequestKey
from hashmarket.api.state import ServiceState
from hashmarket.ledger import Outcome, StoredResponse
from hashmarket.market import Accepted, Command, PlaceOrder, Side
from hashmarket.market.orders import canonical_json
from tests.conftest import STORES, UrlFactory
from tests.integration.test_api_group_commit import BUDGET_SATS, _buy, _funded, _pending, _places


def _command(n: int, *, budget_sats: int = BUDGET_SATS) -> PlaceOrder:
    account, body = _buy(n)
    return PlaceOrder(0, account, "HASHPOWER", Side.BUY, 100, body["price"],
                      budget_sats=budget_sats, duration_s=3_600)  # fmt: skip


def _render(result: Any, _: Any) -> StoredResponse:
    if isinstance(result, Accepted):
        return StoredResponse(201, "application/json", canonical_json({"id": result.order_id}))
    return StoredResponse(422, "application/problem+json", b"refused")


def _service(url: str, data_dir: Path) -> MarketService:
    config = ServiceConfig(data_dir=data_dir, ledger_url=url)
    return MarketService(ServiceState(config=config, store=ServiceStore.in_data_dir(data_dir)))


def _queue(market: MarketService, command: Command, request: RequestKey) -> Future[Recorded]:
    """Queue a recorded command without starting the sequencer, so that every command queued
    before :meth:`MarketService.start` goes into its first batch."""
    future: Future[Recorded] = Future()
    market._queue.put((command, future, Recording(request, _render)))
    return future


@pytest.mark.parametrize("kind", STORES)
def test_one_batch_with_a_key_twice_a_reused_key_and_a_refusal(
    kind: str, new_url: UrlFactory, tmp_path: Path
) -> None:
    url = new_url(kind)
    _funded(url, tmp_path)
    market = _service(url, tmp_path)
    try:
        first = _queue(market, _command(0), RequestKey("k1", "order-a", "hash-a"))
        repeat = _queue(market, _command(0), RequestKey("k1", "order-a", "hash-a"))
        reused = _queue(market, _command(1), RequestKey("k1", "order-a", "hash-b"))
        # 2,000,000 sats of budget on an account funded with 1,000,000: refused.
        refused = _queue(market, _command(0, budget_sats=2_000_000), RequestKey("k1", "b", "h"))
        market.start()
        answers = [f.result(30) for f in (first, repeat, reused, refused)]
        assert market.batches == 1  # the four in one transaction
        created = StoredResponse(201, "application/json", b'{"id":1}')
        assert answers[0] == Recorded(Outcome.CLAIMED, created, recorded=True)
        assert answers[1] == Recorded(Outcome.REPLAY, created)  # the first's, not run again
        assert answers[2] == Recorded(Outcome.MISMATCH)
        no_money = StoredResponse(422, "application/problem+json", b"refused")
        assert answers[3] == Recorded(Outcome.CLAIMED, no_money, recorded=False)
        # One order and one reservation of 5,000 sats on account 1001.
        assert len(_places(url)) == 1
        assert _pending(url) == {1001: BUDGET_SATS, 1002: 0, 1003: 0, 1004: 0}
        writer = market.state.record_writer
        stored = writer.claim("k1", "order-a", "hash-a").result(10)
        assert (stored.outcome, stored.response) == (Outcome.REPLAY, created)
        # The refusal's claim was given up in the transaction: the guard records its answer.
        assert writer.claim("k1", "b", "h").result(10).outcome is Outcome.CLAIMED
    finally:
        market.stop()
        market.state.record_writer.stop()


@pytest.mark.parametrize("kind", STORES)
def test_two_sequencers_racing_on_the_same_keys_run_each_order_once(
    kind: str, new_url: UrlFactory, tmp_path: Path
) -> None:
    """Two workers' sequencers on one database, each sent the same 24 keyed orders at once:
    every order runs once, its key's other request replays it."""
    url = new_url(kind)
    _funded(url, tmp_path)
    workers = [_service(url, tmp_path), _service(url, tmp_path)]
    n = 24
    try:
        for market in workers:
            market.start()
        go = threading.Barrier(2)

        def send(market: MarketService) -> list[Recorded]:
            go.wait(10)

            async def all_at_once() -> list[Recorded]:
                runs = [
                    market.submit_recorded(
                        _command(i), Recording(RequestKey("k1", f"o-{i}", f"h-{i}"), _render)
                    )
                    for i in range(n)
                ]
                return list(await asyncio.gather(*runs))

            return asyncio.run(all_at_once())

        results: list[list[Recorded]] = [[], []]
        threads = [
            threading.Thread(target=lambda w=w: results.__setitem__(w, send(workers[w])))
            for w in (0, 1)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for i, pair in enumerate(zip(*results, strict=True)):
            assert sorted(a.outcome.value for a in pair) == ["claimed", "replay"], (i, pair)
            assert pair[0].response == pair[1].response
        ids = sorted(json.loads(a.response.body)["id"] for a in results[0] if a.response)
        assert ids == list(range(1, n + 1))
        assert len(_places(url)) == n
        assert _pending(url) == dict.fromkeys((1001, 1002, 1003, 1004), 6 * BUDGET_SATS)
    finally:
        for market in workers:
            market.stop()
            market.state.record_writer.stop()


@pytest.mark.parametrize("kind", STORES)
def test_orders_over_http_commit_nothing_beside_the_exchange(
    kind: str, new_url: UrlFactory, tmp_path: Path
) -> None:
    """Placed, replayed and reused keys: only exchange batches commit; a refusal's answer is
    the one the record writer commits, and its retry replays it."""
    url = new_url(kind)
    secrets = _funded(url, tmp_path)
    app = create_app(ServiceConfig(data_dir=tmp_path, ledger_url=url))
    headers = {"Authorization": f"Bearer {secrets[1001]}"}
    _, body = _buy(0)
    with TestClient(app) as client:
        order = {**headers, "Idempotency-Key": "o-1"}
        placed = client.post("/api/v1/market/orders", json=body, headers=order)
        again = client.post("/api/v1/market/orders", json=body, headers=order)
        other = client.post("/api/v1/market/orders", json={**body, "size": 200}, headers=order)
        writer = app.state.service.record_writer
        assert writer.batches == 0  # the order, its key and its response: one commit
        too_big = {**body, "budget_sats": 2_000_000}
        refuse = {**headers, "Idempotency-Key": "o-2"}
        refused = client.post("/api/v1/market/orders", json=too_big, headers=refuse)
        refused_again = client.post("/api/v1/market/orders", json=too_big, headers=refuse)
        assert writer.batches == 1  # the refusal's record
    assert (placed.status_code, json.loads(placed.content)["order_id"]) == (201, 1)
    assert again.content == placed.content and again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 409 and other.json()["title"] == "Idempotency-Key reused"
    assert refused.status_code == 422 and "idempotent-replayed" not in refused.headers
    assert refused_again.content == refused.content
    assert refused_again.headers["idempotent-replayed"] == "true"
    assert len(_places(url)) == 1 and _pending(url)[1001] == BUDGET_SATS
