"""Machines as loan collateral: the margin value against the annuity formula and a day-by-day
sum, on the realized 2025 path by hand, the secondary-market rule, and a machine loan's and a
BTC loan's life on hand-made paths."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import RiskError
from hashmarket.instruments import Fixings
from hashmarket.instruments.loans import (
    Collateral,
    CollateralKind,
    Loan,
    collateral_unit_values,
    loan_life,
)
from hashmarket.instruments.machine_loans import (
    MachineCollateral,
    margin_days,
    margin_value_slope_ph_days,
    margin_value_usd,
    obsolescence_date,
    secondary_fraction,
)

DAY = dt.date(2026, 2, 1)
# 200 TH/s at 17.5 J/TH and 0.05 USD/kWh: 84 kWh a day, C = 4.20 USD a day. At a hashprice of
# 40 USD/PH/day it earns R = 8.00 USD a day: a margin of 3.80.
S21 = MachineCollateral(
    model="S21",
    hashrate_ths=200.0,
    efficiency_j_per_th=17.5,
    power_usd_per_kwh=0.05,
    end_of_life=DAY + dt.timedelta(days=100),
    reference_hashprice_usd_per_ph_day=40.0,
)


def value(machine: MachineCollateral, hashprice: float, day: dt.date = DAY) -> float:
    return float(
        margin_value_usd(machine, hashprice_usd_per_ph_day=np.array([hashprice]), day=day)[0]
    )


def test_power_cost_and_revenue() -> None:
    assert S21.power_cost_usd_per_day == pytest.approx(4.20, abs=1e-12)
    assert S21.revenue_usd_per_day(np.array([40.0]))[0] == pytest.approx(8.00, abs=1e-12)


def test_constant_hashprice_without_growth_is_an_annuity() -> None:
    assert value(S21, 40.0) == pytest.approx(100 * 3.80, rel=1e-12)  # undiscounted: N × margin
    discounted = dataclasses.replace(S21, discount_rate_per_year=0.1095)  # 0.0003 a day
    d = math.exp(-0.0003)
    annuity = 3.80 * d * (1 - d**100) / (1 - d)  # Σ_{k=1..100} d^k · 3.80
    assert value(discounted, 40.0) == pytest.approx(annuity, rel=1e-12)
    assert annuity == pytest.approx(374.30, abs=0.01)


def test_difficulty_growth_makes_the_machine_obsolete() -> None:
    # Revenue halves every 100 days: 8·2^(−k/100) > 4.2 while k < 100·log2(8/4.2) = 92.96.
    halving = dataclasses.replace(
        S21,
        difficulty_growth_per_year=365 * math.log(2) / 100,
        end_of_life=DAY + dt.timedelta(days=400),
    )
    revenue = np.array([8.0])
    assert margin_days(halving, revenue, 400)[0] == 92
    assert obsolescence_date(halving, hashprice_usd_per_ph_day=40.0, day=DAY) == DAY + dt.timedelta(
        days=93
    )
    by_day = sum(8.0 * 2 ** (-k / 100) - 4.2 for k in range(1, 93))  # the 92 positive days
    assert value(halving, 40.0) == pytest.approx(by_day, rel=1e-12)
    assert by_day == pytest.approx(155.89, abs=0.01)  # 542.29 of revenue − 386.40 of power
    # The slope: 0.2 PH/s × Σ 2^(−k/100) over the same days.
    slope = margin_value_slope_ph_days(halving, hashprice_usd_per_ph_day=np.array([40.0]), day=DAY)[
        0
    ]
    assert slope == pytest.approx(0.2 * sum(2 ** (-k / 100) for k in range(1, 93)), rel=1e-12)
    # Life ends before obsolescence: only the 10 days left count.
    short = dataclasses.replace(halving, end_of_life=DAY + dt.timedelta(days=10))
    assert value(short, 40.0) == pytest.approx(
        sum(8.0 * 2 ** (-k / 100) - 4.2 for k in range(1, 11)), rel=1e-12
    )
    assert obsolescence_date(short, hashprice_usd_per_ph_day=40.0, day=DAY) == short.end_of_life


def test_below_breakeven_a_machine_is_worth_nothing() -> None:
    assert value(S21, 20.0) == 0.0  # R = 4.00 < C = 4.20
    assert obsolescence_date(S21, hashprice_usd_per_ph_day=20.0, day=DAY) == DAY + dt.timedelta(
        days=1
    )
    assert value(S21, 40.0, day=S21.end_of_life) == 0.0


def test_the_secondary_price_falls_with_hashprice() -> None:
    fractions = secondary_fraction(S21, np.array([50.0, 40.0, 20.0, 0.0]))
    # 0.2 + (0.6 − 0.2) · min(1, h/40)
    assert fractions.tolist() == pytest.approx([0.6, 0.6, 0.4, 0.2], abs=1e-12)


def test_bad_terms_are_refused_with_the_field() -> None:
    with pytest.raises(RiskError, match=r"collateral\.machine\.hashrate_ths"):
        dataclasses.replace(S21, hashrate_ths=0.0)
    with pytest.raises(RiskError, match="secondary_floor <= secondary_fraction"):
        dataclasses.replace(S21, secondary_floor=0.7)
    with pytest.raises(RiskError, match="needs the machine's terms"):
        Collateral(CollateralKind.MACHINES, 10.0)


def test_on_the_realized_2025_path_by_hand() -> None:
    fixings = Fixings.from_history(
        NetworkHistory.load(), start=dt.date(2025, 6, 1), end=dt.date(2025, 6, 4)
    )
    machine = dataclasses.replace(S21, end_of_life=dt.date(2025, 6, 5))
    loan = Loan(
        loan_id="realized",
        principal_usd=10.0,
        rate_per_year=0.0,
        start=dt.date(2025, 6, 1),
        maturity=dt.date(2025, 6, 4),
        collateral=Collateral(CollateralKind.MACHINES, 1.0, machine=machine),
        initial_ltv=0.3,
        margin_call_ltv=0.4,
        liquidation_ltv=0.5,
    )
    # The index on those days (USD per PH/s per day): 52.7899, 53.0227, 52.7897, 52.4818.
    # V = days left × (0.2 × hashprice − 4.20): 4 × 6.3580, 3 × 6.4045, 2 × 6.3579, 1 × 6.2964.
    expected = [25.4319, 19.2136, 12.7159, 6.2964]
    got = [float(collateral_unit_values(loan, fixings, col)[0]) for col in range(4)]
    assert got == pytest.approx(expected, abs=1e-4)


# ---- a machine loan's life -------------------------------------------------------------------


LONG = dataclasses.replace(S21, end_of_life=DAY + dt.timedelta(days=1000))


def machine_loan(**terms: object) -> Loan:
    base: dict[str, object] = {
        "loan_id": "asic",
        "principal_usd": 95_000.0,
        "rate_per_year": 0.0,
        "start": DAY,
        "maturity": DAY + dt.timedelta(days=30),
        "collateral": Collateral(CollateralKind.MACHINES, 100.0, machine=LONG),
        "initial_ltv": 0.25,
        "margin_call_ltv": 0.40,
        "liquidation_ltv": 0.50,
        "liquidation_cost": 0.05,
        "liquidation_days": 2,
        "cure_days": 2,
    }
    base.update(terms)
    return Loan(**base)  # type: ignore[arg-type]


def path(hashprice: list[float], price: list[float] | None = None) -> Fixings:
    days = [DAY + dt.timedelta(days=i) for i in range(len(hashprice))]
    fields = {"hashprice_usd_per_ph_day": np.array(hashprice)[None, :]}
    fields["price_usd"] = np.array(price or [100_000.0] * len(hashprice))[None, :]
    return Fixings.from_arrays(days, **fields)


def test_a_machine_loan_starts_at_the_initial_ltv_and_is_repaid() -> None:
    life = loan_life(machine_loan(), path([40.0] * 35), record_events=True)
    # 100 machines × 1000 days × 3.80 = 380,000: 95,000 is 25 %.
    assert life.ltv[0, 0] == pytest.approx(0.25, rel=1e-12)
    assert life.events is not None
    assert [e.kind for e in life.events[0]] == ["disbursement", "pledge", "repayment", "release"]
    assert life.loss_usd[0] == 0.0


def test_a_margin_call_is_cured_with_whole_machines() -> None:
    # Hashprice 32 from day 10: margin 2.20, V = 990 × 2.20 = 2,178 a machine, LTV 43.6 %.
    life = loan_life(machine_loan(), path([40.0] * 10 + [32.0] * 25), record_events=True)
    assert life.ltv[0, 10] == pytest.approx(95_000 / 217_800, rel=1e-12)
    assert life.events is not None
    top_up = next(e for e in life.events[0] if e.kind == "top_up")
    # Day 12: V = 988 × 2.20 = 2,173.60; back to 25 % needs 380,000 − 217,360 = 162,640,
    # 74.83 machines: 75 are pledged, worth 163,020.
    assert top_up.day == DAY + dt.timedelta(days=12)
    assert top_up.units == 75.0
    assert top_up.usd == pytest.approx(163_020.0, rel=1e-12)
    assert not life.liquidated[0]


def test_liquidation_sells_the_machines_at_the_stressed_secondary_price() -> None:
    # Hashprice 30 from day 10: V = 990 × 1.80 = 1,782, LTV 53.3 % ≥ 50 %: called and
    # liquidated that day, sold on day 12 at V = 988 × 1.80 = 1,778.40 × φ(30) = 0.5 × 0.95.
    life = loan_life(machine_loan(), path([40.0] * 10 + [30.0] * 25), record_events=True)
    assert life.liquidated[0] and life.margin_calls[0] == 1
    proceeds = 100 * 1_778.40 * 0.5 * 0.95
    assert proceeds == pytest.approx(84_474.0, abs=1e-9)
    assert life.lender_cash_usd[0, 12] == pytest.approx(proceeds, rel=1e-12)
    assert life.loss_usd[0] == pytest.approx(95_000 - 84_474.0, rel=1e-12)


def test_a_btc_loan_against_machines_is_hedged_by_the_price() -> None:
    # 1 BTC lent at 100,000. BTC falls to 60,000 and hashprice to 30 on day 10: the claim is
    # 60,000 against 178,200 of machines (33.7 %), no call; a USD loan of 100,000 would be at
    # 56.1 % and liquidated.
    prices = [100_000.0] * 10 + [60_000.0] * 25
    hashprice = [40.0] * 10 + [30.0] * 25
    btc = machine_loan(principal_usd=100_000.0, principal_btc=1.0)
    usd = machine_loan(principal_usd=100_000.0)
    life = loan_life(btc, path(hashprice, prices), record_events=True)
    assert life.ltv[0, 10] == pytest.approx(60_000 / 178_200, rel=1e-12)
    assert not life.margin_called[0]
    assert life.lender_cash_usd[0, 0] == -100_000.0
    assert life.lender_cash_usd[0, 30] == pytest.approx(60_000.0, rel=1e-12)  # 1 BTC back
    assert life.events is not None
    repayment = next(e for e in life.events[0] if e.kind == "repayment")
    assert repayment.btc == 1.0
    assert loan_life(usd, path(hashprice, prices)).liquidated[0]


def test_a_btc_loan_liquidated_recovers_in_btc() -> None:
    # Hashprice 26 (margin 1.00): 100 machines × 990 = 99,000 against 60,000 of claim, 60.6 %.
    # Sold on day 12: 98,800 × φ(26) = 0.46 × 0.95 = 43,175.60 USD = 0.71959333 BTC.
    prices = [100_000.0] * 10 + [60_000.0] * 25
    btc = machine_loan(principal_usd=100_000.0, principal_btc=1.0)
    life = loan_life(btc, path([40.0] * 10 + [26.0] * 25, prices), record_events=True)
    assert life.liquidated[0]
    assert life.loss_usd[0] == pytest.approx(60_000 - 43_175.6, rel=1e-12)
    assert life.events is not None
    sale = next(e for e in life.events[0] if e.kind == "sale")
    assert sale.btc == pytest.approx(43_175.6 / 60_000, rel=1e-12)
    assert sale.usd == pytest.approx(43_175.6, rel=1e-12)


def test_on_the_realized_2025_path_with_growth_and_discounting() -> None:
    fixings = Fixings.from_history(
        NetworkHistory.load(), start=dt.date(2025, 6, 1), end=dt.date(2025, 6, 2)
    )
    machine = dataclasses.replace(
        S21,
        end_of_life=dt.date(2025, 6, 5),
        difficulty_growth_per_year=0.365,  # revenue × e^−0.001 a day
        discount_rate_per_year=0.073,  # × e^−0.0002 a day
    )
    # 2025-06-01: R = 0.2 × 52.789868 = 10.557974; 4 days left, each (R·e^−0.001k − 4.2)
    # discounted by e^−0.0002k: 6.346152, 6.334345, 6.322552, 6.310775 → 25.313824.
    r = 0.2 * 52.78986799847937
    by_hand = sum(math.exp(-0.0002 * k) * (r * math.exp(-0.001 * k) - 4.2) for k in range(1, 5))
    assert by_hand == pytest.approx(25.313824, abs=1e-6)
    got = margin_value_usd(
        machine,
        hashprice_usd_per_ph_day=fixings.values["hashprice_usd_per_ph_day"][:, 0],
        day=dt.date(2025, 6, 1),
    )
    assert got[0] == pytest.approx(by_hand, rel=1e-12)
