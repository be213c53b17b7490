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
import pandas as pd

from hashmarket.chain import TARGET_SPACING_S, EpochTable, NetworkHistory
from hashmarket.errors import ModelError
from hashmarket.index import hashprice_table, resolve_asof
from hashmarket.models.estimators import (
    EpochSeries,
    FeeEstimate,
    HashrateEstimate,
    InsufficientDataError,
    JumpEstimate,
    SensitivityEstimate,
    StateEstimate,
    daily_log_hashrate,
    daily_log_returns,
    day_end_s,
    epoch_series,
    estimate_fees,
    estimate_hashrate,
    estimate_height_and_difficulty,
    estimate_jumps,
    estimate_profitability_sensitivity,
    ewma_vol_per_year,
    full_sample_vol_per_year,
)
from hashmarket.models.network import (
    BlockArrivals,
    HashrateParams,
    NetworkModel,
    NetworkState,
)
from hashmarket.models.price import GBM, MertonJumpDiffusion, PriceModel
from hashmarket.units import HASHES_PER_TH, SECONDS_PER_DAY, TWO_POW_32

DEFAULT_PROFITABILITY_SENSITIVITY = 0.4
MAX_STALENESS_DAYS = 31
MIN_FEE_DAYS = 30


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
        from hashmarket.chain.sources import load_epochs

        epochs = load_epochs()
    frame = history.frame.loc[: pd.Timestamp(asof)]
    notes: list[str] = []
    prices, price_date, network_date = _fresh_inputs(frame, asof=asof)
    window_start = pd.Timestamp(asof) - pd.Timedelta(days=window_days)
    fit = _fit_price(
        prices.loc[window_start:],
        asof=asof,
        price_model=price_model,
        vol_estimator=vol_estimator,
        drift_per_year=price_drift_per_year,
        notes=notes,
    )

    end_s = float(day_end_s(asof))
    series = epoch_series(epochs, frame, end_s=end_s)
    hr = estimate_hashrate(series, start_s=end_s - window_days * SECONDS_PER_DAY)
    table = hashprice_table(history.between(None, asof))
    drift = _hashrate_drift(
        table,
        series,
        hr,
        asof=asof,
        window_start=window_start,
        profitability_window_days=profitability_window_days,
        fleet_cost_usd_per_ph_day=fleet_cost_usd_per_ph_day,
        notes=notes,
    )
    fees = estimate_fees(
        _fee_per_block_window(frame, asof=asof, fee_window_days=fee_window_days, notes=notes)
    )

    state, st = _network_state(
        epochs, frame, table, asof=asof, price_usd=float(prices.iloc[-1]), fees=fees, notes=notes
    )
    model = NetworkModel(
        price=fit.process,
        hashrate=HashrateParams(
            vol_per_year=hr.vol_per_year,
            growth_per_year=drift.growth_per_year,
            profitability_sensitivity=drift.kappa,
            fleet_cost_usd_per_ph_day=drift.fleet_cost_usd_per_ph_day,
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
        vol_estimator=vol_estimator,
        **_estimate_fields(fit, hr, drift, fees, st),
        notes=tuple(notes),
    )
    return Calibration(model=model, state=state, report=report)


def _fresh_inputs(frame: pd.DataFrame, *, asof: dt.date) -> tuple[pd.Series, dt.date, dt.date]:
    """The prices up to ``asof`` and the last price and network days, refusing stale data."""
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
    return prices, price_date, network_date


@dataclass(frozen=True)
class _PriceFit:
    returns: int
    vol_full_per_year: float
    vol_ewma_per_year: float
    vol_used_per_year: float
    jumps: JumpEstimate
    process: PriceModel


def _fit_price(
    prices: pd.Series,
    *,
    asof: dt.date,
    price_model: Literal["gbm", "merton"],
    vol_estimator: Literal["full", "ewma"],
    drift_per_year: float,
    notes: list[str],
) -> _PriceFit:
    """Volatility and jumps of the window's daily returns; GBM, or Merton when asked for and
    the window has at least two jumps."""
    returns = daily_log_returns(prices).to_numpy()
    if len(returns) < 60:
        raise ModelError("calibration_data", asof=asof, problem="fewer than 60 daily returns")
    vol_full = full_sample_vol_per_year(returns)
    vol_ewma = ewma_vol_per_year(returns)
    vol_used = vol_full if vol_estimator == "full" else vol_ewma
    jumps = estimate_jumps(returns)
    process: PriceModel
    if price_model == "merton" and jumps.count >= 2:
        # Scale the diffusion part so total volatility matches the chosen estimator.
        jump_var = jumps.jumps_per_year * (jumps.mean_log**2 + jumps.std_log**2)
        diffusion = math.sqrt(max(vol_used**2 - jump_var, jumps.diffusion_vol_per_year**2 / 4))
        process = MertonJumpDiffusion(
            drift_per_year=drift_per_year,
            vol_per_year=diffusion,
            jumps_per_year=jumps.jumps_per_year,
            jump_mean_log=jumps.mean_log,
            jump_std_log=jumps.std_log,
        )
    else:
        if price_model == "merton":
            notes.append("fewer than two jumps in the window: GBM used instead of Merton")
        process = GBM(drift_per_year=drift_per_year, vol_per_year=vol_used)
    return _PriceFit(len(returns), vol_full, vol_ewma, vol_used, jumps, process)


@dataclass(frozen=True)
class _HashrateDrift:
    sensitivity: SensitivityEstimate
    kappa: float
    hashprice_geomean: float
    fleet_cost_usd_per_ph_day: float
    growth_per_year: float


def _hashrate_drift(
    table: pd.DataFrame,
    series: EpochSeries,
    hr: HashrateEstimate,
    *,
    asof: dt.date,
    window_start: pd.Timestamp,
    profitability_window_days: int,
    fleet_cost_usd_per_ph_day: float | None,
    notes: list[str],
) -> _HashrateDrift:
    """Profitability sensitivity, fleet cost and the growth left once profitability is out."""
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
    return _HashrateDrift(sens, kappa, hp_geomean, fleet_cost, growth)


def _fee_per_block_window(
    frame: pd.DataFrame, *, asof: dt.date, fee_window_days: int, notes: list[str]
) -> pd.Series:
    """Fees per block over the fee window, or the latest year with fees when it has a gap."""
    fee_start = pd.Timestamp(asof) - pd.Timedelta(days=fee_window_days)
    with np.errstate(invalid="ignore", divide="ignore"):
        fee_per_block = (frame["fees_btc"] / frame["block_count"]).dropna()
    fee_per_block = fee_per_block[fee_per_block > 0]
    if (fee_per_block.index >= fee_start).sum() >= MIN_FEE_DAYS:
        return fee_per_block.loc[fee_start:]
    # A gap in the fee data: use the latest year that has fees, and say so.
    fee_per_block = fee_per_block.tail(fee_window_days)
    if len(fee_per_block):
        notes.append(
            f"fewer than {MIN_FEE_DAYS} days of fees in the window: fee process from "
            f"{fee_per_block.index[0].date()} to {fee_per_block.index[-1].date()}"
        )
    return fee_per_block


def _network_state(
    epochs: EpochTable,
    frame: pd.DataFrame,
    table: pd.DataFrame,
    *,
    asof: dt.date,
    price_usd: float,
    fees: FeeEstimate,
    notes: list[str],
) -> tuple[NetworkState, StateEstimate]:
    """The network state on ``asof``: height and difficulty from the epochs, hashrate implied."""
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
        price_usd=price_usd,
        hashrate_ths=hashrate_ths,
        difficulty=st.difficulty,
        height=st.height,
        epoch_elapsed_s=st.epoch_elapsed_s,
        fee_btc_per_block=fees.last_btc_per_block,
        fixing_btc_per_ph_day=_fixing_btc(table, asof),
    )
    return state, st


