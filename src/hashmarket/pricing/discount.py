"""Discounting: a flat continuously compounded rate, or a curve of zero rates.

Time is ACT/365 from the valuation date (BTC and hashprice fix every calendar day).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from hashmarket.errors import ModelError
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]


def year_fraction(start: dt.date, end: dt.date) -> float:
    """ACT/365 fixed."""
    return (end - start).days / DAYS_PER_YEAR_ACT365


class DiscountCurve(Protocol):
    def discount_factor(self, years: npt.ArrayLike) -> FloatArray: ...

    def zero_rate(self, years: float) -> float: ...

    def shifted(self, bp: float) -> DiscountCurve:
        """The curve with every zero rate moved by ``bp`` basis points."""
        ...


@dataclass(frozen=True, slots=True)
class FlatRate:
    """``DF(t) = exp(−r t)``."""

    rate_per_year: float = 0.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.rate_per_year):
            raise ModelError(
                "model_parameter", name="rate_per_year", value=self.rate_per_year, problem="finite"
            )

    def discount_factor(self, years: npt.ArrayLike) -> FloatArray:
        return np.exp(-self.rate_per_year * np.asarray(years, dtype=np.float64))

    def zero_rate(self, years: float) -> float:
        return self.rate_per_year

    def shifted(self, bp: float) -> FlatRate:
        return FlatRate(self.rate_per_year + bp * 1e-4)


@dataclass(frozen=True, slots=True)
class ZeroCurve:
    """Zero rates at pillar times (years), interpolated linearly in r·t (log-linear discount
    factors, i.e. piecewise-flat forward rates) and flat in the rate outside the pillars."""

    times_years: tuple[float, ...]
    zero_rates: tuple[float, ...]

    def __post_init__(self) -> None:
        t = np.asarray(self.times_years, dtype=np.float64)
        r = np.asarray(self.zero_rates, dtype=np.float64)
        if t.ndim != 1 or t.shape != r.shape or len(t) == 0:
            raise ModelError(
                "model_parameter", name="zero_rates", value=len(r), problem="one rate per time"
            )
        if not (np.all(np.diff(t) > 0) and t[0] > 0 and np.isfinite(r).all()):
            raise ModelError(
                "model_parameter",
                name="times_years",
                value=self.times_years,
                problem="must be positive, increasing, with finite rates",
            )

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[float, float]]) -> ZeroCurve:
        times, rates = zip(*sorted(pairs), strict=True)
        return cls(tuple(times), tuple(rates))

    def discount_factor(self, years: npt.ArrayLike) -> FloatArray:
        t = np.asarray(years, dtype=np.float64)
        pillars = np.asarray(self.times_years)
        rt = pillars * np.asarray(self.zero_rates)
        # Linear in r·t between pillars, from (0, 0); flat rate beyond the last pillar.
        inside = np.interp(t, np.concatenate([[0.0], pillars]), np.concatenate([[0.0], rt]))
        beyond = t * self.zero_rates[-1]
        return np.exp(-np.where(t > pillars[-1], beyond, inside))

    def zero_rate(self, years: float) -> float:
        if years <= 0:
            return float(self.zero_rates[0])
        return float(-math.log(float(self.discount_factor(years))) / years)

    def shifted(self, bp: float) -> ZeroCurve:
        return ZeroCurve(self.times_years, tuple(r + bp * 1e-4 for r in self.zero_rates))
