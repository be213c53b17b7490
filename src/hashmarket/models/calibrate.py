"""Calibrate the price and network models, and the network state, from the daily history.

``calibrate(history, asof=...)`` uses only data dated on or before ``asof`` and returns the
model parameters, the state at the end of ``asof`` and a report of every estimate with the
data it came from. The choices, in short (``docs/pricing.md`` has the reasoning):

* **Price volatility** from daily log returns over ``window_days``: the full-sample standard
  deviation and an EWMA (RiskMetrics, λ = 0.94), both ×√365. The model uses one of them
  (``vol_estimator``). The drift is not estimated (its standard error over four years is
  about σ/2 ≈ 25 %/year, larger than any plausible value): it is ``price_drift_per_year``.
* **Jumps** (Merton): daily returns further than 4 robust standard deviations (1.4826 × MAD)
  from the median are jumps; λ is their count per year, their log sizes give the jump mean
  and spread, and the other returns give the diffusion volatility.
* **Hashrate** from the difficulty epochs: epoch i's average hashrate is
  D_i · 2³² · 2016 / duration_i. Its log changes give σ_H (corrected for the smoothing of
  window averages, ×3/2, and for Poisson noise in 2016 block times, −2/2016) and ρ with the
  epoch-average price. Mean growth is the endpoint growth rate over the window.
* **Profitability response** κ: 90-day forward hashrate growth regressed on the log USD
  hashprice of the previous 30 days, non-overlapping, over ``profitability_window_days``.
  If the estimate is not positive with a t-statistic of at least 2, κ falls back to
  ``DEFAULT_PROFITABILITY_SENSITIVITY`` and the report says so. The fleet cost C is then
  the hashprice at which growth stops: C = HP̄ · exp(−ḡ/κ), HP̄ the window's geometric mean
  hashprice (or, if a fleet cost is given, μ_H absorbs the difference).
* **Fees** per block: an AR(1) on daily log fee per block over ``fee_window_days`` gives the
  Ornstein–Uhlenbeck mean, reversion and volatility.
* **State**: height from the last epoch with a known start time plus the daily block counts
  since; days without a count get the epoch's own rate (2016 blocks over its known duration)
  when the next epoch's start is known — the height is then also kept inside the epoch — and
  otherwise the mean of the days with a count. Difficulty from the epoch that height lies in,
  hashrate from difficulty × recent blocks per day / 144. Day ``asof``'s hashprice is its
  published fixing (``index.fixings``), so every simulated path starts from the index value.
* **As-of**: by default the day :func:`hashmarket.index.asof.resolve_asof` gives, the last
  day with a complete index value (fees included, with a price).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.chain.consensus import RETARGET_INTERVAL_BLOCKS, TARGET_SPACING_S
from hashmarket.chain.epochs import EpochTable
from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import ModelError
from hashmarket.index.asof import resolve_asof
from hashmarket.index.hashprice import hashprice_table
from hashmarket.models.network import (
    BlockArrivals,
    FeeParams,
    HashrateParams,
    NetworkModel,
    NetworkState,
)
from hashmarket.models.price import GBM, MertonJumpDiffusion, PriceModel
from hashmarket.units import DAYS_PER_YEAR_ACT365, HASHES_PER_TH, SECONDS_PER_DAY, TWO_POW_32

FloatArray = npt.NDArray[np.float64]

EWMA_LAMBDA = 0.94
JUMP_THRESHOLD_MADS = 4.0
DEFAULT_PROFITABILITY_SENSITIVITY = 0.4
MAX_STALENESS_DAYS = 31
MIN_FEE_DAYS = 30
SECONDS_PER_YEAR = DAYS_PER_YEAR_ACT365 * SECONDS_PER_DAY


class InsufficientDataError(ValueError):
    """Raised by the estimators; :func:`calibrate` turns it into a ModelError naming asof."""


@dataclass(frozen=True)
class CalibrationReport:
    """Every estimate the calibration made, with the data behind it (units in names)."""

    asof: dt.date
    price_date: dt.date
    network_date: dt.date
    window_days: int
    price_returns: int
    vol_full_per_year: float
    vol_ewma_per_year: float
    vol_used_per_year: float
    vol_estimator: str
    jumps_found: int
    jumps_per_year: float
    jump_mean_log: float
    jump_std_log: float
    diffusion_vol_per_year: float
    epochs_used: int
    hashrate_growth_per_year: float
    hashrate_vol_per_year: float
    hashrate_price_correlation: float
    profitability_sensitivity_estimate: float
    profitability_sensitivity_std_error: float
    profitability_sensitivity_used: float
    profitability_samples: int
    hashprice_geomean_usd_per_ph_day: float
    fleet_cost_usd_per_ph_day: float
    fee_days: int
    fee_mean_btc_per_block: float
    fee_reversion_per_year: float
    fee_vol_per_year: float
    height_estimated_from_epoch: int
    block_count_days_known: int
    block_count_days_filled: int
    difficulty_source: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("asof", "price_date", "network_date"):
            out[key] = out[key].isoformat()
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class Calibration:
    """The calibrated model, the network state at ``asof`` and the report."""

    model: NetworkModel
    state: NetworkState
    report: CalibrationReport


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
    end_s = _day_end_s(asof)
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
        first_share = (_day_end_s(start_day) - start_s) / SECONDS_PER_DAY
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


def _day_end_s(day: dt.date) -> int:
    return (
        int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) + SECONDS_PER_DAY
    )


def default_asof(history: NetworkHistory) -> dt.date:
    """The last day with a complete index value (see :func:`resolve_asof`)."""
    return resolve_asof(history).date


def _fixing_btc(table: pd.DataFrame, asof: dt.date) -> float | None:
    """Day ``asof``'s FPPS index value in BTC (what its fixing publishes), if it has one."""
    key = pd.Timestamp(asof)
    if key not in table.index:
        return None
    value = float(table.at[key, "hashprice_btc_per_ph_day"])
    return value if math.isfinite(value) and value > 0 else None


