"""The exchange over HTTP: orders for a key's own accounts, public market data, the live feed.

* Orders, cancels, replaces, capacity: a key with the ``transfer`` permission, for accounts
  it may use (a key bound to an account trades only that account). ``GET …/orders`` and
  ``…/contracts`` list only that account's.
* Book, trades and bars: any valid key.
* Delivery reports move a buyer's money on a meter's word: the ``settle`` permission.
* ``/api/v1/market/ws``: the feed (:mod:`hashmarket.api.market_feed`), with the key as a
  ``key`` query parameter or a bearer header.

Every command goes through the process's one sequencer (:mod:`hashmarket.api.market_service`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StrictInt
from starlette.websockets import WebSocketDisconnect

from hashmarket.api.guard import in_progress, replayed, reused
from hashmarket.api.keys import ApiKey, Permission
from hashmarket.api.market_feed import FRAME_INTERVAL_S, Subscriber
from hashmarket.api.market_service import MarketService, Recording
from hashmarket.api.problems import problem_for
from hashmarket.api.record_writer import RequestKey
from hashmarket.api.security import check_account, require
from hashmarket.api.state import ServiceState, service
from hashmarket.errors import MarketError
from hashmarket.ledger import Outcome, StoredResponse
from hashmarket.market import (
    Accepted,
    AddMargin,
    CancelOrder,
    Command,
    Exchange,
    MarkFutures,
    OrderType,
    PlaceGpuOrder,
    PlaceOrder,
    RegisterGpus,
    RegisterHashrate,
    ReplaceOrder,
    ReportDelivery,
    Side,
    TimeInForce,
    futures_positions,
    open_orders,
)
from hashmarket.market import marketdata as md

router = APIRouter(prefix="/api/v1/market", tags=["market"])

READ = Depends(require(Permission.READ))
TRADE = Depends(require(Permission.TRANSFER))
SETTLE = Depends(require(Permission.SETTLE))
ID = Field(..., gt=0, le=2**63 - 1)


async def market_service(request: Request) -> MarketService:
    """The process's exchange (created with the app, opened on its ledger at first use)."""
    found: MarketService = request.app.state.market
    return found


MARKET = Depends(market_service)


class OrderRequest(BaseModel):
    account_id: StrictInt = ID
    market: str = Field(..., min_length=1, max_length=32, examples=["HASHPOWER"])
    side: Side
    size: StrictInt = Field(..., description="TH/s (hashpower), contracts (futures)")
    price: StrictInt | None = Field(None, description="sats/PH/day or cents/PH/day; none: market")
    tif: TimeInForce = TimeInForce.GTC
    budget_sats: StrictInt | None = None
    duration_s: StrictInt | None = None


class GpuOrderRequest(BaseModel):
    account_id: StrictInt = ID
    side: Side
    model: str = Field(..., min_length=1, max_length=16, examples=["H100"])
    gpus: StrictInt
    start_s: StrictInt
    end_s: StrictInt
    price: StrictInt = Field(..., description="USD cents per GPU-hour")
    tif: TimeInForce = TimeInForce.GTC


class ReplaceRequest(BaseModel):
    account_id: StrictInt = ID
    price: StrictInt
    size: StrictInt


class CapacityRequest(BaseModel):
    account_id: StrictInt = ID
    hashrate_ths: StrictInt | None = Field(None, ge=0)
    model: str | None = None
    gpus: StrictInt | None = None
    start_s: StrictInt | None = None
    end_s: StrictInt | None = None


class MarginRequest(BaseModel):
    account_id: StrictInt = ID
    amount_cents: StrictInt = Field(..., description="USD cents added to the collateral")


class MarkRequest(BaseModel):
    price: StrictInt = Field(..., description="USD cents per PH/s per day")
    final: bool = Field(False, description="the final settlement: the contract closes")


class DeliveryRequest(BaseModel):
    contract_id: StrictInt = ID
    delivered_ths_s: StrictInt


def _answer(result: Accepted, _: Exchange) -> dict[str, Any]:
    return {
        "order_id": result.order_id,
        "resting": result.resting,
        "done": None if result.done is None else result.done.reason.value,
        "trades": [t.to_dict() for t in result.trades],
    }


Shape = Callable[[Accepted, Exchange], dict[str, Any]]


