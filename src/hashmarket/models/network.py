"""The Bitcoin network model: price, hashrate, blocks, difficulty retargets, halvings, fees.

State variables and their dynamics, one step per UTC day (dt = 1/365 year):

* **Price** (BTC/USD) follows the price model (GBM or Merton), shock ``z_price``.
* **Hashrate** H (TH/s) is log-normal with a drift that responds to miner profitability::

      d ln H = [μ_H + κ · ln(HP_usd / C)] dt + σ_H (ρ dW_price + √(1 − ρ²) dW_H)

  HP_usd is the day's USD hashprice and C the fleet cost (USD per PH/s per day): the network
  grows faster when mining pays more than it costs, and shrinks when it pays less.
* **Blocks** arrive at rate H / (D · 2³²) per second, so a day at difficulty D brings
  λ = H · 86,400 / (D · 2³²) blocks: a Poisson count or, if configured, exactly λ.
* **Difficulty** retargets when the chain reaches the last block of an epoch (height
  ≡ 2015 mod 2016): the new difficulty is D · 1,209,600 s / clamp(span, ¼, 4× two weeks), where
  span is the simulated time the epoch took. A day in which the retarget falls is split at the
  crossing: blocks before it at the old difficulty, the rest of the day at the new one.
* **Subsidy** is the consensus subsidy of each block's height (halvings at multiples of
  210,000), averaged over the day's blocks.
* **Fees** per block follow a mean-reverting log process (Ornstein–Uhlenbeck on ln fee).
* **Hashprice** is the index formula (``index.hashprice``) on the day's difficulty, subsidy and
  fee, time-weighted across a retarget.

Three approximations, all far below a day's resolution:

* Core measures an epoch over 2,015 block intervals (its off-by-one), not 2,016; the model
  scales the simulated switch-to-switch time by 2015/2016 to match.
* In Poisson mode the time within the day at which the k-th of N blocks arrived is taken as
  its conditional mean k / (N + 1) (arrivals are uniform given N); in expected mode it is k/λ.
* At most one retarget per path per day (2,016 blocks in a day would need hashrate 14× the
  difficulty, which the 4× clamp makes unreachable from any consistent state).

Everything is vectorized across paths with masks; the only Python loops are over days and
over blocks of paths (for their random streams). Arrays are float64: heights stay exact
integers in Poisson mode and hashprices keep the index's precision.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from hashmarket.chain import (
    HALVING_INTERVAL_BLOCKS,
    RETARGET_INTERVAL_BLOCKS,
    TARGET_TIMESPAN_S,
    block_subsidy_sats_array,
)
from hashmarket.errors import ModelError
from hashmarket.index import hashprice_btc_per_ph_day
from hashmarket.models.price import GBM, PriceModel
from hashmarket.models.streams import PathBlock, standard_normals
from hashmarket.units import (
    DAYS_PER_YEAR_ACT365,
    HASHES_PER_TH,
    SATS_PER_BTC,
    SECONDS_PER_DAY,
    TWO_POW_32,
)

FloatArray = npt.NDArray[np.float64]

# Daily fields of a simulation, in the order a ScenarioSet lists them. Units are in the names;
# ``difficulty`` is the block-weighted mean over the day's blocks (what Coin Metrics' daily
# "difficulty mean" is) and ``height`` is the chain tip at the end of the day.
FIELDS: tuple[str, ...] = (
    "price_usd",
    "hashrate_ths",
    "difficulty",
    "height",
    "block_count",
    "subsidy_btc",
    "fee_btc_per_block",
    "hashprice_btc_per_ph_day",
    "hashprice_usd_per_ph_day",
)
# Core measures an epoch from its first to its last block: 2015 of the 2016 intervals.
MEASURED_INTERVALS = (RETARGET_INTERVAL_BLOCKS - 1) / RETARGET_INTERVAL_BLOCKS
BLOCKS_PER_DAY_PER_THS_PER_DIFFICULTY = HASHES_PER_TH * SECONDS_PER_DAY / TWO_POW_32


class BlockArrivals(enum.StrEnum):
    """How many blocks a simulated day brings: a Poisson draw, or its expectation λ."""

    POISSON = "poisson"
    EXPECTED = "expected"


def _require(name: str, value: float, ok: bool, problem: str) -> None:
    if not (math.isfinite(value) and ok):
        raise ModelError("model_parameter", name=name, value=value, problem=problem)


@dataclass(frozen=True, slots=True)
class HashrateParams:
    """Hashrate dynamics: ``d ln H = [μ_H + κ ln(HP_usd / C)] dt + σ_H dW``.

    ``growth_per_year`` is μ_H, ``profitability_sensitivity`` κ (per year, per unit of log
    profitability), ``fleet_cost_usd_per_ph_day`` C and ``price_correlation`` ρ (between the
    daily shocks of ln H and ln S).
    """

    vol_per_year: float
    growth_per_year: float
    profitability_sensitivity: float
    fleet_cost_usd_per_ph_day: float
    price_correlation: float

    def __post_init__(self) -> None:
        _require("hashrate.vol_per_year", self.vol_per_year, self.vol_per_year >= 0, ">= 0")
        _require("hashrate.growth_per_year", self.growth_per_year, True, "finite")
        _require(
            "hashrate.profitability_sensitivity",
            self.profitability_sensitivity,
            self.profitability_sensitivity >= 0,
            "must not be negative (hashrate cannot grow when mining loses money)",
        )
        _require(
            "hashrate.fleet_cost_usd_per_ph_day",
            self.fleet_cost_usd_per_ph_day,
            self.fleet_cost_usd_per_ph_day > 0,
            "must be greater than zero",
        )
        _require(
            "hashrate.price_correlation",
            self.price_correlation,
            -1 <= self.price_correlation <= 1,
            "must be between -1 and 1",
        )


@dataclass(frozen=True, slots=True)
class FeeParams:
    """Fees per block: ``d ln f = θ (m − ln f) dt + σ dW`` with m = ``mean_log_btc``."""

    mean_log_btc: float
    reversion_per_year: float
    vol_per_year: float

    def __post_init__(self) -> None:
        _require("fees.mean_log_btc", self.mean_log_btc, True, "finite")
        _require(
            "fees.reversion_per_year", self.reversion_per_year, self.reversion_per_year > 0, "> 0"
        )
        _require("fees.vol_per_year", self.vol_per_year, self.vol_per_year >= 0, ">= 0")

    @property
    def long_run_mean_btc(self) -> float:
        """E[f] in the stationary distribution: exp(m + σ²/(4θ))."""
        return math.exp(self.mean_log_btc + self.vol_per_year**2 / (4 * self.reversion_per_year))


@dataclass(frozen=True, slots=True)
class NetworkModel:
    """Parameters of the joint price–network process (no state: see :class:`NetworkState`).

    The defaults are round illustrative numbers for tests and examples; use
    :func:`hashmarket.models.calibrate` for parameters estimated from the history.
    """

    price: PriceModel = field(default_factory=lambda: GBM(drift_per_year=0.0, vol_per_year=0.5))
    hashrate: HashrateParams = field(
        default_factory=lambda: HashrateParams(
            vol_per_year=0.15,
            growth_per_year=0.0,
            profitability_sensitivity=0.4,
            fleet_cost_usd_per_ph_day=20.0,
            price_correlation=0.3,
        )
    )
    fees: FeeParams = field(
        default_factory=lambda: FeeParams(
            mean_log_btc=math.log(0.02), reversion_per_year=200.0, vol_per_year=4.0
        )
    )
    block_arrivals: BlockArrivals = BlockArrivals.POISSON

    def risk_neutral(self, *, usd_rate: float, btc_rate: float = 0.0) -> NetworkModel:
        """The same model with BTC/USD drifting at r_usd − r_btc (BTC's lending rate plays the
        role of a dividend yield). Hashrate is not traded, so its dynamics stay as they are."""
        return replace(self, price=self.price.with_drift(usd_rate - btc_rate))

    def with_block_arrivals(self, arrivals: BlockArrivals) -> NetworkModel:
        return replace(self, block_arrivals=arrivals)


@dataclass(frozen=True, slots=True)
class NetworkState:
    """The network and the BTC price at the end of UTC day ``asof`` (market data).

    ``height`` is the chain tip; ``difficulty`` applies to the next block; ``epoch_elapsed_s``
    is the time since the current epoch started (since the previous retarget took effect).

    ``fixing_btc_per_ph_day``, when known, is the published index value of day ``asof``
    (``index.fixings``): day 0 of every path reports it instead of the value recomputed from
    the state, which differs when the model's fee state is an estimate (a day without fee
    data) or a retarget or halving fell within the day. Later days follow the model.
    """

    asof: dt.date
    price_usd: float
    hashrate_ths: float
    difficulty: float
    height: int
    epoch_elapsed_s: float
    fee_btc_per_block: float
    fixing_btc_per_ph_day: float | None = None

    def __post_init__(self) -> None:
        for name in ("price_usd", "hashrate_ths", "difficulty"):
            value = getattr(self, name)
            _require(f"state.{name}", value, value > 0, "must be greater than zero")
        _require("state.height", self.height, self.height >= 0, "must not be negative")
        _require("state.epoch_elapsed_s", self.epoch_elapsed_s, self.epoch_elapsed_s >= 0, ">= 0")
        _require(
            "state.fee_btc_per_block", self.fee_btc_per_block, self.fee_btc_per_block > 0, "> 0"
        )
        if self.fixing_btc_per_ph_day is not None:
            fixing = self.fixing_btc_per_ph_day
            _require("state.fixing_btc_per_ph_day", fixing, fixing > 0, "must be greater than zero")

    @property
    def subsidy_btc(self) -> float:
        """Subsidy of the next block."""
        return float(block_subsidy_sats_array(self.height + 1)) / SATS_PER_BTC

    @property
    def hashprice_btc_per_ph_day(self) -> float:
        """Day ``asof``'s hashprice: its fixing where known, else the state's FPPS value."""
        if self.fixing_btc_per_ph_day is not None:
            return self.fixing_btc_per_ph_day
        return float(
            hashprice_btc_per_ph_day(
                difficulty=self.difficulty,
                subsidy_btc=self.subsidy_btc,
                fee_btc_per_block=self.fee_btc_per_block,
            )
        )

    @property
    def hashprice_usd_per_ph_day(self) -> float:
        return self.hashprice_btc_per_ph_day * self.price_usd

    @property
    def expected_blocks_per_day(self) -> float:
        return self.hashrate_ths * BLOCKS_PER_DAY_PER_THS_PER_DIFFICULTY / self.difficulty

    def with_price(self, price_usd: float) -> NetworkState:
        return replace(self, price_usd=price_usd)

    def with_hashrate(self, hashrate_ths: float) -> NetworkState:
        return replace(self, hashrate_ths=hashrate_ths)


def _poisson(blocks: Sequence[PathBlock], lam: FloatArray) -> FloatArray:
    out = np.empty_like(lam)
    for block in blocks:
        out[block.start : block.stop] = block.arrivals.poisson(lam[block.start : block.stop])
    return out


def _poisson_masked(
    blocks: Sequence[PathBlock], lam: FloatArray, mask: npt.NDArray[np.bool_]
) -> FloatArray:
    """Poisson draws where ``mask`` holds (zero elsewhere); each block uses its own stream and
    draws only for its own masked paths, so the draw count depends on the block alone."""
    out = np.zeros_like(lam)
    for block in blocks:
        sub = mask[block.start : block.stop]
        if sub.any():
            seg = out[block.start : block.stop]
            seg[sub] = block.arrivals.poisson(lam[block.start : block.stop][sub])
    return out


def _initial_row(state: NetworkState, n_paths: int) -> dict[str, FloatArray]:
    values = {
        "price_usd": state.price_usd,
        "hashrate_ths": state.hashrate_ths,
        "difficulty": state.difficulty,
        "height": float(state.height),
        "block_count": state.expected_blocks_per_day,
        "subsidy_btc": state.subsidy_btc,
        "fee_btc_per_block": state.fee_btc_per_block,
        "hashprice_btc_per_ph_day": state.hashprice_btc_per_ph_day,
        "hashprice_usd_per_ph_day": state.hashprice_usd_per_ph_day,
    }
    return {name: np.full(n_paths, value) for name, value in values.items()}


def simulate_network(
    model: NetworkModel,
    state: NetworkState,
    *,
    days: int,
    blocks: Sequence[PathBlock],
    antithetic: bool = False,
    fields: Sequence[str] = FIELDS,
    out: dict[str, FloatArray] | None = None,
) -> dict[str, FloatArray]:
    """Simulate ``days`` days after ``state.asof`` for the paths of ``blocks``.

    Returns each requested field as a day-major array ``[days + 1, paths]``; row 0 is the
    state at ``asof`` (the same on every path), row t the end of day ``asof + t``. ``out``
    may supply those arrays (C-contiguous, that shape) to be overwritten.
    """
    unknown = [name for name in fields if name not in FIELDS]
    if unknown:
        raise ValueError(f"unknown fields {unknown}; known: {FIELDS}")
    n = sum(b.size for b in blocks)
    if antithetic and any(b.size % 2 for b in blocks):
        raise ModelError(
            "model_parameter", name="paths", value=n, problem="antithetic blocks need even sizes"
        )
    if out is None:
        out = {name: np.empty((days + 1, n)) for name in fields}
    elif any(out[name].shape != (days + 1, n) for name in fields):
        raise ValueError("output arrays must have shape (days + 1, paths)")
    for name, row in _initial_row(state, n).items():
        if name in out:
            out[name][0] = row
    stepper = _DayStepper(model, state, n, blocks, antithetic)
    for t in range(1, days + 1):
        day = stepper.step()
        for name in fields:
            out[name][t] = day[name]
    return out


class _DayStepper:
    """The mutable per-path state of one chunk, advanced one day at a time."""

    def __init__(
        self,
        model: NetworkModel,
        state: NetworkState,
        n: int,
        blocks: Sequence[PathBlock],
        antithetic: bool,
    ) -> None:
        self.blocks = blocks
        self.antithetic = antithetic
        self.poisson = model.block_arrivals is BlockArrivals.POISSON
        self.n = n
        dt_years = 1.0 / DAYS_PER_YEAR_ACT365
        self.dt_years = dt_years
        self.price_model = model.price
        self.price_drift = model.price.log_drift_per_year() * dt_years
        self.price_scale = model.price.vol_per_year * math.sqrt(dt_years)
        hr = model.hashrate
        self.h_base = hr.growth_per_year * dt_years
        self.h_kappa = hr.profitability_sensitivity * dt_years
        self.h_log_cost = math.log(hr.fleet_cost_usd_per_ph_day)
        self.h_scale = hr.vol_per_year * math.sqrt(dt_years)
        self.h_rho = hr.price_correlation
        self.h_perp = math.sqrt(max(0.0, 1.0 - hr.price_correlation**2))
        fees = model.fees
        self.f_mean = fees.mean_log_btc
        self.f_keep = math.exp(-fees.reversion_per_year * dt_years)
        self.f_scale = fees.vol_per_year * math.sqrt(
            (1.0 - self.f_keep**2) / (2.0 * fees.reversion_per_year)
        )

        self.log_price = np.full(n, math.log(state.price_usd))
        self.log_hashrate = np.full(n, math.log(state.hashrate_ths))
        self.difficulty = np.full(n, float(state.difficulty))
        self.height = np.full(n, float(state.height))
        # The retarget takes effect when the tip reaches the epoch's last block.
        next_epoch_start = (state.height + 1) // RETARGET_INTERVAL_BLOCKS + 1
        self.switch_height = np.full(n, float(next_epoch_start * RETARGET_INTERVAL_BLOCKS - 1))
        self.elapsed_s = np.full(n, float(state.epoch_elapsed_s))
        self.log_fee = np.full(n, math.log(state.fee_btc_per_block))
        era = (state.height + 1) // HALVING_INTERVAL_BLOCKS
        self.subsidy_btc = np.full(n, state.subsidy_btc)
        self.halving_height = np.full(n, float((era + 1) * HALVING_INTERVAL_BLOCKS))

    def _blocks_and_retarget(
        self, expected: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Blocks of the day, block-weighted mean difficulty and the harmonic time-weighted
        difficulty (what the day's hashprice sees); retargets crossing paths in place."""
        to_switch = self.switch_height - self.height
        count = _poisson(self.blocks, expected) if self.poisson else expected
        # The day's first draw and its mean: a martingale difference (mean zero given the
        # past), which the pricing engine uses as a control variate.
        self.first_count, self.expected = count, expected
        crossed = count >= to_switch
        self.elapsed_s += SECONDS_PER_DAY
        if not crossed.any():
            # Nothing retargets today: the recorded arrays are copied before anything changes.
            return count, self.difficulty, self.difficulty
        idx = np.flatnonzero(crossed)
        before = np.maximum(to_switch[idx], 0.0)
        denominator = count[idx] + 1.0 if self.poisson else expected[idx]
        tau = np.minimum(before / denominator, 1.0)  # fraction of the day before the retarget
        old = self.difficulty[idx]
        span_s = (self.elapsed_s[idx] - (1.0 - tau) * SECONDS_PER_DAY) * MEASURED_INTERVALS
        span_s = np.clip(span_s, TARGET_TIMESPAN_S / 4, TARGET_TIMESPAN_S * 4)
        new = old * (TARGET_TIMESPAN_S / span_s)
        rest = expected[idx] * (1.0 - tau) * old / new  # expected blocks after the retarget
        if self.poisson:
            rest_full = np.zeros(self.n)
            rest_full[idx] = rest
            after = _poisson_masked(self.blocks, rest_full, crossed)[idx]
        else:
            after = rest
        total = before + after
        count = count.copy()
        count[idx] = total
        mean_d = self.difficulty.copy()
        safe_total = np.where(total > 0, total, 1.0)
        mean_d[idx] = np.where(total > 0, (before * old + after * new) / safe_total, new)
        time_d = self.difficulty.copy()
        time_d[idx] = 1.0 / (tau / old + (1.0 - tau) / new)
        self.difficulty[idx] = new
        self.switch_height[idx] += RETARGET_INTERVAL_BLOCKS
        self.elapsed_s[idx] = (1.0 - tau) * SECONDS_PER_DAY
        return count, mean_d, time_d

    def _subsidy(self, start: FloatArray, end: FloatArray, count: FloatArray) -> FloatArray:
        """Mean subsidy of the day's blocks (heights start+1 … end), splitting a halving day."""
        # The block at the halving height is the first with the new subsidy.
        halved = end >= self.halving_height
        if not halved.any():
            return self.subsidy_btc
        idx = np.flatnonzero(halved)
        new_sats = block_subsidy_sats_array(self.halving_height[idx].astype(np.int64))
        new = new_sats / SATS_PER_BTC
        safe = np.where(count[idx] > 0, count[idx], 1.0)
        share_new = np.clip((end[idx] - (self.halving_height[idx] - 1.0)) / safe, 0.0, 1.0)
        day = self.subsidy_btc.copy()
        day[idx] = self.subsidy_btc[idx] * (1.0 - share_new) + new * share_new
        self.subsidy_btc[idx] = new
        self.halving_height[idx] += HALVING_INTERVAL_BLOCKS
        return day

    def step(self, z: FloatArray | None = None) -> dict[str, FloatArray]:
        """Advance one day; ``z`` ``[3, paths]`` are the day's price, hashrate and fee shocks
        (by default drawn from the blocks' Gaussian streams)."""
        if z is None:
            z = standard_normals(self.blocks, 3, self.n, antithetic=self.antithetic)
        hashrate = np.exp(self.log_hashrate)
        expected = hashrate * BLOCKS_PER_DAY_PER_THS_PER_DIFFICULTY
        expected /= self.difficulty
        start = self.height
        count, mean_d, time_d = self._blocks_and_retarget(expected)
        end = start + count
        subsidy = self._subsidy(start, end, count)
        fee = np.exp(self.log_fee)
        hp_btc = hashprice_btc_per_ph_day(
            difficulty=time_d, subsidy_btc=subsidy, fee_btc_per_block=fee
        )
        # In-place arithmetic below: at a few thousand paths per chunk, temporaries and
        # per-call overhead cost as much as the arithmetic itself.
        shock = z[0] * self.price_scale
        shock += self.price_drift
        self.log_price += shock
        jumps = self._jumps()
        if jumps is not None:
            self.log_price += jumps
        price = np.exp(self.log_price)
        hp_usd = hp_btc * price
        day = {
            "price_usd": price,
            "hashrate_ths": hashrate,
            "difficulty": mean_d,
            "height": end,
            "block_count": count,
            "subsidy_btc": subsidy,
            "fee_btc_per_block": fee,
            "hashprice_btc_per_ph_day": hp_btc,
            "hashprice_usd_per_ph_day": hp_usd,
        }
        # Tomorrow's hashrate responds to today's profitability:
        # Δ ln H = μ_H dt + κ dt (ln HP − ln C) + σ_H √dt (ρ z₀ + √(1−ρ²) z₁).
        growth = np.log(hp_usd)
        growth *= self.h_kappa
        growth += self.h_base - self.h_kappa * self.h_log_cost
        np.multiply(z[0], self.h_scale * self.h_rho, out=shock)
        growth += shock
        np.multiply(z[1], self.h_scale * self.h_perp, out=shock)
        growth += shock
        self.log_hashrate += growth
        # ln f ← m + (ln f − m) e^{−θ dt} + s z₂, as ln f · e^{−θ dt} + m (1 − e^{−θ dt}) + s z₂.
        self.log_fee *= self.f_keep
        self.log_fee += self.f_mean * (1.0 - self.f_keep)
        np.multiply(z[2], self.f_scale, out=shock)
        self.log_fee += shock
        self.height = end
        return day

    def _jumps(self) -> FloatArray | None:
        if not self.price_model.has_jumps:
            return None
        out = np.empty(self.n)
        for block in self.blocks:
            draw = self.price_model.jump_log_returns(
                block.jumps, block.size, self.dt_years, antithetic=self.antithetic
            )
            assert draw is not None
            out[block.start : block.stop] = draw
        return out
