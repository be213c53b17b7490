"""The local store's tables: the schema, its migrations and the SQL shared by the store and
its writers (per-source state, daily aggregates of the block tables). ``chain/store.py``
describes what the store holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from hashmarket.chain.sources.blocks import BlockArrays, aggregate_daily

SCHEMA_VERSION = 2  # 2: blocks carry tx_count; mempool blocks and synced prices

_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    file_path TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    layout TEXT NOT NULL CHECK (layout IN ('daily', 'blocks')),
    rows INTEGER NOT NULL,
    first_date TEXT NOT NULL,
    last_date TEXT NOT NULL,
    cells INTEGER NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE import_values (
    date TEXT NOT NULL,
    field TEXT NOT NULL,
    value REAL NOT NULL,
    import_id INTEGER NOT NULL REFERENCES imports (id),
    PRIMARY KEY (date, field)
) WITHOUT ROWID;
CREATE INDEX import_values_by_import ON import_values (import_id);
"""
# Blocks of one source, in tables named after it. Version 1 had the node's without tx_count.
_BLOCK_TABLES = """
CREATE TABLE {source}_blocks (
    height INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    time_s INTEGER NOT NULL,
    bits INTEGER NOT NULL,
    difficulty REAL NOT NULL,
    subsidy_sats INTEGER NOT NULL,
    fees_sats INTEGER NOT NULL,
    tx_count INTEGER
);
CREATE TABLE {source}_daily (
    date TEXT PRIMARY KEY,
    difficulty REAL,
    block_count INTEGER NOT NULL,
    subsidy_btc REAL,
    fees_btc REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE {source}_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
_PRICE_TABLES = """
CREATE TABLE {source}_prices (date TEXT PRIMARY KEY, price_usd REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE {source}_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
# Sources of synced data, each in precedence order; names are table prefixes and provenance.
BLOCK_SOURCES: dict[str, str] = {
    "node": "Daily aggregates of blocks synced from {url} (chain {chain})",
    "mempool": "Daily aggregates of blocks synced from the mempool instance {url} (chain {chain})",
}
PRICE_SOURCES: dict[str, str] = {
    "bitstamp_api": "BTC/USD daily close from Bitstamp's public API ({url})",
}
_V2_TABLES = _BLOCK_TABLES.format(source="mempool") + _PRICE_TABLES.format(source="bitstamp_api")
_MIGRATIONS: dict[int, str] = {  # from version key to key + 1
    1: "ALTER TABLE node_blocks ADD COLUMN tx_count INTEGER;" + _V2_TABLES,
}
FULL_SCHEMA = _SCHEMA + _BLOCK_TABLES.format(source="node") + _V2_TABLES


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def check_source(source: str, known: dict[str, str]) -> None:
    if source not in known:  # names become table names: only known ones
        raise ValueError(f"unknown source {source!r} (known: {', '.join(known)})")


def execute_script(conn: sqlite3.Connection, script: str) -> None:
    # One statement at a time: executescript() would commit the open transaction.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring an older schema up to :data:`SCHEMA_VERSION` (inside the caller's transaction)."""
    version = schema_version(conn)
    while version < SCHEMA_VERSION:
        execute_script(conn, _MIGRATIONS[version])
        version += 1
    conn.execute("UPDATE schema_version SET version = ?", (version,))


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def read_state(conn: sqlite3.Connection, source: str = "node") -> dict[str, str]:
    return dict(conn.execute(f"SELECT key, value FROM {source}_state").fetchall())


def set_state(conn: sqlite3.Connection, key: str, value: str, source: str = "node") -> None:
    conn.execute(
        f"INSERT INTO {source}_state (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def aggregate_node_blocks(conn: sqlite3.Connection, source: str = "node") -> pd.DataFrame:
    rows = conn.execute(
        f"SELECT height, time_s, subsidy_sats, fees_sats, difficulty FROM {source}_blocks "
        "ORDER BY height"
    ).fetchall()
    ints = np.array([r[:4] for r in rows], dtype=np.int64).reshape(len(rows), 4)
    blocks = BlockArrays(
        height=ints[:, 0],
        time_s=ints[:, 1],
        difficulty=np.array([r[4] for r in rows], dtype=np.float64),
        subsidy_sats=ints[:, 2],
        fees_sats=ints[:, 3],
    )
    return aggregate_daily(blocks)
