"""The embedded store: one SQLite file in WAL mode with ``synchronous=FULL``.

WAL lets readers work beside the single writer; ``synchronous=FULL`` makes every commit
fsync the WAL before it returns, so an acknowledged batch survives a crash of the process or
the machine. The connection runs in autocommit mode and this adapter issues ``BEGIN
IMMEDIATE`` itself, so the writer lock is taken before the head is read, never upgraded
half-way through a transaction (which is how SQLite writers deadlock).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hashmarket.errors import LedgerUnavailableError
from hashmarket.ledger import journal
from hashmarket.ledger.store import (
    ID_CHUNK,
    PLAIN_COLUMNS,
    Balances,
    FanOutRow,
    Head,
    LedgerURL,
    PlainRow,
    Store,
)

BUSY_TIMEOUT_S = 60.0
_INSERT_JOURNAL = f"INSERT INTO journal VALUES ({', '.join('?' * len(journal.COLUMNS))})"
_INSERT_PLAIN = (
    f"INSERT INTO journal ({PLAIN_COLUMNS}, timeout_s) VALUES ({', '.join('?' * 11)}, 0)"
)
_UPDATE_BALANCES = (
    "UPDATE balances SET debits_pending = ?, debits_posted = ?, credits_pending = ?, "
    "credits_posted = ?, last_seq = ? WHERE account_id = ?"
)
_CREDIT = "UPDATE balances SET credits_posted = ?, last_seq = ? WHERE account_id = ?"


def copy_database(source: Path, target: Path) -> None:
    """Copy the SQLite database ``source`` to the new file ``target`` with the online backup
    API, reading ``source`` read-only: restoring a backup never changes the backup."""
    try:
        reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise LedgerUnavailableError(
            "ledger_unreachable", url=str(source), reason=str(error)
        ) from error
    try:
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)
        finally:
            writer.close()
    except sqlite3.Error as error:
        target.unlink(missing_ok=True)  # a failed copy leaves nothing behind
        raise LedgerUnavailableError(
            "ledger_unreachable", url=str(source), reason=str(error)
        ) from error
    finally:
        reader.close()


class SQLiteStore(Store):
    dialect = "sqlite"

    def __init__(self, url: LedgerURL, *, create: bool) -> None:
        self.url = url
        path = Path(url.target)
        if not path.exists():
            if not create:
                raise LedgerUnavailableError("ledger_not_found", url=url.original)
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                path,
                isolation_level=None,
                check_same_thread=False,  # the Ledger object serializes use with its own lock
                timeout=BUSY_TIMEOUT_S,
                cached_statements=256,
            )
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.Error as error:
            raise LedgerUnavailableError(
                "ledger_unreachable", url=url.original, reason=str(error)
            ) from error
        if mode != "wal":
            raise LedgerUnavailableError(
                "ledger_unreachable", url=url.original, reason=f"journal_mode is {mode}, not wal"
            )
        self._conn.execute("PRAGMA synchronous = FULL")
        # 128 MiB of page cache (allocated as used): the journal's indexes on account ids take
        # random inserts, which the default 2 MiB cache turns into re-reads.
        self._conn.execute("PRAGMA cache_size = -131072")

    def close(self) -> None:
        self._conn.close()

    def backup_to(self, path: Path) -> None:
        # SQLite's online backup API: a page-by-page copy of one snapshot (WAL included) that
        # writers may keep working beside; the copy is a plain database file.
        target = sqlite3.connect(path)
        try:
            self._conn.backup(target)
        except sqlite3.Error as error:
            target.close()
            path.unlink(missing_ok=True)  # a failed copy leaves nothing behind
            raise LedgerUnavailableError(
                "ledger_unreachable", url=str(path), reason=str(error)
            ) from error
        target.close()

    def begin_write(self) -> Head:
        self._conn.execute("BEGIN IMMEDIATE")
        return self.read_head()

    def begin_read(self) -> None:
        self._conn.execute("BEGIN")

    def begin_records(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")  # SQLite has one writer: take it up front

    def begin_migration(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def has_table(self, name: str) -> bool:
        rows = self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return bool(rows)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def stream(
        self, sql: str, params: Sequence[Any] = (), *, chunk: int = 10_000
    ) -> Iterator[tuple[Any, ...]]:
        cursor = self._conn.execute(sql, params)
        try:
            while rows := cursor.fetchmany(chunk):
                yield from rows
        finally:
            cursor.close()

    def query_in(
        self, sql: str, values: Sequence[int], params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for start in range(0, len(values), ID_CHUNK):
            part = values[start : start + ID_CHUNK]
            text = sql.replace("{in}", f"IN ({','.join('?' * len(part))})")
            out.extend(self._conn.execute(text, (*params, *part)).fetchall())
        return out

    def insert_journal(self, rows: Sequence[journal.Row]) -> None:
        self._conn.executemany(_INSERT_JOURNAL, rows)

    def insert_plain_rows(self, rows: Sequence[PlainRow]) -> None:
        self._conn.executemany(_INSERT_PLAIN, rows)

    def insert_fan_out_rows(
        self, debit_account_id: int, code: int, rows: Sequence[FanOutRow]
    ) -> None:
        # int() of ints the writer validated: safe to write into the statement.
        sql = (
            "INSERT INTO journal (seq, credit_account_id, amount, flags, timestamp_ns, "
            "debit_prev_seq, credit_prev_seq, hash, debit_account_id, code, timeout_s) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, {int(debit_account_id)}, {int(code)}, 0)"
        )
        self._conn.executemany(sql, rows)

    def update_balances(self, rows: Sequence[Balances]) -> None:
        self._conn.executemany(_UPDATE_BALANCES, rows)

    def credit_many(self, credits: Sequence[tuple[int, int, int]]) -> int:
        cursor = self._conn.executemany(
            _CREDIT, ((credited, last, aid) for aid, credited, last in credits)
        )
        return cursor.rowcount
