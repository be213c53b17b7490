"""The GPU-hour index: a like-for-like price of one GPU-hour per GPU model. See
``docs/compute-index.md``.

Quotes (time, provider, GPU model, region, term, USD per GPU-hour, optional volume in
GPU-hours) are normalised — model names and terms to canonical spellings — and grouped into
fixings by period (a UTC day by default), model and term. A fixing never mixes models or
terms: an interruptible spot hour and a reserved hour are different goods. Within a group:

1. the centre is the volume-weighted median price;
2. quotes further from it than ``mad_threshold`` × 1.4826 × the volume-weighted median absolute
   deviation are screened out (a robust rule: one absurd quote cannot move the centre, so it
   cannot hide itself);
3. the fixing is the volume-weighted median of the quotes that remain, at a $0.0001 tick.

Every step depends only on the weighted distribution of prices, so splitting a quote's volume
into several quotes at the same price leaves the fixing unchanged. Each fixing carries the
methodology version and a SHA-256 of its inputs (the canonical JSON of its quotes and the
parameters), as hashprice fixings do.

The arithmetic is vectorised over all groups at once (segment sums over a sort by group), so a
million quotes take well under a second.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.chain.sources.csvfile import Column, Schema, check_header, read_rows
from hashmarket.errors import DataError, Location, UsageError
from hashmarket.index.fixings import inputs_digest
from hashmarket.units import SECONDS_PER_DAY

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]

METHODOLOGY_VERSION = "1.0"
TICK_USD_PER_GPU_HOUR = Decimal("0.0001")
# 1 / Φ⁻¹(3/4): makes the median absolute deviation a consistent estimator of a normal σ.
MAD_TO_SIGMA = 1.4826
DEFAULT_MAD_THRESHOLD = 3.0
BUNDLED_QUOTES_FILE = "gpu_quotes.csv"


class Term(enum.StrEnum):
    """How long the buyer holds the GPU and whether it can be taken back."""

    ON_DEMAND = "on-demand"
    RESERVED = "reserved"
    SPOT = "spot"


class Period(enum.StrEnum):
    """The window of one fixing. Weeks start on Monday; ``all`` is one fixing per group."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    ALL = "all"


# Spellings seen in providers' price lists, mapped to the three terms. Vast.ai says
# "interruptible", Google "preemptible": both are spot (the hour can be taken back).
_TERM_ALIASES: dict[str, Term] = {
    "on-demand": Term.ON_DEMAND,
    "ondemand": Term.ON_DEMAND,
    "reserved": Term.RESERVED,
    "spot": Term.SPOT,
    "interruptible": Term.SPOT,
    "preemptible": Term.SPOT,
}


def canonical_term(raw: str) -> Term:
    """``On_Demand``, ``on demand`` → ``on-demand``; refuses anything not in the alias table."""
    key = re.sub(r"[\s_]+", "-", raw.strip().lower())
    try:
        return _TERM_ALIASES[key]
    except KeyError:
        raise ValueError(raw) from None


def canonical_model(raw: str) -> str:
    """Upper case, separators (space, ``-``, ``_``) collapsed, a leading ``NVIDIA`` dropped.

    ``nvidia h100-sxm`` → ``H100 SXM``. Variants stay distinct (``H100`` ≠ ``H100 SXM``): the
    index compares like with like and does not guess which variant an unqualified name means.
    """
    words = [w for w in re.split(r"[\s_\-]+", raw.strip().upper()) if w]
    if words and words[0] == "NVIDIA":
        words = words[1:]
    return " ".join(words)


@dataclass(frozen=True)
class Methodology:
    """The parameters of the index; part of every fixing's hashed inputs."""

    period: Period = Period.DAY
    mad_threshold: float = DEFAULT_MAD_THRESHOLD

    def __post_init__(self) -> None:
        if not self.mad_threshold > 0:
            raise UsageError(
                "bad_option", option="mad_threshold", problem="must be greater than zero"
            )

    def parameters(self) -> dict[str, Any]:
        return {
            "period": self.period.value,
            "mad_threshold": self.mad_threshold,
            "mad_to_sigma": MAD_TO_SIGMA,
            "tick_usd_per_gpu_hour": str(TICK_USD_PER_GPU_HOUR),
        }


