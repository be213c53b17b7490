"""Mining machines as loan collateral: what a pledged ASIC is worth on a path, and what a
forced sale of it fetches.

**Margin value.** On day ``t`` of a path one machine is worth the present value of the mining
margin it has left::

    V_t = Σ_{k=1..N_t} d^k · max(0, R_t · g^k − C)

* ``R_t`` = the day's hashprice index (USD per PH/s per day) / 1000 × ``hashrate_ths`` — what
  the machine earns in a day at today's hashprice;
* ``g = exp(−difficulty_growth_per_year / 365)``: difficulty grows, so each machine's share of
  the reward shrinks and its revenue is projected to fall by that factor a day;
* ``C`` = ``efficiency_j_per_th`` × ``hashrate_ths`` × 24 h / 1000 × ``power_usd_per_kwh`` —
  the day's power bill, fixed;
* ``d = exp(−discount_rate_per_year / 365)``;
* ``N_t`` = days from ``t`` to ``end_of_life`` (the machine's maximum life).

The projected margin falls every day, so once it is negative it stays negative: the machine is
obsolete from the first such day, ``t + K_t + 1`` with ``K_t`` the number of days of positive
margin left (:func:`margin_days`), unless its life ends first. The sum is two geometric series
over those ``K_t`` days, so it is evaluated in closed form on every path at once
(:func:`margin_value_usd`); with no difficulty growth it is the annuity
``(R − C) · d (1 − d^N) / (1 − d)``.

Today's hashprice moves ``R_t``, so the collateral value — and with it the loan's LTV — moves
with hashprice, with leverage ``R / (R − C)``: a machine near its breakeven loses value fastest.

**Forced sale.** Buyers of used machines pay a fraction of that value, and less when mining is
bad: ``φ(h) = floor + (fraction − floor) · min(1, h / h_ref)`` with ``h`` the day's hashprice and
``h_ref`` = ``reference_hashprice_usd_per_ph_day`` (:func:`secondary_fraction`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hashmarket.errors import RiskError
from hashmarket.units import DAYS_PER_YEAR_ACT365, TH_PER_PH, electricity_kwh_per_day

FloatArray = npt.NDArray[np.float64]


def _bad(field_name: str, problem: str) -> RiskError:
    return RiskError("risk_field", field=f"collateral.machine.{field_name}", problem=problem)


@dataclass(frozen=True)
class MachineCollateral:
    """One pledged machine's terms: what it mines and burns, how long it may run, how its
    future is discounted and what a forced sale fetches."""

    model: str
    hashrate_ths: float
    efficiency_j_per_th: float
    power_usd_per_kwh: float
    end_of_life: dt.date
    reference_hashprice_usd_per_ph_day: float
    difficulty_growth_per_year: float = 0.0
    discount_rate_per_year: float = 0.0
    secondary_fraction: float = 0.6
    secondary_floor: float = 0.2

    def __post_init__(self) -> None:
        for name in ("hashrate_ths", "efficiency_j_per_th", "reference_hashprice_usd_per_ph_day"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise _bad(name, f"{value} must be greater than zero")
        for name in ("power_usd_per_kwh", "difficulty_growth_per_year", "discount_rate_per_year"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise _bad(name, f"{value} must not be negative")
        if not 0 <= self.secondary_floor <= self.secondary_fraction <= 1:
            raise _bad(
                "secondary_fraction",
                "need 0 <= secondary_floor <= secondary_fraction <= 1, got "
                f"{self.secondary_floor} and {self.secondary_fraction}",
            )

    @property
    def power_cost_usd_per_day(self) -> float:
        """``C``: the machine's power bill for a day."""
        kwh = electricity_kwh_per_day(self.efficiency_j_per_th, self.hashrate_ths)
        return kwh * self.power_usd_per_kwh

    def revenue_usd_per_day(self, hashprice_usd_per_ph_day: FloatArray) -> FloatArray:
        """``R``: what the machine earns in a day at the given hashprice."""
        return np.asarray(hashprice_usd_per_ph_day, dtype=np.float64) * (
            self.hashrate_ths / TH_PER_PH
        )

    @property
    def growth_factor_per_day(self) -> float:
        """``g``: the projected daily fall of a machine's revenue as difficulty grows."""
        return math.exp(-self.difficulty_growth_per_year / DAYS_PER_YEAR_ACT365)

    @property
    def discount_factor_per_day(self) -> float:
        return math.exp(-self.discount_rate_per_year / DAYS_PER_YEAR_ACT365)

    def days_left(self, day: dt.date) -> int:
        """``N``: days of life after ``day``."""
        return max(0, (self.end_of_life - day).days)


