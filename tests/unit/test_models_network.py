"""Network model mechanics against hand computations: retargets, the clamp, halvings,
block arrivals, and reproducibility across seeds, chunk sizes and threads."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest

from hashmarket.chain.consensus import TARGET_TIMESPAN_S, block_subsidy_sats
from hashmarket.errors import ModelError
from hashmarket.index.hashprice import hashprice_btc_per_ph_day
from hashmarket.models import (
    GBM,
    BlockArrivals,
    FeeParams,
    HashrateParams,
    NetworkModel,
    NetworkState,
    ScenarioConfig,
    Scenarios,
    ScenarioSet,
    simulate,
)
from hashmarket.units import HASHES_PER_TH, SECONDS_PER_DAY, TWO_POW_32

ASOF = dt.date(2026, 1, 31)
D0 = 1.0e14
# Hashrate that finds exactly 144 blocks a day at D0.
H_MATCHED_THS = D0 * TWO_POW_32 / 600 / HASHES_PER_TH


def deterministic_model(growth_per_year: float) -> NetworkModel:
    """No randomness at all: constant price, hashrate growing at a constant log rate."""
    return NetworkModel(
        price=GBM(drift_per_year=0.0, vol_per_year=0.0),
        hashrate=HashrateParams(
            vol_per_year=0.0,
            growth_per_year=growth_per_year,
            profitability_sensitivity=0.0,
            fleet_cost_usd_per_ph_day=1.0,
            price_correlation=0.0,
        ),
        fees=FeeParams(mean_log_btc=math.log(0.02), reversion_per_year=100.0, vol_per_year=0.0),
        block_arrivals=BlockArrivals.EXPECTED,
    )


def epoch_start_state(*, height: int, hashrate_ths: float, difficulty: float = D0) -> NetworkState:
    return NetworkState(
        asof=ASOF,
        price_usd=80_000.0,
        hashrate_ths=hashrate_ths,
        difficulty=difficulty,
        height=height,
        epoch_elapsed_s=0.0,
        fee_btc_per_block=0.02,
    )


def run(
    model: NetworkModel, state: NetworkState, days: int, *, n_paths: int = 2, **config: Any
) -> ScenarioSet:
    cfg = ScenarioConfig(n_paths=n_paths, **config)
    return Scenarios(model, state, days, cfg).materialize()


def hand_retargets(h0_ths: float, d0: float, growth_per_year: float, epochs: int):
    """Retarget days and difficulties for hashrate H_i = H0·q^(i−1) on day i (constant within
    the day), computed with geometric sums instead of a day loop over state arrays."""
    q = math.exp(growth_per_year / 365)
    day, frac, d = 1, 0.0, d0  # position: day `day`, fraction `frac` of it already used
    out = []
    for _ in range(epochs):
        need = 2016.0
        elapsed_s = 0.0
        rate = h0_ths * q ** (day - 1) * HASHES_PER_TH * SECONDS_PER_DAY / (d * TWO_POW_32)
        first = rate * (1 - frac)  # blocks in the rest of the current day
        if first >= need:
            tau = frac + need / rate
            elapsed_s = (tau - frac) * SECONDS_PER_DAY
        else:
            # Blocks over the following whole days are rate·q + rate·q² + … (geometric).
            rest = need - first
            if q == 1.0:
                n = math.ceil(rest / rate)
                before = rate * (n - 1)
            else:
                n = math.ceil(math.log(1 + rest * (q - 1) / (rate * q)) / math.log(q))
                before = rate * q * (q ** (n - 1) - 1) / (q - 1)  # whole days before the last
            last_rate = rate * q**n
            tau = (rest - before) / last_rate
            elapsed_s = ((1 - frac) + (n - 1) + tau) * SECONDS_PER_DAY
            day += n
        span = min(max(elapsed_s * 2015 / 2016, TARGET_TIMESPAN_S / 4), TARGET_TIMESPAN_S * 4)
        d = d * TARGET_TIMESPAN_S / span
        out.append((day, d))
        frac = tau
    return out


@pytest.mark.parametrize("growth", [0.0, 0.8, 3.0, 10.0])
def test_retarget_days_and_difficulties_match_hand_computation(growth: float) -> None:
    state = epoch_start_state(height=2016 * 460 - 1, hashrate_ths=H_MATCHED_THS)
    s = run(deterministic_model(growth), state, 120)
    expected = hand_retargets(H_MATCHED_THS, D0, growth, epochs=5)
    height = s.height[0]
    difficulty = s.difficulty[0]
    for k, (day, d_new) in enumerate(expected, start=1):
        # The day on which the tip reaches the epoch's last block is the retarget day.
        switch = 2016 * (460 + k) - 1
        first_day = int(np.argmax(height >= switch - 1e-6))
        assert first_day == day
        # The whole next day runs at the new difficulty (unless it retargets again).
        assert difficulty[day + 1] == pytest.approx(d_new, rel=1e-9)
    if growth >= 10:
        assert expected[0][0] < 14  # faster growth brings the retarget sooner


def test_steady_state_keeps_difficulty_within_core_bias() -> None:
    state = epoch_start_state(height=2016 * 460 - 1, hashrate_ths=H_MATCHED_THS)
    s = run(deterministic_model(0.0), state, 30)
    # 2016 blocks take exactly 14 days; Core's 2015-interval measurement raises D by 2016/2015.
    assert s.difficulty[0, 16] == pytest.approx(D0 * 2016 / 2015, rel=1e-12)
    assert s.block_count[0, 1] == pytest.approx(144.0)


def test_clamp_limits_an_upward_retarget_to_four_times() -> None:
    state = epoch_start_state(height=2016 * 460 - 1, hashrate_ths=6 * H_MATCHED_THS)
    s = run(deterministic_model(0.0), state, 10)
    assert s.difficulty.max() == pytest.approx(4 * D0, rel=1e-12)


def test_retarget_day_difficulty_is_block_weighted_and_hashprice_time_weighted() -> None:
    state = epoch_start_state(height=2016 * 460 - 1, hashrate_ths=H_MATCHED_THS * 1.5)
    s = run(deterministic_model(0.0), state, 12)
    day, d_new = hand_retargets(H_MATCHED_THS * 1.5, D0, 0.0, epochs=1)[0]
    rate = 216.0  # 1.5 × 144 blocks a day at D0
    tau = (2016 - rate * (day - 1)) / rate
    blocks_after = rate * (1 - tau) * D0 / d_new
    blocks_before = rate * tau
    assert s.block_count[0, day] == pytest.approx(blocks_before + blocks_after)
    mean_d = (blocks_before * D0 + blocks_after * d_new) / (blocks_before + blocks_after)
    assert s.difficulty[0, day] == pytest.approx(mean_d)
    effective = 1 / (tau / D0 + (1 - tau) / d_new)
    expected_hp = hashprice_btc_per_ph_day(
        difficulty=effective, subsidy_btc=3.125, fee_btc_per_block=0.02
    )
    assert s.hashprice_btc_per_ph_day[0, day] == pytest.approx(float(expected_hp))


def test_halving_happens_at_its_height() -> None:
    # 1000 blocks before the 4th halving at 144 a day: the block 840,000 comes on day 7.
    state = epoch_start_state(height=839_000, hashrate_ths=H_MATCHED_THS)
    s = run(deterministic_model(0.0), state, 10)
    subsidy = s.subsidy_btc[0]
    assert subsidy[6] == 6.25 and subsidy[8] == 3.125
    assert s.height[0, 6] < 840_000 <= s.height[0, 7]
    # Day 7 mixes: blocks up to 839,999 pay 6.25, the rest 3.125.
    blocks = s.block_count[0, 7]
    old = 839_999 - s.height[0, 6]
    assert subsidy[7] == pytest.approx((old * 6.25 + (blocks - old) * 3.125) / blocks)
    assert block_subsidy_sats(840_000) == 312_500_000


def test_halving_day_is_the_day_the_tip_reaches_the_halving_height_on_every_path() -> None:
    model = deterministic_model(0.0).with_block_arrivals(BlockArrivals.POISSON)
    state = epoch_start_state(height=839_000, hashrate_ths=H_MATCHED_THS)
    s = run(model, state, 12, n_paths=256, seed=5, stream_paths=64)
    first_low = np.argmax(s.subsidy_btc < 6.25, axis=1)
    first_reached = np.argmax(s.height >= 840_000, axis=1)
    np.testing.assert_array_equal(first_low, first_reached)
    assert (np.diff(s.height, axis=1) == s.block_count[:, 1:]).all()
    assert (s.height == np.round(s.height)).all()  # whole blocks in Poisson mode


def test_poisson_block_counts_have_poisson_moments() -> None:
    model = deterministic_model(0.0).with_block_arrivals(BlockArrivals.POISSON)
    # Far from a retarget: 1900 blocks to go is ~13 days.
    state = epoch_start_state(height=2016 * 460 - 1, hashrate_ths=H_MATCHED_THS)
    s = run(model, state, 10, n_paths=4000, seed=11, stream_paths=500)
    counts = s.block_count[:, 1:11].ravel()
    se = math.sqrt(144 / counts.size)
    assert abs(counts.mean() - 144) < 4 * se
    assert counts.var() == pytest.approx(144, rel=0.05)


def test_same_seed_same_numbers_and_different_seed_different_numbers() -> None:
    model = NetworkModel()
    state = epoch_start_state(height=935_000, hashrate_ths=H_MATCHED_THS)
    a = run(model, state, 40, n_paths=300, seed=7, stream_paths=64)
    b = run(model, state, 40, n_paths=300, seed=7, stream_paths=64)
    c = run(model, state, 40, n_paths=300, seed=8, stream_paths=64)
    for name in a.data:
        np.testing.assert_array_equal(a.data[name], b.data[name])
    assert not np.array_equal(a.price_usd, c.price_usd)


@pytest.mark.parametrize("antithetic", [False, True])
def test_chunk_size_and_threads_do_not_change_the_numbers(antithetic: bool) -> None:
    model = NetworkModel()
    state = epoch_start_state(height=2016 * 463 - 30, hashrate_ths=H_MATCHED_THS * 1.1)
    common = {"n_paths": 640, "seed": 3, "stream_paths": 64, "antithetic": antithetic}
    reference = run(model, state, 45, chunk_paths=64, **common)
    for chunk, workers in [(128, 1), (192, 2), (640, 1), (None, 2)]:
        other = run(model, state, 45, chunk_paths=chunk, workers=workers, **common)
        for name in reference.data:
            np.testing.assert_array_equal(reference.data[name], other.data[name])


def test_antithetic_pairs_mirror_the_price_shocks() -> None:
    model = NetworkModel(price=GBM(drift_per_year=0.0, vol_per_year=0.6))
    state = epoch_start_state(height=935_000, hashrate_ths=H_MATCHED_THS)
    s = run(model, state, 5, n_paths=128, seed=1, stream_paths=64, antithetic=True)
    log_returns = np.diff(np.log(s.price_usd), axis=1)
    drift = (0.0 - 0.5 * 0.6**2) / 365
    first, second = log_returns[:32] - drift, log_returns[32:64] - drift
    np.testing.assert_allclose(first, -second, atol=1e-12)


def test_streaming_mean_and_quantiles_agree_with_the_materialized_paths() -> None:
    model = NetworkModel()
    state = epoch_start_state(height=935_000, hashrate_ths=H_MATCHED_THS)
    cfg = ScenarioConfig(n_paths=2048, seed=2, stream_paths=256, chunk_paths=512)
    scenarios = Scenarios(model, state, 30, cfg)
    full = scenarios.materialize()
    np.testing.assert_allclose(
        scenarios.mean("hashprice_usd_per_ph_day"), full.hashprice_usd_per_ph_day.mean(axis=0)
    )
    q = scenarios.quantiles("price_usd", [0.05, 0.5, 0.95])
    exact = np.quantile(full.price_usd, [0.05, 0.5, 0.95], axis=0)
    np.testing.assert_allclose(q[:, 1:], exact[:, 1:], rtol=5e-3)


def test_model_refuses_nonsense_parameters() -> None:
    with pytest.raises(ModelError, match="price_correlation"):
        HashrateParams(
            vol_per_year=0.1,
            growth_per_year=0.0,
            profitability_sensitivity=0.1,
            fleet_cost_usd_per_ph_day=10.0,
            price_correlation=1.5,
        )
    with pytest.raises(ModelError, match="vol_per_year"):
        GBM(drift_per_year=0.0, vol_per_year=-0.1)
    with pytest.raises(ModelError, match="chunk_paths"):
        ScenarioConfig(n_paths=100, chunk_paths=100, stream_paths=64)


def test_hashrate_rises_when_mining_pays_more_than_it_costs() -> None:
    base = deterministic_model(0.0)
    rich = NetworkModel(
        price=base.price,
        hashrate=HashrateParams(
            vol_per_year=0.0,
            growth_per_year=0.0,
            profitability_sensitivity=0.5,
            fleet_cost_usd_per_ph_day=10.0,  # far below the ~$40 hashprice
            price_correlation=0.0,
        ),
        fees=base.fees,
        block_arrivals=BlockArrivals.EXPECTED,
    )
    state = epoch_start_state(height=935_000, hashrate_ths=H_MATCHED_THS)
    s = run(rich, state, 60)
    hp0 = state.hashprice_usd_per_ph_day
    expected_first_step = 0.5 * math.log(hp0 / 10.0) / 365
    assert math.log(s.hashrate_ths[0, 2] / s.hashrate_ths[0, 1]) == pytest.approx(
        expected_first_step, rel=1e-9
    )
    assert s.hashrate_ths[0, -1] > s.hashrate_ths[0, 1]


def test_simulate_from_a_generator_is_reproducible_and_advances_it() -> None:
    state = epoch_start_state(height=935_000, hashrate_ths=H_MATCHED_THS)
    a = simulate(NetworkModel(), state, days=10, n_paths=50, rng=np.random.default_rng(3))
    b = simulate(NetworkModel(), state, days=10, n_paths=50, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.price_usd, b.price_usd)
    rng = np.random.default_rng(3)
    first = simulate(NetworkModel(), state, days=10, n_paths=50, rng=rng)
    second = simulate(NetworkModel(), state, days=10, n_paths=50, rng=rng)
    assert not np.array_equal(first.price_usd, second.price_usd)
    assert a.price_usd.shape == (50, 11) and a.asof == ASOF
