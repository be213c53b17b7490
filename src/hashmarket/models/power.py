"""A mean-reverting log model of a region's power price, and its correlation to hashprice.

A region's daily power price is a flow good like the GPU-hour — electricity is not stored at
scale, so it is pulled back to what generation costs — and it is positive and skewed, so the
model is Ornstein–Uhlenbeck on the *log* price, x = ln P (USD/kWh):

    dx = κ (μ − x) dt + σ dW,      dW · dB = ρ dt

where B drives hashprice. Its closed forms (used by the tests):

    E[x_t]   = μ + (x_0 − μ) e^{−κt}
    Var[x_t] = σ² (1 − e^{−2κt}) / (2κ)
    E[P_t]   = exp(E[x_t] + Var[x_t] / 2)

Simulation uses the exact daily transition. Calibration is the exact discrete regression
``x_{t+1} = a + b x_t + ε`` on consecutive days: ``κ = −ln b / Δ``, ``μ = a / (1 − b)``,
``σ = sd(ε) · √(2κ / (1 − b²))``; ρ is the sample correlation of the residuals ε with the same
days' log changes of the USD hashprice index. On simulated paths, the hashprice's daily log
changes of each path are standardised (over the run's paths and days) and the power shock is
``ρ z + √(1 − ρ²) η`` with η independent — so the scenario engine's hashprice, whatever its
own dynamics (retargets, halvings), carries the estimated correlation into the power paths.

Time is in years of 365 days.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.errors import ModelError
from hashmarket.models.network import NetworkModel
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
DAY_YEARS = 1.0 / DAYS_PER_YEAR_ACT365
MIN_POWER_OBSERVATIONS = 30


def _require(name: str, value: float, ok: bool, problem: str) -> None:
    if not (math.isfinite(value) and ok):
        raise ModelError("model_parameter", name=name, value=value, problem=problem)


@dataclass(frozen=True, slots=True)
class PowerPriceModel:
    """Log-OU power price of one region: long-run mean of the log price μ (ln USD/kWh),
    reversion κ (per year), volatility σ (of the log price, per √year) and the correlation ρ
    of its shocks with the hashprice's daily log changes."""

    region: str
    mean_log_usd_per_kwh: float
    reversion_per_year: float
    vol_per_year: float
    correlation_to_hashprice: float = 0.0

    def __post_init__(self) -> None:
        _require("mean_log_usd_per_kwh", self.mean_log_usd_per_kwh, True, "must be finite")
        _require("reversion_per_year", self.reversion_per_year, self.reversion_per_year > 0, "> 0")
        _require("vol_per_year", self.vol_per_year, self.vol_per_year >= 0, "must be >= 0")
        rho = self.correlation_to_hashprice
        _require("correlation_to_hashprice", rho, -1 <= rho <= 1, "must be in [-1, 1]")

    @property
    def half_life_days(self) -> float:
        return math.log(2.0) / self.reversion_per_year * DAYS_PER_YEAR_ACT365

    @property
    def median_usd_per_kwh(self) -> float:
        """The long-run median price, e^μ."""
        return math.exp(self.mean_log_usd_per_kwh)

    def expected_usd_per_kwh(self, spot_usd_per_kwh: float, years: npt.ArrayLike) -> FloatArray:
        """E[P_t] from the spot (closed form)."""
        t = np.asarray(years, dtype=np.float64)
        kappa, mu = self.reversion_per_year, self.mean_log_usd_per_kwh
        mean = mu + (math.log(spot_usd_per_kwh) - mu) * np.exp(-kappa * t)
        var = self.vol_per_year**2 * (1 - np.exp(-2 * kappa * t)) / (2 * kappa)
        return np.asarray(np.exp(mean + var / 2), dtype=np.float64)

    def simulate(
        self,
        *,
        spot_usd_per_kwh: float,
        shocks: FloatArray,
        rng: np.random.Generator,
    ) -> FloatArray:
        """Prices ``[paths, days + 1]`` (column 0 is the spot) from standardised hashprice
        shocks ``[paths, days]`` (see :func:`hashprice_shocks`)."""
        n_paths, days = shocks.shape
        kappa, mu = self.reversion_per_year, self.mean_log_usd_per_kwh
        decay = math.exp(-kappa * DAY_YEARS)
        step_sd = self.vol_per_year * math.sqrt((1 - decay**2) / (2 * kappa))
        rho = self.correlation_to_hashprice
        own = rng.standard_normal((n_paths, days))
        eps = rho * shocks + math.sqrt(1 - rho**2) * own
        x = np.empty((n_paths, days + 1))
        x[:, 0] = math.log(spot_usd_per_kwh)
        for t in range(days):
            x[:, t + 1] = mu + (x[:, t] - mu) * decay + step_sd * eps[:, t]
        prices = np.exp(x)
        prices[:, 0] = spot_usd_per_kwh  # exactly the spot, not exp(log(spot))
        return np.asarray(prices, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "median_usd_per_kwh": self.median_usd_per_kwh,
            "mean_log_usd_per_kwh": self.mean_log_usd_per_kwh,
            "reversion_per_year": self.reversion_per_year,
            "half_life_days": self.half_life_days,
            "vol_per_year": self.vol_per_year,
            "correlation_to_hashprice": self.correlation_to_hashprice,
        }


