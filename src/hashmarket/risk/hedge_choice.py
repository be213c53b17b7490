"""Which hedge fits the miner: lock a price once the machines have paid back, keep the upside
while their capital is still at risk.

**The capital at risk.** ``K`` = the machines' cost less the net cash they have earned since
they were bought (revenue − power − fixed costs each day, on the realized index from the
purchase date to the as-of date: ``operations.payback_days`` finds the day they paid back, if
they did), floored at zero; or ``unrecovered_capital_usd`` when the profile gives it.

**Two plans, side by side**, from the planner's scan (``risk/hedge_plan.py``):

* **lock** — the cheapest swap or forward (``hashprice_forward``, ``btc_swap``) that covers
  cash costs in every month with the target probability (or, if none does, the one closest);
* **puts** — the cheapest put on the monthly average BTC price, any strike, likewise.

For each: the probability of recovering ``K`` by the horizon (the hedged net cash, summed
month by month, reaches ``K``: ``payback_days`` on the months), the median month it does, the
premium, the expected revenue given up, and the total net cash's P5 / median / P95 (the
upside it keeps).

**The choice.** Machines that have paid back have nothing left to recover: the planner locks
the price, the cheapest certainty. Machines that have not need the hedge that recovers their
capital more surely: the planner takes the plan with the higher probability of recovering
``K`` by the horizon, the puts when they are level. That is the puts whenever recovering needs
the upside (a lock at fair less the spread pins the net cash near its mean, so when the mean
falls short of ``K`` it recovers on few paths); the lock when the mean clears ``K`` by enough.
The answer says which and why, with these numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.errors import RiskError
from hashmarket.instruments import Fixings
from hashmarket.operations import payback_days
from hashmarket.risk.hedge_plan import Hedge, HedgePlan, hedged_net
from hashmarket.risk.hedging import MinerPaths, MinerProfile

FloatArray = npt.NDArray[np.float64]
LOCK_FAMILIES = ("hashprice_forward", "btc_swap")
PUT_FAMILIES = ("btc_put",)
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Capital:
    """The machines' capital and how much of it is still to recover at the as-of date."""

    machine_cost_usd: float
    purchase_date: dt.date | None
    recovered_usd: float  # net cash earned from the purchase to the as-of date
    unrecovered_usd: float
    paid_back_on: dt.date | None
    days_without_index: int = 0  # counted at the last known value (carried_forward)

    @property
    def paid_back(self) -> bool:
        return self.unrecovered_usd <= 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine_cost_usd": self.machine_cost_usd,
            "purchase_date": None if self.purchase_date is None else str(self.purchase_date),
            "recovered_usd": self.recovered_usd,
            "unrecovered_usd": self.unrecovered_usd,
            "paid_back": self.paid_back,
            "paid_back_on": None if self.paid_back_on is None else str(self.paid_back_on),
            "days_without_index": self.days_without_index,
        }


def realized_net_usd(profile: MinerProfile, hashprice_usd_per_ph_day: FloatArray) -> FloatArray:
    """The miner's net cash on each past day: revenue at the day's index less power and the
    fixed costs spread evenly over the year's days (USD)."""
    fixed_per_day = profile.fixed_costs_usd_per_month * 12 / DAYS_PER_YEAR
    revenue = profile.effective_phs * np.asarray(hashprice_usd_per_ph_day, dtype=np.float64)
    return np.asarray(revenue - profile.power_usd_per_day - fixed_per_day, dtype=np.float64)


def capital_at_risk(profile: MinerProfile, *, realized: Fixings | None) -> Capital:
    """``K`` (module docstring): given, or the cost less the net cash earned on ``realized``
    (the index from the purchase date to the as-of date)."""
    if profile.unrecovered_capital_usd is not None:
        k = profile.unrecovered_capital_usd
        return Capital(profile.machine_cost_usd, profile.purchase_date, 0.0, k, None)
    assert profile.purchase_date is not None and realized is not None
    index = realized.values["hashprice_usd_per_ph_day"][0]
    gaps = int(np.isnan(index).sum())
    net = realized_net_usd(profile, carried_forward(index))
    cost = profile.machine_cost_usd
    day = float(payback_days(net, capex_usd=cost)) if len(net) else math.nan
    paid_on = None if math.isnan(day) else realized.first_date + dt.timedelta(days=day - 1)
    recovered = float(net.sum())
    return Capital(
        cost, profile.purchase_date, recovered, max(cost - recovered, 0.0), paid_on, gaps
    )


