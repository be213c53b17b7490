"""One continuous double-auction book: price-time priority over integer prices and sizes.

The structures are plain Python, chosen for speed: per side a dict of price → deque of
resting orders (arrival order within a level), a dict of price → total size at that level,
and a heap of the level prices (bids negated) to find the best one. A cancel marks the order
dead in place (remaining 0) instead of searching its deque; matching skips dead orders when
it meets them. A level exists in the dicts exactly while some live order rests at it; its
heap entry may outlive it and is dropped lazily when it reaches the top (a set mirrors the
heap so a price is never pushed twice).

An order is a list ``[order_id, account_id, is_buy, price, remaining, seq]`` (lists are the
cheapest mutable record in CPython); ``seq`` is the arrival number that orders levels'
queues and snapshots.

Self-trade prevention is *cancel newest*: when an incoming order reaches a resting order of
its own account, the incoming order's remainder is cancelled; what it traded before stands,
and the resting order keeps its place.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush
from typing import Any

from hashmarket.market.orders import DoneReason, TimeInForce

Order = list[Any]  # [order_id, account_id, is_buy, price, remaining, seq]
Fill = tuple[Order, int]  # (the resting order, size traded against it)

ID, ACCOUNT, IS_BUY, PRICE, REMAINING, SEQ = range(6)


class OrderBook:
    """The book of one market. Not thread-safe; the engine owns it."""

    __slots__ = (
        "ask_heap",
        "ask_in_heap",
        "ask_size",
        "asks",
        "bid_heap",
        "bid_in_heap",
        "bid_size",
        "bids",
        "market",
        "orders",
    )

    def __init__(self, market: str) -> None:
        self.market = market
        self.bids: dict[int, deque[Order]] = {}
        self.asks: dict[int, deque[Order]] = {}
        self.bid_size: dict[int, int] = {}
        self.ask_size: dict[int, int] = {}
        self.bid_heap: list[int] = []  # negated prices: heap[0] is minus the best bid
        self.ask_heap: list[int] = []
        self.bid_in_heap: set[int] = set()  # heap keys (negated for bids)
        self.ask_in_heap: set[int] = set()
        self.orders: dict[int, Order] = {}

    # -- queries ----------------------------------------------------------------------------

    def best_bid(self) -> int | None:
        heap, levels, keys = self.bid_heap, self.bid_size, self.bid_in_heap
        while heap:
            if -heap[0] in levels:
                return -heap[0]
            keys.discard(heappop(heap))
        return None

    def best_ask(self) -> int | None:
        heap, levels, keys = self.ask_heap, self.ask_size, self.ask_in_heap
        while heap:
            if heap[0] in levels:
                return heap[0]
            keys.discard(heappop(heap))
        return None

    def depth(
        self, levels: int | None = None
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids best first, asks best first) as (price, total size) per level."""
        bids = sorted(self.bid_size.items(), reverse=True)
        asks = sorted(self.ask_size.items())
        if levels is not None:
            bids, asks = bids[:levels], asks[:levels]
        return bids, asks

    def resting(self) -> list[Order]:
        """Every live order in arrival order (a snapshot's content)."""
        return sorted((list(o) for o in self.orders.values()), key=lambda o: o[SEQ])

    # -- commands ---------------------------------------------------------------------------

    def place(
        self,
        order_id: int,
        account_id: int,
        is_buy: bool,
        price: int | None,
        size: int,
        tif: TimeInForce,
        seq: int,
        fills: list[Fill],
    ) -> tuple[int, DoneReason | None]:
        """Match an incoming order, then rest what is left if its kind rests.

        ``price`` None is a market order. Appends the fills to ``fills`` and returns
        (size left, why the order is done or None if it rests). Resting orders that fill
        completely leave the book; their remaining is 0 in the fill's order list."""
        if tif is TimeInForce.POST_ONLY and self._crosses(is_buy, price):
            return size, DoneReason.WOULD_TAKE
        if tif is TimeInForce.FOK and not self._fillable(account_id, is_buy, price, size):
            return size, DoneReason.UNFILLED
        if is_buy:
            left, stp = self._take_asks(account_id, price, size, fills)
        else:
            left, stp = self._take_bids(account_id, price, size, fills)
        if left == 0:
            return 0, DoneReason.FILLED
        if stp:
            return left, DoneReason.SELF_TRADE
        if price is None or tif is TimeInForce.IOC or tif is TimeInForce.FOK:
            return left, DoneReason.UNFILLED
        self.rest([order_id, account_id, is_buy, price, left, seq])
        return left, None

    def rest(self, order: Order) -> None:
        """Put an order at the back of its price level."""
        price = order[PRICE]
        if order[IS_BUY]:
            levels, sizes, heap, keys, key = (
                self.bids,
                self.bid_size,
                self.bid_heap,
                self.bid_in_heap,
                -price,
            )
        else:
            levels, sizes, heap, keys, key = (
                self.asks,
                self.ask_size,
                self.ask_heap,
                self.ask_in_heap,
                price,
            )
        level = levels.get(price)
        if level is None:
            levels[price] = deque((order,))
            sizes[price] = order[REMAINING]
            if key not in keys:
                keys.add(key)
                heappush(heap, key)
        else:
            level.append(order)
            sizes[price] += order[REMAINING]
        self.orders[order[ID]] = order

    def cancel(self, order_id: int) -> Order | None:
        """Take a resting order off the book; returns a copy of it as it was (or None)."""
        order = self.orders.pop(order_id, None)
        if order is None:
            return None
        was = list(order)
        self._shrink(order, order[REMAINING])
        return was

    def reduce(self, order_id: int, size: int) -> None:
        """A smaller remaining size at the same price: the order keeps its place."""
        order = self.orders[order_id]
        self._shrink(order, order[REMAINING] - size)

    def _shrink(self, order: Order, by: int) -> None:
        price = order[PRICE]
        sizes = self.bid_size if order[IS_BUY] else self.ask_size
        order[REMAINING] -= by
        left = sizes[price] - by
        if left:
            sizes[price] = left
        else:
            del sizes[price]
            del (self.bids if order[IS_BUY] else self.asks)[price]

    # -- matching ---------------------------------------------------------------------------

    def _crosses(self, is_buy: bool, price: int | None) -> bool:
        if is_buy:
            best = self.best_ask()
            return best is not None and (price is None or best <= price)
        best = self.best_bid()
        return best is not None and (price is None or best >= price)

    def _fillable(self, account_id: int, is_buy: bool, price: int | None, size: int) -> bool:
        """Whether ``size`` trades now without meeting the account's own order first."""
        if is_buy:
            prices = sorted(p for p in self.ask_size if price is None or p <= price)
            levels = self.asks
        else:
            prices = sorted((p for p in self.bid_size if price is None or p >= price), reverse=True)
            levels = self.bids
        got = 0
        for p in prices:
            for order in levels[p]:
                if order[REMAINING]:
                    if order[ACCOUNT] == account_id:
                        return False
                    got += order[REMAINING]
                    if got >= size:
                        return True
        return False

    def _take_asks(
        self, account_id: int, limit: int | None, qty: int, fills: list[Fill]
    ) -> tuple[int, bool]:
        asks, sizes, heap, keys, orders = (
            self.asks,
            self.ask_size,
            self.ask_heap,
            self.ask_in_heap,
            self.orders,
        )
        while heap:
            price = heap[0]
            level = asks.get(price)
            if level is None:
                keys.discard(heappop(heap))
                continue
            if limit is not None and price > limit:
                break
            traded = 0
            while level:
                maker = level[0]
                have = maker[REMAINING]
                if not have:
                    level.popleft()
                    continue
                if maker[ACCOUNT] == account_id:
                    sizes[price] -= traded
                    return qty, True
                if have <= qty:
                    maker[REMAINING] = 0
                    level.popleft()
                    del orders[maker[ID]]
                    fills.append((maker, have))
                    traded += have
                    qty -= have
                    if not qty:
                        break
                else:
                    maker[REMAINING] = have - qty
                    fills.append((maker, qty))
                    traded += qty
                    qty = 0
                    break
            left = sizes[price] - traded
            if left:
                sizes[price] = left
                return qty, False
            del sizes[price]
            del asks[price]
            keys.discard(heappop(heap))
            if not qty:
                return 0, False
        return qty, False

    def _take_bids(
        self, account_id: int, limit: int | None, qty: int, fills: list[Fill]
    ) -> tuple[int, bool]:
        bids, sizes, heap, keys, orders = (
            self.bids,
            self.bid_size,
            self.bid_heap,
            self.bid_in_heap,
            self.orders,
        )
        while heap:
            key = heap[0]
            price = -key
            level = bids.get(price)
            if level is None:
                keys.discard(heappop(heap))
                continue
            if limit is not None and price < limit:
                break
            traded = 0
            while level:
                maker = level[0]
                have = maker[REMAINING]
                if not have:
                    level.popleft()
                    continue
                if maker[ACCOUNT] == account_id:
                    sizes[price] -= traded
                    return qty, True
                if have <= qty:
                    maker[REMAINING] = 0
                    level.popleft()
                    del orders[maker[ID]]
                    fills.append((maker, have))
                    traded += have
                    qty -= have
                    if not qty:
                        break
                else:
                    maker[REMAINING] = have - qty
                    fills.append((maker, qty))
                    traded += qty
                    qty = 0
                    break
            left = sizes[price] - traded
            if left:
                sizes[price] = left
                return qty, False
            del sizes[price]
            del bids[price]
            keys.discard(heappop(heap))
            if not qty:
                return 0, False
        return qty, False
