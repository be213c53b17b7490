"""One call per lending question, as the CLI and the reports ask them.

* :func:`loan_report` — LTV levels from haircuts, and the loan's life over scenarios;
* :func:`leverage_report` — a leveraged BTC position over scenarios;
* :func:`lending_analysis` — whichever of the two a lending spec describes;
* :func:`levels_from_history` — LTV levels per collateral kind and haircut policy.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hashmarket.chain import NetworkHistory
from hashmarket.errors import RiskError
from hashmarket.instruments import (
    FIXING_FIELDS,
    CollateralKind,
    Fixings,
    Loan,
    collateral_unit_values,
    floating_record,
    loan_life,
    machine_facts,
)
from hashmarket.models import NetworkModel, NetworkState, ScenarioConfig, Scenarios
from hashmarket.risk.credit import (
    HaircutPolicy,
    LoanSummary,
    LtvLevels,
    ltv_levels_from_history,
    summarize,
)
from hashmarket.risk.leverage import LeveragedBtc, LeverageOutcome, simulate_leverage
from hashmarket.risk.specs import LendingSpec

Progress = Callable[[int, int], None]


def _floating(loan: Loan) -> dict[str, Any]:
    """A floating loan's terms and resets (a fixed-rate loan's report is unchanged)."""
    if loan.floating is None:
        return {}
    return {"floating": floating_record(loan.floating, loan.principal_usd, loan.rounding.principal)}


@dataclass(frozen=True)
class LoanReport:
    loan: Loan
    asof: dt.date
    levels: LtvLevels | None
    summary: LoanSummary
    collateral_value_usd: float
    claim_usd: float
    ltv_now: float
    collateral_for_initial_ltv: float
    lender_pnl_quantiles_usd: dict[str, float]
    machine: dict[str, object] | None = None  # one pledged machine today (machine collateral)

    def to_dict(self) -> dict[str, Any]:
        loan = self.loan
        return {
            "loan": {
                "loan_id": loan.loan_id,
                "principal_usd": loan.principal_usd,
                "rate_per_year": loan.rate_per_year,
                "start": loan.start.isoformat(),
                "maturity": loan.maturity.isoformat(),
                "collateral_kind": loan.collateral.kind.value,
                "collateral_quantity": loan.collateral.quantity,
                "collateral_unit": loan.collateral.unit,
                "initial_ltv": loan.initial_ltv,
                "margin_call_ltv": loan.margin_call_ltv,
                "liquidation_ltv": loan.liquidation_ltv,
                "liquidation_cost": loan.liquidation_cost,
                "liquidation_days": loan.liquidation_days,
                "cure_days": loan.cure_days,
                "borrower_cures": loan.borrower_cures,
                **_floating(loan),
                **({"principal_btc": loan.principal_btc} if loan.borrows_btc else {}),
            },
            "asof": self.asof.isoformat(),
            "levels_from_haircuts": None if self.levels is None else self.levels.to_dict(),
            "collateral_value_usd": self.collateral_value_usd,
            "claim_usd": self.claim_usd,
            "ltv_now": self.ltv_now,
            "collateral_for_initial_ltv": self.collateral_for_initial_ltv,
            "lender_pnl_quantiles_usd": self.lender_pnl_quantiles_usd,
            **({"machine": self.machine} if self.machine is not None else {}),
            "scenarios": self.summary.to_dict(),
        }


def _scenario_fixings(
    model: NetworkModel,
    state: NetworkState,
    days: int,
    *,
    n_paths: int,
    seed: int,
    workers: int,
    progress: Progress | None = None,
) -> Fixings:
    config = ScenarioConfig(n_paths=n_paths, seed=seed, workers=workers)
    paths = Scenarios(model, state, days, config).materialize() if days > 0 else None
    if paths is None:
        raise RiskError("risk_option", name="horizon", problem="nothing to simulate")
    values = {k: v for k, v in paths.data.items() if k in FIXING_FIELDS}
    return Fixings(dates=paths.dates, values=values)


def loan_report(
    loan: Loan,
    *,
    model: NetworkModel,
    state: NetworkState,
    levels: LtvLevels | None = None,
    n_paths: int = 10_000,
    seed: int = 0,
    workers: int = 1,
) -> LoanReport:
    """The loan's life from the as-of date to maturity (plus the time to sell) on scenarios."""
    asof = state.asof
    end = loan.maturity + dt.timedelta(days=loan.liquidation_days + loan.cure_days + 1)
    if end <= asof:
        raise RiskError("loan_state", loan=loan.loan_id, problem=f"matured before {asof}")
    fixings = _scenario_fixings(
        model, state, (end - asof).days, n_paths=n_paths, seed=seed, workers=workers
    )
    paths = loan_life(loan, fixings)
    summary = summarize(loan, paths, seed=seed)
    # One unit of collateral today, valued by the engine's own rule (path 0: the as-of
    # column is the same on every path).
    unit_value = float(collateral_unit_values(loan, fixings, 0)[0])
    collateral_value = loan.collateral.quantity * unit_value
    claim = loan.claim_usd(max(asof, loan.start))
    if loan.principal_btc is not None:  # a BTC loan's claim at today's close
        claim = loan.claim_btc(max(asof, loan.start)) * state.price_usd
    ltv_now = claim / collateral_value if collateral_value > 0 else math.inf
    needed = claim / (loan.initial_ltv * unit_value) if unit_value > 0 else math.inf
    pnl = paths.lender_pnl_usd
    q = np.quantile(pnl, [0.01, 0.05, 0.5, 0.95])
    machine, facts = loan.collateral.machine, None
    if machine is not None:
        hashprice = float(fixings.values["hashprice_usd_per_ph_day"][0, 0])
        facts = machine_facts(machine, hashprice_usd_per_ph_day=hashprice, day=asof)
    return LoanReport(
        loan=loan,
        asof=asof,
        levels=levels,
        summary=summary,
        collateral_value_usd=collateral_value,
        claim_usd=claim,
        ltv_now=ltv_now,
        collateral_for_initial_ltv=needed,
        lender_pnl_quantiles_usd={
            "p1": float(q[0]),
            "p5": float(q[1]),
            "p50": float(q[2]),
            "p95": float(q[3]),
            "mean": float(pnl.mean()),
        },
        machine=facts,
    )


