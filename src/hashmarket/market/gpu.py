"""GPU blocks: N GPUs of a model over an hour-aligned window, bought all-or-none.

Sell blocks rest as *pieces* ``[order_id, account, price, gpus, start_h, end_h, seq]`` (hours
since the epoch), kept per model in price-time order. A buy looks at every hour of its window
on its own: each hour takes GPUs from the cheapest, then oldest, pieces that cover it, up to
its size. Hours that take the same count from the same piece form one rectangle; a piece
loses the rectangles taken from it and what is left of it is cut into new pieces that keep
its price and time priority. That is how a seller's block is split in count and in time, and
a buy is filled from several sellers' blocks. If any hour cannot be filled the buy takes
nothing (all-or-none): a ``GTC`` buy then rests and is tried again whenever a sell arrives;
a ``FOK`` buy is done.

Every piece trades at its sell price; the order that arrived last is the taker (for fees).
A buy never takes its own account's pieces (self-trade prevention). GPUs bought become the
buyer's sellable capacity for those hours, so any part of a bought block can be resold with
an ordinary sell order; a seller's registered capacity is what it may sell, hour by hour.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hashmarket.errors import MarketError
from hashmarket.market import checks
from hashmarket.market.orders import (
    Accepted,
    DoneReason,
    OrderDone,
    PlaceGpuOrder,
    RegisterGpus,
    Side,
    TimeInForce,
)
from hashmarket.market.products import NS_PER_S, S_PER_HOUR, GpuSpec, fee
from hashmarket.money import Rounding, divide_minor

if TYPE_CHECKING:
    from hashmarket.market.engine import MatchingEngine

Piece = list[int]  # [order_id, account, price, gpus, start_h, end_h, seq]
Buy = list[int]  # [order_id, account, price, gpus, start_h, end_h, seq]
OID, ACCT, PRICE, GPUS, START, END, SEQ = range(7)


@dataclass(frozen=True, slots=True)
class GpuTrade:
    """``gpus`` GPUs over ``[start_s, end_s)`` at ``price`` cents per GPU-hour;
    ``notional_cents`` = price × GPUs × hours."""

    trade_id: int
    model: str
    ts_ns: int
    price: int
    gpus: int
    start_s: int
    end_s: int
    buy_order_id: int
    sell_order_id: int
    buy_account_id: int
    sell_account_id: int
    taker_side: Side
    notional_cents: int
    buy_fee_cents: int
    sell_fee_cents: int


class GpuMarket:
    def __init__(self, spec: GpuSpec) -> None:
        self.spec = spec
        self.sells: dict[str, list[Piece]] = {m: [] for m in spec.models}
        self.buys: dict[str, list[Buy]] = {m: [] for m in spec.models}
        self.orders: dict[int, tuple[Side, str, int]] = {}  # open order → (side, model, account)
        self.capacity: dict[tuple[int, str], dict[int, int]] = {}  # free GPUs per hour
        self.trades: list[GpuTrade] = []

    # -- checks -----------------------------------------------------------------------------

    def _model(self, command: str, raw: object) -> str:
        model = canonical_model(raw) if isinstance(raw, str) else raw
        return str(checks.one_of(command, "model", model, self.spec.models))

    def _window(self, command: str, start_s: int, end_s: int, ts_ns: int) -> tuple[int, int]:
        start, end = checks.hour_window(command, start_s, end_s, -(-ts_ns // NS_PER_S))
        if (end - start) // S_PER_HOUR > self.spec.max_hours:
            raise checks.refuse(
                command, "end_s", end, f"makes a window over {self.spec.max_hours} h"
            )
        return start // S_PER_HOUR, end // S_PER_HOUR

    def check(self, c: PlaceGpuOrder) -> None:
        checks.whole("place_gpu", "account_id", c.account_id)
        checks.one_of("place_gpu", "side", c.side, Side)
        model = self._model("place_gpu", c.model)
        checks.whole("place_gpu", "gpus", c.gpus)
        if c.gpus > self.spec.max_gpus:
            raise checks.refuse("place_gpu", "gpus", c.gpus, f"is over {self.spec.max_gpus}")
        start_h, end_h = self._window("place_gpu", c.start_s, c.end_s, c.ts_ns)
        checks.on_tick("place_gpu", "price", c.price, self.spec.tick_cents)
        checks.one_of("place_gpu", "tif", c.tif, (TimeInForce.GTC, TimeInForce.FOK))
        if c.side is Side.SELL:
            free = self.capacity.get((c.account_id, model), {})
            short = [h for h in range(start_h, end_h) if free.get(h, 0) < c.gpus]
            if short:
                raise MarketError(
                    "market_capacity",
                    command="place_gpu",
                    account=c.account_id,
                    free=free.get(short[0], 0),
                    unit=f"{model} GPUs",
                    where=f"in the hour from {short[0] * S_PER_HOUR} (Unix seconds)",
                    needed=c.gpus,
                )

    def register(self, c: RegisterGpus) -> None:
        checks.whole("register_gpus", "account_id", c.account_id)
        model = self._model("register_gpus", c.model)
        gpus = checks.whole("register_gpus", "gpus", c.gpus)
        start_h, end_h = self._window("register_gpus", c.start_s, c.end_s, c.ts_ns)
        self._add_capacity(c.account_id, model, gpus, start_h, end_h)

    def _add_capacity(self, account: int, model: str, gpus: int, start_h: int, end_h: int) -> None:
        free = self.capacity.setdefault((account, model), {})
        for h in range(start_h, end_h):
            free[h] = free.get(h, 0) + gpus

    def owner(self, order_id: int) -> int | None:
        found = self.orders.get(order_id)
        return None if found is None else found[2]

    def reservation_cents(self, c: PlaceGpuOrder) -> int:
        """What a buy reserves: its limit × GPUs × hours and the larger fee on that."""
        hours = divide_minor(c.end_s - c.start_s, S_PER_HOUR, Rounding.DOWN)
        notional = c.price * c.gpus * hours
        return notional + fee(notional, max(self.spec.maker_fee_ppm, self.spec.taker_fee_ppm))

    # -- orders -----------------------------------------------------------------------------

    def place(self, c: PlaceGpuOrder, oid: int, seq: int, engine: MatchingEngine) -> Accepted:
        model = canonical_model(c.model)
        start_h, end_h = c.start_s // S_PER_HOUR, c.end_s // S_PER_HOUR
        record = [oid, c.account_id, c.price, c.gpus, start_h, end_h, seq]
        events = engine.events
        if c.side is Side.BUY:
            trades = self._fill(model, record, Side.BUY, c.ts_ns, engine)
            if trades is not None:
                events.append(OrderDone(oid, c.account_id, model, DoneReason.FILLED, 0))
                return Accepted(oid, (), 0, events[-1])
            if c.tif is TimeInForce.FOK:
                done = OrderDone(oid, c.account_id, model, DoneReason.UNFILLED, c.gpus)
                events.append(done)
                return Accepted(oid, (), 0, done)
            bisect.insort(self.buys[model], record, key=lambda b: (-b[PRICE], b[SEQ]))
            self.orders[oid] = (Side.BUY, model, c.account_id)
            return Accepted(oid, (), c.gpus, None)
        free = self.capacity[(c.account_id, model)]
        for h in range(start_h, end_h):
            free[h] -= c.gpus
        self.orders[oid] = (Side.SELL, model, c.account_id)
        self._insert_piece(model, record)
        for buy in list(self.buys[model]):
            overlaps = buy[START] < end_h and start_h < buy[END]
            if (
                overlaps
                and buy[PRICE] >= c.price
                and self._fill(model, buy, Side.SELL, c.ts_ns, engine) is not None
            ):
                self.buys[model].remove(buy)
                del self.orders[buy[OID]]
                events.append(OrderDone(buy[OID], buy[ACCT], model, DoneReason.FILLED, 0))
        if oid not in self.orders:  # sold out at once (its OrderDone is among the events)
            done = next(
                e for e in reversed(events) if isinstance(e, OrderDone) and e.order_id == oid
            )
            return Accepted(oid, (), 0, done)
        return Accepted(oid, (), c.gpus, None)

    def _insert_piece(self, model: str, piece: Piece) -> None:
        bisect.insort(self.sells[model], piece, key=_piece_key)

    def _has_pieces(self, model: str, oid: int) -> bool:
        return any(p[OID] == oid for p in self.sells[model])

    def _fill(
        self, model: str, buy: Buy, taker: Side, ts_ns: int, engine: MatchingEngine
    ) -> list[GpuTrade] | None:
        """Fill ``buy`` entirely from the resting pieces, or take nothing (returns None)."""
        takes = self._plan(model, buy)
        if takes is None:
            return None
        out = []
        buyer_rate = self.spec.taker_fee_ppm if taker is Side.BUY else self.spec.maker_fee_ppm
        seller_rate = self.spec.maker_fee_ppm if taker is Side.BUY else self.spec.taker_fee_ppm
        # The buyer's fee is rounded up once on the fill's total (each piece pays the change in
        # the rounded running total), so it never exceeds the fee its reservation allowed for.
        running = 0
        for piece, gpus, a, z in takes:
            notional = piece[PRICE] * gpus * (z - a)
            buyer_fee = fee(running + notional, buyer_rate) - fee(running, buyer_rate)
            running += notional
            trade = GpuTrade(
                engine.new_trade_id(),
                model,
                ts_ns,
                piece[PRICE],
                gpus,
                a * S_PER_HOUR,
                z * S_PER_HOUR,
                buy[OID],
                piece[OID],
                buy[ACCT],
                piece[ACCT],
                taker,
                notional,
                buyer_fee,
                fee(notional, seller_rate),
            )
            out.append(trade)
            self._add_capacity(buy[ACCT], model, gpus, a, z)
        self._carve(model, takes)
        self.trades.extend(out)
        engine.events.extend(out)
        for oid in {t.sell_order_id for t in out}:
            if not self._has_pieces(model, oid) and oid in self.orders:
                del self.orders[oid]
                engine.events.append(
                    OrderDone(oid, self.orders_account(out, oid), model, DoneReason.FILLED, 0)
                )
        return out

    @staticmethod
    def orders_account(trades: list[GpuTrade], sell_order_id: int) -> int:
        return next(t.sell_account_id for t in trades if t.sell_order_id == sell_order_id)

    def _plan(self, model: str, buy: Buy) -> list[tuple[Piece, int, int, int]] | None:
        start, end, limit = buy[START], buy[END], buy[PRICE]
        need = [buy[GPUS]] * (end - start)
        missing = buy[GPUS] * (end - start)
        takes: list[tuple[Piece, int, int, int]] = []
        for piece in self.sells[model]:
            if piece[PRICE] > limit:
                break
            a, z = max(piece[START], start), min(piece[END], end)
            if a >= z or piece[ACCT] == buy[ACCT]:
                continue
            have = piece[GPUS]
            h = a
            while h < z:
                take = min(have, need[h - start])
                run = h + 1
                while run < z and min(have, need[run - start]) == take:
                    run += 1
                if take:
                    takes.append((piece, take, h, run))
                    for x in range(h - start, run - start):
                        need[x] -= take
                    missing -= take * (run - h)
                h = run
            if not missing:
                return takes
        return None

    def _carve(self, model: str, takes: list[tuple[Piece, int, int, int]]) -> None:
        """Replace each piece something was taken from by what is left of it."""
        taken: dict[int, tuple[Piece, dict[int, int]]] = {}
        for piece, gpus, a, z in takes:
            per_hour = taken.setdefault(id(piece), (piece, {}))[1]
            for h in range(a, z):
                per_hour[h] = per_hour.get(h, 0) + gpus
        book = self.sells[model]
        for piece, per_hour in taken.values():
            book.remove(piece)
            h = piece[START]
            while h < piece[END]:
                left = piece[GPUS] - per_hour.get(h, 0)
                run = h + 1
                while run < piece[END] and piece[GPUS] - per_hour.get(run, 0) == left:
                    run += 1
                if left:
                    self._insert_piece(model, [*piece[:GPUS], left, h, run, piece[SEQ]])
                h = run

    def cancel(self, order_id: int, events: list[Any]) -> OrderDone:
        side, model, account = self.orders.pop(order_id)
        if side is Side.BUY:
            buy = next(b for b in self.buys[model] if b[OID] == order_id)
            self.buys[model].remove(buy)
            done = OrderDone(order_id, account, model, DoneReason.CANCELLED, buy[GPUS])
        else:
            mine = [p for p in self.sells[model] if p[OID] == order_id]
            self.sells[model] = [p for p in self.sells[model] if p[OID] != order_id]
            for p in mine:
                self._add_capacity(account, model, p[GPUS], p[START], p[END])
            done = OrderDone(
                order_id,
                account,
                model,
                DoneReason.CANCELLED,
                sum(p[GPUS] * (p[END] - p[START]) for p in mine),
            )
        events.append(done)
        return done

    def advance(self, ts_ns: int, events: list[Any]) -> None:
        """Buys whose window has begun expire; sell pieces lose the hours that have begun."""
        now_h = -(-ts_ns // (S_PER_HOUR * NS_PER_S))  # the first hour that has not begun
        for model in self.spec.models:
            for buy in [b for b in self.buys[model] if b[START] < now_h]:
                self.buys[model].remove(buy)
                del self.orders[buy[OID]]
                events.append(OrderDone(buy[OID], buy[ACCT], model, DoneReason.EXPIRED, buy[GPUS]))
            kept = []
            for piece in self.sells[model]:
                if piece[START] < now_h:
                    piece = [*piece[:START], now_h, *piece[END:]]
                if piece[START] < piece[END]:
                    kept.append(piece)
            self.sells[model] = kept
            for oid in {p[OID] for p in self.sells[model]} ^ {
                o for o, (s, m, _) in self.orders.items() if s is Side.SELL and m == model
            }:
                _, _, account = self.orders.pop(oid)
                events.append(OrderDone(oid, account, model, DoneReason.EXPIRED, 0))


def canonical_model(raw: str) -> str:
    """The GPU-hour index's spelling of a model name (imported on first use: the index
    module brings numpy and pandas, which the rest of the engine does not need)."""
    from hashmarket.index import canonical_model as canonical

    return canonical(raw)


def _piece_key(piece: Piece) -> tuple[int, int, int]:
    return (piece[PRICE], piece[SEQ], piece[START])
