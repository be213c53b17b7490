"""The Monte Carlo engine against closed forms (within a few standard errors at a fixed
seed), deterministic scenarios, decomposition identities, Greeks and configuration."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import numpy as np
import pytest

from hashmarket.chain.consensus import block_subsidy_sats
from hashmarket.errors import PricingError
from hashmarket.index.hashprice import hashprice_btc_per_ph_day
from hashmarket.instruments import (
    AsianOption,
    Collar,
    DualCurrencyKind,
    DualCurrencyNote,
    EuropeanOption,
    Fixings,
    HashpriceForward,
    OptionType,
    SharkFinNote,
    Tranche,
    Underlying,
    YieldSplitNote,
)
from hashmarket.models import (
    GBM,
    BlockArrivals,
    FeeParams,
    HashrateParams,
    MertonJumpDiffusion,
    NetworkModel,
    NetworkState,
)
from hashmarket.pricing import (
    FlatRate,
    Market,
    MonteCarloConfig,
    black_scholes_greeks,
    black_scholes_price,
    engines_for,
    merton_price,
    price,
)
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
MARKET = Market(state=STATE, usd_curve=FlatRate(0.04), btc_curve=FlatRate(0.01))
EXPIRY = ASOF + dt.timedelta(days=120)
T = 120 / 365


def within(result_value: float, std_error: float, expected: float, k: float = 4.0) -> bool:
    return abs(result_value - expected) <= k * std_error


@pytest.mark.parametrize("option_type", [OptionType.CALL, OptionType.PUT])
@pytest.mark.parametrize("strike", [70_000.0, 90_000.0])
def test_mc_european_on_gbm_within_four_standard_errors_of_black_scholes(
    option_type: OptionType, strike: float
) -> None:
    option = EuropeanOption(
        underlying=Underlying.BTC_USD,
        option_type=option_type,
        strike=strike,
        expiry=EXPIRY,
        quantity=2.0,
    )
    mc = price(option, market=MARKET, model=MODEL, config=MonteCarloConfig(n_paths=20_000, seed=7))
    bs = 2.0 * float(
        black_scholes_price(
            spot=80_000,
            strike=strike,
            expiry_years=T,
            vol=0.5,
            rate=0.04,
            dividend_yield=0.01,
            is_call=option_type is OptionType.CALL,
        )
    )
    analytic = price(option, market=MARKET, model=MODEL, engine="analytic")
    assert analytic.value == pytest.approx(bs, rel=1e-12)
    assert analytic.std_error == 0.0
    assert mc.std_error > 0 and mc.n_paths == 20_000 and mc.seed == 7
    assert within(mc.value, mc.std_error, bs)


def test_mc_merton_within_four_standard_errors_of_the_series() -> None:
    model = replace(
        MODEL,
        price=MertonJumpDiffusion(
            drift_per_year=0.0,
            vol_per_year=0.4,
            jumps_per_year=6.0,
            jump_mean_log=-0.03,
            jump_std_log=0.08,
        ),
    )
    option = EuropeanOption(
        underlying=Underlying.BTC_USD,
        option_type=OptionType.PUT,
        strike=75_000.0,
        expiry=EXPIRY,
        quantity=1.0,
    )
    mc = price(option, market=MARKET, model=model, config=MonteCarloConfig(n_paths=20_000, seed=3))
    expected = merton_price(
        spot=80_000,
        strike=75_000,
        expiry_years=T,
        vol=0.4,
        jumps_per_year=6.0,
        jump_mean_log=-0.03,
        jump_std_log=0.08,
        rate=0.04,
        dividend_yield=0.01,
        is_call=False,
    )
    assert within(mc.value, mc.std_error, expected)
    assert price(option, market=MARKET, model=model, engine="analytic").value == pytest.approx(
        expected
    )


def test_asian_with_one_fixing_prices_as_the_european() -> None:
    config = MonteCarloConfig(n_paths=4_000, seed=11)
    for underlying in (Underlying.BTC_USD, Underlying.HASHPRICE_USD):
        strike = 80_000.0 if underlying is Underlying.BTC_USD else 36.0
        euro = EuropeanOption(
            underlying=underlying,
            option_type=OptionType.CALL,
            strike=strike,
            expiry=EXPIRY,
            quantity=1.0,
        )
        asian = AsianOption(
            underlying=underlying,
            option_type=OptionType.CALL,
            strike=strike,
            averaging_start=EXPIRY,
            averaging_end=EXPIRY,
            quantity=1.0,
        )
        a = price(euro, market=MARKET, model=MODEL, config=config)
        b = price(asian, market=MARKET, model=MODEL, config=config)
        assert a.value == b.value and a.std_error == b.std_error


def deterministic_model() -> NetworkModel:
    return NetworkModel(
        price=GBM(drift_per_year=0.0, vol_per_year=0.0),
        hashrate=HashrateParams(
            vol_per_year=0.0,
            growth_per_year=0.0,
            profitability_sensitivity=0.0,
            fleet_cost_usd_per_ph_day=1.0,
            price_correlation=0.0,
        ),
        fees=FeeParams(mean_log_btc=math.log(0.02), reversion_per_year=50.0, vol_per_year=0.0),
        block_arrivals=BlockArrivals.EXPECTED,
    )


def test_forward_on_a_deterministic_scenario_equals_its_analytic_value() -> None:
    # Hashrate exactly matches difficulty: 144 blocks a day, the epoch takes 14 days, and the
    # only retarget in the window raises difficulty by Core's 2016/2015.
    start, end = ASOF + dt.timedelta(days=1), ASOF + dt.timedelta(days=60)
    fwd = HashpriceForward(notional_phs=10, fixed_price_per_ph_day=35.0, start=start, end=end)
    state = replace(STATE, height=2016 * 464 - 1, epoch_elapsed_s=0.0)
    market = Market(state=state, usd_curve=FlatRate(0.05))
    result = price(
        fwd,
        market=market,
        model=deterministic_model(),
        config=MonteCarloConfig(n_paths=4, seed=0, measure="model"),
    )
    subsidy = block_subsidy_sats(state.height + 1) / 1e8
    expected = 0.0
    d = D0
    for day in range(1, 61):
        if day == 15:  # retargets at the end of day 14 (2016 blocks at 144 a day)
            d = D0 * 2016 / 2015
        # After the first retarget blocks come slightly slower: the next retarget is later
        # than the window, so the difficulty stays put.
        hp = float(
            hashprice_btc_per_ph_day(difficulty=d, subsidy_btc=subsidy, fee_btc_per_block=0.02)
        )
        expected += (hp * 80_000 - 35.0) * 10 * math.exp(-0.05 * day / 365)
    assert result.std_error == 0.0
    assert result.value == pytest.approx(expected, rel=1e-10)


def test_collar_is_long_put_plus_short_call_in_price_too() -> None:
    config = MonteCarloConfig(n_paths=8_000, seed=5)
    common = {
        "underlying": Underlying.BTC_USD,
        "averaging_start": EXPIRY,
        "averaging_end": EXPIRY,
        "quantity": 1.0,
    }
    collar = Collar(put_strike=70_000, call_strike=95_000, **common)  # type: ignore[arg-type]
    put, call = collar.legs()
    c = price(collar, market=MARKET, model=MODEL, config=config)
    p = price(put, market=MARKET, model=MODEL, config=config)
    k = price(call, market=MARKET, model=MODEL, config=config)
    assert c.value == pytest.approx(p.value + k.value, rel=1e-12)
    bs = float(
        black_scholes_price(
            spot=80_000,
            strike=70_000,
            expiry_years=T,
            vol=0.5,
            rate=0.04,
            dividend_yield=0.01,
            is_call=False,
        )
        - black_scholes_price(
            spot=80_000, strike=95_000, expiry_years=T, vol=0.5, rate=0.04, dividend_yield=0.01
        )
    )
    assert within(c.value, c.std_error, bs)


def test_senior_plus_junior_values_equal_the_pool_value() -> None:
    config = MonteCarloConfig(n_paths=2_000, seed=2)
    common = {
        "pool_phs": 100.0,
        "start": ASOF + dt.timedelta(days=1),
        "end": ASOF + dt.timedelta(days=90),
        "senior_coupon_per_day": 0.04,
    }
    values = {
        t: price(YieldSplitNote(tranche=t, **common), market=MARKET, model=MODEL, config=config)  # type: ignore[arg-type]
        for t in Tranche
    }
    total = values[Tranche.SENIOR].value + values[Tranche.JUNIOR].value
    assert total == pytest.approx(values[Tranche.POOL].value, rel=1e-12)
    assert values[Tranche.SENIOR].value <= 0.04 * 90


def test_notes_decompose_into_bonds_and_options() -> None:
    config = MonteCarloConfig(n_paths=20_000, seed=9)
    bs = {
        k: float(
            black_scholes_price(
                spot=80_000, strike=k, expiry_years=T, vol=0.5, rate=0.04, dividend_yield=0.01
            )
        )
        for k in (80_000, 96_000)
    }
    df = math.exp(-0.04 * T)
    shark = SharkFinNote(
        principal_usd=100_000, strike_date=ASOF, expiry=EXPIRY, participation=0.7, cap=1.2
    )
    r = price(shark, market=MARKET, model=MODEL, config=config)
    expected = 100_000 * df + 100_000 * 0.7 / 80_000 * (bs[80_000] - bs[96_000])
    assert within(r.value, r.std_error, expected)
    note = DualCurrencyNote(
        kind=DualCurrencyKind.BUY_THE_DIP,
        deposit=50_000,
        strike_usd=76_000,
        start=ASOF,
        expiry=EXPIRY,
        coupon_rate_per_year=0.2,
    )
    put = float(
        black_scholes_price(
            spot=80_000,
            strike=76_000,
            expiry_years=T,
            vol=0.5,
            rate=0.04,
            dividend_yield=0.01,
            is_call=False,
        )
    )
    r = price(note, market=MARKET, model=MODEL, config=config)
    redemption = note.redemption
    assert within(r.value, r.std_error, redemption * df - redemption / 76_000 * put)


def test_target_standard_error_adds_paths_until_reached() -> None:
    option = EuropeanOption(
        underlying=Underlying.BTC_USD,
        option_type=OptionType.CALL,
        strike=85_000,
        expiry=ASOF + dt.timedelta(days=30),
        quantity=1.0,
    )
    config = MonteCarloConfig(n_paths=None, target_std_error=25.0, seed=1, stream_paths=256)
    result = price(option, market=MARKET, model=MODEL, config=config)
    assert result.std_error <= 25.0
    assert result.n_paths > 8 * 256
    assert result.diagnostics["target_met"] is True
    # The batches are the first n paths of the same streams: one run of n paths agrees.
    again = price(
        option,
        market=MARKET,
        model=MODEL,
        config=MonteCarloConfig(n_paths=result.n_paths, seed=1, stream_paths=256),
    )
    assert again.value == pytest.approx(result.value, rel=1e-12)


def test_same_seed_same_price_whatever_the_threads_and_chunks() -> None:
    fwd = HashpriceForward(
        notional_phs=5, fixed_price_per_ph_day=36.0, start=ASOF, end=ASOF + dt.timedelta(days=40)
    )
    common = {"n_paths": 3_000, "seed": 4, "stream_paths": 512}
    base = price(fwd, market=MARKET, model=MODEL, config=MonteCarloConfig(**common)).value  # type: ignore[arg-type]
    for workers, chunk in [(2, 1024), (1, 2048), (2, None)]:
        config = MonteCarloConfig(workers=workers, chunk_paths=chunk, **common)  # type: ignore[arg-type]
        assert price(fwd, market=MARKET, model=MODEL, config=config).value == base


def test_bumped_greeks_agree_with_black_scholes() -> None:
    option = EuropeanOption(
        underlying=Underlying.BTC_USD,
        option_type=OptionType.CALL,
        strike=80_000,
        expiry=ASOF + dt.timedelta(days=60),
        quantity=1.0,
    )
    result = price(
        option,
        market=MARKET,
        model=MODEL,
        config=MonteCarloConfig(n_paths=20_000, seed=2, greeks=True),
    )
    g = black_scholes_greeks(
        spot=80_000, strike=80_000, expiry_years=60 / 365, vol=0.5, rate=0.04, dividend_yield=0.01
    )
    assert result.greeks["delta_per_usd"] == pytest.approx(float(g.delta), abs=0.02)
    assert result.greeks["vega_per_vol_point"] == pytest.approx(float(g.vega) / 100, rel=0.05)
    assert result.greeks["hashrate_per_pct"] == pytest.approx(0.0, abs=1e-9)
    assert result.greeks["rho_per_bp"] > 0


def test_started_contract_uses_the_realized_fixings_before_the_valuation_date() -> None:
    averaging_start = ASOF - dt.timedelta(days=9)
    option = AsianOption(
        underlying=Underlying.BTC_USD,
        option_type=OptionType.CALL,
        strike=80_000,
        averaging_start=averaging_start,
        averaging_end=ASOF + dt.timedelta(days=20),
        quantity=1.0,
    )
    with pytest.raises(PricingError, match="price_usd"):
        price(option, market=MARKET, model=MODEL, config=MonteCarloConfig(n_paths=200))
    dates = [averaging_start + dt.timedelta(days=i) for i in range(10)]
    high = Market(
        state=STATE,
        past_fixings=Fixings.from_arrays(dates, price_usd=np.full(10, 200_000.0)),
    )
    low = Market(
        state=STATE,
        past_fixings=Fixings.from_arrays(dates, price_usd=np.full(10, 20_000.0)),
    )
    config = MonteCarloConfig(n_paths=2_000, seed=1)
    assert (
        price(option, market=high, model=MODEL, config=config).value
        > price(option, market=low, model=MODEL, config=config).value
    )


def test_expired_contracts_are_refused_and_engines_are_looked_up() -> None:
    old = HashpriceForward(
        notional_phs=1,
        fixed_price_per_ph_day=1,
        start=ASOF - dt.timedelta(days=10),
        end=ASOF,
    )
    with pytest.raises(PricingError, match=f"nothing left to value as of {ASOF}: its last fix"):
        price(old, market=MARKET, model=MODEL)
    expired = EuropeanOption(
        underlying=Underlying.BTC_USD,
        option_type=OptionType.CALL,
        strike=80_000,
        expiry=ASOF - dt.timedelta(days=1),
        quantity=1,
    )
    for engine in ("mc", "analytic"):
        with pytest.raises(PricingError, match="european_option has nothing left to value"):
            price(expired, market=MARKET, model=MODEL, engine=engine)
    assert engines_for(EuropeanOption) == ["analytic", "mc"]
    with pytest.raises(PricingError, match="no 'analytic' engine for 'hashprice_forward'"):
        price(old, market=MARKET, model=MODEL, engine="analytic")
    hashprice_option = EuropeanOption(
        underlying=Underlying.HASHPRICE_USD,
        option_type=OptionType.CALL,
        strike=30,
        expiry=EXPIRY,
        quantity=1,
    )
    with pytest.raises(PricingError, match="btc_usd underlying"):
        price(hashprice_option, market=MARKET, model=MODEL, engine="analytic")


def test_configuration_is_checked() -> None:
    with pytest.raises(PricingError, match="not both"):
        MonteCarloConfig(n_paths=100, target_std_error=1.0)
    with pytest.raises(PricingError, match="n_paths"):
        MonteCarloConfig(n_paths=0)
    with pytest.raises(PricingError, match="measure"):
        MonteCarloConfig(measure="physical")  # type: ignore[arg-type]
