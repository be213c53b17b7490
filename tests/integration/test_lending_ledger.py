"""Floating loans on the lending reference rate, and the ledger's loan book as a rate source,
on SQLite and PostgreSQL (the ``ledger`` fixture): amounts to the cent, checked by hand."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from hashmarket.errors import DataError, RiskError
from hashmarket.index import LendingCurrency, Tenor, lending_fixings
from hashmarket.instruments import (
    Collateral,
    CollateralKind,
    Fixings,
    FloatingRate,
    Loan,
    interest_schedule,
    loan_life,
    reset_periods,
    with_fixings,
)
from hashmarket.ledger import (
    BookedLoan,
    Ledger,
    Transfer,
    booked_transactions,
    floating_rates,
    import_loan_book,
    imported_loan_books,
    read_loan_book,
)
from hashmarket.ledger.loans import LoanAccounts, book_events, open_accounts
from hashmarket.risk import parse_lending
from tests.conftest import BTC_ISSUER, USD_ISSUER
from tests.unit.test_lending_rate import ELIGIBLE, loan

EXAMPLES = Path(__file__).parents[2] / "examples" / "lending"
START = dt.date(2026, 1, 14)  # a Wednesday, the day of the hand-computed 7 % fixing
MATURITY = dt.date(2026, 3, 14)
FEB_13 = dt.date(2026, 2, 13)  # the Friday before the second reset (Saturday 14 February)
# Five one-month loans of $200,000 on 13 February: cumulative 200k, 400k, 600k of $1m, so the
# median is the third rate, 6.15 %.
FEBRUARY = [
    loan(f"feb{i}", rate, 200_000, start=FEB_13)
    for i, rate in enumerate(("0.0600", "0.0610", "0.0615", "0.0620", "0.0650"))
]
ACCOUNTS = LoanAccounts(
    lender_usd=100,
    borrower_usd=101,
    borrower_collateral=102,
    custody_collateral=103,
    buyer_usd=104,
    buyer_collateral=105,
)
LENDER_CASH = 2_000_000_00
BORROWER_CASH = 50_000_00
BORROWER_BTC = 40 * 10**8


def floating_loan() -> Loan:
    fixings = lending_fixings([*ELIGIBLE, *FEBRUARY], currency=LendingCurrency.USD)
    floating = with_fixings(
        FloatingRate(Tenor.M1, Decimal("0.02")), start=START, maturity=MATURITY, fixings=fixings
    )
    return Loan(
        loan_id="floating-1m",
        principal_usd=1_000_000.0,
        rate_per_year=float(floating.resets[0].rate_per_year),
        start=START,
        maturity=MATURITY,
        collateral=Collateral(CollateralKind.BTC, 30.0),
        initial_ltv=0.6,
        margin_call_ltv=0.75,
        liquidation_ltv=0.85,
        floating=floating,
    )


def test_floating_interest_over_two_resets_by_hand() -> None:
    the_loan = floating_loan()
    assert the_loan.floating is not None
    resets = the_loan.floating.resets
    # Monthly resets from 14 January: [14 Jan, 14 Feb) 31 days, [14 Feb, 14 Mar) 28 days.
    assert [(r.start, r.end, r.days) for r in resets] == [
        (START, dt.date(2026, 2, 14), 31),
        (dt.date(2026, 2, 14), MATURITY, 28),
    ]
    # The first reset takes 14 January's fixing, 7 %; the second, on a Saturday, takes
    # Friday 13 February's, 6.15 %. Plus the 2 % spread: 9 % and 8.15 %.
    assert [(r.fixing_date, r.fixing_rate_per_year, r.rate_per_year) for r in resets] == [
        (START, Decimal("0.07000"), Decimal("0.09000")),
        (FEB_13, Decimal("0.06150"), Decimal("0.08150")),
    ]
    # 100,000,000 cents x 0.09 x 31/365 = 764,383.56 -> 764,384 (half to even: not a tie);
    # 100,000,000 cents x 0.0815 x 28/365 = 625,205.48 -> 625,205.
    assert interest_schedule(the_loan.floating, 100_000_000) == [764_384, 625_205]
    assert the_loan.claim_usd(MATURITY) == 1_013_895.89
    # Mid-period, the running period accrues pro rata: 10 of 31 days of 764,384 cents.
    assert the_loan.claim_usd(dt.date(2026, 1, 24)) == pytest.approx(
        1_000_000 + 764_384 * 10 / 31 / 100, abs=1e-9
    )


def test_reset_periods_clamp_to_month_end() -> None:
    periods = reset_periods(dt.date(2026, 1, 31), dt.date(2026, 4, 15), Tenor.M1)
    assert periods == [
        (dt.date(2026, 1, 31), dt.date(2026, 2, 28)),
        (dt.date(2026, 2, 28), dt.date(2026, 3, 31)),
        (dt.date(2026, 3, 31), dt.date(2026, 4, 15)),
    ]


def test_no_fixing_before_the_first_reset_is_refused() -> None:
    with pytest.raises(RiskError, match="no usd 1m lending-rate fixing on or before 2026-01-13"):
        with_fixings(
            FloatingRate(Tenor.M1, Decimal("0.02")),
            start=dt.date(2026, 1, 13),
            maturity=MATURITY,
            fixings=lending_fixings(ELIGIBLE, currency=LendingCurrency.USD),
        )


def fund(ledger: Ledger) -> None:
    open_accounts(ledger, ACCOUNTS)
    ledger.create_transfers(
        [
            Transfer(1, USD_ISSUER, ACCOUNTS.lender_usd, LENDER_CASH),
            Transfer(2, BTC_ISSUER, ACCOUNTS.borrower_collateral, BORROWER_BTC),
            Transfer(3, USD_ISSUER, ACCOUNTS.borrower_usd, BORROWER_CASH),
        ]
    )


def test_floating_loan_booked_on_the_ledger(ledger: Ledger) -> None:
    fund(ledger)
    the_loan = floating_loan()
    days = [START + dt.timedelta(days=i) for i in range((MATURITY - START).days + 1)]
    path = Fixings.from_arrays(days, price_usd=np.full((1, len(days)), 100_000.0))
    life = loan_life(the_loan, path, record_events=True)
    assert life.events is not None
    book_events(ledger, the_loan, ACCOUNTS, life.events[0])
    balances = {a.id: a.balance for a in ledger.lookup_accounts([100, 101, 102])}
    # Lent 100,000,000 cents, repaid 100,000,000 + 764,384 + 625,205 = 101,389,589 cents.
    assert balances == {
        100: LENDER_CASH - 100_000_000 + 101_389_589,
        101: BORROWER_CASH + 100_000_000 - 101_389_589,
        102: BORROWER_BTC,
    }
    assert ledger.verify().ok


def test_loan_book_read_from_the_ledger(ledger: Ledger, tmp_path: Path) -> None:
    fund(ledger)
    fixed = Loan(
        loan_id="book-1",
        principal_usd=250_000.0,
        rate_per_year=0.085,
        start=START,
        maturity=START + dt.timedelta(days=30),
        collateral=Collateral(CollateralKind.BTC, 10.0),
        initial_ltv=0.6,
        margin_call_ltv=0.75,
        liquidation_ltv=0.85,
    )
    days = [START + dt.timedelta(days=i) for i in range(5)]
    path = Fixings.from_arrays(days, price_usd=np.full((1, 5), 100_000.0))
    life = loan_life(fixed, path, record_events=True)  # disbursed, not yet matured
    assert life.events is not None
    book_events(ledger, fixed, ACCOUNTS, life.events[0])
    book = tmp_path / "book.json"
    book.write_text(
        '{"loans": [{"loan_id": "book-1", "currency": "usd", "rate_per_year": "0.085",'
        ' "start": "2026-01-14", "maturity": "2026-02-13", "lender_owner": "fund-a",'
        ' "borrower_owner": "miner-b"},'
        ' {"loan_id": "not-booked", "currency": "usd", "rate_per_year": 0.09,'
        ' "start": "2026-01-14", "maturity": "2026-02-13"}]}'
    )
    loans = read_loan_book(book)
    assert loans[0] == BookedLoan(
        "book-1", LendingCurrency.USD, Decimal("0.085"), START, START + dt.timedelta(days=30),
        "fund-a", "miner-b",
    )  # fmt: skip
    [t] = booked_transactions(ledger, loans)  # the loan not on the ledger is left out
    assert (t.transaction_id, t.amount_minor, t.rate_per_year) == (
        "ledger:book-1",
        25_000_000,
        Decimal("0.085"),
    )
    assert (t.lender, t.borrower, t.days) == ("100", "101", 30)
    # Imported into a data directory, once; a second book naming the same loan is refused.
    data_dir = tmp_path / "data"
    assert import_loan_book(book, data_dir)[1:] == (2, True)
    assert import_loan_book(book, data_dir)[1:] == (2, False)
    again = tmp_path / "again.json"
    again.write_text(book.read_text().replace("fund-a", "fund-c"))
    with pytest.raises(DataError, match=r"loans\[0\].loan_id: 'book-1' is in a book imported"):
        import_loan_book(again, data_dir)
    assert [b.loan_id for b in imported_loan_books(data_dir)] == ["book-1", "not-booked"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('{"loan_id": "x", "currency": "eur"}', r"loans\[0\].currency: 'eur' must be usd or btc"),
        (
            '{"loan_id": "x", "currency": "usd", "rate_per_year": "5.25", "start": "2026-01-01",'
            ' "maturity": "2026-02-01"}',
            r"loans\[0\].rate_per_year: '5.25' must be a fraction",
        ),
        ('{"loan_id": "x", "amount": 3}', r"loans\[0\].amount: 3 is an unknown field"),
    ],
)
def test_bad_loan_book(tmp_path: Path, entry: str, message: str) -> None:
    book = tmp_path / "book.json"
    book.write_text('{"loans": [' + entry + "]}")
    with pytest.raises(DataError, match=message):
        read_loan_book(book)


def test_fixed_rate_loans_unchanged() -> None:
    """A loan without ``floating`` accrues at its fixed rate as before."""
    fixed = dataclasses.replace(floating_loan(), floating=None, rate_per_year=0.10)
    assert fixed.claim_usd(START + dt.timedelta(days=30)) == 1_000_000 * (1 + 0.10 * 30 / 365)


def test_floating_loan_specs() -> None:
    spec = json.loads((EXAMPLES / "floating_loan.json").read_text())
    loan_spec = parse_lending(spec, rates_for=floating_rates([*ELIGIBLE, *FEBRUARY])).loan
    assert loan_spec is not None and loan_spec.floating is not None
    # The reset on Monday 2 February takes that day's fixing: 14 January's 7 % republished
    # (level 4) + 2.5 %; those on 2 March and 2 April, after the data, take its last fixing,
    # 13 February's 6.15 % + 2.5 %.
    resets = loan_spec.floating.resets
    assert [(str(r.fixing_date), str(r.rate_per_year)) for r in resets] == [
        ("2026-02-02", "0.09500"),
        ("2026-02-13", "0.08650"),
        ("2026-02-13", "0.08650"),
    ]
    assert loan_spec.rate_per_year == 0.095
    with pytest.raises(RiskError, match="field 'floating': no usd 1m lending-rate fixing"):
        parse_lending(spec, rates_for=floating_rates([]))
    with pytest.raises(RiskError, match="field 'floating': needs the lending reference rate"):
        parse_lending(spec)
    with pytest.raises(RiskError, match="field 'rate_per_year'"):
        parse_lending({**spec, "rate_per_year": 0.1}, rates_for=floating_rates(ELIGIBLE))
