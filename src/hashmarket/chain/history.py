"""The daily network history: one table merged from every source, with provenance.

For each day and field the value comes from the first source, in precedence order, that has
one; ``provenance`` records which. What no source has stays missing. Two fields can also come
from consensus rules rather than a file, and say so in their provenance:

* ``difficulty`` from the epoch in force at the day's start (``epochs``, or ``epoch_headers``
  where those dated the epoch or its successor), wherever the epoch and its successor both
  have a known start time;
* ``subsidy_btc`` from the block subsidy rule (``consensus``), where every block the day can
  hold lies in one halving era, or where the day spans a halving and its first height is
  known (a block-weighted mix of the two eras; see :func:`day_heights`);
* ``hashrate_ths`` is derived (``derived``) as difficulty × block_count × 2³² / 86,400 — the
  same definition Coin Metrics uses — wherever both inputs are known, so it always agrees with
  the merged difficulty and block count; a source's own hashrate fills only the other days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hashmarket.chain.consensus import block_subsidy_sats, subsidy_sats_sum
from hashmarket.chain.epochs import EpochTable
from hashmarket.chain.sources.bundled import (
    BUNDLED_SOURCES,
    EPOCH_HEADERS,
    EPOCHS,
    load_bundled_frames,
    load_epochs,
)
from hashmarket.chain.sources.frame import FIELDS, SourceFrame, SourceInfo
from hashmarket.units import HASHES_PER_TH, SATS_PER_BTC, SECONDS_PER_DAY, TWO_POW_32

STORE_FILE_NAME = "hashmarket.sqlite"  # the local store inside a data directory
DERIVED = SourceInfo(
    name="derived",
    description="hashrate_ths = difficulty × block_count × 2^32 / 86,400 / 1e12",
    licence="computed from the fields it is derived from",
    attribution="",
)
CONSENSUS = SourceInfo(
    name="consensus",
    description="block subsidy by height (Bitcoin Core GetBlockSubsidy) over the day's heights",
    licence="consensus rule",
    attribution="",
)


@dataclass(frozen=True)
class NetworkHistory:
    """Daily network data, one row per UTC day without gaps.

    ``frame`` has the :data:`FIELDS` columns (float64, NaN where missing) indexed by a daily
    ``DatetimeIndex`` named ``date``; ``provenance`` has the same shape and holds the name of
    the source of every value (``None`` where missing); ``sources`` describes every source
    that contributed, licences included.
    """

    frame: pd.DataFrame
    provenance: pd.DataFrame
    sources: tuple[SourceInfo, ...]

    @classmethod
    def load(
        cls,
        *,
        data_dir: Path | None = None,
        include_noncommercial: bool = True,
    ) -> NetworkHistory:
        """The bundled data, overridden where a local store under ``data_dir`` has values."""
        frames: list[SourceFrame] = []
        if data_dir is not None:
            store_path = data_dir / STORE_FILE_NAME
            if store_path.exists():  # reading never creates a store
                from hashmarket.chain.store import LocalStore

                frames.extend(LocalStore(store_path).source_frames())
        frames.extend(load_bundled_frames(include_noncommercial=include_noncommercial))
        return merge_sources(frames, epochs=load_epochs())

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.frame.index)

    @property
    def first_date(self) -> dt.date:
        day: dt.date = self.dates[0].date()
        return day

    @property
    def last_date(self) -> dt.date:
        day: dt.date = self.dates[-1].date()
        return day

    def between(self, start: dt.date | None = None, end: dt.date | None = None) -> NetworkHistory:
        """The days from ``start`` to ``end`` inclusive (either may be open)."""
        lo = pd.Timestamp(start) if start is not None else None
        hi = pd.Timestamp(end) if end is not None else None
        return NetworkHistory(self.frame.loc[lo:hi], self.provenance.loc[lo:hi], self.sources)

    def coverage(self) -> pd.DataFrame:
        """Per field: days with a value, first and last such day, and days per source."""
        rows = []
        for name in FIELDS:
            present = self.frame[name].notna()
            days = self.dates[present.to_numpy()]
            by_source = self.provenance[name].value_counts().to_dict()
            rows.append(
                {
                    "field": name,
                    "days": int(present.sum()),
                    "of_days": len(self.frame),
                    "first": days[0].date() if len(days) else None,
                    "last": days[-1].date() if len(days) else None,
                    "sources": {str(k): int(v) for k, v in by_source.items()},
                }
            )
        return pd.DataFrame(rows).set_index("field")


def merge_sources(frames: Sequence[SourceFrame], *, epochs: EpochTable | None) -> NetworkHistory:
    """Merge daily sources (highest precedence first) and fill what consensus rules can prove."""
    starts = [f.frame.index.min() for f in frames if len(f.frame)]
    ends = [f.frame.index.max() for f in frames if len(f.frame)]
    index = pd.date_range(min(starts), max(ends), freq="D", name="date")
    values = {name: np.full(len(index), np.nan) for name in FIELDS}
    origin = {name: np.full(len(index), None, dtype=object) for name in FIELDS}
    used: list[SourceInfo] = []
    for source in frames:
        aligned = source.frame.reindex(index)
        contributed = False
        for name in aligned.columns:
            incoming = aligned[name].to_numpy(dtype=np.float64)
            take = np.isnan(values[name]) & ~np.isnan(incoming)
            if take.any():
                values[name][take] = incoming[take]
                origin[name][take] = source.info.name
                contributed = True
        if contributed:
            used.append(source.info)
    if epochs is not None:
        used.extend(_fill_from_epochs(index, values, origin, epochs))
    if _fill_hashrate(values, origin):
        used.append(DERIVED)
    frame = pd.DataFrame(values, index=index)
    provenance = pd.DataFrame(origin, index=index, dtype=object)
    return NetworkHistory(frame=frame, provenance=provenance, sources=tuple(used))


def _day_starts_s(index: pd.DatetimeIndex) -> np.ndarray:
    starts: np.ndarray = index.to_numpy().astype("datetime64[s]").astype(np.int64)
    return starts


def _fill_from_epochs(
    index: pd.DatetimeIndex,
    values: dict[str, np.ndarray],
    origin: dict[str, np.ndarray],
    epochs: EpochTable,
) -> list[SourceInfo]:
    day_start_s = _day_starts_s(index)
    at_start = epochs.in_force_at(day_start_s)
    used: list[SourceInfo] = []

    fill = np.flatnonzero(np.isnan(values["difficulty"]) & (at_start >= 0))
    for row in np.unique(at_start[fill]):
        days = fill[at_start[fill] == row]
        values["difficulty"][days] = epochs.difficulty[row]
        # The epoch's span needs its own start and its successor's: credit whoever dated them.
        dated_by = (
            {epochs.time_source[row], epochs.time_source[row + 1]} if epochs.time_source else set()
        )
        source = EPOCH_HEADERS if EPOCH_HEADERS.name in dated_by else EPOCHS
        origin["difficulty"][days] = source.name
        if source not in used:
            used.append(source)

    lowest, highest, first_exact = day_heights(day_start_s, values["block_count"], epochs)
    filled_any = False
    for i in np.flatnonzero(np.isnan(values["subsidy_btc"]) & np.isfinite(lowest + highest)):
        low, high = int(lowest[i]), int(highest[i])
        if block_subsidy_sats(low) == block_subsidy_sats(high):
            subsidy_sats = float(block_subsidy_sats(low))
        elif first_exact[i] and values["block_count"][i] > 0:
            # The day spans a halving but its first height is known: weight the two eras by
            # how many of the day's blocks fall in each.
            blocks = int(values["block_count"][i])
            subsidy_sats = subsidy_sats_sum(low, blocks) / blocks
        else:
            continue
        values["subsidy_btc"][i] = subsidy_sats / SATS_PER_BTC
        origin["subsidy_btc"][i] = CONSENSUS.name
        filled_any = True
    if filled_any:
        used.append(CONSENSUS)
    return used


def day_heights(
    day_start_s: np.ndarray, block_count: np.ndarray, epochs: EpochTable
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per day: the lowest and highest height its blocks can have (NaN where unbounded) and
    whether its first height is known exactly.

    Blocks are taken to be in height order by header time, as everywhere the history assigns
    blocks to days. A dated epoch start (height H at time T) bounds the days around it: the
    blocks of a day after T's day lie above H, those of a day before it below H. Where the
    block counts of the days in between are known, the bounds tighten to
    ``H + (blocks of T's day from H on) + (blocks of the days in between)``, where only T's
    own day is uncertain (1 to all of its blocks lie at or above H); a count known on both
    sides of a day then pins its first height when the two bounds meet.
    """
    n = len(day_start_s)
    dated = epochs.dated_rows()
    height = epochs.start_height[dated].astype(np.float64)
    time_s = epochs.start_time_s[dated]
    anchor_day = (time_s - (day_start_s[0] if n else 0)) // SECONDS_PER_DAY
    counts = np.nan_to_num(block_count, nan=0.0)
    c = np.concatenate([[0.0], np.cumsum(counts)])  # c[i]: blocks of days before day i
    u = np.concatenate([[0], np.cumsum(np.isnan(block_count))])  # unknown counts before day i
    days = np.arange(n)
    inf = np.full(n, np.inf)

    # The last dated epoch that starts before the day, and the first that starts after it.
    before = np.searchsorted(time_s, day_start_s, side="left") - 1
    after = np.searchsorted(time_s, day_start_s + SECONDS_PER_DAY, side="left")
    has_before, has_after = before >= 0, after < len(dated)
    b = np.maximum(before, 0)
    f = np.minimum(after, max(len(dated) - 1, 0))
    first_lo = np.where(has_before, height[b] + 1, -inf) if len(dated) else -inf
    first_hi = inf.copy()
    last_lo = -inf.copy()
    last_hi = np.where(has_after, height[f] - 1, inf) if len(dated) else inf.copy()

    if len(dated):
        a = anchor_day[b]
        ok = has_before & (a >= 0) & (a < days)
        ai = np.clip(a, 0, max(n - 1, 0)).astype(np.int64)
        ok &= u[days] - u[ai] == 0  # counts known from the anchor's day to the day before
        between = c[days] - c[np.minimum(ai + 1, n)]
        first_lo = np.where(ok, np.maximum(first_lo, height[b] + 1 + between), first_lo)
        first_hi = np.where(ok, height[b] + c[days] - c[ai], first_hi)

        a = anchor_day[f]
        ok = has_after & (a < n) & (a > days)
        ai = np.clip(a, 0, max(n - 1, 0)).astype(np.int64)
        ok &= u[ai + 1] - u[days] == 0  # counts known from the day to the anchor's day
        between = c[ai] - c[days + 1]
        last_lo = np.where(ok, height[f] - counts[ai] - between, last_lo)
        last_hi = np.where(ok, np.minimum(last_hi, height[f] - 1 - between), last_hi)

    some = block_count > 0  # NaN compares False
    k = np.where(some, block_count - 1, 0.0)
    first_lo = np.where(some, np.maximum(first_lo, last_lo - k), first_lo)
    first_hi = np.where(some, np.minimum(first_hi, last_hi - k), first_hi)
    last_hi = np.where(some, np.minimum(last_hi, first_hi + k), last_hi)
    consistent = first_lo <= first_hi  # False where the sources contradict each other
    lowest = np.where(consistent & np.isfinite(first_lo), first_lo, np.nan)
    highest = np.where(consistent & np.isfinite(last_hi), np.maximum(last_hi, first_lo), np.nan)
    return lowest, highest, consistent & np.isfinite(first_lo) & (first_lo == first_hi)


