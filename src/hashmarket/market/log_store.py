"""Rows of the ``market_log`` and ``market_snapshots`` tables (schema in
:mod:`hashmarket.ledger.migrations`), behind named functions: :mod:`.log` turns log rows into
:class:`~.log.LogEntry` values and checks the chain. The command is stored as text, the hash as
bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from hashmarket.ledger import Store

# One stored entry: seq, ts_ns, command JSON as text, chain hash.
LogRow = tuple[int, int, str, bytes]


def insert_rows(store: Store, rows: Iterable[LogRow]) -> None:
    store.executemany(
        "INSERT INTO market_log (seq, ts_ns, command, hash) VALUES (?, ?, ?, ?)", rows
    )


def stream_rows(store: Store, *, after_seq: int) -> Iterator[tuple[Any, ...]]:
    """(seq, ts_ns, command, hash) of every entry after ``after_seq``, in seq order."""
    return store.stream(
        "SELECT seq, ts_ns, command, hash FROM market_log WHERE seq > ? ORDER BY seq",
        (after_seq,),
    )


def hash_at(store: Store, seq: int) -> bytes | None:
    """The chain hash of entry ``seq``, None if there is no such entry."""
    rows = store.query("SELECT hash FROM market_log WHERE seq = ?", (seq,))
    return bytes(rows[0][0]) if rows else None


# One stored snapshot: seq, log hash at that seq, state JSON as text, its SHA-256 hex.
SnapshotRow = tuple[int, bytes, str, str]


def newest_snapshot(store: Store) -> tuple[Any, ...] | None:
    """(seq, log_hash, state, state_sha256) of the newest snapshot, None if there is none."""
    rows = store.query(
        "SELECT seq, log_hash, state, state_sha256 FROM market_snapshots ORDER BY seq DESC LIMIT 1"
    )
    return rows[0] if rows else None


def insert_snapshot(store: Store, row: SnapshotRow) -> bool:
    """Store a snapshot unless one exists at its seq; True when it was written."""
    if store.query("SELECT 1 FROM market_snapshots WHERE seq = ?", (row[0],)):
        return False
    store.execute(
        "INSERT INTO market_snapshots (seq, log_hash, state, state_sha256) VALUES (?, ?, ?, ?)",
        row,
    )
    return True