@dataclass(frozen=True)
class QuoteTable:
    """Validated, normalised quotes as columns (one array per field, same length).

    ``volume_gpu_hours`` is NaN where a quote has no volume. ``lines`` holds each quote's
    line in ``path`` (for error messages) when the quotes came from a file.
    """

    time_s: IntArray
    provider: ObjectArray
    gpu_model: ObjectArray
    region: ObjectArray
    term: ObjectArray
    price_usd_per_gpu_hour: FloatArray
    volume_gpu_hours: FloatArray
    path: str = "<quotes>"
    lines: IntArray | None = None
    sources: ObjectArray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.price_usd_per_gpu_hour)

    @classmethod
    def from_arrays(
        cls,
        *,
        time_s: npt.ArrayLike,
        provider: Sequence[str] | npt.ArrayLike,
        gpu_model: Sequence[str] | npt.ArrayLike,
        region: Sequence[str] | npt.ArrayLike,
        term: Sequence[str] | npt.ArrayLike,
        price_usd_per_gpu_hour: npt.ArrayLike,
        volume_gpu_hours: npt.ArrayLike | None = None,
        path: str = "<quotes>",
        lines: npt.ArrayLike | None = None,
        sources: Sequence[str] | None = None,
    ) -> QuoteTable:
        """Validate and normalise quotes given as arrays; refuses a bad value naming its row."""
        price = np.asarray(price_usd_per_gpu_hour, dtype=np.float64)
        n = len(price)
        volume = (
            np.full(n, np.nan)
            if volume_gpu_hours is None
            else np.asarray(volume_gpu_hours, dtype=np.float64)
        )
        line_numbers = None if lines is None else np.asarray(lines, dtype=np.int64)
        times = np.asarray(time_s, dtype=np.int64)
        columns: dict[str, ObjectArray] = {
            "provider": _text(provider),
            "gpu_model": _text(gpu_model),
            "region": _text(region),
            "term": _text(term),
        }
        for name, values in (*columns.items(), ("time_utc", times), ("volume_gpu_hours", volume)):
            if len(values) != n:
                raise ValueError(f"{name} has {len(values)} values, prices have {n}")

        def where(i: int, column: str, value: object) -> Location:
            line = None if line_numbers is None else int(line_numbers[i])
            row = line if line is not None else i
            label = path if line is not None else f"{path} row {row}"
            return Location(label, line, column, str(value))

        bad = np.flatnonzero(~(np.isfinite(price) & (price > 0)))
        if len(bad):
            i = int(bad[0])
            key = "not_finite" if not np.isfinite(price[i]) else "not_positive"
            raise DataError(key, location=where(i, "price_usd_per_gpu_hour", price[i]))
        bad = np.flatnonzero(~np.isnan(volume) & ~(np.isfinite(volume) & (volume > 0)))
        if len(bad):
            i = int(bad[0])
            key = "not_finite" if np.isinf(volume[i]) else "not_positive"
            raise DataError(key, location=where(i, "volume_gpu_hours", volume[i]))
        for name in ("provider", "gpu_model"):
            blank = np.flatnonzero(columns[name] == "")
            if len(blank):
                raise DataError("blank_value", location=where(int(blank[0]), name, ""))
        model = _map_unique(columns["gpu_model"], canonical_model)
        blank = np.flatnonzero(model == "")
        if len(blank):
            i = int(blank[0])
            raise DataError("blank_value", location=where(i, "gpu_model", columns["gpu_model"][i]))
        try:
            term_values = _map_unique(columns["term"], lambda t: canonical_term(t).value)
        except ValueError as exc:
            raw = str(exc)
            i = int(np.flatnonzero(columns["term"] == raw)[0])
            raise DataError(
                "quote_term", location=where(i, "term", raw), expected=_TERMS_TEXT
            ) from None
        return cls(
            time_s=times,
            provider=columns["provider"],
            gpu_model=model,
            region=columns["region"],
            term=term_values,
            price_usd_per_gpu_hour=price,
            volume_gpu_hours=volume,
            path=path,
            lines=line_numbers,
            sources=None if sources is None else _text(sources),
        )

    def select(
        self, *, gpu_model: str | None = None, term: Term | None = None, region: str | None = None
    ) -> QuoteTable:
        """The quotes of one canonical model, term and/or region (``None`` keeps all)."""
        keep = np.ones(len(self), dtype=bool)
        if gpu_model is not None:
            keep &= self.gpu_model == canonical_model(gpu_model)
        if term is not None:
            keep &= self.term == term.value
        if region is not None:
            keep &= self.region == region.strip()
        return self.take(np.flatnonzero(keep))

    def take(self, rows: IntArray) -> QuoteTable:
        return QuoteTable(
            time_s=self.time_s[rows],
            provider=self.provider[rows],
            gpu_model=self.gpu_model[rows],
            region=self.region[rows],
            term=self.term[rows],
            price_usd_per_gpu_hour=self.price_usd_per_gpu_hour[rows],
            volume_gpu_hours=self.volume_gpu_hours[rows],
            path=self.path,
            lines=None if self.lines is None else self.lines[rows],
            sources=None if self.sources is None else self.sources[rows],
        )

    def to_frame(self) -> pd.DataFrame:
        """The quotes as a DataFrame with units in the column names."""
        frame = pd.DataFrame(
            {
                "time_utc": pd.to_datetime(self.time_s, unit="s", utc=True),
                "provider": self.provider,
                "gpu_model": self.gpu_model,
                "region": self.region,
                "term": self.term,
                "price_usd_per_gpu_hour": self.price_usd_per_gpu_hour,
                "volume_gpu_hours": self.volume_gpu_hours,
            }
        )
        if self.sources is not None:
            frame["source"] = self.sources
        return frame