def carried_forward(values: FloatArray) -> FloatArray:
    """``values`` with each gap (NaN: a day the index has no value, for want of a price or
    a difficulty) filled with the last value before it; leading gaps with the first value.
    The machines ran on those days, so they count, at the nearest known hashprice."""
    out = np.asarray(values, dtype=np.float64).copy()
    known = np.flatnonzero(~np.isnan(out))
    if len(known) == 0:
        raise RiskError("risk_field", field="purchase_date", problem="no index value since then")
    last = np.maximum.accumulate(np.where(np.isnan(out), -1, np.arange(len(out))))
    out = np.where(last >= 0, out[np.maximum(last, 0)], out[known[0]])
    return out


@dataclass(frozen=True)
class PlanOutcome:
    """One of the two plans: its hedge and what it does to recovering the capital."""

    plan: str  # "lock" or "puts"
    hedge: Hedge
    meets_target: bool
    probability_recovered: float
    median_recovery_month: str | None
    total_net_p5_usd: float
    total_net_median_usd: float
    total_net_p95_usd: float

    def to_dict(self) -> dict[str, Any]:
        h = self.hedge
        return {
            "plan": self.plan,
            "family": h.family,
            "ratio": h.ratio,
            "put_strike_moneyness": h.put_moneyness,
            "meets_coverage_target": self.meets_target,
            "premium_usd": h.premium_usd,
            "expected_revenue_given_up_usd": h.revenue_given_up_usd,
            "probability_not_covered": h.after.probability_not_covered,
            "probability_capital_recovered": self.probability_recovered,
            "median_recovery_month": self.median_recovery_month,
            "total_net_p5_usd": self.total_net_p5_usd,
            "total_net_median_usd": self.total_net_median_usd,
            "total_net_p95_usd": self.total_net_p95_usd,
        }


def outcome(
    plan: str, hedge: Hedge, meets: bool, paths: MinerPaths, capital_usd: float
) -> PlanOutcome:
    """What ``hedge`` does on ``paths`` to recovering ``capital_usd`` by the horizon."""
    net = hedged_net(hedge, paths)
    month = payback_days(net, capex_usd=capital_usd)  # the months' index, 1-based
    recovered = ~np.isnan(month)
    median = float(np.quantile(np.where(recovered, month, np.inf), 0.5, method="inverted_cdf"))
    totals = np.quantile(net.sum(axis=1), [0.05, 0.5, 0.95])
    return PlanOutcome(
        plan=plan,
        hedge=hedge,
        meets_target=meets,
        probability_recovered=float(recovered.mean()),
        median_recovery_month=None
        if math.isinf(median)
        else f"{paths.months[int(median) - 1][0]:%Y-%m}",
        total_net_p5_usd=float(totals[0]),
        total_net_median_usd=float(totals[1]),
        total_net_p95_usd=float(totals[2]),
    )


def best_of(plan: HedgePlan, families: tuple[str, ...]) -> tuple[Hedge, bool]:
    """The cheapest hedge of ``families`` reaching the target, else the one covering costs
    with the highest probability in the average month (and whether it reaches the target).
    Over a strip of years some months (after a halving, say) may be short of costs whatever
    the hedge: the worst month cannot rank the hedges then, the average month can."""
    scans = [s for s in plan.scans if s.effort.family in families]
    meeting = [s.meets for s in scans if s.meets is not None]
    if meeting:
        return min(meeting, key=lambda h: h.revenue_given_up_usd), True
    return max((s.steadiest for s in scans), key=_mean_coverage), False


def _mean_coverage(hedge: Hedge) -> float:
    by_month = hedge.after.coverage_by_month
    return sum(by_month) / len(by_month)


