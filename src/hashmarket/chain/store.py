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
)
from hashmarket.chain.sources.frame import FIELDS, SourceFrame, SourceInfo
from hashmarket.chain.sources.imports import ImportFile
from hashmarket.chain.store_tables import (
    BLOCK_SOURCES,
    FULL_SCHEMA,
    PRICE_SOURCES,
    SCHEMA_VERSION,
    aggregate_node_blocks,
    check_source,
    execute_script,
    migrate,
    read_state,
    schema_version,
    table_names,
    transaction,
)
from hashmarket.chain.store_writers import NodeWriter, PriceWriter
from hashmarket.errors import DataError, Location, SourceError

BUSY_TIMEOUT_S = 30.0
STORE_FILE = "hashmarket.sqlite"  # the same name as history.STORE_FILE_NAME, for display

IMPORT = SourceInfo(
    name="import",
    description="Your own CSV files imported with `hashmarket data import`",
    licence="as the imported files' owner decides",
    attribution="",
    file=STORE_FILE,
)


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
                if create and (not has_schema or schema_version(conn) < SCHEMA_VERSION):
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
        tables = table_names(conn)
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
        with transaction(conn):
            tables = table_names(conn)  # again, now that we hold the write lock
            if "schema_version" in tables:
                migrate(conn)
                return
            if tables:
                raise DataError(
                    "store_corrupt",
                    location=Location(str(self.path)),
                    detail="it has tables but no schema_version",
                )
            execute_script(conn, FULL_SCHEMA)
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
            tables = table_names(conn)
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
        check_source(source, BLOCK_SOURCES)
        with self._reader() as conn:
            if conn is None or f"{source}_blocks" not in table_names(conn):
                return None
            return _node_status(conn, source)

    def price_status(self, source: str) -> PriceStatus | None:
        """The days of prices synced from ``source``, or None when it has none."""
        check_source(source, PRICE_SOURCES)
        with self._reader() as conn:
            if conn is None or f"{source}_prices" not in table_names(conn):
                return None
            row = conn.execute(f"SELECT min(date), max(date), count(*) FROM {source}_prices")
            first, last, days = row.fetchone()
            if first is None:
                return None
            state = read_state(conn, source)
            return PriceStatus(
                first_date=dt.date.fromisoformat(first),
                last_date=dt.date.fromisoformat(last),
                days=int(days),
                url=state.get("url"),
                synced_at=state.get("synced_at"),
            )

    def prices(self, source: str) -> PriceWriter:
        """Reads the last day and stores daily prices of ``source``, a transaction per call."""
        check_source(source, PRICE_SOURCES)
        return PriceWriter(self, source)

    # -- imports -------------------------------------------------------------------------

    def apply_import(self, imported: ImportFile, *, imported_at: dt.datetime) -> ImportResult:
        """Store a validated file's values in one transaction (creating the store if needed).

        Cells of the same day and field that an earlier import set are replaced; a file whose
        values are all in force already (a re-import) changes nothing at all.
        """
        cells = imported.cells()
        when = imported_at.astimezone(dt.UTC).isoformat(timespec="seconds")
        with self._connect(create=True) as conn, transaction(conn):
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
        check_source(source, BLOCK_SOURCES)
        with self._connect(create=True) as conn:
            writer = NodeWriter(conn, self.path, source)
            try:
                yield writer
            finally:
                writer.rollback()


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
    state = read_state(conn, source)
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
    if read_state(conn, source).get("daily_stale") == "1":
        return aggregate_node_blocks(conn, source)
    rows = conn.execute(
        "SELECT date, difficulty, block_count, subsidy_btc, fees_btc "
        f"FROM {source}_daily ORDER BY date"
    ).fetchall()
    table = np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), 4)
    return pd.DataFrame(
        {name: table[:, i] for i, name in enumerate(DAILY_BLOCK_FIELDS)},
        index=_days_index([r[0] for r in rows]),
    )


def _node_status(conn: sqlite3.Connection, source: str = "node") -> NodeStatus | None:
    blocks = f"{source}_blocks"
    row = conn.execute(f"SELECT min(height), max(height), count(*) FROM {blocks}").fetchone()
    if row[0] is None:
        return None
    first, tip, count = int(row[0]), int(row[1]), int(row[2])
    tip_hash, tip_time = conn.execute(
        f"SELECT hash, time_s FROM {blocks} WHERE height = ?", (tip,)
    ).fetchone()
    state = read_state(conn, source)
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