def _fill_hashrate(values: dict[str, np.ndarray], origin: dict[str, np.ndarray]) -> bool:
    """Hashrate is derived from the merged difficulty and block count wherever both are known,
    so it always agrees with them (a higher-precedence source may have replaced either); a
    source's own hashrate is kept only where they are not."""
    derived = (
        values["difficulty"] * values["block_count"] * TWO_POW_32 / SECONDS_PER_DAY / HASHES_PER_TH
    )
    known = ~np.isnan(derived)
    values["hashrate_ths"][known] = derived[known]
    origin["hashrate_ths"][known] = DERIVED.name
    return bool(known.any())


# What an import can add to complete a day's index value, by history field.
COMPLETING_COLUMNS: dict[str, str] = {
    "price_usd": "price_usd",
    "difficulty": "difficulty_mean",
    "subsidy_btc": "issuance_btc (or the day's heights)",
    "block_count": "block_count",
    "fees_btc": "fees_btc",
}
INDEX_INPUTS = ("price_usd", "difficulty", "subsidy_btc")  # without these: no index value


def incomplete_days(history: NetworkHistory, first: dt.date, last: dt.date) -> list[str]:
    """One line per run of days in ``first..last`` missing the same inputs of a complete
    (fees included, USD) hashprice value, naming the import columns that would complete them."""
    part = history.between(first, last).frame
    lines: list[str] = []
    runs: list[tuple[pd.Timestamp, pd.Timestamp, tuple[str, ...]]] = []
    for day, row in part.iterrows():
        missing = tuple(name for name in COMPLETING_COLUMNS if np.isnan(row[name]))
        stamp = pd.Timestamp(str(day))
        if runs and runs[-1][2] == missing and (stamp - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], stamp, missing)
        else:
            runs.append((stamp, stamp, missing))
    for start, end, missing in runs:
        if not missing:
            continue
        days = f"{start.date()}" if start == end else f"{start.date()}..{end.date()}"
        state = (
            "no index value"
            if any(name in INDEX_INPUTS for name in missing)
            else "index value without fees"
        )
        add = ", ".join(COMPLETING_COLUMNS[name] for name in missing)
        what = "this day" if start == end else "these days"
        lines.append(f"{days}: {state}: add {add} to complete {what}")
    return lines


