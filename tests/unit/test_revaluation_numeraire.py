"""The revaluation values BTC-settled positions with BTC as the numeraire, as pricing does.

A BTC amount X_t paid at t is worth E[D_usd(t) X_t S_t] / S_0 today, not D_btc(t) E[X_t]: on a
model where the hashprice moves with the BTC price the two differ by far more than the Monte
Carlo error. The checks: a BTC position's value today equals ``pricing.price`` of the same
contract on the same paths, and at zero drift and rates its USD P&L has mean zero (BTC held,
and BTC still to come, are both worth their USD value: a martingale).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import numpy as np
import pytest

from hashmarket.instruments import (
    AsianOption,
    Fixings,
    HashpriceForward,
    HashrateToken,
    OptionType,
    SettlementCurrency,
    Underlying,
)
from hashmarket.models import GBM, NetworkModel, NetworkState
from hashmarket.pricing import FlatRate, Market, MonteCarloConfig, price
from hashmarket.pricing.revaluation import monte_carlo_pnl
from hashmarket.pricing.revaluation.path import value_on_path
from hashmarket.risk.portfolio import Portfolio, Position, PositionKind
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
START, END = ASOF + dt.timedelta(days=20), ASOF + dt.timedelta(days=80)
N_PATHS, SEED, HORIZON = 4_096, 3, 10
BTC = SettlementCurrency.BTC


STRIKE, NOTIONAL = 0.0004, 25.0


def book() -> Portfolio:
    """BTC forwards at 0 and at ``STRIKE`` (affine), a BTC hashprice Asian call and hashrate
    tokens (regression), spot BTC."""
    zero = HashpriceForward(NOTIONAL, 0.0, START, END, currency=BTC)
    forward = HashpriceForward(NOTIONAL, STRIKE, START, END, currency=BTC)
    asian = AsianOption(Underlying.HASHPRICE_BTC, OptionType.CALL, 0.0004, START, END, 300.0)
    token = HashrateToken(
        ths_per_token=Decimal(100),
        efficiency_w_per_th=Decimal(15),
        power_price_usd_per_kwh=Decimal("0.05"),
        service_fee_usd_per_th_day=Decimal("0.005"),
        start=ASOF + dt.timedelta(days=3),
        end=END,
    )
    kind = PositionKind.INSTRUMENT
    return Portfolio(
        "btc",
        (
            Position("forward at 0", kind, 1.0, zero),
            Position("forward", kind, 1.0, forward),
            Position("asian", kind, 1.0, asian),
            Position("token", PositionKind.TOKEN, 50.0, token),
            Position("spot", PositionKind.SPOT_BTC, 1.0),
        ),
    )


@pytest.mark.parametrize("rates", [(0.0, 0.0), (0.05, 0.02)])
def test_value_today_of_a_btc_position_is_the_pricing_engines(rates: tuple[float, float]) -> None:
    r_usd, r_btc = rates
    market = Market(state=STATE, usd_curve=FlatRate(r_usd), btc_curve=FlatRate(r_btc))
    # The paths drift at r_usd − r_btc: the pricing measure, so pricing simulates them too.
    model = NetworkModel(price=GBM(drift_per_year=r_usd - r_btc, vol_per_year=0.6))
    portfolio = book()
    pnl, fitted, setup = monte_carlo_pnl(
        portfolio, market=market, model=model, horizon_days=HORIZON, n_paths=N_PATHS, seed=SEED
    )
    methods = [c.method for c in setup.contracts]
    assert methods == ["affine", "affine", "regression", "regression"]
    config = MonteCarloConfig(n_paths=N_PATHS, seed=SEED, antithetic=False)
    for j in (0, 2, 3):
        position = portfolio.positions[j]
        assert position.instrument is not None
        result = price(position.instrument, market=market, model=model, config=config)
        assert result.diagnostics["numeraire"] == "btc"
        value0 = fitted.value0[setup.position_contract[j]]
        assert pnl.value0_usd[j] == pytest.approx(value0 * position.quantity * 80_000, rel=1e-12)
        # The same paths, the same weights: the same number.
        assert value0 == pytest.approx(result.value, rel=1e-9)
    # The fixed leg is BTC paid on known days: its value is exact (the weights have mean one),
    # K·N·Σ D_btc(t), where the engine's estimate of it carries the noise of the weights.
    days = np.arange((START - ASOF).days, (END - ASOF).days + 1)
    fixed_leg = STRIKE * NOTIONAL * float(np.exp(-r_btc * days / 365).sum())
    assert fitted.value0[1] == pytest.approx(fitted.value0[0] - fixed_leg, rel=1e-9)
    struck = portfolio.positions[1].instrument
    assert struck is not None
    result = price(struck, market=market, model=model, config=config)
    assert abs(fitted.value0[1] - result.value) <= 5 * result.std_error


def test_btc_positions_have_no_mean_pnl_at_zero_drift_and_rates() -> None:
    market = Market(state=STATE)
    model = NetworkModel(price=GBM(drift_per_year=0.0, vol_per_year=0.6))
    pnl, _, _ = monte_carlo_pnl(
        book(), market=market, model=model, horizon_days=HORIZON, n_paths=N_PATHS, seed=SEED
    )
    by_position = pnl.position_pnl()
    # The struck forward's fixed leg is valued exactly today and at S_h on day h: its P&L
    # carries K·N·days·(mean S_h − S_0), the paths' sampling error of the price, on top.
    fixed_leg = STRIKE * NOTIONAL * ((END - START).days + 1)
    known = np.zeros(by_position.shape[1])
    known[1] = -fixed_leg * (float(pnl.price_h_usd.mean()) - 80_000.0)
    for j in range(by_position.shape[1]):
        sample = by_position[:, j]
        error = float(sample.std(ddof=1)) / math.sqrt(len(sample))
        # Averaging the BTC amounts under the USD measure left the forwards, the Asian call
        # and the tokens with a mean P&L of many standard errors (the value today too low).
        assert abs(float(sample.mean()) - known[j]) <= 4 * error, pnl.names[j]


def test_stress_value_weights_btc_after_the_horizon_by_the_paths_forward() -> None:
    # On a path that keeps growing at the model's drift after H, the weights are one, and the
    # BTC still to come is worth D_btc · X in BTC; on a path held flat they are e^{-μ τ}.
    drift = 0.2
    model = NetworkModel(price=GBM(drift_per_year=drift, vol_per_year=0.6))
    market = Market(state=STATE, btc_curve=FlatRate(0.02))
    forward = HashpriceForward(10.0, 0.0, START, END, currency=BTC)
    n = (END - ASOF).days + 1
    days = np.arange(n, dtype=np.float64)
    hp = np.full((1, n), 0.0005)
    growing = 80_000.0 * np.exp(drift * days / 365)[None, :]
    flat = np.full((1, n), 80_000.0)
    dates = np.datetime64(ASOF, "D") + np.arange(n)
    expected = 10.0 * 0.0005 * np.exp(-0.02 * (days[20:] - HORIZON) / 365)
    for prices, weight in ((growing, 1.0), (flat, np.exp(-drift * (days[20:] - HORIZON) / 365))):
        fixings = Fixings(dates=dates, values={"price_usd": prices, "hashprice_btc_per_ph_day": hp})
        value = value_on_path(
            forward, fixings=fixings, market=market, model=model, horizon_days=HORIZON
        )
        price_h = float(prices[0, HORIZON])
        assert value == pytest.approx(float((expected * weight).sum()) * price_h, rel=1e-12)
