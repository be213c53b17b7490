"""Regional contracts' payoffs: the basis swap by hand (daily and monthly), the power forward's
energy, and the margin lock's identity — on any path, the miner's margin plus the lock's cash
flow is the locked spread."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from hashmarket.errors import SpecError
from hashmarket.instruments import (
    BasisSettlement,
    Fixings,
    HashpriceForward,
    MarginLock,
    PowerForward,
    RegionalBasisSwap,
    Side,
    margin_field,
    parse_spec,
    power_field,
    with_margins,
)

JAN = [dt.date(2025, 1, d) for d in (30, 31)] + [dt.date(2025, 2, d) for d in (1, 2)]


def margins(a: list[float], b: list[float]) -> Fixings:
    return Fixings.from_arrays(JAN, **{margin_field("a"): a, margin_field("b"): b})


def test_a_daily_basis_swap_pays_the_margin_difference_by_hand() -> None:
    swap = RegionalBasisSwap(
        long_region="a",
        short_region="b",
        notional_phs=10,
        start=JAN[0],
        end=JAN[-1],
        fixed_spread_usd_per_ph_day=1.5,
    )
    fixings = margins([40.0, 41.0, 39.5, 42.0], [37.0, 40.0, 39.0, 38.25])
    # 10 × (3 − 1.5), 10 × (1 − 1.5), 10 × (0.5 − 1.5), 10 × (3.75 − 1.5)
    assert swap.cashflows(fixings).tolist() == [[15.0, -5.0, -10.0, 22.5]]
    seller = RegionalBasisSwap(**{**swap.__dict__, "side": Side.SELL})
    assert seller.cashflows(fixings).tolist() == [[-15.0, 5.0, 10.0, -22.5]]
    # Only the days the fixings cover pay (settlement part-way through the window).
    assert swap.cashflows(fixings.between(JAN[0], JAN[1])).tolist() == [[15.0, -5.0]]


def test_a_monthly_basis_swap_pays_each_months_sum_on_its_last_day() -> None:
    swap = RegionalBasisSwap(
        long_region="a",
        short_region="b",
        notional_phs=10,
        start=JAN[0],
        end=dt.date(2025, 2, 2),
        settlement=BasisSettlement.MONTHLY,
    )
    fixings = margins([40.0, 41.0, 39.5, 42.0], [37.0, 40.0, 39.0, 38.25])
    # January (30-31): 10 × (3 + 1) = 40 on the 31st; February (1-2): 10 × (0.5 + 3.75) = 42.5
    # on the 2nd (the contract's last day), the month's average difference × its days.
    assert swap.cashflows(fixings).tolist() == [[0.0, 40.0, 0.0, 42.5]]
    # Before February's last day is fixed, February pays nothing yet.
    assert swap.cashflows(fixings.between(JAN[0], JAN[2])).tolist() == [[0.0, 40.0, 0.0]]


def test_a_basis_swap_needs_two_regions() -> None:
    with pytest.raises(SpecError, match="a region other than long_region"):
        parse_spec(
            {
                "type": "regional_basis_swap",
                "long_region": "a",
                "short_region": " a ",
                "notional_phs": 1,
                "start": "2025-01-01",
                "end": "2025-01-31",
            }
        )


def test_a_power_forward_covers_the_energy_of_its_hashrate() -> None:
    fwd = PowerForward(
        region="a",
        notional_phs=10,
        fixed_price_usd_per_kwh=0.04,
        start=JAN[0],
        end=JAN[1],
        efficiency_j_per_th=20,
    )
    # 10 PH/s × 20 J/TH = 200 kW, 4,800 kWh a day.
    assert fwd.energy_kwh_per_day == 4800.0
    fixings = Fixings.from_arrays(JAN[:2], **{power_field("a"): [0.045, 0.0375]})
    # 4,800 × 0.005 = 24.00; 4,800 × (−0.0025) = −12.00
    assert fwd.cashflows(fixings) == pytest.approx(np.array([[24.0, -12.0]]), abs=1e-9)


def lock(side: Side = Side.SELL) -> MarginLock:
    return MarginLock(
        region="texas",
        notional_phs=25,
        fixed_hashprice_usd_per_ph_day=52.0,
        fixed_power_usd_per_kwh=0.045,
        start=JAN[0],
        end=JAN[-1],
        efficiency_j_per_th=17.5,
        side=side,
    )


def test_the_locked_margin_and_the_legs() -> None:
    # 52 − 17.5 × 24 × 0.045 = 52 − 18.9 = 33.10 USD per PH/s per day.
    assert lock().locked_margin_usd_per_ph_day == pytest.approx(33.1, abs=1e-12)
    hashprice, power = lock().legs()
    assert isinstance(hashprice, HashpriceForward) and hashprice.side is Side.SELL
    assert power.side is Side.BUY and power.energy_kwh_per_day == 25 * 17.5 * 24


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_on_any_path_the_miner_ends_on_the_locked_margin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_paths = 50
    # Wild paths: hashprice from 5 to 200 USD/PH/s/day, power from 0.001 to 0.5 USD/kWh.
    hashprice = rng.uniform(5.0, 200.0, (n_paths, len(JAN)))
    power = np.exp(rng.uniform(np.log(0.001), np.log(0.5), (n_paths, len(JAN))))
    fixings = Fixings.from_arrays(
        JAN, hashprice_usd_per_ph_day=hashprice, **{power_field("texas"): power}
    )
    miner = lock(Side.SELL)
    # What the miner's 25 PH/s earn in the region, less their power: N × (H − e × 24 × P).
    mined = 25 * (hashprice - 17.5 * 24 * power)
    total = mined + miner.cashflows(fixings)
    assert total == pytest.approx(np.full(total.shape, 25 * 33.1), abs=1e-9)
    # The same identity through the regional margin field the index defines.
    with_margin = with_margins(fixings, ["texas"], 17.5)
    margin = with_margin.values[margin_field("texas")]
    assert 25 * margin + miner.cashflows(fixings) == pytest.approx(total, abs=1e-9)
    # The buyer's flows are the seller's negated.
    assert lock(Side.BUY).cashflows(fixings) == pytest.approx(-miner.cashflows(fixings))
