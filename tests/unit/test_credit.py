"""Haircuts and LTV levels against hand-computed values, and a loan's life on paths by hand."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import RiskError
from hashmarket.instruments import (
    Collateral,
    CollateralKind,
    Fixings,
    Loan,
    deliverable_forward,
    loan_life,
)
from hashmarket.risk.credit import (
    HaircutPolicy,
    TailModel,
    ewma_volatility,
    haircut,
    ltv_levels,
    ltv_levels_from_history,
    summarize,
    tail_quantile,
)

START = dt.date(2026, 2, 1)
Z99 = 2.3263478740408408  # Φ⁻¹(0.99)


# ---- haircuts --------------------------------------------------------------------------------


def prices_from_returns(returns: list[float], start: float = 50_000.0) -> pd.Series:
    index = pd.date_range("2025-01-01", periods=len(returns) + 1, freq="D")
    return pd.Series(start * np.exp(np.concatenate([[0.0], np.cumsum(returns)])), index=index)


def test_ewma_of_constant_squared_returns_is_that_size() -> None:
    prices = prices_from_returns([0.02, -0.02] * 20)
    vol = ewma_volatility(
        prices, asof=dt.date(2025, 12, 31), window_days=365, ewma_lambda=0.94, series="test"
    )
    assert vol.sigma_daily == pytest.approx(0.02, rel=1e-12)
    assert vol.observations == 40
    assert vol.sigma_per_year == pytest.approx(0.02 * math.sqrt(365))


def test_ewma_reacts_to_the_last_return_by_hand() -> None:
    # 39 returns of ±2 % then +5 %: σ² = λ·0.02² + (1 − λ)·0.05² = 0.000526.
    prices = prices_from_returns([0.02, -0.02] * 19 + [0.02, 0.05])
    vol = ewma_volatility(
        prices, asof=dt.date(2025, 12, 31), window_days=365, ewma_lambda=0.94, series="test"
    )
    assert vol.sigma_daily == pytest.approx(math.sqrt(0.94 * 0.0004 + 0.06 * 0.0025), rel=1e-12)
    assert vol.sigma_daily == pytest.approx(0.02293468988, rel=1e-9)


def test_tail_quantiles_by_hand() -> None:
    assert tail_quantile(0.99) == pytest.approx(Z99, rel=1e-12)
    # Student-t(4) scaled to unit variance: t⁻¹(0.99; 4) = 3.746947 × √(2/4).
    assert tail_quantile(0.99, tail=TailModel.STUDENT_T, dof=4) == pytest.approx(
        2.6494919, rel=1e-7
    )
    # Cornish–Fisher, no skew, excess kurtosis 3: z + (z³ − 3z)·3/24.
    cf = tail_quantile(0.99, tail=TailModel.CORNISH_FISHER, excess_kurtosis=3.0)
    assert cf == pytest.approx(Z99 + (Z99**3 - 3 * Z99) / 8, rel=1e-12)
    assert cf == pytest.approx(3.0277111, rel=1e-7)


def test_haircut_scales_with_the_square_root_of_time_and_is_capped() -> None:
    assert haircut(sigma_daily=0.02, horizon_days=4, quantile=2.0) == pytest.approx(0.08)
    assert haircut(sigma_daily=0.02, horizon_days=16, quantile=2.0) == pytest.approx(0.16)
    assert haircut(sigma_daily=0.5, horizon_days=30, quantile=3.0) == 1.0


def test_ltv_levels_by_hand() -> None:
    # σ = 2 %/day, 99 % normal, 2 % liquidation cost:
    # H(30 d) = 2.326348 × 0.02 × √30 = 0.254839 → initial LTV 0.725161
    # H(14 d) = 0.174088 → margin call 0.805912;  H(3 d) = 0.080587 → liquidation 0.899413.
    levels = ltv_levels(sigma_daily=0.02)
    assert levels.initial_haircut == pytest.approx(0.25483864, rel=1e-7)
    assert levels.initial_ltv == pytest.approx(0.72516136, rel=1e-7)
    assert levels.margin_call_ltv == pytest.approx(0.80591207, rel=1e-7)
    assert levels.liquidation_ltv == pytest.approx(0.89941295, rel=1e-7)
    fat = ltv_levels(sigma_daily=0.02, policy=HaircutPolicy(tail=TailModel.STUDENT_T, dof=4))
    assert fat.initial_ltv == pytest.approx(0.68976270, rel=1e-7)
    assert fat.margin_call_ltv == pytest.approx(0.78173018, rel=1e-7)
    assert fat.liquidation_ltv == pytest.approx(0.88821891, rel=1e-7)
    assert fat.initial_ltv < levels.initial_ltv  # fat tails lend less


def test_levels_from_bundled_history_fall_in_the_usual_ranges() -> None:
    history = NetworkHistory.load()
    levels = ltv_levels_from_history(
        history, kind=CollateralKind.BTC, asof=dt.date(2025, 1, 10), policy=HaircutPolicy()
    )
    assert levels.volatility is not None and levels.volatility.end == dt.date(2025, 1, 10)
    assert 0.3 < levels.volatility.sigma_per_year < 1.2
    assert 0.5 <= levels.initial_ltv <= 0.75
    assert 0.7 <= levels.margin_call_ltv <= 0.85
    assert 0.8 <= levels.liquidation_ltv <= 0.92
    tokens = ltv_levels_from_history(
        history, kind=CollateralKind.TOKEN, asof=dt.date(2025, 1, 10), policy=HaircutPolicy()
    )
    assert tokens.volatility is not None and "hashprice" in tokens.volatility.series


def test_the_levels_quoted_in_the_docs_are_what_the_code_computes() -> None:
    """docs/risk.md quotes BTC's Student-t(4) levels at a pinned as-of date, and the levels a
    σ of 2.6 %/day gives: both are recomputed here to the printed digit."""
    text = (Path(__file__).parents[2] / "docs" / "risk.md").read_text(encoding="utf-8")
    header = re.search(
        r"\| level \| horizon \| why \| σ = ([0-9.]+) %/day, Student-t\(4\) \|", text
    )
    asof = re.search(r"\(BTC as of (\d{4}-\d{2}-\d{2}), ", text)
    assert header is not None and asof is not None
    quoted = [
        float(m.group(1))
        for m in re.finditer(
            r"^\| (?:initial|margin call|liquidation) \| .* \| ([0-9.]+) % \|$", text, re.M
        )
    ]
    policy = HaircutPolicy(tail=TailModel.STUDENT_T, dof=4)
    levels = ltv_levels_from_history(
        NetworkHistory.load(),
        kind=CollateralKind.BTC,
        asof=dt.date.fromisoformat(asof.group(1)),
        policy=policy,
    )
    assert levels.volatility is not None
    assert f"{levels.volatility.sigma_daily * 100:.2f}" == header.group(1)
    computed = (levels.initial_ltv, levels.margin_call_ltv, levels.liquidation_ltv)
    assert quoted == [round(v * 100, 1) for v in computed]
    other = re.search(r"a σ of ([0-9.]+) %/day gives ([0-9.]+) / ([0-9.]+) / ([0-9.]+) %", text)
    assert other is not None
    at = ltv_levels(sigma_daily=float(other.group(1)) / 100, policy=policy)
    assert [float(g) for g in other.groups()[1:]] == [
        round(v * 100, 1) for v in (at.initial_ltv, at.margin_call_ltv, at.liquidation_ltv)
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"confidence": 1.2}, "confidence"),
        ({"liquidation_horizon_days": 20.0}, "liquidation_horizon_days"),
        ({"initial_horizon_days": 5.0}, "initial_horizon_days"),
        ({"dof": 2.0}, "dof"),
        ({"ewma_lambda": 1.0}, "ewma_lambda"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(RiskError, match=field):
        HaircutPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_haircut_that_leaves_nothing_is_refused() -> None:
    with pytest.raises(RiskError, match="nothing to lend against"):
        ltv_levels(sigma_daily=0.2)


# ---- a loan's life by hand ------------------------------------------------------------------


def loan(**terms: object) -> Loan:
    base: dict[str, object] = {
        "loan_id": "L",
        "principal_usd": 50_000.0,
        "rate_per_year": 0.10,
        "start": START,
        "maturity": START + dt.timedelta(days=30),
        "collateral": Collateral(CollateralKind.BTC, 1.0),
        "initial_ltv": 0.60,
        "margin_call_ltv": 0.75,
        "liquidation_ltv": 0.85,
        "liquidation_cost": 0.02,
        "liquidation_days": 1,
        "cure_days": 2,
    }
    base.update(terms)
    return Loan(**base)  # type: ignore[arg-type]


def path(prices: list[float]) -> Fixings:
    days = [START + dt.timedelta(days=i) for i in range(len(prices))]
    return Fixings.from_arrays(days, price_usd=np.array(prices)[None, :])


def drop_on_day(day: int, level: float, total: int = 40) -> list[float]:
    return [100_000.0] * day + [level] * (total - day)


def claim(days: int) -> float:
    return 50_000.0 * (1 + 0.10 * days / 365)


def test_a_calm_loan_is_repaid_with_interest() -> None:
    life = loan_life(loan(), path([100_000.0] * 40), record_events=True)
    assert not life.margin_called[0] and not life.liquidated[0]
    assert life.lender_cash_usd[0, 0] == -50_000.0
    assert life.lender_cash_usd[0, 30] == pytest.approx(claim(30))  # 50,410.96
    assert life.lender_pnl_usd[0] == pytest.approx(410.958904, rel=1e-9)
    assert life.ltv[0, 10] == pytest.approx(claim(10) / 100_000)
    assert life.events is not None
    assert [e.kind for e in life.events[0]] == ["disbursement", "pledge", "repayment", "release"]


def test_margin_call_and_top_up_by_hand() -> None:
    # Day 10 at 66,000: LTV = 50,136.99 / 66,000 = 0.7597 ≥ 0.75 → call; cured on day 12:
    # top up to 60 %: claim(12)/0.6 = 83,607.31 of collateral, 0.266777 BTC more.
    life = loan_life(loan(), path(drop_on_day(10, 66_000.0)), record_events=True)
    assert life.margin_calls[0] == 1 and not life.liquidated[0]
    assert life.top_up_units[0] == pytest.approx((claim(12) / 0.6 - 66_000) / 66_000, rel=1e-12)
    assert life.top_up_units[0] == pytest.approx(0.2667774, rel=1e-6)
    assert life.ltv[0, 12] == pytest.approx(claim(12) / 66_000)  # measured before the top-up
    assert life.ltv[0, 13] == pytest.approx(claim(13) / (66_000 * 1.2667774), rel=1e-6)
    assert life.lender_cash_usd[0, 30] == pytest.approx(claim(30))
    assert life.events is not None
    kinds = [e.kind for e in life.events[0]]
    assert kinds == ["disbursement", "pledge", "margin_call", "top_up", "repayment", "release"]


def test_liquidation_with_a_surplus_by_hand() -> None:
    # Day 10 at 55,000: LTV 0.9116 ≥ 0.85 → liquidation; sold on day 11 at 55,000 less 2 %:
    # proceeds 53,900, claim(11) = 50,150.68 recovered, 3,749.32 to the borrower, no loss.
    life = loan_life(loan(), path(drop_on_day(10, 55_000.0)), record_events=True)
    assert life.liquidated[0] and life.liquidation_day[0] == 10
    assert life.lender_cash_usd[0, 11] == pytest.approx(claim(11))
    assert life.loss_usd[0] == 0.0
    assert life.events is not None
    kinds = [e.kind for e in life.events[0]]
    assert kinds[2:5] == ["margin_call", "liquidation", "sale"]  # both levels passed on day 10
    assert life.margin_calls[0] == 1 and life.top_up_units[0] == 0.0
    surplus = next(e for e in life.events[0] if e.kind == "surplus")
    assert surplus.usd == pytest.approx(53_900 - claim(11))
    assert surplus.usd == pytest.approx(3_749.315068, rel=1e-9)


def test_liquidation_through_a_gap_loses_money_by_hand() -> None:
    life = loan_life(loan(), path(drop_on_day(10, 40_000.0)))
    assert life.loss_usd[0] == pytest.approx(claim(11) - 39_200)
    assert life.loss_usd[0] == pytest.approx(10_950.684932, rel=1e-9)
    assert life.lender_cash_usd[0].sum() == pytest.approx(39_200 - 50_000)


def test_a_loan_ends_on_the_day_its_collateral_is_sold() -> None:
    # Liquidated on day 10, sold a day later: nothing is paid after column 11. A path that
    # holds its price runs to maturity (−1). The flows are the life's own.
    sold = path(drop_on_day(10, 55_000.0))
    flows, end = loan().cashflows_and_end(sold)
    assert end.tolist() == [11]
    np.testing.assert_array_equal(flows, loan_life(loan(), sold).lender_cash_usd)
    assert not flows[0, 12:].any()
    _, end = loan().cashflows_and_end(path(drop_on_day(10, 66_000.0)))
    assert end.tolist() == [-1]


def test_a_borrower_who_does_not_cure_is_liquidated_when_the_call_falls_due() -> None:
    life = loan_life(loan(borrower_cures=False), path(drop_on_day(10, 66_000.0)))
    assert life.margin_called[0] and life.liquidated[0]
    assert life.liquidation_day[0] == 12  # the day the cure window ends
    assert life.lender_cash_usd[0, 13] == pytest.approx(claim(13))  # 66,000 × 0.98 covers it


def test_a_deliverable_forward_is_repaid_by_its_output_by_hand() -> None:
    fwd = deliverable_forward(
        loan_id="F",
        hashrate_phs=10.0,
        price_usd_per_ph_day=40.0,
        start=START,
        maturity=START + dt.timedelta(days=29),
    )
    # Upfront = 40 × 10 PH/s × 30 days × (1 − 18 %) = 9,840; levels 82 %, 91 %, 95.5 %.
    assert fwd.principal_usd == pytest.approx(9_840.0)
    assert (fwd.initial_ltv, fwd.margin_call_ltv, fwd.liquidation_ltv) == pytest.approx(
        (0.82, 0.91, 0.955)
    )
    days = [START + dt.timedelta(days=i) for i in range(35)]
    fixings = Fixings.from_arrays(
        days,
        price_usd=np.full((1, 35), 80_000.0),
        hashprice_usd_per_ph_day=np.full((1, 35), 40.0),
        hashprice_btc_per_ph_day=np.full((1, 35), 0.0005),
    )
    life = loan_life(fwd, fixings, record_events=True)
    assert life.lender_pnl_usd[0] == pytest.approx(30 * 400 - 9_840)  # 2,160
    # Day 1 (the start): 9,840 − 400 delivered against 29 days × 400 still to come.
    assert life.ltv[0, 0] == pytest.approx(9_440 / 11_600)
    assert life.events is not None
    deliveries = [e for e in life.events[0] if e.kind == "delivery"]
    assert len(deliveries) == 30 and deliveries[0].units == pytest.approx(0.005)


def test_summary_over_scenarios() -> None:
    prices = np.array([drop_on_day(10, p) for p in (100_000.0, 66_000.0, 55_000.0, 40_000.0)])
    days = [START + dt.timedelta(days=i) for i in range(prices.shape[1])]
    paths = loan_life(loan(), Fixings.from_arrays(days, price_usd=prices))
    s = summarize(loan(), paths, seed=1)
    # 66,000 is called and cured; 55,000 and 40,000 pass both levels on day 10: called and
    # liquidated the same day.
    assert s.probability_margin_call == 0.75
    assert s.probability_liquidation == 0.5
    assert paths.margin_calls.tolist() == [0, 1, 1, 1]
    assert s.expected_loss_usd == pytest.approx((claim(11) - 39_200) / 4)


def test_bad_loans_are_refused() -> None:
    with pytest.raises(RiskError, match="ltv"):
        loan(initial_ltv=0.8, margin_call_ltv=0.75)
    with pytest.raises(RiskError, match="maturity"):
        loan(maturity=START)
    with pytest.raises(RiskError, match="token"):
        Collateral(CollateralKind.TOKEN, 10.0)
