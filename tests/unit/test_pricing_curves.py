"""The hashprice forward curve: months, means against the scenarios, bands, quote shifting."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import numpy as np
import pytest

from hashmarket.errors import UsageError
from hashmarket.index.hashprice import hashprice_btc_per_ph_day
from hashmarket.instruments import HashpriceForward, SettlementCurrency
from hashmarket.models import (
    GBM,
    BlockArrivals,
    FeeParams,
    HashrateParams,
    NetworkModel,
    NetworkState,
    ScenarioConfig,
    Scenarios,
    monthly_means,
)
from hashmarket.pricing import FlatRate, Market, MonteCarloConfig, hashprice_curve, price
from hashmarket.pricing.curves import next_months, shift_factors
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
MODEL = NetworkModel(price=GBM(drift_per_year=0.0, vol_per_year=0.5))


def test_months_are_the_calendar_months_after_the_asof_month() -> None:
    months = next_months(dt.date(2026, 1, 15), 3)
    assert months == [
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        (dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
        (dt.date(2026, 4, 1), dt.date(2026, 4, 30)),
    ]


def test_curve_means_and_bands_are_those_of_the_simulated_monthly_averages() -> None:
    config = MonteCarloConfig(n_paths=2_000, seed=4, antithetic=False, stream_paths=500)
    curve = hashprice_curve(market=Market(state=STATE), model=MODEL, months=3, config=config)
    scenarios = Scenarios(
        MODEL.risk_neutral(usd_rate=0.0),
        STATE,
        (dt.date(2026, 4, 30) - ASOF).days,
        ScenarioConfig(n_paths=2_000, seed=4, stream_paths=500),
    ).materialize()
    months = [np.datetime64(p.month, "M") for p in curve.points]
    averages = monthly_means(scenarios.hashprice_usd_per_ph_day, scenarios.dates, months)
    for j, point in enumerate(curve.points):
        assert point.mean == pytest.approx(averages[:, j].mean(), rel=1e-12)
        assert point.p5 == pytest.approx(np.quantile(averages[:, j], 0.05), rel=1e-12)
        assert point.p5 < point.p50 < point.p95
        assert point.std_error == pytest.approx(
            averages[:, j].std(ddof=1) / math.sqrt(2_000), rel=1e-9
        )
    # The bands widen with the horizon.
    widths = [p.p95 - p.p5 for p in curve.points]
    assert widths == sorted(widths)


def test_deterministic_curve_is_the_index_formula() -> None:
    model = NetworkModel(
        price=GBM(drift_per_year=0.0, vol_per_year=0.0),
        hashrate=HashrateParams(0.0, 0.0, 0.0, 1.0, 0.0),
        fees=FeeParams(mean_log_btc=math.log(0.02), reversion_per_year=50.0, vol_per_year=0.0),
        block_arrivals=BlockArrivals.EXPECTED,
    )
    # Far from a retarget (epoch just started, 14 days ahead) and a one-month curve in BTC.
    state = replace(STATE, height=2016 * 465 - 1, epoch_elapsed_s=0.0, asof=dt.date(2026, 2, 28))
    curve = hashprice_curve(
        market=Market(state=state),
        model=model,
        months=1,
        config=MonteCarloConfig(n_paths=2, seed=0),
        currency=SettlementCurrency.BTC,
    )
    hp = float(hashprice_btc_per_ph_day(difficulty=D0, subsidy_btc=3.125, fee_btc_per_block=0.02))
    # 14 days at D0, then the rest of March at D0 × 2016/2015.
    later = float(
        hashprice_btc_per_ph_day(
            difficulty=D0 * 2016 / 2015, subsidy_btc=3.125, fee_btc_per_block=0.02
        )
    )
    assert curve.points[0].mean == pytest.approx((14 * hp + 17 * later) / 31, rel=1e-12)
    assert curve.points[0].p5 == pytest.approx(curve.points[0].p95)


def test_quotes_shift_the_curve_through_them() -> None:
    config = MonteCarloConfig(n_paths=1_000, seed=1)
    quotes = {"2026-02": 40.0, "2026-05": 30.0}
    curve = hashprice_curve(
        market=Market(state=STATE), model=MODEL, months=6, config=config, quotes=quotes
    )
    records = curve.to_records()
    assert records[0]["mean_usd_per_ph_day"] == pytest.approx(40.0)
    assert records[3]["mean_usd_per_ph_day"] == pytest.approx(30.0)
    assert records[5]["shift_factor"] == pytest.approx(records[3]["shift_factor"])
    # Between quotes the log factor is linear in the month.
    logs = [math.log(r["shift_factor"]) for r in records[:4]]
    assert logs[1] - logs[0] == pytest.approx(logs[2] - logs[1])
    np.testing.assert_allclose(shift_factors(np.array([2.0, 4.0]), [None, None]), [1.0, 1.0])
    with pytest.raises(UsageError, match="2027-09"):
        hashprice_curve(
            market=Market(state=STATE), model=MODEL, months=2, config=config, quotes={"2027-09": 1}
        )


@pytest.mark.parametrize("measure", ["risk_neutral", "model"])
def test_btc_curve_point_is_the_price_of_a_zero_strike_btc_forward(measure: str) -> None:
    # At zero rates a month's point is the value of a BTC forward struck at 0 on that month,
    # per PH/s-day, on the same paths: under the risk-neutral measure both weight the BTC
    # hashprice by S_t / F_t (BTC as the numeraire), under the model measure neither does.
    model = NetworkModel(price=GBM(drift_per_year=0.0, vol_per_year=0.6))
    config = MonteCarloConfig(n_paths=4_000, seed=7, measure=measure)  # type: ignore[arg-type]
    btc = SettlementCurrency.BTC
    curve = hashprice_curve(
        market=Market(state=STATE), model=model, months=3, config=config, currency=btc
    )
    for point in curve.points:
        forward = HashpriceForward(1.0, 0.0, point.start, point.end, currency=btc)
        result = price(forward, market=Market(state=STATE), model=model, config=config)
        days = (point.end - point.start).days + 1
        assert point.mean == pytest.approx(result.value / days, rel=1e-12)
        assert point.std_error == pytest.approx(result.std_error / days, rel=1e-9)
        assert point.p5 < point.mean < point.p95
    assert curve.diagnostics["numeraire"] == "btc"


def test_btc_curve_with_rates_is_the_forward_price_of_each_month() -> None:
    # With rates, the price of the zero-strike forward is Σ D_btc(t) K_t over the month's days
    # (K_t the daily BTC forwards); the point is their plain mean, within the discount factors'
    # spread over a month of the forward price Σ D_btc K_t / Σ D_btc. The model drifts at
    # r_usd − r_btc, so both measures simulate the same paths.
    model = NetworkModel(price=GBM(drift_per_year=0.03, vol_per_year=0.6))
    market = Market(state=STATE, usd_curve=FlatRate(0.05), btc_curve=FlatRate(0.02))
    config = MonteCarloConfig(n_paths=4_000, seed=7)
    btc = SettlementCurrency.BTC
    curve = hashprice_curve(market=market, model=model, months=3, config=config, currency=btc)
    for point in curve.points:
        forward = HashpriceForward(1.0, 0.0, point.start, point.end, currency=btc)
        result = price(forward, market=market, model=model, config=config)
        days = np.arange((point.start - ASOF).days, (point.end - ASOF).days + 1)
        annuity = float(np.exp(-0.02 * days / 365).sum())
        assert point.mean == pytest.approx(result.value / annuity, rel=1e-4)
    # Averaged as simulated, the third month misses it by several errors: the BTC hashprice
    # falls when the price rises (hashrate follows USD revenue).
    plain = hashprice_curve(
        market=market,
        model=model,
        months=3,
        config=replace(config, measure="model"),
        currency=btc,
    )
    assert plain.points[2].mean - curve.points[2].mean > 4 * curve.points[2].std_error
