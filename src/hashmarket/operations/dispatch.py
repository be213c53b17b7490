"""Hour-by-hour dispatch of a site's power: mine, serve AI, or curtail.

A site has a power connection (MW), a mining fleet, GPUs that sell GPU-hours on the market at a
load rate, AI contracts whose level cannot change hour by hour (it is fixed over blocks of
``term_hours``), switching costs per MW started or stopped, an optional ramp limit and demand-
response payments for load left off. Given hourly power prices, hashprice and GPU-hour prices,
one linear program (or, with ``integer=True``, a mixed-integer one: whole machines and GPUs)
chooses every hour's allocation to maximise the margin; HiGHS solves it through
``scipy.optimize.milp``. "Mine only" and "AI only" are the same program with the other use
removed, so the optimum is never below either — a restriction cannot beat the whole.

Per hour ``h`` the decisions are the machines running per fleet line ``n[l, h]``, the GPUs
powered for the market ``f[h]`` and the GPUs committed to each contract block ``c[k, b]``;
auxiliary ``s`` variables carry ``|Δ load|`` for the switching costs. Amounts per hour:

* mining revenue ``n · TH/s per machine / 1000 · hashprice / 24 · (1 − pool fee)``;
* market AI revenue ``f · load_rate · GPU-hour price``; contract revenue ``c · contract price``;
* power cost ``load MW · price USD/MWh`` (negative prices pay the site to draw);
* variable costs per MWh by use; switching ``USD/MW × |Δ MW|`` per use;
* demand response ``payment USD/MWh × (baseline − load)``, baseline the smaller of the
  connection and what the site could draw.

Constraints: ``load ≤ capacity``, ``f + Σ c ≤ GPUs``, ``n[l] ≤ machines of line l``,
``gpus_min ≤ c ≤ gpus_max`` within a contract's window, ``|Δ total load| ≤ ramp limit``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from scipy import sparse

from hashmarket.operations.fleet import Fleet
from hashmarket.units import HOURS_PER_DAY, TH_PER_PH

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

W_PER_MW = 1e6
SECONDS_PER_HOUR = 3600
# Solver noise below this many MW (or machines) is printed as zero.
CLEAN_TOLERANCE = 1e-7


# --------------------------------------------------------------------------------------------
# The site
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MiningSpec:
    fleet: Fleet
    pool_fee_fraction: float = 0.0
    variable_cost_usd_per_mwh: float = 0.0


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """GPUs that sell on the market hour by hour; ``power_w_per_gpu`` is at the wall (server
    and cooling share included); ``load_rate`` the share of powered GPU-hours actually sold."""

    count: int
    power_w_per_gpu: float
    load_rate: float = 1.0
    variable_cost_usd_per_mwh: float = 0.0

    @property
    def mw_per_gpu(self) -> float:
        return self.power_w_per_gpu / W_PER_MW


@dataclass(frozen=True, slots=True)
class AiContract:
    """A contracted AI commitment: between ``gpus_min`` and ``gpus_max`` GPUs at a fixed price,
    a level that may change only every ``term_hours`` (the minimum term), within
    ``[start_s, end_s)`` (Unix seconds; ``None``: from the first / to the last hour)."""

    name: str
    price_usd_per_gpu_hour: float
    term_hours: int
    gpus_min: int = 0
    gpus_max: int = 0
    start_s: int | None = None
    end_s: int | None = None


@dataclass(frozen=True, slots=True)
class Switching:
    """Cost per MW of load started or stopped, per use, and a limit on the hourly change of
    the site's total load (``None``: no limit)."""

    mining_usd_per_mw: float = 0.0
    ai_usd_per_mw: float = 0.0
    ramp_limit_mw_per_hour: float | None = None


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    power_capacity_mw: float
    mining: MiningSpec | None = None
    gpu: GpuSpec | None = None
    contracts: tuple[AiContract, ...] = ()
    switching: Switching = field(default_factory=Switching)
    # Defaults for hours whose price file lacks the column:
    hashprice_usd_per_ph_day: float | None = None
    gpu_price_usd_per_gpu_hour: float | None = None
    demand_response_usd_per_mwh: float = 0.0

    @property
    def mining_mw_max(self) -> float:
        return 0.0 if self.mining is None else self.mining.fleet.power_w / W_PER_MW

    @property
    def gpu_mw_max(self) -> float:
        return 0.0 if self.gpu is None else self.gpu.count * self.gpu.mw_per_gpu

    @property
    def baseline_mw(self) -> float:
        """What demand response pays against: the most the site could draw."""
        return min(self.power_capacity_mw, self.mining_mw_max + self.gpu_mw_max)


