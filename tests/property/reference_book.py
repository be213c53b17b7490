"""A slow, obviously correct continuous double auction to check the engine against.

One flat list of resting orders; every incoming order sorts the opposite side by price then
arrival and walks it. Same rules as the engine: price-time priority, the maker's price, limit
/ market, GTC / IOC / FOK / post-only, self-trade prevention cancelling the newest order, and
cancel-replace that keeps its place only for a smaller size at the same price.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RefOrder:
    order_id: int
    account_id: int
    is_buy: bool
    price: int
    remaining: int
    seq: int


@dataclass(frozen=True)
class RefResult:
    fills: list[tuple[int, int, int]]  # (maker order id, price, size)
    left: int
    reason: str | None  # None: it rests


class RefBook:
    def __init__(self) -> None:
        self.resting: list[RefOrder] = []
        self.seq = 0

    def _crossing(self, is_buy: bool, price: int | None) -> list[RefOrder]:
        def crosses(o: RefOrder) -> bool:
            if o.is_buy == is_buy:
                return False
            if price is None:
                return True
            return o.price <= price if is_buy else o.price >= price

        found = [o for o in self.resting if crosses(o)]
        if is_buy:
            return sorted(found, key=lambda o: (o.price, o.seq))
        return sorted(found, key=lambda o: (-o.price, o.seq))

    def place(
        self, order_id: int, account_id: int, is_buy: bool, price: int | None, size: int, tif: str
    ) -> RefResult:
        self.seq += 1
        crossing = self._crossing(is_buy, price)
        if tif == "post_only" and crossing:
            return RefResult([], size, "would_take")
        if tif == "fok":
            available = 0
            for o in crossing:
                if o.account_id == account_id:
                    break
                available += o.remaining
            if available < size:
                return RefResult([], size, "unfilled")
        fills: list[tuple[int, int, int]] = []
        left = size
        for o in crossing:
            if o.account_id == account_id:
                return RefResult(fills, left, "self_trade")
            take = min(left, o.remaining)
            fills.append((o.order_id, o.price, take))
            o.remaining -= take
            left -= take
            if o.remaining == 0:
                self.resting.remove(o)
            if left == 0:
                return RefResult(fills, 0, "filled")
        if price is None or tif in ("ioc", "fok"):
            return RefResult(fills, left, "unfilled")
        self.resting.append(RefOrder(order_id, account_id, is_buy, price, left, self.seq))
        return RefResult(fills, left, None)

    def find(self, order_id: int) -> RefOrder | None:
        return next((o for o in self.resting if o.order_id == order_id), None)

    def cancel(self, order_id: int) -> RefOrder | None:
        order = self.find(order_id)
        if order is not None:
            self.resting.remove(order)
        return order

    def replace(self, order_id: int, price: int, size: int) -> RefResult:
        order = self.find(order_id)
        assert order is not None
        if price == order.price and size <= order.remaining:
            order.remaining = size
            return RefResult([], size, None)
        self.resting.remove(order)
        return self.place(order_id, order.account_id, order.is_buy, price, size, "gtc")

    def depth(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        levels: dict[tuple[bool, int], int] = {}
        for o in self.resting:
            levels[(o.is_buy, o.price)] = levels.get((o.is_buy, o.price), 0) + o.remaining
        bids = sorted(((p, s) for (b, p), s in levels.items() if b), reverse=True)
        asks = sorted((p, s) for (b, p), s in levels.items() if not b)
        return bids, asks

    def orders(self) -> list[tuple[int, int, bool, int, int]]:
        """(id, account, is_buy, price, remaining) in arrival order."""
        return [
            (o.order_id, o.account_id, o.is_buy, o.price, o.remaining)
            for o in sorted(self.resting, key=lambda o: o.seq)
        ]