# ---- the whole calibration -----------------------------------------------------------------


def calibrate(
    history: NetworkHistory,
    *,
    asof: dt.date | None = None,
    epochs: EpochTable | None = None,
    price_model: Literal["gbm", "merton"] = "gbm",
    vol_estimator: Literal["full", "ewma"] = "full",
    price_drift_per_year: float = 0.0,
    window_days: int = 1095,
    profitability_window_days: int = 2922,
    fee_window_days: int = 365,
    fleet_cost_usd_per_ph_day: float | None = None,
    block_arrivals: BlockArrivals = BlockArrivals.POISSON,
) -> Calibration:
    """Calibrate the network model and its state from ``history`` as of ``asof``.

    ``epochs`` is the difficulty epoch table (default: the bundled one). ``asof`` defaults to
    the last day with a complete index value (:func:`hashmarket.index.asof.resolve_asof`).
    """
    try:
        return _calibrate(
            history,
            asof=asof or default_asof(history),
            epochs=epochs,
            price_model=price_model,
            vol_estimator=vol_estimator,
            price_drift_per_year=price_drift_per_year,
            window_days=window_days,
            profitability_window_days=profitability_window_days,
            fee_window_days=fee_window_days,
            fleet_cost_usd_per_ph_day=fleet_cost_usd_per_ph_day,
            block_arrivals=block_arrivals,
        )
    except InsufficientDataError as exc:
        raise ModelError("calibration_data", asof=asof, problem=str(exc)) from None