_TERMS_TEXT = ", ".join(t.value for t in Term)


def _text(values: Sequence[str] | npt.ArrayLike) -> ObjectArray:
    """Strings, stripped, blank for a missing value."""
    return _map_unique(
        np.asarray(values, dtype=object), lambda v: "" if v is None else str(v).strip()
    )


def _map_unique(values: ObjectArray, fn: Any) -> ObjectArray:
    """Apply ``fn`` once per distinct value (a million quotes name a handful of models)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    mapped = np.empty(len(uniques), dtype=object)
    mapped[:] = [fn(None if u is None or u != u else u) for u in uniques.tolist()]
    out: npt.NDArray[np.object_] = mapped[codes]
    return out


# --------------------------------------------------------------------------------------------
# Reading quote files
# --------------------------------------------------------------------------------------------

REQUIRED_COLUMNS = ("time_utc", "provider", "gpu_model", "region", "term", "price_usd_per_gpu_hour")
OPTIONAL_COLUMNS = ("volume_gpu_hours", "source", "note")
_ROW = "__row"  # a synthetic unique key: quotes have no natural one (many share a time)
QUOTE_SCHEMA = Schema(
    columns=(
        Column("time_utc", "timestamp", blank_ok=False),
        Column("provider", "text", blank_ok=False),
        Column("gpu_model", "text", blank_ok=False),
        Column("region", "text"),
        Column("term", "text", blank_ok=False),
        Column("price_usd_per_gpu_hour", "float", blank_ok=False, positive=True),
        Column("volume_gpu_hours", "float", positive=True),
        Column("source", "text"),
        Column("note", "text"),
    ),
    key="time_utc",
    exact=False,
)
_KEYED_SCHEMA = Schema(
    columns=(*QUOTE_SCHEMA.columns, Column(_ROW, "int", blank_ok=False)), key=_ROW, exact=False
)


def _keyed_rows(rows: Iterator[list[str]], header: list[str], path: str) -> Iterator[list[str]]:
    yield [*header, _ROW]
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):  # say it before the synthetic column skews the count
            raise DataError(
                "csv_field_count",
                location=Location(path, line),
                found=len(row),
                expected=len(header),
            )
        yield [*row, str(line)]


def read_quotes(path: Path | str, *, display_name: str | None = None) -> QuoteTable:
    """Read and validate a quotes CSV; every refusal names the file, line, column and value.

    Columns: ``time_utc, provider, gpu_model, region, term, price_usd_per_gpu_hour`` and,
    optionally, ``volume_gpu_hours, source, note``. Rows may come in any order and share times.
    """
    name = display_name or str(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            header = next(rows, None)
            if header is None:
                raise DataError("csv_empty", location=Location(name))
            check_header(header, QUOTE_SCHEMA, name)
            for column in REQUIRED_COLUMNS:
                if column not in header:
                    raise DataError(
                        "csv_missing_column",
                        location=Location(name, 1),
                        column=column,
                        expected=", ".join(QUOTE_SCHEMA.names),
                    )
            table = read_rows(_keyed_rows(rows, header, name), _KEYED_SCHEMA, name)
    except FileNotFoundError:
        raise DataError("file_not_found", location=Location(name)) from None
    except UnicodeDecodeError as exc:
        raise DataError("not_utf8", location=Location(name), detail=exc.reason) from None
    columns = table.columns
    if not len(table):
        raise DataError("no_quotes", location=Location(name))
    volume = columns.get("volume_gpu_hours")
    return QuoteTable.from_arrays(
        time_s=columns["time_utc"],
        provider=columns["provider"],
        gpu_model=columns["gpu_model"],
        region=columns["region"],
        term=columns["term"],
        price_usd_per_gpu_hour=columns["price_usd_per_gpu_hour"],
        volume_gpu_hours=None
        if volume is None
        else np.array([np.nan if v is None else v for v in volume], dtype=np.float64),
        path=name,
        lines=table.lines,
        sources=columns.get("source"),
    )


def bundled_quotes_path() -> Path:
    """Where the shipped sample of published H100 figures is (see ``DATA_LICENSES.md``)."""
    return Path(str(resources.files("hashmarket.data").joinpath(BUNDLED_QUOTES_FILE)))


def load_bundled_quotes() -> QuoteTable:
    return read_quotes(bundled_quotes_path(), display_name=BUNDLED_QUOTES_FILE)


# --------------------------------------------------------------------------------------------
# Weighted medians over segments
# --------------------------------------------------------------------------------------------


def weighted_median(values: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> float:
    """The weighted median: the value where the cumulative weight first reaches half the total;
    where it lands exactly on half, the midpoint of that value and the next (so equal weights
    give the ordinary median). Depends only on the weighted distribution of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(v) == 0:
        raise ValueError("weighted median of no values")
    order = np.argsort(v, kind="stable")
    return float(_segment_weighted_median(v[order], w[order], np.array([0]))[0])


