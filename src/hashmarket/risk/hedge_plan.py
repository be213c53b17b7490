"""Choosing a miner's hedge: the distribution of net cash per month with and without a hedge,
and the cheapest hedge that covers costs (``risk/hedging.py`` describes the miner, the
candidates and the rule)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hashmarket.errors import RiskError
from hashmarket.instruments import to_spec
from hashmarket.risk.hedging import (
    RATIOS,
    RULE_OF_THUMB_RANGE,
    HedgeInstrument,
    HedgePricing,
    MinerPaths,
    MinerProfile,
    UnitHedge,
    monthly_payoff,
    unit_hedges,
)

if TYPE_CHECKING:
    from hashmarket.risk.hedge_choice import HedgeChoice

FloatArray = npt.NDArray[np.float64]


# ---- evaluation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """Monthly net cash (USD) on the paths: P5, median, P95 by month, and coverage."""

    p5: tuple[float, ...]
    p50: tuple[float, ...]
    p95: tuple[float, ...]
    mean: tuple[float, ...]
    coverage_by_month: tuple[float, ...]
    coverage_all_months: float
    expected_total_usd: float

    @property
    def coverage(self) -> float:
        """The worst month's probability that net cash is ≥ 0."""
        return min(self.coverage_by_month)

    @property
    def probability_not_covered(self) -> float:
        return 1.0 - self.coverage

    def to_dict(self) -> dict[str, Any]:
        return {
            "net_p5_usd": list(self.p5),
            "net_median_usd": list(self.p50),
            "net_p95_usd": list(self.p95),
            "net_mean_usd": list(self.mean),
            "coverage_by_month": list(self.coverage_by_month),
            "coverage_worst_month": self.coverage,
            "coverage_all_months": self.coverage_all_months,
            "probability_not_covered": self.probability_not_covered,
            "expected_total_net_usd": self.expected_total_usd,
        }


def distribution(net_usd: FloatArray) -> Distribution:
    q = np.quantile(net_usd, [0.05, 0.5, 0.95], axis=0)
    covered = net_usd >= 0
    return Distribution(
        p5=tuple(float(v) for v in q[0]),
        p50=tuple(float(v) for v in q[1]),
        p95=tuple(float(v) for v in q[2]),
        mean=tuple(float(v) for v in net_usd.mean(axis=0)),
        coverage_by_month=tuple(float(v) for v in covered.mean(axis=0)),
        coverage_all_months=float(covered.all(axis=1).mean()),
        expected_total_usd=float(net_usd.sum(axis=1).mean()),
    )


@dataclass(frozen=True)
class Hedge:
    """A hedge at a ratio: its instruments and what it does to the miner's months."""

    family: str
    description: str
    ratio: float
    put_moneyness: float | None
    instruments: tuple[HedgeInstrument, ...]
    premium_usd: float
    revenue_given_up_usd: float
    after: Distribution
    premium_by_month_usd: tuple[float, ...] = ()
    call_moneyness: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "description": self.description,
            "ratio": self.ratio,
            "put_strike_moneyness": self.put_moneyness,
            "call_strike_moneyness": list(self.call_moneyness) or None,
            "premium_usd": self.premium_usd,
            "expected_revenue_given_up_usd": self.revenue_given_up_usd,
            "after": self.after.to_dict(),
            "instruments": [to_spec(i) for i in self.instruments],
        }


def hedge_at(unit: UnitHedge, ratio: float, paths: MinerPaths) -> Hedge:
    net = paths.net_usd + ratio * unit.payoff_usd
    return Hedge(
        family=unit.family,
        description=unit.description,
        ratio=ratio,
        put_moneyness=unit.put_moneyness,
        instruments=unit.scaled(ratio),
        premium_usd=float(ratio * unit.premium_usd.sum()),
        revenue_given_up_usd=float(-ratio * unit.payoff_usd.sum(axis=1).mean()),
        after=distribution(net),
        premium_by_month_usd=tuple(float(ratio * p) for p in unit.premium_usd),
        call_moneyness=unit.call_moneyness,
    )


def hedged_net(hedge: Hedge, paths: MinerPaths) -> FloatArray:
    """Net cash by month with the hedge's instruments (fixed terms) on ``paths``, premiums as
    quoted ``[paths, months]``."""
    payoff = monthly_payoff(hedge.instruments, paths)
    premium = np.asarray(hedge.premium_by_month_usd or np.zeros(len(paths.months)))
    return np.asarray(paths.net_usd + payoff - premium[None, :], dtype=np.float64)


def evaluate(hedge: Hedge, paths: MinerPaths) -> Distribution:
    """The hedge's instruments (fixed terms) on other paths, premiums as quoted."""
    return distribution(hedged_net(hedge, paths))


@dataclass(frozen=True)
class Scan:
    """One candidate over the ratios: the cheapest ratio reaching the target in every month
    (if one does), the ratio with the best worst month, and the ratio with the best average
    month (the steadiest over a long strip whose worst months no hedge can save)."""

    meets: Hedge | None
    effort: Hedge
    steadiest: Hedge


