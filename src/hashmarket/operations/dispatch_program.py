"""The dispatch program: one linear (or mixed-integer) program per policy over every hour's
allocation, built as sparse rows over the variable vector and solved by HiGHS through
``scipy.optimize.milp``. ``operations/dispatch.py`` describes the variables and constraints."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from hashmarket.errors import DataError, UsageError
from hashmarket.operations.dispatch import (
    CLEAN_TOLERANCE,
    W_PER_MW,
    ContractBlocks,
    HourlyMarket,
    Policy,
    Site,
    contract_blocks,
    mining_revenue_usd_per_machine_hour,
    restrict,
)
from hashmarket.operations.dispatch_plan import (
    Decisions,
    DispatchComparison,
    DispatchPlan,
    SolveInfo,
    evaluate,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Columns:
    """Positions of each variable group in the solver's vector."""

    lines: list[slice]  # machines running, per fleet line
    market: slice  # GPUs powered for the market
    blocks: slice  # GPUs committed per contract block
    switch_mining: slice  # |Δ mining MW| for h = 1..hours-1
    switch_ai: slice  # |Δ AI MW| for h = 1..hours-1
    size: int


def _columns(n_lines: int, hours: int, n_blocks: int) -> _Columns:
    widths = [hours] * n_lines + [hours, n_blocks, hours - 1, hours - 1]
    ends = np.cumsum(widths).tolist()
    spans = [slice(end - width, end) for end, width in zip(ends, widths, strict=True)]
    market, blocks, switch_mining, switch_ai = spans[n_lines:]
    return _Columns(spans[:n_lines], market, blocks, switch_mining, switch_ai, size=int(ends[-1]))


