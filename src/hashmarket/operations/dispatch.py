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
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from hashmarket.errors import DataError, UsageError
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


# --------------------------------------------------------------------------------------------
# The program
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decisions:
    """The solver's answer: machines per fleet line and hour, market GPUs per hour, GPUs per
    contract block."""

    machines: FloatArray  # [lines, hours]
    market_gpus: FloatArray  # [hours]
    block_gpus: FloatArray  # [blocks]


@dataclass(frozen=True)
class SolveInfo:
    status: str
    build_s: float
    solve_s: float
    variables: int
    constraints: int
    integer: bool
    mip_gap: float | None
    objective_usd: float  # the solver's optimum, demand-response baseline added back


@dataclass(frozen=True)
class DispatchPlan:
    """One policy's hourly plan and what it earns."""

    policy: Policy
    hours: pd.DataFrame  # one row per hour, units in the column names
    solve: SolveInfo
    blocks: ContractBlocks
    block_gpus: FloatArray

    @property
    def margin_usd(self) -> float:
        return float(self.hours["margin_usd"].sum())

    def by_use(self) -> pd.DataFrame:
        """MWh, revenue, revenue per MWh and margin per use (and curtailment)."""
        h = self.hours
        rows = []
        for use, mw, revenue, variable in (
            ("mining", "mining_mw", ["mining_revenue_usd"], "mining_variable_cost_usd"),
            (
                "ai",
                "ai_mw",
                ["ai_market_revenue_usd", "ai_contract_revenue_usd"],
                "ai_variable_cost_usd",
            ),
        ):
            mwh = float(h[mw].sum())
            rev = float(h[revenue].sum().sum())
            power = float((h[mw] * h["power_price_usd_per_mwh"]).sum())
            switching = float(h[f"{use}_switching_cost_usd"].sum())
            margin = rev - power - float(h[variable].sum()) - switching
            rows.append(
                {
                    "use": use,
                    "mwh": mwh,
                    "revenue_usd": rev,
                    "revenue_usd_per_mwh": rev / mwh if mwh > 0 else math.nan,
                    "power_cost_usd": power,
                    "margin_usd": margin,
                    "margin_usd_per_mwh": margin / mwh if mwh > 0 else math.nan,
                    "hours_on": int((h[mw] > CLEAN_TOLERANCE).sum()),
                }
            )
        rows.append(
            {
                "use": "curtailed",
                "mwh": float(h["curtailed_mw"].sum()),
                "revenue_usd": float(h["demand_response_usd"].sum()),
                "revenue_usd_per_mwh": math.nan,
                "power_cost_usd": 0.0,
                "margin_usd": float(h["demand_response_usd"].sum()),
                "margin_usd_per_mwh": math.nan,
                "hours_on": int((h["curtailed_mw"] > CLEAN_TOLERANCE).sum()),
            }
        )
        return pd.DataFrame(rows).set_index("use")


def _column_index(
    n_lines: int, hours: int, n_blocks: int
) -> tuple[list[slice], slice, slice, slice, slice, int]:
    """Positions of each variable group in the solver's vector."""
    pos = 0
    lines = []
    for _ in range(n_lines):
        lines.append(slice(pos, pos + hours))
        pos += hours
    market = slice(pos, pos + hours)
    pos += hours
    blocks = slice(pos, pos + n_blocks)
    pos += n_blocks
    # |Δ MW| for h = 1..hours-1, per use.
    s_mine = slice(pos, pos + hours - 1)
    pos += hours - 1
    s_ai = slice(pos, pos + hours - 1)
    pos += hours - 1
    return lines, market, blocks, s_mine, s_ai, pos


