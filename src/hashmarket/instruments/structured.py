"""Structured notes: shark fin, dual-currency (buy the dip / take profit), yield-split mining.

A note's cash flows are the holder's receipts after issue (the redemption, coupons, tranche
payments); the issue price is paid outside them, so a note's value is its fair issue price.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hashmarket.errors import SpecError
from hashmarket.instruments.fixings import Fixings
from hashmarket.instruments.terms import (
    FloatArray,
    SettlementCurrency,
    coerce_currency,
    coerce_enum,
    require_date,
    require_non_negative,
    require_number,
    require_order,
    require_positive,
    set_field,
)
from hashmarket.units import DAYS_PER_YEAR_ACT365


@dataclass(frozen=True)
class SharkFinNote:
    """Principal-protected note with capped participation in BTC and a knock-out barrier.

    S₀ is the BTC fixing on ``strike_date``. If any daily fixing after it, up to ``expiry``,
    reaches ``barrier × S₀``, the note is knocked out and pays ``principal × (1 + rebate)``
    at expiry; otherwise it pays ``principal × (1 + participation × min(max(S_T/S₀ − 1, 0),
    cap − 1))``. ``barrier = None`` means no barrier. Ratios are to S₀ (``cap = 1.25`` caps
    the gain at 25 %).
    """

    type_name: ClassVar[str] = "shark_fin_note"

    principal_usd: float
    strike_date: dt.date
    expiry: dt.date
    participation: float
    cap: float
    barrier: float | None = None
    rebate: float = 0.0

    def __post_init__(self) -> None:
        require_positive("principal_usd", self.principal_usd)
        require_order(
            "expiry",
            require_date("expiry", self.expiry),
            "strike_date",
            require_date("strike_date", self.strike_date),
        )
        require_non_negative("participation", self.participation)
        if require_number("cap", self.cap) < 1.0:
            raise SpecError("spec_out_of_range", field="cap", value=self.cap, bound="at least 1")
        if self.barrier is not None and require_number("barrier", self.barrier) < self.cap:
            raise SpecError(
                "spec_out_of_range",
                field="barrier",
                value=self.barrier,
                bound=f"at least cap ({self.cap})",
            )
        require_non_negative("rebate", self.rebate)

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.strike_date, self.expiry

    def cashflows(self, fixings: Fixings) -> FloatArray:
        if not fixings.covers(self.expiry):
            return fixings.zeros()
        cols, s = fixings.window(
            "price_usd", self.strike_date, self.expiry, instrument=self.type_name
        )
        ratio = s / s[:, :1]
        gain = np.clip(ratio[:, -1] - 1.0, 0.0, self.cap - 1.0)
        payout = self.participation * gain
        if self.barrier is not None:
            knocked = (ratio[:, 1:] >= self.barrier).any(axis=1)
            payout = np.where(knocked, self.rebate, payout)
        out = fixings.zeros()
        out[:, cols.stop - 1] = self.principal_usd * (1.0 + payout)
        return out


class DualCurrencyKind(enum.StrEnum):
    """``buy_the_dip``: USD in, converted to BTC at the strike if BTC falls below it.
    ``take_profit``: BTC in, converted to USD at the strike if BTC rises above it."""

    BUY_THE_DIP = "buy_the_dip"
    TAKE_PROFIT = "take_profit"


@dataclass(frozen=True)
class DualCurrencyNote:
    """Dual-currency deposit: an enhanced yield for accepting conversion at the strike.

    ``deposit`` is in the deposit currency (USD for ``buy_the_dip``, BTC for
    ``take_profit``); it earns ``coupon_rate_per_year`` (simple, ACT/365) from ``start`` to
    ``expiry``, giving R. On ``expiry``, with S the BTC fixing and K = ``strike_usd``:

    * buy the dip: R USD if S ≥ K, else R/K BTC;
    * take profit: R BTC if S ≤ K, else R·K USD.

    ``deliveries`` gives those two legs per asset (what settlement moves); ``cashflows`` their
    value in the deposit currency at the expiry fixing (what pricing discounts).
    """

    type_name: ClassVar[str] = "dual_currency_note"

    kind: DualCurrencyKind
    deposit: float
    strike_usd: float
    start: dt.date
    expiry: dt.date
    coupon_rate_per_year: float

    def __post_init__(self) -> None:
        set_field(self, "kind", coerce_enum(DualCurrencyKind, "kind", self.kind))
        require_positive("deposit", self.deposit)
        require_positive("strike_usd", self.strike_usd)
        require_order(
            "expiry",
            require_date("expiry", self.expiry),
            "start",
            require_date("start", self.start),
        )
        require_non_negative("coupon_rate_per_year", self.coupon_rate_per_year)

    @property
    def currency(self) -> SettlementCurrency:
        if self.kind is DualCurrencyKind.BUY_THE_DIP:
            return SettlementCurrency.USD
        return SettlementCurrency.BTC

    @property
    def redemption(self) -> float:
        """R: the deposit plus its coupon, in the deposit currency."""
        days = (self.expiry - self.start).days
        return self.deposit * (1.0 + self.coupon_rate_per_year * days / DAYS_PER_YEAR_ACT365)

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.expiry, self.expiry

    def deliveries(self, fixings: Fixings) -> dict[SettlementCurrency, FloatArray]:
        """Amounts of each asset delivered to the holder ``[paths, periods]``."""
        if not fixings.covers(self.expiry):
            return {
                SettlementCurrency.USD: fixings.zeros(),
                SettlementCurrency.BTC: fixings.zeros(),
            }
        cols, s = fixings.window("price_usd", self.expiry, self.expiry, instrument=self.type_name)
        spot = s[:, 0]
        usd, btc = fixings.zeros(), fixings.zeros()
        r, k = self.redemption, self.strike_usd
        if self.kind is DualCurrencyKind.BUY_THE_DIP:
            converted = spot < k
            usd[:, cols.start] = np.where(converted, 0.0, r)
            btc[:, cols.start] = np.where(converted, r / k, 0.0)
        else:
            converted = spot > k
            usd[:, cols.start] = np.where(converted, r * k, 0.0)
            btc[:, cols.start] = np.where(converted, 0.0, r)
        return {SettlementCurrency.USD: usd, SettlementCurrency.BTC: btc}

    def cashflows(self, fixings: Fixings) -> FloatArray:
        if not fixings.covers(self.expiry):
            return fixings.zeros()
        legs = self.deliveries(fixings)
        _, s = fixings.window("price_usd", self.expiry, self.expiry, instrument=self.type_name)
        spot = np.zeros_like(legs[SettlementCurrency.USD])
        spot[:, fixings.index_of(self.expiry)] = s[:, 0]
        if self.currency is SettlementCurrency.USD:
            return legs[SettlementCurrency.USD] + legs[SettlementCurrency.BTC] * spot
        with np.errstate(divide="ignore", invalid="ignore"):
            usd_in_btc = np.where(
                spot > 0, legs[SettlementCurrency.USD] / np.where(spot > 0, spot, 1.0), 0.0
            )
        return legs[SettlementCurrency.BTC] + usd_in_btc


class Tranche(enum.StrEnum):
    SENIOR = "senior"
    JUNIOR = "junior"
    POOL = "pool"


@dataclass(frozen=True)
class YieldSplitNote:
    """A tranche of a pool of mining output.

    The pool is ``pool_phs`` of hashrate from ``start`` to ``end``; each day it earns
    ``pool_phs × hashprice`` in ``currency`` (the FPPS index). The senior tranche is due
    ``senior_coupon_per_day`` a day and is paid first, shortfalls accruing and paid from
    later output; the junior tranche takes what is left. Arrears still unpaid at ``end`` are
    lost. ``tranche = pool`` is the whole output (senior + junior, exactly).
    """

    type_name: ClassVar[str] = "yield_split_note"

    pool_phs: float
    start: dt.date
    end: dt.date
    senior_coupon_per_day: float
    tranche: Tranche
    currency: SettlementCurrency = SettlementCurrency.BTC

    def __post_init__(self) -> None:
        require_positive("pool_phs", self.pool_phs)
        require_order(
            "end", require_date("end", self.end), "start", require_date("start", self.start)
        )
        require_non_negative("senior_coupon_per_day", self.senior_coupon_per_day)
        set_field(self, "tranche", coerce_enum(Tranche, "tranche", self.tranche))
        set_field(self, "currency", coerce_currency("currency", self.currency))

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def waterfall(self, fixings: Fixings) -> tuple[slice, FloatArray, FloatArray]:
        """Daily senior and junior payments over the covered part of the term:
        ``(columns, senior, junior)``. The arrears carry from the first day of the term, so
        the fixings must start by then."""
        name = f"hashprice_{self.currency.value}_per_ph_day"
        days = fixings.overlap(self.start, self.end)
        if days is None:
            empty = np.zeros((fixings.n_paths, 0))
            return slice(0, 0), empty, empty
        cols, hp = fixings.window(name, self.start, days[1], instrument=self.type_name)
        output = self.pool_phs * hp
        senior = np.empty_like(output)
        arrears = np.zeros(output.shape[0])
        # The coupon's arrears make each day depend on the last: a loop over days,
        # vectorized across paths.
        for t in range(output.shape[1]):
            due = self.senior_coupon_per_day + arrears
            senior[:, t] = np.minimum(output[:, t], due)
            arrears = due - senior[:, t]
        return cols, senior, output - senior

    def cashflows(self, fixings: Fixings) -> FloatArray:
        cols, senior, junior = self.waterfall(fixings)
        out = np.zeros((max(fixings.n_paths, senior.shape[0]), fixings.n_periods))
        part = {"senior": senior, "junior": junior, "pool": senior + junior}[self.tranche.value]
        out[:, cols] = part
        return out
