"""BTC/USD price processes: geometric Brownian motion and Merton's jump-diffusion.

Both are written as ``dS/S = μ dt + σ dW + (J − 1) dN − λ k dt`` with ``k = E[J − 1]``, so
``drift_per_year`` (μ) is always the *total* expected rate of return: ``E[S_t] = S_0 e^{μ t}``
whether or not the model jumps. That makes the risk-neutral version of either model the same
one-line change (μ = r_usd − r_btc), and it is what the Monte Carlo engine relies on.

Time is in years of 365 days: BTC trades every day, so a day is 1/365 of a year and annual
volatilities are daily ones times √365.

The models do not draw random numbers themselves: they turn standard normals and jump draws
handed to them into log-returns. The scenario generator owns the random streams (one per
block of paths), which is what makes results independent of the chunk size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from hashmarket.errors import ModelError

FloatArray = npt.NDArray[np.float64]


def _check(name: str, value: float, *, positive: bool = False, allow_zero: bool = True) -> None:
    if not math.isfinite(value):
        raise ModelError("model_parameter", name=name, value=value, problem="must be finite")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        problem = "must be positive" if not allow_zero else "must not be negative"
        raise ModelError("model_parameter", name=name, value=value, problem=problem)


class PriceModel(Protocol):
    """What the network model needs from a price process."""

    @property
    def drift_per_year(self) -> float: ...

    @property
    def vol_per_year(self) -> float: ...

    @property
    def has_jumps(self) -> bool: ...

    def with_drift(self, drift_per_year: float) -> PriceModel: ...

    def with_vol(self, vol_per_year: float) -> PriceModel: ...

    def log_drift_per_year(self) -> float:
        """μ − σ²/2 − λk: the deterministic part of d(log S) per year."""
        ...

    def jump_log_returns(
        self, rng: np.random.Generator, n: int, dt_years: float, *, antithetic: bool
    ) -> FloatArray | None:
        """Sum of log jump sizes over ``dt_years`` for ``n`` paths (``None`` if no jumps)."""
        ...


@dataclass(frozen=True, slots=True)
class GBM:
    """Geometric Brownian motion: ``dS/S = μ dt + σ dW``."""

    drift_per_year: float
    vol_per_year: float

    def __post_init__(self) -> None:
        _check("drift_per_year", self.drift_per_year)
        _check("vol_per_year", self.vol_per_year, positive=True)

    @property
    def has_jumps(self) -> bool:
        return False

    def with_drift(self, drift_per_year: float) -> GBM:
        return replace(self, drift_per_year=drift_per_year)

    def with_vol(self, vol_per_year: float) -> GBM:
        return replace(self, vol_per_year=vol_per_year)

    def log_drift_per_year(self) -> float:
        return self.drift_per_year - 0.5 * self.vol_per_year**2

    def jump_log_returns(
        self, rng: np.random.Generator, n: int, dt_years: float, *, antithetic: bool
    ) -> FloatArray | None:
        return None


@dataclass(frozen=True, slots=True)
class MertonJumpDiffusion:
    """Merton (1976): GBM plus Poisson jumps whose log sizes are normal.

    ``jumps_per_year`` is the intensity λ; a jump multiplies the price by ``exp(Y)`` with
    ``Y ~ N(jump_mean_log, jump_std_log²)``. ``vol_per_year`` is the diffusion part only.
    """

    drift_per_year: float
    vol_per_year: float
    jumps_per_year: float
    jump_mean_log: float
    jump_std_log: float

    def __post_init__(self) -> None:
        _check("drift_per_year", self.drift_per_year)
        _check("vol_per_year", self.vol_per_year, positive=True)
        _check("jumps_per_year", self.jumps_per_year, positive=True)
        _check("jump_mean_log", self.jump_mean_log)
        _check("jump_std_log", self.jump_std_log, positive=True)

    @property
    def has_jumps(self) -> bool:
        return self.jumps_per_year > 0

    @property
    def mean_jump_return(self) -> float:
        """k = E[e^Y − 1], the compensator that keeps μ the total expected return."""
        return math.exp(self.jump_mean_log + 0.5 * self.jump_std_log**2) - 1.0

    @property
    def total_vol_per_year(self) -> float:
        """Volatility of log-returns including jumps: √(σ² + λ(m² + s²))."""
        jump_var = self.jumps_per_year * (self.jump_mean_log**2 + self.jump_std_log**2)
        return math.sqrt(self.vol_per_year**2 + jump_var)

    def with_drift(self, drift_per_year: float) -> MertonJumpDiffusion:
        return replace(self, drift_per_year=drift_per_year)

    def with_vol(self, vol_per_year: float) -> MertonJumpDiffusion:
        return replace(self, vol_per_year=vol_per_year)

    def log_drift_per_year(self) -> float:
        return (
            self.drift_per_year
            - 0.5 * self.vol_per_year**2
            - self.jumps_per_year * self.mean_jump_return
        )

    def jump_log_returns(
        self, rng: np.random.Generator, n: int, dt_years: float, *, antithetic: bool
    ) -> FloatArray | None:
        """Compound jumps: N ~ Poisson(λ dt), sum of N normal log sizes = N·m + s·√N·ε.

        Antithetic pairs share the jump count and mirror ε, so the pair's mean keeps the
        jump distribution's mean exactly.
        """
        if not self.has_jumps:
            return None
        half = n // 2 if antithetic else n
        counts = rng.poisson(self.jumps_per_year * dt_years, size=half).astype(np.float64)
        eps = rng.standard_normal(half)
        spread = self.jump_std_log * np.sqrt(counts) * eps
        base = counts * self.jump_mean_log
        if not antithetic:
            return base + spread
        return np.concatenate([base + spread, base - spread])
