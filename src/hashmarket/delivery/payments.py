"""Paying delivered work out of the contract's reservation on the ledger.

The exchange reserves the budget with one pending transfer, buyer → seller. This ledger
follows TigerBeetle: posting a pending transfer *closes* it — a post may take less than the
reservation, and the rest is released to the buyer at once. So a contract that pays interval
by interval cannot post the same reservation twice. Each interval with something to pay is
one linked batch instead:

1. post ``paid_sats`` of the current reservation (which releases the rest), and
2. reserve the remainder again, buyer → seller, as a new pending transfer;

linked, so either both apply or neither does, and the buyer's funds are never free between
the two. The reservation held after interval *k* has the id
``derived_id("delivery-reserve", contract_id, k)``; the post's id is
``derived_id("delivery-post", contract_id, k)``, so replaying an interval after a crash
names the same transfers and the ledger applies them once. An interval that pays nothing
touches nothing (a post of amount 0 would post the whole reservation). When the contract ends
with budget left — under-delivery, or the term ran out — the remainder is voided back to the
buyer.
"""

from __future__ import annotations

from dataclasses import dataclass

from hashmarket.delivery.contract import HashpowerContract
from hashmarket.delivery.metering import IntervalRecord
from hashmarket.errors import TransferRefusedError
from hashmarket.ledger import CreateTransferResult, Ledger, Transfer, TransferFlags
from hashmarket.money import derived_id

# A ledger ``code`` (TigerBeetle's user-defined u16) marking delivery payments in the journal.
DELIVERY_CODE = 7301


def post_id(contract_id: str, index: int) -> int:
    return derived_id("delivery-post", contract_id, index)


def reserve_id(contract_id: str, index: int) -> int:
    return derived_id("delivery-reserve", contract_id, index)


def void_id(contract_id: str) -> int:
    return derived_id("delivery-void", contract_id)


@dataclass(frozen=True, slots=True)
class Reservation:
    """The pending transfer that holds what is left of a contract's budget."""

    pending_id: int
    amount_sats: int


def _apply(ledger: Ledger, transfers: list[Transfer], contract_id: str) -> None:
    results = ledger.create_transfers(transfers)
    for transfer, result in zip(transfers, results, strict=True):
        # A replayed interval gets the original answer (OK) for what it already wrote.
        if result is not CreateTransferResult.OK:
            raise TransferRefusedError(
                "transfer_refused",
                result_code=result.value,
                transfer_id=transfer.id,
                reason=f"delivery of contract {contract_id}: {result.reason}",
            )


def pay_interval(
    ledger: Ledger,
    contract: HashpowerContract,
    reservation: Reservation,
    record: IntervalRecord,
) -> Reservation:
    """Pay ``record.paid_sats`` to the seller; return the reservation that holds the rest."""
    amount = record.paid_sats
    if amount == 0:
        return reservation
    if amount > reservation.amount_sats:
        raise ValueError(
            f"interval {record.index} pays {amount} sats; "
            f"only {reservation.amount_sats} are reserved"
        )
    cid = contract.contract_id
    post = Transfer(
        id=post_id(cid, record.index),
        pending_id=reservation.pending_id,
        amount=amount,
        flags=TransferFlags.POST_PENDING,
        code=DELIVERY_CODE,
    )
    left = reservation.amount_sats - amount
    if left == 0:
        _apply(ledger, [post], cid)
        return Reservation(0, 0)
    again = Transfer(
        id=reserve_id(cid, record.index),
        debit_account_id=contract.buyer_account_id,
        credit_account_id=contract.seller_account_id,
        amount=left,
        flags=TransferFlags.PENDING,
        code=DELIVERY_CODE,
    )
    linked = Transfer(
        id=post.id,
        pending_id=post.pending_id,
        amount=post.amount,
        flags=TransferFlags.POST_PENDING | TransferFlags.LINKED,
        code=post.code,
    )
    _apply(ledger, [linked, again], cid)
    return Reservation(again.id, left)


def release_remainder(
    ledger: Ledger, contract: HashpowerContract, reservation: Reservation
) -> None:
    """Void what is left of the budget back to the buyer (the contract is over)."""
    if reservation.amount_sats == 0:
        return
    _apply(
        ledger,
        [
            Transfer(
                id=void_id(contract.contract_id),
                pending_id=reservation.pending_id,
                flags=TransferFlags.VOID_PENDING,
                code=DELIVERY_CODE,
            )
        ],
        contract.contract_id,
    )


def reserve_budget(ledger: Ledger, contract: HashpowerContract) -> Reservation:
    """Reserve the budget as the exchange does at a fill (for contracts made elsewhere,
    tests and the command line): a pending transfer with the contract's pending id."""
    _apply(
        ledger,
        [
            Transfer(
                id=contract.pending_transfer_id,
                debit_account_id=contract.buyer_account_id,
                credit_account_id=contract.seller_account_id,
                amount=contract.budget_sats,
                flags=TransferFlags.PENDING,
                code=DELIVERY_CODE,
            )
        ],
        contract.contract_id,
    )
    return Reservation(contract.pending_transfer_id, contract.budget_sats)


class LedgerPayer:
    """Pays each closed interval on the ledger, keeping track of the live reservation."""

    def __init__(
        self, ledger: Ledger, contract: HashpowerContract, reservation: Reservation | None = None
    ) -> None:
        self.ledger = ledger
        self.contract = contract
        self.reservation = reservation or Reservation(
            contract.pending_transfer_id, contract.budget_sats
        )

    def __call__(self, record: IntervalRecord) -> None:
        self.reservation = pay_interval(self.ledger, self.contract, self.reservation, record)

    def catch_up(self, records: list[IntervalRecord]) -> None:
        """Pay the logged intervals again, in order, from the contract's first reservation:
        what the ledger already holds is a replay of the same ids and applies nothing, what it
        lacks (a run that logged an interval and stopped before paying it) is paid now."""
        self.reservation = Reservation(self.contract.pending_transfer_id, self.contract.budget_sats)
        for record in records:
            self(record)

    def finish(self) -> None:
        release_remainder(self.ledger, self.contract, self.reservation)
        self.reservation = Reservation(0, 0)
