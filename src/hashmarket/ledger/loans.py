"""A loan's life on the ledger: disbursement, pledge, top-ups, liquidation, repayment.

The events come from :func:`hashmarket.instruments.loans.loan_life` on one path
(``record_events``) — the same engine that gives the probabilities — and are booked with the
ledger's public API:

* **disbursement** — lender USD → borrower USD, the principal;
* **pledge** and **top-up** — borrower collateral → the lender's custody account as a
  *pending* (two-phase) transfer: the collateral is reserved, still the borrower's; a
  forward's margin top-ups are pending USD transfers to the lender;
* **delivery** (forward) — the day's output, borrower BTC → lender BTC;
* **liquidation** — one linked batch: every pending pledge is posted, the collateral goes
  from custody to the buyer, the buyer pays the lender its recovery and the borrower the
  surplus (all of the sale's proceeds, so nothing is lost to rounding);
* **repayment** — borrower USD → lender USD, the accrued claim; then every pending pledge is
  voided, releasing the collateral.

A loan of BTC (``Loan.principal_btc``) books the same events in BTC: its lender, borrower and
buyer "USD" accounts are BTC accounts (``LoanAccounts.usd_asset = "BTC"``), the buyer pays for
the collateral in BTC at the day's close.

Every transfer id is derived from the loan id, the event and its sequence number
(:func:`transfer_id`), so booking the same events again changes nothing (the ledger answers
``ok`` to a replay) and a half-booked life can simply be booked again.

Floats become integers by the loan's ``rounding`` (:class:`LoanRounding`, applied with
:func:`hashmarket.money.to_minor` at the asset's scale from the ledger): by default what the
borrower owes or pledges is rounded up (the lender is never short by rounding), what is
delivered or the buyer pays is rounded down, and the surplus is the exact remainder of the
proceeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hashmarket.errors import RiskError
from hashmarket.instruments import Loan, LoanEvent
from hashmarket.ledger import Account, Ledger, Transfer, TransferFlags
from hashmarket.ledger.results import CreateAccountResult, CreateTransferResult
from hashmarket.money import Rounding, derived_id, to_minor

# Keeps loans' transfer ids apart from every other use of :func:`derived_id`.
ID_DOMAIN = "hashmarket/loan"
PENDING = TransferFlags.PENDING
LINKED = TransferFlags.LINKED


def transfer_id(loan_id: str, event: str, seq: int = 0) -> int:
    """A stable 63-bit transfer id for ``event`` number ``seq`` of loan ``loan_id``."""
    # "/" joins the parts: the ids of every loan ever booked depend on this exact text.
    return derived_id(ID_DOMAIN, loan_id, event, seq, separator="/")


def _minor(amount: float, scale: int, rounding: Rounding) -> int:
    """``amount`` in units of ``10**-scale`` by ``rounding``; never negative."""
    try:
        return max(to_minor(float(amount), scale, rounding), 0)
    except ValueError:
        raise RiskError("loan_state", loan="?", problem=f"amount {amount} is not finite") from None


@dataclass(frozen=True)
class LoanAccounts:
    """The ledger accounts a loan moves money between (ids chosen by the caller)."""

    lender_usd: int
    borrower_usd: int
    borrower_collateral: int
    custody_collateral: int
    buyer_usd: int
    buyer_collateral: int
    lender_collateral: int | None = None  # a forward's deliveries land here
    usd_asset: str = "USD"
    collateral_asset: str = "BTC"

    def accounts(self) -> list[Account]:
        usd = [self.lender_usd, self.borrower_usd, self.buyer_usd]
        collateral = [self.borrower_collateral, self.custody_collateral, self.buyer_collateral]
        if self.lender_collateral is not None:
            collateral.append(self.lender_collateral)
        return [Account(i, self.usd_asset) for i in usd] + [
            Account(i, self.collateral_asset) for i in collateral
        ]


def open_accounts(ledger: Ledger, accounts: LoanAccounts) -> None:
    """Open the accounts that do not exist yet (an existing identical account is fine)."""
    results = ledger.create_accounts(accounts.accounts())
    for account, result in zip(accounts.accounts(), results, strict=True):
        if result is not CreateAccountResult.OK:
            raise RiskError(
                "loan_refused",
                loan="accounts",
                action=f"opening account {account.id}",
                result_code=result.value,
                reason=result.reason,
            )


@dataclass(frozen=True)
class Booking:
    """What booking a loan's events did, in the assets' smallest units."""

    loan_id: str
    transfers: int
    pledged_minor: int
    principal_minor: int
    repaid_minor: int
    recovered_minor: int
    surplus_minor: int
    delivered_minor: int
    margin_minor: int
    pending_ids: tuple[int, ...] = field(default_factory=tuple)


def _apply(ledger: Ledger, loan: Loan, action: str, transfers: Sequence[Transfer]) -> None:
    """Apply one event's transfers as one linked batch (all or nothing)."""
    if not transfers:
        return
    batch = [
        Transfer(
            t.id,
            t.debit_account_id,
            t.credit_account_id,
            t.amount,
            t.flags | (LINKED if i < len(transfers) - 1 else TransferFlags.NONE),
            t.pending_id,
            t.reverses_id,
            t.timeout_s,
            t.code,
        )
        for i, t in enumerate(transfers)
    ]
    results = ledger.create_transfers(batch)
    for result in results:
        if result is not CreateTransferResult.OK:
            failed = next(
                (r for r in results if r is not CreateTransferResult.LINKED_EVENT_FAILED), result
            )
            raise RiskError(
                "loan_refused",
                loan=loan.loan_id,
                action=action,
                result_code=failed.value,
                reason=failed.reason,
            )