def margin_days(
    machine: MachineCollateral, revenue_usd_per_day: FloatArray, days_left: int
) -> npt.NDArray[np.int64]:
    """``K``: of the next ``days_left`` days, how many have a positive projected margin
    (``R·g^k > C`` for k = 1…K). The machine is obsolete on day K + 1 if K < ``days_left``."""
    revenue = np.asarray(revenue_usd_per_day, dtype=np.float64)
    cost = machine.power_cost_usd_per_day
    rate = machine.difficulty_growth_per_year / DAYS_PER_YEAR_ACT365  # −ln g
    with np.errstate(divide="ignore", invalid="ignore"):
        if rate == 0.0 or cost == 0.0:
            k = np.where(revenue > cost, float(days_left), 0.0)
        else:
            # R·e^{−rate·k} > C  ⇔  k < ln(R/C)/rate; the largest such integer k.
            bound = np.log(np.where(revenue > 0, revenue, np.nan) / cost) / rate
            k = np.where(revenue > cost, np.ceil(bound) - 1.0, 0.0)
    return np.asarray(np.clip(np.nan_to_num(k), 0, days_left), dtype=np.int64)


def _geometric(ratio: float, count: npt.NDArray[np.int64]) -> FloatArray:
    """``Σ_{k=1..count} ratio^k`` per element (``count`` when ratio is 1)."""
    n = count.astype(np.float64)
    if ratio == 1.0:
        return n
    return np.asarray(ratio * (1.0 - ratio**n) / (1.0 - ratio), dtype=np.float64)


def margin_value_usd(
    machine: MachineCollateral, *, hashprice_usd_per_ph_day: FloatArray, day: dt.date
) -> FloatArray:
    """``V``: one machine's remaining margin, discounted, at each path's hashprice on ``day``
    (the module docstring has the formula)."""
    revenue = machine.revenue_usd_per_day(hashprice_usd_per_ph_day)
    count = margin_days(machine, revenue, machine.days_left(day))
    d, g = machine.discount_factor_per_day, machine.growth_factor_per_day
    value = revenue * _geometric(d * g, count) - machine.power_cost_usd_per_day * _geometric(
        d, count
    )
    return np.maximum(value, 0.0)


def margin_value_slope_ph_days(
    machine: MachineCollateral, *, hashprice_usd_per_ph_day: FloatArray, day: dt.date
) -> FloatArray:
    """``∂V/∂h`` in PH/s·days: how many USD one machine's value moves per USD of hashprice,
    ``hashrate_phs · Σ_{k=1..K} (d·g)^k`` (the days that are still in the money)."""
    revenue = machine.revenue_usd_per_day(hashprice_usd_per_ph_day)
    count = margin_days(machine, revenue, machine.days_left(day))
    weight = _geometric(machine.discount_factor_per_day * machine.growth_factor_per_day, count)
    return weight * (machine.hashrate_ths / TH_PER_PH)


def obsolescence_date(
    machine: MachineCollateral, *, hashprice_usd_per_ph_day: float, day: dt.date
) -> dt.date:
    """The first day the projected margin is negative, or the end of life if that is sooner."""
    revenue = machine.revenue_usd_per_day(np.array([hashprice_usd_per_ph_day]))
    days_left = machine.days_left(day)
    k = int(margin_days(machine, revenue, days_left)[0])
    return machine.end_of_life if k >= days_left else day + dt.timedelta(days=k + 1)


def secondary_fraction(
    machine: MachineCollateral, hashprice_usd_per_ph_day: FloatArray
) -> FloatArray:
    """``φ(h)``: the share of its margin value a forced sale of a machine fetches."""
    h = np.asarray(hashprice_usd_per_ph_day, dtype=np.float64)
    level = np.minimum(1.0, np.maximum(h, 0.0) / machine.reference_hashprice_usd_per_ph_day)
    spread = machine.secondary_fraction - machine.secondary_floor
    return np.asarray(machine.secondary_floor + spread * level, dtype=np.float64)


def machine_facts(
    machine: MachineCollateral, *, hashprice_usd_per_ph_day: float, day: dt.date
) -> dict[str, object]:
    """One machine on ``day`` at the given hashprice, in the numbers a lender reads."""
    hashprice = np.array([hashprice_usd_per_ph_day])
    return {
        "model": machine.model,
        "hashrate_ths": machine.hashrate_ths,
        "efficiency_j_per_th": machine.efficiency_j_per_th,
        "hashprice_usd_per_ph_day": hashprice_usd_per_ph_day,
        "revenue_usd_per_day": float(machine.revenue_usd_per_day(hashprice)[0]),
        "power_cost_usd_per_day": machine.power_cost_usd_per_day,
        "value_usd": float(
            margin_value_usd(machine, hashprice_usd_per_ph_day=hashprice, day=day)[0]
        ),
        "obsolescence_date": obsolescence_date(
            machine, hashprice_usd_per_ph_day=hashprice_usd_per_ph_day, day=day
        ).isoformat(),
        "secondary_fraction": float(secondary_fraction(machine, hashprice)[0]),
    }
