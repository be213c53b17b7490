"""The storage seam: one interface, two thin adapters (``sqlite3`` and ``psycopg`` 3).

The ledger's rules live in Python (:mod:`hashmarket.ledger.engine`); a store only keeps rows
and serializes writers. Both stores run the same SQL except where speed needs each database's
own bulk path (``executemany`` in SQLite, ``COPY`` and ``unnest`` in PostgreSQL). SQL is
written with ``?`` placeholders; the PostgreSQL adapter rewrites them to ``%s``.

Writers are serialized: SQLite by ``BEGIN IMMEDIATE`` (one writer per file, others wait on the
busy timeout), PostgreSQL by ``SELECT … FOR UPDATE`` on the single ``ledger_head`` row, which
every write transaction takes first. Under that lock a writer sees every earlier commit, so
the Python checks (limits, idempotency, at-most-once resolution) see the true state.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from hashmarket.errors import LedgerUnavailableError
from hashmarket.ledger import journal, registry

# An account with its balances, in the layout of ``AccountBalance``.
ACCOUNT_SELECT = (
    "SELECT a.id, a.asset, a.flags, a.code, a.name, b.debits_pending, b.debits_posted, "
    "b.credits_pending, b.credits_posted, a.timestamp_ns, b.last_seq "
    "FROM accounts AS a JOIN balances AS b ON b.account_id = a.id"
)
# An account's mutable state as the writer's engine holds it (see engine.ASSET … engine.LAST),
# after its id.
ACCOUNT_STATE_SELECT = (
    "SELECT a.id, a.asset, a.flags, b.debits_pending, b.debits_posted, b.credits_pending, "
    "b.credits_posted, b.last_seq FROM accounts AS a JOIN balances AS b ON b.account_id = a.id "
    "WHERE a.id {in}"
)
ACCOUNT_INSERT = (
    "INSERT INTO accounts (id, asset, flags, code, name, timestamp_ns) VALUES (?, ?, ?, ?, ?, ?)"
)
BALANCES_INSERT = "INSERT INTO balances VALUES (?, 0, 0, 0, 0, 0)"
JOURNAL_COLUMNS = ", ".join(journal.COLUMNS)
ENTRY_COLUMNS = ", ".join(journal.COLUMNS[: journal.HASH])  # without the hash
PLAIN_COLUMNS = (
    "seq, id, debit_account_id, credit_account_id, amount, flags, code, timestamp_ns, "
    "debit_prev_seq, credit_prev_seq, hash"
)
PENDING_ENTRY_COLUMNS = ", ".join(f"p.{c}" for c in journal.COLUMNS[: journal.HASH])
ID_CHUNK = 5_000
MAX_INT64 = 2**63 - 1

PlainRow = tuple[int, int | None, int, int, int, int, int, int, int, int, bytes]
# A fan-out row without what all of them share (ledger id, debit account, code): seq, credit
# account, amount, flags, timestamp_ns, debit_prev_seq, credit_prev_seq, hash.
FanOutRow = tuple[int, int, int, int, int, int, int, bytes]
Balances = tuple[int, int, int, int, int, int]  # debits_pending, …, credits_posted, last_seq, id


@dataclass(frozen=True, slots=True)
class Head:
    """The journal's tip: last sequence number, its hash, the last ledger-clock timestamp
    handed out, and the time through which pending transfers have been expired."""

    seq: int
    hash: bytes
    timestamp_ns: int
    expired_through_ns: int


@dataclass(frozen=True, slots=True)
class LedgerURL:
    dialect: str  # "sqlite" or "postgresql"
    target: str  # a file path, or a libpq URL without our own parameters
    schema: str | None  # PostgreSQL schema holding this ledger's tables (default: public)
    original: str


def parse_url(url: str) -> LedgerURL:
    """``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``postgresql://…[?schema=name]``."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path or "?" in path:
            raise LedgerUnavailableError("bad_ledger_url", url=url, problem="no file path")
        return LedgerURL("sqlite", path, None, url)
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme in ("postgresql", "postgres"):
        params = parse_qsl(parts.query, keep_blank_values=True)
        schema = next((v for k, v in params if k == "schema"), None)
        if schema is not None and not schema.replace("_", "").isalnum():
            raise LedgerUnavailableError(
                "bad_ledger_url", url=url, problem="schema must be letters, digits and '_'"
            )
        query = "&".join(f"{k}={v}" for k, v in params if k != "schema")
        target = parts._replace(scheme="postgresql", query=query).geturl()
        return LedgerURL("postgresql", target, schema, url)
    raise LedgerUnavailableError(
        "bad_ledger_url", url=url, problem="expected sqlite:///PATH or postgresql://…"
    )


