"""Borrowing BTC or USD against machines, and the lender's puts: the miner's net position and
the puts' terms by hand, and the puts' scenario payoff against their closed-form price."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import RiskError
from hashmarket.instruments import Fixings, Underlying
from hashmarket.instruments.loans import Collateral, CollateralKind, Loan, loan_life
from hashmarket.instruments.machine_loans import MachineCollateral
from hashmarket.models import calibrate
from hashmarket.pricing import ValuationSetup, market_for
from hashmarket.risk.lending_studies import (
    btc_twin,
    liquidation_hashprice,
    miner_net_usd,
    protection_analysis,
    protection_put,
)

DAY = dt.date(2026, 2, 1)
S21 = MachineCollateral(
    model="S21",
    hashrate_ths=200.0,
    efficiency_j_per_th=17.5,
    power_usd_per_kwh=0.05,  # 4.20 USD of power a day
    end_of_life=DAY + dt.timedelta(days=1000),
    reference_hashprice_usd_per_ph_day=40.0,
)


def machine_loan(quantity: float = 10.0, principal_usd: float = 9_500.0, **terms: object) -> Loan:
    base: dict[str, object] = {
        "loan_id": "asic",
        "principal_usd": principal_usd,
        "rate_per_year": 0.0,
        "start": DAY,
        "maturity": DAY + dt.timedelta(days=30),
        "collateral": Collateral(CollateralKind.MACHINES, quantity, machine=S21),
        "initial_ltv": 0.25,
        "margin_call_ltv": 0.40,
        "liquidation_ltv": 0.50,
        "liquidation_cost": 0.05,
        "liquidation_days": 2,
        "cure_days": 2,
    }
    base.update(terms)
    return Loan(**base)  # type: ignore[arg-type]


def path(hashprice: list[float], price: list[float]) -> Fixings:
    days = [DAY + dt.timedelta(days=i) for i in range(len(hashprice))]
    usd, btc = np.array(hashprice), np.array(price)
    return Fixings.from_arrays(
        days,
        hashprice_usd_per_ph_day=usd[None, :],
        hashprice_btc_per_ph_day=(usd / btc)[None, :],
        price_usd=btc[None, :],
    )


def net(loan: Loan, fixings: Fixings) -> float:
    return float(miner_net_usd(loan, loan_life(loan, fixings), fixings)[0])


def test_the_btc_twin_borrows_the_same_dollars_in_btc() -> None:
    twin = btc_twin(machine_loan(), price_usd=100_000.0, rate_per_year=0.05)
    assert twin.principal_btc == pytest.approx(0.095, rel=1e-15)
    assert twin.rate_per_year == 0.05 and twin.loan_id == "asic-btc"
    with pytest.raises(RiskError, match="give the USD loan"):
        btc_twin(twin, price_usd=100_000.0, rate_per_year=0.05)


def test_the_miner_net_when_btc_falls_favours_the_btc_loan() -> None:
    # 10 machines, hashprice 40 USD throughout; BTC 100,000, then 80,000 from day 10.
    fixings = path([40.0] * 35, [100_000.0] * 10 + [80_000.0] * 25)
    usd = machine_loan()
    # Mined per machine a day: 0.2 PH/s × 40/S BTC less 4.20/S of power: 0.000038 BTC on
    # days 0–9, 0.0000475 on days 10–30; 10 machines: 0.013775 BTC, 1,102 USD at 80,000.
    # Machines at maturity: 10 × 970 × 3.80 = 36,860, less 9,500 owed: 27,360.
    assert net(usd, fixings) == pytest.approx(1_102.0 + 27_360.0, rel=1e-12)
    # Borrowed in BTC: 0.095 BTC owed is 7,600 USD at 80,000: 1,900 better off.
    twin = btc_twin(usd, price_usd=100_000.0, rate_per_year=0.0)
    assert net(twin, fixings) == pytest.approx(1_102.0 + 36_860.0 - 7_600.0, rel=1e-12)


def test_a_liquidated_miner_keeps_what_it_mined_and_the_surplus() -> None:
    # 100 machines, 95,000 lent. Hashprice 30 from day 10: 100 × 990 × 1.80 = 178,200 of
    # machines (LTV 53.3 %): liquidated, sold on day 12 at 177,840 × φ(30) = 0.6 × 0.95.
    machine = dataclasses.replace(S21, reference_hashprice_usd_per_ph_day=30.0)
    loan = machine_loan(
        100.0,
        95_000.0,
        collateral=Collateral(CollateralKind.MACHINES, 100.0, machine=machine),
    )
    fixings = path([40.0] * 10 + [30.0] * 25, [100_000.0] * 35)
    life = loan_life(loan, fixings)
    assert life.liquidated[0]
    # Proceeds 101,368.80: 95,000 to the lender, 6,368.80 back to the miner. Mined until the
    # sale: 100 × (10 × 0.000038 + 2 × 0.000018) = 0.0416 BTC, 4,160 USD.
    assert float(miner_net_usd(loan, life, fixings)[0]) == pytest.approx(
        4_160.0 + 6_368.8, rel=1e-9
    )


def test_the_put_on_hashprice_starts_at_the_liquidation_line() -> None:
    loan = machine_loan(100.0, 95_000.0)
    # At maturity 970 days are left: 100 × 970 × (0.2·h − 4.2) = 95,000 / 0.5 at
    # h* = (4.2 + 1,900/970) / 0.2 = 30.793814…
    h_star = (4.2 + 1_900 / 970) / 0.2
    assert liquidation_hashprice(loan, day=loan.maturity) == pytest.approx(h_star, rel=1e-9)
    put = protection_put(loan)
    assert put.underlying is Underlying.HASHPRICE_USD
    assert put.strike == pytest.approx(h_star, rel=1e-9)
    assert put.expiry == loan.maturity
    # A sale recovers φ(h*)·0.95 of the value, which moves by 0.2 × 970 = 194 per USD of
    # hashprice a machine: 100 × (0.2 + 0.4·h*/40) × 0.95 × 194.
    assert put.quantity == pytest.approx(100 * (0.2 + 0.4 * h_star / 40) * 0.95 * 194, rel=1e-9)


def test_the_put_on_btc_starts_at_the_liquidation_line() -> None:
    loan = Loan(
        loan_id="btc",
        principal_usd=50_000.0,
        rate_per_year=0.10,
        start=DAY,
        maturity=DAY + dt.timedelta(days=30),
        collateral=Collateral(CollateralKind.BTC, 1.0),
        initial_ltv=0.60,
        margin_call_ltv=0.75,
        liquidation_ltv=0.85,
    )
    put = protection_put(loan)
    # Claim at maturity 50,000 × (1 + 0.1 × 30/365) = 50,410.96; / 0.85 = 59,307.01.
    assert put.underlying is Underlying.BTC_USD
    assert put.strike == pytest.approx(50_000 * (1 + 0.1 * 30 / 365) / 0.85, rel=1e-12)
    assert put.quantity == pytest.approx(0.98, rel=1e-12)  # 1 BTC less the 2 % sale cost


def test_the_puts_scenario_payoff_agrees_with_their_price() -> None:
    history = NetworkHistory.load()
    asof = dt.date(2026, 1, 22)
    calibration = calibrate(history, asof=asof)
    setup = ValuationSetup(asof=asof)
    loan = Loan(
        loan_id="btc-protected",
        principal_usd=2_000_000.0,
        rate_per_year=0.11,
        start=asof,
        maturity=asof + dt.timedelta(days=90),
        collateral=Collateral(CollateralKind.BTC, 43.0),
        initial_ltv=0.6,
        margin_call_ltv=0.75,
        liquidation_ltv=0.85,
    )
    result = protection_analysis(
        loan,
        model=calibration.model,
        state=calibration.state,
        market=market_for(calibration, setup),
        n_paths=4_000,
        seed=3,
    )
    assert result.engine == "analytic"  # Black–Scholes, from the pricing table
    # At zero rates and drift the scenarios' mean payoff is the price, within MC error.
    gap = abs(result.expected_payoff_usd - result.premium_usd)
    assert gap < 4 * result.payoff_std_error_usd
    assert result.uncovered_loss_usd["mean"] <= result.loss_usd["mean"]
    assert result.uncovered_loss_usd["p99"] <= result.loss_usd["p99"]
    # The net loss is the loss less the payoff plus the premium, on average too.
    assert result.net_loss_usd["mean"] == pytest.approx(
        result.loss_usd["mean"] - result.expected_payoff_usd + result.premium_usd, rel=1e-9
    )


def test_protection_and_comparison_refuse_what_they_cannot_do() -> None:
    with pytest.raises(RiskError, match="protection is for a USD loan"):
        protection_put(machine_loan(principal_btc=0.1))
    btc_loan = Loan(
        loan_id="btc",
        principal_usd=50_000.0,
        rate_per_year=0.1,
        start=DAY,
        maturity=DAY + dt.timedelta(days=30),
        collateral=Collateral(CollateralKind.BTC, 1.0),
        initial_ltv=0.6,
        margin_call_ltv=0.75,
        liquidation_ltv=0.85,
    )
    with pytest.raises(RiskError, match="needs machine collateral"):
        liquidation_hashprice(btc_loan, day=DAY)
