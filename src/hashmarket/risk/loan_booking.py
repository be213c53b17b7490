"""A loan's life along the realized fixings, booked on the ledger (``hashmarket loan-book``).

The loan runs through :func:`~hashmarket.instruments.loans.loan_life` on ONE path: the
published history from its start to the as-of day (at most to maturity plus the days a cure
and a sale can take). Whatever the engine says happened on that path — disbursement, pledge,
margin calls and top-ups, liquidation and sale, repayment and release — is booked with
:func:`hashmarket.ledger.loans.book_life`, in one ledger transaction.

* **The terms are fixed when the loan starts.** LTV levels a file leaves to its haircut
  policy are computed from the history as of the start day (the day they were agreed), not
  as of the booking day, so every booking of the same file books the same life.
* **Idempotent, and only what is new.** Transfer ids are derived from the loan id and the
  event, so booking again books nothing, and booking at a later as-of books only the events
  after the earlier one (a path's past does not change when it gets longer).
* **Nothing before it happens.** A sale falls ``liquidation_days`` after the liquidation
  starts; when the as-of day comes before that, the engine (which sells on the last day it
  sees) would sell early, so the sale and its surplus are left to a later booking.
* **Accounts.** The caller names the accounts that pay: the lender's and borrower's cash
  (USD, or BTC for a loan of BTC), the borrower's collateral, and, if the path reaches a
  sale, the buyer's cash. The accounts that only receive — the custody account holding the
  pledge, and by default the buyer's collateral account and the lender's account for a
  forward's deliveries — have ids derived from the loan id and are opened when first needed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from hashmarket.chain import NetworkHistory
from hashmarket.errors import LedgerError, Location, RiskError
from hashmarket.instruments import CollateralKind, Fixings, Loan, LoanEvent, loan_life
from hashmarket.ledger import Booking, Ledger, LoanAccounts, book_life
from hashmarket.money import derived_id
from hashmarket.risk.loan_analysis import levels_from_history
from hashmarket.risk.specs import RatesFor, parse_lending

AccountRef = int | str
# Keeps the derived ids of loans' receive-only accounts apart from every other derived id.
ACCOUNT_DOMAIN = "hashmarket/loan-account"


@dataclass(frozen=True)
class LoanParties:
    """The accounts a booked loan moves money between, by id or name (see the module)."""

    lender: AccountRef
    borrower: AccountRef
    borrower_collateral: AccountRef
    buyer: AccountRef | None = None
    buyer_collateral: AccountRef | None = None
    lender_collateral: AccountRef | None = None


@dataclass(frozen=True)
class LoanBookResult:
    """What booking a loan to ``asof`` did."""

    loan: Loan
    asof: dt.date
    events: tuple[LoanEvent, ...]
    accounts: LoanAccounts | None
    booking: Booking | None
    new_transfers: int
    waiting: str | None = None  # why the path's last events are not booked yet

    def to_dict(self) -> dict[str, Any]:
        b, a = self.booking, self.accounts
        return {
            "loan_id": self.loan.loan_id,
            "asof": self.asof.isoformat(),
            "events": [event_record(e) for e in self.events],
            "new_transfers": self.new_transfers,
            "transfers": 0 if b is None else b.transfers,
            "waiting": self.waiting,
            "accounts": None if a is None else dataclasses.asdict(a),
            "booking": None if b is None else dataclasses.asdict(b),
        }


def event_record(event: LoanEvent) -> dict[str, Any]:
    record: dict[str, Any] = {"day": event.day.isoformat(), "kind": event.kind}
    for name in ("units", "usd", "btc", "ltv"):
        value = getattr(event, name)
        if value == value and value != 0.0:  # NaN and zero say nothing
            record[name] = value
    return record


def account_id(loan_id: str, role: str) -> int:
    """The derived id of a loan's receive-only account (``custody``, ``buyer_collateral``,
    ``lender_collateral``)."""
    return derived_id(ACCOUNT_DOMAIN, loan_id, role, separator="/")


def booked_loan(
    document: Any,
    *,
    history: NetworkHistory,
    asof: dt.date,
    rates_for: RatesFor | None = None,
    location: Location | None = None,
) -> Loan:
    """The loan of a lending document, its LTV levels as of its start day (see the module)."""

    def parse(day: dt.date) -> Loan:
        levels = levels_from_history(history, asof=day)
        spec = parse_lending(document, location=location, levels_for=levels, rates_for=rates_for)
        if spec.loan is None:
            problem = "a leveraged position is not a loan"
            raise RiskError("risk_field", field="type", problem=problem)
        return spec.loan

    loan = parse(asof)
    return parse(loan.start) if loan.start < asof else loan


def realized_events(
    loan: Loan, history: NetworkHistory, asof: dt.date
) -> tuple[tuple[LoanEvent, ...], str | None]:
    """The loan's events on the realized path through ``asof``, and why any are held back."""
    if asof < loan.start:
        return (), f"the loan starts on {loan.start}, after the as-of day {asof}"
    end = loan.maturity + dt.timedelta(days=loan.liquidation_days + loan.cure_days)
    fixings = Fixings.from_history(history, start=loan.start, end=min(asof, end))
    life = loan_life(loan, fixings, record_events=True)
    assert life.events is not None
    events = life.events[0]
    started = next((e.day for e in events if e.kind == "liquidation"), None)
    sale = next((i for i, e in enumerate(events) if e.kind == "sale"), None)
    if started is not None and sale is not None:
        due = started + dt.timedelta(days=loan.liquidation_days)
        if events[sale].day < due:  # the window ended before the sale's day: not yet sold
            return events[:sale], f"the collateral is sold on {due}, after the as-of day"
    return events, None