def _segment_weighted_median(
    values: FloatArray, weights: FloatArray, starts: IntArray
) -> FloatArray:
    """Weighted median of each segment of ``values`` (sorted ascending within each segment);
    ``starts`` are the segments' first indices, in order, the first being 0."""
    total = np.add.reduceat(weights, starts)
    cumulative = np.cumsum(weights)
    before = np.concatenate(([0.0], cumulative))[starts]  # weight before each segment
    sizes = np.diff(np.append(starts, len(values)))
    segment = np.repeat(np.arange(len(starts)), sizes)
    within = cumulative - before[segment]
    half = total / 2.0
    # Cumulative sums carry rounding; "reaches half" allows a relative 1e-12 of the total.
    tolerance = total * 1e-12
    below = within < (half - tolerance)[segment]
    k = starts + np.add.reduceat(below.astype(np.int64), starts)
    exactly_half = np.abs(within[k] - half) <= tolerance
    nxt = np.minimum(k + 1, starts + sizes - 1)
    return np.where(exactly_half, (values[k] + values[nxt]) / 2.0, values[k])


# --------------------------------------------------------------------------------------------
# Fixings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GpuFixing:
    """One published value of the GPU-hour index: one period, one GPU model, one term."""

    period_start: dt.date
    period_end: dt.date  # inclusive
    gpu_model: str
    term: str
    value: Decimal  # USD per GPU-hour at the tick
    currency: str  # "usd"
    unit: str  # "GPU-hour"
    n_quotes: int
    n_outliers: int
    volume_gpu_hours: float | None  # total volume of the quotes kept; None when unweighted
    centre_usd_per_gpu_hour: float  # weighted median before screening
    mad_usd_per_gpu_hour: float  # weighted median absolute deviation from the centre
    methodology_version: str
    inputs: dict[str, Any]
    inputs_sha256: str

    @property
    def price_usd_per_gpu_hour(self) -> float:
        return float(self.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "gpu_model": self.gpu_model,
            "term": self.term,
            "value": self.value,
            "currency": self.currency,
            "unit": self.unit,
            "n_quotes": self.n_quotes,
            "n_outliers": self.n_outliers,
            "volume_gpu_hours": self.volume_gpu_hours,
            "centre_usd_per_gpu_hour": self.centre_usd_per_gpu_hour,
            "mad_usd_per_gpu_hour": self.mad_usd_per_gpu_hour,
            "methodology_version": self.methodology_version,
            "inputs": self.inputs,
            "inputs_sha256": self.inputs_sha256,
        }


