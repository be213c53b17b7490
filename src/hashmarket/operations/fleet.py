"""Fleet economics: machines, every cost a miner pays, breakeven, shutdown, margin and payback.

Units. Hashprice is USD per PH/s per day (the index unit). A machine of efficiency ``e`` J/TH
running 1 PH/s (= 1,000 TH/s) draws 1,000·e W = e kW, so in a day it uses 24·e kWh:

    energy_cost_usd_per_ph_day = 24 · efficiency_j_per_th · power_price_usd_per_kwh

(20 J/TH at $0.05/kWh → $24 per PH/s per day.) The costs, per PH/s of *installed* hashrate
per day, with ``u`` the uptime (the share of the day the fleet hashes and draws power):

* energy and hosting billed per kWh drawn: ``24 · e · (power + hosting) · u`` — avoidable:
  a switched-off machine draws nothing;
* service billed per TH/s installed per day (``1,000 · service_usd_per_th_day``) and fixed
  site costs (``fixed_usd_per_day / installed PH/s``) — paid whether the fleet runs or not.

Revenue is ``hashprice · u · (1 − pool_fee)``: the pool keeps its fee out of what the
hashrate earns. The pool fee is a share of revenue, so *every* cost is grossed up by it:

    breakeven_hashprice = (24·e·(power + hosting)·u + 1000·service + fixed/PH) / (u·(1 − fee))
    shutdown_hashprice  = 24·e·(power + hosting) / (1 − fee)

Below the shutdown hashprice a running machine loses more than a switched-off one (the
unavoidable costs are paid either way); between shutdown and breakeven it still runs, at a
loss smaller than switching off.

Everything here is a pure function over arrays. Payback over a path or the model's scenarios
is in ``operations/payback.py``; the machine catalogue reader in ``operations/catalogue.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.errors import UsageError
from hashmarket.units import HOURS_PER_DAY, TH_PER_PH, WATTS_PER_KILOWATT

FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# Machines and fleets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Machine:
    """One ASIC model: its nominal hashrate and power at the wall, and where they come from."""

    model: str
    hashrate_ths: float
    power_w: float
    maker: str = ""
    release_year: int | None = None
    source: str = "custom"

    def __post_init__(self) -> None:
        for name in ("hashrate_ths", "power_w"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise UsageError("bad_option", option=name, problem=f"must be > 0, got {value!r}")

    @property
    def efficiency_j_per_th(self) -> float:
        """Joules per terahash = watts per TH/s."""
        return self.power_w / self.hashrate_ths

    @classmethod
    def custom(cls, *, hashrate_ths: float, power_w: float, model: str = "custom") -> Machine:
        return cls(model=model, hashrate_ths=hashrate_ths, power_w=power_w)


@dataclass(frozen=True, slots=True)
class FleetLine:
    machine: Machine
    count: int

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count <= 0:
            raise UsageError("bad_option", option="count", problem="must be a positive integer")


@dataclass(frozen=True, slots=True)
class Fleet:
    """Machines and how many of each."""

    lines: tuple[FleetLine, ...]

    def __post_init__(self) -> None:
        if not self.lines:
            raise UsageError("bad_option", option="fleet", problem="has no machines")

    @classmethod
    def of(cls, machine: Machine, count: int = 1) -> Fleet:
        return cls((FleetLine(machine, count),))

    @property
    def hashrate_ths(self) -> float:
        return sum(line.machine.hashrate_ths * line.count for line in self.lines)

    @property
    def hashrate_phs(self) -> float:
        return self.hashrate_ths / TH_PER_PH

    @property
    def power_w(self) -> float:
        return sum(line.machine.power_w * line.count for line in self.lines)

    @property
    def efficiency_j_per_th(self) -> float:
        """Fleet-wide efficiency: total power over total hashrate (not a mean of ratios)."""
        return self.power_w / self.hashrate_ths

    @property
    def machines(self) -> int:
        return sum(line.count for line in self.lines)

    def describe(self) -> str:
        return " + ".join(f"{line.count} × {line.machine.model}" for line in self.lines)


# --------------------------------------------------------------------------------------------
# Costs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Costs:
    """Every cost of running a fleet (all optional but the power price).

    ``hosting_usd_per_kwh`` is a hosting charge billed per kWh drawn on top of the power price
    (for an all-in hosting rate, put it all in ``power_price_usd_per_kwh``);
    ``service_usd_per_th_day`` a maintenance/service fee per TH/s installed per day;
    ``fixed_usd_per_day`` site costs paid whether machines run or not; ``uptime_fraction``
    the share of the day the fleet hashes (and draws power).
    """

    power_price_usd_per_kwh: float
    pool_fee_fraction: float = 0.0
    hosting_usd_per_kwh: float = 0.0
    service_usd_per_th_day: float = 0.0
    fixed_usd_per_day: float = 0.0
    uptime_fraction: float = 1.0

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, problem: str) -> None:
            value = getattr(self, name)
            if not (math.isfinite(value) and ok):
                raise UsageError("bad_option", option=name, problem=f"{problem}, got {value!r}")

        check("power_price_usd_per_kwh", self.power_price_usd_per_kwh >= 0, "must be >= 0")
        check("pool_fee_fraction", 0 <= self.pool_fee_fraction < 1, "must be in [0, 1)")
        check("hosting_usd_per_kwh", self.hosting_usd_per_kwh >= 0, "must be >= 0")
        check("service_usd_per_th_day", self.service_usd_per_th_day >= 0, "must be >= 0")
        check("fixed_usd_per_day", self.fixed_usd_per_day >= 0, "must be >= 0")
        check("uptime_fraction", 0 < self.uptime_fraction <= 1, "must be in (0, 1]")


def energy_cost_usd_per_ph_day(
    *, efficiency_j_per_th: float, power_price_usd_per_kwh: npt.ArrayLike
) -> FloatArray:
    """What running 1 PH/s for a day costs in power: 24 h × e kW × USD/kWh.

    1 PH/s = 1,000 TH/s; at e J/TH (= W per TH/s) it draws 1,000·e W = e kW.
    """
    kw_per_ph = efficiency_j_per_th * TH_PER_PH / WATTS_PER_KILOWATT
    return np.asarray(power_price_usd_per_kwh, dtype=np.float64) * kw_per_ph * HOURS_PER_DAY


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Daily costs per PH/s installed, at full uptime-weighted running."""

    energy_usd_per_ph_day: float
    hosting_usd_per_ph_day: float
    service_usd_per_ph_day: float
    fixed_usd_per_ph_day: float

    @property
    def avoidable_usd_per_ph_day(self) -> float:
        return self.energy_usd_per_ph_day + self.hosting_usd_per_ph_day

    @property
    def unavoidable_usd_per_ph_day(self) -> float:
        return self.service_usd_per_ph_day + self.fixed_usd_per_ph_day

    @property
    def total_usd_per_ph_day(self) -> float:
        return self.avoidable_usd_per_ph_day + self.unavoidable_usd_per_ph_day


