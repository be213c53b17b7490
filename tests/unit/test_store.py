"""The SQLite local store: its schema and settings, what it refuses, and the node writer."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from hashmarket.chain.consensus import block_subsidy_sats
from hashmarket.chain.history import STORE_FILE_NAME, NetworkHistory
from hashmarket.chain.sources.blocks import BlockArrays, BlockRecord, aggregate_daily
from hashmarket.chain.sources.imports import read_import
from hashmarket.chain.store import LocalStore
from hashmarket.chain.store_tables import SCHEMA_VERSION
from hashmarket.errors import DataError

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
START_S = int(dt.datetime(2021, 5, 1, 20, 0, tzinfo=dt.UTC).timestamp())


def blocks(first: int, count: int, *, branch: str = "a") -> list[BlockRecord]:
    return [
        BlockRecord(
            height=h,
            block_hash=hashlib.sha256(f"{branch}{h}".encode()).hexdigest(),
            time_s=START_S + 590 * (h - 680_000),
            bits=0x170ED0EB,
            subsidy_sats=block_subsidy_sats(h),
            fees_sats=(h * 7919) % 50_000_000,
        )
        for h in range(first, first + count)
    ]


def node_frame(store: LocalStore):
    return next(f.frame for f in store.source_frames() if f.info.name == "node")


def test_a_new_store_has_its_schema_version_and_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / STORE_FILE_NAME
    store = LocalStore(path)
    csv = tmp_path / "d.csv"
    csv.write_text("date,price_usd\n2021-01-01,29000\n")
    store.apply_import(read_import(csv), imported_at=NOW)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    with store._connect(create=False) as own:  # the store's own connections
        assert own.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert own.execute("PRAGMA foreign_keys").fetchone() == (1,)
    record = store.imports()[0]
    assert record.imported_at == "2026-03-01T12:00:00+00:00"
    assert (record.layout, record.rows, record.first_date) == ("daily", 1, dt.date(2021, 1, 1))


def test_reading_never_creates_a_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "none" / STORE_FILE_NAME)
    assert store.source_frames() == []
    assert store.imports() == []
    assert store.node_status() is None
    assert not (tmp_path / "none").exists()
    history = NetworkHistory.load(data_dir=tmp_path / "none")
    assert "import" not in set(history.provenance.stack().unique())


def test_a_store_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / STORE_FILE_NAME
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (99)")
    conn.close()
    before = path.read_bytes()
    csv = tmp_path / "d.csv"
    csv.write_text("date,price_usd\n2021-01-01,29000\n")
    refused = f"schema version 99; this version of hashmarket reads up to {SCHEMA_VERSION}"
    with pytest.raises(DataError, match=refused):
        LocalStore(path).apply_import(read_import(csv), imported_at=NOW)
    with pytest.raises(DataError, match="schema version 99"):
        NetworkHistory.load(data_dir=tmp_path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"not a database at all, just text" * 100, None])
def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / STORE_FILE_NAME
    if content is None:  # an SQLite database of something else
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE other (x)")
        conn.close()
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(DataError, match="not a Hashmarket store") as refused:
        LocalStore(path).source_frames()
    assert refused.value.location is not None and refused.value.location.file == str(path)
    assert path.read_bytes() == before


def test_node_blocks_commit_roll_back_and_aggregate(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / STORE_FILE_NAME)
    first = blocks(680_000, 600)
    with store.node_writer() as writer:
        writer.append(first[:300], chain="main")
        writer.commit()
        writer.append(first[300:], chain="main")
        # Not committed: leaving the writer rolls these back.
    assert store.node_status() is not None
    assert store.node_status().tip_height == 680_299  # type: ignore[union-attr]

    # Committed but not finished: readers aggregate from the blocks themselves.
    want = aggregate_daily(BlockArrays.from_records(first[:300]))
    got = node_frame(store)
    assert got.index.equals(want.index)
    assert np.allclose(got.to_numpy(), want.to_numpy(), equal_nan=True, rtol=0, atol=0)

    with store.node_writer() as writer:
        writer.append(first[300:], chain="main")
        assert writer.roll_back_above(680_549) == 50
        assert writer.height_range() == (680_000, 680_549)
        assert writer.hash_at(680_549) == first[549].block_hash
        assert writer.hash_at(680_550) is None
        days = writer.finish(url="http://127.0.0.1:8332", chain="main", synced_at=NOW)
    want = aggregate_daily(BlockArrays.from_records(first[:550]))
    assert days == len(want) >= 2
    got = node_frame(store)
    assert got.index.equals(want.index)
    assert np.array_equal(got.to_numpy(), want.to_numpy(), equal_nan=True)
    status = store.node_status()
    assert status is not None
    assert (status.first_height, status.tip_height, status.blocks) == (680_000, 680_549, 550)
    assert (status.tip_hash, status.days, status.chain) == (first[549].block_hash, days, "main")
    assert (status.url, status.synced_at) == ("http://127.0.0.1:8332", "2026-03-01T12:00:00+00:00")

    # Imports come before node aggregates, and both before the bundled data.
    csv = tmp_path / "d.csv"
    day = want.index[0].date()
    csv.write_text(f"date,block_count\n{day},150\n")
    store.apply_import(read_import(csv), imported_at=NOW)
    assert [f.info.name for f in store.source_frames()] == ["import", "node"]
    history = NetworkHistory.load(data_dir=tmp_path)
    assert history.frame.loc[str(day), "block_count"] == 150
    assert history.provenance.loc[str(day), "block_count"] == "import"
    assert history.provenance.loc[str(day), "fees_btc"] == "node"
    assert history.frame.loc[str(day), "fees_btc"] == want.loc[str(day), "fees_btc"]


V1_NODE_TABLES = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE imports (id INTEGER PRIMARY KEY, file_path TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE, layout TEXT NOT NULL, rows INTEGER NOT NULL,
    first_date TEXT NOT NULL, last_date TEXT NOT NULL, cells INTEGER NOT NULL,
    imported_at TEXT NOT NULL);
CREATE TABLE import_values (date TEXT NOT NULL, field TEXT NOT NULL, value REAL NOT NULL,
    import_id INTEGER NOT NULL REFERENCES imports (id), PRIMARY KEY (date, field)) WITHOUT ROWID;
CREATE TABLE node_blocks (height INTEGER PRIMARY KEY, hash BLOB NOT NULL,
    time_s INTEGER NOT NULL, bits INTEGER NOT NULL, difficulty REAL NOT NULL,
    subsidy_sats INTEGER NOT NULL, fees_sats INTEGER NOT NULL);
CREATE TABLE node_daily (date TEXT PRIMARY KEY, difficulty REAL, block_count INTEGER NOT NULL,
    subsidy_btc REAL, fees_btc REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE node_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO schema_version VALUES (1);
INSERT INTO node_state VALUES ('daily_stale', '1'), ('chain', 'main');
"""