async def _run(
    request: Request,
    market: MarketService,
    command: Command,
    *,
    status: int = 200,
    shape: Shape = _answer,
) -> Response:
    """Run ``command`` through the sequencer and answer with ``shape`` of what it did (a
    refusal as a problem). Under an Idempotency-Key (every request the guard hands a
    :class:`RequestKey`) the key is claimed, and an accepted command's response recorded,
    in the exchange's own transaction: the command runs at most once per key, and the
    guard records only a refusal's answer (it executed nothing)."""

    def render(result: Accepted | MarketError, exchange: Exchange) -> StoredResponse:
        if isinstance(result, MarketError):
            response: Response = problem_for(result)
        else:
            response = JSONResponse(shape(result, exchange), status_code=status)
        return StoredResponse(response.status_code, str(response.media_type), bytes(response.body))

    keyed: RequestKey | None = getattr(request.state, "claim", None)
    if keyed is None:  # a path exempt from idempotency records: nothing to record
        result = await market.submit(command)
        with market.reading() as exchange:
            stored = render(result, exchange)
        return Response(stored.body, status_code=stored.status, media_type=stored.content_type)
    answer = await market.submit_recorded(command, Recording(keyed, render))
    request.state.recorded = answer.recorded
    if answer.outcome is Outcome.MISMATCH:
        return reused(keyed.key)
    if answer.outcome is Outcome.IN_FLIGHT:
        return in_progress(keyed.key)
    assert answer.response is not None
    if answer.outcome is Outcome.REPLAY:
        return replayed(answer.response)
    stored = answer.response
    return Response(stored.body, status_code=stored.status, media_type=stored.content_type)


@router.post("/orders", status_code=201, summary="Place an order (hashpower or a future)")
async def place_order(
    request: Request, order: OrderRequest, key: ApiKey = TRADE, market: MarketService = MARKET
) -> Response:
    check_account(key, str(order.account_id))
    order_type = OrderType.MARKET if order.price is None else OrderType.LIMIT
    command = PlaceOrder(
        0, order.account_id, order.market, order.side, order.size, order.price, order_type,
        order.tif, order.budget_sats, order.duration_s,
    )  # fmt: skip
    return await _run(request, market, command, status=201)


@router.post("/gpu-orders", status_code=201, summary="Place a GPU block order")
async def place_gpu_order(
    request: Request, order: GpuOrderRequest, key: ApiKey = TRADE, market: MarketService = MARKET
) -> Response:
    check_account(key, str(order.account_id))
    command = PlaceGpuOrder(
        0, order.account_id, order.side, order.model, order.gpus, order.start_s, order.end_s,
        order.price, order.tif,
    )  # fmt: skip
    return await _run(request, market, command, status=201)


@router.delete("/orders/{order_id}", summary="Cancel an open order of the account")
async def cancel_order(
    request: Request,
    order_id: int,
    account_id: int = Query(..., gt=0),
    key: ApiKey = TRADE,
    market: MarketService = MARKET,
) -> Response:
    check_account(key, str(account_id))
    return await _run(request, market, CancelOrder(0, account_id, order_id))


@router.post("/orders/{order_id}/replace", summary="Cancel-replace an open order")
async def replace_order(
    request: Request,
    order_id: int,
    body: ReplaceRequest,
    key: ApiKey = TRADE,
    market: MarketService = MARKET,
) -> Response:
    check_account(key, str(body.account_id))
    command = ReplaceOrder(0, body.account_id, order_id, body.price, body.size)
    return await _run(request, market, command)


@router.post("/capacity", summary="Register hashrate or GPUs the account may sell")
async def register_capacity(
    request: Request, body: CapacityRequest, key: ApiKey = TRADE, market: MarketService = MARKET
) -> Response:
    check_account(key, str(body.account_id))
    command: Command
    if body.hashrate_ths is not None:
        command = RegisterHashrate(0, body.account_id, body.hashrate_ths)
    elif None in (body.model, body.gpus, body.start_s, body.end_s):
        raise HTTPException(422, "give hashrate_ths, or model, gpus, start_s and end_s")
    else:
        command = RegisterGpus(0, body.account_id, str(body.model), body.gpus or 0,
                               body.start_s or 0, body.end_s or 0)  # fmt: skip

    def registered(_: Accepted, __: Exchange) -> dict[str, Any]:
        return {"account_id": body.account_id, "registered": True}

    return await _run(request, market, command, shape=registered)