def cost_breakdown(fleet: Fleet, costs: Costs) -> CostBreakdown:
    e, u = fleet.efficiency_j_per_th, costs.uptime_fraction
    energy = float(
        energy_cost_usd_per_ph_day(
            efficiency_j_per_th=e, power_price_usd_per_kwh=costs.power_price_usd_per_kwh
        )
    )
    hosting = float(
        energy_cost_usd_per_ph_day(
            efficiency_j_per_th=e, power_price_usd_per_kwh=costs.hosting_usd_per_kwh
        )
    )
    return CostBreakdown(
        energy_usd_per_ph_day=energy * u,
        hosting_usd_per_ph_day=hosting * u,
        service_usd_per_ph_day=costs.service_usd_per_th_day * TH_PER_PH,
        fixed_usd_per_ph_day=costs.fixed_usd_per_day / fleet.hashrate_phs,
    )


# --------------------------------------------------------------------------------------------
# Breakeven and shutdown
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Breakeven:
    """Breakeven and shutdown points of a fleet (hashprice in USD per PH/s per day)."""

    breakeven_hashprice_usd_per_ph_day: float
    shutdown_hashprice_usd_per_ph_day: float
    costs_usd_per_ph_day: CostBreakdown
    # At a given hashprice (None when none was given):
    hashprice_usd_per_ph_day: float | None = None
    breakeven_power_price_usd_per_kwh: float | None = None
    shutdown_power_price_usd_per_kwh: float | None = None
    margin_usd_per_day: float | None = None


