"""A loan's life on the ledger, on SQLite and on PostgreSQL (the ``ledger`` fixture): every
event booked from the loan engine's path, idempotent, money conserved, ``verify()`` green."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from hashmarket.errors import RiskError
from hashmarket.instruments import (
    Collateral,
    CollateralKind,
    Fixings,
    Loan,
    deliverable_forward,
    loan_life,
)
from hashmarket.ledger import Asset, Ledger, Transfer, TransferFlags
from hashmarket.ledger.loans import (
    LoanAccounts,
    book_events,
    open_accounts,
    transfer_id,
)
from hashmarket.money import Rounding, to_minor
from tests.conftest import BTC_ISSUER, USD_ISSUER

START = dt.date(2026, 2, 1)
ACCOUNTS = LoanAccounts(
    lender_usd=100,
    borrower_usd=101,
    borrower_collateral=102,
    custody_collateral=103,
    buyer_usd=104,
    buyer_collateral=105,
    lender_collateral=106,
)
LENDER_CASH = 1_000_000_00  # cents
BORROWER_BTC = 10 * 10**8  # sats
BORROWER_CASH = 20_000_00
BUYER_CASH = 1_000_000_00


@pytest.fixture
def funded(ledger: Ledger) -> Ledger:
    open_accounts(ledger, ACCOUNTS)
    open_accounts(ledger, ACCOUNTS)  # opening again is fine
    ledger.create_transfers(
        [
            Transfer(1, USD_ISSUER, ACCOUNTS.lender_usd, LENDER_CASH),
            Transfer(2, BTC_ISSUER, ACCOUNTS.borrower_collateral, BORROWER_BTC),
            Transfer(3, USD_ISSUER, ACCOUNTS.borrower_usd, BORROWER_CASH),
            Transfer(4, USD_ISSUER, ACCOUNTS.buyer_usd, BUYER_CASH),
        ]
    )
    return ledger


def loan(loan_id: str, **terms: object) -> Loan:
    base: dict[str, object] = {
        "loan_id": loan_id,
        "principal_usd": 50_000.0,
        "rate_per_year": 0.10,
        "start": START,
        "maturity": START + dt.timedelta(days=30),
        "collateral": Collateral(CollateralKind.BTC, 1.0),
        "initial_ltv": 0.60,
        "margin_call_ltv": 0.75,
        "liquidation_ltv": 0.85,
    }
    base.update(terms)
    return Loan(**base)  # type: ignore[arg-type]


def btc_path(prices: list[float]) -> Fixings:
    days = [START + dt.timedelta(days=i) for i in range(len(prices))]
    return Fixings.from_arrays(days, price_usd=np.array(prices)[None, :])


def balances(ledger: Ledger) -> dict[int, tuple[int, int]]:
    """Posted balance and pending debits of every loan account."""
    ids = [a.id for a in ACCOUNTS.accounts()]
    return {a.id: (a.balance, a.debits_pending) for a in ledger.lookup_accounts(ids)}


def totals(ledger: Ledger) -> dict[str, int]:
    """Money held by the participants, per asset: what the issuers put in, nothing more."""
    out = {"USD": 0, "BTC": 0}
    for a in ledger.lookup_accounts([a.id for a in ACCOUNTS.accounts()]):
        out[a.asset] += a.balance
    return out


def book(ledger: Ledger, the_loan: Loan, fixings: Fixings) -> list[str]:
    life = loan_life(the_loan, fixings, record_events=True)
    assert life.events is not None
    events = life.events[0]
    first = book_events(ledger, the_loan, ACCOUNTS, events)
    state = ledger.state_hash()
    again = book_events(ledger, the_loan, ACCOUNTS, events)  # a replay changes nothing
    assert again == first
    assert ledger.state_hash() == state
    report = ledger.verify()
    assert report.ok, report.problems
    assert totals(ledger) == {"USD": LENDER_CASH + BORROWER_CASH + BUYER_CASH, "BTC": BORROWER_BTC}
    return [e.kind for e in events]


def test_disburse_pledge_repay_release(funded: Ledger) -> None:
    kinds = book(funded, loan("calm"), btc_path([100_000.0] * 40))
    assert kinds == ["disbursement", "pledge", "repayment", "release"]
    b = balances(funded)
    # Repaid 50,000 × (1 + 0.10 × 30/365) = 50,410.958… → 5,041,096 cents (rounded up).
    assert b[ACCOUNTS.lender_usd] == (LENDER_CASH - 5_000_000 + 5_041_096, 0)
    assert b[ACCOUNTS.borrower_usd] == (BORROWER_CASH + 5_000_000 - 5_041_096, 0)
    assert b[ACCOUNTS.borrower_collateral] == (BORROWER_BTC, 0)  # pledge voided: released
    assert b[ACCOUNTS.custody_collateral] == (0, 0)


def test_the_pledge_is_pending_until_the_loan_ends(funded: Ledger) -> None:
    the_loan = loan("open")
    life = loan_life(the_loan, btc_path([100_000.0] * 10), record_events=True)  # not matured
    assert life.events is not None
    booking = book_events(funded, the_loan, ACCOUNTS, life.events[0])
    assert booking.pending_ids == (transfer_id("open", "pledge", 0),)
    b = balances(funded)
    assert b[ACCOUNTS.borrower_collateral] == (BORROWER_BTC, 10**8)  # reserved, still held
    entry = funded.lookup_transfer(transfer_id("open", "pledge", 0))
    assert entry is not None and entry.flags & TransferFlags.PENDING
    assert funded.verify().ok


def test_margin_call_top_up_then_repayment(funded: Ledger) -> None:
    prices = [100_000.0] * 10 + [66_000.0] * 30
    kinds = book(funded, loan("topup"), btc_path(prices))
    assert kinds == ["disbursement", "pledge", "margin_call", "top_up", "repayment", "release"]
    # Top-up of 0.266777… BTC rounded up to 26,677,737 sats; both pledges released at the end.
    top_up = to_minor((50_000 * (1 + 0.1 * 12 / 365) / 0.6 - 66_000) / 66_000, 8, Rounding.UP)
    assert top_up == 26_677_737
    assert funded.lookup_transfer(transfer_id("topup", "pledge", 1)) is not None
    b = balances(funded)
    assert b[ACCOUNTS.borrower_collateral] == (BORROWER_BTC, 0)


def test_liquidation_posts_the_pledge_sells_and_pays_the_surplus(funded: Ledger) -> None:
    prices = [100_000.0] * 10 + [55_000.0] * 30
    kinds = book(funded, loan("crash"), btc_path(prices))
    assert kinds == ["disbursement", "pledge", "margin_call", "liquidation", "sale", "surplus"]
    b = balances(funded)
    # Sold 1 BTC at 55,000 less 2 % = 53,900.00: the claim of day 11, 50,150.68, to the
    # lender, the remaining 3,749.32 to the borrower.
    assert b[ACCOUNTS.buyer_collateral] == (10**8, 0)
    assert b[ACCOUNTS.borrower_collateral] == (BORROWER_BTC - 10**8, 0)
    assert b[ACCOUNTS.lender_usd] == (LENDER_CASH - 5_000_000 + 5_015_068, 0)
    assert b[ACCOUNTS.borrower_usd] == (BORROWER_CASH + 5_000_000 + 374_932, 0)
    assert b[ACCOUNTS.buyer_usd] == (BUYER_CASH - 5_390_000, 0)


def test_a_liquidation_through_a_gap_books_the_loss(funded: Ledger) -> None:
    prices = [100_000.0] * 10 + [40_000.0] * 30
    book(funded, loan("gap"), btc_path(prices))
    b = balances(funded)
    # 39,200.00 recovered of a 50,150.68 claim: the lender is 10,800 short of its principal.
    assert b[ACCOUNTS.lender_usd] == (LENDER_CASH - 5_000_000 + 3_920_000, 0)
    assert b[ACCOUNTS.borrower_usd] == (BORROWER_CASH + 5_000_000, 0)


def test_token_collateral_is_pledged_in_its_own_asset(funded: Ledger) -> None:
    assert funded.create_asset(Asset("HRT", 0), issuer_account_id=50).value == "ok"
    token_accounts = LoanAccounts(
        lender_usd=100,
        borrower_usd=101,
        borrower_collateral=110,
        custody_collateral=111,
        buyer_usd=104,
        buyer_collateral=112,
        collateral_asset="HRT",
    )
    open_accounts(funded, token_accounts)
    funded.transfer(Transfer(20, 50, 110, 1_000))
    from hashmarket.instruments import HashrateToken

    token = HashrateToken(
        ths_per_token=Decimal(100),
        start=START,
        end=START + dt.timedelta(days=364),
        efficiency_w_per_th=Decimal(15),
        power_price_usd_per_kwh=Decimal("0.05"),
    )
    the_loan = loan(
        "tokens",
        principal_usd=20_000.0,
        collateral=Collateral(CollateralKind.TOKEN, 800.0, token),
    )
    days = [START + dt.timedelta(days=i) for i in range(40)]
    fixings = Fixings.from_arrays(
        days,
        price_usd=np.full((1, 40), 100_000.0),
        hashprice_btc_per_ph_day=np.full((1, 40), 0.0005),
    )
    life = loan_life(the_loan, fixings, record_events=True)
    assert life.events is not None
    booking = book_events(funded, the_loan, token_accounts, life.events[0])
    assert booking.pledged_minor == 800
    assert funded.account(110).balance == 1_000  # released at repayment
    assert funded.verify().ok


def test_a_deliverable_forward_on_the_ledger(funded: Ledger) -> None:
    fwd = deliverable_forward(
        loan_id="fwd",
        hashrate_phs=10.0,
        price_usd_per_ph_day=40.0,
        start=START,
        maturity=START + dt.timedelta(days=29),
    )
    days = [START + dt.timedelta(days=i) for i in range(35)]
    fixings = Fixings.from_arrays(
        days,
        price_usd=np.full((1, 35), 80_000.0),
        hashprice_usd_per_ph_day=np.full((1, 35), 40.0),
        hashprice_btc_per_ph_day=np.full((1, 35), 0.0005),
    )
    kinds = book(funded, fwd, fixings)
    assert kinds.count("delivery") == 30
    b = balances(funded)
    assert b[ACCOUNTS.lender_usd] == (LENDER_CASH - 984_000, 0)  # the upfront, 9,840.00
    # 30 days × 10 PH/s × 0.0005 BTC = 0.15 BTC delivered to the lender.
    assert ACCOUNTS.lender_collateral is not None
    assert b[ACCOUNTS.lender_collateral] == (15_000_000, 0)


def test_a_refused_event_leaves_the_ledger_as_the_last_event_left_it(funded: Ledger) -> None:
    big = loan(
        "big",
        principal_usd=900_000.0,
        rate_per_year=0.5,  # 36,986 of interest, more than the borrower's 20,000
        collateral=Collateral(CollateralKind.BTC, 5.0),
    )
    life = loan_life(big, btc_path([400_000.0] * 40), record_events=True)
    assert life.events is not None
    with pytest.raises(RiskError, match="repayment refused: exceeds_credits"):
        book_events(funded, big, ACCOUNTS, life.events[0])  # the borrower cannot pay interest
    b = balances(funded)
    assert b[ACCOUNTS.borrower_collateral] == (BORROWER_BTC, 5 * 10**8)  # still pledged
    assert funded.verify().ok
