"""Per-path present values: the instrument's own cash flows on simulated fixings, discounted.

Shared by every Monte Carlo method, so that they differ only in how paths are drawn. The
realized fixings before the valuation date come first (a contract that has started), the
cash flows on or before the valuation date are not counted, and BTC amounts are valued with
BTC as the numeraire: under the USD measure the paths are simulated in, X_t BTC paid at t is
worth E[D_usd(t) X_t S_t] / S_0 today, i.e. D_btc(t) E[X_t S_t / F_t] with F_t = E[S_t].
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hashmarket.instruments import Fixings, Instrument, SettlementCurrency
from hashmarket.models import NetworkModel
from hashmarket.pricing.market import Market, with_past
from hashmarket.pricing.result import Measure, MonteCarloConfig
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]


def pricing_model(
    model: NetworkModel, market: Market, config: MonteCarloConfig, horizon_years: float
) -> tuple[NetworkModel, float]:
    """The model under the configured measure, and the BTC/USD drift it uses."""
    if config.measure == "model":
        return model, model.price.drift_per_year
    years = max(horizon_years, 1.0 / DAYS_PER_YEAR_ACT365)
    r_usd = market.usd_curve.zero_rate(years)
    r_btc = market.btc_curve.zero_rate(years)
    return model.risk_neutral(usd_rate=r_usd, btc_rate=r_btc), r_usd - r_btc


def uses_btc_numeraire(instrument: Instrument, measure: Measure) -> bool:
    return measure == "risk_neutral" and instrument.currency is SettlementCurrency.BTC


def forward_usd(market: Market, model: NetworkModel, days: npt.ArrayLike) -> FloatArray:
    """E[S_t] of the simulated BTC/USD ``days`` after the valuation date."""
    years = np.asarray(days, dtype=np.float64) / DAYS_PER_YEAR_ACT365
    return np.asarray(
        market.state.price_usd * np.exp(model.price.drift_per_year * years), dtype=np.float64
    )


def present_values(
    instrument: Instrument,
    simulated: Fixings,
    *,
    market: Market,
    model: NetworkModel,
    btc_numeraire: bool,
) -> FloatArray:
    """Each path's present value in the instrument's currency ``[paths]``."""
    fixings = with_past(
        simulated, market.past_fixings, market.asof, instrument=instrument.type_name
    )
    asof_day = np.datetime64(market.asof.isoformat(), "D")
    amounts = instrument.cashflows(fixings)
    future = fixings.dates > asof_day
    discount = market.discount_factors(instrument.currency, fixings.dates[future])
    paid = amounts[:, future]
    if btc_numeraire:
        days = (fixings.dates[future] - asof_day).astype(np.float64)
        paid = paid * (fixings.values["price_usd"][:, future] / forward_usd(market, model, days))
    pv = paid @ discount
    return np.asarray(np.broadcast_to(pv, (simulated.n_paths,)), dtype=np.float64)
