"""Aggregating 1,000,000 per-block records into daily rows.

Target: under 1 s. Baseline in the same run: the four bare ``np.bincount`` passes (count,
difficulty, subsidy, fees) over the same arrays, i.e. the floor of any bincount-based
aggregation, without the covered-day rule or building the frame.

The records are synthetic but shaped like the chain: heights 0 to 999,999 in one run from
genesis, exponential block intervals of 600 s on average, the real subsidy by height, and a
difficulty per 2016-block epoch. Also reported: reading the same blocks back from a local
store (SQLite) and aggregating them, as ``data sync`` does at its end.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.timing import median_seconds
from hashmarket.chain.consensus import block_subsidy_sats_array
from hashmarket.chain.sources.blocks import BlockArrays, BlockRecord, aggregate_daily
from hashmarket.chain.store import LocalStore
from hashmarket.units import SECONDS_PER_DAY

N_BLOCKS = 1_000_000
GENESIS_TIME_S = 1_231_006_505


def synthetic_blocks(n: int, seed: int = 2009) -> BlockArrays:
    rng = np.random.default_rng(seed)
    height = np.arange(n, dtype=np.int64)
    time_s = GENESIS_TIME_S + np.cumsum(rng.exponential(600, n)).astype(np.int64)
    epoch_difficulty = np.exp(np.linspace(0, 30, n // 2016 + 1))
    return BlockArrays(
        height=height,
        time_s=time_s,
        difficulty=epoch_difficulty[height // 2016],
        subsidy_sats=block_subsidy_sats_array(height),
        fees_sats=rng.integers(0, 50_000_000, n, dtype=np.int64),
    )


def main() -> None:
    blocks = synthetic_blocks(N_BLOCKS)
    days = len(aggregate_daily(blocks))
    assert blocks.subsidy_sats is not None and blocks.fees_sats is not None
    subsidy, fees = blocks.subsidy_sats, blocks.fees_sats

    def bare_bincount() -> None:
        offset = blocks.time_s // SECONDS_PER_DAY
        offset = offset - offset.min()
        np.bincount(offset)
        np.bincount(offset, weights=blocks.difficulty)
        np.bincount(offset, weights=subsidy)
        np.bincount(offset, weights=fees)

    aggregate_s = median_seconds(lambda: aggregate_daily(blocks), repeat=11)
    bare_s = median_seconds(bare_bincount, repeat=11)
    print(f"blocks: {N_BLOCKS:,} -> {days:,} daily rows")
    print(f"aggregate_daily: {aggregate_s * 1e3:.1f} ms median of 11 (target < 1000 ms)")
    print(f"baseline, four bare np.bincount passes: {bare_s * 1e3:.1f} ms median of 11")

    # The same blocks through a store: SQLite insert once, then read back and aggregate.
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp) / "hashmarket.sqlite")
        records = [
            BlockRecord(
                height=int(blocks.height[i]),
                block_hash=f"{i:064x}",
                time_s=int(blocks.time_s[i]),
                bits=0x1D00FFFF,
                subsidy_sats=int(subsidy[i]),
                fees_sats=int(fees[i]),
            )
            for i in range(N_BLOCKS)
        ]
        now = dt.datetime.now(dt.UTC)
        insert_s: list[float] = []
        finish_s: list[float] = []
        for _ in range(3):
            with store.node_writer() as writer:
                writer.roll_back_above(-1)
                start = time.perf_counter()
                for first in range(0, N_BLOCKS, 100_000):
                    writer.append(records[first : first + 100_000], chain="main")
                    writer.commit()
                middle = time.perf_counter()
                writer.finish(url="http://127.0.0.1:8332", chain="main", synced_at=now)
                insert_s.append(middle - start)
                finish_s.append(time.perf_counter() - middle)
        frames_s = median_seconds(store.source_frames, repeat=5)
    print(
        f"store: insert {N_BLOCKS:,} blocks in 10 commits: "
        f"{statistics.median(insert_s):.2f} s median of 3"
    )
    print(
        "store: read them back, aggregate, write the daily rows (end of a sync): "
        f"{statistics.median(finish_s):.2f} s median of 3"
    )
    print(f"store: reading the daily rows back (source_frames): {frames_s * 1e3:.1f} ms median")