def solve(
    site: Site,
    market: HourlyMarket,
    *,
    policy: Policy = Policy.OPTIMAL,
    integer: bool = False,
    time_limit_s: float | None = None,
) -> DispatchPlan:
    """Solve one policy's program and evaluate its plan hour by hour."""
    started = time.perf_counter()
    site = restrict(site, policy)
    hours = len(market)
    if hours < 1:
        raise UsageError("bad_option", option="prices", problem="no hours to dispatch")
    lines = [] if site.mining is None else list(site.mining.fleet.lines)
    blocks = contract_blocks(site, market)
    gpu = site.gpu
    gpu_count = 0 if gpu is None else gpu.count
    if len(blocks) and gpu is None:
        raise UsageError("bad_option", option="contracts", problem="AI contracts need GPUs")
    mw_gpu = 0.0 if gpu is None else gpu.mw_per_gpu
    n_lines, n_blocks, n_hours = len(lines), len(blocks), hours
    line_cols, m_cols, b_cols, sm_cols, sa_cols, n_vars = _column_index(n_lines, n_hours, n_blocks)

    price = market.power_price_usd_per_mwh
    dr = market.demand_response_usd_per_mwh
    # Every MWh drawn costs the power price and forgoes the demand-response payment.
    cost_per_mwh = price + dr

    value = np.zeros(n_vars)  # margin per unit of each variable (maximised)
    upper = np.zeros(n_vars)
    lower = np.zeros(n_vars)
    mining = site.mining
    for l_idx, line in enumerate(lines):
        assert mining is not None
        mw = line.machine.power_w / W_PER_MW
        revenue = mining_revenue_usd_per_machine_hour(
            line.machine.hashrate_ths, mining.pool_fee_fraction, market.hashprice_usd_per_ph_day
        )
        value[line_cols[l_idx]] = revenue - mw * (cost_per_mwh + mining.variable_cost_usd_per_mwh)
        upper[line_cols[l_idx]] = line.count
    if gpu is not None:
        sold = gpu.load_rate * market.gpu_price_usd_per_gpu_hour
        value[m_cols] = sold - mw_gpu * (cost_per_mwh + gpu.variable_cost_usd_per_mwh)
        upper[m_cols] = gpu.count
    block_hours = blocks.hour_matrix(n_hours)
    if n_blocks:
        assert gpu is not None
        prices = np.array([site.contracts[k].price_usd_per_gpu_hour for k in blocks.contract])
        sizes = (blocks.last_hour - blocks.first_hour + 1).astype(np.float64)
        power_per_gpu = block_hours @ (mw_gpu * (cost_per_mwh + gpu.variable_cost_usd_per_mwh))
        value[b_cols] = prices * sizes - power_per_gpu
        lower[b_cols], upper[b_cols] = blocks.gpus_min, blocks.gpus_max
    sw = site.switching
    value[sm_cols] = -sw.mining_usd_per_mw
    value[sa_cols] = -sw.ai_usd_per_mw
    upper[sm_cols] = np.inf if n_lines else 0.0
    upper[sa_cols] = np.inf if gpu is not None else 0.0

    # Rows: each block is (matrix over all variables, lower, upper).
    eye = sparse.identity(n_hours, format="csr")
    zeros_h = sparse.csr_matrix((n_hours, n_vars))

    def place(terms: Sequence[tuple[slice, sparse.spmatrix]], rows: int) -> sparse.csr_matrix:
        """Rows over the whole variable vector from blocks given per variable group."""
        data, row_idx, col_idx = [], [], []
        for cols, mat in terms:
            coo = sparse.coo_matrix(mat)
            data.append(coo.data)
            row_idx.append(coo.row)
            col_idx.append(coo.col + cols.start)
        return sparse.csr_matrix(
            (np.concatenate(data), (np.concatenate(row_idx), np.concatenate(col_idx))),
            shape=(rows, n_vars),
        )

    # Total MW per hour, and mining / AI MW per hour, as rows over the variables.
    mine_terms = [
        (line_cols[i], eye * (lines[i].machine.power_w / W_PER_MW)) for i in range(n_lines)
    ]
    ai_terms = []
    if gpu is not None:
        ai_terms.append((m_cols, eye * mw_gpu))
        if n_blocks:
            ai_terms.append((b_cols, block_hours.T.tocsr() * mw_gpu))
    mine_mw = place(mine_terms, n_hours) if mine_terms else zeros_h
    ai_mw = place(ai_terms, n_hours) if ai_terms else zeros_h
    total_mw = mine_mw + ai_mw

    constraints = [LinearConstraint(total_mw, -np.inf, site.power_capacity_mw)]
    if gpu is not None:
        gpu_rows = [(m_cols, eye)]
        if n_blocks:
            gpu_rows.append((b_cols, block_hours.T.tocsr()))
        constraints.append(LinearConstraint(place(gpu_rows, n_hours), -np.inf, gpu_count))
    if n_hours > 1:
        diff = sparse.diags(
            [-np.ones(n_hours - 1), np.ones(n_hours - 1)], [0, 1], shape=(n_hours - 1, n_hours)
        )
        # s ≥ Δ and s ≥ −Δ, i.e. Δ − s ≤ 0 and −Δ − s ≤ 0.
        for use_mw, s_cols, active in (
            (mine_mw, sm_cols, n_lines > 0),
            (ai_mw, sa_cols, gpu is not None),
        ):
            if not active:
                continue
            delta = diff @ use_mw
            s = place([(s_cols, sparse.identity(n_hours - 1))], n_hours - 1)
            constraints.append(LinearConstraint(delta - s, -np.inf, 0.0))
            constraints.append(LinearConstraint(-delta - s, -np.inf, 0.0))
        if sw.ramp_limit_mw_per_hour is not None:
            limit = sw.ramp_limit_mw_per_hour
            constraints.append(LinearConstraint(diff @ total_mw, -limit, limit))

    integrality = np.zeros(n_vars)
    if integer:
        for cols in line_cols:
            integrality[cols] = 1
        integrality[m_cols] = 1 if gpu is not None else 0
        integrality[b_cols] = 1
    built = time.perf_counter()
    options: dict[str, float | bool] = {"disp": False, "mip_rel_gap": 1e-9 if integer else 1e-4}
    if time_limit_s is not None:
        options["time_limit"] = time_limit_s
    result = milp(
        -value,
        constraints=constraints,
        integrality=integrality,
        bounds=Bounds(lower, upper),
        options=options,
    )
    solved = time.perf_counter()
    if result.x is None:
        raise DataError(
            "dispatch_infeasible", site=site.name, policy=policy.value, detail=result.message
        )
    x = np.where(np.abs(result.x) < CLEAN_TOLERANCE, 0.0, result.x)
    decisions = Decisions(
        machines=np.array([x[c] for c in line_cols]).reshape(n_lines, n_hours),
        market_gpus=x[m_cols] if gpu is not None else np.zeros(n_hours),
        block_gpus=x[b_cols],
    )
    info = SolveInfo(
        status=str(result.message),
        build_s=built - started,
        solve_s=solved - built,
        variables=n_vars,
        constraints=sum(c.A.shape[0] for c in constraints),
        integer=integer,
        mip_gap=getattr(result, "mip_gap", None),
        objective_usd=float(
            -result.fun + (market.demand_response_usd_per_mwh * site.baseline_mw).sum()
        ),
    )
    hours_frame = evaluate(site, market, decisions, blocks)
    return DispatchPlan(
        policy=policy, hours=hours_frame, solve=info, blocks=blocks, block_gpus=decisions.block_gpus
    )


