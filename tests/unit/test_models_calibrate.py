"""Calibration: the estimators on synthetic data with known answers, and the whole
calibration on the bundled history (only data on or before the as-of date is used)."""

from __future__ import annotations

import datetime as dt
import math
from functools import cache

import numpy as np
import pandas as pd
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import ModelError
from hashmarket.models import GBM, MertonJumpDiffusion, calibrate
from hashmarket.models.calibrate import default_asof
from hashmarket.models.estimators import (
    estimate_fees,
    estimate_jumps,
    estimate_profitability_sensitivity,
    ewma_vol_per_year,
    full_sample_vol_per_year,
)

ASOF = dt.date(2022, 6, 30)


@cache
def history() -> NetworkHistory:
    return NetworkHistory.load()


def test_ewma_closed_form_equals_the_recursion() -> None:
    returns = np.random.default_rng(1).normal(0, 0.03, 500)
    variance = float(np.mean(returns[:30] ** 2))
    for r in returns:
        variance = 0.94 * variance + 0.06 * r * r
    assert ewma_vol_per_year(returns) == pytest.approx(math.sqrt(variance * 365), rel=1e-12)
    assert full_sample_vol_per_year(returns) == pytest.approx(
        np.std(returns, ddof=1) * math.sqrt(365)
    )


def test_jump_detection_finds_planted_jumps() -> None:
    rng = np.random.default_rng(2)
    returns = rng.normal(0, 0.02, 3650)
    at = rng.choice(3650, 30, replace=False)
    returns[at] += rng.choice([-0.25, 0.25], 30)
    est = estimate_jumps(returns)
    assert est.count == 30
    assert est.jumps_per_year == pytest.approx(3.0)
    assert est.std_log == pytest.approx(0.25, rel=0.1)
    assert est.diffusion_vol_per_year == pytest.approx(0.02 * math.sqrt(365), rel=0.05)


def test_fee_ou_parameters_are_recovered() -> None:
    rng = np.random.default_rng(3)
    theta, mean, sigma = 200.0, math.log(0.03), 5.0
    keep = math.exp(-theta / 365)
    step = sigma * math.sqrt((1 - keep**2) / (2 * theta))
    x = np.empty(5000)
    x[0] = mean
    for t in range(1, len(x)):
        x[t] = mean + (x[t - 1] - mean) * keep + step * rng.standard_normal()
    days = pd.date_range("2020-01-01", periods=len(x), freq="D")
    est = estimate_fees(pd.Series(np.exp(x), index=days))
    assert est.params.reversion_per_year == pytest.approx(theta, rel=0.1)
    assert est.params.mean_log_btc == pytest.approx(mean, abs=0.02)
    assert est.params.vol_per_year == pytest.approx(sigma, rel=0.05)


def test_profitability_sensitivity_recovers_a_known_response() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    log_hp = np.cumsum(rng.normal(0, 0.03, n)) + 4.0
    # Daily growth 0.6 × (log hashprice − 3.5) per year, responding with a 30-day lag.
    shifted = np.concatenate([np.full(30, log_hp[0]), log_hp[:-30]])
    log_h = np.concatenate([[0.0], np.cumsum(0.6 * (shifted[:-1] - 3.5) / 365)])
    est = estimate_profitability_sensitivity(log_h, log_hp)
    assert est.kappa == pytest.approx(0.6, rel=0.25)
    assert est.samples >= 20


def test_calibration_uses_only_data_up_to_asof() -> None:
    full = calibrate(history(), asof=ASOF)
    truncated = calibrate(history().between(None, ASOF), asof=ASOF)
    assert full.model == truncated.model
    assert full.state == truncated.state
    assert full.state.asof == ASOF
    assert full.state.price_usd == history().frame.at[pd.Timestamp(ASOF), "price_usd"]


def test_calibrated_values_are_plausible() -> None:
    cal = calibrate(history(), asof=ASOF)
    model, state, report = cal.model, cal.state, cal.report
    assert isinstance(model.price, GBM)
    assert 0.3 < model.price.vol_per_year < 1.2
    assert model.price.drift_per_year == 0.0
    assert 0.0 < model.hashrate.vol_per_year < 1.0
    assert -1 <= model.hashrate.price_correlation <= 1
    assert model.hashrate.profitability_sensitivity > 0
    # Hashrate from the difficulty and recent block counts: within 15 % of D·2³²/600.
    implied = state.difficulty * 2**32 / 600 / 1e12
    assert state.hashrate_ths == pytest.approx(implied, rel=0.15)
    assert 700_000 < state.height < 750_000  # mid-2022
    assert 0 <= state.epoch_elapsed_s < 30 * 86_400
    assert report.vol_full_per_year > 0 and report.vol_ewma_per_year > 0
    assert report.price_returns == 1095
    # The fleet cost is where growth stops: below the typical hashprice when the network grew.
    if report.hashrate_growth_per_year > 0:
        assert report.fleet_cost_usd_per_ph_day < report.hashprice_geomean_usd_per_ph_day


def test_merton_calibration_has_jumps_and_keeps_total_volatility() -> None:
    cal = calibrate(history(), asof=ASOF, price_model="merton")
    price = cal.model.price
    assert isinstance(price, MertonJumpDiffusion)
    assert price.jumps_per_year > 0
    assert price.total_vol_per_year == pytest.approx(cal.report.vol_full_per_year, rel=1e-9)


def test_refuses_an_asof_beyond_the_network_data() -> None:
    last_price = history().frame["price_usd"].dropna().index[-1].date()
    if (last_price - default_asof(history())).days <= 31:
        pytest.skip("the bundled network data reach the last price day")
    with pytest.raises(ModelError, match="network data end on"):
        calibrate(history(), asof=last_price)
    with pytest.raises(ModelError, match="no BTC price"):
        calibrate(history(), asof=dt.date(2009, 6, 1))
