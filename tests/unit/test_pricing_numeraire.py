"""BTC-settled contracts are valued with BTC as the numeraire: E_usd[D_usd(t) X_t S_t] / S_0.

Each BTC-settled instrument is checked at a fixed seed against a closed form or a USD
replication, on a model where the hashprice moves with the BTC price (so averaging the BTC
amounts under the USD measure, the former engine's error, fails these checks by far more than
their standard errors).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from hashmarket.instruments import (
    AsianOption,
    DualCurrencyKind,
    DualCurrencyNote,
    EpochValueFuture,
    EuropeanOption,
    Fixings,
    HashpriceForward,
    HashrateToken,
    OptionType,
    SettlementCurrency,
    Tranche,
    Underlying,
    YieldSplitNote,
)
from hashmarket.models import (
    GBM,
    BlockArrivals,
    FeeParams,
    HashrateParams,
    NetworkModel,
    NetworkState,
    ScenarioConfig,
    Scenarios,
)
from hashmarket.pricing import FlatRate, Market, MonteCarloConfig, black_scholes_price, price
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
R_USD, R_BTC = 0.05, 0.02
MARKET = Market(state=STATE, usd_curve=FlatRate(R_USD), btc_curve=FlatRate(R_BTC))
# Hashrate responds to USD profitability (κ = 0.4) and its shocks are correlated with the
# price's: the BTC hashprice is not independent of the BTC price.
MODEL = NetworkModel(price=GBM(drift_per_year=0.0, vol_per_year=0.6))
CONFIG = MonteCarloConfig(n_paths=20_000, seed=5)
START, END = ASOF + dt.timedelta(days=30), ASOF + dt.timedelta(days=120)


def within(value: float, std_error: float, expected: float, k: float = 4.0) -> bool:
    return abs(value - expected) <= k * std_error


def years(day: dt.date) -> float:
    return (day - ASOF).days / 365


def quiet_network(price_vol: float) -> NetworkModel:
    """Every network quantity deterministic and independent of the price."""
    return NetworkModel(
        price=GBM(drift_per_year=0.0, vol_per_year=price_vol),
        hashrate=HashrateParams(
            vol_per_year=0.0,
            growth_per_year=0.3,
            profitability_sensitivity=0.0,
            fleet_cost_usd_per_ph_day=1.0,
            price_correlation=0.0,
        ),
        fees=FeeParams(mean_log_btc=math.log(0.02), reversion_per_year=50.0, vol_per_year=0.0),
        block_arrivals=BlockArrivals.EXPECTED,
    )


def quiet_path(days: int) -> Fixings:
    """The one path every path of :func:`quiet_network` shares (its network fields)."""
    scenarios = Scenarios(quiet_network(0.0), STATE, days, ScenarioConfig(n_paths=1, seed=0))
    return Fixings.from_scenarios(scenarios.materialize())


def test_take_profit_note_matches_its_closed_form() -> None:
    # R BTC if S_T <= K, else R·K USD: in BTC, R·E[D_usd min(S_T, K)] / S_0 = R (e^{-qT} − C/S_0).
    note = DualCurrencyNote(
        kind=DualCurrencyKind.TAKE_PROFIT,
        deposit=1.0,
        strike_usd=90_000,
        start=ASOF,
        expiry=END,
        coupon_rate_per_year=0.15,
    )
    t = years(END)
    call = float(
        black_scholes_price(
            spot=80_000, strike=90_000, expiry_years=t, vol=0.6, rate=R_USD, dividend_yield=R_BTC
        )
    )
    expected = note.redemption * (math.exp(-R_BTC * t) - call / 80_000)
    result = price(note, market=MARKET, model=MODEL, config=CONFIG)
    assert result.currency == "btc" and result.diagnostics["numeraire"] == "btc"
    assert within(result.value, result.std_error, expected)
    # Averaging the BTC amounts under the USD measure instead misses by far more.
    usd_measure = note.redemption * math.exp(-R_BTC * t) * (1 - _prob_above(90_000, t))
    usd_measure += note.redemption * 90_000 * math.exp(-R_BTC * t) * _e_inverse_above(90_000, t)
    assert abs(usd_measure - expected) > 20 * result.std_error


def _prob_above(strike: float, t: float) -> float:
    """P_usd[S_t > K] under the simulation's drift."""
    from scipy.stats import norm

    s = 0.6 * math.sqrt(t)
    d2 = (math.log(80_000 / strike) + (R_USD - R_BTC - 0.18) * t) / s
    return float(norm.cdf(d2))


def _e_inverse_above(strike: float, t: float) -> float:
    """E_usd[1{S_t > K} / S_t]: a log-normal partial moment of order −1."""
    from scipy.stats import norm

    s = 0.6 * math.sqrt(t)
    m = math.log(80_000) + (R_USD - R_BTC - 0.18) * t
    return float(math.exp(-m + 0.5 * s * s) * norm.cdf((m - s * s - math.log(strike)) / s))


def test_btc_forward_is_the_usd_forward_less_btc_bought_forward() -> None:
    # (hp_btc − K) N BTC a day = hp_usd N USD − K N BTC: the USD leg in BTC at today's price,
    # the BTC leg is K N e^{-q t} a day.
    k, n = 0.0004, 25.0
    btc = HashpriceForward(n, k, START, END, currency=SettlementCurrency.BTC)
    usd = HashpriceForward(n, 0.0, START, END, currency=SettlementCurrency.USD)
    a = price(btc, market=MARKET, model=MODEL, config=CONFIG)
    b = price(usd, market=MARKET, model=MODEL, config=CONFIG)
    days = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
    fixed_leg = k * n * sum(math.exp(-R_BTC * years(d)) for d in days)
    expected = b.value / 80_000 - fixed_leg
    assert within(a.value, a.std_error + b.std_error / 80_000, expected)
    assert abs(a.value - expected) < 0.01 * abs(expected)