@dataclass(frozen=True)
class HedgeChoice:
    capital: Capital
    horizon: str  # the last month hedged
    expected_net_usd: float  # unhedged, over the horizon
    unhedged_probability_recovered: float
    lock: PlanOutcome
    puts: PlanOutcome
    chosen: str
    reason: str

    @property
    def chosen_outcome(self) -> PlanOutcome:
        return self.lock if self.chosen == "lock" else self.puts

    def to_dict(self) -> dict[str, Any]:
        return {
            "capital": self.capital.to_dict(),
            "last_month_hedged": self.horizon,
            "expected_unhedged_net_usd": self.expected_net_usd,
            "unhedged_probability_capital_recovered": self.unhedged_probability_recovered,
            "lock": self.lock.to_dict(),
            "puts": self.puts.to_dict(),
            "chosen": self.chosen,
            "reason": self.reason,
        }


def _usd(value: float) -> str:
    return f"{value:,.0f} USD"


def _reason(capital: Capital, lock: PlanOutcome, puts: PlanOutcome, chosen: str, end: str) -> str:
    def cost(o: PlanOutcome) -> str:
        return (
            f"premium {_usd(o.hedge.premium_usd)}, expected revenue given up "
            f"{_usd(o.hedge.revenue_given_up_usd)}"
        )

    lock_name = f"the {lock.hedge.family} at {lock.hedge.ratio:.0%} of output"
    puts_name = (
        f"puts struck at {puts.hedge.put_moneyness or 0:.0%} of spot on "
        f"{puts.hedge.ratio:.0%} of output"
    )
    if capital.paid_back:
        since = f" on {capital.paid_back_on}" if capital.paid_back_on else ""
        return (
            f"the machines have paid back{since}: no capital is left to recover, so the "
            f"planner locks the price with {lock_name} ({cost(lock)}) rather than buy "
            f"{puts_name} ({cost(puts)})"
        )
    at_risk = (
        f"{_usd(capital.unrecovered_usd)} of the machines' capital is still to recover by {end}"
    )
    odds = (
        f"the probability of recovering it is {puts.probability_recovered:.1%} with "
        f"{puts_name} ({cost(puts)}) and {lock.probability_recovered:.1%} with {lock_name} "
        f"({cost(lock)})"
    )
    if chosen == "puts":
        return f"{at_risk}; {odds}: the planner buys the puts, which keep the upside"
    return (
        f"{at_risk}; {odds}: expected net cash clears the capital, so locking recovers it "
        "more surely"
    )


def pick(capital: Capital, lock: PlanOutcome, puts: PlanOutcome) -> str:
    """``"lock"`` once the machines have paid back; before, the plan more likely to recover
    the capital by the horizon, the puts when level (module docstring)."""
    if capital.paid_back:
        return "lock"
    return "puts" if puts.probability_recovered >= lock.probability_recovered else "lock"


def choose(plan: HedgePlan, paths: MinerPaths, capital: Capital) -> HedgePlan:
    """The plan with the situation's choice (module docstring): the two plans, the chosen one
    as the recommendation (or the best effort if it misses the target), and why."""
    k = capital.unrecovered_usd
    lock_hedge, lock_meets = best_of(plan, LOCK_FAMILIES)
    puts_hedge, puts_meets = best_of(plan, PUT_FAMILIES)
    lock = outcome("lock", lock_hedge, lock_meets, paths, k)
    puts = outcome("puts", puts_hedge, puts_meets, paths, k)
    chosen = pick(capital, lock, puts)
    end = plan.months[-1]
    choice = HedgeChoice(
        capital=capital,
        horizon=end,
        expected_net_usd=float(paths.net_usd.sum(axis=1).mean()),
        unhedged_probability_recovered=float(
            (~np.isnan(payback_days(paths.net_usd, capex_usd=k))).mean()
        ),
        lock=lock,
        puts=puts,
        chosen=chosen,
        reason=_reason(capital, lock, puts, chosen, end),
    )
    picked = choice.chosen_outcome
    notes = list(plan.notes)
    if not picked.meets_target:
        notes.append(
            f"no {picked.plan} hedge reaches {plan.target:.0%} coverage in every month; the "
            f"one shown ({picked.hedge.family}, ratio {picked.hedge.ratio}) covers the average "
            f"month with probability {_mean_coverage(picked.hedge):.1%}"
        )
    return dataclasses.replace(
        plan,
        recommended=picked.hedge if picked.meets_target else None,
        best_effort=picked.hedge if not picked.meets_target else plan.best_effort,
        choice=choice,
        notes=tuple(notes),
    )