@dataclass(frozen=True)
class ScreenedQuotes:
    """Per-quote outcome of the computation, aligned with the input quotes."""

    group: IntArray  # index into the fixings list
    kept: npt.NDArray[np.bool_]


def period_bounds(time_s: IntArray, period: Period) -> tuple[IntArray, IntArray]:
    """First and last UTC day (Unix days) of the period holding each time."""
    day = np.floor_divide(time_s, SECONDS_PER_DAY)
    if period is Period.DAY:
        return day, day
    if period is Period.WEEK:
        # 1970-01-01 was a Thursday: shift by 3 days so weeks start on Monday.
        start = np.floor_divide(day + 3, 7) * 7 - 3
        return start, start + 6
    if period is Period.ALL:
        if len(day) == 0:
            return day, day
        return np.full_like(day, day.min()), np.full_like(day, day.max())
    unit = "M" if period is Period.MONTH else "Y"
    moments = day.astype("datetime64[D]")
    first = moments.astype(f"datetime64[{unit}]")
    start = first.astype("datetime64[D]").astype(np.int64)
    end = (first + 1).astype("datetime64[D]").astype(np.int64) - 1
    return start, end


def _unix_day(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day))


def gpu_fixings(quotes: QuoteTable, *, methodology: Methodology | None = None) -> list[GpuFixing]:
    """Fixings for every (period, model, term) that has quotes, in that order."""
    return compute_fixings(quotes, methodology=methodology)[0]


def compute_fixings(
    quotes: QuoteTable, *, methodology: Methodology | None = None, with_inputs_hash: bool = True
) -> tuple[list[GpuFixing], ScreenedQuotes]:
    """Fixings, and which quotes each used; ``with_inputs_hash=False`` skips hashing (for
    what-if work that publishes nothing)."""
    method = methodology or Methodology()
    n = len(quotes)
    if n == 0:
        return [], ScreenedQuotes(np.array([], dtype=np.int64), np.array([], dtype=bool))
    start_day, end_day = period_bounds(quotes.time_s, method.period)
    group, n_groups = _group_by_period_model_term(quotes, start_day)

    volume = quotes.volume_gpu_hours
    missing = np.isnan(volume)
    n_in_group = np.bincount(group, minlength=n_groups)
    weighted = _volume_weighted_groups(quotes, group, n_in_group, start_day)
    weight = np.where(missing, 1.0, volume)
    price = quotes.price_usd_per_gpu_hour
    provider_code, provider_names = pd.factorize(quotes.provider, sort=True)
    region_code, region_names = pd.factorize(quotes.region, sort=True)

    # Canonical order: by group, then price, time, provider, region, volume. It sorts prices
    # within groups for the medians and is the order the inputs are hashed in.
    by_price = _stable_order(
        (np.where(missing, 0.0, volume), region_code, provider_code, quotes.time_s, price, group)
    )
    g_sorted = group[by_price]
    starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
    p_sorted, w_sorted = price[by_price], weight[by_price]

    # 1. centre: weighted median of each group.
    centre = _segment_weighted_median(p_sorted, w_sorted, starts)

    # 2. scale: weighted median absolute deviation; screen what lies beyond the threshold.
    deviation = np.abs(price - centre[group])
    by_dev = _stable_order((deviation, group))
    mad = _segment_weighted_median(deviation[by_dev], weight[by_dev], starts)
    limit = method.mad_threshold * MAD_TO_SIGMA * mad
    # Rounding in the subtraction must not screen a quote sitting exactly on the limit.
    kept = deviation <= limit[group] + 1e-12 * np.abs(centre[group])

    # 3. fixing: weighted median of what remains (never empty: the centre's half is kept).
    kept_sorted = kept[by_price]
    g_kept = g_sorted[kept_sorted]
    kept_starts = np.flatnonzero(np.r_[True, g_kept[1:] != g_kept[:-1]])
    value = _segment_weighted_median(p_sorted[kept_sorted], w_sorted[kept_sorted], kept_starts)

    kept_volume = np.bincount(group, weights=np.where(kept, weight, 0.0), minlength=n_groups)
    n_kept = np.bincount(group, weights=kept, minlength=n_groups).astype(np.int64)
    first = by_price[starts]  # one quote of each group, to read its labels
    digests = (
        _quote_digests(
            quotes,
            by_price,
            starts,
            (provider_code, np.asarray(provider_names, dtype=object)),
            (region_code, np.asarray(region_names, dtype=object)),
        )
        if with_inputs_hash
        else None
    )

    out = [
        _fixing(
            quotes,
            method,
            i=int(first[g]),
            period=(_unix_day(int(start_day[first[g]])), _unix_day(int(end_day[first[g]]))),
            value_usd=float(value[g]),
            n_quotes=int(n_in_group[g]),
            n_kept=int(n_kept[g]),
            volume_gpu_hours=float(kept_volume[g]) if weighted[g] else None,
            centre_usd=float(centre[g]),
            mad_usd=float(mad[g]),
            quotes_sha256=None if digests is None else digests[g],
        )
        for g in range(n_groups)
    ]
    return out, ScreenedQuotes(group=group, kept=kept)


