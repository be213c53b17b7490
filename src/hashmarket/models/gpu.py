"""A mean-reverting model of the GPU-hour price, calibrated to index fixings.

GPU-hours are a flow good — an unused hour perishes, there is no storage to carry — so the
price has no reason to drift like an asset's; it is pulled back towards what new capacity
costs. The simplest process with that shape is Ornstein–Uhlenbeck on the price itself:

    dP = κ (θ − P) dt + σ dW

with the closed forms this package prices and tests against:

    E[P_t]   = θ + (P_0 − θ) e^{−κt}
    Var[P_t] = σ² (1 − e^{−2κt}) / (2κ)

Simulation uses the exact transition (no discretisation error at any step size). Calibration
is the exact discrete-time regression ``P_{t+Δ} = a + b P_t + ε``: ``κ = −ln b / Δ``,
``θ = a / (1 − b)``, ``σ = sd(ε) · √(2κ / (1 − b²))``. The price can in principle cross zero;
at the levels and volatilities GPU-hours trade at that is far in the tail, and the arithmetic
process keeps the forward linear in the spot, which is what a forward on the index needs.

Time is in years of 365 days (GPUs rent every day).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from hashmarket.errors import ModelError
from hashmarket.units import DAYS_PER_YEAR_ACT365

if TYPE_CHECKING:
    from hashmarket.index import GpuFixing

FloatArray = npt.NDArray[np.float64]
MIN_OBSERVATIONS = 10


def _require(name: str, value: float, ok: bool, problem: str) -> None:
    if not (math.isfinite(value) and ok):
        raise ModelError("model_parameter", name=name, value=value, problem=problem)


@dataclass(frozen=True, slots=True)
class GpuPriceModel:
    """Ornstein–Uhlenbeck GPU-hour price: long-run mean θ (USD per GPU-hour), reversion
    speed κ (per year; the half-life is ln 2 / κ years) and volatility σ (USD per GPU-hour
    per √year)."""

    mean_usd_per_gpu_hour: float
    reversion_per_year: float
    vol_usd_per_year: float

    def __post_init__(self) -> None:
        _require("mean_usd_per_gpu_hour", self.mean_usd_per_gpu_hour, True, "must be finite")
        _require("reversion_per_year", self.reversion_per_year, self.reversion_per_year > 0, "> 0")
        _require("vol_usd_per_year", self.vol_usd_per_year, self.vol_usd_per_year >= 0, ">= 0")

    @property
    def half_life_days(self) -> float:
        return math.log(2.0) / self.reversion_per_year * DAYS_PER_YEAR_ACT365

    def expected_price(self, spot_usd_per_gpu_hour: float, years: npt.ArrayLike) -> FloatArray:
        """E[P_t | P_0] = θ + (P_0 − θ) e^{−κt}."""
        t = np.asarray(years, dtype=np.float64)
        theta = self.mean_usd_per_gpu_hour
        return theta + (spot_usd_per_gpu_hour - theta) * np.exp(-self.reversion_per_year * t)

    def variance(self, years: npt.ArrayLike) -> FloatArray:
        """Var[P_t | P_0] = σ² (1 − e^{−2κt}) / (2κ)."""
        t = np.asarray(years, dtype=np.float64)
        k = self.reversion_per_year
        return self.vol_usd_per_year**2 * (1.0 - np.exp(-2.0 * k * t)) / (2.0 * k)

    def spot_sensitivity(self, years: npt.ArrayLike) -> FloatArray:
        """∂E[P_t]/∂P_0 = e^{−κt}, which is also every path's ∂P_t/∂P_0."""
        return np.exp(-self.reversion_per_year * np.asarray(years, dtype=np.float64))

    def simulate(
        self,
        spot_usd_per_gpu_hour: float,
        *,
        days: int,
        n_paths: int,
        rng: np.random.Generator,
        antithetic: bool = False,
        shocks: FloatArray | None = None,
    ) -> FloatArray:
        """Daily prices ``[paths, days + 1]``; column 0 is the spot. With ``antithetic`` the
        second half of the paths uses the negated shocks of the first (``n_paths`` even).
        ``shocks`` (standard normal, ``[paths, days]``) replaces the draws from ``rng``: a
        caller that correlates the GPU price with other factors builds them."""
        if days < 0 or n_paths <= 0:
            raise ModelError(
                "model_parameter", name="days/n_paths", value=(days, n_paths), problem="> 0"
            )
        if antithetic and n_paths % 2:
            raise ModelError(
                "model_parameter", name="n_paths", value=n_paths, problem="even with antithetic"
            )
        dt_years = 1.0 / DAYS_PER_YEAR_ACT365
        decay = math.exp(-self.reversion_per_year * dt_years)
        step_sd = math.sqrt(float(self.variance(dt_years)))
        theta = self.mean_usd_per_gpu_hour
        if shocks is None:
            drawn = n_paths // 2 if antithetic else n_paths
            shocks = rng.standard_normal((drawn, days))
            if antithetic:
                shocks = np.concatenate([shocks, -shocks])
        elif shocks.shape != (n_paths, days):
            raise ModelError(
                "model_parameter", name="shocks", value=shocks.shape, problem="[paths, days]"
            )
        out = np.empty((n_paths, days + 1))
        out[:, 0] = spot_usd_per_gpu_hour
        for d in range(days):
            out[:, d + 1] = theta + (out[:, d] - theta) * decay + step_sd * shocks[:, d]
        return out


