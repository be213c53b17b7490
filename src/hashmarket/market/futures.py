"""Listed monthly hashprice futures: positions, margin and daily marks.

Each contract month trades on its own continuous book (:mod:`.book`); this module keeps
what the book does not: every account's position and collateral per contract.

* **Margin.** An order reserves ``(initial margin + taker fee) × size`` on the ledger. At a
  fill each side posts what its position's initial margin grew by, and the fee; a fill that
  shrinks a position releases collateral above the new requirement.
* **Variation.** ``MarkFutures`` books each position's gain since the last mark or trade,
  ``(mark × position − basis) × contract days`` cents, where ``basis`` is the sum of
  ``signed size × price`` since then, to its collateral. Gains and losses sum to zero (every
  trade adds the same amount to the buyer's basis as it takes from the seller's). A loss
  larger than the collateral takes the collateral to zero and the rest is recorded as
  uncovered, and winners then share what was covered, so the margin account always holds
  exactly the sum of all collateral. A position whose collateral falls below maintenance
  margin gets a :class:`MarginCall` event; the account answers it with :class:`AddMargin`
  (more collateral from its USD account, :class:`MarginAdded`). Closing out defaulters is
  not done by the engine. Money leaves the margin account only when collateral is released.
* **Final settlement.** ``MarkFutures(final=True)`` at the month's average index fixing
  books the last variation, releases all collateral and closes the contract.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from hashmarket.errors import MarketError
from hashmarket.market import checks
from hashmarket.market.orders import Accepted, AddMargin, MarkFutures, PlaceOrder, Trade
from hashmarket.market.products import NS_PER_S, FutureSpec
from hashmarket.money import DECIMAL, Rounding, round_minor

if TYPE_CHECKING:
    from hashmarket.index import Fixing


class MarginMove(NamedTuple):
    """Collateral of ``account_id`` in ``market`` changes by ``posted`` (from the order's
    reservation, > 0) or ``released`` (back to the account, > 0) at a trade."""

    market: str
    trade_id: int
    order_id: int
    account_id: int
    posted_cents: int
    released_cents: int
    fee_cents: int


@dataclass(frozen=True, slots=True)
class Variation:
    """A position's gain (> 0) or loss (< 0) at a mark, booked to its collateral.
    ``uncovered_cents`` is the part of the gain or loss that could not be booked: a loss
    beyond the collateral there was (owed by the account), or the part of a gain those
    uncovered losses left unpaid."""

    market: str
    ts_ns: int
    account_id: int
    amount_cents: int
    mark: int
    final: bool
    uncovered_cents: int = 0


@dataclass(frozen=True, slots=True)
class MarginCall:
    market: str
    ts_ns: int
    account_id: int
    collateral_cents: int
    maintenance_cents: int


@dataclass(frozen=True, slots=True)
class MarginAdded:
    """An account added ``amount_cents`` to its position's collateral (:class:`AddMargin`);
    ``ref`` tells one addition from another in the same instant."""

    market: str
    ts_ns: int
    account_id: int
    amount_cents: int
    ref: int


@dataclass(frozen=True, slots=True)
class CollateralReleased:
    """Final settlement hands back what is left of an account's collateral."""

    market: str
    ts_ns: int
    account_id: int
    amount_cents: int