@router.post("/deliveries", summary="Report metered hashes on a hashpower contract")
async def report_delivery(
    request: Request, body: DeliveryRequest, key: ApiKey = SETTLE, market: MarketService = MARKET
) -> Response:
    def delivered(_: Accepted, exchange: Exchange) -> dict[str, Any]:
        contract = exchange.engine.contracts.get(body.contract_id)
        terms = None if contract is None else contract.to_dict()
        return {"contract_id": body.contract_id, "running": terms is not None, "contract": terms}

    command = ReportDelivery(0, body.contract_id, body.delivered_ths_s)
    return await _run(request, market, command, shape=delivered)


@router.post("/{name}/margin", summary="Add collateral to the account's position in a future")
async def add_margin(
    request: Request,
    name: str,
    body: MarginRequest,
    key: ApiKey = TRADE,
    market: MarketService = MARKET,
) -> Response:
    """Moves ``amount_cents`` from the account's USD account to the margin account, onto its
    position's collateral (to answer a margin call); answers the position as it now is."""
    check_account(key, str(body.account_id))

    def position(_: Accepted, exchange: Exchange) -> dict[str, Any]:
        (found,) = futures_positions(exchange, account_ids={body.account_id}, market=name)
        return found.to_dict()

    command = AddMargin(0, body.account_id, name, body.amount_cents)
    return await _run(request, market, command, shape=position)


@router.post("/{name}/marks", summary="Mark a future: the day's price, or the final settlement")
async def mark_future(
    request: Request,
    name: str,
    body: MarkRequest,
    _: ApiKey = SETTLE,
    market: MarketService = MARKET,
) -> Response:
    """Variation margin moves between longs and shorts by the change from the last mark; the
    final mark (the month's average index fixing) closes the contract and releases every
    account's collateral. Answers the positions left and those under a margin call."""

    def marked(_: Accepted, exchange: Exchange) -> dict[str, Any]:
        left = futures_positions(exchange, market=name)
        calls = [p.account_id for p in left if p.margin_call]
        return {"market": name, "price": body.price, "final": body.final,
                "positions": len(left), "margin_calls": calls}  # fmt: skip

    return await _run(request, market, MarkFutures(0, name, body.price, body.final), shape=marked)


@router.get("/positions", summary="Open futures positions of the key's accounts")
def list_positions(
    account_id: int | None = Query(None, gt=0),
    market_name: str | None = Query(None, alias="market"),
    key: ApiKey = READ,
    market: MarketService = MARKET,
) -> list[dict[str, Any]]:
    return _listed(futures_positions, key, account_id, market_name, market)


@router.get("/markets", summary="The markets the exchange lists")
def list_markets(_: ApiKey = READ, market: MarketService = MARKET) -> list[str]:
    return sorted(market.markets())


def _own(key: ApiKey, account_id: int | None) -> set[int] | None:
    """The accounts a listing may show: the key's own, or the one asked for if it may."""
    if account_id is not None:
        check_account(key, str(account_id))
        return {account_id}
    if key.account is not None:
        return {int(key.account)} if key.account.isdigit() else set()
    return None


@router.get("/orders", summary="Open orders of the key's accounts")
def list_orders(
    account_id: int | None = Query(None, gt=0),
    market_name: str | None = Query(None, alias="market"),
    key: ApiKey = READ,
    market: MarketService = MARKET,
) -> list[dict[str, Any]]:
    return _listed(open_orders, key, account_id, market_name, market)


def _listed(
    find: Callable[..., Sequence[Any]],
    key: ApiKey,
    account_id: int | None,
    market_name: str | None,
    market: MarketService,
) -> list[dict[str, Any]]:
    """What ``find`` lists of the accounts the key may see (:func:`_own`), on one market."""
    own = _own(key, account_id)
    with market.reading() as exchange:
        return [x.to_dict() for x in find(exchange, account_ids=own, market=market_name)]


@router.get("/contracts", summary="Running hashpower contracts of the key's accounts")
def list_contracts(
    account_id: int | None = Query(None, gt=0), key: ApiKey = READ, market: MarketService = MARKET
) -> list[dict[str, Any]]:
    own = _own(key, account_id)
    with market.reading() as exchange:
        return [
            c.to_dict()
            for c in exchange.engine.contracts.values()
            if own is None or own & {c.buyer_account_id, c.seller_account_id}
        ]


def _known(market: MarketService, name: str) -> None:
    markets = market.markets()
    if name not in markets:
        raise MarketError("market_unknown", command="book", field="market", what="market",
                          value=name, known=", ".join(sorted(markets)))  # fmt: skip


