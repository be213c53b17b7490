"""Miner hedging: the miner's economics by hand, hedges from the instruments' own payoffs, and
the planner's coverage on the fitted paths and on an independent seed."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from hashmarket.errors import RiskError
from hashmarket.instruments.forwards import HashpriceForward
from hashmarket.models import GBM, NetworkModel, NetworkState
from hashmarket.risk.hedge_plan import evaluate, hedge_at, plan_hedge
from hashmarket.risk.hedging import (
    HedgePricing,
    MinerPaths,
    MinerProfile,
    simulate_miner,
    unit_hedges,
)

ASOF = dt.date(2025, 6, 30)
SPOT_USD = 60_000.0
N_PATHS = 6_000


def miner(**terms: object) -> MinerProfile:
    base: dict[str, object] = {
        "name": "m",
        "hashrate_phs": 500.0,
        "efficiency_j_per_th": 15.0,
        "power_usd_per_kwh": 0.04,
        "fixed_costs_usd_per_month": 100_000.0,
        "btc_held": 50.0,
        "horizon_months": 6,
        "uptime": 0.97,
        "pool_fee": 0.02,
    }
    base.update(terms)
    return MinerProfile(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def state() -> NetworkState:
    return NetworkState(
        asof=ASOF,
        price_usd=SPOT_USD,
        hashrate_ths=8.0e8,
        difficulty=1.15e14,
        height=902_000,
        epoch_elapsed_s=300_000.0,
        fee_btc_per_block=0.02,
    )


@pytest.fixture(scope="module")
def model() -> NetworkModel:
    return NetworkModel(price=GBM(drift_per_year=0.0, vol_per_year=0.5))


@pytest.fixture(scope="module")
def fitted(model: NetworkModel, state: NetworkState) -> MinerPaths:
    return simulate_miner(miner(), model=model, state=state, n_paths=N_PATHS, seed=1)


def test_the_miners_economics_by_hand(fitted: MinerPaths) -> None:
    m = miner()
    # 500 PH/s = 500,000 TH/s × 15 W/TH = 7.5 MW; × 24 h = 180 MWh a day at $40/MWh = $7,200,
    # × 97 % uptime = $6,984 a day.
    assert m.power_usd_per_day == pytest.approx(6_984.0)
    assert m.effective_phs == pytest.approx(500 * 0.97 * 0.98)
    assert [f"{a:%Y-%m}" for a, _ in m.months(ASOF)] == [
        "2025-07",
        "2025-08",
        "2025-09",
        "2025-10",
        "2025-11",
        "2025-12",
    ]
    # July: 31 days of power plus the fixed costs.
    assert fitted.costs_usd[0] == pytest.approx(31 * 6_984.0 + 100_000.0)
    # Revenue is the effective hashrate times the month's sum of daily USD hashprice.
    hp = fitted.fixings.values["hashprice_usd_per_ph_day"]
    july = slice(1, 32)
    assert fitted.revenue_usd[:, 0] == pytest.approx(m.effective_phs * hp[:, july].sum(axis=1))


def test_selling_all_output_forward_fixes_net_cash(fitted: MinerPaths) -> None:
    units = unit_hedges(miner(), fitted, pricing=HedgePricing(), spot_usd=SPOT_USD)
    forward = next(u for u in units if u.family == "hashprice_forward")
    full = hedge_at(forward, 1.0, fitted)
    m = miner()
    for i, (first, last) in enumerate(fitted.months):
        days = (last - first).days + 1
        instrument = full.instruments[i]
        assert isinstance(instrument, HashpriceForward)
        price = instrument.fixed_price_per_ph_day
        expected = price * m.effective_phs * days - fitted.costs_usd[i]
        # Revenue and the forward's floating leg cancel on every path.
        assert full.after.p5[i] == pytest.approx(expected, rel=1e-9)
        assert full.after.p95[i] == pytest.approx(expected, rel=1e-9)
    # The dealer's 2 % spread is what the miner gives up, on average.
    revenue = fitted.revenue_usd.sum(axis=1).mean()
    assert full.revenue_given_up_usd == pytest.approx(0.02 * revenue, rel=0.01)


def test_a_put_costs_its_marked_up_premium_less_its_expected_payoff(fitted: MinerPaths) -> None:
    units = unit_hedges(miner(), fitted, pricing=HedgePricing(option_markup=0.1), spot_usd=SPOT_USD)
    put = next(u for u in units if u.family == "btc_put" and u.put_moneyness == 0.9)
    given_up = hedge_at(put, 1.0, fitted).revenue_given_up_usd
    # Premium = fair × 1.1 and fair = mean payoff on the same paths: 10 % of the fair value.
    fair = put.premium_usd.sum() / 1.1
    assert given_up == pytest.approx(0.1 * fair, rel=1e-9)


def test_collars_are_financed_by_their_calls(fitted: MinerPaths) -> None:
    units = unit_hedges(miner(), fitted, pricing=HedgePricing(), spot_usd=SPOT_USD)
    puts = {u.put_moneyness: u for u in units if u.family == "btc_put"}
    for collar in (u for u in units if u.family == "collar"):
        assert collar.put_moneyness is not None
        assert all(k >= collar.put_moneyness for k in collar.call_moneyness)
        if collar.put_moneyness < 1.0:
            # An out-of-the-money put is paid for by a call: the pair costs nothing.
            assert np.all(collar.premium_usd <= 1e-9)
        else:
            # No call at or above spot pays for an at-the-money put after the markups: the
            # call at spot finances most of it.
            put = puts[collar.put_moneyness]
            assert np.all(collar.premium_usd < 0.25 * put.premium_usd)


def test_the_plan_meets_its_target_on_its_paths_and_on_an_independent_seed(
    fitted: MinerPaths, model: NetworkModel, state: NetworkState
) -> None:
    target = 0.95
    plan = plan_hedge(miner(), fitted, spot_usd=SPOT_USD, target=target, seed=1)
    assert plan.recommended is not None
    assert plan.unhedged.coverage < target  # there is something to hedge
    chosen = plan.recommended
    assert chosen.after.coverage >= target
    cheaper = [c for c in plan.candidates if c.revenue_given_up_usd < chosen.revenue_given_up_usd]
    assert cheaper == []
    other = simulate_miner(miner(), model=model, state=state, n_paths=N_PATHS, seed=2)
    checked = evaluate(chosen, other)
    sampling_error = math.sqrt(target * (1 - target) / N_PATHS)
    assert checked.coverage >= target - 3 * sampling_error
    # Same instruments on the fitted paths give the fitted distribution back.
    again = evaluate(chosen, fitted)
    assert again.coverage_by_month == pytest.approx(chosen.after.coverage_by_month)


def test_the_rule_of_thumb_hedges_the_cost_share(fitted: MinerPaths) -> None:
    plan = plan_hedge(miner(), fitted, spot_usd=SPOT_USD, seed=1)
    share = fitted.costs_usd.sum() / fitted.revenue_usd.sum(axis=1).mean()
    assert plan.rule_of_thumb_ratio == pytest.approx(share)
    assert plan.rule_of_thumb.family == "hashprice_forward"
    assert plan.rule_of_thumb.ratio == pytest.approx(share)
    assert plan.treasury_months == pytest.approx(
        50 * SPOT_USD / (fitted.costs_usd.sum() / len(fitted.months))
    )


def test_an_unprofitable_miner_gets_the_best_effort_and_a_note(fitted: MinerPaths) -> None:
    costly = miner(fixed_costs_usd_per_month=400_000.0)
    paths = MinerPaths(
        months=fitted.months,
        revenue_usd=fitted.revenue_usd,
        costs_usd=fitted.costs_usd + 380_000.0,
        fixings=fitted.fixings,
        price_usd_end=fitted.price_usd_end,
    )
    plan = plan_hedge(costly, paths, spot_usd=SPOT_USD, seed=1)
    assert plan.recommended is None
    assert plan.chosen is plan.best_effort
    assert any("no hedge reaches" in n for n in plan.notes)


def test_bad_profiles_are_refused() -> None:
    with pytest.raises(RiskError, match="hashrate_phs"):
        miner(hashrate_phs=0.0)
    with pytest.raises(RiskError, match="uptime"):
        miner(uptime=1.5)
    with pytest.raises(RiskError, match="horizon_months"):
        miner(horizon_months=0)
