"""The result of a dispatch: each policy's hourly plan, what it earns per use, and the
comparison of the optimum with "mine only" and "AI only". The amounts are computed from the
decisions alone (:func:`evaluate`), not from the solver's objective, so the two can be checked
against each other."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.operations.dispatch import (
    CLEAN_TOLERANCE,
    W_PER_MW,
    ContractBlocks,
    HourlyMarket,
    Policy,
    Site,
    mining_revenue_usd_per_machine_hour,
)

FloatArray = npt.NDArray[np.float64]


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
