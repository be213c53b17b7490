"""Per-block records, and their aggregation into daily rows.

A day is emitted only when the blocks clearly cover it — the rule the bundled fees file was
built with: within a run of consecutive heights, the run's first block is more than 2 h before
the day starts (or the run starts at genesis) and its last block more than 2 h after the day
ends. Block timestamps may run up to 2 h ahead of the network's clock and may go backwards a
little, so without the margin a day at the edge of a run could be missing blocks that belong
to it. Days inside a covered span that hold no block are emitted with zero blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.chain.consensus import bits_to_difficulty
from hashmarket.units import SATS_PER_BTC, SECONDS_PER_DAY

COVERAGE_MARGIN_S = 2 * 60 * 60
DAILY_BLOCK_FIELDS: tuple[str, ...] = ("difficulty", "block_count", "subsidy_btc", "fees_btc")


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """One main-chain block as a node reports it: header fields plus subsidy and fees."""

    height: int
    block_hash: str  # 64 lower-case hex digits, as RPCs print it
    time_s: int  # header timestamp, Unix seconds
    bits: int  # compact target
    subsidy_sats: int  # consensus subsidy (getblockstats "subsidy"), not what the miner claimed
    fees_sats: int  # total transaction fees (getblockstats "totalfee")
    tx_count: int | None = None  # transactions, coinbase included (getblockstats "txs")

    @property
    def difficulty(self) -> float:
        return bits_to_difficulty(self.bits)


@dataclass(frozen=True)
class BlockArrays:
    """Columns of many blocks, heights strictly increasing (gaps allowed).

    ``subsidy_sats`` and ``fees_sats`` are optional: a user's file may not have them.
    """

    height: npt.NDArray[np.int64]
    time_s: npt.NDArray[np.int64]
    difficulty: npt.NDArray[np.float64]
    subsidy_sats: npt.NDArray[np.int64] | None = None
    fees_sats: npt.NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        n = len(self.height)
        for name in ("time_s", "difficulty", "subsidy_sats", "fees_sats"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise ValueError(f"{name} has {len(values)} values, height has {n}")
        if n > 1 and not bool(np.all(np.diff(self.height) > 0)):
            raise ValueError("block heights must be strictly increasing")

    def __len__(self) -> int:
        return len(self.height)

    @classmethod
    def from_records(cls, records: list[BlockRecord]) -> BlockArrays:
        return cls(
            height=np.array([r.height for r in records], dtype=np.int64),
            time_s=np.array([r.time_s for r in records], dtype=np.int64),
            difficulty=np.array([r.difficulty for r in records], dtype=np.float64),
            subsidy_sats=np.array([r.subsidy_sats for r in records], dtype=np.int64),
            fees_sats=np.array([r.fees_sats for r in records], dtype=np.int64),
        )


def covered_day_spans(
    height: npt.NDArray[np.int64], time_s: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """First and last clearly covered day (days since 1970-01-01) of each run of consecutive
    heights; a run that covers no day has last < first."""
    breaks = np.flatnonzero(np.diff(height) != 1) + 1
    first_index = np.concatenate(([0], breaks))
    last_index = np.concatenate((breaks, [len(height)])) - 1
    t_first = time_s[first_index]
    t_last = time_s[last_index]
    # day d is covered when d·86400 - margin > t_first, i.e. d > (t_first + margin) / 86400 ...
    after_start = (t_first + COVERAGE_MARGIN_S) // SECONDS_PER_DAY + 1
    first_day = np.where(height[first_index] == 0, t_first // SECONDS_PER_DAY, after_start)
    # ... and (d + 1)·86400 + margin < t_last, i.e. d < (t_last - margin - 86400) / 86400.
    limit = t_last - COVERAGE_MARGIN_S - SECONDS_PER_DAY
    last_day = -(-limit // SECONDS_PER_DAY) - 1  # the largest d strictly below limit / 86400
    return first_day.astype(np.int64), last_day.astype(np.int64)


def aggregate_daily(blocks: BlockArrays) -> pd.DataFrame:
    """Daily rows from per-block records, only for the days the blocks clearly cover.

    Columns: ``difficulty`` (mean of the day's block difficulties), ``block_count``,
    ``subsidy_btc`` (mean subsidy per block) and ``fees_btc`` (sum); the last two only when
    the blocks carry them. NaN for the means of a covered day without blocks. Sums of
    satoshis are exact below 2^53 sats (90 million BTC) per day.
    """
    columns = ["difficulty", "block_count"]
    if blocks.subsidy_sats is not None:
        columns.append("subsidy_btc")
    if blocks.fees_sats is not None:
        columns.append("fees_btc")
    if len(blocks) == 0:
        return pd.DataFrame(
            {c: np.empty(0) for c in columns},
            index=pd.DatetimeIndex(np.empty(0, dtype="datetime64[s]"), name="date"),
        )
    day = blocks.time_s // SECONDS_PER_DAY
    base = int(day.min())
    size = int(day.max()) - base + 1
    offset = day - base

    first_day, last_day = covered_day_spans(blocks.height, blocks.time_s)
    spans = last_day >= first_day
    # +1 where a covered span starts, -1 after it ends; a running sum > 0 marks covered days.
    edges = np.bincount(first_day[spans] - base, minlength=size + 1) - np.bincount(
        last_day[spans] - base + 1, minlength=size + 1
    )
    covered = np.cumsum(edges[:size]) > 0

    count = np.bincount(offset, minlength=size)
    # Mean difficulty as one of the day's own values plus the mean deviation from it: exact
    # when every block of the day has the same difficulty (nearly always), where a plain
    # sum / count can be off in the last bit.
    reference = np.zeros(size)
    reference[offset] = blocks.difficulty
    deviation = blocks.difficulty - reference[offset]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_deviation = np.bincount(offset, weights=deviation, minlength=size) / count
        values: dict[str, npt.NDArray[np.float64]] = {
            "difficulty": reference + mean_deviation,
            "block_count": count.astype(np.float64),
        }
        if blocks.subsidy_sats is not None:
            subsidy_sum = np.bincount(offset, weights=blocks.subsidy_sats, minlength=size)
            values["subsidy_btc"] = subsidy_sum / count / SATS_PER_BTC
        if blocks.fees_sats is not None:
            fees_sum = np.bincount(offset, weights=blocks.fees_sats, minlength=size)
            values["fees_btc"] = fees_sum / SATS_PER_BTC
    days = (np.flatnonzero(covered) + base).astype("datetime64[D]").astype("datetime64[s]")
    return pd.DataFrame(
        {name: values[name][covered] for name in columns},
        index=pd.DatetimeIndex(days, name="date"),
    )