class Store(abc.ABC):
    """Rows in, rows out, under the transaction discipline described in the module doc."""

    dialect: ClassVar[str]
    url: LedgerURL

    # -- connections and transactions -------------------------------------------------------

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def begin_write(self) -> Head:
        """Start the one write transaction, wait for other writers, return the head."""

    @abc.abstractmethod
    def begin_read(self) -> None:
        """Start a read transaction that sees one consistent snapshot."""

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @abc.abstractmethod
    def begin_records(self) -> None:
        """Start a short write transaction beside the journal (idempotency records): it
        waits for no ledger writer and touches no head."""

    @abc.abstractmethod
    def begin_migration(self) -> None:
        """Start a transaction that holds off every other migrator."""

    @abc.abstractmethod
    def has_table(self, name: str) -> bool: ...

    # -- generic SQL (``?`` placeholders) ---------------------------------------------------

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    def stream(
        self, sql: str, params: Sequence[Any] = (), *, chunk: int = 10_000
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of a large result without holding them all in memory."""

    @abc.abstractmethod
    def query_in(
        self, sql: str, values: Sequence[int], params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Run ``sql`` whose ``{in}`` marks where ``column IN (values)`` goes, in chunks."""

    # -- the journal and the balances (bulk paths differ per database) ----------------------

    @abc.abstractmethod
    def insert_journal(self, rows: Sequence[journal.Row]) -> None: ...

    @abc.abstractmethod
    def insert_plain_rows(self, rows: Sequence[PlainRow]) -> None:
        """Journal rows of plain transfers (no pending/reversal/timeout fields): (seq, id or
        None, debit, credit, amount, flags, code, timestamp_ns, debit_prev_seq,
        credit_prev_seq, hash). Binding 11 values instead of 15 saves a quarter of the cost
        of inserting the commonest rows."""

    @abc.abstractmethod
    def insert_fan_out_rows(
        self, debit_account_id: int, code: int, rows: Sequence[FanOutRow]
    ) -> None:
        """Plain rows with ledger ids from one debit account, all with ``code``: what they
        share is written once in the statement, not bound a million times."""

    @abc.abstractmethod
    def update_balances(self, rows: Sequence[Balances]) -> None: ...

    @abc.abstractmethod
    def credit_many(self, credits: Sequence[tuple[int, int, int]]) -> int:
        """Set (account id, credits_posted, last_seq) for accounts whose new credits the
        caller has checked (see ``LedgerWriter.create_fan_out``); returns the rows changed."""

    def backup_to(self, path: Path) -> None:
        """Copy the whole database, as of one consistent moment, to a new file at ``path``."""
        raise LedgerUnavailableError(
            "backup_unsupported",
            url=self.url.original,
            how="back a PostgreSQL ledger up with pg_dump and restore it with pg_restore",
        )

    def savepoint(self, name: str) -> None:
        self.execute(f"SAVEPOINT {name}")

    def release(self, name: str) -> None:
        self.execute(f"RELEASE SAVEPOINT {name}")

    def rollback_to(self, name: str) -> None:
        self.execute(f"ROLLBACK TO SAVEPOINT {name}")
        self.execute(f"RELEASE SAVEPOINT {name}")

    def schema_version(self) -> int:
        """The schema version applied, 0 for a database without the ledger's tables."""
        if not self.has_table("schema_version"):
            return 0
        return int(self.query("SELECT COALESCE(MAX(version), 0) FROM schema_version")[0][0])

    def apply_migration(
        self, version: int, name: str, statements: Iterable[str], *, now_ns: int
    ) -> None:
        for statement in statements:
            self.execute(statement)
        self.execute(
            "INSERT INTO schema_version (version, name, applied_at_ns) VALUES (?, ?, ?)",
            (version, name, now_ns),
        )

    def write_head(self, head: Head) -> None:
        self.execute(
            "UPDATE ledger_head SET seq = ?, hash = ?, timestamp_ns = ?, expired_through_ns = ? "
            "WHERE singleton = 1",
            (head.seq, head.hash, head.timestamp_ns, head.expired_through_ns),
        )

    def read_head(self) -> Head:
        seq, hash_, ts, expired = self.query(
            "SELECT seq, hash, timestamp_ns, expired_through_ns FROM ledger_head"
        )[0]
        return Head(seq, bytes(hash_), ts, expired)

    # -- the registry log (see :mod:`hashmarket.ledger.registry`) ---------------------------

    def registry_tip(self) -> tuple[int, bytes]:
        """(seq, hash) of the registry log's last entry; (0, 32 zero bytes) when empty."""
        rows = self.query("SELECT seq, hash FROM registry_log ORDER BY seq DESC LIMIT 1")
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else (0, registry.GENESIS_HASH)

    def register(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """Append new rows of a registered table (values in its column order) to the log,
        in the caller's write transaction. Before the log's migration there is nothing to do."""
        if not rows or not self.has_registry():
            return
        entries = registry.chain_entries(table, rows, self.registry_tip())
        self.executemany("INSERT INTO registry_log VALUES (?, ?, ?, ?, ?)", entries)

    def all_rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of a registered table, all columns, in no particular order (the
        migration that adds the log registers them; it sorts them itself)."""
        if table not in registry.KEY_WIDTH:
            raise ValueError(f"{table!r} is not a registered table")
        return self.query(f"SELECT * FROM {table}")

    def has_registry(self) -> bool:
        found = getattr(self, "_has_registry", False)
        if not found:
            found = self.has_table("registry_log")
            self._has_registry = found
        return found

    def registry_entry(self, seq: int) -> tuple[Any, ...] | None:
        rows = self.query(
            "SELECT seq, table_name, row_key, row_sha256, hash FROM registry_log WHERE seq = ?",
            (seq,),
        )
        return rows[0] if rows else None

    def stream_registry(self) -> Iterator[tuple[Any, ...]]:
        return self.stream(
            "SELECT seq, table_name, row_key, row_sha256, hash FROM registry_log ORDER BY seq"
        )

    def entries_by_id(self, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        return self.query_in(f"SELECT {ENTRY_COLUMNS} FROM journal WHERE id {{in}}", ids)

    def resolutions(self, pending_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(pending_id, flags of the row that resolved it) for those already resolved."""
        rows = self.query_in(
            "SELECT pending_id, flags FROM journal WHERE pending_id {in}", pending_ids
        )
        return [(r[0], r[1]) for r in rows]

    def reversed_ids(self, ids: Sequence[int]) -> set[int]:
        rows = self.query_in("SELECT reverses_id FROM journal WHERE reverses_id {in}", ids)
        return {r[0] for r in rows}

    def asset(self, code: str) -> tuple[int, int] | None:
        """(scale, issuer account id) of the asset ``code``, or ``None``."""
        rows = self.query("SELECT scale, issuer_account_id FROM assets WHERE code = ?", (code,))
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def assets(self) -> list[tuple[str, int, int]]:
        """(code, scale, issuer account id) of every asset, by code."""
        rows = self.query("SELECT code, scale, issuer_account_id FROM assets ORDER BY code")
        return [(r[0], r[1], r[2]) for r in rows]

    def insert_asset(self, code: str, scale: int, issuer_account_id: int, ts: int) -> None:
        row = (code, scale, issuer_account_id, ts)
        self.execute(
            "INSERT INTO assets (code, scale, issuer_account_id, timestamp_ns) VALUES (?, ?, ?, ?)",
            row,
        )
        self.register("assets", [row])

    def accounts_by_id(self, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        return self.query_in(f"{ACCOUNT_SELECT} WHERE a.id {{in}}", ids)

    def account_by_name(self, name: str) -> tuple[Any, ...] | None:
        rows = self.query(f"{ACCOUNT_SELECT} WHERE a.name = ?", (name,))
        return rows[0] if rows else None

    def account_id_by_name(self, name: str) -> int | None:
        rows = self.query("SELECT id FROM accounts WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else None

    def accounts(self, *, asset: str | None = None, limit: int | None = None) -> list[Any]:
        """Accounts with their balances, by id; of one asset, and at most ``limit``, if given."""
        sql = ACCOUNT_SELECT
        params: list[Any] = []
        if asset is not None:
            sql += " WHERE a.asset = ?"
            params.append(asset)
        sql += " ORDER BY a.id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self.query(sql, params)

    def account_states(self, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """(id, asset, flags, debits_pending, debits_posted, credits_pending, credits_posted,
        last_seq) of the accounts that exist among ``ids``."""
        return self.query_in(ACCOUNT_STATE_SELECT, ids)

    def insert_accounts(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """New accounts, (id, asset, flags, code, name, timestamp_ns), with zero balances."""
        self.executemany(ACCOUNT_INSERT, rows)
        self.executemany(BALANCES_INSERT, [(r[0],) for r in rows])
        self.register("accounts", rows)

    def last_seq(self, account_id: int) -> int | None:
        """The seq of the account's newest journal row (0: none), ``None`` for no account."""
        rows = self.query("SELECT last_seq FROM balances WHERE account_id = ?", (account_id,))
        return int(rows[0][0]) if rows else None

    def journal_row(self, seq: int) -> tuple[Any, ...] | None:
        rows = self.query(f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE seq = ?", (seq,))
        return rows[0] if rows else None

    def journal_row_by_id(self, transfer_id: int) -> tuple[Any, ...] | None:
        """The row of a client id, or (negative) of a ledger-assigned id ``-seq``."""
        if transfer_id < 0:
            sql = f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE seq = ? AND id IS NULL"
            key = -transfer_id
        else:
            sql, key = f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE id = ?", transfer_id
        rows = self.query(sql, (key,))
        return rows[0] if rows else None

    def stream_journal(self, *, after_seq: int = 0) -> Iterator[tuple[Any, ...]]:
        return self.stream(
            f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE seq > ? ORDER BY seq", (after_seq,)
        )

    def due_pendings(self, after_ns: int, through_ns: int) -> list[tuple[Any, ...]]:
        """Pending transfers whose expiry falls in (after, through] and that are unresolved."""
        return self.query(
            f"SELECT {PENDING_ENTRY_COLUMNS} FROM journal AS p "
            "WHERE p.expires_at_ns > ? AND p.expires_at_ns <= ? "
            "AND NOT EXISTS (SELECT 1 FROM journal AS r WHERE r.pending_id = p.id) "
            "ORDER BY p.expires_at_ns, p.seq",
            (after_ns, through_ns),
        )
