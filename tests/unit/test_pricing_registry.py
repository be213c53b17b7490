"""The engine table: one row per (instrument type, engine), each declaring the model and market
its engine prices on; ``price`` refuses anything else before an engine runs."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from tests.unit.test_pricing_montecarlo import MARKET as NETWORK_MARKET
from tests.unit.test_pricing_montecarlo import MODEL as NETWORK_MODEL

from hashmarket.errors import PricingError
from hashmarket.index.gpu_quotes import QuoteTable, load_bundled_quotes
from hashmarket.instruments import REGIONAL_INSTRUMENTS
from hashmarket.instruments.compute import ComputeForward, ComputeLease
from hashmarket.instruments.forwards import HashpriceForward
from hashmarket.instruments.options import EuropeanOption
from hashmarket.instruments.spec import INSTRUMENT_TYPES
from hashmarket.instruments.terms import OptionType, Side, Underlying
from hashmarket.models import RegionalModel
from hashmarket.models.gpu import GpuPriceModel, calibrate_gpu_fixings
from hashmarket.models.network import NetworkModel
from hashmarket.models.price import MertonJumpDiffusion
from hashmarket.pricing import (
    REGIONAL,
    FlatRate,
    Market,
    MonteCarloConfig,
    RegionalMarket,
    engine_for,
    price,
)
from hashmarket.pricing.compute import ComputeMarket
from hashmarket.pricing.registry import COMPUTE, ENGINES, NETWORK, closed_form_on_paths
from hashmarket.pricing.valuation import ASSUMED_HALF_LIFE_DAYS, compute_setup

ASOF = dt.date(2026, 1, 31)
GPU_MODEL = GpuPriceModel(mean_usd_per_gpu_hour=2.5, reversion_per_year=4.0, vol_usd_per_year=1.2)
GPU_MARKET = ComputeMarket(asof=ASOF, gpu_price_usd_per_gpu_hour=3.1, usd_curve=FlatRate(0.04))
FORWARD = ComputeForward(
    gpu_model="H100",
    gpus=10,
    fixed_price_usd_per_gpu_hour=2.2,
    start=dt.date(2026, 3, 1),
    end=dt.date(2026, 3, 31),
)
LEASE = ComputeLease(
    gpu_model="H100",
    gpus=10,
    start=dt.datetime(2026, 3, 1, 20, tzinfo=dt.UTC),
    hours=28,  # 4 h on 1 March, 24 h on 2 March
    price_usd_per_gpu_hour=2.0,
)
HASHPRICE_FORWARD = HashpriceForward(
    notional_phs=1, fixed_price_per_ph_day=50, start=dt.date(2026, 2, 1), end=dt.date(2026, 2, 28)
)


def test_every_spec_type_has_a_monte_carlo_engine_with_declared_inputs() -> None:
    for cls in INSTRUMENT_TYPES.values():
        row = engine_for(cls, "mc")
        expected = COMPUTE if cls in (ComputeForward, ComputeLease) else NETWORK
        if cls in REGIONAL_INSTRUMENTS:
            assert row.inputs is REGIONAL, cls.type_name
            continue
        assert row.inputs is expected, cls.type_name
    models = {NetworkModel, GpuPriceModel, RegionalModel}
    assert {row.inputs.model_type for row in ENGINES.values()} == models
    markets = {Market, ComputeMarket, RegionalMarket}
    assert {row.inputs.market_type for row in ENGINES.values()} == markets
    assert engine_for(ComputeLease, "analytic").inputs is COMPUTE
    with pytest.raises(PricingError, match="no 'binomial' engine for 'compute_lease'"):
        engine_for(ComputeLease, "binomial")


@pytest.mark.parametrize("engine", ["mc", "analytic"])
def test_a_compute_contract_refuses_the_network_model_and_market(engine: str) -> None:
    wrong: Any = NETWORK_MARKET
    with pytest.raises(PricingError) as refused:
        price(FORWARD, market=wrong, model=NetworkModel(), engine=engine)
    assert str(refused.value) == (
        f"the {engine!r} engine for 'compute_forward' needs model GpuPriceModel and market "
        "ComputeMarket, got model NetworkModel and market Market"
    )
    # Half right is still refused, naming the wrong half.
    with pytest.raises(PricingError, match=r"got model GpuPriceModel and market Market$"):
        price(LEASE, market=wrong, model=GPU_MODEL, engine=engine)


def test_a_network_contract_refuses_the_gpu_model_and_market() -> None:
    wrong_market: Any = GPU_MARKET
    wrong_model: Any = GPU_MODEL
    with pytest.raises(PricingError) as refused:
        price(HASHPRICE_FORWARD, market=wrong_market, model=wrong_model)
    assert str(refused.value) == (
        "the 'mc' engine for 'hashprice_forward' needs model NetworkModel and market Market, "
        "got model GpuPriceModel and market ComputeMarket"
    )
    with pytest.raises(PricingError, match=r"got model NetworkModel and market ComputeMarket$"):
        price(HASHPRICE_FORWARD, market=wrong_market, model=NetworkModel())


def test_greeks_and_the_registry_do_not_import_each_other() -> None:
    code = (
        "import sys\n"
        "import hashmarket.pricing.greeks\n"
        "print('hashmarket.pricing.registry' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# ---- the lease engines ---------------------------------------------------------------------


def test_lease_by_hand_and_monte_carlo_agrees() -> None:
    exact = price(LEASE, market=GPU_MARKET, model=GPU_MODEL, engine="analytic")
    # 40 GPU-hours on day 29 after the as-of date, 240 on day 30, each at E[P_t] − 2.0.
    by_hand = sum(
        hours * math.exp(-0.04 * d / 365) * (2.5 + 0.6 * math.exp(-4 * d / 365) - 2.0)
        for d, hours in ((29, 40), (30, 240))
    )
    assert exact.value == pytest.approx(by_hand, rel=1e-12)
    assert exact.greeks["delta_usd_per_usd_per_gpu_hour"] == pytest.approx(
        sum(hours * math.exp(-0.04 * d / 365 - 4 * d / 365) for d, hours in ((29, 40), (30, 240)))
    )
    mc = price(
        LEASE,
        market=GPU_MARKET,
        model=GPU_MODEL,
        config=MonteCarloConfig(n_paths=20_000, seed=3, antithetic=False),
    )
    assert mc.std_error > 0 and mc.n_paths == 20_000
    assert abs(mc.value - exact.value) < 4 * mc.std_error
    # Antithetic pairs price the (linear) value exactly; the seller holds the negative.
    paired = price(LEASE, market=GPU_MARKET, model=GPU_MODEL, config=MonteCarloConfig(n_paths=64))
    assert paired.value == pytest.approx(exact.value, rel=1e-10)
    seller = ComputeLease(**{**LEASE.__dict__, "side": "sell"})
    assert price(
        seller, market=GPU_MARKET, model=GPU_MODEL, engine="analytic"
    ).value == pytest.approx(-exact.value)


def test_a_started_lease_counts_only_the_days_after_the_valuation_date() -> None:
    market = ComputeMarket(asof=dt.date(2026, 3, 1), gpu_price_usd_per_gpu_hour=3.0)
    exact = price(LEASE, market=market, model=GPU_MODEL, engine="analytic")
    assert exact.value == pytest.approx(240 * (2.5 + 0.5 * math.exp(-4 / 365) - 2.0))
    mc = price(LEASE, market=market, model=GPU_MODEL, config=MonteCarloConfig(n_paths=64))
    assert mc.value == pytest.approx(exact.value, rel=1e-10)
    ended = ComputeMarket(asof=dt.date(2026, 3, 2), gpu_price_usd_per_gpu_hour=3.0)
    with pytest.raises(PricingError, match="compute_lease has nothing left to value as of 2026"):
        price(LEASE, market=ended, model=GPU_MODEL)


# ---- the GPU model and market from quotes --------------------------------------------------


def test_the_bundled_quotes_give_the_last_fixing_and_stated_assumptions() -> None:
    setup = compute_setup(load_bundled_quotes(), gpu_model="H100", term="on-demand")
    # H100 on-demand fixings: 6.88 on 2025-07-01 (3 quotes), 3.645 on 2026-01-01 (6 quotes).
    assert setup.market.asof == dt.date(2026, 1, 1) and setup.asof_from == "last fixing"
    assert setup.market.gpu_price_usd_per_gpu_hour == 3.645
    assert (setup.fixings, setup.calibrated_on) == (2, 0)
    model = setup.model
    assert model.mean_usd_per_gpu_hour == 3.645
    assert model.half_life_days == pytest.approx(ASSUMED_HALF_LIFE_DAYS)
    assert model.vol_usd_per_year == pytest.approx((6.88 - 3.645) / math.sqrt(184 / 365))
    assert "too few to fit" in setup.notes[0]
    later = compute_setup(
        load_bundled_quotes(), gpu_model="H100", term="reserved", asof=dt.date(2026, 2, 1)
    )
    # The 2025-10-01 reserved fixing, 123 days old; the 2026-03-01 one is after the as-of date.
    assert later.market.gpu_price_usd_per_gpu_hour == 1.70 and later.fixings == 1
    assert later.asof_from == "requested" and "123 days before" in later.notes[0]
    assert later.model.vol_usd_per_year == pytest.approx(0.5 * 1.70)  # one fixing: assumed
    with pytest.raises(PricingError, match="no H100 on-demand GPU-hour index fixing in"):
        compute_setup(
            load_bundled_quotes(), gpu_model="H100", term="on-demand", asof=dt.date(2025, 1, 1)
        )
    with pytest.raises(PricingError, match="no A100 spot GPU-hour index fixing"):
        compute_setup(load_bundled_quotes(), gpu_model="A100", term="spot")


def test_enough_daily_fixings_calibrate_the_model() -> None:
    path = GPU_MODEL.simulate(2.5, days=59, n_paths=1, rng=np.random.default_rng(5))[0]
    t0 = 1_767_225_600  # 2026-01-01
    times = np.repeat(t0 + 86_400 * np.arange(60), 2) + 3600
    table = QuoteTable.from_arrays(
        time_s=times,
        provider=np.tile(["a", "b"], 60),
        gpu_model=["H100"] * len(times),
        region=[""] * len(times),
        term=["on-demand"] * len(times),
        price_usd_per_gpu_hour=np.repeat(path, 2),
    )
    setup = compute_setup(table, gpu_model="H100", term="on-demand", usd_rate=0.03)
    assert setup.market.asof == dt.date(2026, 3, 1) and setup.calibrated_on == 60
    assert setup.notes == ()
    from hashmarket.index.compute import gpu_fixings

    assert setup.model == calibrate_gpu_fixings(gpu_fixings(table), gpu_model="H100").model
    assert setup.market.usd_curve.zero_rate(1.0) == pytest.approx(0.03)


def test_the_closed_form_on_paths_is_the_analytic_engine_at_each_path_spot() -> None:
    """At today's spot and the rates to expiry, the path form is the engine's value; on a
    path it moves with that path's price alone (a put is worth less where BTC is higher)."""
    put = EuropeanOption(
        underlying=Underlying.BTC_USD,
        option_type=OptionType.PUT,
        strike=75_000.0,
        expiry=ASOF + dt.timedelta(days=120),
        quantity=2.0,
        side=Side.SELL,
    )
    on_paths = closed_form_on_paths(put, NETWORK_MODEL)
    assert on_paths is not None
    engine = price(put, market=NETWORK_MARKET, model=NETWORK_MODEL, engine="analytic")
    years = 120 / 365
    values = on_paths(
        put,
        spot_usd=np.array([NETWORK_MARKET.state.price_usd, 60_000.0, 100_000.0]),
        expiry_years=years,
        vol=0.5,
        usd_rate=NETWORK_MARKET.usd_curve.zero_rate(years),
        btc_rate=NETWORK_MARKET.btc_curve.zero_rate(years),
    )
    assert values[0] == pytest.approx(engine.value, rel=1e-12)
    assert values[0] < 0  # sold
    assert values[1] < values[0] < values[2]  # a sold put loses as BTC falls
    # At expiry the form is the intrinsic value.
    at_expiry = on_paths(
        put, spot_usd=np.array([70_000.0]), expiry_years=0.0, vol=0.5, usd_rate=0.04, btc_rate=0.0
    )
    assert at_expiry[0] == pytest.approx(-2.0 * 5_000.0)


def test_no_closed_form_on_paths_for_hashprice_options_jumps_or_forwards() -> None:
    call = EuropeanOption(
        underlying=Underlying.HASHPRICE_USD,
        option_type=OptionType.CALL,
        strike=36.0,
        expiry=ASOF + dt.timedelta(days=60),
        quantity=1.0,
    )
    assert closed_form_on_paths(call, NETWORK_MODEL) is None
    btc_call = replace(call, underlying=Underlying.BTC_USD, strike=80_000.0)
    assert closed_form_on_paths(btc_call, NETWORK_MODEL) is not None
    jumps = MertonJumpDiffusion(
        drift_per_year=0.0,
        vol_per_year=0.5,
        jumps_per_year=2.0,
        jump_mean_log=-0.1,
        jump_std_log=0.2,
    )
    assert closed_form_on_paths(btc_call, NetworkModel(price=jumps)) is None
    assert closed_form_on_paths(HASHPRICE_FORWARD, NETWORK_MODEL) is None