def day_start_ns(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * NS_PER_S


class FuturesState:
    def __init__(self, specs: Iterable[FutureSpec]) -> None:
        self.specs = {s.symbol: s for s in specs}
        # trading stops at 00:00 UTC after the last trading day
        self.trading_ends_ns = {
            s.symbol: day_start_ns(s.last_trading_day + dt.timedelta(days=1)) for s in specs
        }
        self.position: dict[tuple[str, int], int] = {}
        self.basis: dict[tuple[str, int], int] = {}
        self.collateral: dict[tuple[str, int], int] = {}
        self.last_mark: dict[str, int] = {}
        self.closed: set[str] = set()
        self.additions = 0  # margin additions so far: each one's reference

    def spec(self, market: str) -> FutureSpec:
        return self.specs[market]

    def check_open(self, market: str, ts_ns: int, command: str) -> None:
        spec = self.specs[market]
        if market in self.closed or ts_ns >= self.trading_ends_ns[market]:
            raise checks.refuse(
                command,
                "market",
                market,
                f"has stopped trading (last trading day {spec.last_trading_day})",
            )

    def check_order(self, c: PlaceOrder) -> None:
        self.check_open(c.market, c.ts_ns, "place")
        for name in ("budget_sats", "duration_s"):
            if getattr(c, name) is not None:
                raise checks.refuse("place", name, getattr(c, name), "is for hashpower buys only")

    def reservation_cents(self, market: str, size: int) -> int:
        """What an order of ``size`` contracts reserves: margin and the larger fee."""
        spec = self.specs[market]
        per = spec.initial_margin_cents + max(spec.taker_fee_cents, spec.maker_fee_cents)
        return per * size

    def fees(self, market: str, size: int, *, buyer_takes: bool) -> tuple[int, int]:
        """(buyer's fee, seller's fee) in cents for ``size`` contracts."""
        spec = self.specs[market]
        maker, taker = spec.maker_fee_cents * size, spec.taker_fee_cents * size
        return (taker, maker) if buyer_takes else (maker, taker)

    def on_trade(self, trade: Trade, events: list[Any]) -> None:
        """Move both sides' positions, basis and collateral; record the margin moves."""
        margin = self.specs[trade.market].initial_margin_cents
        market, size, price = trade.market, trade.size, trade.price
        for account, order_id, signed, fee_cents in (
            (trade.buy_account_id, trade.buy_order_id, size, trade.buy_fee),
            (trade.sell_account_id, trade.sell_order_id, -size, trade.sell_fee),
        ):
            key = (market, account)
            before = self.position.get(key, 0)
            after = before + signed
            self.position[key] = after
            self.basis[key] = self.basis.get(key, 0) + signed * price
            size_after = after if after > 0 else -after  # conditionals, not abs()/max():
            size_before = before if before > 0 else -before  # this runs twice per fill
            need = size_after * margin
            have = self.collateral.get(key, 0)
            # A growing position posts up to its requirement but at most the initial margin of
            # the contracts it adds (what its order reserved: a shortfall from earlier losses
            # is a margin call's business); a shrinking one releases down to the requirement.
            grows = size_after > size_before
            posted = need - have if grows and need > have else 0
            if grows and posted > (size_after - size_before) * margin:
                posted = (size_after - size_before) * margin
            released = have - need if not grows and after != before and have > need else 0
            self.collateral[key] = have + posted - released
            events.append(
                tuple.__new__(
                    MarginMove,
                    (market, trade.trade_id, order_id, account, posted, released, fee_cents),
                )
            )

    def check_add(self, c: AddMargin) -> None:
        """Refuse an addition to a market that is not a listed future, has stopped trading,
        or in which the account holds no position; or one that is not a whole number of
        cents."""
        checks.one_of(c.KIND, "market", c.market, self.specs)
        self.check_open(c.market, c.ts_ns, c.KIND)
        checks.whole(c.KIND, "amount_cents", c.amount_cents)
        if not self.position.get((c.market, c.account_id)):
            raise checks.refuse(
                c.KIND, "account_id", c.account_id, f"holds no position in {c.market}"
            )

    def add(self, c: AddMargin, events: list[Any]) -> Accepted:
        self.check_add(c)
        key = (c.market, c.account_id)
        self.collateral[key] = self.collateral.get(key, 0) + c.amount_cents
        self.additions += 1
        events.append(MarginAdded(c.market, c.ts_ns, c.account_id, c.amount_cents, self.additions))
        return Accepted(0)

    def mark(self, c: MarkFutures, events: list[Any]) -> None:
        spec = self.specs.get(c.market)
        if spec is None:
            checks.one_of("mark", "market", c.market, self.specs)
        assert spec is not None
        if c.market in self.closed:
            raise MarketError(
                "market_field",
                command="mark",
                field="market",
                value=c.market,
                problem="is already finally settled",
            )
        price = checks.whole("mark", "price", c.price, minimum=0)
        keys = sorted(k for k in self.position if k[0] == c.market)
        gains = {}
        for key in keys:
            gains[key] = (price * self.position[key] - self.basis[key]) * spec.contract_days
            self.basis[key] = price * self.position[key]
        credits = self._cover(gains)
        for key in keys:
            if credits[key] or gains[key]:
                self.collateral[key] += credits[key]
                events.append(
                    Variation(
                        c.market,
                        c.ts_ns,
                        key[1],
                        credits[key],
                        price,
                        c.final,
                        gains[key] - credits[key],
                    )
                )
            maintenance = abs(self.position[key]) * spec.maintenance_margin_cents
            if not c.final and self.position[key] and self.collateral[key] < maintenance:
                events.append(
                    MarginCall(c.market, c.ts_ns, key[1], self.collateral[key], maintenance)
                )
        self.last_mark[c.market] = price
        if c.final:
            self._close(c, events)

    def _cover(self, gains: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """What each position's collateral changes by: a loss up to the collateral there is
        (never below zero), and gains in full if the losses covered them, else shares of what
        was covered (largest remainders), so the margin account always holds exactly the sum
        of the collateral."""
        from hashmarket.ledger import allocate  # numpy: imported when a mark runs

        credits = {}
        covered = 0
        for key, gain in gains.items():
            if gain < 0:
                credits[key] = -min(-gain, max(self.collateral.get(key, 0), 0))
                covered -= credits[key]
        winners = [(i, g) for i, (k, g) in enumerate(gains.items()) if g > 0]
        owed = sum(g for _, g in winners)
        shares = allocate(min(covered, owed), winners) if winners else []
        keys = list(gains)
        for (i, _), share in zip(winners, shares, strict=True):
            credits[keys[i]] = share
        for key in gains:
            credits.setdefault(key, 0)
        return credits

    def _close(self, c: MarkFutures, events: list[Any]) -> None:
        for key in sorted(k for k in self.collateral if k[0] == c.market):
            left = self.collateral.pop(key)
            self.position.pop(key, None)
            self.basis.pop(key, None)
            if left > 0:
                events.append(CollateralReleased(c.market, c.ts_ns, key[1], left))
        self.closed.add(c.market)


def final_settlement_cents(fixings: Iterable[Fixing], spec: FutureSpec) -> int:
    """The contract month's final settlement price: the average of the month's published USD
    hashprice fixings (USD per PH/s per day), in cents, rounded half to even. Every day of
    the month must have a fixing, or the month is not over: the price goes to the engine in
    ``MarkFutures(final=True)``, so the log carries it and replays never recompute it."""
    month = spec.month
    days = [
        f
        for f in fixings
        if f.currency == "usd" and (f.date.year, f.date.month) == (month.year, month.month)
    ]
    expected = (spec.last_trading_day - month).days + 1
    if len({f.date for f in days}) != expected or len(days) != expected:
        raise MarketError(
            "market_field",
            command="final settlement",
            field="fixings",
            value=f"{len(days)} USD fixings",
            problem=f"must be one for each of the {expected} days of {month:%Y-%m}",
        )
    total = sum((f.value for f in days), Decimal(0))
    return round_minor(DECIMAL.divide(total * 100, Decimal(expected)), Rounding.HALF_EVEN)
