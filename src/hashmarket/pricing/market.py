"""Market data for pricing: an immutable snapshot, passed to engines by keyword.

``Market`` holds the network state at the valuation date (spot BTC price, hashrate,
difficulty, height — see ``models.NetworkState``), the USD and BTC discount curves, and the
realized fixings up to the valuation date (inclusive) for contracts that have already started.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from hashmarket.errors import PricingError
from hashmarket.instruments import DateArray, Fixings, SettlementCurrency
from hashmarket.models import NetworkState
from hashmarket.pricing.discount import DiscountCurve, FlatRate
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Market:
    """A pricing snapshot as of the end of ``state.asof``.

    ``usd_curve`` discounts USD amounts; ``btc_curve`` discounts BTC amounts and is BTC's
    lending rate, which enters BTC/USD's risk-neutral drift as r_usd − r_btc.
    """

    state: NetworkState
    usd_curve: DiscountCurve = field(default_factory=FlatRate)
    btc_curve: DiscountCurve = field(default_factory=FlatRate)
    past_fixings: Fixings | None = None

    @property
    def asof(self) -> dt.date:
        return self.state.asof

    def curve(self, currency: SettlementCurrency) -> DiscountCurve:
        return self.usd_curve if currency is SettlementCurrency.USD else self.btc_curve

    def discount_factors(self, currency: SettlementCurrency, dates: DateArray) -> FloatArray:
        """Discount factors for payments at the end of each of ``dates``; payments on or
        before the valuation date are not discounted (and not counted by the engines)."""
        days = (dates.astype("datetime64[D]") - np.datetime64(self.asof.isoformat(), "D")).astype(
            np.float64
        )
        return self.curve(currency).discount_factor(np.maximum(days, 0.0) / DAYS_PER_YEAR_ACT365)

    def with_state(self, state: NetworkState) -> Market:
        return replace(self, state=state)

    def with_usd_curve(self, curve: DiscountCurve) -> Market:
        return replace(self, usd_curve=curve)


def with_past(
    simulated: Fixings, past: Fixings | None, asof: dt.date, *, instrument: str
) -> Fixings:
    """Realized fixings up to and including ``asof``, then the simulated days after it.

    The market is as of the end of day ``asof``, so that day's record (blocks found, fees,
    the published hashprice) is known: it replaces the paths' day 0, which the model fills
    from the state (e.g. the expected, not the realized, block count). Realized fixings that
    stop before ``asof`` − 1 leave a gap no path fills, which is refused."""
    if past is None:
        return simulated
    if past.last_date >= asof and past.first_date <= asof:
        return past.between(past.first_date, asof).concat(
            simulated.between(asof + dt.timedelta(days=1), simulated.last_date)
        )
    if past.last_date == asof - dt.timedelta(days=1):
        return past.concat(simulated)
    raise PricingError(
        "missing_fixings",
        instrument=instrument,
        field="any",
        start=past.first_date,
        end=asof,
        problem=f"the realized fixings end on {past.last_date}, before the valuation date",
    )
