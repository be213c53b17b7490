"""Writers of synced data into the local store: blocks from a node or a mempool instance
(:class:`NodeWriter`) and daily prices (:class:`PriceWriter`)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from hashmarket.chain.sources.blocks import BlockRecord
from hashmarket.chain.store_tables import (
    aggregate_node_blocks,
    or_none,
    read_state,
    set_state,
    transaction,
)

if TYPE_CHECKING:
    from hashmarket.chain.store import LocalStore


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
            set_state(self._conn, "daily_stale", "1", self.source)

    def chain(self) -> str | None:
        return read_state(self._conn, self.source).get("chain")

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
        set_state(self._conn, "chain", chain, self.source)
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
        daily = aggregate_node_blocks(self._conn, self.source)
        self._conn.execute(f"DELETE FROM {self.source}_daily")
        self._conn.executemany(
            f"INSERT INTO {self.source}_daily "
            "(date, difficulty, block_count, subsidy_btc, fees_btc) VALUES (?, ?, ?, ?, ?)",
            [
                (
                    pd.Timestamp(date).date().isoformat(),
                    or_none(row["difficulty"]),
                    int(row["block_count"]),
                    or_none(row["subsidy_btc"]),
                    float(row["fees_btc"]),
                )
                for date, row in daily.iterrows()
            ],
        )
        set_state(self._conn, "daily_stale", "0", self.source)
        set_state(self._conn, "url", url, self.source)
        set_state(self._conn, "chain", chain, self.source)
        set_state(
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
        with self.store._connect(create=True) as conn, transaction(conn):
            conn.executemany(
                f"INSERT INTO {self.source}_prices (date, price_usd) VALUES (?, ?) "
                "ON CONFLICT (date) DO UPDATE SET price_usd = excluded.price_usd",
                [(day.isoformat(), float(price)) for day, price in rows],
            )
            set_state(conn, "url", url, self.source)
            when = synced_at.astimezone(dt.UTC).isoformat(timespec="seconds")
            set_state(conn, "synced_at", when, self.source)


# -- helpers -------------------------------------------------------------------------------