def evaluate(
    site: Site, market: HourlyMarket, decisions: Decisions, blocks: ContractBlocks
) -> pd.DataFrame:
    """Hourly amounts of a plan, computed from the decisions alone (not from the solver's
    objective), so the two can be checked against each other."""
    n_hours = len(market)
    price = market.power_price_usd_per_mwh
    mining_mw = np.zeros(n_hours)
    mining_revenue = np.zeros(n_hours)
    machines_on = np.zeros(n_hours)
    mining = site.mining
    if mining is not None:
        for line, n in zip(mining.fleet.lines, decisions.machines, strict=True):
            mining_mw += n * line.machine.power_w / W_PER_MW
            machines_on += n
            mining_revenue += n * mining_revenue_usd_per_machine_hour(
                line.machine.hashrate_ths,
                mining.pool_fee_fraction,
                market.hashprice_usd_per_ph_day,
            )
    gpu = site.gpu
    in_force = blocks.hour_matrix(n_hours)
    contract_gpus = in_force.T @ decisions.block_gpus if len(blocks) else np.zeros(n_hours)
    contract_revenue = np.zeros(n_hours)
    if len(blocks):
        prices = np.array([site.contracts[k].price_usd_per_gpu_hour for k in blocks.contract])
        contract_revenue = in_force.T @ (prices * decisions.block_gpus)
    mw_gpu = 0.0 if gpu is None else gpu.mw_per_gpu
    market_gpus = decisions.market_gpus
    ai_mw = (market_gpus + contract_gpus) * mw_gpu
    market_revenue = (
        np.zeros(n_hours)
        if gpu is None
        else market_gpus * gpu.load_rate * market.gpu_price_usd_per_gpu_hour
    )
    load = mining_mw + ai_mw
    sw = site.switching
    mining_switch = np.r_[0.0, np.abs(np.diff(mining_mw))] * sw.mining_usd_per_mw
    ai_switch = np.r_[0.0, np.abs(np.diff(ai_mw))] * sw.ai_usd_per_mw
    curtailed = np.maximum(site.baseline_mw - load, 0.0)
    dr = market.demand_response_usd_per_mwh * (site.baseline_mw - load)
    mining_var = mining_mw * (0.0 if mining is None else mining.variable_cost_usd_per_mwh)
    ai_var = ai_mw * (0.0 if gpu is None else gpu.variable_cost_usd_per_mwh)
    power_cost = load * price
    frame = pd.DataFrame(
        {
            "power_price_usd_per_mwh": price,
            "hashprice_usd_per_ph_day": market.hashprice_usd_per_ph_day,
            "gpu_price_usd_per_gpu_hour": market.gpu_price_usd_per_gpu_hour,
            "machines_running": machines_on,
            "ai_market_gpus": market_gpus,
            "ai_contract_gpus": contract_gpus,
            "mining_mw": mining_mw,
            "ai_mw": ai_mw,
            "load_mw": load,
            "curtailed_mw": curtailed,
            "mining_revenue_usd": mining_revenue,
            "ai_market_revenue_usd": market_revenue,
            "ai_contract_revenue_usd": contract_revenue,
            "demand_response_usd": dr,
            "power_cost_usd": power_cost,
            "mining_variable_cost_usd": mining_var,
            "ai_variable_cost_usd": ai_var,
            "mining_switching_cost_usd": mining_switch,
            "ai_switching_cost_usd": ai_switch,
        },
        index=pd.DatetimeIndex(pd.to_datetime(market.time_s, unit="s", utc=True), name="time_utc"),
    )
    frame["margin_usd"] = (
        mining_revenue
        + market_revenue
        + contract_revenue
        + dr
        - power_cost
        - mining_var
        - ai_var
        - mining_switch
        - ai_switch
    )
    return frame


