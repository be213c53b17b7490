"""Statistical checks of the simulated processes: moments within a few standard errors at
fixed seeds, consensus limits on every path, and the calibrated model over two years."""

from __future__ import annotations

import datetime as dt
import math
from functools import cache

import numpy as np
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.index.hashprice import hashprice_table
from hashmarket.models import (
    GBM,
    BlockArrivals,
    Calibration,
    MertonJumpDiffusion,
    NetworkModel,
    NetworkState,
    ScenarioConfig,
    Scenarios,
    ScenarioSet,
    calibrate,
)
from hashmarket.pricing import Market, MonteCarloConfig, hashprice_curve
from hashmarket.units import HASHES_PER_TH, TWO_POW_32

ASOF = dt.date(2026, 1, 31)
D0 = 1.4e14
STATE = NetworkState(
    asof=ASOF,
    price_usd=80_000.0,
    hashrate_ths=D0 * TWO_POW_32 / 600 / HASHES_PER_TH,
    difficulty=D0,
    height=935_000,
    epoch_elapsed_s=5 * 86_400,
    fee_btc_per_block=0.02,
)


@cache
def history() -> NetworkHistory:
    return NetworkHistory.load()


@cache
def calibrated(asof: dt.date) -> Calibration:
    return calibrate(history(), asof=asof)


def simulate(model: NetworkModel, state: NetworkState, days: int, n: int, seed: int) -> ScenarioSet:
    cfg = ScenarioConfig(n_paths=n, seed=seed, stream_paths=1000, workers=2)
    return Scenarios(model, state, days, cfg).materialize()


@pytest.mark.parametrize(
    "price_model",
    [
        GBM(drift_per_year=0.1, vol_per_year=0.6),
        MertonJumpDiffusion(
            drift_per_year=0.1,
            vol_per_year=0.4,
            jumps_per_year=8.0,
            jump_mean_log=-0.04,
            jump_std_log=0.1,
        ),
    ],
    ids=["gbm", "merton"],
)
def test_terminal_price_has_the_model_mean_and_log_variance(price_model: GBM) -> None:
    model = NetworkModel(price=price_model)
    s = simulate(model, STATE, 180, 20_000, seed=17)
    t = 180 / 365
    terminal = s.price_usd[:, -1]
    se = terminal.std(ddof=1) / math.sqrt(len(terminal))
    assert abs(terminal.mean() - 80_000 * math.exp(0.1 * t)) < 4 * se
    var = float(np.var(np.log(terminal / 80_000)))
    if isinstance(price_model, MertonJumpDiffusion):
        expected_var = price_model.total_vol_per_year**2 * t
    else:
        expected_var = price_model.vol_per_year**2 * t
    assert var == pytest.approx(expected_var, rel=0.05)


def test_consensus_limits_hold_on_every_path_of_the_calibrated_model() -> None:
    cal = calibrated(dt.date(2024, 1, 1))
    s = simulate(cal.model, cal.state, 730, 4_000, seed=3)
    for name, values in s.data.items():
        assert np.isfinite(values).all(), name
    d = s.difficulty
    # Day-mean difficulty never moves by more than the 4× clamp from one day to the next.
    ratio = d[:, 1:] / d[:, :-1]
    assert ratio.max() <= 4.0 + 1e-9 and ratio.min() >= 0.25 - 1e-9
    # Heights are whole blocks and only grow; block counts are the height steps.
    assert (np.diff(s.height, axis=1) >= 0).all()
    np.testing.assert_array_equal(np.diff(s.height, axis=1), s.block_count[:, 1:])
    # The April 2024 halving (height 840,000) happens on every path within the two years.
    assert (s.subsidy_btc[:, -1] == 3.125).all() and (s.subsidy_btc[:, 1] == 6.25).all()
    first_low = np.argmax(s.subsidy_btc < 6.25, axis=1)
    np.testing.assert_array_equal(first_low, np.argmax(s.height >= 840_000, axis=1))
    # Retargets keep blocks near ten minutes on average (slightly faster while growing).
    blocks_per_day = s.block_count[:, 1:].mean()
    assert 138 < blocks_per_day < 160


def test_poisson_and_expected_arrivals_give_the_same_mean_hashprice() -> None:
    cal = calibrated(dt.date(2022, 6, 30))
    days = 120
    common = {"n_paths": 6_000, "seed": 8, "stream_paths": 1000, "antithetic": True}
    means = {}
    for arrivals in BlockArrivals:
        model = cal.model.with_block_arrivals(arrivals)
        scen = Scenarios(model, cal.state, days, ScenarioConfig(**common))  # type: ignore[arg-type]
        means[arrivals] = scen.mean("hashprice_usd_per_ph_day")[-30:].mean()
    assert means[BlockArrivals.POISSON] == pytest.approx(means[BlockArrivals.EXPECTED], rel=0.02)


@pytest.mark.slow
def test_realized_hashprice_mostly_inside_the_one_year_bands() -> None:
    asof = dt.date(2022, 12, 31)
    cal = calibrated(asof)
    curve = hashprice_curve(
        market=Market(state=cal.state),
        model=cal.model,
        months=12,
        config=MonteCarloConfig(n_paths=20_000, seed=1, workers=2),
    )
    realized = hashprice_table(history().between(dt.date(2023, 1, 1), dt.date(2023, 12, 31)))
    monthly = realized["hashprice_usd_per_ph_day"].resample("MS").mean()
    inside = [
        p.p5 <= monthly.loc[p.start.isoformat()] <= p.p95
        for p in curve.points
        if p.start.isoformat() in monthly.index
    ]
    assert sum(inside) >= 0.5 * len(inside)
