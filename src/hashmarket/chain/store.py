"""The local data store: one SQLite file holding a user's imports and a node's blocks.

``DIR/hashmarket.sqlite`` (see :data:`hashmarket.chain.history.STORE_FILE_NAME`) holds

* **imports** — one row per imported file (path, SHA-256, time, layout, dates) and the daily
  values it set, one cell per (day, field). A later import of the same days and fields
  replaces those cells; a blank cell in a file sets nothing, so the day's value falls through
  to earlier imports or the bundled data. Re-importing a file already in force changes nothing.
* **synced blocks** — per-block records (height, hash, time, bits, difficulty, subsidy, fees,
  transactions) and the daily rows aggregated from them, one set of tables per source of
  blocks (:data:`BLOCK_SOURCES`: ``node`` for a Bitcoin Core node, ``mempool`` for a mempool
  instance), so each keeps its own chain, tip and reorganisations;
* **synced prices** — the daily BTC/USD close per price source (:data:`PRICE_SOURCES`).

:meth:`LocalStore.source_frames` gives them to :class:`~hashmarket.chain.history.NetworkHistory`
in this order of precedence, ahead of the bundled data: ``import`` (your files), ``node``
(your own node), ``mempool``, ``bitstamp_api``.

SQLite runs in WAL mode with ``synchronous=FULL``: a committed transaction survives a crash or
power loss. Every change is one transaction, so a refused import or an interrupted sync never
leaves half its work behind.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hashmarket.chain.sources.blocks import (
    DAILY_BLOCK_FIELDS,
    BlockArrays,
    BlockRecord,
    aggregate_daily,
)
from hashmarket.chain.sources.frame import FIELDS, SourceFrame, SourceInfo
from hashmarket.chain.sources.imports import ImportFile
from hashmarket.errors import DataError, Location, SourceError

SCHEMA_VERSION = 2  # 2: blocks carry tx_count; mempool blocks and synced prices
BUSY_TIMEOUT_S = 30.0
STORE_FILE = "hashmarket.sqlite"  # the same name as history.STORE_FILE_NAME, for display

IMPORT = SourceInfo(
    name="import",
    description="Your own CSV files imported with `hashmarket data import`",
    licence="as the imported files' owner decides",
    attribution="",
    file=STORE_FILE,
)

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
_FULL_SCHEMA = _SCHEMA + _BLOCK_TABLES.format(source="node") + _V2_TABLES


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One imported file as the store remembers it; ``cells_in_force`` are the values it
    still provides (later imports of the same days and fields replace the others)."""

    import_id: int
    file_path: str
    sha256: str
    layout: str
    rows: int
    first_date: dt.date
    last_date: dt.date
    cells: int
    cells_in_force: int
    imported_at: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: ``changed`` is False when the file was already in force."""

    record: ImportRecord
    changed: bool
    cells_set: int  # cells whose value or origin changed
    cells_replaced: int  # of those, cells an earlier, different import had set


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """Blocks synced from a node: the height range, the tip, and the last completed sync."""

    first_height: int
    tip_height: int
    tip_hash: str
    tip_time_s: int
    blocks: int
    days: int
    url: str | None
    chain: str | None
    synced_at: str | None


@dataclass(frozen=True, slots=True)
class PriceStatus:
    """Daily prices synced from one source: the days held and the last completed sync."""

    first_date: dt.date
    last_date: dt.date
    days: int
    url: str | None
    synced_at: str | None


class LocalStore:
    """The SQLite store at ``path``. Reading never creates it; writing creates it."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    # -- connections ---------------------------------------------------------------------

    @contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection]:
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(
            sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        ) as conn:
            try:
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
                # Check first: switching to WAL rewrites the file header, and a file that
                # is not ours (or is newer than us) must be left exactly as it is.
                has_schema = self._check_schema(conn)
                conn.execute("PRAGMA journal_mode=WAL")
                if create and (not has_schema or _version(conn) < SCHEMA_VERSION):
                    self._create_schema(conn)
            except sqlite3.OperationalError as exc:
                raise self._busy_or_corrupt(exc) from None
            except sqlite3.DatabaseError as exc:
                raise DataError(
                    "store_corrupt", location=Location(str(self.path)), detail=str(exc)
                ) from None
            try:
                yield conn
            except sqlite3.OperationalError as exc:
                raise self._busy_or_corrupt(exc) from None

    def _busy_or_corrupt(self, exc: sqlite3.OperationalError) -> Exception:
        if "locked" in str(exc) or "busy" in str(exc):
            return SourceError("store_busy", path=str(self.path))
        return exc

    def _check_schema(self, conn: sqlite3.Connection) -> bool:
        """Whether the store has a schema; refuse a file that is not ours or is newer.

        An older schema is read as it is and brought up to date by the first writer."""
        tables = _tables(conn)
        if "schema_version" not in tables:
            if tables:
                raise DataError(
                    "store_corrupt",
                    location=Location(str(self.path)),
                    detail="it has tables but no schema_version",
                )
            return False
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        found = row[0] if row else None
        if not isinstance(found, int) or not 1 <= found <= SCHEMA_VERSION:
            raise DataError(
                "store_version",
                location=Location(str(self.path)),
                found=found,
                supported=SCHEMA_VERSION,
            )
        return True

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        with _transaction(conn):
            tables = _tables(conn)  # again, now that we hold the write lock
            if "schema_version" in tables:
                _migrate(conn)
                return
            if tables:
                raise DataError(
                    "store_corrupt",
                    location=Location(str(self.path)),
                    detail="it has tables but no schema_version",
                )
            _execute_script(conn, _FULL_SCHEMA)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection | None]:
        """A connection to an existing store, or None when there is none yet."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            yield None
            return
        with self._connect(create=False) as conn:
            has_schema = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name='schema_version'"
            ).fetchone()
            yield conn if has_schema else None

    # -- reading -------------------------------------------------------------------------

    def source_frames(self) -> list[SourceFrame]:
        """Daily sources in precedence order: the user's imports, then the synced blocks of
        each block source, then the synced prices."""
        with self._reader() as conn:
            if conn is None:
                return []
            frames = []
            imported = _import_frame(conn)
            if len(imported):
                frames.append(SourceFrame(IMPORT, imported))
            tables = _tables(conn)
            for source in BLOCK_SOURCES:
                if f"{source}_blocks" in tables:
                    daily = _node_frame(conn, source)
                    if len(daily):
                        frames.append(SourceFrame(_synced_info(conn, source), daily))
            for source in PRICE_SOURCES:
                if f"{source}_prices" in tables:
                    prices = _price_frame(conn, source)
                    if len(prices):
                        frames.append(SourceFrame(_synced_info(conn, source), prices))
            return frames

    def imports(self) -> list[ImportRecord]:
        """Every import, oldest first."""
        with self._reader() as conn:
            return [] if conn is None else _import_records(conn)

    def node_status(self, source: str = "node") -> NodeStatus | None:
        """The block range and tip synced from ``source``, or None when it has none."""
        _check_source(source, BLOCK_SOURCES)
        with self._reader() as conn:
            if conn is None or f"{source}_blocks" not in _tables(conn):
                return None
            return _node_status(conn, source)

    def price_status(self, source: str) -> PriceStatus | None:
        """The days of prices synced from ``source``, or None when it has none."""
        _check_source(source, PRICE_SOURCES)
        with self._reader() as conn:
            if conn is None or f"{source}_prices" not in _tables(conn):
                return None
            row = conn.execute(f"SELECT min(date), max(date), count(*) FROM {source}_prices")
            first, last, days = row.fetchone()
            if first is None:
                return None
            state = _state(conn, source)
            return PriceStatus(
                first_date=dt.date.fromisoformat(first),
                last_date=dt.date.fromisoformat(last),
                days=int(days),
                url=state.get("url"),
                synced_at=state.get("synced_at"),
            )

    def prices(self, source: str) -> PriceWriter:
        """Reads the last day and stores daily prices of ``source``, a transaction per call."""
        _check_source(source, PRICE_SOURCES)
        return PriceWriter(self, source)

    # -- imports -------------------------------------------------------------------------

    def apply_import(self, imported: ImportFile, *, imported_at: dt.datetime) -> ImportResult:
        """Store a validated file's values in one transaction (creating the store if needed).

        Cells of the same day and field that an earlier import set are replaced; a file whose
        values are all in force already (a re-import) changes nothing at all.
        """
        cells = imported.cells()
        when = imported_at.astimezone(dt.UTC).isoformat(timespec="seconds")
        with self._connect(create=True) as conn, _transaction(conn):
            row = conn.execute(
                "SELECT id FROM imports WHERE sha256 = ?", (imported.sha256,)
            ).fetchone()
            import_id = None if row is None else int(row[0])
            current = _current_cells(conn, imported)
            owner = -1 if import_id is None else import_id
            changed = [c for c in cells if current.get((c[0], c[1])) != (c[2], owner)]
            if import_id is not None and not changed:
                record = next(r for r in _import_records(conn) if r.import_id == import_id)
                return ImportResult(record, changed=False, cells_set=0, cells_replaced=0)
            values = (
                str(Path(imported.path).absolute()),  # findable from any working directory
                imported.sha256,
                imported.layout,
                imported.rows,
                imported.first_date.isoformat(),
                imported.last_date.isoformat(),
                len(cells),
                when,
            )
            if import_id is None:
                cursor = conn.execute(
                    "INSERT INTO imports (file_path, sha256, layout, rows, first_date, "
                    "last_date, cells, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                import_id = int(cursor.lastrowid or 0)
            else:
                conn.execute(
                    "UPDATE imports SET file_path = ?, sha256 = ?, layout = ?, rows = ?, "
                    "first_date = ?, last_date = ?, cells = ?, imported_at = ? WHERE id = ?",
                    (*values, import_id),
                )
            replaced = sum(
                1
                for c in changed
                if (c[0], c[1]) in current and current[(c[0], c[1])][1] != import_id
            )
            conn.executemany(
                "INSERT INTO import_values (date, field, value, import_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (date, field) DO UPDATE "
                "SET value = excluded.value, import_id = excluded.import_id",
                [(*c, import_id) for c in changed],
            )
            record = next(r for r in _import_records(conn) if r.import_id == import_id)
            return ImportResult(
                record, changed=True, cells_set=len(changed), cells_replaced=replaced
            )

    # -- node blocks ---------------------------------------------------------------------

    @contextmanager
    def node_writer(self, source: str = "node") -> Iterator[NodeWriter]:
        """A writer for blocks synced from ``source``; what it has not committed is rolled
        back on exit."""
        _check_source(source, BLOCK_SOURCES)
        with self._connect(create=True) as conn:
            writer = NodeWriter(conn, self.path, source)
            try:
                yield writer
            finally:
                writer.rollback()


class NodeWriter:
    """Appends synced blocks in transactions the caller commits, and rolls back reorgs.

    Every change to the blocks marks the daily aggregates stale in the same transaction;
    :meth:`finish` recomputes them. Until then readers aggregate from the blocks themselves,
    so a sync interrupted between commits never leaves daily rows that disagree with them.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, source: str = "node") -> None:
        self._conn = conn
        self.path = path
        self.source = source
        self._blocks = f"{source}_blocks"

    def _begin(self) -> None:
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN IMMEDIATE")
            _set_state(self._conn, "daily_stale", "1", self.source)

    def chain(self) -> str | None:
        return _state(self._conn, self.source).get("chain")

    def height_range(self) -> tuple[int, int] | None:
        row = self._conn.execute(f"SELECT min(height), max(height) FROM {self._blocks}").fetchone()
        return None if row[0] is None else (int(row[0]), int(row[1]))

    def hash_at(self, height: int) -> str | None:
        row = self._conn.execute(
            f"SELECT hash FROM {self._blocks} WHERE height = ?", (height,)
        ).fetchone()
        return None if row is None else bytes(row[0]).hex()

    def roll_back_above(self, height: int) -> int:
        """Delete the blocks above ``height`` (a reorg) and commit; return how many."""
        self._begin()
        cursor = self._conn.execute(f"DELETE FROM {self._blocks} WHERE height > ?", (height,))
        self.commit()
        return cursor.rowcount

    def append(self, records: Sequence[BlockRecord], *, chain: str) -> None:
        """Add blocks within the open transaction (opened if needed)."""
        self._begin()
        _set_state(self._conn, "chain", chain, self.source)
        self._conn.executemany(
            f"INSERT INTO {self._blocks} "
            "(height, hash, time_s, bits, difficulty, subsidy_sats, fees_sats, tx_count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.height,
                    bytes.fromhex(r.block_hash),
                    r.time_s,
                    r.bits,
                    r.difficulty,
                    r.subsidy_sats,
                    r.fees_sats,
                    r.tx_count,
                )
                for r in records
            ],
        )

    def commit(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def finish(self, *, url: str, chain: str, synced_at: dt.datetime) -> int:
        """Recompute the daily aggregates, record the sync, commit; return the days stored."""
        self._begin()
        daily = _aggregate_node_blocks(self._conn, self.source)
        self._conn.execute(f"DELETE FROM {self.source}_daily")
        self._conn.executemany(
            f"INSERT INTO {self.source}_daily "
            "(date, difficulty, block_count, subsidy_btc, fees_btc) VALUES (?, ?, ?, ?, ?)",
            [
                (
                    pd.Timestamp(date).date().isoformat(),
                    _or_none(row["difficulty"]),
                    int(row["block_count"]),
                    _or_none(row["subsidy_btc"]),
                    float(row["fees_btc"]),
                )
                for date, row in daily.iterrows()
            ],
        )
        _set_state(self._conn, "daily_stale", "0", self.source)
        _set_state(self._conn, "url", url, self.source)
        _set_state(self._conn, "chain", chain, self.source)
        _set_state(
            self._conn,
            "synced_at",
            synced_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
            self.source,
        )
        self.commit()
        return len(daily)


class PriceWriter:
    """Daily prices of one source: the last day stored, and storing a batch of days in one
    transaction (a day stored again takes the new value)."""

    def __init__(self, store: LocalStore, source: str) -> None:
        self.store = store
        self.source = source

    def last_price_date(self) -> dt.date | None:
        status = self.store.price_status(self.source)
        return None if status is None else status.last_date

    def store_prices(
        self, rows: Sequence[tuple[dt.date, float]], *, url: str, synced_at: dt.datetime
    ) -> None:
        with self.store._connect(create=True) as conn, _transaction(conn):
            conn.executemany(
                f"INSERT INTO {self.source}_prices (date, price_usd) VALUES (?, ?) "
                "ON CONFLICT (date) DO UPDATE SET price_usd = excluded.price_usd",
                [(day.isoformat(), float(price)) for day, price in rows],
            )
            _set_state(conn, "url", url, self.source)
            when = synced_at.astimezone(dt.UTC).isoformat(timespec="seconds")
            _set_state(conn, "synced_at", when, self.source)


# -- helpers -------------------------------------------------------------------------------


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _check_source(source: str, known: dict[str, str]) -> None:
    if source not in known:  # names become table names: only known ones
        raise ValueError(f"unknown source {source!r} (known: {', '.join(known)})")


def _execute_script(conn: sqlite3.Connection, script: str) -> None:
    # One statement at a time: executescript() would commit the open transaction.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring an older schema up to :data:`SCHEMA_VERSION` (inside the caller's transaction)."""
    version = _version(conn)
    while version < SCHEMA_VERSION:
        _execute_script(conn, _MIGRATIONS[version])
        version += 1
    conn.execute("UPDATE schema_version SET version = ?", (version,))


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _state(conn: sqlite3.Connection, source: str = "node") -> dict[str, str]:
    return dict(conn.execute(f"SELECT key, value FROM {source}_state").fetchall())


def _set_state(conn: sqlite3.Connection, key: str, value: str, source: str = "node") -> None:
    conn.execute(
        f"INSERT INTO {source}_state (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _days_index(dates: Sequence[str]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(
        np.array(dates, dtype="datetime64[D]").astype("datetime64[s]"), name="date"
    )


def _current_cells(
    conn: sqlite3.Connection, imported: ImportFile
) -> dict[tuple[str, str], tuple[float, int]]:
    rows = conn.execute(
        "SELECT date, field, value, import_id FROM import_values WHERE date BETWEEN ? AND ?",
        (imported.first_date.isoformat(), imported.last_date.isoformat()),
    )
    return {(d, f): (float(v), int(i)) for d, f, v, i in rows}


def _import_records(conn: sqlite3.Connection) -> list[ImportRecord]:
    in_force = dict(
        conn.execute("SELECT import_id, count(*) FROM import_values GROUP BY import_id").fetchall()
    )
    rows = conn.execute(
        "SELECT id, file_path, sha256, layout, rows, first_date, last_date, cells, imported_at "
        "FROM imports ORDER BY id"
    ).fetchall()
    return [
        ImportRecord(
            import_id=int(i),
            file_path=path,
            sha256=sha,
            layout=layout,
            rows=int(n),
            first_date=dt.date.fromisoformat(first),
            last_date=dt.date.fromisoformat(last),
            cells=int(cells),
            cells_in_force=int(in_force.get(i, 0)),
            imported_at=when,
        )
        for i, path, sha, layout, n, first, last, cells, when in rows
    ]


def _import_frame(conn: sqlite3.Connection) -> pd.DataFrame:
    rows = conn.execute("SELECT date, field, value FROM import_values").fetchall()
    if not rows:
        return pd.DataFrame(index=_days_index([]))
    long = pd.DataFrame(rows, columns=["date", "field", "value"])
    wide = long.pivot(index="date", columns="field", values="value").sort_index()
    frame = pd.DataFrame(
        {name: wide[name].to_numpy(np.float64) for name in FIELDS if name in wide.columns},
        index=_days_index(list(wide.index)),
    )
    return frame


def _synced_info(conn: sqlite3.Connection, source: str) -> SourceInfo:
    state = _state(conn, source)
    template = BLOCK_SOURCES.get(source) or PRICE_SOURCES[source]
    url = state.get("url", "its source")
    if source == "bitstamp_api":
        licence = "Bitstamp's terms of use for its public market data"
        attribution = "BTC/USD daily close: Bitstamp (bitstamp.net) public API."
    else:
        licence = "public blockchain data"
        attribution = "" if source == "node" else f"Block data from the mempool API at {url}."
    return SourceInfo(
        name=source,
        description=template.format(url=url, chain=state.get("chain", "main")),
        licence=licence,
        attribution=attribution,
        file=STORE_FILE,
    )


def _price_frame(conn: sqlite3.Connection, source: str) -> pd.DataFrame:
    rows = conn.execute(f"SELECT date, price_usd FROM {source}_prices ORDER BY date").fetchall()
    return pd.DataFrame(
        {"price_usd": np.array([r[1] for r in rows], dtype=np.float64)},
        index=_days_index([r[0] for r in rows]),
    )


def _node_frame(conn: sqlite3.Connection, source: str = "node") -> pd.DataFrame:
    if _state(conn, source).get("daily_stale") == "1":
        return _aggregate_node_blocks(conn, source)
    rows = conn.execute(
        "SELECT date, difficulty, block_count, subsidy_btc, fees_btc "
        f"FROM {source}_daily ORDER BY date"
    ).fetchall()
    table = np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), 4)
    return pd.DataFrame(
        {name: table[:, i] for i, name in enumerate(DAILY_BLOCK_FIELDS)},
        index=_days_index([r[0] for r in rows]),
    )


def _aggregate_node_blocks(conn: sqlite3.Connection, source: str = "node") -> pd.DataFrame:
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


def _node_status(conn: sqlite3.Connection, source: str = "node") -> NodeStatus | None:
    blocks = f"{source}_blocks"
    row = conn.execute(f"SELECT min(height), max(height), count(*) FROM {blocks}").fetchone()
    if row[0] is None:
        return None
    first, tip, count = int(row[0]), int(row[1]), int(row[2])
    tip_hash, tip_time = conn.execute(
        f"SELECT hash, time_s FROM {blocks} WHERE height = ?", (tip,)
    ).fetchone()
    state = _state(conn, source)
    days = len(_node_frame(conn, source))
    return NodeStatus(
        first_height=first,
        tip_height=tip,
        tip_hash=bytes(tip_hash).hex(),
        tip_time_s=int(tip_time),
        blocks=count,
        days=days,
        url=state.get("url"),
        chain=state.get("chain"),
        synced_at=state.get("synced_at"),
    )