def test_btc_pool_of_a_yield_split_is_the_usd_pool_at_spot() -> None:
    btc = YieldSplitNote(10.0, START, END, 0.0004, Tranche.POOL, SettlementCurrency.BTC)
    usd = replace(btc, currency=SettlementCurrency.USD)
    a = price(btc, market=MARKET, model=MODEL, config=CONFIG)
    b = price(usd, market=MARKET, model=MODEL, config=CONFIG)
    # Flat curves: D_btc(t) S_t / F_t = D_usd(t) S_t / S_0 on every path.
    assert a.value == pytest.approx(b.value / 80_000, rel=1e-9)
    senior = price(replace(btc, tranche=Tranche.SENIOR), market=MARKET, model=MODEL, config=CONFIG)
    junior = price(replace(btc, tranche=Tranche.JUNIOR), market=MARKET, model=MODEL, config=CONFIG)
    assert senior.value + junior.value == pytest.approx(a.value, rel=1e-9)


@pytest.mark.parametrize("kind", ["european", "asian"])
def test_btc_hashprice_options_on_a_quiet_network(kind: str) -> None:
    # The network deterministic: the payoff X is known and its BTC value is D_btc X whatever
    # the price does (the S_t / F_t weights average to one).
    path = quiet_path((END - ASOF).days)
    _, hp = path.window("hashprice_btc_per_ph_day", START, END, instrument="test")
    strike = float(hp.min()) * 0.97
    if kind == "european":
        option: EuropeanOption | AsianOption = EuropeanOption(
            Underlying.HASHPRICE_BTC, OptionType.CALL, strike, END, 300.0
        )
        payoff = max(float(hp[0, -1]) - strike, 0.0)
    else:
        option = AsianOption(Underlying.HASHPRICE_BTC, OptionType.CALL, strike, START, END, 300.0)
        payoff = max(float(hp.mean()) - strike, 0.0)
    assert payoff > 0
    result = price(option, market=MARKET, model=quiet_network(0.6), config=CONFIG)
    expected = 300.0 * payoff * math.exp(-R_BTC * years(END))
    assert within(result.value, result.std_error, expected)


def test_btc_hashprice_call_less_put_is_the_one_day_btc_forward() -> None:
    call = EuropeanOption(Underlying.HASHPRICE_BTC, OptionType.CALL, 0.0004, END, 300.0)
    put = replace(call, option_type=OptionType.PUT)
    fwd = HashpriceForward(300.0, 0.0004, END, END, currency=SettlementCurrency.BTC)
    c, p, f = (price(i, market=MARKET, model=MODEL, config=CONFIG) for i in (call, put, fwd))
    assert c.value - p.value == pytest.approx(f.value, rel=1e-9)


def test_epoch_value_future_on_a_quiet_network() -> None:
    height = (STATE.height // 2016 + 2) * 2016
    future = EpochValueFuture(notional_phs=100, price_btc_per_ph=0.006, maturity_height=height)
    _, last = future.fixing_window(asof=ASOF, height=STATE.height)
    path = quiet_path((last - ASOF).days)
    amounts = future.cashflows(path)[0]
    (day,) = np.flatnonzero(amounts)
    expected = float(amounts[day]) * math.exp(-R_BTC * day / 365)
    result = price(future, market=MARKET, model=quiet_network(0.6), config=CONFIG)
    assert within(result.value, result.std_error, expected)


def test_hashrate_token_is_a_strip_of_calls_on_the_btc_price() -> None:
    # The day's pool is max(G − c/S_t, 0) BTC (G the BTC the hashrate earns, c the USD costs):
    # worth max(G S_t − c, 0) USD, i.e. G calls struck at c/G, in BTC at today's price.
    token = HashrateToken(
        ths_per_token=Decimal(100),
        efficiency_w_per_th=Decimal(15),
        power_price_usd_per_kwh=Decimal("0.08"),
        service_fee_usd_per_th_day=Decimal("0.005"),
        start=START,
        end=START + dt.timedelta(days=29),
    )
    path = quiet_path((token.end - ASOF).days)
    _, hp = path.window("hashprice_btc_per_ph_day", token.start, token.end, instrument="test")
    gross_btc = hp[0] * 0.1  # 100 TH/s = 0.1 PH/s, uptime 1
    cost_usd = (15 * 100 * 24 / 1000) * 0.08 + 0.005 * 100
    t = np.array([years(token.start + dt.timedelta(days=i)) for i in range(len(gross_btc))])
    calls = black_scholes_price(
        spot=80_000,
        strike=cost_usd / gross_btc,
        expiry_years=t,
        vol=0.6,
        rate=R_USD,
        dividend_yield=R_BTC,
    )
    expected = float((gross_btc * calls).sum() / 80_000)
    result = price(token, market=MARKET, model=quiet_network(0.6), config=CONFIG)
    # Pools are whole sats (floored): at most 1 sat a day below the formula.
    assert within(result.value, result.std_error, expected - 0.5 * len(t) / 1e8, k=4.5)
