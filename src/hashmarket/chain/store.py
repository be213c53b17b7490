"""The local data store: one SQLite file holding a user's imports and a node's blocks.

``DIR/hashmarket.sqlite`` (see :data:`hashmarket.chain.history.STORE_FILE_NAME`) holds

* **imports** — one row per imported file (path, SHA-256, time, layout, dates) and the daily
  values it set, one cell per (day, field). A later import of the same days and fields
  replaces those cells; a blank cell in a file sets nothing, so the day's value falls through
  to earlier imports or the bundled data. Re-importing a file already in force changes nothing.
* **node blocks** — per-block records synced from a Bitcoin Core node (height, hash, time,
  bits, difficulty, subsidy, fees), and the daily rows aggregated from them.

:meth:`LocalStore.source_frames` gives both to :class:`~hashmarket.chain.history.NetworkHistory`
as sources ``import`` and ``node``, in that order of precedence, ahead of the bundled data.

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

SCHEMA_VERSION = 1
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
CREATE TABLE node_blocks (
    height INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    time_s INTEGER NOT NULL,
    bits INTEGER NOT NULL,
    difficulty REAL NOT NULL,
    subsidy_sats INTEGER NOT NULL,
    fees_sats INTEGER NOT NULL
);
CREATE TABLE node_daily (
    date TEXT PRIMARY KEY,
    difficulty REAL,
    block_count INTEGER NOT NULL,
    subsidy_btc REAL,
    fees_btc REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE node_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


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
                if create and not has_schema:
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
        """Whether the store has its schema; refuse a file that is not ours or is newer."""
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
        if found != SCHEMA_VERSION:
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
                return
            if tables:
                raise DataError(
                    "store_corrupt",
                    location=Location(str(self.path)),
                    detail="it has tables but no schema_version",
                )
            # One statement at a time: executescript() would commit the open transaction.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
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
        """Daily sources in precedence order: the user's imports, then node aggregates."""
        with self._reader() as conn:
            if conn is None:
                return []
            frames = []
            imported = _import_frame(conn)
            if len(imported):
                frames.append(SourceFrame(IMPORT, imported))
            node = _node_frame(conn)
            if len(node):
                frames.append(SourceFrame(_node_info(_state(conn)), node))
            return frames

    def imports(self) -> list[ImportRecord]:
        """Every import, oldest first."""
        with self._reader() as conn:
            return [] if conn is None else _import_records(conn)

    def node_status(self) -> NodeStatus | None:
        """The synced block range and tip, or None when no node has been synced."""
        with self._reader() as conn:
            if conn is None:
                return None
            return _node_status(conn)

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
    def node_writer(self) -> Iterator[NodeWriter]:
        """A writer for synced blocks; what it has not committed is rolled back on exit."""
        with self._connect(create=True) as conn:
            writer = NodeWriter(conn, self.path)
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

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    def _begin(self) -> None:
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN IMMEDIATE")
            _set_state(self._conn, "daily_stale", "1")

    def chain(self) -> str | None:
        return _state(self._conn).get("chain")

    def height_range(self) -> tuple[int, int] | None:
        row = self._conn.execute("SELECT min(height), max(height) FROM node_blocks").fetchone()
        return None if row[0] is None else (int(row[0]), int(row[1]))

    def hash_at(self, height: int) -> str | None:
        row = self._conn.execute(
            "SELECT hash FROM node_blocks WHERE height = ?", (height,)
        ).fetchone()
        return None if row is None else bytes(row[0]).hex()

    def roll_back_above(self, height: int) -> int:
        """Delete the blocks above ``height`` (a reorg) and commit; return how many."""
        self._begin()
        cursor = self._conn.execute("DELETE FROM node_blocks WHERE height > ?", (height,))
        self.commit()
        return cursor.rowcount

    def append(self, records: Sequence[BlockRecord], *, chain: str) -> None:
        """Add blocks within the open transaction (opened if needed)."""
        self._begin()
        _set_state(self._conn, "chain", chain)
        self._conn.executemany(
            "INSERT INTO node_blocks "
            "(height, hash, time_s, bits, difficulty, subsidy_sats, fees_sats) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.height,
                    bytes.fromhex(r.block_hash),
                    r.time_s,
                    r.bits,
                    r.difficulty,
                    r.subsidy_sats,
                    r.fees_sats,
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
        daily = _aggregate_node_blocks(self._conn)
        self._conn.execute("DELETE FROM node_daily")
        self._conn.executemany(
            "INSERT INTO node_daily (date, difficulty, block_count, subsidy_btc, fees_btc) "
            "VALUES (?, ?, ?, ?, ?)",
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
        _set_state(self._conn, "daily_stale", "0")
        _set_state(self._conn, "url", url)
        _set_state(self._conn, "chain", chain)
        _set_state(
            self._conn, "synced_at", synced_at.astimezone(dt.UTC).isoformat(timespec="seconds")
        )
        self.commit()
        return len(daily)


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


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _state(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM node_state").fetchall())


def _set_state(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO node_state (key, value) VALUES (?, ?) "
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


def _node_info(state: dict[str, str]) -> SourceInfo:
    url = state.get("url", "a Bitcoin Core node")
    chain = state.get("chain", "main")
    return SourceInfo(
        name="node",
        description=f"Daily aggregates of blocks synced from {url} (chain {chain})",
        licence="public blockchain data",
        attribution="",
        file=STORE_FILE,
    )


def _node_frame(conn: sqlite3.Connection) -> pd.DataFrame:
    if _state(conn).get("daily_stale") == "1":
        return _aggregate_node_blocks(conn)
    rows = conn.execute(
        "SELECT date, difficulty, block_count, subsidy_btc, fees_btc FROM node_daily ORDER BY date"
    ).fetchall()
    table = np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), 4)
    return pd.DataFrame(
        {name: table[:, i] for i, name in enumerate(DAILY_BLOCK_FIELDS)},
        index=_days_index([r[0] for r in rows]),
    )


def _aggregate_node_blocks(conn: sqlite3.Connection) -> pd.DataFrame:
    rows = conn.execute(
        "SELECT height, time_s, subsidy_sats, fees_sats, difficulty FROM node_blocks "
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


def _node_status(conn: sqlite3.Connection) -> NodeStatus | None:
    row = conn.execute("SELECT min(height), max(height), count(*) FROM node_blocks").fetchone()
    if row[0] is None:
        return None
    first, tip, count = int(row[0]), int(row[1]), int(row[2])
    tip_hash, tip_time = conn.execute(
        "SELECT hash, time_s FROM node_blocks WHERE height = ?", (tip,)
    ).fetchone()
    state = _state(conn)
    days = len(_node_frame(conn))
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
