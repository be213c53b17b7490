"""The AI-compute factor in portfolio risk: compute contracts revalued on GPU-price paths
against their closed forms, the factor's correlation with the network drivers, and a book
with compute positions through ``portfolio_report``."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from hashmarket.chain import NetworkHistory
from hashmarket.instruments import ComputeForward, ComputeLease, ForwardSettlement
from hashmarket.models import Calibration, GpuPriceModel
from hashmarket.pricing import (
    ComputeMarket,
    FlatRate,
    Market,
    MonteCarloConfig,
    ValuationSetup,
    calibrated,
    market_for,
    price,
)
from hashmarket.pricing.revaluation import compute_factor, gpu_horizon_paths, horizon_values
from hashmarket.risk import portfolio_report
from hashmarket.risk.portfolio import Portfolio, Position, PositionKind

MODEL = GpuPriceModel(mean_usd_per_gpu_hour=2.5, reversion_per_year=4.0, vol_usd_per_year=1.2)
ASOF = dt.date(2026, 1, 31)
MARKET = ComputeMarket(asof=ASOF, gpu_price_usd_per_gpu_hour=3.1)
H = 10
FORWARD = ComputeForward(
    gpu_model="H100",
    gpus=64,
    fixed_price_usd_per_gpu_hour=2.4,
    start=dt.date(2026, 3, 1),
    end=dt.date(2026, 3, 31),
)
LEASE = ComputeLease(
    gpu_model="H100",
    gpus=8,
    start=dt.datetime(2026, 2, 5, tzinfo=dt.UTC),
    hours=24 * 20,
    price_usd_per_gpu_hour=2.2,
)


def analytic(instrument: ComputeForward | ComputeLease, market: ComputeMarket) -> float:
    config = MonteCarloConfig(n_paths=2, seed=0)
    return price(instrument, market=market, model=MODEL, config=config, engine="analytic").value


def paths(n: int, seed: int = 5) -> np.ndarray:
    factor = np.random.default_rng(seed).standard_normal(n)
    return gpu_horizon_paths(
        MODEL, 3.1, horizon_days=H, factor=factor, rng=np.random.default_rng(seed + 1)
    )


@pytest.mark.parametrize(
    "instrument",
    [
        FORWARD,
        LEASE,
        ComputeForward(
            "H100", 10, 2.0, ASOF, dt.date(2026, 2, 20), settlement=ForwardSettlement.AVERAGE
        ),
    ],
    ids=["daily forward", "lease", "average forward"],
)
def test_value_today_is_the_analytic_engine_value(
    instrument: ComputeForward | ComputeLease,
) -> None:
    market = ComputeMarket(asof=ASOF, gpu_price_usd_per_gpu_hour=3.1, usd_curve=FlatRate(0.05))
    value0, _ = horizon_values(instrument, market=market, model=MODEL, gpu_paths=paths(4))
    assert value0 == pytest.approx(analytic(instrument, market), rel=1e-12)


def test_the_terminal_price_is_its_mean_plus_sigma_times_the_factor() -> None:
    factor = np.array([-1.5, 0.0, 0.7, 2.0])
    p = gpu_horizon_paths(MODEL, 3.1, horizon_days=H, factor=factor, rng=np.random.default_rng(2))
    t = H / 365
    expected = float(MODEL.expected_price(3.1, t)) + math.sqrt(float(MODEL.variance(t))) * factor
    assert p[:, -1] == pytest.approx(expected, rel=1e-12)
    assert (p[:, 0] == 3.1).all()


def test_horizon_pnl_against_the_closed_form() -> None:
    # Every fixing of the March forward is after day h: its value on day h (zero rates) is
    # 64 × 24 × Σ_t (θ + (P_h − θ) e^{−κ(t − h)} − K), so the P&L is
    # 64 × 24 × Σ_t e^{−κ(t − h)} × (P_h − E[P_h]): mean 0, s.d. that × σ_h.
    n = 20_000
    value0, value_h = horizon_values(FORWARD, market=MARKET, model=MODEL, gpu_paths=paths(n))
    days_after_h = np.arange((FORWARD.start - ASOF).days, (FORWARD.end - ASOF).days + 1) - H
    slope = 64 * 24 * float(np.exp(-4.0 * days_after_h / 365).sum())
    sd = slope * math.sqrt(float(MODEL.variance(H / 365)))
    pnl = value_h - value0
    assert abs(pnl.mean()) < 4 * sd / math.sqrt(n)
    assert abs(pnl.std(ddof=1) - sd) < 4 * sd / math.sqrt(2 * (n - 1))


def test_factor_correlation_with_the_drivers() -> None:
    n = 40_000
    rng = np.random.default_rng(9)
    btc = rng.standard_normal(n)
    hashprice = 0.6 * btc + 0.8 * rng.standard_normal(n)  # correlated drivers
    drivers = np.column_stack([btc, hashprice])
    z, shrunk = compute_factor(drivers, np.array([0.3, 0.5]), np.random.default_rng(4))
    assert not shrunk
    tolerance = 4 / math.sqrt(n)
    assert np.corrcoef(z, btc)[0, 1] == pytest.approx(0.3, abs=tolerance)
    assert np.corrcoef(z, hashprice)[0, 1] == pytest.approx(0.5, abs=tolerance)
    assert z.std() == pytest.approx(1.0, abs=tolerance * 2)
    # Zero correlation: the factor is the independent draw, whatever the drivers.
    z0, _ = compute_factor(drivers, np.zeros(2), np.random.default_rng(4))
    assert z0 == pytest.approx(np.random.default_rng(4).standard_normal(n))
    # ρ inconsistent with the drivers (corr 0.6 between them; 0.95 and −0.95 cannot both hold).
    _, shrunk = compute_factor(drivers, np.array([0.95, -0.95]), np.random.default_rng(4))
    assert shrunk


@pytest.fixture(scope="module")
def setting() -> tuple[NetworkHistory, Calibration, Market]:
    history = NetworkHistory.load()
    calibration = calibrated(history, ValuationSetup())
    return history, calibration, market_for(calibration, ValuationSetup())


def test_a_book_with_compute_positions(setting: tuple[NetworkHistory, Calibration, Market]) -> None:
    history, calibration, market = setting
    book = Portfolio(
        "mixed",
        (
            Position("BTC", PositionKind.SPOT_BTC, 2.0),
            Position("H100 forward", PositionKind.INSTRUMENT, 3.0, FORWARD),
        ),
    )
    report = portfolio_report(
        book,
        history=history,
        model=calibration.model,
        market=market,
        n_paths=400,
        seed=3,
        historical=False,
    )
    mc = report.monte_carlo
    names = [p.name for p in mc.positions]
    assert names == ["BTC", "H100 forward"]
    # Today's value of the forward: 3 × the analytic engine's, on the index spot and model.
    factor = report.gpu_factors[0]
    gpu_market = ComputeMarket(
        asof=market.asof,
        gpu_price_usd_per_gpu_hour=factor.setup.market.gpu_price_usd_per_gpu_hour,
    )
    config = MonteCarloConfig(n_paths=2, seed=0)
    one = price(
        FORWARD, market=gpu_market, model=factor.setup.model, config=config, engine="analytic"
    )
    assert mc.positions[1].value0_usd == pytest.approx(3 * one.value, rel=1e-9)
    # The bundled GPU-hour history is too short: zero correlation, said with the count.
    assert not factor.correlation.estimated and factor.correlation.gpu_btc == 0.0
    assert any("too short" in note for note in mc.notes)
    assert report.to_dict()["gpu_factors"][0]["correlation"]["observations"] == (
        factor.correlation.observations
    )
    # The stress scenarios value the network positions; the compute one is held out.
    assert report.stress_names == ("BTC",)
    only = portfolio_report(
        Portfolio("gpu only", (book.positions[1],)),
        history=history,
        model=calibration.model,
        market=market,
        n_paths=400,
        seed=3,
    )
    # Same seed, same GPU paths: the forward's P&L is the same alone as in the mixed book.
    assert only.monte_carlo.positions[0].std_pnl_usd == pytest.approx(
        mc.positions[1].std_pnl_usd, rel=1e-12
    )
    assert only.historical is None and only.stress == ()