def _group_by_period_model_term(quotes: QuoteTable, start_day: IntArray) -> tuple[IntArray, int]:
    """Each quote's group number (groups ordered by period, model, term) and the count."""
    model_code, models = pd.factorize(quotes.gpu_model, sort=True)
    term_code, terms = pd.factorize(quotes.term, sort=True)
    key = (start_day - start_day.min()) * len(models) + model_code
    key = key * len(terms) + term_code
    uniques, group = np.unique(key, return_inverse=True)
    return group.reshape(-1).astype(np.int64), len(uniques)


def _volume_weighted_groups(
    quotes: QuoteTable, group: IntArray, n_in_group: IntArray, start_day: IntArray
) -> npt.NDArray[np.bool_]:
    """Which groups weight by volume (every quote has one); a group where only some quotes
    have a volume is an error, since their weights would not be comparable."""
    missing = np.isnan(quotes.volume_gpu_hours)
    n_missing = np.bincount(group, weights=missing, minlength=len(n_in_group))
    mixed = (n_missing > 0) & (n_missing < n_in_group)
    if mixed.any():
        i = int(np.flatnonzero(mixed[group] & missing)[0])
        line = None if quotes.lines is None else int(quotes.lines[i])
        raise DataError(
            "quote_volume_mixed",
            location=Location(quotes.path, line, "volume_gpu_hours", ""),
            model=quotes.gpu_model[i],
            term=quotes.term[i],
            period=_unix_day(int(start_day[i])).isoformat(),
        )
    return np.asarray(n_missing == 0, dtype=np.bool_)


def _fixing(
    quotes: QuoteTable,
    method: Methodology,
    *,
    i: int,
    period: tuple[dt.date, dt.date],
    value_usd: float,
    n_quotes: int,
    n_kept: int,
    volume_gpu_hours: float | None,
    centre_usd: float,
    mad_usd: float,
    quotes_sha256: str | None,
) -> GpuFixing:
    """One group's fixing, labelled from its quote ``i``; unhashed when ``quotes_sha256`` is
    None."""
    period_start, period_end = period
    inputs: dict[str, Any] = {
        "index": "gpu-hour",
        "period_start": period_start.isoformat(),
        "period_end": period_end.isoformat(),
        "gpu_model": str(quotes.gpu_model[i]),
        "term": str(quotes.term[i]),
        "parameters": method.parameters(),
        "n_quotes": n_quotes,
        "quotes_sha256": quotes_sha256,
    }
    return GpuFixing(
        period_start=period_start,
        period_end=period_end,
        gpu_model=str(quotes.gpu_model[i]),
        term=str(quotes.term[i]),
        value=Decimal(repr(value_usd)).quantize(TICK_USD_PER_GPU_HOUR, rounding=ROUND_HALF_EVEN),
        currency="usd",
        unit="GPU-hour",
        n_quotes=n_quotes,
        n_outliers=n_quotes - n_kept,
        volume_gpu_hours=volume_gpu_hours,
        centre_usd_per_gpu_hour=centre_usd,
        mad_usd_per_gpu_hour=mad_usd,
        methodology_version=METHODOLOGY_VERSION,
        inputs=inputs,
        inputs_sha256=inputs_digest(inputs) if quotes_sha256 is not None else "",
    )


