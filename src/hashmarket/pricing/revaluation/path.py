"""The value at a horizon on one deterministic path (a stress scenario): what the path pays
on days 1 … H at face, plus the rest discounted to day H — or the pricing registry's closed
form at the day-H price where it has one. BTC amounts after H are weighted by the path's
``S_t / E[S_t | H]``, the pricing engine's BTC numeraire (1 on a path whose price grows at the
model's drift after H). On a single named path the path's own future is the scenario, so no
regression mark is needed (compare :mod:`.engine`)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from hashmarket.instruments import FIXING_FIELDS, Fixings, Instrument, SettlementCurrency
from hashmarket.models import NetworkModel
from hashmarket.pricing.market import Market, with_past
from hashmarket.pricing.registry import closed_form_on_paths
from hashmarket.pricing.revaluation.plan import PathSource
from hashmarket.units import DAYS_PER_YEAR_ACT365


def path_fixings(source: PathSource, *, past: Fixings | None, asof: dt.date) -> Fixings:
    """The fixings of a chunk of paths, after the realized ones (``past``)."""
    values = {k: v for k, v in source.data.items() if k in FIXING_FIELDS}
    simulated = Fixings(dates=source.dates, values=values)
    return with_past(simulated, past, asof, instrument="portfolio")


def value_on_path(
    instrument: Instrument,
    *,
    fixings: Fixings,
    market: Market,
    model: NetworkModel,
    horizon_days: int,
) -> float:
    """Value on day H of a one-path fixings: paid on days 1 … H, plus the rest discounted to H
    (or the pricing registry's closed form at the day-H price where it has one)."""
    asof = market.asof
    first, last = instrument.fixing_window(asof=asof, height=market.state.height)
    if (last - asof).days < 1:
        return 0.0
    btc = instrument.currency is SettlementCurrency.BTC
    curve = market.btc_curve if btc else market.usd_curve
    day_h = asof + dt.timedelta(days=horizon_days)
    price_h = float(fixings.values["price_usd"][0, fixings.index_of(day_h)])
    closed_form = closed_form_on_paths(instrument, model)
    if closed_form is not None and last > day_h:
        years = (last - day_h).days / DAYS_PER_YEAR_ACT365
        closed = closed_form(
            instrument,
            spot_usd=price_h,
            expiry_years=years,
            vol=model.price.vol_per_year,
            usd_rate=market.usd_curve.zero_rate(years),
            btc_rate=market.btc_curve.zero_rate(years),
        )
        return float(closed)
    window = fixings.between(max(first, fixings.first_date), min(last, fixings.last_date))
    amounts = instrument.cashflows(window)[0]
    days = (window.dates - np.datetime64(asof, "D")).astype(np.int64)
    real = (days >= 1) & (days <= horizon_days)
    fut = days > horizon_days
    years_after_h = (days[fut] - horizon_days) / DAYS_PER_YEAR_ACT365
    future = amounts[fut]
    if btc:
        # BTC paid after H with BTC as the numeraire, as the pricing engine values it:
        # weighted by S_t / E[S_t | H] (the model's drift for the forward).
        price = np.broadcast_to(window.values["price_usd"], (1, window.n_periods))[0]
        forward = price_h * np.exp(model.price.drift_per_year * years_after_h)
        future = future * price[fut] / forward
    value = float(amounts[real].sum() + future @ curve.discount_factor(years_after_h))
    return value * (price_h if btc else 1.0)
