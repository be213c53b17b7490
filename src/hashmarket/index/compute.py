"""The GPU-hour index: a like-for-like price of one GPU-hour per GPU model. See
``docs/compute-index.md``.

Quotes, read and normalised by ``hashmarket.index.gpu_quotes`` (model names and terms to
canonical spellings), are grouped into fixings by period (a UTC day by default), model and
term. A fixing never mixes models or terms: an interruptible spot hour and a reserved hour
are different goods. Within a group:

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

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.errors import DataError, Location, UsageError
from hashmarket.index.fixings import inputs_digest
from hashmarket.index.gpu_quotes import QuoteTable
from hashmarket.units import SECONDS_PER_DAY

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]

METHODOLOGY_VERSION = "1.0"
TICK_USD_PER_GPU_HOUR = Decimal("0.0001")
# 1 / Φ⁻¹(3/4): makes the median absolute deviation a consistent estimator of a normal σ.
MAD_TO_SIGMA = 1.4826
DEFAULT_MAD_THRESHOLD = 3.0


class Period(enum.StrEnum):
    """The window of one fixing. Weeks start on Monday; ``all`` is one fixing per group."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    ALL = "all"


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