def breakeven_hashprice_usd_per_ph_day(fleet: Fleet, costs: Costs) -> float:
    """The hashprice at which revenue net of the pool fee pays every cost."""
    c = cost_breakdown(fleet, costs)
    return c.total_usd_per_ph_day / (costs.uptime_fraction * (1 - costs.pool_fee_fraction))


def shutdown_hashprice_usd_per_ph_day(fleet: Fleet, costs: Costs) -> float:
    """Below this hashprice, running loses more than switching off (avoidable costs only)."""
    per_ph_running = energy_cost_usd_per_ph_day(
        efficiency_j_per_th=fleet.efficiency_j_per_th,
        power_price_usd_per_kwh=costs.power_price_usd_per_kwh + costs.hosting_usd_per_kwh,
    )
    return float(per_ph_running) / (1 - costs.pool_fee_fraction)


def breakeven_power_price_usd_per_kwh(
    fleet: Fleet, costs: Costs, *, hashprice_usd_per_ph_day: float
) -> float:
    """The power price at which the fleet breaks even at this hashprice (may be negative:
    then no power price makes it profitable)."""
    u, e = costs.uptime_fraction, fleet.efficiency_j_per_th
    c = cost_breakdown(fleet, costs)
    net_revenue = hashprice_usd_per_ph_day * u * (1 - costs.pool_fee_fraction)
    kwh_per_ph_day = e * TH_PER_PH / WATTS_PER_KILOWATT * HOURS_PER_DAY * u
    return (net_revenue - c.unavoidable_usd_per_ph_day) / kwh_per_ph_day - costs.hosting_usd_per_kwh


def shutdown_power_price_usd_per_kwh(
    fleet: Fleet, costs: Costs, *, hashprice_usd_per_ph_day: float
) -> float:
    """Above this power price, running at this hashprice loses more than switching off."""
    kwh_per_ph_day = fleet.efficiency_j_per_th * TH_PER_PH / WATTS_PER_KILOWATT * HOURS_PER_DAY
    net_revenue = hashprice_usd_per_ph_day * (1 - costs.pool_fee_fraction)
    return net_revenue / kwh_per_ph_day - costs.hosting_usd_per_kwh


def breakeven(
    fleet: Fleet, costs: Costs, *, hashprice_usd_per_ph_day: float | None = None
) -> Breakeven:
    """Every breakeven figure; the power-price ones and the margin need a hashprice."""
    if hashprice_usd_per_ph_day is None:
        return Breakeven(
            breakeven_hashprice_usd_per_ph_day=breakeven_hashprice_usd_per_ph_day(fleet, costs),
            shutdown_hashprice_usd_per_ph_day=shutdown_hashprice_usd_per_ph_day(fleet, costs),
            costs_usd_per_ph_day=cost_breakdown(fleet, costs),
        )
    margin = daily_margin_usd(
        fleet, costs, hashprice_usd_per_ph_day=np.array([hashprice_usd_per_ph_day])
    )
    return Breakeven(
        breakeven_hashprice_usd_per_ph_day=breakeven_hashprice_usd_per_ph_day(fleet, costs),
        shutdown_hashprice_usd_per_ph_day=shutdown_hashprice_usd_per_ph_day(fleet, costs),
        costs_usd_per_ph_day=cost_breakdown(fleet, costs),
        hashprice_usd_per_ph_day=hashprice_usd_per_ph_day,
        breakeven_power_price_usd_per_kwh=breakeven_power_price_usd_per_kwh(
            fleet, costs, hashprice_usd_per_ph_day=hashprice_usd_per_ph_day
        ),
        shutdown_power_price_usd_per_kwh=shutdown_power_price_usd_per_kwh(
            fleet, costs, hashprice_usd_per_ph_day=hashprice_usd_per_ph_day
        ),
        margin_usd_per_day=float(margin.margin_usd[0]),
    )


# --------------------------------------------------------------------------------------------
# Daily margin
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyMargin:
    """Per-day amounts in USD for the whole fleet (arrays shaped like the hashprice input)."""

    revenue_usd: FloatArray  # after the pool fee
    pool_fee_usd: FloatArray
    energy_usd: FloatArray
    hosting_usd: FloatArray
    service_usd: FloatArray
    fixed_usd: FloatArray
    margin_usd: FloatArray
    running: npt.NDArray[np.bool_]


