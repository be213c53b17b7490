"""A machine loan's and a BTC loan's life on the ledger (SQLite and PostgreSQL): machines are
an asset of whole units pledged to custody, sold to a buyer on liquidation; a loan of BTC
moves BTC. Balances are checked to the unit."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from hashmarket.instruments import Fixings
from hashmarket.instruments.loans import Collateral, CollateralKind, Loan, loan_life
from hashmarket.instruments.machine_loans import MachineCollateral
from hashmarket.ledger import Asset, Ledger, Transfer
from hashmarket.ledger.loans import LoanAccounts, book_events, open_accounts
from tests.conftest import BTC_ISSUER, USD_ISSUER

DAY = dt.date(2026, 2, 1)
MACHINE_ISSUER = 60
MACHINES = 300  # the borrower's fleet: 100 pledged, more to cure with
S21 = MachineCollateral(
    model="S21",
    hashrate_ths=200.0,
    efficiency_j_per_th=17.5,
    power_usd_per_kwh=0.05,
    end_of_life=DAY + dt.timedelta(days=1000),
    reference_hashprice_usd_per_ph_day=40.0,
)
USD_LOAN = LoanAccounts(
    lender_usd=200,
    borrower_usd=201,
    borrower_collateral=202,
    custody_collateral=203,
    buyer_usd=204,
    buyer_collateral=205,
    collateral_asset="S21",
)
BTC_LOAN = dataclasses.replace(
    USD_LOAN, lender_usd=210, borrower_usd=211, buyer_usd=214, usd_asset="BTC"
)


@pytest.fixture
def funded(ledger: Ledger) -> Ledger:
    assert ledger.create_asset(Asset("S21", 0), issuer_account_id=MACHINE_ISSUER).value == "ok"
    open_accounts(ledger, USD_LOAN)
    open_accounts(ledger, BTC_LOAN)
    ledger.create_transfers(
        [
            Transfer(1, MACHINE_ISSUER, USD_LOAN.borrower_collateral, MACHINES),
            Transfer(2, USD_ISSUER, USD_LOAN.lender_usd, 200_000_00),
            Transfer(3, USD_ISSUER, USD_LOAN.buyer_usd, 200_000_00),
            Transfer(4, BTC_ISSUER, BTC_LOAN.lender_usd, 2 * 10**8),
            Transfer(5, BTC_ISSUER, BTC_LOAN.buyer_usd, 2 * 10**8),
        ]
    )
    return ledger


def loan(loan_id: str, **terms: object) -> Loan:
    base: dict[str, object] = {
        "loan_id": loan_id,
        "principal_usd": 95_000.0,
        "rate_per_year": 0.0,
        "start": DAY,
        "maturity": DAY + dt.timedelta(days=30),
        "collateral": Collateral(CollateralKind.MACHINES, 100.0, machine=S21),
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
    return Fixings.from_arrays(
        days,
        hashprice_usd_per_ph_day=np.array(hashprice)[None, :],
        price_usd=np.array(price or [100_000.0] * len(hashprice))[None, :],
    )


def book(ledger: Ledger, the_loan: Loan, fixings: Fixings, accounts: LoanAccounts) -> None:
    life = loan_life(the_loan, fixings, record_events=True)
    assert life.events is not None
    first = book_events(ledger, the_loan, accounts, life.events[0])
    state = ledger.state_hash()
    assert book_events(ledger, the_loan, accounts, life.events[0]) == first  # idempotent
    assert ledger.state_hash() == state
    report = ledger.verify()
    assert report.ok, report.problems


def balance(ledger: Ledger, account: int) -> tuple[int, int]:
    a = ledger.account(account)
    return a.balance, a.debits_pending


def test_a_cured_call_pledges_whole_machines_and_repayment_releases_them(funded: Ledger) -> None:
    funded.transfer(Transfer(9, USD_ISSUER, USD_LOAN.borrower_usd, 1))  # an account to repay from
    book(funded, loan("cured"), path([40.0] * 10 + [32.0] * 25), USD_LOAN)
    # 100 machines pledged, 75 more at the cure (day 12), both released after repaying 95,000.
    assert balance(funded, USD_LOAN.borrower_collateral) == (MACHINES, 0)
    assert balance(funded, USD_LOAN.custody_collateral) == (0, 0)
    assert balance(funded, USD_LOAN.lender_usd) == (200_000_00, 0)
    assert balance(funded, USD_LOAN.borrower_usd) == (1, 0)


def test_an_open_loan_holds_the_machines_pending(funded: Ledger) -> None:
    book(funded, loan("open"), path([40.0] * 10 + [32.0] * 5), USD_LOAN)
    assert balance(funded, USD_LOAN.borrower_collateral) == (MACHINES, 175)  # reserved


def test_liquidation_sells_the_machines_to_the_buyer(funded: Ledger) -> None:
    book(funded, loan("sold"), path([40.0] * 10 + [30.0] * 25), USD_LOAN)
    # 100 machines × 1,778.40 × 0.5 × 0.95 = 84,474.00, all of it to the lender (claim 95,000).
    # In floats the margin 30 × 0.2 − 4.2 is 1.79999…, so the sale is 84,473.9999…: what the
    # buyer pays rounds down, to 8,447,399 cents.
    paid = 84_474_00 - 1
    assert balance(funded, USD_LOAN.buyer_collateral) == (100, 0)
    assert balance(funded, USD_LOAN.borrower_collateral) == (MACHINES - 100, 0)
    assert balance(funded, USD_LOAN.buyer_usd) == (200_000_00 - paid, 0)
    assert balance(funded, USD_LOAN.lender_usd) == (200_000_00 - 95_000_00 + paid, 0)
    assert balance(funded, USD_LOAN.borrower_usd) == (95_000_00, 0)


def test_a_btc_loan_is_lent_and_repaid_in_btc(funded: Ledger) -> None:
    btc = loan("btc", principal_usd=100_000.0, principal_btc=1.0, rate_per_year=0.0365)
    prices = [100_000.0] * 10 + [60_000.0] * 25
    funded.transfer(Transfer(9, BTC_ISSUER, BTC_LOAN.borrower_usd, 300_000))  # the interest
    book(funded, btc, path([40.0] * 10 + [30.0] * 25, prices), BTC_LOAN)
    # 1 BTC × (1 + 0.0365 × 30/365) = 1.003 BTC back: 100,300,000 sats.
    assert balance(funded, BTC_LOAN.lender_usd) == (2 * 10**8 + 300_000, 0)
    assert balance(funded, BTC_LOAN.borrower_usd) == (0, 0)
    assert balance(funded, BTC_LOAN.borrower_collateral) == (MACHINES, 0)


def test_a_btc_loan_liquidated_is_recovered_in_btc(funded: Ledger) -> None:
    btc = loan("btc-sold", principal_usd=100_000.0, principal_btc=1.0)
    prices = [100_000.0] * 10 + [60_000.0] * 25
    book(funded, btc, path([40.0] * 10 + [26.0] * 25, prices), BTC_LOAN)
    # 43,175.60 USD of machines at 60,000: 0.71959333… BTC, rounded down to 71,959,333 sats.
    assert balance(funded, BTC_LOAN.buyer_usd) == (2 * 10**8 - 71_959_333, 0)
    assert balance(funded, BTC_LOAN.lender_usd) == (10**8 + 71_959_333, 0)
    assert balance(funded, BTC_LOAN.borrower_usd) == (10**8, 0)  # the BTC it borrowed
    assert balance(funded, BTC_LOAN.buyer_collateral) == (100, 0)
