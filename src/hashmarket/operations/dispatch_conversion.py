"""A conversion plan applied to a dispatch site: part of the site's power moved to AI.

The plan converts ``fraction`` of the site's connection: ``fraction × power_capacity_mw`` MW
of GPUs (``gpus_per_mw`` at the wall, so each draws 10⁶ / gpus_per_mw W) replace the same
share of every fleet line's machines (rounded down to whole machines). The converted MW serve
AI under a lease — every GPU committed every hour at the lease price, whatever the hour's
power price — or, without one, sell GPU-hours on the market hour by hour at the load rate
(idle when power costs more than they earn). The rest of the site mines or curtails hour by
hour as before. The dispatch then evaluates the mixed site over the price file's hours.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from hashmarket.errors import DataError, Location
from hashmarket.operations.dispatch import AiContract, GpuSpec, MiningSpec, Site
from hashmarket.operations.dispatch_inputs import _Reader
from hashmarket.operations.fleet import Fleet, FleetLine
from hashmarket.specfile import read_document

PLAN_FIELDS = {
    "description",
    "fraction",
    "gpus_per_mw",
    "load_rate",
    "variable_cost_usd_per_mwh",
    "lease",
}
LEASE_FIELDS = {"price_usd_per_gpu_hour"}
W_PER_MW = 1e6
LEASE_NAME = "conversion lease"
# The lease's level never changes: one block longer than any price file.
LEASE_TERM_HOURS = 100 * 8760


@dataclasses.dataclass(frozen=True, slots=True)
class ConversionPlan:
    fraction: float
    gpus_per_mw: float
    load_rate: float = 1.0
    variable_cost_usd_per_mwh: float = 0.0
    lease_price_usd_per_gpu_hour: float | None = None  # None: the market, hour by hour


def parse_conversion_plan(data: Any, *, path: str = "<plan>") -> ConversionPlan:
    r = _Reader(path)
    top = r.obj(data, "", PLAN_FIELDS)
    if "description" in top:
        r.text(top, "description", "")
    lease = None
    if "lease" in top:
        lease = r.number(
            r.obj(top["lease"], "lease", LEASE_FIELDS), "price_usd_per_gpu_hour", "lease"
        )
    return ConversionPlan(
        fraction=r.number(top, "fraction", "", strict=True, maximum=1.0),
        gpus_per_mw=r.number(top, "gpus_per_mw", "", strict=True),
        load_rate=r.number(top, "load_rate", "", default=1.0, strict=True, maximum=1.0),
        variable_cost_usd_per_mwh=r.number(top, "variable_cost_usd_per_mwh", "", default=0.0),
        lease_price_usd_per_gpu_hour=lease,
    )


def read_conversion_plan(path: Path | str) -> ConversionPlan:
    data, location = read_document(path, what="conversion plan", error=DataError, yaml_ok=False)
    return parse_conversion_plan(data, path=location.file)


def apply_conversion(site: Site, plan: ConversionPlan, *, plan_name: str = "<plan>") -> Site:
    """The site with ``plan`` applied (module docstring). A site that already has GPUs or AI
    contracts is refused: the plan is what puts AI on it."""
    if site.gpu is not None or site.contracts:
        raise DataError(
            "site_field",
            location=Location(plan_name),
            field="gpu",
            problem="the site already has GPUs or AI contracts; the conversion plan sets them, "
            "so give a site without them",
        )
    converted_mw = plan.fraction * site.power_capacity_mw
    gpus = math.floor(converted_mw * plan.gpus_per_mw + 1e-9)
    if gpus < 1:
        raise DataError(
            "site_field",
            location=Location(plan_name),
            field="fraction",
            problem=f"{plan.fraction:g} of {site.power_capacity_mw:g} MW holds no whole GPU",
        )
    gpu = GpuSpec(
        count=gpus,
        power_w_per_gpu=W_PER_MW / plan.gpus_per_mw,
        load_rate=plan.load_rate,
        variable_cost_usd_per_mwh=plan.variable_cost_usd_per_mwh,
    )
    contracts: tuple[AiContract, ...] = ()
    market_price = site.gpu_price_usd_per_gpu_hour
    if plan.lease_price_usd_per_gpu_hour is not None:
        # Every GPU is leased every hour: none is left to sell, so no market price is needed.
        if market_price is None:
            market_price = 0.0
        contracts = (
            AiContract(
                name=LEASE_NAME,
                price_usd_per_gpu_hour=plan.lease_price_usd_per_gpu_hour,
                term_hours=LEASE_TERM_HOURS,
                gpus_min=gpus,
                gpus_max=gpus,
            ),
        )
    return dataclasses.replace(
        site,
        mining=_remaining(site.mining, plan.fraction),
        gpu=gpu,
        contracts=contracts,
        gpu_price_usd_per_gpu_hour=market_price,
    )


def _remaining(mining: MiningSpec | None, fraction: float) -> MiningSpec | None:
    """The fleet's machines left after moving ``fraction`` of each line out (whole machines)."""
    if mining is None:
        return None
    lines = []
    for line in mining.fleet.lines:
        count = math.floor(line.count * (1.0 - fraction) + 1e-9)
        if count > 0:
            lines.append(FleetLine(line.machine, count))
    if not lines:
        return None
    return dataclasses.replace(mining, fleet=Fleet(tuple(lines)))
