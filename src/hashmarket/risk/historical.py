"""Historical scenarios: blocks of real daily changes, bootstrapped onto today's state.

The daily change table holds, for every day of the window on which BTC/USD and difficulty
are known on that day and the one before, the change of each risk factor *on that date*:
the log return of BTC/USD, the log change of difficulty, the log change of the fee per block
(where fee data exist on both days, 0 elsewhere) and the day's block count (where known).
Because a scenario takes whole dates, the factors move together as they did: a retarget that
followed a price crash comes with it.

A scenario is ``⌈h / block_days⌉`` blocks of ``block_days`` consecutive rows drawn with
replacement (a moving-block bootstrap); with the default ``block_days = h`` every scenario is
one real h-day stretch. The changes are applied to today's state: BTC/USD and the fee per
block compound the historical changes; the network's hashrate grows as difficulty grew on
those dates (difficulty tracks hashrate, two weeks late). Difficulty itself, and so the
timing and size of the next retarget, follow today's epoch: they come from the model's
expected network path from today's state (no shocks, expected block arrivals) — the record
cannot know where today's epoch ends — and blocks arrive at that path's rate scaled by the
scenario's hashrate. Height, subsidy (through any halving) and hashprice (the index formula)
follow. After day h a path is held flat (its later days are never used for P&L: the marks
come from the Monte Carlo fit).

:func:`apply_changes` is the plainer construction stress tests use: every factor, difficulty
included, moves by the given changes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.chain import NetworkHistory, block_subsidy_sats_array
from hashmarket.errors import RiskError
from hashmarket.index import hashprice_btc_per_ph_day
from hashmarket.models import (
    FIELDS,
    GBM,
    BlockArrivals,
    FeeParams,
    NetworkModel,
    NetworkState,
    chunk_blocks,
    simulate_network,
)
from hashmarket.units import BLOCKS_PER_DAY_TARGET, SATS_PER_BTC

FloatArray = npt.NDArray[np.float64]
DEFAULT_WINDOW_DAYS = 4 * 365


@dataclass(frozen=True)
class ChangeTable:
    """Daily factor changes by date (see the module docstring)."""

    dates: pd.DatetimeIndex
    log_price: FloatArray
    log_difficulty: FloatArray
    log_fee: FloatArray
    blocks: FloatArray  # NaN where unknown
    fee_days: int
    block_days: int

    @property
    def start(self) -> dt.date:
        day: dt.date = self.dates[0].date()
        return day

    @property
    def end(self) -> dt.date:
        day: dt.date = self.dates[-1].date()
        return day

    def __len__(self) -> int:
        return len(self.dates)

    def describe(self) -> str:
        return (
            f"{len(self):,} daily changes from {self.start} to {self.end} "
            f"(BTC/USD and difficulty every day; fee per block on {self.fee_days:,} days, "
            f"0 elsewhere; block counts on {self.block_days:,} days, 144 elsewhere)"
        )


def change_table(
    history: NetworkHistory,
    *,
    asof: dt.date,
    window_days: int = DEFAULT_WINDOW_DAYS,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> ChangeTable:
    """The changes of the ``window_days`` days up to ``asof`` (or ``start … end``) that have a
    price and a difficulty on the day and the day before."""
    frame = history.frame.loc[: pd.Timestamp(min(end or asof, asof))]
    price = frame["price_usd"].to_numpy(dtype=np.float64)
    difficulty = frame["difficulty"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        fee = (frame["fees_btc"] / frame["block_count"]).to_numpy(dtype=np.float64)
        log_price = np.diff(np.log(price))
        log_difficulty = np.diff(np.log(difficulty))
        log_fee = np.diff(np.log(np.where(fee > 0, fee, np.nan)))
    dates = pd.DatetimeIndex(frame.index[1:])
    ok = np.isfinite(log_price) & np.isfinite(log_difficulty)
    dates, log_price, log_difficulty = dates[ok], log_price[ok], log_difficulty[ok]
    log_fee = log_fee[ok]
    blocks = frame["block_count"].to_numpy(dtype=np.float64)[1:][ok]
    if len(dates) == 0:
        raise RiskError("risk_history", problem=f"no day with a price and a difficulty by {asof}")
    last = dates[-1]
    first = pd.Timestamp(start) if start is not None else last - pd.Timedelta(days=window_days)
    keep = (dates > first) if start is None else (dates >= first)
    fee_known = np.isfinite(log_fee)
    return ChangeTable(
        dates=dates[keep],
        log_price=log_price[keep],
        log_difficulty=log_difficulty[keep],
        log_fee=np.where(fee_known, log_fee, 0.0)[keep],
        blocks=blocks[keep],
        fee_days=int(fee_known[keep].sum()),
        block_days=int(np.isfinite(blocks[keep]).sum()),
    )


@dataclass(frozen=True)
class HistoricalChunk:
    """Paths built from historical changes: fields ``[paths, days + 1]`` like a ScenarioSet."""

    dates: npt.NDArray[np.datetime64]
    data: dict[str, FloatArray]

    @property
    def n_paths(self) -> int:
        return int(next(iter(self.data.values())).shape[0])


def apply_changes(
    state: NetworkState,
    *,
    log_price: FloatArray,
    log_difficulty: FloatArray,
    log_fee: FloatArray,
    blocks: FloatArray,
    last_day: int,
    log_subsidy: FloatArray | None = None,
) -> HistoricalChunk:
    """Paths ``[paths, last_day + 1]`` from per-day changes ``[paths, h]`` applied to
    ``state`` (module docstring); held flat after day h. ``log_subsidy`` optionally scales
    the consensus subsidy (a stress test's lever)."""
    n, h = log_price.shape
    if last_day < h:
        raise ValueError("last_day must cover the changes")
    cols = last_day + 1

    def path(start: float, log_changes: FloatArray) -> FloatArray:
        out = np.empty((n, cols))
        out[:, 0] = start
        out[:, 1 : h + 1] = start * np.exp(np.cumsum(log_changes, axis=1))
        out[:, h + 1 :] = out[:, h : h + 1]
        return out

    price = path(state.price_usd, log_price)
    difficulty = path(state.difficulty, log_difficulty)
    fee = path(state.fee_btc_per_block, log_fee)
    # Block production relative to the nominal 144 a day (1 where unknown), applied to today's
    # block rate: the history's luck and hashrate-versus-difficulty gap, not its level.
    expected = state.expected_blocks_per_day
    ratio = np.where(np.isfinite(blocks), blocks, BLOCKS_PER_DAY_TARGET) / BLOCKS_PER_DAY_TARGET
    block_count = np.empty((n, cols))
    block_count[:, 0] = expected
    block_count[:, 1 : h + 1] = expected * ratio
    block_count[:, h + 1 :] = block_count[:, h : h + 1]
    height = np.empty((n, cols))
    height[:, 0] = state.height
    height[:, 1 : h + 1] = state.height + np.cumsum(block_count[:, 1 : h + 1], axis=1)
    height[:, h + 1 :] = height[:, h : h + 1]
    # The day's mean subsidy is taken at its last block: exact except on a halving day.
    subsidy = block_subsidy_sats_array(np.floor(height).astype(np.int64)) / SATS_PER_BTC
    subsidy[:, 0] = state.subsidy_btc
    if log_subsidy is not None:
        subsidy[:, 1:] *= path(1.0, log_subsidy)[:, 1:]
    hashrate = state.hashrate_ths * (difficulty / state.difficulty) * (block_count / expected)
    return _chunk(
        state.asof,
        cols,
        fixing_btc=state.fixing_btc_per_ph_day,
        price=price,
        hashrate=hashrate,
        difficulty=difficulty,
        height=height,
        block_count=block_count,
        subsidy=subsidy,
        fee=fee,
    )


def expected_path(model: NetworkModel, state: NetworkState, days: int) -> dict[str, FloatArray]:
    """The model's deterministic network path from ``state``: no shocks (zero volatilities)
    and expected block arrivals; each field ``[days + 1]``."""
    hashrate = model.hashrate
    quiet = NetworkModel(
        price=GBM(drift_per_year=model.price.drift_per_year, vol_per_year=0.0),
        hashrate=type(hashrate)(
            vol_per_year=0.0,
            growth_per_year=hashrate.growth_per_year,
            profitability_sensitivity=hashrate.profitability_sensitivity,
            fleet_cost_usd_per_ph_day=hashrate.fleet_cost_usd_per_ph_day,
            price_correlation=hashrate.price_correlation,
        ),
        fees=FeeParams(
            mean_log_btc=model.fees.mean_log_btc,
            reversion_per_year=model.fees.reversion_per_year,
            vol_per_year=0.0,
        ),
        block_arrivals=BlockArrivals.EXPECTED,
    )
    blocks = chunk_blocks(seed=0, first_path=0, n_paths=1, stream_paths=1)
    out = simulate_network(quiet, state, days=days, blocks=blocks)
    return {name: values[:, 0] for name, values in out.items()}


def bootstrap_paths(
    state: NetworkState,
    expected: dict[str, FloatArray],
    *,
    log_price: FloatArray,
    log_hashrate: FloatArray,
    log_fee: FloatArray,
    last_day: int,
) -> HistoricalChunk:
    """Historical scenario paths ``[paths, last_day + 1]`` (module docstring)."""
    n, h = log_price.shape
    cols = last_day + 1

    def path(start: float, log_changes: FloatArray) -> FloatArray:
        out = np.empty((n, cols))
        out[:, 0] = start
        out[:, 1 : h + 1] = start * np.exp(np.cumsum(log_changes, axis=1))
        out[:, h + 1 :] = out[:, h : h + 1]
        return out

    def flat_after_h(values: FloatArray) -> FloatArray:
        out = np.broadcast_to(values[:cols], (n, cols)).copy()
        out[:, h + 1 :] = out[:, h : h + 1]
        return out

    price = path(state.price_usd, log_price)
    growth = path(1.0, log_hashrate)
    difficulty = flat_after_h(expected["difficulty"])
    hashrate = flat_after_h(expected["hashrate_ths"]) * growth
    block_count = flat_after_h(expected["block_count"]) * growth
    block_count[:, 0] = state.expected_blocks_per_day
    height = np.empty((n, cols))
    height[:, 0] = state.height
    height[:, 1:] = state.height + np.cumsum(block_count[:, 1:], axis=1)
    height[:, h + 1 :] = height[:, h : h + 1]
    subsidy = block_subsidy_sats_array(np.floor(height).astype(np.int64)) / SATS_PER_BTC
    subsidy[:, 0] = state.subsidy_btc
    fee = path(state.fee_btc_per_block, log_fee)
    return _chunk(
        state.asof,
        cols,
        fixing_btc=state.fixing_btc_per_ph_day,
        price=price,
        hashrate=hashrate,
        difficulty=difficulty,
        height=height,
        block_count=block_count,
        subsidy=subsidy,
        fee=fee,
    )


@dataclass(frozen=True)
class Bootstrap:
    """A reproducible historical scenario set."""

    table: ChangeTable
    state: NetworkState
    model: NetworkModel
    horizon_days: int
    last_day: int
    n_paths: int
    block_days: int
    seed: int
    chunk_paths: int = 2048

    def __post_init__(self) -> None:
        if self.block_days < 1:
            raise RiskError("risk_option", name="--block-days", problem="must be at least 1")
        if len(self.table) < self.block_days + 1:
            raise RiskError(
                "risk_history",
                problem=(
                    f"{len(self.table)} daily changes in the window, fewer than one block "
                    f"of {self.block_days} days"
                ),
            )

    def describe(self) -> str:
        blocks = math.ceil(self.horizon_days / self.block_days)
        return (
            f"{self.table.describe()}; {self.n_paths:,} scenarios of {blocks} block(s) of "
            f"{self.block_days} consecutive days, drawn with replacement (seed {self.seed}); "
            "difficulty and the next retarget from today's epoch"
        )

    def chunks(self) -> Iterator[HistoricalChunk]:
        """The scenarios in chunks; the same seed gives the same scenarios."""
        rng = np.random.default_rng(self.seed)
        h, size = self.horizon_days, self.block_days
        blocks = math.ceil(h / size)
        rows = len(self.table)
        starts_all = rng.integers(0, rows - size + 1, size=(self.n_paths, blocks))
        offsets = np.arange(size)
        t = self.table
        expected = expected_path(self.model, self.state, self.last_day)
        for first in range(0, self.n_paths, self.chunk_paths):
            starts = starts_all[first : first + self.chunk_paths]
            index = (starts[:, :, None] + offsets[None, None, :]).reshape(len(starts), -1)[:, :h]
            yield bootstrap_paths(
                self.state,
                expected,
                log_price=t.log_price[index],
                log_hashrate=t.log_difficulty[index],
                log_fee=t.log_fee[index],
                last_day=self.last_day,
            )


def describe_window(table: ChangeTable) -> dict[str, Any]:
    return {
        "start": table.start.isoformat(),
        "end": table.end.isoformat(),
        "days": len(table),
        "fee_days": table.fee_days,
        "block_count_days": table.block_days,
    }


def _chunk(
    asof: dt.date,
    cols: int,
    *,
    price: FloatArray,
    hashrate: FloatArray,
    difficulty: FloatArray,
    height: FloatArray,
    block_count: FloatArray,
    subsidy: FloatArray,
    fee: FloatArray,
    fixing_btc: float | None = None,
) -> HistoricalChunk:
    """A chunk of scenario fields from its paths, the hashprice by the index's own formula;
    day 0 reports the as-of day's fixing where known, as the Monte Carlo paths do (it differs
    from the state's value when a retarget fell within the day)."""
    hp_btc = hashprice_btc_per_ph_day(
        difficulty=difficulty, subsidy_btc=subsidy, fee_btc_per_block=fee
    )
    if fixing_btc is not None:
        hp_btc[:, 0] = fixing_btc
    data = {
        "price_usd": price,
        "hashrate_ths": hashrate,
        "difficulty": difficulty,
        "height": height,
        "block_count": block_count,
        "subsidy_btc": subsidy,
        "fee_btc_per_block": fee,
        "hashprice_btc_per_ph_day": hp_btc,
        "hashprice_usd_per_ph_day": hp_btc * price,
    }
    assert set(data) == set(FIELDS)
    dates = np.datetime64(asof, "D") + np.arange(cols)
    return HistoricalChunk(dates=dates, data=data)