def _estimate_fields(
    fit: _PriceFit,
    hr: HashrateEstimate,
    drift: _HashrateDrift,
    fees: FeeEstimate,
    st: StateEstimate,
) -> dict[str, Any]:
    """The report's fields taken from the estimates (price, hashrate, fees, height)."""
    jumps = fit.jumps
    return {
        "price_returns": fit.returns,
        "vol_full_per_year": fit.vol_full_per_year,
        "vol_ewma_per_year": fit.vol_ewma_per_year,
        "vol_used_per_year": fit.vol_used_per_year,
        "jumps_found": jumps.count,
        "jumps_per_year": jumps.jumps_per_year,
        "jump_mean_log": jumps.mean_log,
        "jump_std_log": jumps.std_log,
        "diffusion_vol_per_year": jumps.diffusion_vol_per_year,
        "epochs_used": hr.epochs,
        "hashrate_growth_per_year": hr.growth_per_year,
        "hashrate_vol_per_year": hr.vol_per_year,
        "hashrate_price_correlation": hr.price_correlation,
        "profitability_sensitivity_estimate": drift.sensitivity.kappa,
        "profitability_sensitivity_std_error": drift.sensitivity.std_error,
        "profitability_sensitivity_used": drift.kappa,
        "profitability_samples": drift.sensitivity.samples,
        "hashprice_geomean_usd_per_ph_day": drift.hashprice_geomean,
        "fleet_cost_usd_per_ph_day": drift.fleet_cost_usd_per_ph_day,
        "fee_days": fees.days,
        "fee_mean_btc_per_block": math.exp(fees.params.mean_log_btc),
        "fee_reversion_per_year": fees.params.reversion_per_year,
        "fee_vol_per_year": fees.params.vol_per_year,
        "height_estimated_from_epoch": st.from_epoch,
        "block_count_days_known": st.days_known,
        "block_count_days_filled": st.days_filled,
        "difficulty_source": st.difficulty_source,
    }
