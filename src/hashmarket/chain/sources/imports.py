"""A user's own CSV file, read and validated in full before anything is stored.

Two layouts, told apart by the header:

* **daily** — ``date`` plus any non-empty subset of the bundled daily file's columns
  ``price_usd, hashrate_ths, difficulty_mean, fees_btc, issuance_btc, block_count``. A blank
  cell means "no value from this file" (the day's value then comes from other sources).
* **per block** — ``height`` and ``time`` (Unix seconds or ``YYYY-MM-DDTHH:MM:SSZ``), ``bits``
  or ``difficulty`` (or both, which must agree), and optionally ``hash``, ``subsidy_sats``
  (without it, each block's consensus subsidy by height) and ``fees_sats``. Every cell must
  be filled. Heights must increase; gaps are allowed. The
  blocks are aggregated into the days they clearly cover (see :mod:`.blocks`).

Either way the result is an :class:`ImportFile`: daily values in the history's fields, ready
for the local store, plus the file's name and SHA-256 so every stored value can be traced back.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.chain.consensus import (
    MAX_BLOCKS_PER_DAY,
    bits_to_difficulty,
    block_subsidy_sats_array,
)
from hashmarket.chain.sources.blocks import BlockArrays, aggregate_daily
from hashmarket.chain.sources.bundled import DAILY_SCHEMA, daily_frame
from hashmarket.chain.sources.csvfile import Column, Schema, Table, read_rows
from hashmarket.chain.sources.frame import FIELDS
from hashmarket.errors import ConsensusError, DataError, Location
from hashmarket.units import SECONDS_PER_DAY

Layout = Literal["daily", "blocks"]

GENESIS_DATE = dt.date(2009, 1, 3)
GENESIS_TIME_S = 1_231_006_505
# Header timestamps are unsigned 32-bit integers: nothing can be later than this.
MAX_HEADER_TIME_S = 2**32 - 1
LAST_DATE = dt.date(2106, 2, 7)

DAILY_IMPORT_SCHEMA = Schema(columns=DAILY_SCHEMA.columns, key="date", exact=False)
BLOCKS_IMPORT_SCHEMA = Schema(
    columns=(
        Column("height", "int", blank_ok=False),
        Column("time", "timestamp", blank_ok=False),
        Column("hash", "hash", blank_ok=False),
        Column("bits", "bits", blank_ok=False),
        Column("difficulty", "float", blank_ok=False, positive=True),
        Column("subsidy_sats", "int", blank_ok=False),
        Column("fees_sats", "int", blank_ok=False),
    ),
    key="height",
    exact=False,
)
# Two ways of writing one difficulty: a file that has both must not contradict itself.
DIFFICULTY_RTOL = 1e-6


@dataclass(frozen=True)
class ImportFile:
    """A validated import: daily history fields (NaN = no value) and where they came from."""

    path: str
    sha256: str
    layout: Layout
    rows: int
    frame: pd.DataFrame  # indexed by day, columns a subset of FIELDS

    @property
    def file_name(self) -> str:
        return Path(self.path).name

    @property
    def first_date(self) -> dt.date:
        day: dt.date = pd.Timestamp(self.frame.index.min()).date()
        return day

    @property
    def last_date(self) -> dt.date:
        day: dt.date = pd.Timestamp(self.frame.index.max()).date()
        return day

    def cells(self) -> list[tuple[str, str, float]]:
        """``(YYYY-MM-DD, field, value)`` for every non-blank value, in date then field order."""
        out: list[tuple[str, str, float]] = []
        dates = [d.date().isoformat() for d in pd.DatetimeIndex(self.frame.index)]
        for name in FIELDS:
            if name not in self.frame.columns:
                continue
            for date, value in zip(dates, self.frame[name].to_numpy(np.float64), strict=True):
                if not math.isnan(value):
                    out.append((date, name, float(value)))
        out.sort()
        return out


def read_import(path: Path | str) -> ImportFile:
    """Read, validate and convert a user's CSV file; raise :class:`DataError` for its first
    problem, naming the file, line, column and value."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError("file_not_found", location=Location(name)) from None
    except IsADirectoryError:
        raise DataError("file_not_found", location=Location(name)) from None
    try:
        # utf-8-sig: spreadsheet programs often start a UTF-8 CSV with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError("not_utf8", location=Location(name), detail=exc.reason) from None
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None:
        raise DataError("csv_empty", location=Location(name))
    layout = detect_layout(header, name)
    schema = DAILY_IMPORT_SCHEMA if layout == "daily" else BLOCKS_IMPORT_SCHEMA
    table = read_rows(itertools.chain([header], rows), schema, name)
    frame = _daily_from_table(table) if layout == "daily" else _daily_from_blocks(table)
    return ImportFile(
        path=name,
        sha256=hashlib.sha256(raw).hexdigest(),
        layout=layout,
        rows=len(table),
        frame=frame,
    )


def detect_layout(header: list[str], path: str) -> Layout:
    """``daily`` for a header with ``date``, ``blocks`` for one with ``height``; then check
    the columns that layout needs."""
    where = Location(path, 1)
    has_date, has_height = "date" in header, "height" in header
    if has_date == has_height:
        detail = (
            "it has both 'date' and 'height'"
            if has_date
            else "the header needs 'date' (daily rows) or 'height' and 'time' (one row per block)"
        )
        raise DataError("unknown_layout", location=where, detail=detail)
    if has_date:
        values = [c for c in header if c != "date"]
        if not values:
            expected = ", ".join(DAILY_SCHEMA.names[1:])
            raise DataError("no_value_columns", location=where, name="date", expected=expected)
        if "issuance_btc" in header and "block_count" not in header:
            raise DataError(
                "csv_needs_column",
                location=where,
                column="issuance_btc",
                needs="block_count",
                reason="the subsidy per block is issuance / blocks",
            )
        return "daily"
    expected = ", ".join(BLOCKS_IMPORT_SCHEMA.names)
    if "time" not in header:
        raise DataError("csv_missing_column", location=where, column="time", expected=expected)
    if "bits" not in header and "difficulty" not in header:
        raise DataError(
            "csv_missing_one_of",
            location=where,
            columns="'bits' or 'difficulty'",
            expected=expected,
        )
    return "blocks"


