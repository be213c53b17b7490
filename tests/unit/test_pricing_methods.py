"""The ``pseudo`` and ``sobol`` Monte Carlo methods: against closed forms (Black-Scholes,
Merton's series, forwards, a deterministic network) within a few standard errors at a fixed
seed, against the ``plain`` method, and the control variates' means against their sample
means (a wrong mean would bias every price that uses it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import replace
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from hashmarket.errors import PricingError
from hashmarket.instruments import (
    AsianOption,
    BtcPriceSwap,
    DualCurrencyKind,
    DualCurrencyNote,
    EpochValueFuture,
    EuropeanOption,
    Fixings,
    HashpriceForward,
    OptionType,
    SettlementCurrency,
    Underlying,
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
from hashmarket.models.qmc import BridgeSchedule, scrambled_sobol, sobol_normals
from hashmarket.pricing import (
    FlatRate,
    Market,
    MonteCarloConfig,
    black_scholes_price,
    merton_price,
    monte_carlo_price,
    price,
)
from hashmarket.pricing.efficient import _Run, fields_read
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
MERTON = NetworkModel(
    price=MertonJumpDiffusion(
        drift_per_year=0.0,
        vol_per_year=0.4,
        jumps_per_year=6.0,
        jump_mean_log=-0.05,
        jump_std_log=0.1,
    )
)
MARKET = Market(state=STATE, usd_curve=FlatRate(0.03), btc_curve=FlatRate(0.01))
EXPIRY = ASOF + dt.timedelta(days=120)
T = 120 / 365
JUNE = (dt.date(2026, 6, 1), dt.date(2026, 6, 30))
METHODS = ["pseudo", "sobol"]


def within(value: float, std_error: float, expected: float, k: float = 4.0) -> bool:
    # A control that reproduces the payoff leaves an error at rounding level.
    return abs(value - expected) <= k * std_error + 1e-9 * abs(expected)


def config(method: str, n: int = 16_384, **kw: object) -> MonteCarloConfig:
    return MonteCarloConfig(n_paths=n, seed=3, method=method, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("controls", [True, False])
@pytest.mark.parametrize("option_type", [OptionType.CALL, OptionType.PUT])
def test_european_btc_matches_black_scholes(
    method: str, controls: bool, option_type: OptionType
) -> None:
    option = EuropeanOption(Underlying.BTC_USD, option_type, 90_000, EXPIRY, 2.0)
    expected = 2.0 * float(
        black_scholes_price(
            spot=80_000,
            strike=90_000,
            expiry_years=T,
            vol=0.5,
            rate=0.03,
            dividend_yield=0.01,
            is_call=option_type is OptionType.CALL,
        )
    )
    result = price(
        option, market=MARKET, model=MODEL, config=config(method, control_variates=controls)
    )
    assert result.diagnostics["method"] == method
    assert result.diagnostics["simulated"] == "BTC price, exact steps"
    assert result.diagnostics["price_steps"] == 1  # one exact step to the expiry
    assert result.std_error > 0 or controls
    assert within(result.value, result.std_error, expected)


@pytest.mark.parametrize("method", METHODS)
def test_merton_european_matches_the_series(method: str) -> None:
    option = EuropeanOption(Underlying.BTC_USD, OptionType.CALL, 85_000, EXPIRY, 1.0)
    expected = merton_price(
        spot=80_000,
        strike=85_000,
        expiry_years=T,
        vol=0.4,
        jumps_per_year=6.0,
        jump_mean_log=-0.05,
        jump_std_log=0.1,
        rate=0.03,
        dividend_yield=0.01,
    )
    for controls in (True, False):
        cfg = config(method, control_variates=controls)
        result = price(option, market=MARKET, model=MERTON, config=cfg)
        assert result.std_error > 0 and within(result.value, result.std_error, expected)


@pytest.mark.parametrize("method", METHODS)
def test_btc_price_swap_is_worth_its_forward(method: str) -> None:
    # The miner sells 2 BTC a month at 85,000 against the monthly average price:
    # (K − mean of the forwards) × 2 in each month, paid on its last day.
    swap = BtcPriceSwap(
        fixed_price_usd=85_000,
        start=dt.date(2026, 3, 1),
        end=dt.date(2026, 4, 30),
        quantity_btc_per_month=2.0,
    )
    expected = 0.0
    months = (
        (dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
        (dt.date(2026, 4, 1), dt.date(2026, 4, 30)),
    )
    for first, last in months:
        days = np.arange((first - ASOF).days, (last - ASOF).days + 1) / 365
        forward = 80_000 * np.exp(0.02 * days).mean()
        expected += (85_000 - forward) * 2.0 * math.exp(-0.03 * (last - ASOF).days / 365)
    for controls in (True, False):
        result = price(
            swap, market=MARKET, model=MODEL, config=config(method, control_variates=controls)
        )
        assert within(result.value, result.std_error, expected)


@pytest.mark.parametrize("method", METHODS)
def test_forward_on_a_deterministic_network_is_exact(method: str) -> None:
    quiet = NetworkModel(
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
    fwd = HashpriceForward(10, 35.0, ASOF + dt.timedelta(days=1), ASOF + dt.timedelta(days=60))
    cfg = MonteCarloConfig(n_paths=4, seed=0, measure="model")
    plain = price(fwd, market=MARKET, model=quiet, config=cfg)
    other = price(fwd, market=MARKET, model=quiet, config=replace(cfg, method=method))  # type: ignore[arg-type]
    assert plain.std_error == 0.0
    assert other.value == pytest.approx(plain.value, rel=1e-12)


def test_arithmetic_asian_methods_agree_with_plain() -> None:
    asian = AsianOption(Underlying.BTC_USD, OptionType.CALL, 80_000, *JUNE, 1.0)
    results = {
        m: price(asian, market=MARKET, model=MODEL, config=config(m, 20_000))
        for m in ("plain", "pseudo", "sobol")
    }
    base = results["plain"]
    for m in METHODS:
        r = results[m]
        assert abs(r.value - base.value) <= 4 * math.hypot(r.std_error, base.std_error)
        assert r.std_error < base.std_error / 30  # the geometric Asian control at work
    sobol = results["sobol"].diagnostics
    assert sobol["randomizations"] == 16 and sobol["paths_per_randomization"] == 1024
    assert results["sobol"].n_paths == 16 * 1024  # 20,000 / 16 to the nearest power of two
    assert results["pseudo"].diagnostics["price_steps"] == 30  # to June 1, then daily


@pytest.mark.parametrize(
    "instrument",
    [
        AsianOption(Underlying.HASHPRICE_USD, OptionType.PUT, 40.0, *JUNE, 3000.0),
        HashpriceForward(10, 38.0, dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
        HashpriceForward(10, 0.0004, dt.date(2026, 3, 1), dt.date(2026, 3, 31), currency="btc"),  # type: ignore[arg-type]
    ],
    ids=["hashprice_asian", "forward_usd", "forward_btc"],
)
def test_hashprice_methods_agree_with_plain(instrument: object) -> None:
    plain = price(instrument, market=MARKET, model=MODEL, config=config("plain", 8192))  # type: ignore[call-overload]
    for method in METHODS:
        r = price(instrument, market=MARKET, model=MODEL, config=config(method, 8192))  # type: ignore[call-overload]
        assert r.diagnostics["simulated"] == "network, daily"
        assert abs(r.value - plain.value) <= 4 * math.hypot(r.std_error, plain.std_error)
        assert r.std_error < plain.std_error / 2


@pytest.mark.parametrize("method", METHODS)
def test_take_profit_note_closed_form_with_each_method(method: str) -> None:
    note = DualCurrencyNote(DualCurrencyKind.TAKE_PROFIT, 1.0, 90_000, ASOF, EXPIRY, 0.15)
    call = float(
        black_scholes_price(
            spot=80_000, strike=90_000, expiry_years=T, vol=0.5, rate=0.03, dividend_yield=0.01
        )
    )
    expected = note.redemption * (math.exp(-0.01 * T) - call / 80_000)
    result = price(note, market=MARKET, model=MODEL, config=config(method))
    assert result.diagnostics["numeraire"] == "btc"
    assert within(result.value, result.std_error, expected)


@pytest.mark.parametrize(
    ("instrument", "model"),
    [
        (AsianOption(Underlying.BTC_USD, OptionType.CALL, 80_000, *JUNE, 1.0), MODEL),
        (AsianOption(Underlying.BTC_USD, OptionType.PUT, 80_000, *JUNE, 1.0), MERTON),
        (AsianOption(Underlying.HASHPRICE_USD, OptionType.PUT, 40.0, *JUNE, 1.0), MODEL),
        (AsianOption(Underlying.HASHPRICE_BTC, OptionType.CALL, 0.0004, *JUNE, 1.0), MERTON),
    ],
    ids=["btc_gbm", "btc_merton", "hashprice_usd", "hashprice_btc_merton"],
)
def test_every_control_has_the_mean_it_claims(instrument: AsianOption, model: NetworkModel) -> None:
    # Independent paths (no antithetic pairs, no controls fitted on them): each control's
    # sample mean is within 4.5 standard errors of its closed-form mean (the geometric Asian
    # option, the forwards, the calls, the shock sums and their products).
    run = _Run(instrument, MARKET, model, config("pseudo", antithetic=False))
    assert run.plan is not None
    x = np.concatenate([run.plan.values(c) for c in run.paths.pseudo(65_536)])
    mean, se = x.mean(axis=0), x.std(axis=0, ddof=1) / math.sqrt(len(x))
    z = np.abs(mean - run.plan.means) / np.where(se > 0, se, 1.0)
    worst = int(np.argmax(z))
    assert z.max() < 4.5, (run.plan.names[worst], mean[worst], run.plan.means[worst])
    assert any(name.startswith("geometric_") for name in run.plan.names) == (
        instrument.underlying is not Underlying.BTC_USD or model is MODEL
    )


def test_fields_read_are_found_by_the_probe() -> None:
    window = (ASOF, EXPIRY)
    european = EuropeanOption(Underlying.BTC_USD, OptionType.CALL, 1.0, EXPIRY, 1.0)
    assert fields_read(european, MARKET, *window) == {"price_usd"}
    fwd = HashpriceForward(1, 1.0, ASOF + dt.timedelta(days=1), EXPIRY)
    assert fields_read(fwd, MARKET, *window) == {"hashprice_usd_per_ph_day"}
    epoch = EpochValueFuture(notional_phs=1, price_btc_per_ph=0.006, maturity_height=937_440)
    assert fields_read(epoch, MARKET, *window) == {"height", "difficulty"}


def test_sobol_is_reproducible_and_its_randomizations_independent() -> None:
    asian = AsianOption(Underlying.BTC_USD, OptionType.CALL, 80_000, *JUNE, 1.0)
    cfg = config("sobol", 4096, control_variates=False)
    a = price(asian, market=MARKET, model=MODEL, config=cfg)
    b = price(asian, market=MARKET, model=MODEL, config=cfg)
    c = price(asian, market=MARKET, model=MODEL, config=replace(cfg, seed=4))
    assert a.value == b.value and a.std_error == b.std_error
    assert a.value != c.value and abs(a.value - c.value) < 5 * math.hypot(a.std_error, c.std_error)
    first = sobol_normals(scrambled_sobol(5, seed=1, randomization=0), 8)
    other = sobol_normals(scrambled_sobol(5, seed=1, randomization=1), 8)
    assert first.shape == (5, 8) and not np.allclose(first, other)


def test_brownian_bridge_has_the_covariance_of_brownian_motion() -> None:
    times = np.array([1.0, 2.0, 5.0, 6.0, 30.0])
    schedule = BridgeSchedule.build(times)
    assert schedule.index[0] == 4  # the last time first
    z = np.random.default_rng(0).standard_normal((5, 200_000))
    w = schedule.paths(z)
    cov = np.cov(w)
    assert cov == pytest.approx(np.minimum.outer(times, times), rel=0.03, abs=0.05)
    with pytest.raises(ValueError, match="positive and increasing"):
        BridgeSchedule.build([2.0, 1.0])


def test_a_started_contract_reads_its_realized_days_with_every_method() -> None:
    start = ASOF - dt.timedelta(days=9)
    asian = AsianOption(
        Underlying.BTC_USD, OptionType.CALL, 90_000, start, ASOF + dt.timedelta(days=20), 1.0
    )
    for method in METHODS:
        with pytest.raises(PricingError, match="price_usd"):
            price(asian, market=MARKET, model=MODEL, config=config(method, 256))
    dates = [start + dt.timedelta(days=i) for i in range(10)]
    market = replace(MARKET, past_fixings=Fixings.from_arrays(dates, price_usd=np.full(10, 95e3)))
    plain = price(asian, market=market, model=MODEL, config=config("plain", 20_000))
    for method in METHODS:
        r = price(asian, market=market, model=MODEL, config=config(method, 20_000))
        assert r.diagnostics["recorded_days"] == 21  # the valuation date, then 20 days
        assert abs(r.value - plain.value) <= 4 * math.hypot(r.std_error, plain.std_error)


def test_sobol_refuses_more_dimensions_than_its_sequence_has() -> None:
    far = HashpriceForward(1, 30.0, ASOF + dt.timedelta(days=7100), ASOF + dt.timedelta(days=7101))
    with pytest.raises(PricingError, match=r"at most 21,201 dimensions.*use method 'pseudo'"):
        price(far, market=MARKET, model=MODEL, config=config("sobol", 64))


@dataclasses.dataclass(frozen=True)
class _KnockIn:
    """Pays the day's difficulty / 1e12 at expiry, but only looks at it on paths whose BTC
    price ended above 100,000: a read the flat probe path does not make."""

    type_name: ClassVar[str] = "knock_in_test"
    currency: ClassVar[SettlementCurrency] = SettlementCurrency.USD

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return EXPIRY, EXPIRY

    def cashflows(self, fixings: Fixings) -> npt.NDArray[np.float64]:
        out = fixings.zeros()
        if not fixings.covers(EXPIRY):
            return out
        cols, s = fixings.window("price_usd", EXPIRY, EXPIRY, instrument=self.type_name)
        if (s > 100_000).any():
            _, d = fixings.window("difficulty", EXPIRY, EXPIRY, instrument=self.type_name)
            out[:, cols.start] = np.where(s[:, 0] > 100_000, d[:, 0] / 1e12, 0.0)
        return out


def test_a_field_read_on_some_paths_only_is_simulated_after_all() -> None:
    knock_in = _KnockIn()
    assert fields_read(knock_in, MARKET, ASOF, EXPIRY) == {"price_usd"}
    plain = monte_carlo_price(knock_in, market=MARKET, model=MODEL, config=config("plain", 8192))
    for method in METHODS:
        r = monte_carlo_price(knock_in, market=MARKET, model=MODEL, config=config(method, 8192))
        assert r.diagnostics["simulated"] == "network, daily"
        assert abs(r.value - plain.value) <= 4 * math.hypot(r.std_error, plain.std_error)


def test_few_paths_keep_only_the_controls_they_can_carry() -> None:
    asian = AsianOption(Underlying.HASHPRICE_USD, OptionType.PUT, 40.0, *JUNE, 3000.0)
    reference = price(asian, market=MARKET, model=MODEL, config=config("pseudo", 16_384))
    every = reference.diagnostics["control_variates"]
    assert every > 50
    few = price(asian, market=MARKET, model=MODEL, config=config("pseudo", 600))
    # 300 antithetic pairs: the proxies and the geometric option, not the shock sums.
    assert 0 < few.diagnostics["control_variates"] <= 300 / 20
    assert abs(few.value - reference.value) <= 4 * math.hypot(few.std_error, reference.std_error)
    assert few.std_error > reference.std_error
