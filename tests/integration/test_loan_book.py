"""``loan-book``: a loan's life on the published fixings booked on the ledger, on SQLite and
PostgreSQL (the ``ledger`` fixture): the example BTC loan to a pinned as-of day and then to
a later one, the 2022 drawdown's margin call and top-up, a liquidation, and refusals that
write nothing. Amounts are written out in cents and sats."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from hashmarket.chain import NetworkHistory
from hashmarket.errors import RiskError
from hashmarket.instruments import Fixings, Loan
from hashmarket.ledger import Ledger
from hashmarket.risk import LoanParties, book_realized, booked_loan
from hashmarket.risk.loan_booking import account_id
from tests.conftest import fund

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "risk"
LENDER, BORROWER, BORROWER_BTC, BUYER = 10, 11, 12, 13
LENDER_CENTS = 3_000_000_00
BORROWER_CENTS = 200_000_00
BORROWER_SATS = 100 * 10**8
BUYER_CENTS = 2_000_000_00
PARTIES = LoanParties(LENDER, BORROWER, BORROWER_BTC, buyer=BUYER)


@cache
def history() -> NetworkHistory:
    return NetworkHistory.load()


def example(name: str, **changes: Any) -> Loan:
    document = json.loads((EXAMPLES / name).read_text())
    document.update(changes)
    return booked_loan(document, history=history(), asof=dt.date(2026, 1, 22))


@pytest.fixture
def funded(ledger: Ledger) -> Ledger:
    fund(ledger, LENDER, LENDER_CENTS, asset="USD", tid=9_001)
    fund(ledger, BORROWER, BORROWER_CENTS, asset="USD", tid=9_002)
    fund(ledger, BORROWER_BTC, BORROWER_SATS, tid=9_003)
    fund(ledger, BUYER, BUYER_CENTS, asset="USD", tid=9_004)
    return ledger


def held(ledger: Ledger, *ids: int) -> list[tuple[int, int]]:
    """(posted balance, pending debits) of each account."""
    found = {a.id: a for a in ledger.lookup_accounts(list(ids))}
    return [(found[i].balance, found[i].debits_pending) for i in ids]


def book(ledger: Ledger, loan: Loan, day: dt.date, parties: LoanParties = PARTIES) -> Any:
    result = book_realized(ledger, loan, parties, history=history(), asof=day)
    report = ledger.verify()
    assert report.ok, report.problems
    return result


def test_the_example_loan_is_booked_to_an_asof_day_and_then_only_what_is_new(
    funded: Ledger,
) -> None:
    loan = example("loan_booked.json")
    first = book(funded, loan, dt.date(2025, 10, 31))
    assert [e.kind for e in first.events] == ["disbursement", "pledge"]
    assert first.new_transfers == 2
    custody = account_id(loan.loan_id, "custody")
    # 2,000,000.00 USD lent; 43 BTC pledged (reserved, still the borrower's).
    assert held(funded, LENDER, BORROWER, BORROWER_BTC) == [
        (LENDER_CENTS - 200_000_000, 0),
        (BORROWER_CENTS + 200_000_000, 0),
        (BORROWER_SATS, 4_300_000_000),
    ]
    assert funded.lookup_accounts([custody])[0].credits_pending == 4_300_000_000

    state = funded.state_hash()
    again = book(funded, loan, dt.date(2025, 10, 31))
    assert again.new_transfers == 0 and funded.state_hash() == state

    later = book(funded, loan, dt.date(2026, 1, 22))
    assert [e.kind for e in later.events][2:] == ["repayment", "release"]
    assert later.new_transfers == 2  # the repayment and the void of the pledge
    # Repaid 2,000,000 × (1 + 0.11 × 183/365) = 2,110,301.369… → 211,030,137 cents (up).
    assert later.booking.repaid_minor == 211_030_137
    assert held(funded, LENDER, BORROWER, BORROWER_BTC) == [
        (LENDER_CENTS - 200_000_000 + 211_030_137, 0),
        (BORROWER_CENTS + 200_000_000 - 211_030_137, 0),
        (BORROWER_SATS, 0),
    ]
    assert book(funded, loan, dt.date(2026, 1, 22)).new_transfers == 0


def test_the_2022_drawdown_margin_calls_and_the_top_up_is_booked(funded: Ledger) -> None:
    loan = example("loan_2022.json")
    prices = Fixings.from_history(history(), start=dt.date(2022, 5, 6), end=dt.date(2022, 5, 8))
    assert prices.values["price_usd"][0].tolist() == [
        36042.9995584453,
        35508.7110227937,
        34058.9066861484,
    ]
    result = book(funded, loan, dt.date(2022, 5, 10))
    kinds = [(e.day.isoformat(), e.kind) for e in result.events]
    assert kinds == [
        ("2022-04-01", "disbursement"),
        ("2022-04-01", "pledge"),
        ("2022-05-06", "margin_call"),
        ("2022-05-08", "top_up"),
    ]
    # 6 May: claim 1,000,000 × (1 + 0.10 × 35/365) = 1,009,589.04 over 40 × 36,043.00 is
    # 0.70027 ≥ 0.70. 8 May (two days to cure): back to 60 % needs 1,010,136.99 / 0.6 /
    # 34,058.91 − 40 = 9.430877… BTC → 943,087,749 sats (rounded up).
    assert result.events[2].ltv == pytest.approx(0.700267, abs=1e-6)
    assert result.booking.pledged_minor == 4_000_000_000 + 943_087_749
    assert held(funded, BORROWER_BTC, LENDER) == [
        (BORROWER_SATS, 4_943_087_749),
        (LENDER_CENTS - 100_000_000, 0),
    ]
    # To 25 May: a second call on 11 May (cured by the market) and one on 18 May with its
    # top-up on 20 May: one new transfer.
    later = book(funded, loan, dt.date(2022, 5, 25))
    assert [e.kind for e in later.events[4:]] == ["margin_call", "margin_call", "top_up"]
    assert later.new_transfers == 1
    top_up = later.booking.pledged_minor - 4_943_087_749
    assert held(funded, BORROWER_BTC)[0] == (BORROWER_SATS, 4_943_087_749 + top_up)


def test_a_call_not_cured_is_liquidated_and_sold_the_next_day(funded: Ledger) -> None:
    loan = example("loan_2022.json", borrower_cures=False, loan_id="no-cure")
    # On 8 May, the end of the cure window, the call stands: liquidation, sale on 9 May.
    waiting = book(funded, loan, dt.date(2022, 5, 8))
    assert [e.kind for e in waiting.events][-1] == "liquidation"
    assert waiting.waiting == "the collateral is sold on 2022-05-09, after the as-of day"
    sold = book(funded, loan, dt.date(2022, 5, 9))
    assert [e.kind for e in sold.events][-2:] == ["sale", "surplus"]
    # 40 × 30,457.92 × 0.98 = 1,193,950.535… → 119,395,053 cents paid by the buyer: the
    # claim of 9 May, 1,000,000 × (1 + 0.10 × 38/365) = 1,010,410.96, to the lender and
    # the rest, 18,353,957 cents, to the borrower; the 40 BTC go to the buyer's account.
    buyer_btc = account_id("no-cure", "buyer_collateral")
    assert held(funded, LENDER, BORROWER, BUYER, BORROWER_BTC, buyer_btc) == [
        (LENDER_CENTS - 100_000_000 + 101_041_096, 0),
        (BORROWER_CENTS + 100_000_000 + 18_353_957, 0),
        (BUYER_CENTS - 119_395_053, 0),
        (BORROWER_SATS - 4_000_000_000, 0),
        (4_000_000_000, 0),
    ]


def test_a_sale_without_a_buyer_is_refused_and_nothing_is_written(funded: Ledger) -> None:
    loan = example("loan_2022.json", borrower_cures=False, loan_id="no-buyer")
    state = funded.state_hash()
    no_buyer = dataclasses.replace(PARTIES, buyer=None)
    with pytest.raises(RiskError, match="sold on 2022-05-09: name the buyer's USD account"):
        book(funded, loan, dt.date(2022, 5, 9), no_buyer)
    assert funded.state_hash() == state


def test_a_refused_repayment_books_none_of_the_loan(funded: Ledger) -> None:
    loan = example("loan_booked.json")
    poor = dataclasses.replace(PARTIES, borrower=20)
    fund(funded, 20, 1_000_00, asset="USD", tid=9_005)  # cannot pay 110,301.37 of interest
    state = funded.state_hash()
    with pytest.raises(RiskError, match="repayment refused: exceeds_credits"):
        book(funded, loan, dt.date(2026, 1, 22), poor)
    # All or nothing: not even the disbursement or the pledge was written.
    assert funded.state_hash() == state
    assert held(funded, LENDER, BORROWER_BTC) == [(LENDER_CENTS, 0), (BORROWER_SATS, 0)]


@pytest.mark.parametrize(
    ("parties", "message"),
    [
        (
            LoanParties(LENDER, BORROWER, BORROWER),
            "borrower_collateral account 11: holds USD, the loan needs BTC",
        ),
        (LoanParties(BORROWER_BTC, BORROWER, BORROWER_BTC), "lender account 12: holds BTC"),
        (LoanParties("nobody", BORROWER, BORROWER_BTC), "lender account 'nobody': no such"),
    ],
)
def test_wrong_accounts_are_refused_by_role(
    funded: Ledger, parties: LoanParties, message: str
) -> None:
    state = funded.state_hash()
    with pytest.raises(RiskError, match=message):
        book(funded, example("loan_booked.json"), dt.date(2026, 1, 22), parties)
    assert funded.state_hash() == state


def test_a_loan_that_starts_after_the_asof_day_books_nothing(funded: Ledger) -> None:
    state = funded.state_hash()
    result = book(funded, example("loan.json"), dt.date(2026, 1, 22))
    assert result.events == () and result.new_transfers == 0
    assert result.waiting == "the loan starts on 2026-02-01, after the as-of day 2026-01-22"
    assert funded.state_hash() == state
