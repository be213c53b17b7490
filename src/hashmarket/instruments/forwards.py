"""Linear contracts on hashprice, difficulty and the BTC price.

* :class:`HashpriceForward` — Luxor's non-deliverable hashrate forward: daily cash settlement
  of (index fixing − fixed price) × PH/s, in USD or BTC.
* :class:`HashrateFuture` — Bitnomial's HUP: 1 PH/s for 30 days per contract, USD, tick
  $0.25, settling to the average USD hashprice of its 30 days.
* :class:`DifficultyFuture` — FTX's "hashrate" future: the average difficulty of every block
  in a window (a quarter), divided by 10¹².
* :class:`EpochValueFuture` — SynFutures' BTCHASH: the subsidy 1 PH/s earns over the 2016
  blocks after a retarget height, ``subsidy · 1e15 · 2016 · 600 / (D · 2³²)`` BTC.
* :class:`BtcPriceSwap` — a miner sells its monthly production at a fixed USD price against
  the month's average BTC price.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

import numpy as np

from hashmarket.chain import RETARGET_INTERVAL_BLOCKS, block_subsidy_sats
from hashmarket.errors import SpecError
from hashmarket.index import epoch_value_btc_per_ph
from hashmarket.instruments.fixings import Fixings
from hashmarket.instruments.terms import (
    FloatArray,
    SettlementCurrency,
    Side,
    coerce_currency,
    coerce_enum,
    month_periods,
    require_date,
    require_int,
    require_non_negative,
    require_order,
    require_positive,
    set_field,
)
from hashmarket.units import BLOCKS_PER_DAY_TARGET, SATS_PER_BTC

HUP_DAYS = 30
HUP_TICK_USD = Decimal("0.25")
DIFFICULTY_POINT = 1e12


@dataclass(frozen=True)
class HashpriceForward:
    """Non-deliverable hashprice forward (Luxor NDF).

    Every day from ``start`` to ``end`` (inclusive) settles in ``currency``:
    buyer receives ``(fixing − fixed_price_per_ph_day) × notional_phs``, the seller the
    negative. ``fixed_price_per_ph_day`` is in ``currency`` per PH/s per day.
    """

    type_name: ClassVar[str] = "hashprice_forward"

    notional_phs: float
    fixed_price_per_ph_day: float
    start: dt.date
    end: dt.date
    currency: SettlementCurrency = SettlementCurrency.USD
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        require_positive("notional_phs", self.notional_phs)
        require_non_negative("fixed_price_per_ph_day", self.fixed_price_per_ph_day)
        require_order(
            "end", require_date("end", self.end), "start", require_date("start", self.start)
        )
        set_field(self, "currency", coerce_currency("currency", self.currency))
        set_field(self, "side", coerce_enum(Side, "side", self.side))

    @property
    def fixing_field(self) -> str:
        return f"hashprice_{self.currency.value}_per_ph_day"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def cashflows(self, fixings: Fixings) -> FloatArray:
        out = fixings.zeros()
        days = fixings.overlap(self.start, self.end)
        if days is None:
            return out
        # Every day settles on its own fixing: the covered days pay, the others come later.
        cols, fix = fixings.window(self.fixing_field, *days, instrument=self.type_name)
        out[:, cols] = self.side.sign * (fix - self.fixed_price_per_ph_day) * self.notional_phs
        return out


@dataclass(frozen=True)
class HashrateFuture:
    """Exchange hashrate future (Bitnomial HUP): 1 PH/s for 30 days per contract, in USD.

    Settles once, at the end of the 30 days starting ``start``, to the average of the daily
    USD hashprice fixings: buyer receives ``(average − price) × 30 × contracts``. Daily
    variation margin is the clearing house's business, not the payoff's.
    """

    type_name: ClassVar[str] = "hashrate_future"

    contracts: int
    price_usd_per_ph_day: float
    start: dt.date
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        contracts = require_int("contracts", self.contracts)
        if contracts <= 0:
            raise SpecError("spec_not_positive", field="contracts", value=self.contracts)
        require_non_negative("price_usd_per_ph_day", self.price_usd_per_ph_day)
        price = Decimal(repr(float(self.price_usd_per_ph_day)))
        if price % HUP_TICK_USD != 0:
            raise SpecError(
                "spec_tick",
                field="price_usd_per_ph_day",
                value=self.price_usd_per_ph_day,
                tick=str(HUP_TICK_USD),
            )
        require_date("start", self.start)
        set_field(self, "side", coerce_enum(Side, "side", self.side))

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=HUP_DAYS - 1)

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def cashflows(self, fixings: Fixings) -> FloatArray:
        out = fixings.zeros()
        if not fixings.covers(self.end):
            return out  # settles at the end of its 30 days
        cols, fix = fixings.window(
            "hashprice_usd_per_ph_day", self.start, self.end, instrument=self.type_name
        )
        average = fix.mean(axis=1)
        out[:, cols.stop - 1] = (
            self.side.sign * (average - self.price_usd_per_ph_day) * HUP_DAYS * self.contracts
        )
        return out


@dataclass(frozen=True)
class DifficultyFuture:
    """Average-difficulty future (FTX HASH): settles at ``end`` to the block-weighted average
    difficulty of ``start … end`` divided by 10¹²; buyer receives
    ``(settlement − price_points) × usd_per_point × contracts`` in USD."""

    type_name: ClassVar[str] = "difficulty_future"

    contracts: float
    price_points: float
    start: dt.date
    end: dt.date
    usd_per_point: float = 1.0
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        require_positive("contracts", self.contracts)
        require_non_negative("price_points", self.price_points)
        require_positive("usd_per_point", self.usd_per_point)
        require_order(
            "end", require_date("end", self.end), "start", require_date("start", self.start)
        )
        set_field(self, "side", coerce_enum(Side, "side", self.side))

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def settlement_points(self, fixings: Fixings) -> FloatArray:
        _, d = fixings.window("difficulty", self.start, self.end, instrument=self.type_name)
        _, n = fixings.window("block_count", self.start, self.end, instrument=self.type_name)
        d, n = np.broadcast_arrays(d, n)
        blocks = n.sum(axis=1)
        return np.asarray(
            (d * n).sum(axis=1) / np.where(blocks > 0, blocks, np.nan) / DIFFICULTY_POINT
        )

    def cashflows(self, fixings: Fixings) -> FloatArray:
        out = fixings.zeros()
        if not fixings.covers(self.end):
            return out
        points = self.settlement_points(fixings)
        value = self.side.sign * (points - self.price_points) * self.usd_per_point * self.contracts
        out[:, fixings.index_of(self.end)] = value
        return out


@dataclass(frozen=True)
class EpochValueFuture:
    """SynFutures BTCHASH: what 1 PH/s earns in subsidy over the epoch that starts at
    ``maturity_height`` (a multiple of 2016), in BTC.

    Settlement value ``P = subsidy(maturity_height) · 1e15 · 2016 · 600 / (D · 2³²)`` with D
    the epoch's difficulty, read as the difficulty of the first full day after the chain's tip
    reached ``maturity_height − 1`` (the block that triggers the retarget); paid that day.
    Buyer (long hashprice, i.e. short difficulty) receives ``(P − price_btc_per_ph) ×
    notional_phs``. Needs the ``height`` and ``difficulty`` fixings.
    """

    type_name: ClassVar[str] = "epoch_value_future"

    notional_phs: float
    price_btc_per_ph: float
    maturity_height: int
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        require_positive("notional_phs", self.notional_phs)
        require_non_negative("price_btc_per_ph", self.price_btc_per_ph)
        height = require_int("maturity_height", self.maturity_height)
        if height <= 0 or height % RETARGET_INTERVAL_BLOCKS:
            raise SpecError(
                "spec_out_of_range",
                field="maturity_height",
                value=self.maturity_height,
                bound="a positive multiple of 2016 (a retarget height)",
            )
        set_field(self, "side", coerce_enum(Side, "side", self.side))

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.BTC

    @property
    def subsidy_btc(self) -> float:
        return block_subsidy_sats(self.maturity_height) / SATS_PER_BTC

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        """Up to three times the nominal time to maturity plus two months: a horizon the tip
        reaches on every path short of a collapse of the network."""
        blocks = max(self.maturity_height - height, 0)
        days = math.ceil(3 * blocks / BLOCKS_PER_DAY_TARGET) + 60
        return asof, asof + dt.timedelta(days=days)

    def settlement_value_btc_per_ph(self, difficulty: FloatArray) -> FloatArray:
        return epoch_value_btc_per_ph(difficulty=difficulty, subsidy_btc=self.subsidy_btc)

    def cashflows(self, fixings: Fixings) -> FloatArray:
        first, last = fixings.first_date, fixings.last_date
        _, height = fixings.window("height", first, last, instrument=self.type_name)
        _, difficulty = fixings.window("difficulty", first, last, instrument=self.type_name)
        height, difficulty = np.broadcast_arrays(height, difficulty)
        reached = height >= self.maturity_height - 1
        # Settle on the day after the tip reached the trigger block; a path whose settlement
        # day lies beyond the fixings has no payment yet.
        settle = np.argmax(reached, axis=1) + 1
        due = reached.any(axis=1) & (settle < fixings.n_periods)
        rows = np.flatnonzero(due)
        out = fixings.zeros()
        value = self.settlement_value_btc_per_ph(difficulty[rows, settle[rows]])
        out[rows, settle[rows]] = (
            self.side.sign * (value - self.price_btc_per_ph) * self.notional_phs
        )
        return out


@dataclass(frozen=True)
class BtcPriceSwap:
    """A miner's monthly BTC sale at a fixed price, cash-settled against the monthly average.

    Months are the calendar months of ``start … end`` (partial months are prorated). In each,
    the quantity is ``quantity_btc_per_month`` (prorated by days) or, if ``production_phs`` is
    given instead, what that hashrate earns: ``production_phs × Σ daily BTC hashprice``. The
    seller of BTC (``side = sell``, the miner) receives ``(fixed_price_usd − average price) ×
    quantity`` at each month's last day, in USD; the buyer the negative.
    """

    type_name: ClassVar[str] = "btc_price_swap"

    fixed_price_usd: float
    start: dt.date
    end: dt.date
    quantity_btc_per_month: float | None = None
    production_phs: float | None = None
    side: Side = Side.SELL

    def __post_init__(self) -> None:
        require_positive("fixed_price_usd", self.fixed_price_usd)
        require_order(
            "end", require_date("end", self.end), "start", require_date("start", self.start)
        )
        if (self.quantity_btc_per_month is None) == (self.production_phs is None):
            raise SpecError(
                "spec_exclusive", field="quantity_btc_per_month", other="production_phs", value=None
            )
        if self.quantity_btc_per_month is not None:
            require_positive("quantity_btc_per_month", self.quantity_btc_per_month)
        if self.production_phs is not None:
            require_positive("production_phs", self.production_phs)
        set_field(self, "side", coerce_enum(Side, "side", self.side))

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def cashflows(self, fixings: Fixings) -> FloatArray:
        out = fixings.zeros()
        receive_fixed = -self.side.sign  # the seller of BTC receives the fixed price
        for first, last in month_periods(self.start, self.end):
            if not fixings.covers(last):
                continue  # this month settles later
            cols, price = fixings.window("price_usd", first, last, instrument=self.type_name)
            if self.production_phs is not None:
                _, hp = fixings.window(
                    "hashprice_btc_per_ph_day", first, last, instrument=self.type_name
                )
                quantity = self.production_phs * hp.sum(axis=1)
            else:
                month_days = _days_in_month(first)
                assert self.quantity_btc_per_month is not None
                quantity = np.full(1, self.quantity_btc_per_month * price.shape[1] / month_days)
            average = price.mean(axis=1)
            out[:, cols.stop - 1] = receive_fixed * (self.fixed_price_usd - average) * quantity
        return out


def _days_in_month(day: dt.date) -> int:
    nxt = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return (nxt - day.replace(day=1)).days
