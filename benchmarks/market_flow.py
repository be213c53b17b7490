"""A seeded, realistic order flow for the exchange's benchmarks.

Drawn per command: 58 % limit orders resting 1-8 ticks from the mid (sizes 1-20 lots), 8 %
limit orders crossing by 1-3 ticks, 22 % cancels of a resting order, 6 % immediate-or-cancel
or market orders, 4 % cancel-replaces (half a smaller size in place, half a new price), 2 %
fill-or-kill or post-only. A cancel or replace whose order has traded away becomes a new order
instead, so the realized mix of 200,000 commands on a futures book is about 73 % good-till-
cancelled limit orders (8 points of them crossing), 16 % cancels, 3 % replaces, 6 % IOC or
market, 1 % fill-or-kill and 1 % post-only. The flow is generated against a scratch engine so
cancels and replaces name orders that really rest; replaying the same commands into a fresh
engine gives the same answers.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from hashmarket.errors import MarketError
from hashmarket.market import (
    CancelOrder,
    Command,
    MarketConfig,
    MatchingEngine,
    OrderType,
    PlaceOrder,
    RegisterHashrate,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from hashmarket.market.products import HASHPOWER

T0_NS = 1_800_000_000 * 10**9


def order_flow(
    n: int,
    *,
    market: str,
    mid: int,
    tick: int,
    lot: int,
    accounts: range = range(1_001, 1_101),
    seed: int = 1,
    config: MarketConfig,
    ts_ns: int = T0_NS,
) -> list[Command]:
    """``n`` commands (plus, for hashpower, one capacity registration per account first)."""
    rng = random.Random(seed)
    engine = MatchingEngine(config)
    out: list[Command] = []
    if market == HASHPOWER:
        for account in accounts:
            out.append(RegisterHashrate(ts_ns, account, 10**9))
    for command in out:
        engine.apply(command)
    makers: list[tuple[int, int]] = []  # (order id, account) of orders that may rest
    for _ in range(n):
        ts_ns += 1_000
        command = _next(rng, engine, makers, market, mid, tick, lot, accounts, ts_ns)
        try:
            result = engine.apply(command)
        except MarketError:
            continue
        engine.take_events()
        out.append(command)
        if isinstance(command, PlaceOrder) and result.resting:
            makers.append((result.order_id, command.account_id))
    return out


def _next(
    rng: random.Random,
    engine: MatchingEngine,
    makers: list[tuple[int, int]],
    market: str,
    mid: int,
    tick: int,
    lot: int,
    accounts: range,
    ts_ns: int,
) -> Command:
    roll = rng.random()
    if roll < 0.26:
        found = _on_resting(rng, engine, makers, market, tick, lot, ts_ns, cancel=roll < 0.22)
        if found is not None:
            return found
    account = rng.choice(accounts)
    buy = rng.random() < 0.5
    side = Side.BUY if buy else Side.SELL
    size = lot * rng.randint(1, 20)
    away = rng.randint(1, 8) * tick
    budget, duration = _buy_terms(market, size) if buy else (None, None)

    def order(
        price: int | None, kind: OrderType = OrderType.LIMIT, tif: TimeInForce = TimeInForce.GTC
    ) -> PlaceOrder:
        return PlaceOrder(ts_ns, account, market, side, size, price, kind, tif, budget, duration)

    if roll < 0.34:  # crossing limit
        cross = rng.randint(1, 3) * tick
        return order(mid + cross if buy else mid - cross)
    if roll < 0.40:
        if rng.random() < 0.5:
            return order(None, OrderType.MARKET, TimeInForce.IOC)
        return order(mid, tif=TimeInForce.IOC)
    price = mid - away if buy else mid + away
    if roll < 0.42:
        return order(price, tif=TimeInForce.FOK if rng.random() < 0.5 else TimeInForce.POST_ONLY)
    return order(price)


def _on_resting(
    rng: random.Random,
    engine: MatchingEngine,
    makers: list[tuple[int, int]],
    market: str,
    tick: int,
    lot: int,
    ts_ns: int,
    *,
    cancel: bool,
) -> Command | None:
    """A cancel or a cancel-replace of an order that rests now, or None if none does."""
    resting = engine.order_market
    while makers and makers[-1][0] not in resting:
        makers.pop()  # filled since: skip cheaply from the end
    if not makers:
        return None
    if cancel:
        i = rng.randrange(len(makers))
        makers[i], makers[-1] = makers[-1], makers[i]
        order_id, account = makers.pop()
        return CancelOrder(ts_ns, account, order_id) if order_id in resting else None
    order_id, account = makers[rng.randrange(len(makers))]
    order = engine.books[market].orders.get(order_id)
    if order is None:
        return None
    if rng.random() < 0.5 and order[4] > lot:
        return ReplaceOrder(ts_ns, account, order_id, order[3], order[4] - lot)
    return ReplaceOrder(ts_ns, account, order_id, order[3] + tick * rng.choice((-1, 1)), order[4])


def _buy_terms(market: str, size: int) -> tuple[int | None, int | None]:
    if market != HASHPOWER:
        return None, None
    return size * 200, 86_400


def timed(fn: Callable[[], object]) -> float:
    import time

    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
