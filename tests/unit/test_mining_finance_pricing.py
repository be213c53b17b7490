"""Cloud hashrate and machine leases on the pricing engine's paths: the analyses read the very
paths the registry's Monte Carlo engine prices on, so their means are its prices; a cloud
contract without fees is a BTC hashprice forward at a zero price, up to whole sats."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from hashmarket.chain import NetworkHistory
from hashmarket.instruments import CloudHashrate, MachineLease, load_spec, parse_spec
from hashmarket.models import Calibration
from hashmarket.pricing import (
    Market,
    MonteCarloConfig,
    ValuationSetup,
    calibrated,
    cloud_valuation,
    lease_risk,
    market_with_past,
    price,
    scenario_paths,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "specs"
CONFIG = MonteCarloConfig(n_paths=1_000, seed=7, workers=1)


@pytest.fixture(scope="module")
def history() -> NetworkHistory:
    return NetworkHistory.load()


@pytest.fixture(scope="module")
def calibration(history: NetworkHistory) -> Calibration:
    return calibrated(history, ValuationSetup())


def market(contract: object, history: NetworkHistory, calibration: Calibration) -> Market:
    return market_with_past(
        contract,  # type: ignore[arg-type]
        history=history,
        calibration=calibration,
        setup=ValuationSetup(),
    )


def test_cloud_fair_value_is_the_engine_price(
    history: NetworkHistory, calibration: Calibration
) -> None:
    contract = load_spec(EXAMPLES / "cloud_hashrate.json")
    assert isinstance(contract, CloudHashrate)
    m = market(contract, history, calibration)
    result = cloud_valuation(contract, market=m, model=calibration.model, config=CONFIG)
    engine = price(contract, market=m, model=calibration.model, config=CONFIG)
    assert result.fair_value_btc == pytest.approx(engine.value, rel=1e-12)
    assert result.std_error_btc == pytest.approx(engine.std_error, rel=1e-9)
    assert 0 <= result.shutoff_probability <= 1
    if result.expected_shutoff_day is not None:
        assert 0 <= result.expected_shutoff_day < contract.term_days - 1
    record = result.to_dict()
    assert record["buyer_npv_sats"] == pytest.approx(
        record["fair_upfront_sats"] - record["price_sats"]
    )
    # The price is $500 at the spot: 500 ÷ spot BTC.
    assert result.price_btc == pytest.approx(500 / m.state.price_usd)


def test_cloud_without_fees_is_a_zero_price_forward(
    history: NetworkHistory, calibration: Calibration
) -> None:
    # 100 TH/s with no fee and no shut-off pays floor(hashprice × 0.1 PH/s × 1e8) sats a day;
    # a BTC hashprice forward on 0.1 PH/s at a zero price pays the same before the floor.
    # On the same paths the two differ by the floors: under 1 sat a day on every path.
    start, end = dt.date(2026, 2, 1), dt.date(2026, 3, 2)
    contract = parse_spec(
        {
            "type": "cloud_hashrate",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "hashrate_ths": 100,
            "shutoff_days": 1_000,
            "price_sats": 0,
        }
    )
    forward = parse_spec(
        {
            "type": "hashprice_forward",
            "notional_phs": 0.1,
            "fixed_price_per_ph_day": 0,
            "currency": "btc",
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
    )
    m = market(contract, history, calibration)
    cloud = price(contract, market=m, model=calibration.model, config=CONFIG).value
    fwd = price(forward, market=m, model=calibration.model, config=CONFIG).value
    days = (end - start).days + 1
    assert 0 <= (fwd - cloud) * 1e8 < days
    assert cloud > 0


def test_lease_risk_on_the_engine_paths(history: NetworkHistory, calibration: Calibration) -> None:
    lease = load_spec(EXAMPLES / "machine_lease.json")
    assert isinstance(lease, MachineLease)
    m = market(lease, history, calibration)
    config = dataclasses.replace(CONFIG, measure="model")
    result = lease_risk(lease, market=m, model=calibration.model, config=config)
    engine = price(lease, market=m, model=calibration.model, config=config)
    assert result.value_usd == pytest.approx(engine.value, rel=1e-12)
    assert result.financed_usd == 10_500.0
    assert 0 < result.default_probability < 1
    # EL = PD × E[loss | default], and LGD = E[loss | default] ÷ E[EAD | default] ≤ 1.
    assert result.loss_given_default is not None and 0 <= result.loss_given_default <= 1
    assert result.expected_loss_usd == pytest.approx(
        result.default_probability * result.loss_given_default * result.expected_ead_usd
    )
    # The lessor's value is what it lends (−F) plus what comes back: at most every
    # instalment (zero rates), and short of it by at least the expected loss.
    instalments = sum(r.payment_cents for r in lease.schedule) / 100
    assert result.value_usd <= instalments - 10_500 - result.expected_loss_usd + 1e-6


def test_scenario_paths_start_from_the_market(
    history: NetworkHistory, calibration: Calibration
) -> None:
    lease = load_spec(EXAMPLES / "machine_lease.json")
    m = market(lease, history, calibration)
    drawn = scenario_paths(lease, market=m, model=calibration.model, config=CONFIG)
    assert drawn.fixings.first_date == m.asof
    assert drawn.fixings.n_paths == 1_000
    spot = drawn.fixings.values["price_usd"][:, 0]
    assert np.all(spot == m.state.price_usd)
