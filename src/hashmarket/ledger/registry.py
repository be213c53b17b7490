"""The registry log: a second hash chain over the rows that say where money may go.

The journal's chain covers transfers, but a transfer's rules also depend on rows outside it:
an account's flags (``DEBITS_MUST_NOT_EXCEED_CREDITS`` is the no-overdraft rule), its asset and
code, an asset's issuer, a token holder's payout account, a series' treasury, a settlement
contract's parties and escrow. Those rows are written once and never changed, so each one,
when written, is appended to ``registry_log``: the table and key of the row, the SHA-256 of
its values (the type-tagged encoding of :func:`encode`, the one ``state_hash`` uses) and a
chain hash ``SHA-256(previous ‖ table ‖ key ‖ row digest)``. ``verify()`` recomputes both:
a row changed by direct SQL no longer matches its digest, a row inserted behind the ledger's
back has none, and a deleted or rewritten log entry breaks the chain. A signed checkpoint
(:mod:`hashmarket.ledger.checkpoint`) commits to the log's head, so even a re-chained log is
caught by whoever kept the checkpoint.

The log is not part of ``state_hash``: that hash already digests these rows themselves, and
keeping it unchanged keeps every published state hash valid. Ledgers written before the log
existed get it at the migration that created it (every row then in place is registered in
key order), so their history is covered from that point on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hashmarket.ledger.store import Store

GENESIS_HASH = bytes(32)
KEY_SEPARATOR = "\x1f"
# Registered tables, in the order a migration registers existing rows, with the number of
# leading columns that form each row's key.
REGISTRY_TABLES: tuple[tuple[str, int], ...] = (
    ("assets", 1),
    ("accounts", 1),
    ("token_series", 1),
    ("token_holders", 1),
    ("token_distributions", 2),
    ("settlement_contracts", 1),
    ("settlement_events", 2),
)
KEY_WIDTH = dict(REGISTRY_TABLES)
# A registry entry as stored: seq, table, key, row digest, chain hash.
Entry = tuple[int, str, str, bytes, bytes]


def _none(_: Any) -> bytes:
    return b"\x00"


def _int(value: int) -> bytes:
    return b"\x01" + value.to_bytes(9, "big", signed=True)


def _str(value: str) -> bytes:
    data = value.encode("utf-8")
    return b"\x02" + len(data).to_bytes(4, "big") + data


def _bytes(value: Any) -> bytes:
    data = bytes(value)
    return b"\x03" + len(data).to_bytes(4, "big") + data


# By exact type first: one dict lookup instead of a chain of isinstance() for the types the
# stores hand back (verify() encodes every registered row).
_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    type(None): _none,
    int: _int,
    str: _str,
    bytes: _bytes,
    memoryview: _bytes,
}


def encode(value: Any) -> bytes:
    """Type-tagged bytes of one column value: equal on SQLite and PostgreSQL for equal rows."""
    fast = _ENCODERS.get(type(value))
    if fast is not None:
        return fast(value)
    if value is None:
        return _none(value)
    if isinstance(value, int):  # bool, IntFlag: their integer value
        return _int(int(value))
    if isinstance(value, str):
        return _str(value)
    return _bytes(value)


def row_key(table: str, row: Sequence[Any]) -> str:
    return KEY_SEPARATOR.join(str(v) for v in row[: KEY_WIDTH[table]])


def shown(table: str, key: str) -> str:
    """A registered row as a message names it: ``accounts 12``, ``token_distributions HT1
    2025-01-02``."""
    return f"{table} {key.replace(KEY_SEPARATOR, ' ')}"


def row_digest(row: Sequence[Any]) -> bytes:
    get = _ENCODERS.get
    return hashlib.sha256(b"".join([(get(type(v)) or encode)(v) for v in row])).digest()


def link(previous: bytes, table: str, key: str, digest: bytes) -> bytes:
    return hashlib.sha256(previous + encode(table) + encode(key) + digest).digest()


def chain_entries(table: str, rows: Iterable[Sequence[Any]], tip: tuple[int, bytes]) -> list[Entry]:
    """Registry entries for new ``rows`` of ``table`` (values in the table's column order),
    chained after ``tip`` (the log's last seq and hash)."""
    seq, previous = tip
    out: list[Entry] = []
    for row in rows:
        seq += 1
        key, digest = row_key(table, row), row_digest(row)
        previous = link(previous, table, key, digest)
        out.append((seq, table, key, digest, previous))
    return out


def register_existing(store: Store) -> None:
    """Register every row already in the registered tables (the migration that adds the log).
    Integer keys are ordered by the database, text keys in Python, as ``state_hash`` does."""
    for table, width in REGISTRY_TABLES:
        if not store.has_table(table):
            continue
        rows = sorted(store.all_rows(table), key=lambda r: tuple(r[:width]))
        store.register(table, rows)
