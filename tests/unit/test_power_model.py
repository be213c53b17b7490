"""The regional power model: exact simulation against its closed form, calibration recovering
known parameters (correlation to hashprice included), and refusals."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from hashmarket.errors import ModelError
from hashmarket.models import PowerPriceModel, calibrate_power, hashprice_shocks

MODEL = PowerPriceModel(
    region="x",
    mean_log_usd_per_kwh=math.log(0.045),
    reversion_per_year=20.0,
    vol_per_year=1.2,
    correlation_to_hashprice=0.4,
)


def test_the_simulated_mean_matches_the_closed_form() -> None:
    n_paths, days = 40_000, 60
    rng = np.random.default_rng(7)
    no_common_factor = np.zeros((n_paths, days))
    paths = MODEL.simulate(spot_usd_per_kwh=0.03, shocks=no_common_factor, rng=rng)
    assert paths.shape == (n_paths, days + 1) and (paths[:, 0] == 0.03).all()
    for day in (1, 10, 30, 60):
        expected = float(MODEL.expected_usd_per_kwh(0.03, day / 365.0))
        column = paths[:, day]
        error = column.std(ddof=1) / math.sqrt(n_paths)
        assert abs(column.mean() - expected) < 4 * error, (day, column.mean(), expected)
    # Far out the mean is the stationary one: exp(μ + σ²/(4κ)) = 0.045 × e^{0.018}.
    far = float(MODEL.expected_usd_per_kwh(0.03, 5.0))
    assert far == pytest.approx(0.045 * math.exp(1.2**2 / 80), rel=1e-9)


def test_shocks_are_standardised_hashprice_changes() -> None:
    rng = np.random.default_rng(3)
    hashprice = 50 * np.exp(np.cumsum(rng.normal(0, 0.03, (200, 31)), axis=1))
    z = hashprice_shocks(hashprice)
    assert z.shape == (200, 30)
    assert abs(z.mean()) < 1e-12 and z.std() == pytest.approx(1.0, abs=1e-12)
    assert (hashprice_shocks(np.full((1, 5), 50.0)) == 0).all()  # nothing moves: no factor


def test_calibration_recovers_the_parameters_and_the_correlation() -> None:
    days = 4000
    rng = np.random.default_rng(11)
    hashprice = 50 * np.exp(np.cumsum(np.r_[0.0, rng.normal(0, 0.03, days)]))
    shocks = hashprice_shocks(hashprice[None, :])
    power = MODEL.simulate(spot_usd_per_kwh=0.045, shocks=shocks, rng=rng)[0]
    start = dt.date(2010, 1, 1)
    dates = [start + dt.timedelta(days=i) for i in range(days + 1)]
    fitted = calibrate_power(
        dict(zip(dates, power.tolist(), strict=True)),
        region="x",
        hashprice_usd_per_ph_day=dict(zip(dates, hashprice.tolist(), strict=True)),
        asof=dates[-1],
    )
    m = fitted.model
    assert fitted.observations == days and fitted.correlation_observations == days
    # Standard errors at 4,000 days: κ ≈ 1.9/yr, σ ≈ 1.2 %, ρ ≈ 0.013, μ ≈ 0.02.
    assert m.reversion_per_year == pytest.approx(20.0, abs=6.0)
    assert m.vol_per_year == pytest.approx(1.2, rel=0.05)
    assert m.correlation_to_hashprice == pytest.approx(0.4, abs=0.05)
    assert m.mean_log_usd_per_kwh == pytest.approx(math.log(0.045), abs=0.08)
    assert fitted.spot_usd_per_kwh == power[-1] and fitted.spot_date == dates[-1]


def test_calibration_refuses_too_few_days_and_no_reversion() -> None:
    start = dt.date(2025, 1, 1)
    few = {start + dt.timedelta(days=i): 0.04 + 0.001 * (i % 3) for i in range(20)}
    with pytest.raises(ModelError, match="x has 19 consecutive-day power prices"):
        calibrate_power(few, region="x", hashprice_usd_per_ph_day={}, asof=start + dt.timedelta(40))
    trend = {start + dt.timedelta(days=i): 0.01 * 1.01**i for i in range(60)}
    with pytest.raises(ModelError, match="shows no mean reversion"):
        calibrate_power(trend, region="x", hashprice_usd_per_ph_day={}, asof=dt.date(2026, 1, 1))


def test_a_model_refuses_bad_parameters() -> None:
    with pytest.raises(ModelError, match=r"'correlation_to_hashprice' = 1\.5"):
        PowerPriceModel("x", -3.0, 10.0, 0.5, correlation_to_hashprice=1.5)
    with pytest.raises(ModelError, match="'reversion_per_year' = 0"):
        PowerPriceModel("x", -3.0, 0, 0.5)
