"""Hedges that fit the miner: the remaining life as the horizon, the capital still at risk from
the realized index, the probability of recovering it with a hedge, and the choice between
locking a price and buying puts — by hand, then on simulated paths."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from hashmarket.errors import RiskError
from hashmarket.instruments import Fixings
from hashmarket.models import GBM, NetworkModel, NetworkState
from hashmarket.risk.hedge_choice import (
    LOCK_FAMILIES,
    Capital,
    PlanOutcome,
    capital_at_risk,
    carried_forward,
    choose,
    outcome,
    pick,
)
from hashmarket.risk.hedge_plan import Hedge, distribution, plan_hedge
from hashmarket.risk.hedging import MinerPaths, MinerProfile, simulate_miner
from hashmarket.risk.specs import parse_miner

ASOF = dt.date(2026, 1, 22)


def profile(**terms: object) -> MinerProfile:
    base: dict[str, object] = {
        "name": "m",
        "hashrate_phs": 100.0,
        "efficiency_j_per_th": 20.0,
        "power_usd_per_kwh": 0.05,
        "fixed_costs_usd_per_month": 0.0,
    }
    base.update(terms)
    return MinerProfile(**base)  # type: ignore[arg-type]


# -- the horizon: the machines' remaining life ------------------------------------------------


def test_the_horizon_defaults_to_the_months_until_the_machines_retire():
    life = profile(end_of_life=dt.date(2029, 9, 30))
    # February 2026 (the month after the as-of date) to September 2029 included:
    # (2029 − 2026) × 12 + (9 − 2) + 1 = 44 monthly hedges.
    assert life.horizon_for(ASOF) == 44
    months = life.months(ASOF)
    assert (len(months), months[0][0], months[-1]) == (
        44,
        dt.date(2026, 2, 1),
        (dt.date(2029, 9, 1), dt.date(2029, 9, 30)),
    )
    # A horizon given wins; without an end of life it is the 12 months it always was.
    assert profile(end_of_life=dt.date(2029, 9, 30), horizon_months=6).horizon_for(ASOF) == 6
    assert profile().horizon_for(ASOF) == 12
    # Retiring in February 2026 leaves that one month.
    assert profile(end_of_life=dt.date(2026, 2, 10)).horizon_for(ASOF) == 1


def test_an_end_of_life_past_or_too_far_is_refused():
    with pytest.raises(RiskError, match="retire before 2026-02-01"):
        profile(end_of_life=dt.date(2026, 1, 25)).horizon_for(ASOF)
    with pytest.raises(RiskError, match="121 months away; at most 120"):
        profile(end_of_life=dt.date(2036, 2, 1)).horizon_for(ASOF)
    with pytest.raises(RiskError, match="purchase_date"):
        profile(machine_cost_usd=1e6)
    with pytest.raises(RiskError, match="not after the purchase date"):
        profile(
            machine_cost_usd=1e6,
            purchase_date=dt.date(2025, 1, 1),
            end_of_life=dt.date(2024, 1, 1),
        )


def test_a_miner_file_takes_the_machines_dates():
    spec = parse_miner(
        {
            "hashrate_phs": 100,
            "efficiency_j_per_th": 20,
            "power_usd_per_kwh": 0.05,
            "machine_cost_usd": 2e6,
            "purchase_date": "2025-10-01",
            "end_of_life": "2029-09-30",
        }
    )
    assert spec.profile.purchase_date == dt.date(2025, 10, 1)
    assert spec.profile.horizon_for(ASOF) == 44
    with pytest.raises(RiskError, match=r"end_of_life.*not a date"):
        parse_miner(
            {
                "hashrate_phs": 100,
                "efficiency_j_per_th": 20,
                "power_usd_per_kwh": 0.05,
                "end_of_life": "soon",
            }
        )


# -- the capital at risk -------------------------------------------------------------------


def three_days(values: list[float]) -> Fixings:
    dates = np.arange(np.datetime64("2025-10-01"), np.datetime64("2025-10-04"))
    return Fixings(dates=dates, values={"hashprice_usd_per_ph_day": np.array([values])})


def test_the_capital_still_at_risk_is_the_cost_less_the_net_cash_earned():
    # 100 PH/s at 20 J/TH = 2 MW: 48,000 kWh a day at 0.05 USD = 2,400 USD of power; fixed
    # 36,525 / 12 USD a month is 36,525 / 365.25 = 100 USD a day. Revenue 100 × hashprice:
    # 5,000, then (the index has no value on day 2: the last one counts) 5,000, then 4,000;
    # net 2,500 + 2,500 + 1,500 = 6,500 USD.
    m = profile(
        fixed_costs_usd_per_month=36_525 / 12,
        machine_cost_usd=10_000.0,
        purchase_date=dt.date(2025, 10, 1),
    )
    capital = capital_at_risk(m, realized=three_days([50.0, math.nan, 40.0]))
    assert capital.recovered_usd == pytest.approx(6_500.0)
    assert capital.unrecovered_usd == pytest.approx(3_500.0)
    assert (capital.paid_back, capital.paid_back_on, capital.days_without_index) == (
        False,
        None,
        1,
    )
    # A 6,000 USD machine is paid back on day 3, when the running sum reaches 6,500.
    cheap = profile(
        fixed_costs_usd_per_month=36_525 / 12,
        machine_cost_usd=6_000.0,
        purchase_date=dt.date(2025, 10, 1),
    )
    paid = capital_at_risk(cheap, realized=three_days([50.0, math.nan, 40.0]))
    assert (paid.unrecovered_usd, paid.paid_back, paid.paid_back_on) == (
        0.0,
        True,
        dt.date(2025, 10, 3),
    )
    # Given directly, it is taken as given.
    given = capital_at_risk(profile(unrecovered_capital_usd=1_234.0), realized=None)
    assert (given.unrecovered_usd, given.paid_back) == (1_234.0, False)


def test_gaps_in_the_index_carry_the_last_value():
    filled = carried_forward(np.array([math.nan, 3.0, math.nan, math.nan, 5.0]))
    assert filled.tolist() == [3.0, 3.0, 3.0, 3.0, 5.0]
    with pytest.raises(RiskError, match="no index value"):
        carried_forward(np.array([math.nan]))


# -- recovering it with a hedge --------------------------------------------------------------


def by_hand_paths(net_usd: list[list[float]]) -> MinerPaths:
    dates = np.arange(np.datetime64("2026-02-01"), np.datetime64("2026-04-01"))
    n = len(net_usd)
    fixings = Fixings(dates=dates, values={"price_usd": np.full((n, len(dates)), 1e5)})
    months = (
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        (dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
    )
    return MinerPaths(
        months=months,
        revenue_usd=np.array(net_usd),
        costs_usd=np.zeros(2),
        fixings=fixings,
        price_usd_end=np.full((n, 2), 1e5),
    )


def test_the_probability_of_recovering_the_capital_with_a_hedge_by_hand():
    paths = by_hand_paths([[1_000, 1_000], [500, 200], [-100, 3_000], [0, 0]])
    # A hedge that only costs 100 USD a month (a premium, no payoff on these paths):
    # net [[900, 900], [400, 100], [−200, 2,900], [−100, −100]]; running sums reach 1,000 in
    # March on paths 1 and 3 only.
    hedge = Hedge(
        family="btc_put",
        description="",
        ratio=0.5,
        put_moneyness=0.9,
        instruments=(),
        premium_usd=200.0,
        revenue_given_up_usd=200.0,
        after=distribution(paths.net_usd - 100.0),
        premium_by_month_usd=(100.0, 100.0),
    )
    o = outcome("puts", hedge, False, paths, 1_000.0)
    assert o.probability_recovered == 0.5
    assert o.median_recovery_month == "2026-03"
    # Totals 1,800, 500, 2,700, −200: P5 / median / P95 by numpy's linear rule.
    assert o.total_net_median_usd == pytest.approx((500 + 1_800) / 2)
    assert o.total_net_p5_usd == pytest.approx(-200 + 0.15 * 700)
    assert o.total_net_p95_usd == pytest.approx(1_800 + 0.85 * 900)
    # Nothing recovered on most paths: no median month.
    assert outcome("puts", hedge, False, paths, 2_000.0).median_recovery_month is None


def outcome_with(p: float, plan: str) -> PlanOutcome:
    hedge = Hedge(plan, "", 1.0, None, (), 0.0, 0.0, distribution(np.zeros((2, 1))))
    return PlanOutcome(plan, hedge, True, p, None, 0.0, 0.0, 0.0)


def test_paid_back_machines_lock_and_new_ones_take_the_surer_recovery():
    paid = Capital(1e6, dt.date(2023, 1, 1), 1.2e6, 0.0, dt.date(2024, 1, 1))
    at_risk = Capital(1e6, dt.date(2025, 10, 1), 2e5, 8e5, None)
    lock, puts = outcome_with(0.40, "lock"), outcome_with(0.55, "puts")
    assert pick(paid, lock, puts) == "lock"  # nothing left to recover: lock the price
    assert pick(at_risk, lock, puts) == "puts"
    assert pick(at_risk, outcome_with(0.55, "lock"), puts) == "puts"  # level: keep the upside
    assert pick(at_risk, outcome_with(0.70, "lock"), puts) == "lock"


# -- on simulated paths ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated() -> tuple[MinerProfile, MinerPaths]:
    state = NetworkState(
        asof=dt.date(2025, 6, 30),
        price_usd=60_000.0,
        hashrate_ths=8.0e8,
        difficulty=1.15e14,
        height=902_000,
        epoch_elapsed_s=300_000.0,
        fee_btc_per_block=0.02,
    )
    model = NetworkModel(price=GBM(drift_per_year=0.0, vol_per_year=0.5))
    m = profile(
        hashrate_phs=500.0,
        efficiency_j_per_th=15.0,
        power_usd_per_kwh=0.04,
        fixed_costs_usd_per_month=100_000.0,
        end_of_life=dt.date(2026, 6, 30),
    )
    return m, simulate_miner(m, model=model, state=state, n_paths=3_000, seed=3)


def test_the_strip_covers_every_month_to_the_end_of_life(
    simulated: tuple[MinerProfile, MinerPaths],
):
    m, paths = simulated
    plan = plan_hedge(m, paths, spot_usd=60_000.0)
    # July 2025 to June 2026: twelve monthly hedges, one instrument a month.
    assert plan.months[0] == "2025-07" and plan.months[-1] == "2026-06" and len(plan.months) == 12
    assert len(plan.chosen.instruments) in (0, 12)


def test_the_choice_on_simulated_paths(simulated: tuple[MinerProfile, MinerPaths]):
    m, paths = simulated
    plan = plan_hedge(m, paths, spot_usd=60_000.0)
    paid = choose(plan, paths, Capital(5e6, dt.date(2022, 1, 1), 6e6, 0.0, dt.date(2023, 6, 1)))
    assert paid.choice is not None and paid.choice.chosen == "lock"
    assert paid.chosen.family in LOCK_FAMILIES
    assert "have paid back on 2023-06-01" in paid.choice.reason
    # Far more capital at risk than the year can earn: recovering needs the upside.
    total = paths.net_usd.sum(axis=1)
    k = float(np.quantile(total, 0.9))
    new = choose(plan, paths, Capital(k, dt.date(2025, 6, 1), 0.0, k, None))
    assert new.choice is not None
    c = new.choice
    # The probability is the share of paths whose running net cash reaches k, counted here.
    reached = (np.cumsum(paths.net_usd, axis=1) >= k).any(axis=1)
    assert c.unhedged_probability_recovered == pytest.approx(float(reached.mean()), abs=1e-12)
    assert c.chosen == pick(c.capital, c.lock, c.puts)
    assert f"{c.puts.probability_recovered:.1%} with puts" in c.reason
    assert f"{c.lock.probability_recovered:.1%} with the {c.lock.hedge.family}" in c.reason
    assert c.chosen == "puts" and new.chosen.family == "btc_put"
