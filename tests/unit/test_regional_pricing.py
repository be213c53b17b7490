"""Regional contracts priced on the scenario engine: the margin lock is its two legs, the
power forward matches its closed form, the simulated power carries the estimated correlation
to hashprice, the lock identity holds on simulated paths, and realized days are used."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from functools import cache

import numpy as np
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import PricingError
from hashmarket.index import load_example_power_prices
from hashmarket.instruments import (
    BasisSettlement,
    MarginLock,
    PowerForward,
    RegionalBasisSwap,
    Side,
    margin_field,
    power_field,
)
from hashmarket.models import Calibration, PowerPriceModel, RegionalModel, ScenarioConfig, Scenarios
from hashmarket.pricing import (
    MonteCarloConfig,
    RegionalMarket,
    RegionalSetup,
    ValuationSetup,
    calibrated,
    price,
    regional_setup,
    value_instrument,
)
from hashmarket.pricing.regional import simulated_fixings

FEB = (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
CONFIG = MonteCarloConfig(n_paths=2000, seed=5)


@cache
def history() -> NetworkHistory:
    return NetworkHistory.load()


@cache
def calibration() -> Calibration:
    return calibrated(history(), ValuationSetup())


def setup_for(instrument: object) -> RegionalSetup:
    return regional_setup(
        instrument,  # type: ignore[arg-type]
        history=history(),
        calibration=calibration(),
        setup=ValuationSetup(),
        prices=load_example_power_prices(),
        source="example",
    )


def lock(side: Side = Side.SELL) -> MarginLock:
    return MarginLock(
        region="texas",
        notional_phs=100,
        fixed_hashprice_usd_per_ph_day=40.0,
        fixed_power_usd_per_kwh=0.043,
        start=FEB[0],
        end=FEB[1],
        side=side,
    )


def test_the_margin_lock_is_worth_its_two_legs_on_the_same_paths() -> None:
    margin_lock = lock()
    s = setup_for(margin_lock)
    whole = price(margin_lock, market=s.market, model=s.model, config=CONFIG)
    hashprice_leg, power_leg = margin_lock.legs()
    # The hashprice leg on the network engine: the same seed simulates the same hashprice.
    network = value_instrument(
        hashprice_leg,
        history=history(),
        calibration=calibration(),
        setup=ValuationSetup(),
        config=CONFIG,
    )
    power = price(power_leg, market=s.market, model=s.model, config=CONFIG)
    assert whole.value == pytest.approx(network.value + power.value, rel=1e-12, abs=1e-9)
    assert whole.n_paths == 2000 and whole.seed == 5 and whole.std_error > 0


def test_a_power_forward_matches_its_closed_form() -> None:
    fwd = PowerForward(
        region="r", notional_phs=10, fixed_price_usd_per_kwh=0.04, start=FEB[0], end=FEB[1]
    )
    model = PowerPriceModel("r", math.log(0.045), 12.0, 0.8, correlation_to_hashprice=0.0)
    base = setup_for(dataclasses.replace(fwd, region="texas"))
    market = RegionalMarket(network=base.market.network, power_usd_per_kwh={"r": 0.05})
    regional = RegionalModel(network=calibration().model, power={"r": model})
    result = price(
        fwd, market=market, model=regional, config=MonteCarloConfig(n_paths=20_000, seed=1)
    )
    # Σ over February of 4,800 kWh × (E[P_t] − 0.04), t = 10 … 37 days after 22 January
    # (rates are zero, so nothing is discounted).
    asof = calibration().state.asof
    years = np.array([(FEB[0] - asof).days + i for i in range(28)]) / 365.0
    expected = float((4800 * (model.expected_usd_per_kwh(0.05, years) - 0.04)).sum())
    assert abs(result.value - expected) < 4 * result.std_error, (result.value, expected)


def test_simulated_power_carries_the_correlation_to_hashprice() -> None:
    swap = RegionalBasisSwap(
        long_region="quebec", short_region="texas", notional_phs=1, start=FEB[0], end=FEB[1]
    )
    s = setup_for(swap)
    texas = s.model.power["texas"]
    assert texas.correlation_to_hashprice == pytest.approx(0.30, abs=0.05)  # generated at 0.3
    scenarios = Scenarios(
        s.model.network,
        s.market.network.state,
        37,
        ScenarioConfig(n_paths=4000, seed=2, fields=("hashprice_usd_per_ph_day",)),
    )
    chunk = scenarios.materialize()
    paths = simulated_fixings(
        swap, chunk, market=s.market, model=s.model, rng=np.random.default_rng(9)
    )
    hashprice = paths.values["hashprice_usd_per_ph_day"]
    x = np.log(paths.values[power_field("texas")])
    mu, decay = texas.mean_log_usd_per_kwh, math.exp(-texas.reversion_per_year / 365.0)
    shocks = x[:, 1:] - (mu + (x[:, :-1] - mu) * decay)
    changes = np.diff(np.log(hashprice), axis=1)
    rho = np.corrcoef(shocks.ravel(), changes.ravel())[0, 1]
    assert rho == pytest.approx(texas.correlation_to_hashprice, abs=0.03)
    # And on these simulated paths too, the margin lock's seller ends on the locked margin.
    window = paths.between(*FEB)
    total = 100 * window.values[margin_field("texas")] + lock().cashflows(window)
    assert total.shape == (4000, 28)
    assert total == pytest.approx(np.full(total.shape, 100 * (40.0 - 480 * 0.043)), abs=1e-8)


def test_a_started_monthly_swap_counts_its_realized_days() -> None:
    # 10-31 January 2026, valued as of 22 January: the month pays its whole sum on the 31st, so
    # its value is the realized 10-22 January differences plus the expected rest; the daily
    # swap's realized days are already paid and not counted.
    daily = RegionalBasisSwap(
        long_region="quebec",
        short_region="texas",
        notional_phs=10,
        start=dt.date(2026, 1, 10),
        end=dt.date(2026, 1, 31),
    )
    monthly = dataclasses.replace(daily, settlement=BasisSettlement.MONTHLY)
    s = setup_for(daily)
    v_daily = price(daily, market=s.market, model=s.model, config=CONFIG).value
    v_monthly = price(monthly, market=s.market, model=s.model, config=CONFIG).value
    prices = load_example_power_prices()
    realized = sum(
        10 * 480 * float(prices.series("texas")[day] - prices.series("quebec")[day])
        for day in (dt.date(2026, 1, d) for d in range(10, 23))
    )
    # Same hashprice both sides: M_quebec − M_texas = 480 × (P_texas − P_quebec).
    assert v_monthly - v_daily == pytest.approx(realized, rel=1e-9)


def test_an_expired_contract_and_a_target_error_are_refused() -> None:
    old = dataclasses.replace(lock(), start=dt.date(2025, 1, 1), end=dt.date(2025, 1, 31))
    s = setup_for(lock())
    with pytest.raises(PricingError, match="nothing left to value"):
        price(old, market=s.market, model=s.model, config=CONFIG)
    target = MonteCarloConfig(n_paths=None, target_std_error=1.0)
    with pytest.raises(PricingError, match="simulated with method 'plain', a path count"):
        price(lock(), market=s.market, model=s.model, config=target)
