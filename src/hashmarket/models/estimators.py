"""The estimators behind :func:`hashmarket.models.calibrate`: price volatility and jumps,
hashrate from the difficulty epochs, the profitability response, the fee process and the
network state (height, difficulty) on a day. ``models/calibrate.py`` explains the choices."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.chain import RETARGET_INTERVAL_BLOCKS, TARGET_SPACING_S, EpochTable
from hashmarket.errors import ModelError
from hashmarket.models.network import FeeParams
from hashmarket.units import DAYS_PER_YEAR_ACT365, HASHES_PER_TH, SECONDS_PER_DAY, TWO_POW_32

FloatArray = npt.NDArray[np.float64]

EWMA_LAMBDA = 0.94
JUMP_THRESHOLD_MADS = 4.0
SECONDS_PER_YEAR = DAYS_PER_YEAR_ACT365 * SECONDS_PER_DAY


class InsufficientDataError(ValueError):
    """Raised by the estimators; :func:`hashmarket.models.calibrate` turns it into a ModelError
    naming asof."""


# ---- price ---------------------------------------------------------------------------------


def daily_log_returns(prices_usd: pd.Series) -> pd.Series:
    """Log returns between consecutive calendar days (a gap yields no return)."""
    logs = np.log(prices_usd.astype(float))
    returns = logs.diff()
    consecutive = prices_usd.index.to_series().diff() == pd.Timedelta(days=1)
    return returns[consecutive.to_numpy()].dropna()


def full_sample_vol_per_year(returns: FloatArray) -> float:
    return float(np.std(returns, ddof=1) * math.sqrt(DAYS_PER_YEAR_ACT365))


def ewma_vol_per_year(
    returns: FloatArray, *, decay: float = EWMA_LAMBDA, seed_days: int = 30
) -> float:
    """RiskMetrics EWMA: σ²_t = λ σ²_{t−1} + (1 − λ) r²_t, seeded by the first days' variance."""
    if len(returns) < 2:
        raise InsufficientDataError("fewer than two price returns")
    variance = float(np.mean(returns[:seed_days] ** 2))
    # Closed form of the recursion: weights λ^(n−1−i) (1 − λ) on r_i², λ^n on the seed.
    n = len(returns)
    weights = (1.0 - decay) * decay ** np.arange(n - 1, -1, -1)
    variance = decay**n * variance + float(np.dot(weights, returns**2))
    return math.sqrt(variance * DAYS_PER_YEAR_ACT365)


@dataclass(frozen=True)
class JumpEstimate:
    count: int
    jumps_per_year: float
    mean_log: float
    std_log: float
    diffusion_vol_per_year: float


def estimate_jumps(
    returns: FloatArray, *, threshold_mads: float = JUMP_THRESHOLD_MADS
) -> JumpEstimate:
    """Threshold jump detection on daily log returns (see the module docstring)."""
    median = float(np.median(returns))
    robust_sd = 1.4826 * float(np.median(np.abs(returns - median)))
    is_jump = np.abs(returns - median) > threshold_mads * robust_sd
    jumps = returns[is_jump]
    rest = returns[~is_jump]
    years = len(returns) / DAYS_PER_YEAR_ACT365
    return JumpEstimate(
        count=int(is_jump.sum()),
        jumps_per_year=float(is_jump.sum() / years),
        mean_log=float(jumps.mean()) if len(jumps) else 0.0,
        std_log=float(jumps.std(ddof=1)) if len(jumps) > 1 else 0.0,
        diffusion_vol_per_year=full_sample_vol_per_year(rest),
    )


# ---- network -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochSeries:
    """Per completed epoch: midpoint time, average hashrate and average price."""

    mid_s: FloatArray
    duration_s: FloatArray
    hashrate_ths: FloatArray
    price_usd: FloatArray


def epoch_series(epochs: EpochTable, frame: pd.DataFrame, *, end_s: float) -> EpochSeries:
    """Epochs whose next epoch started by ``end_s`` (both starts known): their duration gives
    their hashrate."""
    spans = epochs.spans()
    complete = spans[epochs.start_time_s[spans + 1] <= end_s]
    start = epochs.start_time_s.astype(np.float64)
    duration = start[complete + 1] - start[complete]
    hashrate = (
        epochs.difficulty[complete]
        * TWO_POW_32
        * RETARGET_INTERVAL_BLOCKS
        / duration
        / HASHES_PER_TH
    )
    prices = frame["price_usd"]
    day_index = prices.index.to_numpy().astype("datetime64[s]").astype(np.int64)
    cumulative = np.concatenate([[0.0], np.nancumsum(prices.to_numpy())])
    counts = np.concatenate([[0], np.cumsum(~np.isnan(prices.to_numpy()))])
    lo = np.searchsorted(day_index, start[complete], side="left")
    hi = np.searchsorted(day_index, start[complete + 1], side="right")
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_price = np.where(n > 0, (cumulative[hi] - cumulative[lo]) / np.maximum(n, 1), np.nan)
    return EpochSeries(
        mid_s=start[complete] + duration / 2,
        duration_s=duration,
        hashrate_ths=hashrate,
        price_usd=mean_price,
    )