@dataclass(frozen=True)
class DispatchComparison:
    """The optimum and the two pure policies on the same site and prices."""

    site: Site
    optimal: DispatchPlan
    mine_only: DispatchPlan
    ai_only: DispatchPlan

    def plans(self) -> tuple[DispatchPlan, DispatchPlan, DispatchPlan]:
        return self.optimal, self.mine_only, self.ai_only

    def contract_levels(self) -> list[tuple[str, pd.Timestamp, pd.Timestamp, float]]:
        """The optimum's AI contract levels: contract name, first and last hour (UTC) of each
        term block, and the GPUs committed for it (fixed within the block)."""
        optimal = self.optimal
        hours = optimal.hours.index
        return [
            (self.site.contracts[int(k)].name, hours[int(a)], hours[int(b)], float(g))
            for k, a, b, g in zip(
                optimal.blocks.contract,
                optimal.blocks.first_hour,
                optimal.blocks.last_hour,
                optimal.block_gpus,
                strict=True,
            )
        ]

    def summary(self) -> pd.DataFrame:
        rows = []
        for plan in self.plans():
            h = plan.hours
            mwh = float(h["load_mw"].sum())
            revenue = float(
                h[["mining_revenue_usd", "ai_market_revenue_usd", "ai_contract_revenue_usd"]]
                .sum()
                .sum()
            )
            rows.append(
                {
                    "policy": plan.policy.value,
                    "margin_usd": plan.margin_usd,
                    "revenue_usd": revenue,
                    "mwh": mwh,
                    "revenue_usd_per_mwh": revenue / mwh if mwh > 0 else math.nan,
                    "margin_usd_per_mwh": plan.margin_usd / mwh if mwh > 0 else math.nan,
                    "solve_s": plan.solve.solve_s,
                }
            )
        return pd.DataFrame(rows).set_index("policy")


def compare(
    site: Site, market: HourlyMarket, *, integer: bool = False, time_limit_s: float | None = None
) -> DispatchComparison:
    """Solve the optimum, "mine only" and "AI only" on the same inputs."""
    return DispatchComparison(
        site=site,
        optimal=solve(site, market, integer=integer, time_limit_s=time_limit_s),
        mine_only=solve(
            site, market, policy=Policy.MINE_ONLY, integer=integer, time_limit_s=time_limit_s
        ),
        ai_only=solve(
            site, market, policy=Policy.AI_ONLY, integer=integer, time_limit_s=time_limit_s
        ),
    )
