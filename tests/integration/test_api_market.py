"""The exchange over HTTP and its WebSocket feed, on a real ledger: own accounts only, public
market data, money moved, and a feed whose deltas rebuild the REST book without a gap."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.ledger import Account, Asset, Ledger, Transfer
from hashmarket.market import future_symbol

BUYER, SELLER, OTHER = 1001, 1002, 1003
_idem = itertools.count(1)


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    data_dir = tmp_path_factory.mktemp("api-market")
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="BTC issuer")
        ledger.create_asset(Asset("USD", 2), issuer_account_id=2, name="USD issuer")
        for account in (BUYER, SELLER, OTHER):
            ledger.create_account(Account(account, "BTC"))
        ledger.transfer(Transfer(1, 1, BUYER, 1_000_000))
        ledger.transfer(Transfer(2, 1, OTHER, 1_000_000))
    store = ServiceStore.in_data_dir(data_dir)
    keys = {
        "buyer": store.create_key(Role.TRADER, account=str(BUYER))[1],
        "seller": store.create_key(Role.TRADER, account=str(SELLER))[1],
        "other": store.create_key(Role.TRADER, account=str(OTHER))[1],
        "viewer": store.create_key(Role.VIEWER)[1],
        "admin": store.create_key(Role.ADMIN)[1],
    }
    config = ServiceConfig(data_dir=data_dir, rate_limit_per_s=10_000, rate_limit_burst=10_000)
    with TestClient(create_app(config)) as client:
        yield client, keys, data_dir


def call(client: TestClient, method: str, path: str, key: str, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"k{next(_idem)}"}
    return client.request(method, f"/api/v1/market{path}", headers=headers, **kw)


def _order(account: int, side: str, price: int, size: int = 100) -> dict[str, Any]:
    body: dict[str, Any] = {"account_id": account, "market": "HASHPOWER", "side": side,
                            "size": size, "price": price}  # fmt: skip
    if side == "buy":
        body.update(budget_sats=size * 50, duration_s=3_600)
    return body


def test_orders_roles_and_money(setup) -> None:
    client, keys, data_dir = setup
    capacity = {"account_id": SELLER, "hashrate_ths": 1_000}
    assert call(client, "POST", "/capacity", keys["buyer"], json=capacity).status_code == 403
    assert call(client, "POST", "/capacity", keys["seller"], json=capacity).status_code == 200
    # A trader places orders for its own account only; a viewer places none.
    sell = _order(SELLER, "sell", 50_000, 300)
    assert call(client, "POST", "/orders", keys["buyer"], json=sell).status_code == 403
    assert call(client, "POST", "/orders", keys["viewer"], json=sell).status_code == 403
    placed = call(client, "POST", "/orders", keys["seller"], json=sell)
    assert placed.status_code == 201 and placed.json()["resting"] == 300
    sell_id = placed.json()["order_id"]
    # A bad field is refused, naming it, and nothing is reserved.
    bad = call(client, "POST", "/orders", keys["buyer"], json=_order(BUYER, "buy", 50_005))
    assert bad.status_code == 422 and "'price'" in bad.json()["detail"]
    assert "50005" in bad.json()["detail"]
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        assert ledger.account(BUYER).debits_pending == 0
    # The buyer lifts 100 TH/s: one trade, a contract, a reservation of its budget.
    bought = call(client, "POST", "/orders", keys["buyer"], json=_order(BUYER, "buy", 50_000))
    assert bought.status_code == 201
    (trade,) = bought.json()["trades"]
    assert (trade["price"], trade["size"], trade["sell_order_id"]) == (50_000, 100, sell_id)
    # Each sees only its own orders and contracts; a listing of another account is refused.
    mine = call(client, "GET", "/orders", keys["seller"]).json()
    assert [(o["order_id"], o["remaining"]) for o in mine] == [(sell_id, 200)]
    assert call(client, "GET", "/orders", keys["buyer"]).json() == []
    assert call(client, "GET", f"/orders?account_id={SELLER}", keys["buyer"]).status_code == 403
    (contract,) = call(client, "GET", "/contracts", keys["buyer"]).json()
    assert call(client, "GET", "/contracts", keys["other"]).json() == []
    # Public market data for any key.
    book = call(client, "GET", "/HASHPOWER/book", keys["viewer"]).json()
    assert book == {"market": "HASHPOWER", "bids": [], "asks": [[50_000, 200]]}
    tape = call(client, "GET", "/HASHPOWER/trades", keys["other"]).json()
    assert [t["trade_id"] for t in tape] == [trade["trade_id"]]
    (bar,) = call(client, "GET", "/HASHPOWER/bars?interval=1d", keys["other"]).json()
    assert (bar["open"], bar["close"], bar["volume"], bar["trades"]) == (50_000, 50_000, 100, 1)
    minute = call(client, "GET", "/HASHPOWER/bars?interval=1m&last=5", keys["other"]).json()
    assert [(b["open"], b["volume"]) for b in minute] == [(50_000, 100)]
    assert call(client, "GET", "/HASHPOWER/bars?last=0", keys["other"]).status_code == 422
    # A service started afresh on the ledger has the same bars (from the log it replays).
    config = ServiceConfig(data_dir=data_dir, rate_limit_per_s=10_000, rate_limit_burst=10_000)
    with TestClient(create_app(config)) as restarted:
        assert call(restarted, "GET", "/HASHPOWER/bars?interval=1m", keys["other"]).json() == (
            minute
        )
    assert call(client, "GET", "/NOPE/book", keys["viewer"]).status_code == 422
    # Trades stamped by today's clock lie past the bundled history: no fixing, no premium day.
    assert call(client, "GET", "/HASHPOWER/premium", keys["viewer"]).json() == []
    # Another trader cannot cancel the seller's order; the seller can.
    gone = call(client, "DELETE", f"/orders/{sell_id}?account_id={OTHER}", keys["other"])
    assert gone.status_code == 422
    done = call(client, "DELETE", f"/orders/{sell_id}?account_id={SELLER}", keys["seller"])
    assert done.status_code == 200 and done.json()["done"] == "cancelled"
    assert contract["hashrate_ths"] == 100 and contract["budget_sats"] == 5_000


def _apply(book: dict[str, dict[int, int]], message: dict[str, Any]) -> None:
    for side in ("bids", "asks"):
        for price, size in message[side]:
            if size:
                book[side][price] = size
            else:
                book[side].pop(price, None)


def test_feed_snapshot_plus_deltas_is_the_book(setup) -> None:
    client, keys, _ = setup
    call(client, "POST", "/capacity", keys["seller"], json={"account_id": SELLER,
                                                              "hashrate_ths": 100_000})  # fmt: skip
    # Some book before subscribing, so the snapshot is not empty.
    for price in (51_000, 51_010):
        call(client, "POST", "/orders", keys["seller"], json=_order(SELLER, "sell", price, 200))
    with client.websocket_connect(f"/api/v1/market/ws?key={keys['viewer']}") as ws:
        ws.send_json({"op": "subscribe", "market": "HASHPOWER"})
        (snapshot,) = ws.receive_json()
        assert snapshot["type"] == "snapshot"
        assert [51_000, 200] in snapshot["asks"]
        book = {
            "bids": dict(snapshot["bids"]),
            "asks": dict(snapshot["asks"]),
        }
        seq = snapshot["seq"]
        # Orders that rest, trade through levels and cancel: every kind of level change.
        flow = [
            ("seller", _order(SELLER, "sell", 51_020, 100)),
            ("buyer", _order(BUYER, "buy", 49_000, 100)),
            ("other", _order(OTHER, "buy", 49_010, 300)),
            ("buyer", _order(BUYER, "buy", 51_010, 300)),  # takes 51,000 and part of 51,010
            ("other", _order(OTHER, "buy", 49_000, 200)),
        ]
        for who, body in flow:
            assert call(client, "POST", "/orders", keys[who], json=body).status_code == 201
        trades = 0
        want = call(client, "GET", "/HASHPOWER/book", keys["viewer"]).json()
        rest = {side: dict(want[side]) for side in ("bids", "asks")}
        for _ in range(len(flow) * 3):  # at most a book message and trades per order
            if book == rest:
                break
            for message in ws.receive_json():
                assert message["seq"] == seq + 1, "a gap in the feed"
                seq = message["seq"]
                if message["type"] == "book":
                    _apply(book, message)
                else:
                    assert message["type"] == "trade" and message["market"] == "HASHPOWER"
                    trades += 1
        assert book == rest
        assert trades == 2
        assert book["asks"] == {51_010: 100, 51_020: 100}
        assert book["bids"] == {49_010: 300, 49_000: 300}
        # A resync is a new snapshot at the current seq.
        ws.send_json({"op": "snapshot", "market": "HASHPOWER"})
        (again,) = ws.receive_json()
        assert again["seq"] == seq
        assert again["asks"] == [[51_010, 100], [51_020, 100]]
        assert again["trades"][0]["price"] == 51_010


def test_feed_needs_a_key(setup) -> None:
    client, _, _ = setup
    from starlette.websockets import WebSocketDisconnect

    url = "/api/v1/market/ws?key=hm_nope_nope"
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(url) as ws:
        ws.receive_json()
    assert refused.value.code == 4401


def test_futures_positions_marks_and_added_margin(setup) -> None:
    client, keys, data_dir = setup
    long_, short = 2001, 2002
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        for account in (long_, short):
            ledger.create_account(Account(account, "USD"))
            ledger.transfer(Transfer(account, 2, account, 1_000_000))
    store = ServiceStore.in_data_dir(data_dir)
    long_key = store.create_key(Role.TRADER, account=str(long_))[1]
    short_key = store.create_key(Role.TRADER, account=str(short))[1]
    # Next month's contract: the service stamps commands with today's time.
    today = dt.datetime.now(dt.UTC).date()
    market = future_symbol((today.replace(day=1) + dt.timedelta(days=32)).replace(day=1))
    order = {"market": market, "size": 2, "price": 5_000}
    sold = call(client, "POST", "/orders", short_key,
                json={**order, "account_id": short, "side": "sell"})  # fmt: skip
    bought = call(client, "POST", "/orders", long_key,
                  json={**order, "account_id": long_, "side": "buy"})  # fmt: skip
    assert (sold.status_code, bought.status_code) == (201, 201), bought.text
    (mine,) = call(client, "GET", "/positions", long_key).json()  # its own only
    assert (mine["account_id"], mine["contracts"], mine["collateral_cents"]) == (long_, 2, 100_000)
    assert not mine["margin_call"]

    # A trader cannot mark; the operator (settle permission) can. Down 600: the long has
    # 64,000 left against a maintenance margin of 80,000.
    assert (
        call(client, "POST", f"/{market}/marks", long_key, json={"price": 4_400}).status_code == 403
    )
    marked = call(client, "POST", f"/{market}/marks", keys["admin"], json={"price": 4_400})
    assert marked.status_code == 200, marked.text
    assert marked.json()["margin_calls"] == [long_] and marked.json()["positions"] == 2

    # Only for its own account; then the call is answered.
    theirs = {"account_id": short, "amount_cents": 16_000}
    assert call(client, "POST", f"/{market}/margin", long_key, json=theirs).status_code == 403
    added = call(client, "POST", f"/{market}/margin", long_key,
                 json={"account_id": long_, "amount_cents": 16_000})  # fmt: skip
    assert added.status_code == 200, added.text
    assert (added.json()["collateral_cents"], added.json()["margin_call"]) == (80_000, False)
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        assert ledger.account(long_).balance == 1_000_000 - 100_200 - 16_000

    final = {"price": 4_400, "final": True}
    assert call(client, "POST", f"/{market}/marks", keys["admin"], json=final).status_code == 200
    assert call(client, "GET", "/positions", keys["admin"]).json() == []
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        assert ledger.account(long_).balance == 1_000_000 - 200 - 36_000
        assert ledger.account(short).balance == 1_000_000 - 100 + 36_000
