"""Contracts on regional power and the regional mining-margin index (``docs/regional.md``).

They read three kinds of fixing fields: ``hashprice_usd_per_ph_day``, and per region
``power_price_usd_per_kwh:<region>`` (USD/kWh) and ``regional_margin_usd_per_ph_day:<region>``
(the regional margin index at the contract's reference efficiency).

* :class:`RegionalBasisSwap` — one region's margin against another's over a period, on a
  notional in PH/s: the buyer receives ``N × (M_long − M_short − fixed spread)`` for each day
  (``daily``), or the sum of a calendar month's days on its last day (``monthly``: the
  month's average difference × its days).
* :class:`PowerForward` — a fixed USD/kWh for the energy that ``notional_phs`` draws at the
  reference efficiency, ``N × efficiency × 24`` kWh a day (a financial PPA): the buyer receives
  ``energy × (P − K)``, so a buyer who consumes the energy pays K for it net.
* :class:`MarginLock` — the two legs a miner sells to lock its spread: a hashprice forward and
  a power forward on the same PH/s. The buyer is long the margin:
  ``N × [(H − K_h) − e × 24 × (P − K_p)]``; a seller that mines N PH/s in the region earns
  ``N × (H − e × 24 × P)`` and so ends every day on ``N × (K_h − e × 24 × K_p)`` whatever H and
  P do.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hashmarket.errors import SpecError
from hashmarket.index import (
    KWH_PER_PH_DAY_PER_J_PER_TH,
    REFERENCE_EFFICIENCY_J_PER_TH,
    regional_margin_usd_per_ph_day,
)
from hashmarket.instruments.fixings import (
    MARGIN_FIELD_PREFIX,
    POWER_FIELD_PREFIX,
    Fixings,
    to_day,
)
from hashmarket.instruments.forwards import HashpriceForward
from hashmarket.instruments.terms import (
    FloatArray,
    SettlementCurrency,
    Side,
    coerce_enum,
    month_periods,
    require_at_most,
    require_date,
    require_non_negative,
    require_number,
    require_order,
    require_positive,
    set_field,
)

if TYPE_CHECKING:
    from hashmarket.index import RegionalFixing

HASHPRICE_FIELD = "hashprice_usd_per_ph_day"
MAX_EFFICIENCY_J_PER_TH = 1000.0


def power_field(region: str) -> str:
    return f"{POWER_FIELD_PREFIX}{region}"


def margin_field(region: str) -> str:
    return f"{MARGIN_FIELD_PREFIX}{region}"


def _region(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError("spec_bad_type", field=field, value=value, expected="a region name")
    return value.strip()


def _common(instrument: Any, regions: Sequence[str]) -> None:
    for name in regions:
        set_field(instrument, name, _region(name, getattr(instrument, name)))
    require_positive("notional_phs", instrument.notional_phs)
    eff = instrument.efficiency_j_per_th
    require_positive("efficiency_j_per_th", eff)
    require_at_most("efficiency_j_per_th", eff, MAX_EFFICIENCY_J_PER_TH, "at most 1000 J/TH")
    start = require_date("start", instrument.start)
    require_order("end", require_date("end", instrument.end), "start", start)
    set_field(instrument, "side", coerce_enum(Side, "side", instrument.side))


class BasisSettlement(enum.StrEnum):
    DAILY = "daily"  # each day's difference, that day
    MONTHLY = "monthly"  # a calendar month's days, on its last day (the monthly average)


@dataclass(frozen=True)
class RegionalBasisSwap:
    """``long_region``'s margin against ``short_region``'s, ``notional_phs`` from ``start`` to
    ``end`` (inclusive), at ``efficiency_j_per_th``; see the module docstring."""

    type_name: ClassVar[str] = "regional_basis_swap"

    long_region: str
    short_region: str
    notional_phs: float
    start: dt.date
    end: dt.date
    efficiency_j_per_th: float = REFERENCE_EFFICIENCY_J_PER_TH
    fixed_spread_usd_per_ph_day: float = 0.0
    settlement: BasisSettlement = BasisSettlement.DAILY
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        _common(self, ("long_region", "short_region"))
        if self.long_region == self.short_region:
            raise SpecError(
                "spec_bad_type",
                field="short_region",
                value=self.short_region,
                expected="a region other than long_region",
            )
        require_number("fixed_spread_usd_per_ph_day", self.fixed_spread_usd_per_ph_day)
        set_field(self, "settlement", coerce_enum(BasisSettlement, "settlement", self.settlement))

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    @property
    def regions(self) -> tuple[str, ...]:
        return (self.long_region, self.short_region)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def daily_difference(self, fixings: Fixings, first: dt.date, last: dt.date) -> FloatArray:
        """``M_long − M_short − fixed`` on the days ``first … last`` ``[paths, days]``."""
        _, long = fixings.window(
            margin_field(self.long_region), first, last, instrument=self.type_name
        )
        _, short = fixings.window(
            margin_field(self.short_region), first, last, instrument=self.type_name
        )
        return np.asarray(long - short - self.fixed_spread_usd_per_ph_day, dtype=np.float64)

    def cashflows(self, fixings: Fixings) -> FloatArray:
        out = fixings.zeros()
        scale = self.side.sign * self.notional_phs
        if self.settlement is BasisSettlement.DAILY:
            days = fixings.overlap(self.start, self.end)
            if days is not None:  # the covered days pay, the others come later
                cols = slice(fixings.index_of(days[0]), fixings.index_of(days[1]) + 1)
                out[:, cols] = scale * self.daily_difference(fixings, *days)
            return out
        for first, last in month_periods(self.start, self.end):
            # A month pays on its last day, once every one of its days is fixed.
            if fixings.covers(first) and fixings.covers(last):
                diff = self.daily_difference(fixings, first, last)
                out[:, fixings.index_of(last)] = scale * diff.sum(axis=1)
        return out


@dataclass(frozen=True)
class PowerForward:
    """A fixed ``fixed_price_usd_per_kwh`` in ``region`` for ``notional_phs × efficiency × 24``
    kWh a day from ``start`` to ``end``; the buyer receives ``energy × (P − K)``."""

    type_name: ClassVar[str] = "power_forward"

    region: str
    notional_phs: float
    fixed_price_usd_per_kwh: float
    start: dt.date
    end: dt.date
    efficiency_j_per_th: float = REFERENCE_EFFICIENCY_J_PER_TH
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        _common(self, ("region",))
        require_non_negative("fixed_price_usd_per_kwh", self.fixed_price_usd_per_kwh)

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    @property
    def regions(self) -> tuple[str, ...]:
        return (self.region,)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def energy_kwh_per_day(self) -> float:
        return self.notional_phs * self.efficiency_j_per_th * KWH_PER_PH_DAY_PER_J_PER_TH

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def cashflows(self, fixings: Fixings) -> FloatArray:
        out = fixings.zeros()
        days = fixings.overlap(self.start, self.end)
        if days is None:
            return out
        cols, price = fixings.window(power_field(self.region), *days, instrument=self.type_name)
        energy = self.energy_kwh_per_day
        out[:, cols] = self.side.sign * energy * (price - self.fixed_price_usd_per_kwh)
        return out


@dataclass(frozen=True)
class MarginLock:
    """A hashprice forward at ``fixed_hashprice_usd_per_ph_day`` and an opposite power
    forward at ``fixed_power_usd_per_kwh`` on the same ``notional_phs`` in ``region``; the
    buyer is long the margin (see the module docstring). A miner sells it."""

    type_name: ClassVar[str] = "margin_lock"

    region: str
    notional_phs: float
    fixed_hashprice_usd_per_ph_day: float
    fixed_power_usd_per_kwh: float
    start: dt.date
    end: dt.date
    efficiency_j_per_th: float = REFERENCE_EFFICIENCY_J_PER_TH
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        _common(self, ("region",))
        require_non_negative("fixed_hashprice_usd_per_ph_day", self.fixed_hashprice_usd_per_ph_day)
        require_non_negative("fixed_power_usd_per_kwh", self.fixed_power_usd_per_kwh)

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    @property
    def regions(self) -> tuple[str, ...]:
        return (self.region,)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def locked_margin_usd_per_ph_day(self) -> float:
        """The spread the seller locks: ``K_h − e × 24 × K_p``."""
        cost = self.efficiency_j_per_th * KWH_PER_PH_DAY_PER_J_PER_TH * self.fixed_power_usd_per_kwh
        return self.fixed_hashprice_usd_per_ph_day - cost

    def legs(self) -> tuple[HashpriceForward, PowerForward]:
        """The hashprice forward on our side and the power forward on the other."""
        other = Side.SELL if self.side is Side.BUY else Side.BUY
        return (
            HashpriceForward(
                notional_phs=self.notional_phs,
                fixed_price_per_ph_day=self.fixed_hashprice_usd_per_ph_day,
                start=self.start,
                end=self.end,
                side=self.side,
            ),
            PowerForward(
                region=self.region,
                notional_phs=self.notional_phs,
                fixed_price_usd_per_kwh=self.fixed_power_usd_per_kwh,
                start=self.start,
                end=self.end,
                efficiency_j_per_th=self.efficiency_j_per_th,
                side=other,
            ),
        )

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def cashflows(self, fixings: Fixings) -> FloatArray:
        hashprice, power = self.legs()
        return hashprice.cashflows(fixings) + power.cashflows(fixings)


RegionalInstrument = RegionalBasisSwap | PowerForward | MarginLock
REGIONAL_INSTRUMENTS: tuple[type[RegionalBasisSwap | PowerForward | MarginLock], ...] = (
    RegionalBasisSwap,
    PowerForward,
    MarginLock,
)


def with_margins(fixings: Fixings, regions: Sequence[str], efficiency_j_per_th: float) -> Fixings:
    """``fixings`` with each region's margin field computed from its hashprice and power
    fields by the index's own formula (for simulated paths)."""
    values = dict(fixings.values)
    for region in regions:
        values[margin_field(region)] = regional_margin_usd_per_ph_day(
            hashprice_usd_per_ph_day=values[HASHPRICE_FIELD],
            efficiency_j_per_th=efficiency_j_per_th,
            price_usd_per_kwh=values[power_field(region)],
        )
    return Fixings(dates=fixings.dates, values=values)


def fixings_from_regional(published: Sequence[RegionalFixing]) -> Fixings:
    """The realized path from published regional fixings: each region's margin (the fixing's
    value) and power price, and the hashprice fixing they were computed from. Days between the
    first and last without a fixing are NaN, so a contract that needs them refuses to pay."""
    if not published:
        raise ValueError("no regional fixings given")
    first = min(f.date for f in published)
    last = max(f.date for f in published)
    dates = np.arange(to_day(first), to_day(last) + 1)
    values: dict[str, FloatArray] = {}

    def put(name: str, day: dt.date, value: float) -> None:
        column = values.setdefault(name, np.full(len(dates), np.nan))
        column[int((to_day(day) - dates[0]).astype(int))] = value

    for f in published:
        put(HASHPRICE_FIELD, f.date, float(f.hashprice_usd_per_ph_day))
        put(power_field(f.region), f.date, float(f.power_price_usd_per_kwh))
        put(margin_field(f.region), f.date, float(f.value))
    return Fixings(dates=dates, values=values)
