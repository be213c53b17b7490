"""The AI-compute factor beside hashprice and BTC: how GPU-hour prices move with them.

The correlation is estimated from whatever history overlaps: the GPU-hour index fixings of
one model and term (often sparse — published figures a few months apart) and the daily
hashprice index and BTC price. Each pair of consecutive GPU fixings is one observation: the
log change of the GPU price between the two dates, against the log changes of hashprice and
of BTC over the same dates. A pair is used only when both dates have a hashprice and a BTC
price (or the last value of the 7 days before, where the history has a gap). With fewer than
``MIN_FACTOR_OBSERVATIONS`` observations a correlation is noise (the standard error of a
sample correlation is about 1/√n), so it is set to zero and the result says so, with the
count.

The intervals between sparse fixings are of unequal length; the changes are divided by
√(days) so that each is a change per √day, as a Brownian factor's would be.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hashmarket.chain import NetworkHistory
from hashmarket.index import QuoteTable, gpu_fixings, hashprice_table

# Below this many overlapping changes a sample correlation has a standard error of 0.2 or
# more (≈ 1/√n): not an estimate worth trading on.
MIN_FACTOR_OBSERVATIONS = 25
FILL_DAYS = 7


@dataclass(frozen=True, slots=True)
class FactorCorrelation:
    """Correlations of GPU-hour price changes with hashprice and BTC price changes, and with
    how many overlapping observations they were estimated (zero when too few, said so)."""

    gpu_hashprice: float
    gpu_btc: float
    hashprice_btc: float
    observations: int
    estimated: bool
    statement: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpu_hashprice": self.gpu_hashprice,
            "gpu_btc": self.gpu_btc,
            "hashprice_btc": self.hashprice_btc,
            "observations": self.observations,
            "estimated": self.estimated,
            "statement": self.statement,
        }


def _changes(values: pd.Series, starts: pd.DatetimeIndex, ends: pd.DatetimeIndex) -> np.ndarray:
    # Both sides on one resolution: reindexing datetime64[s] by datetime64[ns] finds nothing.
    daily = pd.Series(values.to_numpy(dtype=np.float64), index=pd.DatetimeIndex(values.index))
    daily.index = daily.index.as_unit("ns")
    # A fixing on a day the history lacks takes the last value of the week before it.
    daily = daily.ffill(limit=FILL_DAYS)
    a = daily.reindex(starts.as_unit("ns")).to_numpy(dtype=np.float64)
    b = daily.reindex(ends.as_unit("ns")).to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.log(b / a), dtype=np.float64)


def factor_correlation(
    *,
    gpu_usd_per_gpu_hour: pd.Series,
    hashprice_usd_per_ph_day: pd.Series,
    btc_usd: pd.Series,
    min_observations: int = MIN_FACTOR_OBSERVATIONS,
    label: str = "GPU-hour",
) -> FactorCorrelation:
    """Correlations from the overlap of the three daily series (indexed by day; the GPU series
    may skip days). See the module docstring for the method and the zero fallback."""
    gpu = gpu_usd_per_gpu_hour.dropna().sort_index()
    gpu = gpu[gpu > 0]
    dates = pd.DatetimeIndex(gpu.index)
    starts, ends = dates[:-1], dates[1:]
    days = np.asarray((ends - starts).days, dtype=np.float64)
    d_gpu = np.log(gpu.to_numpy()[1:] / gpu.to_numpy()[:-1])
    d_hp = _changes(hashprice_usd_per_ph_day, starts, ends)
    d_btc = _changes(btc_usd, starts, ends)
    ok = np.isfinite(d_gpu) & np.isfinite(d_hp) & np.isfinite(d_btc) & (days > 0)
    n = int(ok.sum())
    if n < min_observations:
        return FactorCorrelation(
            gpu_hashprice=0.0,
            gpu_btc=0.0,
            hashprice_btc=0.0,
            observations=n,
            estimated=False,
            statement=(
                f"{n} overlapping {label} changes with hashprice and BTC history (needs "
                f"{min_observations}): too short to estimate a correlation, so the GPU factor "
                "is taken as uncorrelated (zero) with hashprice and BTC"
            ),
        )
    scale = np.sqrt(days[ok])
    sample = np.vstack([d_gpu[ok] / scale, d_hp[ok] / scale, d_btc[ok] / scale])
    c = np.corrcoef(sample)
    c = np.where(np.isfinite(c), c, 0.0)
    return FactorCorrelation(
        gpu_hashprice=float(c[0, 1]),
        gpu_btc=float(c[0, 2]),
        hashprice_btc=float(c[1, 2]),
        observations=n,
        estimated=True,
        statement=(
            f"estimated from {n} overlapping {label} changes (standard error about "
            f"{1 / math.sqrt(n):.2f} each)"
        ),
    )


def correlation_from_history(
    history: NetworkHistory,
    quotes: QuoteTable,
    *,
    gpu_model: str,
    term: str,
    asof: dt.date | None = None,
) -> FactorCorrelation:
    """:func:`factor_correlation` of the daily GPU-hour index fixings of ``gpu_model``/``term``
    computed from ``quotes`` against the network history's hashprice index and BTC price,
    all on or before ``asof`` (default: everything)."""
    table = hashprice_table(history)
    fixings = [
        f
        for f in gpu_fixings(quotes)
        if f.gpu_model == gpu_model
        and f.term == term
        and f.period_start == f.period_end
        and (asof is None or f.period_start <= asof)
    ]
    gpu = pd.Series(
        [float(f.value) for f in fixings],
        index=pd.DatetimeIndex([pd.Timestamp(f.period_start) for f in fixings]),
        dtype=np.float64,
    )
    end = pd.Timestamp(asof) if asof is not None else None
    return factor_correlation(
        gpu_usd_per_gpu_hour=gpu,
        hashprice_usd_per_ph_day=table["hashprice_usd_per_ph_day"].loc[:end],
        btc_usd=history.frame["price_usd"].loc[:end],
        label=f"{gpu_model} {term} GPU-hour",
    )
