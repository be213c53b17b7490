"""The daily network history: one table merged from every source, with provenance.

For each day and field the value comes from the first source, in precedence order, that has
one; ``provenance`` records which. What no source has stays missing. Two fields can also come
from consensus rules rather than a file, and say so in their provenance:

* ``difficulty`` from the epoch in force at the day's start (``epochs``), where an epoch table
  with start times proves which epoch that is;
* ``subsidy_btc`` from the block subsidy rule (``consensus``), where every block the day can
  hold lies in one halving era;
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

from hashmarket.chain.epochs import EpochTable
from hashmarket.chain.sources.bundled import (
    BUNDLED_SOURCES,
    EPOCHS,
    load_bundled_frames,
    load_epochs,
)
from hashmarket.chain.sources.frame import FIELDS, SourceFrame, SourceInfo
from hashmarket.units import HASHES_PER_TH, SECONDS_PER_DAY, TWO_POW_32

STORE_FILE_NAME = "hashmarket.sqlite"  # the local store inside a data directory
DERIVED = SourceInfo(
    name="derived",
    description="hashrate_ths = difficulty × block_count × 2^32 / 86,400 / 1e12",
    licence="computed from the fields it is derived from",
    attribution="",
)
CONSENSUS = SourceInfo(
    name="consensus",
    description="block subsidy by height (Bitcoin Core GetBlockSubsidy) over the day's epochs",
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
        return self.dates[0].date()

    @property
    def last_date(self) -> dt.date:
        return self.dates[-1].date()

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
    return (index.to_numpy().astype("datetime64[s]").astype(np.int64)).astype(np.int64)


def _fill_from_epochs(
    index: pd.DatetimeIndex,
    values: dict[str, np.ndarray],
    origin: dict[str, np.ndarray],
    epochs: EpochTable,
) -> list[SourceInfo]:
    timed = epochs.timed()
    day_start_s = _day_starts_s(index)
    at_start = timed.in_force_at(day_start_s)
    at_end = timed.in_force_at(day_start_s + SECONDS_PER_DAY)
    used: list[SourceInfo] = []

    fill = np.isnan(values["difficulty"]) & (at_start >= 0)
    if fill.any():
        values["difficulty"][fill] = timed.difficulty[at_start[fill]]
        origin["difficulty"][fill] = EPOCHS.name
        used.append(EPOCHS)

    # A day's blocks lie between the start of the epoch in force at its start and the end of
    # the epoch in force at its end; if no halving falls in that span, the subsidy is certain.
    candidates = np.flatnonzero(np.isnan(values["subsidy_btc"]) & (at_start >= 0) & (at_end >= 0))
    filled_any = False
    for i in candidates:
        subsidy = timed.subsidy_btc_between(int(at_start[i]), int(at_end[i]))
        if subsidy is not None:
            values["subsidy_btc"][i] = subsidy
            origin["subsidy_btc"][i] = CONSENSUS.name
            filled_any = True
    if filled_any:
        used.append(CONSENSUS)
    return used


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