def leverage_report(
    position: LeveragedBtc,
    *,
    model: NetworkModel,
    state: NetworkState,
    horizon_days: int = 30,
    n_paths: int = 10_000,
    seed: int = 0,
    workers: int = 1,
) -> LeverageOutcome:
    config = ScenarioConfig(n_paths=n_paths, seed=seed, workers=workers, fields=("price_usd",))
    paths = Scenarios(model, state, horizon_days, config).materialize()
    return simulate_leverage(position, price_usd=paths.price_usd)


def levels_from_history(
    history: NetworkHistory, *, asof: dt.date
) -> Callable[[CollateralKind, HaircutPolicy], LtvLevels]:
    """LTV levels per collateral kind and haircut policy from the history as of ``asof``,
    each computed once (a portfolio or loan file may ask for the same levels many times)."""
    made: dict[tuple[CollateralKind, HaircutPolicy], LtvLevels] = {}

    def levels(kind: CollateralKind, policy: HaircutPolicy) -> LtvLevels:
        if (kind, policy) not in made:
            made[kind, policy] = ltv_levels_from_history(
                history, kind=kind, asof=asof, policy=policy
            )
        return made[kind, policy]

    return levels


def lending_analysis(
    spec: LendingSpec,
    *,
    levels_for: Callable[[CollateralKind, HaircutPolicy], LtvLevels],
    model: NetworkModel,
    state: NetworkState,
    n_paths: int,
    seed: int,
    horizon_days: int | None = None,
    workers: int = 1,
) -> LoanReport | LeverageOutcome:
    """A loan's life over scenarios, or a leveraged BTC position's over ``horizon_days``
    (default: the spec's, else 30)."""
    if spec.leverage is not None:
        days = horizon_days or spec.horizon_days or 30
        if days <= 0:
            raise RiskError("risk_option", name="horizon_days", problem=f"{days} must be positive")
        return leverage_report(
            spec.leverage,
            model=model,
            state=state,
            horizon_days=days,
            n_paths=n_paths,
            seed=seed,
            workers=workers,
        )
    assert spec.loan is not None
    loan = spec.loan
    # Levels the file left to the haircut policy are reported with the haircuts behind them.
    try:
        candidate: LtvLevels | None = levels_for(loan.collateral.kind, spec.policy)
    except RiskError:
        candidate = None
    same = candidate is not None and all(
        math.isclose(a, b, rel_tol=1e-9)
        for a, b in (
            (candidate.initial_ltv, loan.initial_ltv),
            (candidate.margin_call_ltv, loan.margin_call_ltv),
            (candidate.liquidation_ltv, loan.liquidation_ltv),
        )
    )
    return loan_report(
        loan,
        model=model,
        state=state,
        levels=candidate if same else None,
        n_paths=n_paths,
        seed=seed,
        workers=workers,
    )
