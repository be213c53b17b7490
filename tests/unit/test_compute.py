"""Compute contracts: the OU GPU-price model against its closed forms, the forward's and the
lease's cash flows by hand, settlement on index fixings, pricing through the registry (Monte
Carlo against the closed form), and a lease transferred and pledged on the ledger."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hashmarket.errors import ModelError, PricingError, SpecError
from hashmarket.index.compute import gpu_fixings
from hashmarket.index.gpu_quotes import QuoteTable
from hashmarket.instruments.compute import (
    ComputeForward,
    ComputeLease,
    ForwardSettlement,
    daily_delivery,
    fixings_from_gpu_index,
)
from hashmarket.instruments.fixings import Fixings
from hashmarket.models.gpu import GpuPriceModel, calibrate_gpu
from hashmarket.pricing import FlatRate, MonteCarloConfig, engines_for, price
from hashmarket.pricing.compute import ComputeMarket

MODEL = GpuPriceModel(mean_usd_per_gpu_hour=2.5, reversion_per_year=4.0, vol_usd_per_year=1.2)
ASOF = dt.date(2026, 1, 31)
D = dt.date


# -- the model --------------------------------------------------------------------------------


def test_closed_forms_by_hand() -> None:
    # E[P_t] = 2.5 + (3.1 - 2.5) e^{-4 x 0.25} = 2.5 + 0.6 / e.
    assert float(MODEL.expected_price(3.1, 0.25)) == pytest.approx(2.5 + 0.6 * math.exp(-1))
    # Var = 1.2^2 (1 - e^{-2}) / 8.
    assert float(MODEL.variance(0.25)) == pytest.approx(1.44 * (1 - math.exp(-2)) / 8)
    assert MODEL.half_life_days == pytest.approx(math.log(2) / 4 * 365)
    assert float(MODEL.expected_price(3.1, 50.0)) == pytest.approx(2.5)  # reverts to θ


def test_simulated_moments_match_the_closed_forms() -> None:
    days, n = 90, 20_000
    paths = MODEL.simulate(3.1, days=days, n_paths=n, rng=np.random.default_rng(11))
    assert paths.shape == (n, days + 1) and (paths[:, 0] == 3.1).all()
    t = days / 365
    mean, var = float(MODEL.expected_price(3.1, t)), float(MODEL.variance(t))
    end = paths[:, -1]
    assert abs(end.mean() - mean) < 4 * math.sqrt(var / n)
    # The sample variance of n normals has standard error var * sqrt(2 / (n - 1)).
    assert abs(end.var(ddof=1) - var) < 4 * var * math.sqrt(2 / (n - 1))


def test_antithetic_paths_mirror_each_other() -> None:
    paths = MODEL.simulate(2.0, days=10, n_paths=8, rng=np.random.default_rng(1), antithetic=True)
    expected = MODEL.expected_price(2.0, np.arange(11) / 365)
    np.testing.assert_allclose((paths[:4] + paths[4:]) / 2, np.broadcast_to(expected, (4, 11)))


def test_calibration_recovers_the_parameters() -> None:
    path = MODEL.simulate(2.5, days=40_000, n_paths=1, rng=np.random.default_rng(5))[0]
    fit = calibrate_gpu(path)
    assert fit.model.mean_usd_per_gpu_hour == pytest.approx(2.5, abs=0.05)
    assert fit.model.reversion_per_year == pytest.approx(4.0, rel=0.15)
    assert fit.model.vol_usd_per_year == pytest.approx(1.2, rel=0.03)
    assert fit.ar_coefficient == pytest.approx(math.exp(-4 / 365), abs=0.002)


def test_calibration_refuses_thin_or_trending_data() -> None:
    with pytest.raises(ModelError, match="at least 10"):
        calibrate_gpu([2.0, 2.1, 2.2])
    with pytest.raises(ModelError, match="no mean reversion"):
        calibrate_gpu(np.linspace(2.0, 4.0, 50) ** 2)  # a trend, not a pull to a level
    with pytest.raises(ModelError, match="reversion_per_year"):
        GpuPriceModel(2.0, 0.0, 1.0)


# -- the forward's cash flows -----------------------------------------------------------------

DAYS3 = [D(2026, 3, 1), D(2026, 3, 2), D(2026, 3, 3)]


def forward(**kw: object) -> ComputeForward:
    terms: dict[str, object] = {
        "gpu_model": "nvidia h100",
        "gpus": 10,
        "fixed_price_usd_per_gpu_hour": 2.2,
        "start": DAYS3[0],
        "end": DAYS3[-1],
    }
    terms.update(kw)
    return ComputeForward(**terms)  # type: ignore[arg-type]


def test_daily_forward_cash_flows_by_hand() -> None:
    f = Fixings.from_arrays(DAYS3, gpu_price_usd_per_gpu_hour=[2.0, 2.5, 3.0])
    # 10 GPUs x 24 h = 240 GPU-hours a day.
    np.testing.assert_allclose(forward().cashflows(f)[0], [-0.2 * 240, 0.3 * 240, 0.8 * 240])
    np.testing.assert_allclose(
        forward(side="sell").cashflows(f)[0], [0.2 * 240, -0.3 * 240, -0.8 * 240]
    )
    assert forward().gpu_model == "H100" and forward().term == "on-demand"


def test_average_forward_pays_once_on_the_mean() -> None:
    f = Fixings.from_arrays(DAYS3, gpu_price_usd_per_gpu_hour=[2.0, 2.5, 3.0])
    fwd = forward(settlement="average", hours_per_day=8)
    # Mean 2.5 - 2.2 = 0.3 x 10 GPUs x 8 h x 3 days, on the last day.
    np.testing.assert_allclose(fwd.cashflows(f)[0], [0.0, 0.0, 0.3 * 10 * 8 * 3])
    assert fwd.settlement is ForwardSettlement.AVERAGE


def test_forward_settles_on_published_index_fixings() -> None:
    t0 = 1_772_323_200  # 2026-03-01T00:00:00Z
    times, prices = [], []
    for day, quotes in enumerate(([2.0, 2.1, 2.2], [2.4, 2.5, 9.9], [3.0, 3.1, 2.9])):
        times += [t0 + day * 86_400 + 3600 * i for i in range(3)]
        prices += quotes
    table = QuoteTable.from_arrays(
        time_s=times,
        provider=["a", "b", "c"] * 3,
        gpu_model=["H100"] * 9,
        region=[""] * 9,
        term=["on-demand"] * 9,
        price_usd_per_gpu_hour=prices,
    )
    fixings = gpu_fixings(table)
    f = fixings_from_gpu_index(fixings, gpu_model="H100", term="on-demand")
    assert f.values["gpu_price_usd_per_gpu_hour"][0].tolist() == [2.1, 2.45, 3.0]
    np.testing.assert_allclose(forward().cashflows(f)[0], [-0.1 * 240, 0.25 * 240, 0.8 * 240])
    # A day without a fixing refuses to settle rather than settle on a guess.
    gap = fixings_from_gpu_index([fixings[0], fixings[2]], gpu_model="H100", term="on-demand")
    with pytest.raises(PricingError, match="no value on 2026-03-02"):
        forward().cashflows(gap)


def test_forward_terms_are_validated() -> None:
    with pytest.raises(SpecError, match="'end'"):
        forward(end=D(2026, 2, 1))
    with pytest.raises(SpecError, match="'term'"):
        forward(term="monthly")
    with pytest.raises(SpecError, match="'hours_per_day'"):
        forward(hours_per_day=25)


# -- pricing ------------------------------------------------------------------------------------

MARKET = ComputeMarket(asof=ASOF, gpu_price_usd_per_gpu_hour=3.1, usd_curve=FlatRate(0.04))


def test_engines_are_registered() -> None:
    assert engines_for(ComputeForward) == ["analytic", "mc"]
    with pytest.raises(PricingError, match="no 'binomial' engine"):
        price(forward(), market=MARKET, model=MODEL, engine="binomial")


def test_one_day_forward_by_hand() -> None:
    fwd = forward(start=D(2026, 2, 1), end=D(2026, 2, 1))
    market = ComputeMarket(asof=ASOF, gpu_price_usd_per_gpu_hour=3.1)
    result = price(fwd, market=market, model=MODEL, engine="analytic")
    expected = 2.5 + 0.6 * math.exp(-4 / 365)
    assert result.value == pytest.approx(240 * (expected - 2.2))
    assert result.greeks["delta_usd_per_usd_per_gpu_hour"] == pytest.approx(
        240 * math.exp(-4 / 365)
    )
    assert result.std_error == 0.0 and result.engine == "analytic"


def test_forward_is_the_discounted_expectation() -> None:
    fwd = forward(start=D(2026, 3, 1), end=D(2026, 5, 31))
    result = price(fwd, market=MARKET, model=MODEL, engine="analytic")
    days = np.arange(29, 29 + 92)  # 2026-03-01 is 29 days after 2026-01-31
    t = days / 365
    expected = 2.5 + 0.6 * np.exp(-4 * t)
    by_hand = float((np.exp(-0.04 * t) * (expected - 2.2)).sum() * 240)
    assert result.value == pytest.approx(by_hand, rel=1e-12)
    fair = result.diagnostics["fair_fixed_price_usd_per_gpu_hour"]
    at_fair = price(
        forward(start=D(2026, 3, 1), end=D(2026, 5, 31), fixed_price_usd_per_gpu_hour=fair),
        market=MARKET,
        model=MODEL,
        engine="analytic",
    )
    assert at_fair.value == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("settlement", ["daily", "average"])
def test_monte_carlo_agrees_with_the_closed_form(settlement: str) -> None:
    fwd = forward(start=D(2026, 2, 10), end=D(2026, 4, 30), settlement=settlement)
    exact = price(fwd, market=MARKET, model=MODEL, engine="analytic")
    mc = price(
        fwd,
        market=MARKET,
        model=MODEL,
        engine="mc",
        config=MonteCarloConfig(n_paths=20_000, seed=7, antithetic=False),
    )
    assert mc.n_paths == 20_000 and mc.seed == 7 and mc.std_error > 0
    assert abs(mc.value - exact.value) < 4 * mc.std_error
    again = price(
        fwd,
        market=MARKET,
        model=MODEL,
        engine="mc",
        config=MonteCarloConfig(n_paths=20_000, seed=7, antithetic=False),
    )
    assert again.value == mc.value  # same seed, same number


def test_antithetic_pairs_price_a_linear_payoff_exactly() -> None:
    fwd = forward(start=D(2026, 2, 10), end=D(2026, 4, 30))
    exact = price(fwd, market=MARKET, model=MODEL, engine="analytic")
    mc = price(
        fwd, market=MARKET, model=MODEL, engine="mc", config=MonteCarloConfig(n_paths=64, seed=1)
    )
    assert mc.value == pytest.approx(exact.value, rel=1e-10)


def test_a_started_average_forward_uses_the_realized_days() -> None:
    fwd = forward(start=D(2026, 1, 29), end=D(2026, 2, 3), settlement="average")
    past = Fixings.from_arrays(
        [D(2026, 1, 29), D(2026, 1, 30)], gpu_price_usd_per_gpu_hour=[2.0, 2.4]
    )
    market = ComputeMarket(asof=ASOF, gpu_price_usd_per_gpu_hour=3.1, past_fixings=past)
    exact = price(fwd, market=market, model=MODEL, engine="analytic")
    # Known: 2.0 + 2.4 + 3.1 (the as-of day's fixing is the spot); then 3 expected days.
    t = np.arange(1, 4) / 365
    total = 2.0 + 2.4 + 3.1 + float((2.5 + 0.6 * np.exp(-4 * t)).sum())
    assert exact.value == pytest.approx((total - 2.2 * 6) * 240)
    mc = price(
        fwd, market=market, model=MODEL, engine="mc", config=MonteCarloConfig(n_paths=2000, seed=2)
    )
    assert mc.value == pytest.approx(exact.value, rel=1e-9)  # antithetic: exact for linear
    with pytest.raises(PricingError, match="realized fixings"):
        price(fwd, market=MARKET, model=MODEL, engine="analytic")


def test_an_expired_compute_contract_is_refused_in_one_line() -> None:
    # Its last fixing on or before the valuation date: it settles, it is not priced (it was
    # valued at 0 without a word).
    fwd = forward(start=D(2026, 1, 1), end=D(2026, 1, 31))
    old_lease = lease(start=dt.datetime(2026, 1, 20, 8, tzinfo=dt.UTC))
    cases = ((fwd, "compute_forward", "2026-01-31"), (old_lease, "compute_lease", "2026-01-21"))
    for contract, name, last in cases:
        for engine in ("analytic", "mc"):
            with pytest.raises(PricingError) as refused:
                price(contract, market=MARKET, model=MODEL, engine=engine)
            message = str(refused.value)
            assert "\n" not in message
            assert f"{name} has nothing left to value as of {ASOF}" in message
            assert f"its last fixing is {last}" in message


@pytest.mark.parametrize("method", ["pseudo", "sobol"])
def test_compute_monte_carlo_refuses_a_method_it_does_not_run(method: str) -> None:
    config = MonteCarloConfig(n_paths=1_000, seed=1, method=method)  # type: ignore[arg-type]
    for contract in (forward(), lease()):
        with pytest.raises(PricingError, match=f"method '{method}' is not available for comp"):
            price(contract, market=MARKET, model=MODEL, config=config)
    # The plain method, the default, and the analytic engine are unaffected (antithetic
    # pairs make the linear forward exact).
    plain = price(forward(), market=MARKET, model=MODEL, config=replace(config, method="plain"))
    exact = price(forward(), market=MARKET, model=MODEL, engine="analytic", config=config)
    assert plain.value == pytest.approx(exact.value, rel=1e-9)


# -- the lease ----------------------------------------------------------------------------------

START = dt.datetime(2026, 3, 1, 20, tzinfo=dt.UTC)


def lease(**kw: object) -> ComputeLease:
    terms: dict[str, object] = {
        "gpu_model": "H100",
        "gpus": 8,
        "start": START,
        "hours": 30,
        "price_usd_per_gpu_hour": 2.0,
    }
    terms.update(kw)
    return ComputeLease(**terms)  # type: ignore[arg-type]


def delivered(values: list[float]) -> Fixings:
    return Fixings.from_arrays(
        [D(2026, 3, 1), D(2026, 3, 2), D(2026, 3, 3)], delivered_gpu_hours=values
    )


def test_lease_hours_by_day() -> None:
    # 20:00 on 1 March for 30 hours: 4 h, 24 h, 2 h, times 8 GPUs.
    assert lease().contracted_gpu_hours_by_day().tolist() == [32.0, 192.0, 16.0]
    assert lease().contracted_gpu_hours == 240 and lease().notional_usd == 480.0
    assert (lease().first_day, lease().last_day) == (D(2026, 3, 1), D(2026, 3, 2) + dt.timedelta(1))


def test_lease_cash_flows_by_hand() -> None:
    full = lease().cashflows(delivered([32, 192, 16]))[0]
    np.testing.assert_allclose(full, [-64.0, -384.0, -32.0])
    # Day 2 delivers 95 % (182.4 of 192), below the 99 % SLA: refund 2 x 9.6 = 19.2.
    short = lease().cashflows(delivered([32, 182.4, 16]))[0]
    np.testing.assert_allclose(short, [-64.0, -384.0 + 19.2, -32.0])
    # 99.5 % is within the SLA: no refund.
    within = lease().cashflows(delivered([32, 191.04, 16]))[0]
    np.testing.assert_allclose(within, [-64.0, -384.0, -32.0])
    # The lessor's side is the mirror image.
    np.testing.assert_allclose(lease(side="sell").cashflows(delivered([32, 182.4, 16]))[0], -short)


def test_lease_refund_threshold_below_the_sla() -> None:
    # Refund only when delivery is 8 % short (Virtual Mining's rule), then for all of it.
    market_rule = lease(sla_uptime_fraction=0.99, refund_threshold_fraction=0.92)
    np.testing.assert_allclose(market_rule.refunds_usd([32, 182.4, 16]), [0, 0, 0])  # 95 %
    np.testing.assert_allclose(market_rule.refunds_usd([32, 172.8, 16]), [0, 38.4, 0])  # 90 %
    # Delivery above the contract earns nothing extra.
    np.testing.assert_allclose(market_rule.refunds_usd([40, 192, 16]), [0, 0, 0])


def test_daily_delivery_from_uptime() -> None:
    days, hours = daily_delivery(lease(), [1.0, 0.5, 1.0])
    assert days == [D(2026, 3, 1), D(2026, 3, 2), D(2026, 3, 3)]
    assert hours.tolist() == [32.0, 96.0, 16.0]


def test_lease_terms_are_validated() -> None:
    with pytest.raises(SpecError, match="'start'"):
        lease(start=dt.datetime(2026, 3, 1, 20, 30, tzinfo=dt.UTC))
    with pytest.raises(SpecError, match="'start'"):
        lease(start=dt.datetime(2026, 3, 1, 20))  # naive: not UTC
    with pytest.raises(SpecError, match="'refund_threshold_fraction'"):
        lease(refund_threshold_fraction=0.995)
    with pytest.raises(SpecError, match="'gpus'"):
        lease(gpus=0)


def test_a_lease_is_an_asset_on_the_ledger(tmp_path: Path) -> None:
    from hashmarket.ledger import Account, Asset, Ledger, ManualClock, Transfer, TransferFlags

    contract = lease()
    assert contract.asset_code.startswith("GL") and len(contract.asset_code) == 16
    assert lease(gpus=9).asset_code != contract.asset_code  # the code names the terms
    code = contract.asset_code
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}", create=True,
                     clock=ManualClock(1_772_000_000 * 10**9)) as ledger:  # fmt: skip
        ledger.create_asset(Asset(code, contract.unit_scale), issuer_account_id=1, name="lessor")
        for account_id, name in ((2, "lessee"), (3, "buyer"), (4, "lender")):
            ledger.create_account(Account(id=account_id, asset=code, name=name))
        ledger.transfer(Transfer(id=10, debit_account_id=1, credit_account_id=2, amount=8))
        # Resell 3 GPUs of the lease; pledge 2 of the rest to a lender (two-phase).
        ledger.transfer(Transfer(id=11, debit_account_id=2, credit_account_id=3, amount=3))
        ledger.transfer(
            Transfer(id=12, debit_account_id=2, credit_account_id=4, amount=2,
                     flags=TransferFlags.PENDING)
        )  # fmt: skip
        lessee = ledger.account(2)
        assert (lessee.balance, lessee.available) == (5, 3)
        assert ledger.account(3).balance == 3
        # The pledge keeps the lessee from selling the pledged GPUs.
        refused = ledger.create_transfers(
            [Transfer(id=13, debit_account_id=2, credit_account_id=3, amount=4)]
        )
        assert refused[0].value != "ok"
        ledger.transfer(Transfer(id=14, pending_id=12, flags=TransferFlags.VOID_PENDING))
        assert ledger.account(2).available == 5
        assert ledger.account(1).balance == -contract.units
        ledger.verify().raise_if_broken()


def test_calibration_from_index_fixings() -> None:
    # Ten years of daily H100 fixings built from quotes that follow the model: the fit on the
    # index's own output recovers the parameters. (The long-run mean is the slow one: the
    # stationary sd is 1.2 / sqrt(8) = 0.42 and a 63-day half-life leaves about 20
    # independent looks in ten years, so its standard error is about 0.1.)
    from hashmarket.models.gpu import calibrate_gpu_fixings

    rng = np.random.default_rng(3)
    path = MODEL.simulate(2.5, days=3649, n_paths=1, rng=rng)[0]
    t0 = 1_735_689_600  # 2025-01-01
    times = np.repeat(t0 + 86_400 * np.arange(3650), 3) + 3600
    prices = np.repeat(path, 3) + np.tile([-0.01, 0.0, 0.01], 3650)
    table = QuoteTable.from_arrays(
        time_s=times,
        provider=np.tile(["a", "b", "c"], 3650),
        gpu_model=["H100"] * len(times),
        region=[""] * len(times),
        term=["on-demand"] * len(times),
        price_usd_per_gpu_hour=prices,
    )
    fit = calibrate_gpu_fixings(gpu_fixings(table), gpu_model="H100")
    assert fit.observations == 3650
    assert fit.model.mean_usd_per_gpu_hour == pytest.approx(2.5, abs=0.3)
    assert fit.model.vol_usd_per_year == pytest.approx(1.2, rel=0.05)
    assert fit.model.reversion_per_year == pytest.approx(4.0, rel=0.5)
    with pytest.raises(ModelError, match="skip days"):
        calibrate_gpu_fixings(gpu_fixings(table)[::2], gpu_model="H100")
