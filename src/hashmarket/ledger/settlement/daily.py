"""The daily run: new days added to what is due, paid, called, closed out or expired."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from hashmarket.errors import PricingError, SettlementError
from hashmarket.ledger import settlement_store as db
from hashmarket.ledger.clock import day_start_ns
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.model import NS_PER_S, Transfer
from hashmarket.ledger.model import TransferFlags as F
from hashmarket.ledger.results import CreateTransferResult
from hashmarket.ledger.settlement.fixings import PublishedFixings, UnpublishedError, buyer_amounts
from hashmarket.ledger.settlement.reading import contract_row, scale_of, status_of
from hashmarket.ledger.settlement.terms import (
    CODE_CLOSE_OUT,
    CODE_RELEASE,
    CODE_VARIATION,
    ContractState,
    EventKind,
    Party,
    RunOutcome,
    event_transfer_id,
    instrument_from_spec,
    linked,
    margin_id,
    release_id,
)
from hashmarket.ledger.settlement_store import SettlementEvent
from hashmarket.ledger.writer import LedgerWriter
from hashmarket.money import cumulative_minor
from hashmarket.units import SECONDS_PER_DAY


def _refused(action: str, contract_id: str, code: CreateTransferResult) -> SettlementError:
    return SettlementError(
        "settle_refused",
        action=action,
        contract=contract_id,
        result_code=code.value,
        reason=code.reason,
    )


def _apply_all(w: LedgerWriter, action: str, contract_id: str, batch: Sequence[Transfer]) -> None:
    if not batch:
        return
    codes = w.create_transfers(linked(batch))
    for code in codes:
        if code not in (CreateTransferResult.OK, CreateTransferResult.LINKED_EVENT_FAILED):
            raise _refused(action, contract_id, code)


class _Step:
    """A contract's state during one run: the last event, advanced event by event."""

    def __init__(self, w: LedgerWriter, row: db.ContractRow, last: SettlementEvent) -> None:
        self.w = w
        self.row = row
        self.last = last
        self.written: list[SettlementEvent] = []

    @property
    def state(self) -> ContractState:
        return ContractState(self.last.state)

    @property
    def outstanding(self) -> int:
        return self.last.due_minor - self.last.settled_minor

    def next_seq(self) -> int:
        return self.last.seq + 1

    def write(self, kind: EventKind, **changes: Any) -> SettlementEvent:
        """Append the next event: the state so far with ``changes`` (an event moves nothing
        and names no transfer unless ``changes`` say so)."""
        fields: dict[str, Any] = {
            "seq": self.next_seq(),
            "kind": kind.value,
            "amount_minor": 0,
            "transfer_id": None,
            "timestamp_ns": self.w.tick(),
        }
        fields.update(changes)
        event = dataclasses.replace(self.last, **fields)
        db.insert_event(self.w.store, event)
        self.w.applied += 1
        self.last = event
        self.written.append(event)
        return event

    def party_account(self, party: Party) -> int:
        return self.row.buyer_account_id if party is Party.BUYER else self.row.seller_account_id

    def margin(self, party: Party) -> int:
        return self.row.buyer_margin_minor if party is Party.BUYER else self.row.seller_margin_minor


def run(
    ledger: Ledger,
    day: dt.date,
    published: PublishedFixings,
    *,
    contract_id: str | None = None,
) -> list[RunOutcome]:
    """Settle day ``day`` for every contract not closed or expired (or for one contract), in
    one transaction: a refusal (fixings not published, say) leaves every contract as it was.

    Days after a contract's last settled day are settled too (a missed day is caught up);
    a day already settled settles nothing again. A contract in a margin call is retried.
    """
    with ledger.transaction() as w:
        cut = day + dt.timedelta(days=1)
        if w.now_ns < day_start_ns(cut):
            raise SettlementError("settle_day_not_over", day=day, cut=cut)
        store = w.store
        if contract_id is not None:
            rows = [contract_row(store, contract_id)]
            last = {contract_id: db.last_event(store, contract_id)}
        else:
            rows, last = db.load_contracts(store), db.last_events(store)
        outcomes = []
        for row in rows:
            step = _Step(w, row, last[row.contract_id])
            if not step.state.final:
                _run_contract(step, day, published)
            outcomes.append(RunOutcome(status_of(store, row, step.last), tuple(step.written)))
        return outcomes


def _run_contract(step: _Step, day: dt.date, published: PublishedFixings) -> None:
    row = step.row
    through = min(day, row.last_day)
    done = step.last.through_day
    added = through >= row.first_day and (done is None or through > done)
    if added:
        _add_days(step, day, through, published)
    if step.outstanding:
        _collect(step, day, new_days=added)
    elif added:
        step.write(
            EventKind.SETTLE, state=ContractState.ACTIVE.value, called_party=None, deadline_ns=None
        )
    if (
        step.state is ContractState.ACTIVE
        and step.last.through_day == row.last_day
        and not step.outstanding
    ):
        _expire(step, day)