def _daily_from_table(table: Table) -> pd.DataFrame:
    cols = table.columns
    for date, line in zip(cols["date"], table.lines, strict=True):
        if not GENESIS_DATE <= date <= LAST_DATE:
            raise DataError(
                "date_out_of_range",
                location=Location(table.path, line, "date", date.isoformat()),
                first=GENESIS_DATE,
                last=LAST_DATE,
            )
    if "issuance_btc" in cols:
        _check_issuance(table)
    frame = daily_frame(table)
    if len(frame) == 0 or not frame.notna().to_numpy().any():
        raise DataError("no_values", location=Location(table.path))
    return frame


def _check_issuance(table: Table) -> None:
    """Issuance is stored as a subsidy per block, so it needs the day's block count."""
    cols = table.columns
    rows = zip(cols["issuance_btc"], cols["block_count"], table.lines, strict=True)
    for issuance, blocks, line in rows:
        if issuance is None:
            continue
        where = Location(table.path, line, "issuance_btc", _show(issuance))
        if blocks is None:
            raise DataError(
                "needs_field",
                location=where,
                needs="block_count",
                reason="the subsidy per block is issuance / blocks",
            )
        if blocks == 0 and issuance > 0:
            raise DataError("issuance_no_blocks", location=where)


def _show(value: float | int) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _daily_from_blocks(table: Table) -> pd.DataFrame:
    cols = table.columns
    height = np.array(cols["height"], dtype=np.int64)
    time_s = np.array(cols["time"], dtype=np.int64)
    _refuse_first(
        table,
        "time",
        (time_s < GENESIS_TIME_S) | (time_s > MAX_HEADER_TIME_S),
        time_s,
        key="block_time_range",
        low=GENESIS_TIME_S,
        high=MAX_HEADER_TIME_S,
    )
    difficulty = _block_difficulty(table)
    fees_sats = None
    allowed = block_subsidy_sats_array(height)
    # Without a subsidy column each block's height still gives its consensus subsidy, so a
    # day spanning a halving gets the exact mix of the two eras.
    subsidy_sats = allowed
    if "subsidy_sats" in cols:
        subsidy_sats = np.array(cols["subsidy_sats"], dtype=np.int64)
        bad = subsidy_sats > allowed
        if bad.any():
            i = int(np.argmax(bad))
            where = Location(table.path, table.lines[i], "subsidy_sats", str(subsidy_sats[i]))
            raise DataError("subsidy_too_high", location=where, maximum=int(allowed[i]))
    if "fees_sats" in cols:
        fees_sats = np.array(cols["fees_sats"], dtype=np.int64)
    blocks = BlockArrays(height, time_s, difficulty, subsidy_sats, fees_sats)
    _refuse_crowded_day(table, time_s)
    frame = aggregate_daily(blocks)
    if len(frame) == 0:
        raise DataError("no_full_days", location=Location(table.path))
    return frame


def _refuse_first(
    table: Table,
    column: str,
    bad: npt.NDArray[np.bool_],
    values: npt.NDArray[np.int64],
    *,
    key: str,
    **fields: object,
) -> None:
    if bad.any():
        i = int(np.argmax(bad))
        where = Location(table.path, table.lines[i], column, str(values[i]))
        raise DataError(key, location=where, **fields)


def _block_difficulty(table: Table) -> npt.NDArray[np.float64]:
    """Difficulty per block: from ``bits`` where given (exact), checked against ``difficulty``
    where the file has both."""
    cols = table.columns
    if "bits" not in cols:
        return np.array(cols["difficulty"], dtype=np.float64)
    by_bits: dict[int, float] = {}
    out = np.empty(len(table), dtype=np.float64)
    given = cols.get("difficulty")
    for i, bits in enumerate(cols["bits"]):
        difficulty = by_bits.get(bits)
        if difficulty is None:
            try:
                difficulty = by_bits[bits] = bits_to_difficulty(bits)
            except ConsensusError:
                where = Location(table.path, table.lines[i], "bits", f"{bits:08x}")
                raise DataError("bad_bits", location=where) from None
        out[i] = difficulty
        if given is not None and not math.isclose(given[i], difficulty, rel_tol=DIFFICULTY_RTOL):
            where = Location(table.path, table.lines[i], "difficulty", _show(given[i]))
            raise DataError(
                "difficulty_mismatch", location=where, bits=f"{bits:08x}", expected=difficulty
            )
    return out


def _refuse_crowded_day(table: Table, time_s: npt.NDArray[np.int64]) -> None:
    """No UTC day can hold more than MAX_BLOCKS_PER_DAY blocks; name the first one too many."""
    day = time_s // SECONDS_PER_DAY
    values, counts = np.unique(day, return_counts=True)
    if len(counts) == 0 or counts.max() <= MAX_BLOCKS_PER_DAY:
        return
    crowded = values[np.argmax(counts > MAX_BLOCKS_PER_DAY)]
    i = int(np.flatnonzero(day == crowded)[MAX_BLOCKS_PER_DAY])
    where = Location(table.path, table.lines[i], "time", str(time_s[i]))
    raise DataError("blocks_impossible", location=where, maximum=MAX_BLOCKS_PER_DAY)