@dataclass(frozen=True)
class HashrateEstimate:
    epochs: int
    growth_per_year: float
    vol_per_year: float
    price_correlation: float


def estimate_hashrate(series: EpochSeries, *, start_s: float) -> HashrateEstimate:
    keep = series.mid_s >= start_s
    log_h = np.log(series.hashrate_ths[keep])
    mid = series.mid_s[keep]
    if len(log_h) < 6:
        raise InsufficientDataError("fewer than 6 epochs in the window")
    growth = (log_h[-1] - log_h[0]) / ((mid[-1] - mid[0]) / SECONDS_PER_YEAR)
    dlog_h = np.diff(log_h)
    dt_years = float(np.mean(np.diff(mid))) / SECONDS_PER_YEAR
    # A difference of two consecutive window averages of Brownian motion has variance
    # (2/3) σ² T; each epoch average also carries the noise of 2016 exponential block times.
    poisson_var = 2.0 / RETARGET_INTERVAL_BLOCKS
    var = max(float(np.var(dlog_h, ddof=1)) - poisson_var, 0.0)
    vol = math.sqrt(var / (2.0 / 3.0 * dt_years))
    log_p = np.log(series.price_usd[keep])
    dlog_p = np.diff(log_p)
    ok = np.isfinite(dlog_p)
    rho = float(np.corrcoef(dlog_h[ok], dlog_p[ok])[0, 1]) if ok.sum() > 3 else 0.0
    return HashrateEstimate(
        epochs=int(keep.sum()),
        growth_per_year=float(growth),
        vol_per_year=vol,
        price_correlation=rho,
    )


def daily_log_hashrate(series: EpochSeries, days: pd.DatetimeIndex) -> FloatArray:
    """Epoch-average log hashrate interpolated linearly to each day (NaN outside)."""
    day_s = days.to_numpy().astype("datetime64[s]").astype(np.int64).astype(np.float64)
    log_h = np.log(series.hashrate_ths)
    out = np.interp(day_s, series.mid_s, log_h, left=np.nan, right=np.nan)
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class SensitivityEstimate:
    kappa: float
    std_error: float
    samples: int


def estimate_profitability_sensitivity(
    log_hashrate: FloatArray,
    log_hashprice_usd: FloatArray,
    *,
    horizon_days: int = 90,
    lag_days: int = 30,
) -> SensitivityEstimate:
    """κ from growth over the next ``horizon_days`` vs mean log hashprice over the previous
    ``lag_days``, sampled every ``horizon_days`` (non-overlapping)."""
    n = len(log_hashrate)
    rows = []
    for t in range(lag_days, n - horizon_days, horizon_days):
        past = log_hashprice_usd[t - lag_days : t]
        g = (log_hashrate[t + horizon_days] - log_hashrate[t]) / (
            horizon_days / DAYS_PER_YEAR_ACT365
        )
        if np.isfinite(g) and np.isfinite(past).all():
            rows.append((g, float(past.mean())))
    if len(rows) < 4:
        return SensitivityEstimate(kappa=math.nan, std_error=math.nan, samples=len(rows))
    g_arr, x_arr = (np.array(col) for col in zip(*rows, strict=True))
    x_c = x_arr - x_arr.mean()
    sxx = float(np.dot(x_c, x_c))
    if sxx == 0:
        return SensitivityEstimate(kappa=math.nan, std_error=math.nan, samples=len(rows))
    kappa = float(np.dot(x_c, g_arr - g_arr.mean()) / sxx)
    resid = g_arr - g_arr.mean() - kappa * x_c
    se = math.sqrt(float(np.dot(resid, resid)) / (len(rows) - 2) / sxx)
    return SensitivityEstimate(kappa=kappa, std_error=se, samples=len(rows))


@dataclass(frozen=True)
class FeeEstimate:
    days: int
    params: FeeParams
    last_btc_per_block: float


