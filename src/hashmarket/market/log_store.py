"""Rows of the ``market_log`` table (schema in :mod:`hashmarket.ledger.migrations`), behind
named functions: :mod:`.log` turns them into :class:`~.log.LogEntry` values and checks the
chain. The command is stored as text, the hash as bytes.
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


def last_row(store: Store) -> tuple[int, bytes] | None:
    """(seq, hash) of the last entry, None for an empty log."""
    rows = store.query("SELECT seq, hash FROM market_log ORDER BY seq DESC LIMIT 1")
    return (rows[0][0], bytes(rows[0][1])) if rows else None


def hash_at(store: Store, seq: int) -> bytes | None:
    """The chain hash of entry ``seq``, None if there is no such entry."""
    rows = store.query("SELECT hash FROM market_log WHERE seq = ?", (seq,))
    return bytes(rows[0][0]) if rows else None
