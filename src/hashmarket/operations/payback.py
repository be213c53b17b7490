"""Payback: the days until a fleet's cumulative margin covers its capex, on one path of
hashprices or over the stochastic network model's scenarios (see ``operations/fleet.py``
for the margin)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.errors import UsageError

if TYPE_CHECKING:
    from hashmarket.models import ScenarioSet

from hashmarket.operations.fleet import Costs, Fleet, daily_margin_usd

FloatArray = npt.NDArray[np.float64]


def payback_days(margin_usd: npt.ArrayLike, *, capex_usd: float) -> FloatArray:
    """Days until the cumulative margin first covers ``capex_usd``, along the last axis.

    Day ``k`` (1-based) is the first day after which the cumulative margin is ``>= capex``;
    NaN where it never is within the horizon. Works on days or paths × days.
    """
    margin = np.asarray(margin_usd, dtype=np.float64)
    if capex_usd < 0 or not math.isfinite(capex_usd):
        raise UsageError("bad_option", option="capex_usd", problem="must be >= 0")
    cumulative = np.cumsum(margin, axis=-1)
    reached = cumulative >= capex_usd
    first = np.argmax(reached, axis=-1).astype(np.float64) + 1.0
    return np.where(reached.any(axis=-1), first, np.nan)


@dataclass(frozen=True)
class Payback:
    """Payback of a capital outlay from a fleet's daily margins."""

    capex_usd: float
    days: float | None  # None: not paid back within the horizon
    paid_back_on: dt.date | None
    horizon_days: int
    margin_over_horizon_usd: float
    margin: pd.DataFrame  # the daily path used

    @property
    def paid_back(self) -> bool:
        return self.days is not None


def payback_on_path(
    fleet: Fleet,
    costs: Costs,
    *,
    capex_usd: float,
    hashprice_usd_per_ph_day: pd.Series,
    power_price_factor: npt.ArrayLike = 1.0,
    curtail: bool = False,
) -> Payback:
    """Payback along one daily hashprice path (index history or a projection)."""
    series = hashprice_usd_per_ph_day.dropna()
    m = daily_margin_usd(
        fleet,
        costs,
        hashprice_usd_per_ph_day=series.to_numpy(dtype=np.float64),
        power_price_factor=power_price_factor,
        curtail=curtail,
    )
    days = float(payback_days(m.margin_usd, capex_usd=capex_usd))
    frame = pd.DataFrame(
        {
            "hashprice_usd_per_ph_day": series.to_numpy(dtype=np.float64),
            "margin_usd": m.margin_usd,
            "cumulative_margin_usd": np.cumsum(m.margin_usd),
            "running": m.running,
        },
        index=series.index,
    )
    paid = not math.isnan(days)
    return Payback(
        capex_usd=capex_usd,
        days=days if paid else None,
        paid_back_on=pd.Timestamp(series.index[int(days) - 1]).date() if paid else None,
        horizon_days=len(series),
        margin_over_horizon_usd=float(m.margin_usd.sum()),
        margin=frame,
    )


@dataclass(frozen=True)
class PaybackDistribution:
    """Payback across scenario paths: one payback day count per path (NaN: not within)."""

    capex_usd: float
    days: FloatArray
    horizon_days: int

    @property
    def probability_paid_back(self) -> float:
        return float(np.mean(~np.isnan(self.days))) if len(self.days) else math.nan

    def quantile_days(self, q: float) -> float:
        """Quantile of the payback time, counting never-paid paths as infinitely late."""
        values = np.where(np.isnan(self.days), np.inf, self.days)
        result = float(np.quantile(values, q, method="inverted_cdf"))
        return math.nan if math.isinf(result) else result


def payback_on_scenarios(
    fleet: Fleet,
    costs: Costs,
    *,
    capex_usd: float,
    scenarios: Iterable[ScenarioSet],
    curtail: bool = False,
) -> PaybackDistribution:
    """Payback per path over ``hashmarket.models`` scenario chunks (``ScenarioSet``s).

    Day 0 of a scenario set is the as-of day (known); the margin is counted from day 1.
    """
    days: list[FloatArray] = []
    horizon = 0
    for chunk in scenarios:
        hashprice = np.asarray(chunk.hashprice_usd_per_ph_day)[:, 1:]
        horizon = hashprice.shape[1]
        m = daily_margin_usd(fleet, costs, hashprice_usd_per_ph_day=hashprice, curtail=curtail)
        days.append(payback_days(m.margin_usd, capex_usd=capex_usd))
    return PaybackDistribution(
        capex_usd=capex_usd,
        days=np.concatenate(days) if days else np.array([]),
        horizon_days=horizon,
    )
