"""The server store: PostgreSQL through psycopg 3, for many users and processes.

Writers queue on a row lock of ``ledger_head`` (``SELECT … FOR UPDATE``) at READ COMMITTED:
once a writer holds it, every statement it runs sees all earlier commits, so there are no
serialization failures to retry and no lost updates. Readers use REPEATABLE READ READ ONLY
so that ``verify()`` and ``state_hash()`` see one snapshot. Journal rows go in with binary
``COPY`` and balances with one ``UPDATE … FROM unnest(…)`` per batch.

A URL may carry ``?schema=name`` to keep several ledgers in one database (the tests give each
test its own schema); the schema is created with the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg

from hashmarket.errors import LedgerUnavailableError
from hashmarket.ledger import journal
from hashmarket.ledger.store import (
    PLAIN_COLUMNS,
    Balances,
    FanOutRow,
    Head,
    LedgerURL,
    PlainRow,
    Store,
)

_COPY_JOURNAL = f"COPY journal ({', '.join(journal.COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_JOURNAL_TYPES = ["int8"] * journal.HASH + ["bytea"]  # flags and code are int4:
_JOURNAL_TYPES[journal.FLAGS] = "int4"
_JOURNAL_TYPES[journal.CODE] = "int4"
# timeout_s has no default in the schema: COPY a constant 0 for it.
_COPY_PLAIN_TEXT = f"COPY journal ({PLAIN_COLUMNS}, timeout_s) FROM STDIN"
_COPY_FAN_OUT_TEXT = (
    "COPY journal (seq, credit_account_id, amount, flags, timestamp_ns, debit_prev_seq, "
    "credit_prev_seq, hash, debit_account_id, code, timeout_s) FROM STDIN"
)
_TEXT_CHUNK = 10_000
_UPDATE_BALANCES = (
    "UPDATE balances AS b SET debits_pending = v.dp, debits_posted = v.dpo, "
    "credits_pending = v.cp, credits_posted = v.cpo, last_seq = v.last "
    "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], "
    "%s::bigint[]) AS v(dp, dpo, cp, cpo, last, id) WHERE b.account_id = v.id"
)
_CREDIT = (
    "UPDATE balances AS b SET credits_posted = v.credited, last_seq = v.last "
    "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS v(id, credited, last) "
    "WHERE b.account_id = v.id"
)
_CREDIT_CHUNK = 100_000
# Arbitrary constant: the advisory lock that serializes schema migrations in a database.
_MIGRATION_LOCK_KEY = 0x48534D4B  # "HSMK"


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


def _array(values: Iterable[int]) -> str:
    """A bigint[] parameter as text: psycopg adapts a list element by element, which cost
    more than the UPDATE it fed; one joined string is several times cheaper."""
    return "{" + ",".join(map(str, values)) + "}"


class PostgresStore(Store):
    dialect = "postgresql"

    def __init__(self, url: LedgerURL, *, create: bool) -> None:
        self.url = url
        self._streams = 0
        try:
            self._conn = psycopg.connect(url.target, autocommit=False)
        except psycopg.Error as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise LedgerUnavailableError(
                "ledger_unreachable", url=url.original, reason=reason
            ) from error
        if url.schema is not None:
            # Look first: CREATE SCHEMA IF NOT EXISTS needs the CREATE right on the database
            # even when the schema exists, which a service role (ledger.roles) does not have.
            exists = self._conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (url.schema,)
            ).fetchone()
            if create and not exists:
                self._conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{url.schema}"')
            self._conn.execute(f'SET search_path TO "{url.schema}"')
            self._conn.commit()

    def close(self) -> None:
        self._conn.close()

    def begin_write(self) -> Head:
        seq, hash_, ts, expired = self.query(
            "SELECT seq, hash, timestamp_ns, expired_through_ns FROM ledger_head "
            "WHERE singleton = 1 FOR UPDATE"
        )[0]
        return Head(seq, bytes(hash_), ts, expired)

    def begin_read(self) -> None:
        self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def begin_records(self) -> None:
        """Nothing to do: the next statement opens a READ COMMITTED transaction, in which an
        INSERT … ON CONFLICT waits for a concurrent claim of the same key to commit."""

    def begin_migration(self) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def has_table(self, name: str) -> bool:
        row = self.query("SELECT to_regclass(?)", (name,))
        return row[0][0] is not None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if not params:
            return self._conn.execute(sql.encode()).rowcount  # bytes: no placeholder parsing
        return self._conn.execute(_pg(sql), params).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(_pg(sql), rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(_pg(sql), params or None).fetchall()

    def stream(
        self, sql: str, params: Sequence[Any] = (), *, chunk: int = 10_000
    ) -> Iterator[tuple[Any, ...]]:
        self._streams += 1  # a name per cursor: streams may be open side by side
        with self._conn.cursor(name=f"hashmarket_stream_{self._streams}") as cursor:
            cursor.itersize = chunk
            cursor.execute(_pg(sql), params or None)
            yield from cursor

    def query_in(
        self, sql: str, values: Sequence[int], params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        if not values:
            return []
        text = _pg(sql.replace("{in}", "= ANY(?::bigint[])"))
        return self._conn.execute(text, (*params, _array(values))).fetchall()

    def insert_journal(self, rows: Sequence[journal.Row]) -> None:
        with self._conn.cursor() as cursor, cursor.copy(_COPY_JOURNAL) as copy:
            copy.set_types(_JOURNAL_TYPES)
            for row in rows:
                copy.write_row(row)

    def insert_plain_rows(self, rows: Sequence[PlainRow]) -> None:
        # COPY in text format, one string per chunk: formatting a line in Python is several
        # times cheaper than psycopg's per-row write_row. In COPY text "\\" is one backslash,
        # so "\\x…" reaches bytea as its hex form "\x…"; "\N" is NULL.
        null, hex_prefix = "\\N", "\\\\x"
        with self._conn.cursor() as cursor, cursor.copy(_COPY_PLAIN_TEXT) as copy:
            for start in range(0, len(rows), _TEXT_CHUNK):
                copy.write(
                    "".join(
                        f"{seq}\t{null if tid is None else tid}\t{dr}\t{cr}\t{amount}\t"
                        f"{flags}\t{code}\t{ts}\t{dr_prev}\t{cr_prev}\t{hex_prefix}{h.hex()}\t0\n"
                        for seq, tid, dr, cr, amount, flags, code, ts, dr_prev, cr_prev, h in rows[
                            start : start + _TEXT_CHUNK
                        ]
                    )
                )

    def insert_fan_out_rows(
        self, debit_account_id: int, code: int, rows: Sequence[FanOutRow]
    ) -> None:
        tail = f"\t{int(debit_account_id)}\t{int(code)}\t0\n"
        with self._conn.cursor() as cursor, cursor.copy(_COPY_FAN_OUT_TEXT) as copy:
            for start in range(0, len(rows), _TEXT_CHUNK):
                copy.write(
                    "".join(
                        f"{seq}\t{cr}\t{amount}\t{flags}\t{ts}\t{dr_prev}\t{cr_prev}"
                        f"\t\\\\x{h.hex()}{tail}"
                        for seq, cr, amount, flags, ts, dr_prev, cr_prev, h in rows[
                            start : start + _TEXT_CHUNK
                        ]
                    )
                )

    def update_balances(self, rows: Sequence[Balances]) -> None:
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        with self._conn.cursor() as cursor:
            cursor.execute(_UPDATE_BALANCES, [_array(c) for c in columns])

    def credit_many(self, credits: Sequence[tuple[int, int, int]]) -> int:
        credited = 0
        with self._conn.cursor() as cursor:
            for start in range(0, len(credits), _CREDIT_CHUNK):
                part = credits[start : start + _CREDIT_CHUNK]
                columns = zip(*part, strict=True)
                cursor.execute(_CREDIT, [_array(c) for c in columns])
                credited += cursor.rowcount
        return credited
