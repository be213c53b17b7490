"""Closed forms against their formulas, parity, Greeks by finite differences, curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hashmarket.pricing import (
    FlatRate,
    ZeroCurve,
    black76_greeks,
    black76_price,
    black_scholes_greeks,
    black_scholes_price,
    merton_price,
)


def norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def black76_by_hand(f: float, k: float, t: float, vol: float, df: float, call: bool) -> float:
    d1 = (math.log(f / k) + 0.5 * vol * vol * t) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    if call:
        return df * (f * norm_cdf(d1) - k * norm_cdf(d2))
    return df * (k * norm_cdf(-d2) - f * norm_cdf(-d1))


@pytest.mark.parametrize(
    ("f", "k", "t", "vol", "r"),
    [
        (20.0, 20.0, 4 / 12, 0.25, 0.09),
        (80_000, 90_000, 0.5, 0.55, 0.04),
        (38.0, 30.0, 0.1, 0.8, 0),
    ],
)
@pytest.mark.parametrize("call", [True, False])
def test_black76_matches_its_formula(
    f: float, k: float, t: float, vol: float, r: float, call: bool
) -> None:
    df = math.exp(-r * t)
    value = float(
        black76_price(
            forward=f, strike=k, expiry_years=t, vol=vol, discount_factor=df, is_call=call
        )
    )
    assert value == pytest.approx(black76_by_hand(f, k, t, vol, df, call), rel=1e-12)


def test_black76_textbook_futures_put() -> None:
    # A European put on a futures contract: F = K = 20, r = 9 %, T = 4 months, σ = 25 %.
    value = black76_price(
        forward=20,
        strike=20,
        expiry_years=4 / 12,
        vol=0.25,
        discount_factor=math.exp(-0.03),
        is_call=False,
    )
    assert float(value) == pytest.approx(1.1166, abs=1e-4)


def test_put_call_parity_vectorized() -> None:
    rng = np.random.default_rng(0)
    n = 10_000
    f = rng.uniform(10, 200, n)
    k = rng.uniform(10, 200, n)
    t = rng.uniform(0.01, 3, n)
    vol = rng.uniform(0.05, 1.5, n)
    df = rng.uniform(0.8, 1.0, n)
    call = black76_price(forward=f, strike=k, expiry_years=t, vol=vol, discount_factor=df)
    put = black76_price(
        forward=f, strike=k, expiry_years=t, vol=vol, discount_factor=df, is_call=False
    )
    np.testing.assert_allclose(call - put, df * (f - k), atol=1e-9)
    s, r, q = f, 0.05, 0.02
    c = black_scholes_price(spot=s, strike=k, expiry_years=t, vol=vol, rate=r, dividend_yield=q)
    p = black_scholes_price(
        spot=s, strike=k, expiry_years=t, vol=vol, rate=r, dividend_yield=q, is_call=False
    )
    np.testing.assert_allclose(c - p, s * np.exp(-q * t) - k * np.exp(-r * t), atol=1e-9)


def test_black_scholes_textbook_call_and_greeks() -> None:
    g = black_scholes_greeks(spot=100, strike=100, expiry_years=1, vol=0.2, rate=0.05)
    assert float(g.price) == pytest.approx(10.4506, abs=1e-4)
    assert float(g.delta) == pytest.approx(0.6368, abs=1e-4)
    assert float(g.gamma) == pytest.approx(0.018762, abs=1e-6)
    assert float(g.vega) == pytest.approx(37.524, abs=1e-3)
    assert float(g.rho) == pytest.approx(53.232, abs=1e-3)


@pytest.mark.parametrize("call", [True, False])
def test_black76_greeks_are_derivatives_of_the_price(call: bool) -> None:
    args = {"forward": 37.0, "strike": 40.0, "expiry_years": 0.4, "vol": 0.6}
    df = 0.98
    g = black76_greeks(discount_factor=df, is_call=call, **args)

    def p(**bump: float) -> float:
        a = {**args, "discount_factor": df, **bump}
        return float(black76_price(is_call=call, **a))

    h = 1e-4
    f, vol, t = args["forward"], args["vol"], args["expiry_years"]
    assert float(g.delta) == pytest.approx(
        (p(forward=f + h) - p(forward=f - h)) / (2 * h), rel=1e-6
    )
    gamma = (p(forward=f + h) - 2 * p() + p(forward=f - h)) / h**2
    assert float(g.gamma) == pytest.approx(gamma, rel=1e-4)
    assert float(g.vega) == pytest.approx((p(vol=vol + h) - p(vol=vol - h)) / (2 * h), rel=1e-6)
    theta = (p(expiry_years=t + h) - p(expiry_years=t - h)) / (2 * h)
    assert float(g.theta) == pytest.approx(theta, rel=1e-6)


def test_degenerate_inputs_give_discounted_intrinsic_value() -> None:
    value = black76_price(
        forward=[50.0, 50.0, 50.0],
        strike=[40.0, 60.0, 40.0],
        expiry_years=[0.0, 1.0, 1.0],
        vol=[0.5, 0.0, 0.0],
        discount_factor=0.9,
        is_call=[True, False, False],
    )
    np.testing.assert_allclose(value, [9.0, 9.0, 0.0])


def test_merton_reduces_to_black_scholes_without_jumps_and_adds_value_with_them() -> None:
    bs = float(black_scholes_price(spot=100, strike=110, expiry_years=0.5, vol=0.4, rate=0.03))
    no_jumps = merton_price(
        spot=100,
        strike=110,
        expiry_years=0.5,
        vol=0.4,
        jumps_per_year=0.0,
        jump_mean_log=-0.1,
        jump_std_log=0.1,
        rate=0.03,
    )
    assert no_jumps == pytest.approx(bs, rel=1e-12)
    jumps = merton_price(
        spot=100,
        strike=110,
        expiry_years=0.5,
        vol=0.4,
        jumps_per_year=5.0,
        jump_mean_log=0.0,
        jump_std_log=0.1,
        rate=0.03,
    )
    assert jumps > bs
    # Parity holds for Merton too: the jump compensator keeps E[S_T] = S e^{rT}.
    call = merton_price(
        spot=100,
        strike=110,
        expiry_years=0.5,
        vol=0.4,
        jumps_per_year=3.0,
        jump_mean_log=-0.05,
        jump_std_log=0.15,
        rate=0.03,
    )
    put = merton_price(
        spot=100,
        strike=110,
        expiry_years=0.5,
        vol=0.4,
        jumps_per_year=3.0,
        jump_mean_log=-0.05,
        jump_std_log=0.15,
        rate=0.03,
        is_call=False,
    )
    assert call - put == pytest.approx(100 - 110 * math.exp(-0.03 * 0.5), abs=1e-9)


def test_black76_prices_a_million_options_at_once() -> None:
    n = 1_000_000
    values = black76_price(
        forward=np.full(n, 40.0), strike=np.linspace(20, 60, n), expiry_years=0.5, vol=0.6
    )
    assert values.shape == (n,) and np.isfinite(values).all()


def test_zero_curve_interpolates_log_discount_factors() -> None:
    curve = ZeroCurve((0.5, 1.0, 2.0), (0.03, 0.04, 0.05))
    np.testing.assert_allclose(
        curve.discount_factor([0.5, 1.0, 2.0]), np.exp(-np.array([0.015, 0.04, 0.10]))
    )
    # Halfway between 1 and 2 years, r·t is halfway between 0.04 and 0.10.
    assert float(curve.discount_factor(1.5)) == pytest.approx(math.exp(-0.07))
    assert curve.zero_rate(3.0) == pytest.approx(0.05)  # flat beyond the last pillar
    assert curve.zero_rate(0.25) == pytest.approx(0.03)  # flat before the first
    assert curve.shifted(10).zero_rate(1.0) == pytest.approx(0.041)
    assert float(FlatRate(0.05).discount_factor(2.0)) == pytest.approx(math.exp(-0.1))
