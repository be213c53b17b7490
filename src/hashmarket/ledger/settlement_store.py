"""Rows of the settlement tables (schema: migration 3 in :mod:`.migrations`).

``settlement_contracts`` holds each contract's terms, written once at opening.
``settlement_events`` is the contract's life, append-only: every event row carries the whole
settlement state after it, so the current state is the contract's last event and nothing is
ever updated (the database refuses UPDATE and DELETE on both tables).

Integers are minor units of the contract's asset (cents, sats); exact decimals (the margin
rate, the notional, the rounding remainder) are stored as decimal strings, so both stores
give back exactly what was written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hashmarket.ledger.store import Store

CONTRACT_COLUMNS = (
    "contract_id, instrument_type, spec, spec_sha256, asset, buyer_account_id, "
    "seller_account_id, escrow_account_id, notional, margin_rate, buyer_margin_minor, "
    "seller_margin_minor, grace_days, first_day, last_day, timestamp_ns"
)
EVENT_COLUMNS = (
    "contract_id, seq, kind, run_day, state, through_day, due_minor, settled_minor, "
    "amount_minor, remainder_minor, called_party, deadline_ns, shortfall_minor, transfer_id, "
    "fixings_sha256, timestamp_ns"
)


def _day(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


@dataclass(frozen=True, slots=True)
class ContractRow:
    """A contract's terms as stored (the instrument as its canonical JSON spec)."""

    contract_id: str
    instrument_type: str
    spec: str
    spec_sha256: str
    asset: str
    buyer_account_id: int
    seller_account_id: int
    escrow_account_id: int
    notional: Decimal  # in the asset's currency units (USD, BTC), not minor units
    margin_rate: Decimal
    buyer_margin_minor: int
    seller_margin_minor: int
    grace_days: int
    first_day: dt.date
    last_day: dt.date
    timestamp_ns: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> ContractRow:
        return cls(
            contract_id=row[0],
            instrument_type=row[1],
            spec=row[2],
            spec_sha256=row[3],
            asset=row[4],
            buyer_account_id=row[5],
            seller_account_id=row[6],
            escrow_account_id=row[7],
            notional=Decimal(row[8]),
            margin_rate=Decimal(row[9]),
            buyer_margin_minor=row[10],
            seller_margin_minor=row[11],
            grace_days=row[12],
            first_day=dt.date.fromisoformat(row[13]),
            last_day=dt.date.fromisoformat(row[14]),
            timestamp_ns=row[15],
        )

    def values(self) -> tuple[Any, ...]:
        return (
            self.contract_id,
            self.instrument_type,
            self.spec,
            self.spec_sha256,
            self.asset,
            self.buyer_account_id,
            self.seller_account_id,
            self.escrow_account_id,
            str(self.notional),
            str(self.margin_rate),
            self.buyer_margin_minor,
            self.seller_margin_minor,
            self.grace_days,
            self.first_day.isoformat(),
            self.last_day.isoformat(),
            self.timestamp_ns,
        )


@dataclass(frozen=True, slots=True)
class SettlementEvent:
    """One event of a contract and its settlement state after it.

    Signed amounts are from the buyer's side: positive means the buyer receives.
    ``due_minor`` is the rounded cumulative cash flow through ``through_day``,
    ``settled_minor`` what has actually moved, ``amount_minor`` what this event moved
    (variation, or margin paid over at a close-out), ``remainder_minor`` the exact cumulative
    cash flow less ``due_minor`` (under half a minor unit either way).
    """

    contract_id: str
    seq: int
    kind: str
    run_day: dt.date | None
    state: str
    through_day: dt.date | None
    due_minor: int
    settled_minor: int
    amount_minor: int
    remainder_minor: Decimal
    called_party: str | None
    deadline_ns: int | None
    shortfall_minor: int
    transfer_id: int | None
    fixings_sha256: str | None
    timestamp_ns: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> SettlementEvent:
        return cls(
            contract_id=row[0],
            seq=row[1],
            kind=row[2],
            run_day=_day(row[3]),
            state=row[4],
            through_day=_day(row[5]),
            due_minor=row[6],
            settled_minor=row[7],
            amount_minor=row[8],
            remainder_minor=Decimal(row[9]),
            called_party=row[10],
            deadline_ns=row[11],
            shortfall_minor=row[12],
            transfer_id=row[13],
            fixings_sha256=row[14],
            timestamp_ns=row[15],
        )

    def values(self) -> tuple[Any, ...]:
        return (
            self.contract_id,
            self.seq,
            self.kind,
            _iso(self.run_day),
            self.state,
            _iso(self.through_day),
            self.due_minor,
            self.settled_minor,
            self.amount_minor,
            str(self.remainder_minor),
            self.called_party,
            self.deadline_ns,
            self.shortfall_minor,
            self.transfer_id,
            self.fixings_sha256,
            self.timestamp_ns,
        )


def insert_contract(store: Store, row: ContractRow) -> None:
    store.execute(
        f"INSERT INTO settlement_contracts ({CONTRACT_COLUMNS}) VALUES ({', '.join('?' * 16)})",
        row.values(),
    )
    store.register("settlement_contracts", [row.values()])


def insert_event(store: Store, row: SettlementEvent) -> None:
    store.execute(
        f"INSERT INTO settlement_events ({EVENT_COLUMNS}) VALUES ({', '.join('?' * 16)})",
        row.values(),
    )
    store.register("settlement_events", [row.values()])


def load_contract(store: Store, contract_id: str) -> ContractRow | None:
    rows = store.query(
        f"SELECT {CONTRACT_COLUMNS} FROM settlement_contracts WHERE contract_id = ?",
        (contract_id,),
    )
    return ContractRow.from_row(rows[0]) if rows else None


def load_contracts(store: Store) -> list[ContractRow]:
    """Every contract, by id (sorted here: a PostgreSQL collation may order text otherwise)."""
    rows = store.query(f"SELECT {CONTRACT_COLUMNS} FROM settlement_contracts")
    return sorted((ContractRow.from_row(r) for r in rows), key=lambda c: c.contract_id)


def last_event(store: Store, contract_id: str) -> SettlementEvent:
    rows = store.query(
        f"SELECT {EVENT_COLUMNS} FROM settlement_events WHERE contract_id = ? "
        "ORDER BY seq DESC LIMIT 1",
        (contract_id,),
    )
    assert rows, f"contract {contract_id} has no events (opening writes one)"
    return SettlementEvent.from_row(rows[0])


def last_events(store: Store) -> dict[str, SettlementEvent]:
    """The last event of every contract."""
    rows = store.query(
        f"SELECT {', '.join('e.' + c.strip() for c in EVENT_COLUMNS.split(','))} "
        "FROM settlement_events AS e JOIN (SELECT contract_id, MAX(seq) AS seq "
        "FROM settlement_events GROUP BY contract_id) AS m "
        "ON m.contract_id = e.contract_id AND m.seq = e.seq"
    )
    return {r[0]: SettlementEvent.from_row(r) for r in rows}


def events(store: Store, contract_id: str) -> list[SettlementEvent]:
    rows = store.query(
        f"SELECT {EVENT_COLUMNS} FROM settlement_events WHERE contract_id = ? ORDER BY seq",
        (contract_id,),
    )
    return [SettlementEvent.from_row(r) for r in rows]