@dataclass(frozen=True)
class _Program:
    """The program of one policy: objective (margin per unit), bounds, rows and integrality."""

    value: FloatArray
    lower: FloatArray
    upper: FloatArray
    constraints: list[LinearConstraint]
    integrality: FloatArray


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
    blocks = contract_blocks(site, market)
    if len(blocks) and site.gpu is None:
        raise UsageError("bad_option", option="contracts", problem="AI contracts need GPUs")
    n_lines = 0 if site.mining is None else len(site.mining.fleet.lines)
    cols = _columns(n_lines, hours, len(blocks))
    block_hours = blocks.hour_matrix(hours)
    program = _build(site, market, cols, blocks, block_hours, integer=integer)
    built = time.perf_counter()
    options: dict[str, float | bool] = {"disp": False, "mip_rel_gap": 1e-9 if integer else 1e-4}
    if time_limit_s is not None:
        options["time_limit"] = time_limit_s
    result = milp(
        -program.value,
        constraints=program.constraints,
        integrality=program.integrality,
        bounds=Bounds(program.lower, program.upper),
        options=options,
    )
    solved = time.perf_counter()
    if result.x is None:
        raise DataError(
            "dispatch_infeasible", site=site.name, policy=policy.value, detail=result.message
        )
    x = np.where(np.abs(result.x) < CLEAN_TOLERANCE, 0.0, result.x)
    decisions = Decisions(
        machines=np.array([x[c] for c in cols.lines]).reshape(n_lines, hours),
        market_gpus=x[cols.market] if site.gpu is not None else np.zeros(hours),
        block_gpus=x[cols.blocks],
    )
    info = SolveInfo(
        status=str(result.message),
        build_s=built - started,
        solve_s=solved - built,
        variables=cols.size,
        constraints=sum(c.A.shape[0] for c in program.constraints),
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


def _build(
    site: Site,
    market: HourlyMarket,
    cols: _Columns,
    blocks: ContractBlocks,
    block_hours: sparse.csr_matrix,
    *,
    integer: bool,
) -> _Program:
    value, lower, upper = _objective_and_bounds(site, market, cols, blocks, block_hours)
    integrality = np.zeros(cols.size)
    if integer:
        for line in cols.lines:
            integrality[line] = 1
        integrality[cols.market] = 1 if site.gpu is not None else 0
        integrality[cols.blocks] = 1
    return _Program(
        value=value,
        lower=lower,
        upper=upper,
        constraints=_constraints(site, cols, block_hours, hours=len(market)),
        integrality=integrality,
    )


def _objective_and_bounds(
    site: Site,
    market: HourlyMarket,
    cols: _Columns,
    blocks: ContractBlocks,
    block_hours: sparse.csr_matrix,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Margin per unit of each variable (maximised) and the variables' bounds."""
    # Every MWh drawn costs the power price and forgoes the demand-response payment.
    cost_per_mwh = market.power_price_usd_per_mwh + market.demand_response_usd_per_mwh
    value = np.zeros(cols.size)
    upper = np.zeros(cols.size)
    lower = np.zeros(cols.size)
    mining = site.mining
    if mining is not None:
        for line_cols, line in zip(cols.lines, mining.fleet.lines, strict=True):
            mw = line.machine.power_w / W_PER_MW
            revenue = mining_revenue_usd_per_machine_hour(
                line.machine.hashrate_ths,
                mining.pool_fee_fraction,
                market.hashprice_usd_per_ph_day,
            )
            value[line_cols] = revenue - mw * (cost_per_mwh + mining.variable_cost_usd_per_mwh)
            upper[line_cols] = line.count
    gpu = site.gpu
    if gpu is not None:
        gpu_cost = gpu.mw_per_gpu * (cost_per_mwh + gpu.variable_cost_usd_per_mwh)
        sold = gpu.load_rate * market.gpu_price_usd_per_gpu_hour
        value[cols.market] = sold - gpu_cost
        upper[cols.market] = gpu.count
        if len(blocks):
            prices = np.array([site.contracts[k].price_usd_per_gpu_hour for k in blocks.contract])
            sizes = (blocks.last_hour - blocks.first_hour + 1).astype(np.float64)
            value[cols.blocks] = prices * sizes - block_hours @ gpu_cost
            lower[cols.blocks], upper[cols.blocks] = blocks.gpus_min, blocks.gpus_max
    sw = site.switching
    value[cols.switch_mining] = -sw.mining_usd_per_mw
    value[cols.switch_ai] = -sw.ai_usd_per_mw
    upper[cols.switch_mining] = np.inf if cols.lines else 0.0
    upper[cols.switch_ai] = np.inf if gpu is not None else 0.0
    return value, lower, upper


def _place(
    terms: Sequence[tuple[slice, sparse.spmatrix]], rows: int, n_vars: int
) -> sparse.csr_matrix:
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


def _constraints(
    site: Site, cols: _Columns, block_hours: sparse.csr_matrix, *, hours: int
) -> list[LinearConstraint]:
    """Capacity, GPU count, |Δ MW| for the switching costs and the ramp limit."""
    n_vars = cols.size
    eye = sparse.identity(hours, format="csr")
    zeros_h = sparse.csr_matrix((hours, n_vars))
    has_blocks = cols.blocks.stop > cols.blocks.start
    gpu = site.gpu
    # Total MW per hour, and mining / AI MW per hour, as rows over the variables.
    lines = [] if site.mining is None else site.mining.fleet.lines
    mine_terms = [
        (line_cols, eye * (line.machine.power_w / W_PER_MW))
        for line_cols, line in zip(cols.lines, lines, strict=True)
    ]
    ai_terms = []
    if gpu is not None:
        ai_terms.append((cols.market, eye * gpu.mw_per_gpu))
        if has_blocks:
            ai_terms.append((cols.blocks, block_hours.T.tocsr() * gpu.mw_per_gpu))
    mine_mw = _place(mine_terms, hours, n_vars) if mine_terms else zeros_h
    ai_mw = _place(ai_terms, hours, n_vars) if ai_terms else zeros_h
    total_mw = mine_mw + ai_mw

    constraints = [LinearConstraint(total_mw, -np.inf, site.power_capacity_mw)]
    if gpu is not None:
        gpu_rows = [(cols.market, eye)]
        if has_blocks:
            gpu_rows.append((cols.blocks, block_hours.T.tocsr()))
        constraints.append(LinearConstraint(_place(gpu_rows, hours, n_vars), -np.inf, gpu.count))
    if hours > 1:
        diff = sparse.diags(
            [-np.ones(hours - 1), np.ones(hours - 1)], [0, 1], shape=(hours - 1, hours)
        )
        # s ≥ Δ and s ≥ −Δ, i.e. Δ − s ≤ 0 and −Δ − s ≤ 0.
        for use_mw, s_cols, active in (
            (mine_mw, cols.switch_mining, bool(cols.lines)),
            (ai_mw, cols.switch_ai, gpu is not None),
        ):
            if not active:
                continue
            delta = diff @ use_mw
            s = _place([(s_cols, sparse.identity(hours - 1))], hours - 1, n_vars)
            constraints.append(LinearConstraint(delta - s, -np.inf, 0.0))
            constraints.append(LinearConstraint(-delta - s, -np.inf, 0.0))
        ramp = site.switching.ramp_limit_mw_per_hour
        if ramp is not None:
            constraints.append(LinearConstraint(diff @ total_mw, -ramp, ramp))
    return constraints


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