def test_a_version_1_store_is_read_as_it_is_and_migrated_by_the_first_writer(
    tmp_path: Path,
) -> None:
    path = tmp_path / STORE_FILE_NAME
    old = blocks(680_000, 400)
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_NODE_TABLES)
        conn.executemany(
            "INSERT INTO node_blocks VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    b.height,
                    bytes.fromhex(b.block_hash),
                    b.time_s,
                    b.bits,
                    b.difficulty,
                    b.subsidy_sats,
                    b.fees_sats,
                )
                for b in old
            ],
        )
    conn.close()
    store = LocalStore(path)
    want = aggregate_daily(BlockArrays.from_records(old))
    assert np.array_equal(node_frame(store).to_numpy(), want.to_numpy(), equal_nan=True)
    assert store.node_status("mempool") is None and store.price_status("bitstamp_api") is None

    new = blocks(680_400, 10)
    new = [BlockRecord(**{**{f: getattr(b, f) for f in b.__slots__}, "tx_count": 7}) for b in new]
    with store.node_writer() as writer:
        writer.append(new, chain="main")
        writer.commit()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
        counts = conn.execute(
            "SELECT count(*), count(tx_count), sum(tx_count) FROM node_blocks"
        ).fetchone()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert counts == (410, 10, 70)  # the old blocks keep no transaction count
    assert {"mempool_blocks", "mempool_daily", "mempool_state", "bitstamp_api_prices"} <= tables