@dataclass(frozen=True)
class HourlyMarket:
    """Hourly market data, one value per hour (consecutive whole UTC hours)."""

    time_s: IntArray
    power_price_usd_per_mwh: FloatArray
    hashprice_usd_per_ph_day: FloatArray
    gpu_price_usd_per_gpu_hour: FloatArray
    demand_response_usd_per_mwh: FloatArray

    def __len__(self) -> int:
        return len(self.time_s)

    @classmethod
    def constant(
        cls,
        *,
        start_s: int,
        power_price_usd_per_mwh: npt.ArrayLike,
        hashprice_usd_per_ph_day: npt.ArrayLike = 0.0,
        gpu_price_usd_per_gpu_hour: npt.ArrayLike = 0.0,
        demand_response_usd_per_mwh: npt.ArrayLike = 0.0,
    ) -> HourlyMarket:
        """Hourly series from ``start_s``; scalars are broadcast to every hour."""
        power = np.asarray(power_price_usd_per_mwh, dtype=np.float64).reshape(-1)
        n = len(power)

        def full(values: npt.ArrayLike) -> FloatArray:
            return np.broadcast_to(np.asarray(values, dtype=np.float64), (n,)).copy()

        return cls(
            time_s=start_s + SECONDS_PER_HOUR * np.arange(n, dtype=np.int64),
            power_price_usd_per_mwh=power,
            hashprice_usd_per_ph_day=full(hashprice_usd_per_ph_day),
            gpu_price_usd_per_gpu_hour=full(gpu_price_usd_per_gpu_hour),
            demand_response_usd_per_mwh=full(demand_response_usd_per_mwh),
        )


class Policy(enum.StrEnum):
    OPTIMAL = "optimal"
    MINE_ONLY = "mine-only"
    AI_ONLY = "ai-only"


def restrict(site: Site, policy: Policy) -> Site:
    """The site with the uses the policy forbids removed (contracts go with AI)."""
    if policy is Policy.MINE_ONLY:
        return replace(site, gpu=None, contracts=())
    if policy is Policy.AI_ONLY:
        return replace(site, mining=None)
    return site


# --------------------------------------------------------------------------------------------
# Contract blocks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractBlocks:
    """Every (contract, block) pair as one decision: its hours and its GPU bounds."""

    contract: IntArray  # index into site.contracts, per block
    first_hour: IntArray
    last_hour: IntArray  # inclusive
    gpus_min: FloatArray
    gpus_max: FloatArray

    def __len__(self) -> int:
        return len(self.contract)

    def hour_matrix(self, hours: int) -> sparse.csr_matrix:
        """[blocks × hours] with 1 where a block is in force."""
        sizes = self.last_hour - self.first_hour + 1
        rows = np.repeat(np.arange(len(self)), sizes)
        cols = (
            np.concatenate(
                [np.arange(a, b + 1) for a, b in zip(self.first_hour, self.last_hour, strict=True)]
            )
            if len(self)
            else np.array([], dtype=np.int64)
        )
        return sparse.csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(self), hours), dtype=np.float64
        )


def contract_blocks(site: Site, market: HourlyMarket) -> ContractBlocks:
    hours = len(market)
    t0 = int(market.time_s[0])
    rows: list[tuple[int, int, int, float, float]] = []
    for k, c in enumerate(site.contracts):
        start_h = 0 if c.start_s is None else math.ceil((c.start_s - t0) / SECONDS_PER_HOUR)
        end_h = hours if c.end_s is None else math.ceil((c.end_s - t0) / SECONDS_PER_HOUR)
        lo, hi = max(start_h, 0), min(end_h, hours)
        if lo >= hi:
            continue  # the contract is not in force during this horizon
        # Blocks are aligned on the contract's own start, which may precede the horizon.
        first = lo - ((lo - start_h) % c.term_hours)
        for b0 in range(first, hi, c.term_hours):
            a, b = max(b0, lo), min(b0 + c.term_hours, hi) - 1
            rows.append((k, a, b, float(c.gpus_min), float(c.gpus_max)))
    if not rows:
        empty_i = np.array([], dtype=np.int64)
        empty_f = np.array([], dtype=np.float64)
        return ContractBlocks(empty_i, empty_i, empty_i, empty_f, empty_f)
    k_, a_, b_, lo_, hi_ = zip(*rows, strict=True)
    return ContractBlocks(
        contract=np.array(k_, dtype=np.int64),
        first_hour=np.array(a_, dtype=np.int64),
        last_hour=np.array(b_, dtype=np.int64),
        gpus_min=np.array(lo_, dtype=np.float64),
        gpus_max=np.array(hi_, dtype=np.float64),
    )


# --------------------------------------------------------------------------------------------
# Value per unit and hour
# --------------------------------------------------------------------------------------------


def mining_revenue_usd_per_machine_hour(
    hashrate_ths: float, pool_fee_fraction: float, hashprice_usd_per_ph_day: FloatArray
) -> FloatArray:
    """What one machine earns in an hour after the pool fee: TH/s / 1000 × USD/PH/day / 24."""
    return (
        hashrate_ths
        / TH_PER_PH
        * hashprice_usd_per_ph_day
        / HOURS_PER_DAY
        * (1.0 - pool_fee_fraction)
    )


def mining_revenue_usd_per_mwh(
    efficiency_j_per_th: float, pool_fee_fraction: float, hashprice_usd_per_ph_day: FloatArray
) -> FloatArray:
    """Revenue per MWh drawn: 1 MW runs 1000 / e PH/s, earning hashprice / 24 each per hour."""
    phs_per_mw = W_PER_MW / efficiency_j_per_th / TH_PER_PH  # 1e6 W / e = TH/s, / 1000
    return phs_per_mw * hashprice_usd_per_ph_day / HOURS_PER_DAY * (1.0 - pool_fee_fraction)