def estimate_fees(fee_btc_per_block: pd.Series) -> FeeEstimate:
    """AR(1) on consecutive days of log fee per block → exact OU discretization."""
    x = np.log(fee_btc_per_block[fee_btc_per_block > 0])
    if len(x) < 10:
        raise InsufficientDataError("fewer than 10 days of fee data")
    prev = x.shift(1)
    consecutive = (x.index.to_series().diff() == pd.Timedelta(days=1)).to_numpy()
    pairs = pd.DataFrame({"prev": prev, "next": x})[consecutive].dropna()
    keep = 0.5
    mean = float(x.mean())
    resid_sd = float(x.std(ddof=1)) * math.sqrt(1 - keep**2)
    if len(pairs) >= 10:
        slope, intercept = np.polyfit(pairs["prev"], pairs["next"], 1)
        if 0.0 < slope < 1.0:
            keep = float(slope)
            mean = float(intercept / (1.0 - slope))
            resid = pairs["next"] - (intercept + slope * pairs["prev"])
            resid_sd = float(resid.std(ddof=2))
    dt_years = 1.0 / DAYS_PER_YEAR_ACT365
    theta = -math.log(keep) / dt_years
    sigma = resid_sd / math.sqrt((1.0 - keep**2) / (2.0 * theta))
    return FeeEstimate(
        days=len(x),
        params=FeeParams(mean_log_btc=mean, reversion_per_year=theta, vol_per_year=sigma),
        last_btc_per_block=float(np.exp(x.iloc[-1])),
    )


# ---- state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateEstimate:
    height: int
    difficulty: float
    difficulty_source: str
    epoch_elapsed_s: float
    blocks_per_day: float
    from_epoch: int
    days_known: int
    days_filled: int
    epoch_end_known: bool


def estimate_height_and_difficulty(
    epochs: EpochTable, frame: pd.DataFrame, *, asof: dt.date
) -> StateEstimate:
    end_s = day_end_s(asof)
    # Count the blocks from the last epoch start known before the day's end.
    timed = epochs.dated_rows()
    k = int(np.searchsorted(epochs.start_time_s[timed], end_s, side="right")) - 1
    row = int(timed[k]) if k >= 0 else -1
    if row < 0:
        raise ModelError("calibration_data", asof=asof, problem="no difficulty epoch before it")
    start_s = int(epochs.start_time_s[row])
    start_day = dt.datetime.fromtimestamp(start_s, dt.UTC).date()
    counts = frame["block_count"].loc[pd.Timestamp(start_day) : pd.Timestamp(asof)].to_numpy()
    known = ~np.isnan(counts)
    recent = frame["block_count"].loc[: pd.Timestamp(asof)].dropna().tail(14)
    blocks_per_day = float(recent.mean()) if len(recent) else SECONDS_PER_DAY / TARGET_SPACING_S
    # When the next epoch's start is known, the epoch's own rate fills the missing days (with
    # no count at all that is linear interpolation between the two starts) and the tip stays
    # inside the epoch.
    end_known = row + 1 < len(epochs) and int(epochs.start_time_s[row + 1]) >= 0
    if end_known:
        next_s = int(epochs.start_time_s[row + 1])
        fill = RETARGET_INTERVAL_BLOCKS * SECONDS_PER_DAY / (next_s - start_s)
    else:
        fill = float(np.nanmean(counts)) if known.any() else blocks_per_day
    filled = np.where(known, counts, fill)
    if len(filled):
        # Only the part of the first day after the epoch began counts.
        first_share = (day_end_s(start_day) - start_s) / SECONDS_PER_DAY
        filled[0] *= first_share
    height = int(epochs.start_height[row]) + round(float(filled.sum()))
    if end_known:
        height = min(height, int(epochs.start_height[row + 1]) - 1)
    epoch = (height + 1) // RETARGET_INTERVAL_BLOCKS
    by_epoch = np.flatnonzero(epochs.epoch == epoch)
    if len(by_epoch):
        difficulty = float(epochs.difficulty[by_epoch[0]])
        source = "epochs"
    else:
        last = frame["difficulty"].loc[: pd.Timestamp(asof)].dropna()
        if last.empty:
            raise ModelError("calibration_data", asof=asof, problem="no difficulty known")
        difficulty = float(last.iloc[-1])
        source = f"history {last.index[-1].date()}"
    into_epoch = height + 1 - epoch * RETARGET_INTERVAL_BLOCKS
    if epoch == int(epochs.epoch[row]):
        elapsed = float(end_s - start_s)
    else:
        elapsed = into_epoch * SECONDS_PER_DAY / max(blocks_per_day, 1.0)
    return StateEstimate(
        height=height,
        difficulty=difficulty,
        difficulty_source=source,
        epoch_elapsed_s=elapsed,
        blocks_per_day=blocks_per_day,
        from_epoch=int(epochs.epoch[row]),
        days_known=int(known.sum()),
        days_filled=int((~known).sum()),
        epoch_end_known=end_known,
    )


def day_end_s(day: dt.date) -> int:
    return (
        int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) + SECONDS_PER_DAY
    )
