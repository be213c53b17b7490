"""Reading contracts back: a contract's status after its last event, and its events."""

from __future__ import annotations

import json

from hashmarket.errors import SettlementError
from hashmarket.ledger import settlement_store as db
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.settlement.terms import (
    ContractState,
    ContractStatus,
    EventKind,
    Party,
    instrument_from_spec,
)
from hashmarket.ledger.settlement_store import SettlementEvent
from hashmarket.ledger.store import Store


def scale_of(store: Store, asset: str) -> int:
    """The scale of an asset the ledger has (every stored contract's asset)."""
    found = store.asset(asset)
    assert found is not None, f"asset {asset} of a stored contract is missing"
    return found[0]


def status_of(store: Store, row: db.ContractRow, event: SettlementEvent) -> ContractStatus:
    scale = scale_of(store, row.asset)
    return ContractStatus(
        contract_id=row.contract_id,
        instrument_type=row.instrument_type,
        instrument=instrument_from_spec(json.loads(row.spec)),
        asset=row.asset,
        scale=scale,
        buyer_account_id=row.buyer_account_id,
        seller_account_id=row.seller_account_id,
        escrow_account_id=row.escrow_account_id,
        notional=row.notional,
        margin_rate=row.margin_rate,
        buyer_margin_minor=row.buyer_margin_minor,
        seller_margin_minor=row.seller_margin_minor,
        grace_days=row.grace_days,
        first_day=row.first_day,
        last_day=row.last_day,
        state=ContractState(event.state),
        through_day=event.through_day,
        due_minor=event.due_minor,
        settled_minor=event.settled_minor,
        remainder_minor=event.remainder_minor,
        called_party=None if event.called_party is None else Party(event.called_party),
        deadline_ns=event.deadline_ns,
        shortfall_minor=event.shortfall_minor,
        last_event=EventKind(event.kind),
        updated_ns=event.timestamp_ns,
    )


def contract_row(store: Store, contract_id: str) -> db.ContractRow:
    row = db.load_contract(store, contract_id)
    if row is None:
        raise SettlementError("settle_contract_unknown", contract=contract_id)
    return row


def status(ledger: Ledger, contract_id: str | None = None) -> list[ContractStatus]:
    """Every contract's state (by id), or one contract's."""
    with ledger.snapshot() as store:
        if contract_id is not None:
            row = contract_row(store, contract_id)
            return [status_of(store, row, db.last_event(store, contract_id))]
        last = db.last_events(store)
        return [status_of(store, r, last[r.contract_id]) for r in db.load_contracts(store)]


def events(ledger: Ledger, contract_id: str) -> list[SettlementEvent]:
    """A contract's events, oldest first."""
    with ledger.snapshot() as store:
        contract_row(store, contract_id)
        return db.events(store, contract_id)
