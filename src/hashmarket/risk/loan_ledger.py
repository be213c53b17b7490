"""A loan's life on the ledger: disbursement, pledge, top-ups, liquidation, repayment.

The events come from :func:`hashmarket.risk.credit.loan_life` on one path (``record_events``)
— the same engine that gives the probabilities — and are booked with the ledger's public API:

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

Floats become integers here and only here (the asset's scale from the ledger): what the
borrower owes or pledges is rounded up (the lender is never short by rounding), what the
buyer pays is rounded down, and the surplus is the exact remainder of the proceeds.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from hashmarket.errors import RiskError
from hashmarket.ledger import Account, Ledger, Transfer, TransferFlags
from hashmarket.ledger.results import CreateAccountResult, CreateTransferResult
from hashmarket.risk.credit import Loan, LoanEvent

INT63 = 2**63 - 1
PENDING = TransferFlags.PENDING
LINKED = TransferFlags.LINKED


def transfer_id(loan_id: str, event: str, seq: int = 0) -> int:
    """A stable 63-bit transfer id for ``event`` number ``seq`` of loan ``loan_id``."""
    digest = hashlib.sha256(f"hashmarket/loan/{loan_id}/{event}/{seq}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") & INT63) or 1


def to_minor(amount: float, scale: int, rounding: str) -> int:
    """``amount`` in units of ``10**-scale`` with an explicit rounding rule (``up``, ``down``
    or ``half_up``); never negative."""
    mode = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "half_up": ROUND_HALF_UP}[rounding]
    if not math.isfinite(amount):
        raise RiskError("loan_state", loan="?", problem=f"amount {amount} is not finite")
    value = (Decimal(repr(float(amount))) * (Decimal(10) ** scale)).quantize(
        Decimal(1), rounding=mode
    )
    return max(int(value), 0)


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
            principal = to_minor(event.usd, usd_scale, "half_up")
            batch.append(
                Transfer(
                    transfer_id(lid, "disbursement"),
                    accounts.lender_usd,
                    accounts.borrower_usd,
                    principal,
                )
            )
        elif event.kind == "pledge" and not loan.is_forward:
            units = to_minor(event.units, col_scale, "up")
            pledged += units
            batch.append(pledge(units))
        elif event.kind == "top_up":
            if loan.is_forward:
                cents = to_minor(event.usd, usd_scale, "up")
                if cents:
                    tid = transfer_id(lid, "margin", seq["margin"])
                    seq["margin"] += 1
                    pending.append(tid)
                    margin += cents
                    batch.append(
                        Transfer(tid, accounts.borrower_usd, accounts.lender_usd, cents, PENDING)
                    )
            else:
                units = to_minor(event.units, col_scale, "up")
                if units:
                    pledged += units
                    batch.append(pledge(units))
        elif event.kind == "delivery" and accounts.lender_collateral is not None:
            units = to_minor(event.units, col_scale, "down")
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
            proceeds_minor = max(to_minor(proceeds, usd_scale, "down") - margin, 0)
            recovery_minor = min(
                max(to_minor(recovery_event.usd, usd_scale, "half_up") - margin, 0),
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
            repaid = to_minor(event.usd, usd_scale, "up")
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
