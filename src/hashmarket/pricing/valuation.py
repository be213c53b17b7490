"""Valuation as of a date from the network history: calibrate, build the market, price.

The one workflow behind ``hashmarket price``, ``hashmarket curve`` and the HTTP API: a
contract that has already started settles its past days on the realized fixings, the rest on
simulated ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from hashmarket.chain.history import NetworkHistory
from hashmarket.instruments.fixings import Fixings
from hashmarket.instruments.terms import Instrument, SettlementCurrency
from hashmarket.models.calibrate import Calibration, calibrate
from hashmarket.pricing.curves import HashpriceCurve, hashprice_curve
from hashmarket.pricing.discount import FlatRate
from hashmarket.pricing.market import Market
from hashmarket.pricing.registry import price
from hashmarket.pricing.result import MonteCarloConfig, PricingResult

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ValuationSetup:
    """How the models are calibrated and discounted for a valuation."""

    asof: dt.date | None = None  # default: the last day with a price and network data
    price_model: Literal["gbm", "merton"] = "gbm"
    vol_estimator: Literal["full", "ewma"] = "full"
    usd_rate: float = 0.0  # flat, continuously compounded
    btc_rate: float = 0.0


def calibrated(history: NetworkHistory, setup: ValuationSetup) -> Calibration:
    return calibrate(
        history, asof=setup.asof, price_model=setup.price_model, vol_estimator=setup.vol_estimator
    )


def market_for(
    calibration: Calibration, setup: ValuationSetup, *, past_fixings: Fixings | None = None
) -> Market:
    return Market(
        state=calibration.state,
        usd_curve=FlatRate(setup.usd_rate),
        btc_curve=FlatRate(setup.btc_rate),
        past_fixings=past_fixings,
    )


def value_instrument(
    instrument: Instrument,
    *,
    history: NetworkHistory,
    calibration: Calibration,
    setup: ValuationSetup,
    config: MonteCarloConfig,
    engine: str = "mc",
    progress: Progress | None = None,
) -> PricingResult:
    """Value ``instrument`` as of the calibration date; its past days use realized fixings."""
    state = calibration.state
    first, _ = instrument.fixing_window(asof=state.asof, height=state.height)
    past = (
        Fixings.from_history(history, start=first, end=state.asof) if first < state.asof else None
    )
    return price(
        instrument,
        market=market_for(calibration, setup, past_fixings=past),
        model=calibration.model,
        config=config,
        engine=engine,
        progress=progress,
    )


def horizon_days(instrument: Instrument, calibration: Calibration) -> int:
    """Days simulated to value ``instrument`` (for progress reporting)."""
    state = calibration.state
    _, last = instrument.fixing_window(asof=state.asof, height=state.height)
    return max((last - state.asof).days, 0)


def forward_curve(
    *,
    calibration: Calibration,
    setup: ValuationSetup,
    months: int,
    config: MonteCarloConfig,
    currency: SettlementCurrency = SettlementCurrency.USD,
    quotes: Mapping[str, float] | None = None,
    progress: Progress | None = None,
) -> HashpriceCurve:
    """Expected hashprice per calendar month with P5/P50/P95 bands from the calibrated model."""
    return hashprice_curve(
        market=market_for(calibration, setup),
        model=calibration.model,
        months=months,
        config=config,
        currency=currency,
        quotes=dict(quotes) if quotes else None,
        progress=progress,
    )
