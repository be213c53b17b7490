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
from hashmarket.instruments.loans import Loan, LoanEvent
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
    usd_scale = ledger.asset(accounts.usd_asset).scale
    col_scale = ledger.asset(accounts.collateral_asset).scale
    lid = loan.loan_id
    rule = loan.rounding
    pending: list[int] = []
    pledged = principal = repaid = recovered = surplus = delivered = margin = 0
    seq = {"pledge": 0, "margin": 0, "delivery": 0}
    count = 0

    def pledge(units_minor: int) -> Transfer:
        tid = transfer_id(lid, "pledge", seq["pledge"])
        seq["pledge"] += 1
        pending.append(tid)
        return Transfer(
            tid, accounts.borrower_collateral, accounts.custody_collateral, units_minor, PENDING
        )

    for event in events:
        batch: list[Transfer] = []
        if event.kind == "disbursement":
            principal = _minor(event.usd, usd_scale, rule.principal)
            batch.append(
                Transfer(
                    transfer_id(lid, "disbursement"),
                    accounts.lender_usd,
                    accounts.borrower_usd,
                    principal,
                )
            )
        elif event.kind == "pledge" and not loan.is_forward:
            units = _minor(event.units, col_scale, rule.owed)
            pledged += units
            batch.append(pledge(units))
        elif event.kind == "top_up":
            if loan.is_forward:
                cents = _minor(event.usd, usd_scale, rule.owed)
                if cents:
                    tid = transfer_id(lid, "margin", seq["margin"])
                    seq["margin"] += 1
                    pending.append(tid)
                    margin += cents
                    batch.append(
                        Transfer(tid, accounts.borrower_usd, accounts.lender_usd, cents, PENDING)
                    )
            else:
                units = _minor(event.units, col_scale, rule.owed)
                if units:
                    pledged += units
                    batch.append(pledge(units))
        elif event.kind == "delivery" and accounts.lender_collateral is not None:
            units = _minor(event.units, col_scale, rule.proceeds)
            if units:
                delivered += units
                batch.append(
                    Transfer(
                        transfer_id(lid, "delivery", seq["delivery"]),
                        accounts.borrower_collateral,
                        accounts.lender_collateral,
                        units,
                    )
                )
            seq["delivery"] += 1
        elif event.kind == "sale":
            batch.extend(
                Transfer(
                    transfer_id(lid, "post", i), pending_id=p, flags=TransferFlags.POST_PENDING
                )
                for i, p in enumerate(pending)
            )
            pending.clear()
            if pledged and not loan.is_forward:
                batch.append(
                    Transfer(
                        transfer_id(lid, "sale_collateral"),
                        accounts.custody_collateral,
                        accounts.buyer_collateral,
                        pledged,
                    )
                )
            recovery_event = event
            surplus_event = next(
                (e for e in events if e.kind == "surplus" and e.day == event.day), None
            )
            proceeds = recovery_event.usd + (surplus_event.usd if surplus_event else 0.0)
            # A forward's posted margin is already the lender's: the buyer pays the rest.
            proceeds_minor = max(_minor(proceeds, usd_scale, rule.proceeds) - margin, 0)
            recovery_minor = min(
                max(_minor(recovery_event.usd, usd_scale, rule.principal) - margin, 0),
                proceeds_minor,
            )
            recovered = recovery_minor + margin
            surplus = proceeds_minor - recovery_minor
            for name, amount, credit in (
                ("sale_recovery", recovery_minor, accounts.lender_usd),
                ("sale_surplus", surplus, accounts.borrower_usd),
            ):
                if amount:
                    batch.append(
                        Transfer(transfer_id(lid, name), accounts.buyer_usd, credit, amount)
                    )
        elif event.kind == "repayment" and not loan.is_forward:
            repaid = _minor(event.usd, usd_scale, rule.owed)
            if repaid:
                batch.append(
                    Transfer(
                        transfer_id(lid, "repayment"),
                        accounts.borrower_usd,
                        accounts.lender_usd,
                        repaid,
                    )
                )
        elif event.kind == "release":
            batch.extend(
                Transfer(
                    transfer_id(lid, "release", i), pending_id=p, flags=TransferFlags.VOID_PENDING
                )
                for i, p in enumerate(pending)
            )
            pending.clear()
        _apply(ledger, loan, event.kind, batch)
        count += len(batch)
    return Booking(
        loan_id=lid,
        transfers=count,
        pledged_minor=pledged,
        principal_minor=principal,
        repaid_minor=repaid,
        recovered_minor=recovered,
        surplus_minor=surplus,
        delivered_minor=delivered,
        margin_minor=margin,
        pending_ids=tuple(pending),
    )
