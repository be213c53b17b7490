"""One call per question, as the CLI and the reports ask them.

* :func:`portfolio_report` — Monte Carlo and historical VaR/ES at a horizon, per position too,
  and the stress catalogue;
* loans and leveraged positions: :mod:`hashmarket.risk.loan_analysis`;
* :func:`hedge_analysis` — a miner's hedge plan, checked on an independent seed.

The model and the state come from ``models.calibrate`` on the network history as of a date;
the caller passes them in (with the history), so nothing here reads files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hashmarket.chain import NetworkHistory
from hashmarket.errors import RiskError
from hashmarket.index import QuoteTable, load_bundled_quotes
from hashmarket.instruments import (
    Fixings,
)
from hashmarket.models import NetworkModel, NetworkState
from hashmarket.pricing import Market
from hashmarket.pricing.revaluation import (
    FittedMarks,
    RevaluationPlan,
    distributed_pnl,
    monte_carlo_pnl,
    value_paths,
)
from hashmarket.risk.compute_positions import (
    COMPUTE_METHOD,
    ComputeBookRisk,
    GpuFactor,
    compute_book_risk,
    split_compute,
)
from hashmarket.risk.hedge_choice import Capital, capital_at_risk, choose
from hashmarket.risk.hedge_plan import Distribution, HedgePlan, evaluate, plan_hedge
from hashmarket.risk.hedging import MinerProfile, simulate_miner
from hashmarket.risk.historical import Bootstrap, change_table
from hashmarket.risk.portfolio import Portfolio
from hashmarket.risk.specs import MinerSpec
from hashmarket.risk.stress import StressResult, run_stress, standard_scenarios
from hashmarket.risk.var import RiskResult, portfolio_risk

Progress = Callable[[int, int], None]


def past_fixings(
    portfolio: Portfolio, history: NetworkHistory, state: NetworkState
) -> Fixings | None:
    """Realized fixings from the earliest start of a contract that has begun, to the as-of
    date (what a started forward or average needs), or ``None``."""
    asof = state.asof
    starts = [
        p.instrument.fixing_window(asof=asof, height=state.height)[0]
        for p in portfolio.positions
        if p.instrument is not None
    ]
    first = min([asof, *starts])
    if first >= asof:
        return None
    return Fixings.from_history(history, start=first, end=asof)


@dataclass(frozen=True)
class PortfolioRiskReport:
    portfolio: Portfolio
    asof: dt.date
    horizon_days: int
    confidences: tuple[float, ...]
    monte_carlo: RiskResult
    historical: RiskResult | None
    stress: tuple[StressResult, ...]
    methods: dict[str, str]
    gpu_factors: tuple[GpuFactor, ...] = ()

    @property
    def stress_names(self) -> tuple[str, ...]:
        """The positions the stress scenarios value (compute positions are held out)."""
        return self.stress[0].names if self.stress else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "portfolio": self.portfolio.name,
            "asof": self.asof.isoformat(),
            "horizon_days": self.horizon_days,
            "confidences": list(self.confidences),
            "positions": [p.describe() for p in self.portfolio.positions],
            "monte_carlo": self.monte_carlo.to_dict(),
            "historical": None if self.historical is None else self.historical.to_dict(),
            "stress": [s.to_dict() for s in self.stress],
            "methods": self.methods,
            "gpu_factors": [f.to_dict() for f in self.gpu_factors],
        }


def portfolio_report(
    portfolio: Portfolio,
    *,
    history: NetworkHistory,
    model: NetworkModel,
    market: Market,
    confidences: Sequence[float] = (0.99,),
    horizon_days: int = 10,
    n_paths: int = 10_000,
    seed: int = 0,
    workers: int = 1,
    scheduler: str | None = None,
    historical: bool = True,
    historical_paths: int | None = None,
    block_days: int | None = None,
    window_days: int = 4 * 365,
    progress: Progress | None = None,
    gpu_quotes: QuoteTable | None = None,
) -> PortfolioRiskReport:
    """VaR/ES by Monte Carlo and by historical bootstrap, and the stress scenarios.

    ``scheduler`` runs the Monte Carlo revaluation on a Dask cluster (``"local"``,
    ``"local:N"`` or a scheduler address): the same numbers, bit for bit. Compute positions
    are revalued on the AI-compute factor (``risk.compute_positions``; ``gpu_quotes``: the
    GPU-hour quotes, by default the bundled ones), by Monte Carlo in process."""
    if n_paths < 100:
        raise RiskError("risk_option", name="--paths", problem=f"{n_paths} is too few (>= 100)")
    mc, fitted, setup, network, factors = _monte_carlo_part(
        portfolio,
        history=history,
        gpu_quotes=gpu_quotes,
        market=market,
        model=model,
        confidences=confidences,
        horizon_days=horizon_days,
        n_paths=n_paths,
        seed=seed,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
    )
    hist = None
    methods = _methods(n_paths=n_paths, asof=market.asof, seed=seed, compute=bool(factors))
    if historical and fitted is not None and setup is not None:  # a network part to bootstrap
        hist, methods["historical"] = _historical_risk(
            history,
            market=market,
            model=model,
            setup=setup,
            fitted=fitted,
            confidences=confidences,
            horizon_days=horizon_days,
            n_paths=historical_paths or n_paths,
            block_days=block_days or horizon_days,
            window_days=window_days,
            seed=seed,
        )
    stress: tuple[StressResult, ...] = ()
    if network is not None:  # compute positions alone: nothing for the stress scenarios to move
        scenarios = standard_scenarios(history, horizon_days=horizon_days)
        stress = run_stress(network, market=market, model=model, scenarios=scenarios)
        methods["stress"] = STRESS_METHOD
    return PortfolioRiskReport(
        portfolio=portfolio,
        asof=market.asof,
        horizon_days=horizon_days,
        confidences=tuple(confidences),
        monte_carlo=mc,
        historical=hist,
        stress=stress,
        methods=methods,
        gpu_factors=factors,
    )


STRESS_METHOD = (
    "deterministic paths from today's state, held flat after each scenario's horizon; P&L "
    "against the same horizon with nothing moving"
)


def _methods(*, n_paths: int, asof: dt.date, seed: int, compute: bool) -> dict[str, str]:
    """How the Monte Carlo figures of a portfolio report are computed (the historical and
    stress ones are added after them)."""
    methods = {
        "monte_carlo": (
            f"{n_paths:,} paths of the calibrated network model from {asof} (seed {seed}); "
            "positions revalued on day h (realized cash flows + analytic, conditional-forward or "
            "regression marks)"
        ),
    }
    if compute:
        methods["compute"] = COMPUTE_METHOD
    return methods


def _monte_carlo_part(
    portfolio: Portfolio,
    *,
    history: NetworkHistory,
    gpu_quotes: QuoteTable | None,
    market: Market,
    model: NetworkModel,
    confidences: Sequence[float],
    horizon_days: int,
    n_paths: int,
    seed: int,
    workers: int,
    scheduler: str | None,
    progress: Progress | None,
) -> ComputeBookRisk:
    """Monte Carlo VaR/ES, with the AI-compute factor when the book holds compute positions;
    and the network part the historical and stress passes value."""
    network, compute = split_compute(portfolio)
    if compute:
        return compute_book_risk(
            portfolio,
            history=history,
            quotes=gpu_quotes if gpu_quotes is not None else load_bundled_quotes(),
            market=market,
            model=model,
            confidences=confidences,
            horizon_days=horizon_days,
            n_paths=n_paths,
            seed=seed,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
        )
    mc, fitted, setup = _monte_carlo_risk(
        portfolio,
        market=market,
        model=model,
        confidences=confidences,
        horizon_days=horizon_days,
        n_paths=n_paths,
        seed=seed,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
    )
    return ComputeBookRisk(mc, fitted, setup, network, ())


def _monte_carlo_risk(
    portfolio: Portfolio,
    *,
    market: Market,
    model: NetworkModel,
    confidences: Sequence[float],
    horizon_days: int,
    n_paths: int,
    seed: int,
    workers: int,
    scheduler: str | None,
    progress: Progress | None,
) -> tuple[RiskResult, FittedMarks, RevaluationPlan]:
    """VaR/ES of the Monte Carlo revaluation, in process or on a Dask cluster."""
    if scheduler is None:
        pnl, fitted, setup = monte_carlo_pnl(
            portfolio,
            market=market,
            model=model,
            horizon_days=horizon_days,
            n_paths=n_paths,
            seed=seed,
            workers=workers,
            progress=progress,
        )
        return portfolio_risk(pnl, confidences, method="monte_carlo"), fitted, setup
    on_cluster, fitted, setup = distributed_pnl(
        portfolio,
        market=market,
        model=model,
        horizon_days=horizon_days,
        n_paths=n_paths,
        seed=seed,
        scheduler=scheduler,
        progress=progress,
    )
    try:
        return portfolio_risk(on_cluster, confidences, method="monte_carlo"), fitted, setup
    finally:
        on_cluster.release()


def _historical_risk(
    history: NetworkHistory,
    *,
    market: Market,
    model: NetworkModel,
    setup: RevaluationPlan,
    fitted: FittedMarks,
    confidences: Sequence[float],
    horizon_days: int,
    n_paths: int,
    block_days: int,
    window_days: int,
    seed: int,
) -> tuple[RiskResult, str]:
    """VaR/ES on block-bootstrapped historical changes, valued with the Monte Carlo fit."""
    table = change_table(history, asof=market.asof, window_days=window_days)
    bootstrap = Bootstrap(
        table=table,
        state=market.state,
        model=model,
        horizon_days=horizon_days,
        last_day=setup.last_day,
        n_paths=n_paths,
        block_days=block_days,
        seed=seed,
    )
    window = bootstrap.describe()
    hist_pnl = value_paths(setup, fitted, bootstrap.chunks(), source="historical")
    return portfolio_risk(hist_pnl, confidences, method="historical", window=window), window


# ---- loans ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HedgeAnalysis:
    """A hedge plan fitted on one set of scenarios and checked on an independent seed."""

    plan: HedgePlan
    check_seed: int
    check: Distribution

    def to_dict(self) -> dict[str, Any]:
        payload = self.plan.to_dict()
        payload["independent_check"] = {
            "seed": self.check_seed,
            **self.check.to_dict(),
            "coverage_worst_month": self.check.coverage,
        }
        return payload


def hedge_analysis(
    spec: MinerSpec,
    *,
    model: NetworkModel,
    state: NetworkState,
    n_paths: int,
    seed: int,
    coverage: float | None = None,
    check_seed: int | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    history: NetworkHistory | None = None,
) -> HedgeAnalysis:
    """The cheapest hedge covering the miner's cash costs with the target probability every
    month, fitted on ``seed`` and evaluated again on ``check_seed`` (default ``seed + 1``).
    A profile that says how much of its machines' capital is still at risk gets the plan its
    situation calls for (``risk/hedge_choice.py``); ``history`` gives the index since the
    machines were bought."""
    miner = spec.profile
    capital = _capital(miner, history, state.asof) if miner.knows_capital else None
    fitted = simulate_miner(
        miner,
        model=model,
        state=state,
        n_paths=n_paths,
        seed=seed,
        workers=workers,
        progress=progress,
    )
    plan = plan_hedge(
        miner,
        fitted,
        spot_usd=state.price_usd,
        target=spec.coverage if coverage is None else coverage,
        pricing=spec.pricing,
        seed=seed,
    )
    if capital is not None:
        plan = choose(plan, fitted, capital)
    independent = seed + 1 if check_seed is None else check_seed
    other = simulate_miner(
        miner, model=model, state=state, n_paths=n_paths, seed=independent, workers=workers
    )
    return HedgeAnalysis(plan=plan, check_seed=independent, check=evaluate(plan.chosen, other))


def _capital(miner: MinerProfile, history: NetworkHistory | None, asof: dt.date) -> Capital:
    """The capital still at risk: given, or earned back on the index since the purchase."""
    bought = miner.purchase_date
    if miner.unrecovered_capital_usd is not None or bought is None:
        return capital_at_risk(miner, realized=None)
    if bought > asof:
        raise RiskError(
            "risk_field", field="purchase_date", problem=f"{bought} is after the as-of date {asof}"
        )
    if history is None or bought < history.first_date:
        first = "no history" if history is None else f"the history starts on {history.first_date}"
        raise RiskError(
            "risk_field",
            field="purchase_date",
            problem=f"{bought}: {first}; give unrecovered_capital_usd instead",
        )
    return capital_at_risk(miner, realized=Fixings.from_history(history, start=bought, end=asof))