@router.get("/{name}/book", summary="L2 book: total size per price level, best first")
def get_book(
    name: str,
    levels: int | None = Query(None, ge=1, le=10_000, description="per side; none: all"),
    _: ApiKey = READ,
    market: MarketService = MARKET,
) -> dict[str, Any]:
    _known(market, name)
    with market.reading() as exchange:
        return md.depth_record(md.book_depth(exchange.engine, market=name, levels=levels))


@router.get("/{name}/trades", summary="The trade tape, newest first")
def get_trades(
    name: str,
    limit: int = Query(100, ge=1, le=10_000),
    after_trade_id: int = Query(0, ge=0),
    _: ApiKey = READ,
    market: MarketService = MARKET,
) -> list[dict[str, Any]]:
    _known(market, name)
    with market.reading() as exchange:
        trades = md.tape(exchange.engine.trades, market=name, limit=limit,
                         after_trade_id=after_trade_id)  # fmt: skip
    return [t.to_dict() for t in trades]


@router.get("/{name}/bars", summary="OHLCV bars from the trades, oldest first")
def get_bars(
    name: str,
    interval: md.Interval = md.Interval.HOUR,
    last: int | None = Query(None, ge=1, le=100_000, description="only the newest bars"),
    _: ApiKey = READ,
    market: MarketService = MARKET,
) -> list[dict[str, Any]]:
    _known(market, name)
    bars = market.bars(name, interval_s=interval.seconds, last=last)
    return [md.bar_record(b) for b in bars]


@router.get("/HASHPOWER/premium", summary="Hashpower price against the hashprice index, per day")
def get_premium(
    _: ApiKey = READ, market: MarketService = MARKET, state: ServiceState = Depends(service)
) -> list[dict[str, Any]]:
    """Each UTC day's volume-weighted hashpower price (sats/PH/s/day) and its premium to the
    day's published FPPS fixing; days without a published fixing are left out."""
    with market.reading() as exchange:
        trades = [t for t in exchange.engine.trades if t.market == "HASHPOWER"]
    index = md.published_btc_fixings(state.history, md.trade_days(trades))
    return [d.to_dict() for d in md.hashpower_premium(trades, index_btc_per_ph_day=index)]


# -- the feed ---------------------------------------------------------------------------------


async def _authenticated(websocket: WebSocket) -> ApiKey | None:
    token = websocket.query_params.get("key", "")
    scheme, _, bearer = websocket.headers.get("authorization", "").partition(" ")
    if not token and scheme.lower() == "bearer":
        token = bearer.strip()
    store = websocket.app.state.service.store
    key: ApiKey | None = await asyncio.to_thread(store.authenticate, token) if token else None
    return key if key is not None and key.allows(Permission.READ) else None


@router.websocket("/ws")
async def market_feed(websocket: WebSocket) -> None:
    """Send ``{"op": "subscribe", "market": "HASHPOWER"}`` for a snapshot and then deltas;
    ``{"op": "snapshot", …}`` to resync after a gap; ``{"op": "unsubscribe", …}``."""
    if await _authenticated(websocket) is None:
        await websocket.close(code=4401, reason="a valid API key is required (?key=hm_…)")
        return
    await websocket.accept()
    market: MarketService = websocket.app.state.market
    await asyncio.to_thread(market.start)
    market.feed.loop = asyncio.get_running_loop()
    markets = market.markets()
    subscriber = Subscriber()
    sender = asyncio.create_task(_send(websocket, subscriber))
    try:
        while True:
            request = await websocket.receive_json()
            op, name = request.get("op"), request.get("market")
            if op in ("subscribe", "snapshot") and name in markets:
                subscriber.push(json.dumps(market.feed.subscribe(subscriber, name)))
            elif op == "unsubscribe":
                market.feed.unsubscribe(subscriber, name)
            else:
                error = {"type": "error", "detail": f"unknown op {op!r} or market {name!r}"}
                subscriber.push(json.dumps(error))
    except (WebSocketDisconnect, json.JSONDecodeError, AttributeError):
        pass
    finally:
        market.feed.unsubscribe(subscriber)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def _send(websocket: WebSocket, subscriber: Subscriber) -> None:
    # At most one frame per FRAME_INTERVAL_S: what arrives meanwhile goes out together in the
    # next frame, every message in order. An idle feed sends at once; a busy one costs the
    # server one send per subscriber per interval, not one per batch.
    while True:
        await websocket.send_text(await subscriber.next_frame())
        await asyncio.sleep(FRAME_INTERVAL_S)