def scan_ratios(unit: UnitHedge, paths: MinerPaths, target: float) -> Scan:
    net = paths.net_usd
    # Coverage of every ratio at once: [ratios, paths, months] would be large, so month by
    # month.
    ratios = np.array(RATIOS)
    coverage = np.ones(len(ratios))
    mean_coverage = np.zeros(len(ratios))
    for m in range(net.shape[1]):
        covered = (net[None, :, m] + ratios[:, None] * unit.payoff_usd[None, :, m]) >= 0
        coverage = np.minimum(coverage, covered.mean(axis=1))
        mean_coverage += covered.mean(axis=1) / net.shape[1]
    meeting = np.flatnonzero(coverage >= target)
    effort = hedge_at(unit, float(ratios[int(np.argmax(coverage))]), paths)
    steadiest = hedge_at(unit, float(ratios[int(np.argmax(mean_coverage))]), paths)
    meets = hedge_at(unit, float(ratios[meeting[0]]), paths) if len(meeting) else None
    return Scan(meets, effort, steadiest)


@dataclass(frozen=True)
class HedgePlan:
    """The planner's answer."""

    profile: MinerProfile
    asof: dt.date
    months: tuple[str, ...]
    n_paths: int
    seed: int
    target: float
    spot_usd: float
    costs_usd: tuple[float, ...]
    revenue_mean_usd: tuple[float, ...]
    unhedged: Distribution
    recommended: Hedge | None
    best_effort: Hedge
    rule_of_thumb: Hedge
    rule_of_thumb_ratio: float
    candidates: tuple[Hedge, ...]
    treasury_months: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Per candidate (one per family and strike): what ``risk/hedge_choice.py`` picks the two
    # plans from.
    scans: tuple[Scan, ...] = field(default=(), repr=False)
    choice: HedgeChoice | None = None

    @property
    def chosen(self) -> Hedge:
        return self.recommended if self.recommended is not None else self.best_effort

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile.to_dict(),
            "asof": self.asof.isoformat(),
            "months": list(self.months),
            "n_paths": self.n_paths,
            "seed": self.seed,
            "coverage_target": self.target,
            "spot_usd": self.spot_usd,
            "cash_costs_usd": list(self.costs_usd),
            "revenue_mean_usd": list(self.revenue_mean_usd),
            "unhedged": self.unhedged.to_dict(),
            "recommended": None if self.recommended is None else self.recommended.to_dict(),
            "best_effort": self.best_effort.to_dict(),
            "rule_of_thumb_ratio": self.rule_of_thumb_ratio,
            "rule_of_thumb": self.rule_of_thumb.to_dict(),
            "candidates": [
                {k: v for k, v in c.to_dict().items() if k != "instruments"}
                for c in self.candidates
            ],
            "btc_held_covers_months_of_costs": self.treasury_months,
            "notes": list(self.notes),
            "situation": None if self.choice is None else self.choice.to_dict(),
        }


def plan_hedge(
    profile: MinerProfile,
    paths: MinerPaths,
    *,
    spot_usd: float,
    target: float = 0.95,
    pricing: HedgePricing | None = None,
    seed: int = 0,
) -> HedgePlan:
    """The cheapest hedge reaching ``target`` coverage in every month (module docstring)."""
    if not 0.5 <= target < 1:
        raise RiskError("risk_option", name="--coverage", problem=f"{target} must be in [0.5, 1)")
    pricing = pricing or HedgePricing()
    units = unit_hedges(profile, paths, pricing=pricing, spot_usd=spot_usd)
    net = paths.net_usd
    best_per_option: list[Hedge] = []
    best_effort: Hedge | None = None
    scans: list[Scan] = []
    for unit in units:
        scan = scan_ratios(unit, paths, target)
        if best_effort is None or scan.effort.after.coverage > best_effort.after.coverage:
            best_effort = scan.effort
        if scan.meets is not None:
            best_per_option.append(scan.meets)
        scans.append(scan)
    assert best_effort is not None
    recommended = min(best_per_option, key=lambda h: h.revenue_given_up_usd, default=None)
    unhedged = distribution(net)
    cash_costs = float(paths.costs_usd.sum())
    expected_revenue = float(paths.revenue_usd.sum(axis=1).mean())
    share = cash_costs / expected_revenue if expected_revenue > 0 else 1.0
    rot_ratio = float(min(max(share, 0.0), 1.0))
    rule = hedge_at(units[0], rot_ratio, paths)
    notes = []
    lo, hi = RULE_OF_THUMB_RANGE
    if not lo <= share <= hi:
        notes.append(
            f"cash costs are {share:.0%} of expected revenue, outside the rule of thumb's "
            "usual 1/3 to 1/2"
        )
    if unhedged.coverage >= target:
        notes.append("the unhedged miner already covers its costs at the target: no hedge needed")
    if recommended is None:
        notes.append(
            f"no hedge reaches {target:.0%} coverage in every month; the best found reaches "
            f"{best_effort.after.coverage:.1%} ({best_effort.family}, ratio {best_effort.ratio})"
        )
    monthly_costs = cash_costs / len(paths.months)
    treasury = profile.btc_held * spot_usd / monthly_costs if monthly_costs > 0 else math.inf
    return HedgePlan(
        profile=profile,
        asof=paths.fixings.first_date,
        months=tuple(f"{lo:%Y-%m}" for lo, _ in paths.months),
        n_paths=paths.n_paths,
        seed=seed,
        target=target,
        spot_usd=spot_usd,
        costs_usd=tuple(float(c) for c in paths.costs_usd),
        revenue_mean_usd=tuple(float(v) for v in paths.revenue_usd.mean(axis=0)),
        unhedged=unhedged,
        recommended=recommended,
        best_effort=best_effort,
        rule_of_thumb=rule,
        rule_of_thumb_ratio=rot_ratio,
        candidates=tuple(sorted(best_per_option, key=lambda h: h.revenue_given_up_usd)),
        treasury_months=treasury,
        notes=tuple(notes),
        scans=tuple(scans),
    )