def hashprice_shocks(hashprice_usd_per_ph_day: FloatArray) -> FloatArray:
    """Each path's daily log changes of the hashprice ``[paths, days + 1]``, standardised over
    all paths and days: the common factor the power shocks are correlated with."""
    changes = np.diff(np.log(np.asarray(hashprice_usd_per_ph_day, dtype=np.float64)), axis=1)
    centred = changes - changes.mean()
    sd = float(centred.std())
    if not sd > 0:  # one path, or a path without moves: no common factor to follow
        return np.zeros_like(changes)
    return np.asarray(centred / sd, dtype=np.float64)


@dataclass(frozen=True)
class PowerCalibration:
    """A fitted model and what it was fitted on."""

    model: PowerPriceModel
    asof: dt.date
    spot_usd_per_kwh: float
    spot_date: dt.date
    observations: int  # consecutive-day pairs in the regression
    correlation_observations: int  # of them, with a hashprice change on the same day
    first: dt.date
    last: dt.date
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.model.to_dict(),
            "asof": self.asof.isoformat(),
            "spot_usd_per_kwh": self.spot_usd_per_kwh,
            "spot_date": self.spot_date.isoformat(),
            "observations": self.observations,
            "correlation_observations": self.correlation_observations,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "notes": list(self.notes),
        }


def calibrate_power(
    prices: Mapping[dt.date, Decimal | float],
    *,
    region: str,
    hashprice_usd_per_ph_day: Mapping[dt.date, float],
    asof: dt.date,
) -> PowerCalibration:
    """Fit the log-OU model to a region's daily prices on or before ``asof`` (consecutive-day
    pairs only) and its shocks' correlation with the hashprice's log changes."""
    used = {d: float(p) for d, p in prices.items() if d <= asof}
    pairs = sorted(d for d in used if d + dt.timedelta(days=1) in used)
    if len(pairs) < MIN_POWER_OBSERVATIONS:
        raise ModelError(
            "calibration_data",
            asof=asof,
            problem=f"{region} has {len(pairs)} consecutive-day power prices on or before it; "
            f"the power model needs {MIN_POWER_OBSERVATIONS}",
        )
    x0 = np.log([used[d] for d in pairs])
    x1 = np.log([used[d + dt.timedelta(days=1)] for d in pairs])
    b = float(np.cov(x0, x1, ddof=1)[0, 1] / np.var(x0, ddof=1))
    if not 0 < b < 1:
        raise ModelError(
            "calibration_data",
            asof=asof,
            problem=f"{region}'s log power price shows no mean reversion (slope {b:.4f})",
        )
    a = float(x1.mean() - b * x0.mean())
    residuals = x1 - (a + b * x0)
    kappa = -math.log(b) / DAY_YEARS
    sigma = float(residuals.std(ddof=2)) * math.sqrt(2 * kappa / (1 - b * b))
    rho, n_rho = _correlation(pairs, residuals, hashprice_usd_per_ph_day)
    notes = []
    if n_rho < MIN_POWER_OBSERVATIONS:
        notes.append(f"{region}: {n_rho} days with a hashprice change; correlation taken as 0")
        rho = 0.0
    spot_date = max(used)
    model = PowerPriceModel(
        region=region,
        mean_log_usd_per_kwh=a / (1 - b),
        reversion_per_year=kappa,
        vol_per_year=sigma,
        correlation_to_hashprice=rho,
    )
    return PowerCalibration(
        model=model,
        asof=asof,
        spot_usd_per_kwh=used[spot_date],
        spot_date=spot_date,
        observations=len(pairs),
        correlation_observations=n_rho,
        first=min(used),
        last=spot_date,
        notes=tuple(notes),
    )


def _correlation(
    pairs: list[dt.date], residuals: FloatArray, hashprice: Mapping[dt.date, float]
) -> tuple[float, int]:
    """Correlation of the residual of day d → d+1 with the hashprice's log change d → d+1."""
    shocks, changes = [], []
    for day, residual in zip(pairs, residuals, strict=True):
        h0, h1 = hashprice.get(day), hashprice.get(day + dt.timedelta(days=1))
        if h0 is not None and h1 is not None and h0 > 0 and h1 > 0:
            shocks.append(residual)
            changes.append(math.log(h1 / h0))
    if len(shocks) < 3:
        return 0.0, len(shocks)
    return float(np.corrcoef(shocks, changes)[0, 1]), len(shocks)


@dataclass(frozen=True)
class RegionalModel:
    """What regional contracts price on: the network model (hashprice) and a power model per
    region (keyed by region name)."""

    network: NetworkModel
    power: Mapping[str, PowerPriceModel]
