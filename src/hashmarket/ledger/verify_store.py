"""The rows ``verify()`` and ``state_hash()`` read, behind named functions.

Everything here reads inside the caller's snapshot (``Ledger.snapshot``). The schema's guards
are read from each database's catalogue: ``sqlite_master`` on SQLite; ``pg_trigger``,
``pg_proc``, ``pg_index`` and ``pg_constraint`` in the ledger's schema on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from hashmarket.ledger.store import Store

# An account with its balances, NULL counters when the balances row is missing:
# id, asset, flags, code, name, debits_pending, debits_posted, credits_pending,
# credits_posted, timestamp_ns, last_seq.
_ACCOUNTS_WITH_BALANCES = (
    "SELECT a.id, a.asset, a.flags, a.code, a.name, b.debits_pending, b.debits_posted, "
    "b.credits_pending, b.credits_posted, a.timestamp_ns, b.last_seq FROM accounts AS a "
    "LEFT JOIN balances AS b ON b.account_id = a.id ORDER BY a.id"
)


def asset_issuers(store: Store) -> dict[str, int]:
    """Issuer account id of every asset, by code."""
    return {code: issuer for code, _, issuer in store.assets()}


def accounts_with_balances(store: Store) -> Iterator[tuple[Any, ...]]:
    return store.stream(_ACCOUNTS_WITH_BALANCES)


def orphan_balances(store: Store) -> int:
    """How many balances rows belong to no account."""
    (count,) = store.query(
        "SELECT COUNT(*) FROM balances WHERE account_id NOT IN (SELECT id FROM accounts)"
    )[0]
    return int(count)


def paid_days(store: Store) -> list[tuple[Any, ...]]:
    """(asset, day, pool_sats, first_seq, last_seq, treasury account) of every distribution."""
    if not store.has_table("token_distributions"):
        return []
    return store.query(
        "SELECT d.asset, d.day, d.pool_sats, d.first_seq, d.last_seq, s.treasury_account_id "
        "FROM token_distributions AS d JOIN token_series AS s ON s.asset = d.asset"
    )


def journal_span(store: Store, first: int, last: int) -> tuple[int, int | None, Any, Any, int]:
    """Rows ``first`` … ``last``: (count, sum of amounts, lowest and highest debit account,
    distinct codes)."""
    count, paid, low, high, codes = store.query(
        "SELECT COUNT(*), SUM(amount), MIN(debit_account_id), MAX(debit_account_id), "
        "COUNT(DISTINCT code) FROM journal WHERE seq >= ? AND seq <= ?",
        (first, last),
    )[0]
    return int(count), None if paid is None else int(paid), low, high, int(codes)


def table_rows(
    store: Store, table: str, key: str, *, integer_key: bool
) -> Iterable[tuple[Any, ...]]:
    """Every row of ``table`` (all columns) in key order. Integer keys are ordered by the
    database; text keys are sorted in Python, because a PostgreSQL collation other than C
    would order text differently from SQLite."""
    if integer_key:
        return store.stream(f"SELECT * FROM {table} ORDER BY {key}")
    width = key.count(",") + 1
    rows = sorted(store.query(f"SELECT {key}, * FROM {table}"))
    return (row[width:] for row in rows)


def all_rows(store: Store, table: str) -> Iterator[tuple[Any, ...]]:
    return store.stream(f"SELECT * FROM {table}")


# -- the schema's guards --------------------------------------------------------------------


def sqlite_schema(store: Store) -> dict[str, tuple[str, str, str | None]]:
    """Every table, index and trigger: name -> (type, table, CREATE statement as stored)."""
    rows = store.query(
        "SELECT name, type, tbl_name, sql FROM sqlite_master "
        "WHERE type IN ('table', 'index', 'trigger')"
    )
    return {name: (kind, table, sql) for name, kind, table, sql in rows}


def pg_triggers(store: Store) -> dict[str, tuple[str, str, str, str]]:
    """User triggers in the ledger's schema: name -> (table, enabled flag, function name,
    function source). ``tgenabled`` is 'D' for a disabled trigger."""
    rows = store.query(
        "SELECT t.tgname, c.relname, t.tgenabled, p.proname, p.prosrc FROM pg_trigger AS t "
        "JOIN pg_class AS c ON c.oid = t.tgrelid JOIN pg_proc AS p ON p.oid = t.tgfoid "
        "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal"
    )
    return {name: (table, str(enabled), fn, src) for name, table, enabled, fn, src in rows}


def pg_indexes(store: Store) -> dict[str, tuple[str, bool, bool]]:
    """Indexes in the ledger's schema: name -> (table, unique, valid)."""
    rows = store.query(
        "SELECT i.relname, t.relname, x.indisunique, x.indisvalid FROM pg_index AS x "
        "JOIN pg_class AS i ON i.oid = x.indexrelid JOIN pg_class AS t ON t.oid = x.indrelid "
        "WHERE t.relnamespace = current_schema()::regnamespace"
    )
    return {name: (table, bool(unique), bool(valid)) for name, table, unique, valid in rows}


def pg_constraints(store: Store) -> set[tuple[str, str]]:
    """(table, kind) of every constraint in the ledger's schema: 'p' primary key, 'c' check,
    'u' unique."""
    rows = store.query(
        "SELECT c.relname, k.contype FROM pg_constraint AS k "
        "JOIN pg_class AS c ON c.oid = k.conrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace"
    )
    return {(table, str(kind)) for table, kind in rows}


def pg_not_null_columns(store: Store) -> set[tuple[str, str]]:
    """(table, column) of every NOT NULL column in the ledger's schema."""
    rows = store.query(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_nullable = 'NO'"
    )
    return {(table, column) for table, column in rows}