def daily_margin_usd(
    fleet: Fleet,
    costs: Costs,
    *,
    hashprice_usd_per_ph_day: npt.ArrayLike,
    power_price_factor: npt.ArrayLike = 1.0,
    curtail: bool = False,
) -> DailyMargin:
    """The fleet's daily margin at each hashprice (any shape: days, or paths × days).

    ``power_price_factor`` scales the power price day by day (escalation scenarios).
    With ``curtail`` the fleet is switched off on days when running loses more than being off
    (hashprice below the shutdown price); off days still pay service and fixed costs.
    """
    hashprice = np.asarray(hashprice_usd_per_ph_day, dtype=np.float64)
    phs, u, fee = fleet.hashrate_phs, costs.uptime_fraction, costs.pool_fee_fraction
    gross = hashprice * phs * u
    energy = (
        energy_cost_usd_per_ph_day(
            efficiency_j_per_th=fleet.efficiency_j_per_th,
            power_price_usd_per_kwh=costs.power_price_usd_per_kwh
            * np.asarray(power_price_factor, dtype=np.float64),
        )
        * phs
        * u
    )
    hosting = (
        energy_cost_usd_per_ph_day(
            efficiency_j_per_th=fleet.efficiency_j_per_th,
            power_price_usd_per_kwh=costs.hosting_usd_per_kwh,
        )
        * phs
        * u
    )
    energy, hosting = np.broadcast_to(energy, gross.shape), np.broadcast_to(hosting, gross.shape)
    running = np.ones(gross.shape, dtype=bool)
    if curtail:
        running = gross * (1 - fee) >= energy + hosting
    on = running.astype(np.float64)
    service = np.full(gross.shape, costs.service_usd_per_th_day * fleet.hashrate_ths)
    fixed = np.full(gross.shape, costs.fixed_usd_per_day)
    revenue = gross * (1 - fee) * on
    return DailyMargin(
        revenue_usd=revenue,
        pool_fee_usd=gross * fee * on,
        energy_usd=energy * on,
        hosting_usd=hosting * on,
        service_usd=service,
        fixed_usd=fixed,
        margin_usd=revenue - (energy + hosting) * on - service - fixed,
        running=running,
    )


@dataclass(frozen=True)
class ProfitReport:
    """Margin over a run of days, and whether the fleet made or lost money over it."""

    days: pd.DataFrame  # one row per day, USD amounts, units in column names
    total_margin_usd: float
    days_losing: int
    days_counted: int
    curtailed_days: int

    @property
    def status(self) -> str:
        """``losing`` when the margin over the period is negative, else ``profitable``."""
        return "losing" if self.total_margin_usd < 0 else "profitable"

    @property
    def losing_every_day(self) -> bool:
        return self.days_counted > 0 and self.days_losing == self.days_counted


def profit_on_history(
    fleet: Fleet,
    costs: Costs,
    *,
    hashprice_usd_per_ph_day: pd.Series,
    curtail: bool = False,
) -> ProfitReport:
    """Daily margin over an index history (a Series indexed by day; missing days skipped)."""
    series = hashprice_usd_per_ph_day.dropna()
    m = daily_margin_usd(
        fleet, costs, hashprice_usd_per_ph_day=series.to_numpy(dtype=np.float64), curtail=curtail
    )
    days = pd.DataFrame(
        {
            "hashprice_usd_per_ph_day": series.to_numpy(dtype=np.float64),
            "revenue_usd": m.revenue_usd,
            "pool_fee_usd": m.pool_fee_usd,
            "energy_usd": m.energy_usd,
            "hosting_usd": m.hosting_usd,
            "service_usd": m.service_usd,
            "fixed_usd": m.fixed_usd,
            "margin_usd": m.margin_usd,
            "running": m.running,
        },
        index=series.index,
    )
    days["cumulative_margin_usd"] = days["margin_usd"].cumsum()
    return ProfitReport(
        days=days,
        total_margin_usd=float(m.margin_usd.sum()),
        days_losing=int((m.margin_usd < 0).sum()),
        days_counted=len(series),
        curtailed_days=int((~m.running).sum()),
    )