def _add_days(step: _Step, day: dt.date, through: dt.date, published: PublishedFixings) -> None:
    """Add the days after the last settled one, through ``through``, to what is due. Only
    the new days' amounts are taken: the days settled before stay as recorded."""
    row = step.row
    instrument = instrument_from_spec(json.loads(row.spec))
    try:
        amounts, digest = buyer_amounts(instrument, published, row.first_day, through)
    except UnpublishedError as missing:
        raise SettlementError(
            "settle_fixings", contract=row.contract_id, problem=missing.problem
        ) from None
    except PricingError as refused:
        raise SettlementError(
            "settle_fixings", contract=row.contract_id, problem=refused.problem
        ) from None
    done = step.last.through_day
    start = 0 if done is None else (done - row.first_day).days + 1
    carried = Decimal(step.last.due_minor) + step.last.remainder_minor
    due, remainder = cumulative_minor(
        amounts[start:], scale_of(step.w.store, row.asset), carried=carried
    )
    # Held in memory until the step's event is written (settle, margin call or close-out).
    step.last = dataclasses.replace(
        step.last,
        run_day=day,
        through_day=through,
        due_minor=due,
        remainder_minor=remainder,
        fixings_sha256=digest,
    )


def _collect(step: _Step, day: dt.date, *, new_days: bool) -> None:
    """Move what is owed from the payer's free funds; a payer short of them is called, and
    closed out once the call's deadline has passed."""
    owed = step.outstanding
    payer = Party.SELLER if owed > 0 else Party.BUYER
    amount = abs(owed)
    receiver = payer.other
    seq = step.next_seq()
    tid = event_transfer_id(step.row.contract_id, seq, "variation")
    (code,) = step.w.create_transfers(
        [
            Transfer(
                tid,
                step.party_account(payer),
                step.party_account(receiver),
                amount,
                code=CODE_VARIATION,
            )
        ]
    )
    if code is CreateTransferResult.OK:
        kind = EventKind.SETTLE if new_days else EventKind.PAID
        step.write(
            kind,
            run_day=day,
            state=ContractState.ACTIVE.value,
            settled_minor=step.last.due_minor,
            called_party=None,
            deadline_ns=None,
            amount_minor=owed,
            transfer_id=tid,
        )
        return
    if code is not CreateTransferResult.EXCEEDS_CREDITS:
        raise _refused("variation payment", step.row.contract_id, code)
    now = step.w.now_ns
    called = step.state is ContractState.MARGIN_CALL and step.last.called_party == payer.value
    if not called:
        deadline = now + step.row.grace_days * SECONDS_PER_DAY * NS_PER_S
        step.write(
            EventKind.MARGIN_CALL,
            run_day=day,
            state=ContractState.MARGIN_CALL.value,
            called_party=payer.value,
            deadline_ns=deadline,
        )
    elif new_days:
        step.write(EventKind.MARGIN_CALL, run_day=day)
    deadline_ns = step.last.deadline_ns
    assert deadline_ns is not None
    if now >= deadline_ns:
        _close_out(step, day, payer, amount)


def _close_out(step: _Step, day: dt.date, payer: Party, owed: int) -> None:
    row = step.row
    receiver = payer.other
    margin = step.margin(payer)
    taken = min(owed, margin)
    seq = step.next_seq()
    batch: list[Transfer] = []
    if taken:
        # Post what is owed out of the payer's reservation (the ledger releases the rest of
        # it) and pay it on from the escrow: the escrow ends where it started.
        batch.append(
            Transfer(
                event_transfer_id(row.contract_id, seq, "post"),
                amount=taken,
                flags=F.POST_PENDING,
                pending_id=margin_id(row.contract_id, payer),
                code=CODE_CLOSE_OUT,
            )
        )
        batch.append(
            Transfer(
                event_transfer_id(row.contract_id, seq, "pay"),
                row.escrow_account_id,
                step.party_account(receiver),
                taken,
                code=CODE_CLOSE_OUT,
            )
        )
    elif margin:
        batch.append(_void(row, payer))
    if step.margin(receiver):
        batch.append(_void(row, receiver))
    _apply_all(step.w, "close-out", row.contract_id, batch)
    moved = taken * receiver.sign
    step.write(
        EventKind.CLOSE_OUT,
        run_day=day,
        state=ContractState.CLOSED.value,
        settled_minor=step.last.settled_minor + moved,
        shortfall_minor=owed - taken,
        amount_minor=moved,
        transfer_id=event_transfer_id(row.contract_id, seq, "pay") if taken else None,
    )


def _void(row: db.ContractRow, party: Party) -> Transfer:
    return Transfer(
        release_id(row.contract_id, party),
        flags=F.VOID_PENDING,
        pending_id=margin_id(row.contract_id, party),
        code=CODE_RELEASE,
    )


def _expire(step: _Step, day: dt.date) -> None:
    row = step.row
    batch = [_void(row, party) for party in Party if step.margin(party)]
    _apply_all(step.w, "expiry", row.contract_id, batch)
    step.write(EventKind.EXPIRE, run_day=day, state=ContractState.EXPIRED.value)