def source_summary(history: NetworkHistory) -> list[dict[str, Any]]:
    """Per source: days it supplies any value, first and last such day, licence, attribution."""
    listed = history.sources + tuple(s for s in BUNDLED_SOURCES if s not in history.sources)
    rows: list[dict[str, Any]] = []
    for info in listed:
        mask = (history.provenance == info.name).any(axis=1).to_numpy()
        days = history.dates[mask]
        rows.append(
            {
                "source": info.name,
                "file": info.file,
                "days_used": int(mask.sum()),
                "first": days[0].date().isoformat() if len(days) else None,
                "last": days[-1].date().isoformat() if len(days) else None,
                "licence": info.licence,
                "commercial_use": info.commercial_use,
                "attribution": info.attribution,
                "description": info.description,
            }
        )
    return rows


def field_summary(history: NetworkHistory) -> list[dict[str, Any]]:
    """Per field: days with a value out of all days, first and last day, days per source."""
    rows: list[dict[str, Any]] = []
    for name, row in history.coverage().iterrows():
        rows.append(
            {
                "field": name,
                "days": int(row["days"]),
                "of_days": int(row["of_days"]),
                "first": None if row["first"] is None else row["first"].isoformat(),
                "last": None if row["last"] is None else row["last"].isoformat(),
                "sources": row["sources"],
            }
        )
    return rows