def _calibrate(
    history: NetworkHistory,
    *,
    asof: dt.date,
    epochs: EpochTable | None,
    price_model: Literal["gbm", "merton"],
    vol_estimator: Literal["full", "ewma"],
    price_drift_per_year: float,
    window_days: int,
    profitability_window_days: int,
    fee_window_days: int,
    fleet_cost_usd_per_ph_day: float | None,
    block_arrivals: BlockArrivals,
) -> Calibration:
    if epochs is None:
        from hashmarket.chain.sources.bundled import load_epochs

        epochs = load_epochs()
    frame = history.frame.loc[: pd.Timestamp(asof)]
    notes: list[str] = []

    prices = frame["price_usd"].dropna()
    if prices.empty:
        raise ModelError("calibration_data", asof=asof, problem="no BTC price on or before it")
    price_date = prices.index[-1].date()
    if (asof - price_date).days > MAX_STALENESS_DAYS:
        raise ModelError("calibration_data", asof=asof, problem=f"the last price is {price_date}")
    network = frame[["block_count", "difficulty"]].dropna(how="all")
    if network.empty:
        raise ModelError("calibration_data", asof=asof, problem="no network data on or before it")
    network_date = network.index[-1].date()
    if (asof - network_date).days > MAX_STALENESS_DAYS:
        raise ModelError(
            "calibration_data",
            asof=asof,
            problem=f"the network data end on {network_date}; pick an earlier --asof",
        )

    window_start = pd.Timestamp(asof) - pd.Timedelta(days=window_days)
    returns = daily_log_returns(prices.loc[window_start:]).to_numpy()
    if len(returns) < 60:
        raise ModelError("calibration_data", asof=asof, problem="fewer than 60 daily returns")
    vol_full = full_sample_vol_per_year(returns)
    vol_ewma = ewma_vol_per_year(returns)
    vol_used = vol_full if vol_estimator == "full" else vol_ewma
    jumps = estimate_jumps(returns)
    price: PriceModel
    if price_model == "merton" and jumps.count >= 2:
        # Scale the diffusion part so total volatility matches the chosen estimator.
        jump_var = jumps.jumps_per_year * (jumps.mean_log**2 + jumps.std_log**2)
        diffusion = math.sqrt(max(vol_used**2 - jump_var, jumps.diffusion_vol_per_year**2 / 4))
        price = MertonJumpDiffusion(
            drift_per_year=price_drift_per_year,
            vol_per_year=diffusion,
            jumps_per_year=jumps.jumps_per_year,
            jump_mean_log=jumps.mean_log,
            jump_std_log=jumps.std_log,
        )
    else:
        if price_model == "merton":
            notes.append("fewer than two jumps in the window: GBM used instead of Merton")
        price = GBM(drift_per_year=price_drift_per_year, vol_per_year=vol_used)

    end_s = float(_day_end_s(asof))
    series = epoch_series(epochs, frame, end_s=end_s)
    hr = estimate_hashrate(series, start_s=end_s - window_days * SECONDS_PER_DAY)

    table = hashprice_table(history.between(None, asof))
    log_hp = np.log(table["hashprice_usd_per_ph_day"].to_numpy())
    long_start = pd.Timestamp(asof) - pd.Timedelta(days=profitability_window_days)
    long_days = table.index[table.index >= long_start]
    sens = estimate_profitability_sensitivity(
        daily_log_hashrate(series, pd.DatetimeIndex(long_days)), log_hp[table.index >= long_start]
    )
    kappa = sens.kappa
    if not (kappa > 0 and sens.std_error > 0 and kappa / sens.std_error >= 2.0):
        notes.append(
            f"profitability sensitivity estimate {kappa:.3f} (s.e. {sens.std_error:.3f}) is not "
            f"significantly positive: using {DEFAULT_PROFITABILITY_SENSITIVITY}"
        )
        kappa = DEFAULT_PROFITABILITY_SENSITIVITY
    recent = log_hp[(table.index >= window_start) & np.isfinite(log_hp)]
    if len(recent) == 0:
        raise ModelError("calibration_data", asof=asof, problem="no hashprice in the window")
    hp_geomean = float(np.exp(recent.mean()))
    if fleet_cost_usd_per_ph_day is None:
        fleet_cost = hp_geomean * math.exp(-hr.growth_per_year / kappa)
        growth = 0.0
    else:
        fleet_cost = fleet_cost_usd_per_ph_day
        growth = hr.growth_per_year - kappa * math.log(hp_geomean / fleet_cost)

    fee_start = pd.Timestamp(asof) - pd.Timedelta(days=fee_window_days)
    with np.errstate(invalid="ignore", divide="ignore"):
        fee_per_block = (frame["fees_btc"] / frame["block_count"]).dropna()
    fee_per_block = fee_per_block[fee_per_block > 0]
    if (fee_per_block.index >= fee_start).sum() >= MIN_FEE_DAYS:
        fee_per_block = fee_per_block.loc[fee_start:]
    else:
        # A gap in the fee data: use the latest year that has fees, and say so.
        fee_per_block = fee_per_block.tail(fee_window_days)
        if len(fee_per_block):
            notes.append(
                f"fewer than {MIN_FEE_DAYS} days of fees in the window: fee process from "
                f"{fee_per_block.index[0].date()} to {fee_per_block.index[-1].date()}"
            )
    fees = estimate_fees(fee_per_block)

    st = estimate_height_and_difficulty(epochs, frame, asof=asof)
    if st.days_filled:
        how = "at the epoch's known rate" if st.epoch_end_known else "by their mean"
        notes.append(
            f"height estimated from epoch {st.from_epoch} with {st.days_filled} of "
            f"{st.days_known + st.days_filled} days' block counts missing (filled {how})"
        )
    hashrate_ths = (
        st.difficulty
        * TWO_POW_32
        / TARGET_SPACING_S
        / HASHES_PER_TH
        * st.blocks_per_day
        / (SECONDS_PER_DAY / TARGET_SPACING_S)
    )
    state = NetworkState(
        asof=asof,
        price_usd=float(prices.iloc[-1]),
        hashrate_ths=hashrate_ths,
        difficulty=st.difficulty,
        height=st.height,
        epoch_elapsed_s=st.epoch_elapsed_s,
        fee_btc_per_block=fees.last_btc_per_block,
        fixing_btc_per_ph_day=_fixing_btc(table, asof),
    )
    model = NetworkModel(
        price=price,
        hashrate=HashrateParams(
            vol_per_year=hr.vol_per_year,
            growth_per_year=growth,
            profitability_sensitivity=kappa,
            fleet_cost_usd_per_ph_day=fleet_cost,
            price_correlation=hr.price_correlation,
        ),
        fees=fees.params,
        block_arrivals=block_arrivals,
    )
    report = CalibrationReport(
        asof=asof,
        price_date=price_date,
        network_date=network_date,
        window_days=window_days,
        price_returns=len(returns),
        vol_full_per_year=vol_full,
        vol_ewma_per_year=vol_ewma,
        vol_used_per_year=vol_used,
        vol_estimator=vol_estimator,
        jumps_found=jumps.count,
        jumps_per_year=jumps.jumps_per_year,
        jump_mean_log=jumps.mean_log,
        jump_std_log=jumps.std_log,
        diffusion_vol_per_year=jumps.diffusion_vol_per_year,
        epochs_used=hr.epochs,
        hashrate_growth_per_year=hr.growth_per_year,
        hashrate_vol_per_year=hr.vol_per_year,
        hashrate_price_correlation=hr.price_correlation,
        profitability_sensitivity_estimate=sens.kappa,
        profitability_sensitivity_std_error=sens.std_error,
        profitability_sensitivity_used=kappa,
        profitability_samples=sens.samples,
        hashprice_geomean_usd_per_ph_day=hp_geomean,
        fleet_cost_usd_per_ph_day=fleet_cost,
        fee_days=fees.days,
        fee_mean_btc_per_block=math.exp(fees.params.mean_log_btc),
        fee_reversion_per_year=fees.params.reversion_per_year,
        fee_vol_per_year=fees.params.vol_per_year,
        height_estimated_from_epoch=st.from_epoch,
        block_count_days_known=st.days_known,
        block_count_days_filled=st.days_filled,
        difficulty_source=st.difficulty_source,
        notes=tuple(notes),
    )
    return Calibration(model=model, state=state, report=report)