@dataclass(frozen=True, slots=True)
class GpuCalibration:
    """The fitted model and what it was fitted on."""

    model: GpuPriceModel
    observations: int
    step_days: float
    ar_coefficient: float  # b: e^{−κΔ}
    residual_sd_usd: float


def calibrate_gpu(
    prices_usd_per_gpu_hour: npt.ArrayLike, *, step_days: float = 1.0
) -> GpuCalibration:
    """Fit the OU model to equally spaced prices (e.g. daily GPU-hour index fixings).

    Refuses fewer than 10 prices, or a series that shows no mean reversion (b ≥ 1: a random
    walk or a trend — the model would have no long-run mean to revert to).
    """
    p = np.asarray(prices_usd_per_gpu_hour, dtype=np.float64)
    if p.ndim != 1 or len(p) < MIN_OBSERVATIONS or not np.isfinite(p).all():
        raise ModelError(
            "calibration_data",
            asof="the last fixing",
            problem=f"need at least {MIN_OBSERVATIONS} finite prices, got {p.size}",
        )
    x, y = p[:-1], p[1:]
    x_mean, y_mean = x.mean(), y.mean()
    sxx = float(((x - x_mean) ** 2).sum())
    if sxx == 0.0:
        raise ModelError("calibration_data", asof="the last fixing", problem="prices never move")
    b = float(((x - x_mean) * (y - y_mean)).sum() / sxx)
    a = float(y_mean - b * x_mean)
    if not 0.0 < b < 1.0:
        raise ModelError(
            "calibration_data",
            asof="the last fixing",
            problem=f"no mean reversion in the prices (AR(1) coefficient {b:.4f})",
        )
    residuals = y - (a + b * x)
    residual_sd = float(residuals.std(ddof=2))
    step_years = step_days / DAYS_PER_YEAR_ACT365
    kappa = -math.log(b) / step_years
    theta = a / (1.0 - b)
    sigma = residual_sd * math.sqrt(2.0 * kappa / (1.0 - b * b))
    return GpuCalibration(
        model=GpuPriceModel(
            mean_usd_per_gpu_hour=theta, reversion_per_year=kappa, vol_usd_per_year=sigma
        ),
        observations=len(p),
        step_days=step_days,
        ar_coefficient=b,
        residual_sd_usd=residual_sd,
    )


def calibrate_gpu_fixings(
    fixings: Sequence[GpuFixing], *, gpu_model: str, term: str = "on-demand"
) -> GpuCalibration:
    """Fit the model to the daily GPU-hour index fixings of one model and term (the index's
    own output, so the model is calibrated to the quotes through the published method).
    The fixings must be daily and cover consecutive days."""
    chosen = sorted(
        (f for f in fixings if f.gpu_model == gpu_model and f.term == term),
        key=lambda f: f.period_start,
    )
    if any(f.period_start != f.period_end for f in chosen):
        raise ModelError(
            "calibration_data", asof="the last fixing", problem="the fixings are not daily"
        )
    days = [f.period_start for f in chosen]
    gaps = [b for a, b in itertools.pairwise(days) if (b - a).days != 1]
    if gaps:
        raise ModelError(
            "calibration_data",
            asof=days[-1],
            problem=f"the {gpu_model} {term} fixings skip days before {gaps[0]}",
        )
    return calibrate_gpu([float(f.value) for f in chosen])
