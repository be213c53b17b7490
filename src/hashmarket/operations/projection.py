"""A deterministic projection of hashprice: difficulty growth, the halvings, price drift.

Naive mining calculators hold today's hashprice flat; payback then looks years shorter than it
is. This projection is the simplest path that does not make that mistake: difficulty grows at
a steady monthly rate, blocks arrive at ``blocks_per_day`` (144 at the 600 s target), each day's
subsidy is the consensus subsidy of its blocks — so the halving at height 1,050,000 (and any
later one) arrives on its block height, not on a date — fees per block and the BTC price follow
fixed assumptions. It is a what-if, not a forecast: for distributions use the stochastic
network model (``hashmarket.models.Scenarios``), which ``payback_on_scenarios`` accepts.

Difficulty is projected as a smooth curve, ``D₀ · (1 + g)^(t / 30.4375 days)``, not in 2016-block
steps: for a payback horizon of months to years the steps average out.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hashmarket.chain import HALVING_INTERVAL_BLOCKS, block_subsidy_sats_array
from hashmarket.errors import UsageError
from hashmarket.index import hashprice_btc_per_ph_day
from hashmarket.units import (
    BLOCKS_PER_DAY_TARGET,
    DAYS_PER_JULIAN_MONTH,
    DAYS_PER_JULIAN_YEAR,
    SATS_PER_BTC,
)

if TYPE_CHECKING:
    from hashmarket.models import NetworkState


@dataclass(frozen=True, slots=True)
class Projection:
    """The known state at the end of day ``asof`` and the assumptions carried forward."""

    asof: dt.date
    height: int
    difficulty: float
    price_usd: float
    fee_btc_per_block: float
    difficulty_growth_per_month: float = 0.0  # fraction: 0.03 is +3 % a month, compounded
    price_growth_per_year: float = 0.0
    power_price_growth_per_year: float = 0.0
    blocks_per_day: float = BLOCKS_PER_DAY_TARGET

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, problem: str) -> None:
            value = getattr(self, name)
            if not ok:
                raise UsageError("bad_option", option=name, problem=f"{problem}, got {value!r}")

        check("height", self.height >= 0, "must be >= 0")
        check("difficulty", math.isfinite(self.difficulty) and self.difficulty > 0, "must be > 0")
        check("price_usd", math.isfinite(self.price_usd) and self.price_usd > 0, "must be > 0")
        check("fee_btc_per_block", self.fee_btc_per_block >= 0, "must be >= 0")
        for name in (
            "difficulty_growth_per_month",
            "price_growth_per_year",
            "power_price_growth_per_year",
        ):
            value = getattr(self, name)
            check(name, math.isfinite(value) and value > -1, "must be a fraction above -1")
        check("blocks_per_day", 0 < self.blocks_per_day <= 6 * 86_400, "must be > 0")

    @classmethod
    def from_state(
        cls,
        state: NetworkState,
        *,
        difficulty_growth_per_month: float = 0.0,
        price_growth_per_year: float = 0.0,
        power_price_growth_per_year: float = 0.0,
        blocks_per_day: float = BLOCKS_PER_DAY_TARGET,
    ) -> Projection:
        """Start from a calibrated network state (``hashmarket.models.calibrate(…).state``)."""
        return cls(
            asof=state.asof,
            height=state.height,
            difficulty=state.difficulty,
            price_usd=state.price_usd,
            fee_btc_per_block=state.fee_btc_per_block,
            difficulty_growth_per_month=difficulty_growth_per_month,
            price_growth_per_year=price_growth_per_year,
            power_price_growth_per_year=power_price_growth_per_year,
            blocks_per_day=blocks_per_day,
        )


def monthly_growth_from_log_rate(log_growth_per_year: float) -> float:
    """A continuously compounded yearly rate as the equivalent monthly fraction."""
    return math.exp(log_growth_per_year / 12.0) - 1.0


def mean_subsidy_btc(first_height: np.ndarray, last_height: np.ndarray) -> np.ndarray:
    """Mean consensus subsidy of the blocks ``first..last`` (inclusive) of each day.

    A day holds fewer than 210,000 blocks, so it spans at most one halving.
    """
    lo = np.asarray(first_height, dtype=np.int64)
    hi = np.asarray(last_height, dtype=np.int64)
    count = hi - lo + 1
    boundary = (lo // HALVING_INTERVAL_BLOCKS + 1) * HALVING_INTERVAL_BLOCKS
    before = np.clip(boundary - lo, 0, count)
    sats = before * block_subsidy_sats_array(lo) + (count - before) * block_subsidy_sats_array(hi)
    subsidy_btc: np.ndarray = sats / count / SATS_PER_BTC
    return subsidy_btc


def project(projection: Projection, *, days: int) -> pd.DataFrame:
    """Days ``asof + 1 … asof + days``: height at the day's end, mean subsidy, difficulty,
    BTC price, hashprice (BTC and USD per PH/s per day) and the power-price factor."""
    if days <= 0:
        raise UsageError("bad_option", option="days", problem=f"must be > 0, got {days}")
    p = projection
    t = np.arange(1, days + 1, dtype=np.float64)
    # Whole blocks: the day's last block is the rounded cumulative count.
    end_height = p.height + np.round(p.blocks_per_day * t).astype(np.int64)
    start_height = np.concatenate(([p.height], end_height[:-1])) + 1
    empty = end_height < start_height  # fewer than one block a day: carry the last subsidy
    subsidy = mean_subsidy_btc(start_height, np.maximum(end_height, start_height))
    subsidy = np.where(empty, block_subsidy_sats_array(end_height) / SATS_PER_BTC, subsidy)
    difficulty = p.difficulty * (1.0 + p.difficulty_growth_per_month) ** (t / DAYS_PER_JULIAN_MONTH)
    years = t / DAYS_PER_JULIAN_YEAR
    price = p.price_usd * (1.0 + p.price_growth_per_year) ** years
    power_price_factor = (1.0 + p.power_price_growth_per_year) ** years
    btc = hashprice_btc_per_ph_day(
        difficulty=difficulty, subsidy_btc=subsidy, fee_btc_per_block=p.fee_btc_per_block
    )
    index = pd.date_range(p.asof + dt.timedelta(days=1), periods=days, freq="D", name="date")
    return pd.DataFrame(
        {
            "height": end_height,
            "subsidy_btc": subsidy,
            "difficulty": difficulty,
            "price_usd": price,
            "hashprice_btc_per_ph_day": btc,
            "hashprice_usd_per_ph_day": btc * price,
            "power_price_factor": power_price_factor,
        },
        index=index,
    )
