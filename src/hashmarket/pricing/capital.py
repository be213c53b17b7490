"""Capital budgeting on scenario paths: NPV, IRR and the value of choosing when to invest.

Cash flows are yearly: column ``y`` of a ``[paths, years + 1]`` array is paid at the end of
year ``y`` (column 0 today), discounted at ``(1 + r)^−y`` with ``r`` a yearly rate.

* :func:`npv` — ``Σ_y CF_y (1 + r)^−y`` per path.
* :func:`irr` — the rate at which the NPV is zero, found by Brent's method on the bracket
  (−99 %, 1000 %) where the NPV changes sign; NaN where it does not (no IRR, e.g. every
  cash flow negative).
* :func:`optimal_stopping` — a decision that can be taken once, at one of several dates, or
  never (the real option to invest later): least-squares Monte Carlo (Longstaff–Schwartz).
  At each date, backwards, both the value of acting now and the value of waiting (what the
  policy from the next date realises on the path) are regressed on the state observed at
  that date; a path acts where the fitted value of acting beats the fitted value of waiting
  and zero. Today's state is the same on every path, so today's decision compares the means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

IRR_LOW = -0.99
IRR_HIGH = 10.0


def discount_factors(rate_per_year: float, years: int) -> FloatArray:
    """``(1 + r)^−y`` for y = 0 … years."""
    if not rate_per_year > -1.0:
        raise ValueError(f"discount rate {rate_per_year} must be > -1")
    return np.asarray((1.0 + rate_per_year) ** -np.arange(years + 1, dtype=np.float64))


def npv(cashflows_usd: npt.ArrayLike, rate_per_year: float) -> FloatArray:
    """NPV of yearly cash flows (last axis: year 0 … n) at ``rate_per_year``."""
    cf = np.asarray(cashflows_usd, dtype=np.float64)
    return np.asarray(cf @ discount_factors(rate_per_year, cf.shape[-1] - 1), dtype=np.float64)


def _irr_one(cf: FloatArray) -> float:
    def f(rate: float) -> float:
        return float(npv(cf, rate))

    lo, hi = f(IRR_LOW), f(IRR_HIGH)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo * hi > 0:
        return math.nan
    return float(brentq(f, IRR_LOW, IRR_HIGH, xtol=1e-12, rtol=1e-12))


def irr(cashflows_usd: npt.ArrayLike) -> FloatArray:
    """IRR per path of yearly cash flows (last axis: year 0 … n); NaN where none exists."""
    cf = np.atleast_2d(np.asarray(cashflows_usd, dtype=np.float64))
    out = np.array([_irr_one(row) for row in cf])
    return out.reshape(np.shape(cashflows_usd)[:-1])


def _fit(state: FloatArray, target: FloatArray) -> FloatArray:
    """Least-squares fit of ``target`` on a quadratic in the standardised ``state`` columns."""
    z = (state - state.mean(axis=0)) / np.where(state.std(axis=0) > 0, state.std(axis=0), 1.0)
    columns = [np.ones(len(z))]
    for i in range(z.shape[1]):
        columns.append(z[:, i])
        columns.extend(z[:, i] * z[:, j] for j in range(i, z.shape[1]))
    basis = np.column_stack(columns)
    coef, *_ = np.linalg.lstsq(basis, target, rcond=None)
    return np.asarray(basis @ coef, dtype=np.float64)


@dataclass(frozen=True)
class StoppingResult:
    """The option to act once at one of the dates or never, valued today."""

    value_usd: float  # the option: mean of what the policy realises (≥ act-now and ≥ 0)
    act_now_usd: float  # mean value of acting today
    act_at: IntArray  # per path, the date index acted at (−1: never)

    @property
    def now_or_never_usd(self) -> float:
        return max(self.act_now_usd, 0.0)

    @property
    def waiting_usd(self) -> float:
        """What the freedom to wait adds to deciding today (act now or never): ≥ 0."""
        return self.value_usd - self.now_or_never_usd


def optimal_stopping(payoffs_usd: FloatArray, states: FloatArray) -> StoppingResult:
    """Least-squares Monte Carlo over dates 0 … K.

    ``payoffs_usd[paths, K + 1]``: the value (discounted to today) of acting at each date on
    each path; ``states[paths, K + 1, s]``: what is known at each date (today's is the same on
    every path). Returns the option value (module docstring).
    """
    n_paths, n_dates = payoffs_usd.shape
    realised = np.zeros(n_paths)  # acting never
    act_at = np.full(n_paths, -1, dtype=np.int64)
    for k in range(n_dates - 1, 0, -1):
        act_fit = _fit(states[:, k], payoffs_usd[:, k])
        wait_fit = _fit(states[:, k], realised)
        act = (act_fit > wait_fit) & (act_fit > 0.0)
        realised = np.where(act, payoffs_usd[:, k], realised)
        act_at = np.where(act, k, act_at)
    act_now = float(payoffs_usd[:, 0].mean())
    wait = float(realised.mean())
    if act_now >= max(wait, 0.0):
        return StoppingResult(act_now, act_now, np.zeros(n_paths, dtype=np.int64))
    if wait <= 0.0:
        return StoppingResult(0.0, act_now, np.full(n_paths, -1, dtype=np.int64))
    return StoppingResult(wait, act_now, act_at)
