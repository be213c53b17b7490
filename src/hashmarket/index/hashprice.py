"""The hashprice index: what 1 PH/s of hashrate earns per day. See ``docs/methodology.md``.

Two methods:

* ``fpps`` — difficulty-implied, the expected value an FPPS pool pays (Luxor's method):
  ``1e15 · 86400 · (subsidy + mean fee per block) / (difficulty · 2^32)`` BTC per PH/s per day.
* ``realized`` — what the network actually paid that day (block_count × subsidy + fees) per
  PH/s of the hashrate the day's difficulty implies at the 600 s target spacing; it equals
  ``fpps × block_count / 144`` and so carries the day's luck and hashrate growth.

Every function here is pure and vectorized: arrays in, arrays out, NaN where an input is missing.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.chain import RETARGET_INTERVAL_BLOCKS, TARGET_SPACING_S
from hashmarket.units import HASHES_PER_PH, SECONDS_PER_DAY, TWO_POW_32

if TYPE_CHECKING:
    from hashmarket.chain import NetworkHistory

FloatArray = npt.NDArray[np.float64]
ROLLING_WINDOWS_DAYS = (7, 30)


class Method(enum.StrEnum):
    FPPS = "fpps"
    REALIZED = "realized"


def hashprice_btc_per_ph_day(
    *, difficulty: npt.ArrayLike, subsidy_btc: npt.ArrayLike, fee_btc_per_block: npt.ArrayLike
) -> FloatArray:
    """Difficulty-implied (FPPS) hashprice in BTC per PH/s per day."""
    d = np.asarray(difficulty, dtype=np.float64)
    reward = np.asarray(subsidy_btc, dtype=np.float64) + np.asarray(
        fee_btc_per_block, dtype=np.float64
    )
    return HASHES_PER_PH * SECONDS_PER_DAY * reward / (d * TWO_POW_32)


def realized_hashprice_btc_per_ph_day(
    *,
    difficulty: npt.ArrayLike,
    block_count: npt.ArrayLike,
    subsidy_btc: npt.ArrayLike,
    fees_btc: npt.ArrayLike,
) -> FloatArray:
    """BTC the network paid in a day per PH/s of the difficulty-implied hashrate."""
    d = np.asarray(difficulty, dtype=np.float64)
    paid_btc = np.asarray(block_count, dtype=np.float64) * np.asarray(subsidy_btc, dtype=np.float64)
    paid_btc = paid_btc + np.asarray(fees_btc, dtype=np.float64)
    implied_hashrate_phs = d * TWO_POW_32 / TARGET_SPACING_S / HASHES_PER_PH
    return paid_btc / implied_hashrate_phs


def epoch_value_btc_per_ph(*, difficulty: npt.ArrayLike, subsidy_btc: npt.ArrayLike) -> FloatArray:
    """Expected subsidy earned by 1 PH/s over one 2016-block epoch (SynFutures BTCHASH):
    ``subsidy · 1e15 · 2016 · 600 / (difficulty · 2^32)``."""
    d = np.asarray(difficulty, dtype=np.float64)
    seconds = RETARGET_INTERVAL_BLOCKS * TARGET_SPACING_S
    return np.asarray(subsidy_btc, dtype=np.float64) * HASHES_PER_PH * seconds / (d * TWO_POW_32)


def rolling_mean(values: pd.Series, days: int) -> pd.Series:
    """Trailing mean over ``days`` days; missing unless every day of the window has a value."""
    return values.rolling(days, min_periods=days).mean()


def hashprice_table(history: NetworkHistory, *, method: Method = Method.FPPS) -> pd.DataFrame:
    """The daily index over ``history``, in BTC and USD per PH/s per day, with its inputs.

    Days without fee data get the subsidy-only value and ``fees_included = False``; days
    without a difficulty or a subsidy have no value (NaN).
    """
    f = history.frame
    blocks = f["block_count"].to_numpy()
    fees_known = ~np.isnan(f["fees_btc"].to_numpy()) & (blocks > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fee_per_block = np.where(fees_known, f["fees_btc"].to_numpy() / blocks, np.nan)
    if method is Method.FPPS:
        btc = hashprice_btc_per_ph_day(
            difficulty=f["difficulty"],
            subsidy_btc=f["subsidy_btc"],
            fee_btc_per_block=np.where(fees_known, fee_per_block, 0.0),
        )
    else:
        fees_known = ~np.isnan(f["fees_btc"].to_numpy())
        btc = realized_hashprice_btc_per_ph_day(
            difficulty=f["difficulty"],
            block_count=blocks,
            subsidy_btc=f["subsidy_btc"],
            fees_btc=np.where(fees_known, f["fees_btc"].to_numpy(), 0.0),
        )
    table = pd.DataFrame(
        {
            "hashprice_btc_per_ph_day": btc,
            "hashprice_usd_per_ph_day": btc * f["price_usd"].to_numpy(),
            "difficulty": f["difficulty"].to_numpy(),
            "block_count": blocks,
            "subsidy_btc": f["subsidy_btc"].to_numpy(),
            "fees_btc_per_block": fee_per_block,
            "fees_included": fees_known & ~np.isnan(btc),
            "price_usd": f["price_usd"].to_numpy(),
        },
        index=f.index,
    )
    for days in ROLLING_WINDOWS_DAYS:
        for currency in ("btc", "usd"):
            column = f"hashprice_{currency}_per_ph_day"
            table[f"{column}_{days}d"] = rolling_mean(table[column], days)
    table["method"] = method.value
    return table