def _stable_order(keys: Sequence[npt.NDArray[Any]]) -> IntArray:
    """``np.lexsort(keys)`` (last key most significant) as a chain of stable sorts, which is
    several times faster: small integer codes are narrowed to 16 bits, where numpy radix-sorts."""
    order: IntArray | None = None
    for key in keys:
        narrow = _narrow(key)
        if order is None:
            order = np.argsort(narrow, kind="stable")
        else:
            order = order[np.argsort(narrow[order], kind="stable")]
    assert order is not None
    return order


def _narrow(key: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if key.dtype.kind in "iu" and len(key) and key.min() >= 0 and key.max() < 2**15:
        return key.astype(np.int16)
    return key


RECORD_DTYPE = np.dtype(
    [("time_s", "<i8"), ("provider", "<i4"), ("region", "<i4"), ("price", "<f8"), ("volume", "<f8")]
)


def _quote_digests(
    quotes: QuoteTable,
    order: IntArray,
    starts: IntArray,
    providers: tuple[IntArray, ObjectArray],
    regions: tuple[IntArray, ObjectArray],
) -> list[str]:
    """SHA-256 of each group's quotes in canonical form (``docs/compute-index.md``):

    a JSON header ``{"providers":[…],"regions":[…]}`` (the group's distinct names, sorted),
    a newline, then one 32-byte little-endian record per quote — time_s (int64), provider and
    region (int32 positions in the header lists), price (float64), volume (float64, 0 when
    the quote has none) — in the canonical order: price, time, provider, region, volume.
    ``providers`` and ``regions`` are (codes, names) with codes in name order. Binary records
    because a million quotes must hash in well under a second.
    """
    provider_code, provider_names = providers
    region_code, region_names = regions
    records = np.empty(len(order), dtype=RECORD_DTYPE)
    records["time_s"] = quotes.time_s[order]
    records["price"] = quotes.price_usd_per_gpu_hour[order]
    records["volume"] = np.nan_to_num(quotes.volume_gpu_hours[order], nan=0.0)
    p_sorted, r_sorted = provider_code[order], region_code[order]
    ends = np.append(starts[1:], len(order))
    digests = []
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        group_providers, p_local = np.unique(p_sorted[lo:hi], return_inverse=True)
        group_regions, r_local = np.unique(r_sorted[lo:hi], return_inverse=True)
        header = {
            "providers": provider_names[group_providers].tolist(),
            "regions": region_names[group_regions].tolist(),
        }
        chunk = records[lo:hi]
        chunk["provider"] = p_local.reshape(-1)
        chunk["region"] = r_local.reshape(-1)
        digest = hashlib.sha256(json.dumps(header, separators=(",", ":")).encode("utf-8"))
        digest.update(b"\n")
        digest.update(chunk.tobytes())
        digests.append(digest.hexdigest())
    return digests


def fixings_frame(fixings: Sequence[GpuFixing]) -> pd.DataFrame:
    """Fixings as a table with units in the column names."""
    return pd.DataFrame(
        [
            {
                "period_start": f.period_start,
                "period_end": f.period_end,
                "gpu_model": f.gpu_model,
                "term": f.term,
                "price_usd_per_gpu_hour": float(f.value),
                "n_quotes": f.n_quotes,
                "n_outliers": f.n_outliers,
                "volume_gpu_hours": f.volume_gpu_hours,
                "mad_usd_per_gpu_hour": f.mad_usd_per_gpu_hour,
                "methodology_version": f.methodology_version,
                "inputs_sha256": f.inputs_sha256,
            }
            for f in fixings
        ]
    )