class _Booker:
    """The running state of one loan's booking: the transfers each event makes, and what has
    been pledged, lent, repaid, recovered and delivered so far (in minor units)."""

    def __init__(
        self, ledger: Ledger, loan: Loan, accounts: LoanAccounts, events: Sequence[LoanEvent]
    ) -> None:
        self.loan = loan
        self.accounts = accounts
        self.events = events
        self.usd_scale = ledger.asset(accounts.usd_asset).scale
        self.col_scale = ledger.asset(accounts.collateral_asset).scale
        self.rule = loan.rounding
        self.pending: list[int] = []
        self.pledged = self.principal = self.repaid = self.recovered = 0
        self.surplus = self.delivered = self.margin = 0
        self.seq = {"pledge": 0, "margin": 0, "delivery": 0}

    def _id(self, event: str, seq: int = 0) -> int:
        return transfer_id(self.loan.loan_id, event, seq)

    def _next_id(self, event: str) -> int:
        tid = self._id(event, self.seq[event])
        self.seq[event] += 1
        return tid

    def transfers(self, event: LoanEvent) -> list[Transfer]:
        """The transfers ``event`` makes (none for an event this loan does not book)."""
        forward = self.loan.is_forward
        if event.kind == "disbursement":
            return self._disbursement(event)
        if event.kind == "pledge" and not forward:
            return self._pledge(_minor(event.units, self.col_scale, self.rule.owed))
        if event.kind == "top_up":
            return self._margin(event) if forward else self._top_up(event)
        if event.kind == "delivery" and self.accounts.lender_collateral is not None:
            return self._delivery(event, self.accounts.lender_collateral)
        if event.kind == "sale":
            return self._sale(event)
        if event.kind == "repayment" and not forward:
            return self._repayment(event)
        if event.kind == "release":
            return self._settle_pending("release", TransferFlags.VOID_PENDING)
        return []

    def _cash(self, event: LoanEvent) -> float:
        """The event's cash amount in the loan's currency: BTC for a BTC loan (its lender,
        borrower and buyer accounts are then BTC accounts), else USD."""
        return event.btc if self.loan.borrows_btc else event.usd

    def _disbursement(self, event: LoanEvent) -> list[Transfer]:
        a = self.accounts
        self.principal = _minor(self._cash(event), self.usd_scale, self.rule.principal)
        return [Transfer(self._id("disbursement"), a.lender_usd, a.borrower_usd, self.principal)]

    def _pledge(self, units_minor: int) -> list[Transfer]:
        a = self.accounts
        tid = self._next_id("pledge")
        self.pending.append(tid)
        self.pledged += units_minor
        return [Transfer(tid, a.borrower_collateral, a.custody_collateral, units_minor, PENDING)]

    def _top_up(self, event: LoanEvent) -> list[Transfer]:
        units = _minor(event.units, self.col_scale, self.rule.owed)
        return self._pledge(units) if units else []

    def _margin(self, event: LoanEvent) -> list[Transfer]:
        """A forward's margin top-up: a pending USD transfer to the lender."""
        cents = _minor(event.usd, self.usd_scale, self.rule.owed)
        if not cents:
            return []
        tid = self._next_id("margin")
        self.pending.append(tid)
        self.margin += cents
        a = self.accounts
        return [Transfer(tid, a.borrower_usd, a.lender_usd, cents, PENDING)]

    def _delivery(self, event: LoanEvent, lender_collateral: int) -> list[Transfer]:
        units = _minor(event.units, self.col_scale, self.rule.proceeds)
        seq = self.seq["delivery"]
        self.seq["delivery"] += 1
        if not units:
            return []
        self.delivered += units
        tid = self._id("delivery", seq)
        return [Transfer(tid, self.accounts.borrower_collateral, lender_collateral, units)]

    def _settle_pending(self, event: str, flags: TransferFlags) -> list[Transfer]:
        """Post or void every pending transfer."""
        batch = [
            Transfer(self._id(event, i), pending_id=p, flags=flags)
            for i, p in enumerate(self.pending)
        ]
        self.pending.clear()
        return batch

    def _sale(self, event: LoanEvent) -> list[Transfer]:
        a = self.accounts
        batch = self._settle_pending("post", TransferFlags.POST_PENDING)
        if self.pledged and not self.loan.is_forward:
            batch.append(
                Transfer(
                    self._id("sale_collateral"),
                    a.custody_collateral,
                    a.buyer_collateral,
                    self.pledged,
                )
            )
        surplus_event = next(
            (e for e in self.events if e.kind == "surplus" and e.day == event.day), None
        )
        proceeds = self._cash(event) + (self._cash(surplus_event) if surplus_event else 0.0)
        # A forward's posted margin is already the lender's: the buyer pays the rest.
        proceeds_minor = max(_minor(proceeds, self.usd_scale, self.rule.proceeds) - self.margin, 0)
        recovery_minor = min(
            max(_minor(self._cash(event), self.usd_scale, self.rule.principal) - self.margin, 0),
            proceeds_minor,
        )
        self.recovered = recovery_minor + self.margin
        self.surplus = proceeds_minor - recovery_minor
        for name, amount, credit in (
            ("sale_recovery", recovery_minor, a.lender_usd),
            ("sale_surplus", self.surplus, a.borrower_usd),
        ):
            if amount:
                batch.append(Transfer(self._id(name), a.buyer_usd, credit, amount))
        return batch

    def _repayment(self, event: LoanEvent) -> list[Transfer]:
        a = self.accounts
        self.repaid = _minor(self._cash(event), self.usd_scale, self.rule.owed)
        if not self.repaid:
            return []
        return [Transfer(self._id("repayment"), a.borrower_usd, a.lender_usd, self.repaid)]

    def booking(self, transfers: int) -> Booking:
        return Booking(
            loan_id=self.loan.loan_id,
            transfers=transfers,
            pledged_minor=self.pledged,
            principal_minor=self.principal,
            repaid_minor=self.repaid,
            recovered_minor=self.recovered,
            surplus_minor=self.surplus,
            delivered_minor=self.delivered,
            margin_minor=self.margin,
            pending_ids=tuple(self.pending),
        )


def book_events(
    ledger: Ledger,
    loan: Loan,
    accounts: LoanAccounts,
    events: Sequence[LoanEvent],
) -> Booking:
    """Book ``events`` (one path of ``loan_life(..., record_events=True)``) on ``ledger``.

    Idempotent: booking the same events again applies nothing new and returns the same
    booking. Each event is one linked batch, so a refusal (say, a borrower without the USD
    to repay) leaves the ledger as the previous event left it.
    """
    booker = _Booker(ledger, loan, accounts, events)
    count = 0
    for event in events:
        batch = booker.transfers(event)
        _apply(ledger, loan, event.kind, batch)
        count += len(batch)
    return booker.booking(count)
