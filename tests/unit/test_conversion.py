"""The move to AI: hand-computed NPV, IRR, break-even, tenant probability and the value of
waiting on constructed paths, and the site file's refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hashmarket.errors import DataError
from hashmarket.models import FactorCorrelation, GpuPriceModel, factor_correlation
from hashmarket.operations import (
    AiTerms,
    ConversionPaths,
    ConversionSite,
    ConversionTerms,
    LeaseTerms,
    MiningTerms,
    ValuationTerms,
    parse_conversion_site,
    tenant_probability,
    value_conversion,
)
from hashmarket.operations.conversion import cumulative, decision_cashflows
from hashmarket.operations.conversion_value import correlated_shocks
from hashmarket.pricing import irr, npv

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "conversion" / "site.json"
NO_CORRELATION = FactorCorrelation(0.0, 0.0, 0.0, 0, False, "none")

# The deterministic case, by hand. Mining: 20 J/TH → 1e6 / 20 = 50,000 TH/s = 50 PH/s per MW;
# at 50 USD/PH/day that earns 2,500 a day, less power 24 h × 40 USD/MWh = 960: 1,540 USD per
# MW-day given up. AI: 500 GPUs per MW × 24 h × 2.00 USD = 24,000 a day, less power 960 and
# opex 365,000 / 365 = 1,000: 22,040. Net 20,500 per MW-day → 7,482,500 per MW-year; 5 MW
# (half of 10 MW) → 37,412,500 a year. Capital 10 M per MW → 50 M at once.
YEARLY_USD = 37_412_500.0
CAPEX_USD = 50_000_000.0
ANNUITY_2Y_10PCT = 1 / 1.1 + 1 / 1.21  # 1.735537190082644...


def site(**changes: object) -> ConversionSite:
    base = ConversionSite(
        name="test",
        capacity_mw=10.0,
        power_price_usd_per_mwh=40.0,
        mining=MiningTerms(efficiency_j_per_th=20.0),
        ai=AiTerms(gpus_per_mw=500.0, utilisation=1.0, opex_usd_per_mw_year=365_000.0),
        conversion=ConversionTerms(
            fraction=0.5, capex_usd_per_mw=10_000_000.0, build_days=0, tenant_probability=1.0
        ),
        valuation=ValuationTerms(life_years=2, discount_rate_per_year=0.10, n_paths=4),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def flat_paths(s: ConversionSite, *, hashprice: float = 50.0, gpu: float = 2.0) -> ConversionPaths:
    shape = (s.valuation.n_paths, s.horizon_days + 1)
    return ConversionPaths(
        asof=dt.date(2026, 1, 22),
        hashprice_usd_per_ph_day=np.full(shape, hashprice),
        gpu_price_usd_per_gpu_hour=np.full(shape, gpu),
        correlation=NO_CORRELATION,
    )


def test_tenant_probability_by_size_bucket() -> None:
    assert tenant_probability(5.0) == 0.20
    assert tenant_probability(9.99) == 0.20
    assert tenant_probability(10.0) == 0.45
    assert tenant_probability(30.0) == 0.45
    assert tenant_probability(50.0) == 0.45
    assert tenant_probability(50.01) == 0.65
    assert tenant_probability(200.0) == 0.65
    # A partial conversion is sized by what is converted: 30 % of 100 MW is 30 MW.
    s = site(capacity_mw=100.0, conversion=ConversionTerms(0.3, 1.0, 0))
    assert s.converted_mw == pytest.approx(30.0)
    assert s.probability == 0.45
    with pytest.raises(DataError):
        tenant_probability(0.0)


def test_npv_of_a_deterministic_case_by_hand() -> None:
    s = site()
    result = value_conversion(s, flat_paths(s))
    expected = YEARLY_USD * ANNUITY_2Y_10PCT - CAPEX_USD  # 14,930,785.12
    assert expected == pytest.approx(14_930_785.123966936)
    assert result.expected_npv_usd == pytest.approx(expected, rel=1e-12)
    assert np.allclose(result.npv_usd, expected, rtol=1e-12)
    assert result.mining_given_up_usd_per_mw_year == pytest.approx(1_540.0 * 365)
    # IRR: −50 M + 37.4125 M x + 37.4125 M x² = 0 with x = 1 / (1 + irr), by numpy's roots.
    roots = np.roots([YEARLY_USD, YEARLY_USD, -CAPEX_USD])
    x = float(roots[(roots.imag == 0) & (roots.real > 0)].real[0])
    assert np.allclose(result.irr, 1 / x - 1, rtol=1e-9)


def test_build_time_delays_the_ai_margin_but_not_the_mining_given_up() -> None:
    s = site(conversion=dataclasses.replace(site().conversion, build_days=365))
    result = value_conversion(s, flat_paths(s))
    # Year 1: only the mining given up, 1,540 × 365 × 5 = 2,810,500; year 2: the full net.
    expected = -CAPEX_USD - 2_810_500 / 1.1 + YEARLY_USD / 1.21  # −21,635,578.51
    assert result.expected_npv_usd == pytest.approx(expected, rel=1e-12)
    assert result.expected_npv_usd == pytest.approx(-21_635_578.512396693)


def test_tenant_probability_and_development_cost_in_the_expectation() -> None:
    terms = dataclasses.replace(
        site().conversion, tenant_probability=0.45, development_cost_usd_per_mw=100_000.0
    )
    s = site(conversion=terms)
    result = value_conversion(s, flat_paths(s))
    with_tenant = YEARLY_USD * ANNUITY_2Y_10PCT - CAPEX_USD
    assert result.expected_npv_usd == pytest.approx(0.45 * with_tenant - 0.55 * 500_000.0)
    # Per path, either the tenant's NPV or the lost development cost.
    assert set(np.round(result.npv_usd, 4)) <= {round(with_tenant, 4), -500_000.0}


def test_irr_of_a_constructed_vector_against_numpy_roots() -> None:
    flows = np.array([-1000.0, 300.0, 400.0, 500.0, 200.0])
    roots = np.roots(flows[::-1])  # Σ CF_y x^y with x = 1 / (1 + irr)
    x = float(roots[(np.abs(roots.imag) < 1e-12) & (roots.real > 0)].real[0])
    assert float(irr(flows)) == pytest.approx(1 / x - 1, rel=1e-9)
    assert float(npv(flows, float(irr(flows)))) == pytest.approx(0.0, abs=1e-6)
    # [−100, 60, 60]: 60 x² + 60 x − 100 = 0 → x = (−60 + √(3600 + 24000)) / 120.
    x2 = (-60 + math.sqrt(3600 + 24000)) / 120
    assert float(irr([-100.0, 60.0, 60.0])) == pytest.approx(1 / x2 - 1, rel=1e-9)
    assert math.isnan(float(irr([-100.0, -1.0, -1.0])))


def test_break_even_price_recomputed_by_hand_for_market_and_lease() -> None:
    # NPV(x) = 5 MW × 365 × (12,000 x − 1,000 − 960 − 1,540) × A − 50 M = 0.
    by_hand = (CAPEX_USD / (5 * 365 * ANNUITY_2Y_10PCT) + 3_500.0) / 12_000.0
    assert by_hand == pytest.approx(1.6071700369645574, rel=1e-9)
    market = site()
    assert value_conversion(market, flat_paths(market)).break_even_usd_per_gpu_hour == (
        pytest.approx(by_hand, rel=1e-8)
    )
    at_break_even = value_conversion(market, flat_paths(market, gpu=by_hand))
    assert at_break_even.expected_npv_usd == pytest.approx(0.0, abs=1e-3)
    leased = site(ai=dataclasses.replace(market.ai, lease=LeaseTerms(2.0, term_years=2)))
    result = value_conversion(leased, flat_paths(leased, gpu=0.0))
    assert result.break_even_usd_per_gpu_hour == pytest.approx(by_hand, rel=1e-8)
    assert result.expected_npv_usd == pytest.approx(YEARLY_USD * ANNUITY_2Y_10PCT - CAPEX_USD)


def test_waiting_is_worth_nothing_when_it_cannot_help() -> None:
    # Constant prices, a positive NPV: converting a year later only discounts the same NPV.
    s = site(valuation=dataclasses.replace(site().valuation, decision_years=2))
    result = value_conversion(s, flat_paths(s))
    assert result.waiting.act_now_usd == pytest.approx(14_930_785.123966936)
    assert result.waiting.waiting_usd == 0.0
    assert (result.waiting.act_at == 0).all()
    # A negative NPV at every date: never converting is best, now or later.
    poor = value_conversion(s, flat_paths(s, gpu=1.0))
    assert poor.waiting.value_usd == 0.0 and poor.waiting.waiting_usd == 0.0
    assert (poor.waiting.act_at == -1).all()


def test_waiting_pays_when_the_next_year_reveals_the_price() -> None:
    # Half the paths' GPU price rises to 4.00 after a year, half falls to 0.50: waiting a
    # year lets the site convert only where it rose.
    s = site(valuation=dataclasses.replace(site().valuation, decision_years=1, n_paths=8))
    paths = flat_paths(s)
    paths.gpu_price_usd_per_gpu_hour[:4, 365:] = 4.0
    paths.gpu_price_usd_per_gpu_hour[4:, 365:] = 0.5
    result = value_conversion(s, paths)
    # Converting in a year on the high paths: AI margin 500 × 24 × 4 − 1,960 = 46,040 a day,
    # net 44,500 → 81,212,500 a year on 5 MW, years 2 and 3; capital 50 M in year 1.
    later_high = (81_212_500.0 / 1.1**2 + 81_212_500.0 / 1.1**3 - CAPEX_USD / 1.1) / 2
    assert result.waiting.value_usd == pytest.approx(later_high, rel=1e-9)
    assert result.waiting.waiting_usd == pytest.approx(
        later_high - max(result.waiting.act_now_usd, 0.0), rel=1e-9
    )
    assert result.waiting.waiting_usd > 0
    assert (result.waiting.act_at[:4] == 1).all() and (result.waiting.act_at[4:] == -1).all()


def test_gpu_factor_correlation_and_the_too_short_statement() -> None:
    days = pd.date_range("2025-01-01", periods=40, freq="D")
    rng = np.random.default_rng(3)
    hashprice = pd.Series(50 * np.exp(np.cumsum(rng.normal(0, 0.02, 40))), index=days)
    btc = pd.Series(90_000 * np.exp(np.cumsum(rng.normal(0, 0.02, 40))), index=days)
    # GPU prices every other day moving exactly as hashprice: correlation 1, 19 changes.
    gpu = 2.0 * hashprice.iloc[::2] / hashprice.iloc[0]
    full = factor_correlation(
        gpu_usd_per_gpu_hour=gpu,
        hashprice_usd_per_ph_day=hashprice,
        btc_usd=btc,
        min_observations=10,
    )
    assert full.estimated and full.observations == 19
    assert full.gpu_hashprice == pytest.approx(1.0)
    short = factor_correlation(
        gpu_usd_per_gpu_hour=gpu.iloc[:5], hashprice_usd_per_ph_day=hashprice, btc_usd=btc
    )
    assert not short.estimated and short.observations == 4
    assert short.gpu_hashprice == short.gpu_btc == 0.0
    assert "too short" in short.statement and "4 overlapping" in short.statement


def test_site_file_refusals_name_the_field() -> None:
    data = json.loads(EXAMPLE.read_text())
    assert parse_conversion_site(data).converted_mw == pytest.approx(12.0)
    bad = json.loads(EXAMPLE.read_text())
    bad["conversion"]["fraction"] = 1.5
    with pytest.raises(DataError, match=r"conversion\.fraction.*<= 1"):
        parse_conversion_site(bad, path="site.json")
    bad = json.loads(EXAMPLE.read_text())
    bad["ai"]["contract"] = {"type": "swap"}
    with pytest.raises(DataError, match=r"ai\.contract\.type"):
        parse_conversion_site(bad, path="site.json")
    bad = json.loads(EXAMPLE.read_text())
    bad["mining"]["hashrate"] = 1
    with pytest.raises(DataError, match=r"mining\.hashrate.*unknown field"):
        parse_conversion_site(bad, path="site.json")


def test_monte_carlo_npv_on_the_market_against_the_closed_form() -> None:
    # GPU-hours sold on the market on OU paths: E[P_d] = θ + (P₀ − θ) e^{−κ d / 365}, so the
    # expected NPV is 5 MW × Σ_d (12,000 E[P_d] − 1,960 − 1,540) / 1.1 − 50 M (one year). The
    # price stays more than ten standard deviations above zero, so the floor at zero is inert.
    model = GpuPriceModel(mean_usd_per_gpu_hour=2.0, reversion_per_year=2.0, vol_usd_per_year=0.3)
    s = site(valuation=ValuationTerms(life_years=1, discount_rate_per_year=0.10, n_paths=4000))
    gpu = model.simulate(2.5, days=365, n_paths=4000, rng=np.random.default_rng(21))
    paths = dataclasses.replace(flat_paths(s), gpu_price_usd_per_gpu_hour=gpu)
    result = value_conversion(s, paths)
    expected_price = model.expected_price(2.5, np.arange(1, 366) / 365)
    closed = 5 * float((12_000 * expected_price - 3_500).sum()) / 1.1 - CAPEX_USD
    assert abs(result.expected_npv_usd - closed) < 4 * result.expected_npv_std_error_usd
    assert result.expected_npv_std_error_usd > 0


def test_joint_paths_carry_the_correlation_to_hashprice() -> None:
    rng = np.random.default_rng(8)
    hashprice = 50 * np.exp(np.cumsum(rng.normal(0, 0.03, (500, 101)), axis=1))
    shocks = correlated_shocks(hashprice, 0.5, np.random.default_rng(9))
    changes = np.diff(np.log(hashprice), axis=1).ravel()
    n = changes.size
    assert np.corrcoef(shocks.ravel(), changes)[0, 1] == pytest.approx(0.5, abs=4 / math.sqrt(n))
    assert shocks.std() == pytest.approx(1.0, abs=0.01)


def test_partial_conversion_scales_with_the_mw_converted() -> None:
    # A quarter of 10 MW (2.5 MW) in the same tenant bucket: half of everything, by hand
    # 18,706,250 × A − 25 M = 7,465,392.56.
    s = site(conversion=dataclasses.replace(site().conversion, fraction=0.25))
    result = value_conversion(s, flat_paths(s))
    assert result.expected_npv_usd == pytest.approx(18_706_250 * ANNUITY_2Y_10PCT - 25_000_000)
    assert result.expected_npv_usd == pytest.approx(7_465_392.561983471)


def test_yearly_cash_flows_from_running_sums_match_a_day_by_day_count() -> None:
    # Random daily margins, a build of 100 days and a lease of 1.3 years (not whole years):
    # the running-sum totals against the plain masks written out here.
    rng = np.random.default_rng(12)
    lease = LeaseTerms(price_usd_per_gpu_hour=1.9, term_years=1.3)
    s = site(
        ai=dataclasses.replace(site().ai, lease=lease),
        conversion=dataclasses.replace(site().conversion, build_days=100),
        valuation=ValuationTerms(life_years=3, discount_rate_per_year=0.1, decision_years=2),
    )
    days = s.horizon_days
    mining = rng.normal(1000, 300, (3, days))
    ai = rng.normal(20000, 5000, (3, days))
    lease_margin = 500 * 24 * 1.9 - 960 - 1000
    for k in range(3):
        first, last = 365 * k, 365 * (k + 3)
        day = np.arange(days)
        daily = np.where((day >= first) & (day < last), -mining, 0.0)
        ai_from = first + 100
        lease_end = ai_from + round(1.3 * 365)
        daily += np.where((day >= ai_from) & (day < lease_end), lease_margin, 0.0)
        daily += np.where((day >= lease_end) & (day < last), ai, 0.0)
        by_hand = daily.reshape(3, 5, 365).sum(axis=2) * 5.0
        flows = decision_cashflows(
            k, site=s, mining_running_usd=cumulative(mining), ai_market_running_usd=cumulative(ai)
        )
        assert flows[:, 0].tolist() == ([-CAPEX_USD] * 3 if k == 0 else [0.0] * 3)
        expected = by_hand.copy()
        expected[:, k - 1] -= CAPEX_USD if k > 0 else 0.0
        assert np.allclose(flows[:, 1:], expected, rtol=1e-12, atol=1e-6)