def _account(ledger: Ledger, loan: Loan, role: str, ref: AccountRef, asset: str | None) -> int:
    try:
        found = ledger.account(ref)
    except LedgerError as error:
        if error.key != "account_not_found":
            raise
        raise RiskError(
            "loan_account", loan=loan.loan_id, role=role, account=ref, problem="no such account"
        ) from None
    if asset is not None and found.asset != asset:
        raise RiskError(
            "loan_account",
            loan=loan.loan_id,
            role=role,
            account=ref,
            problem=f"holds {found.asset}, the loan needs {asset}",
        )
    return found.id


def loan_accounts(
    ledger: Ledger, loan: Loan, parties: LoanParties, events: tuple[LoanEvent, ...]
) -> LoanAccounts:
    """The ledger accounts of ``parties``, checked: each exists and holds the asset its role
    needs; a buyer is named when the path reaches a sale."""
    cash = "BTC" if loan.borrows_btc else "USD"
    btc_pledged = loan.collateral.kind is CollateralKind.BTC or loan.is_forward
    collateral_needs = "BTC" if btc_pledged else None

    def get(role: str, ref: AccountRef, asset: str | None) -> int:
        return _account(ledger, loan, role, ref, asset)

    pledging = get("borrower_collateral", parties.borrower_collateral, collateral_needs)
    collateral = ledger.account(pledging).asset
    buyer = parties.buyer
    if buyer is None:
        if any(e.kind == "sale" for e in events):
            sale = next(e.day for e in events if e.kind == "sale")
            raise RiskError(
                "loan_account",
                loan=loan.loan_id,
                role="buyer",
                account=None,
                problem=f"the collateral is sold on {sale}: name the buyer's {cash} account",
            )
        buyer_cash = account_id(loan.loan_id, "buyer")
    else:
        buyer_cash = get("buyer", buyer, cash)

    def receiving(role: str, ref: AccountRef | None) -> int:
        return account_id(loan.loan_id, role) if ref is None else get(role, ref, collateral)

    return LoanAccounts(
        lender_usd=get("lender", parties.lender, cash),
        borrower_usd=get("borrower", parties.borrower, cash),
        borrower_collateral=pledging,
        custody_collateral=account_id(loan.loan_id, "custody"),
        buyer_usd=buyer_cash,
        buyer_collateral=receiving("buyer_collateral", parties.buyer_collateral),
        lender_collateral=(
            receiving("lender_collateral", parties.lender_collateral) if loan.is_forward else None
        ),
        usd_asset=cash,
        collateral_asset=collateral,
    )


def book_realized(
    ledger: Ledger,
    loan: Loan,
    parties: LoanParties,
    *,
    history: NetworkHistory,
    asof: dt.date,
) -> LoanBookResult:
    """Book ``loan``'s life on the realized path through ``asof`` (see the module)."""
    events, waiting = realized_events(loan, history, asof)
    if not events:
        return LoanBookResult(loan, asof, (), None, None, 0, waiting)
    accounts = loan_accounts(ledger, loan, parties, events)
    booking, new = book_life(ledger, loan, accounts, events)
    return LoanBookResult(loan, asof, events, accounts, booking, new, waiting)
