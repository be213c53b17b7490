"""``hashmarket risk``, ``hashmarket hedge`` and ``hashmarket loan``: portfolio VaR/ES and stress
tests, a miner's hedge plan, and a loan's (or a leveraged position's) life over scenarios,
from models calibrated on the network history as of a date."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from hashmarket.chain import NetworkHistory
from hashmarket.cli.common import (
    ALLOW_SUBSIDY_ONLY_OPTION,
    ASOF_OPTION,
    COMMERCIAL_ONLY_OPTION,
    DASK_WORKERS_OPTION,
    DATA_DIR_OPTION,
    PRICE_MODEL_OPTION,
    REPORT_OPTION,
    SCHEDULER_OPTION,
    SEED_OPTION,
    USD_RATE_OPTION,
    WORKERS_OPTION,
    PriceModelChoice,
    console,
    jsonable,
    load_history_asof,
    positive,
    print_asof,
    progress_bar,
    resolve_scheduler,
    write_report,
)
from hashmarket.cli.index_lending import rates_for
from hashmarket.instruments import CollateralKind
from hashmarket.models import Calibration, calibrate
from hashmarket.pricing import FlatRate, Market
from hashmarket.reports import hedge_html, leverage_html, loan_html, number, portfolio_html
from hashmarket.risk import (
    HaircutPolicy,
    Hedge,
    HedgeChoice,
    HedgePlan,
    LeverageOutcome,
    LoanReport,
    LtvLevels,
    PlanOutcome,
    PortfolioRiskReport,
    hedge_analysis,
    lending_analysis,
    levels_from_history,
    load_lending,
    load_miner,
    load_portfolio,
    past_fixings,
    portfolio_report,
    with_horizon,
)

if TYPE_CHECKING:
    from hashmarket.index import AsOf


class RiskFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


FORMAT_OPTION = typer.Option(RiskFormat.TABLE, "--format", help="table or json.")


def echo_json(record: dict[str, Any], resolved: AsOf) -> None:
    """The ``--format json`` output: the result's fields, then the data's as-of date."""
    payload = {**record, "data_asof": resolved.to_dict()}
    typer.echo(json.dumps(payload, indent=2, default=jsonable))


def _calibrated(
    data_dir: Path | None,
    commercial_only: bool,
    asof: str | None,
    price_model: str,
    allow_subsidy_only: bool,
) -> tuple[NetworkHistory, Calibration, AsOf]:
    history, resolved = load_history_asof(data_dir, commercial_only, asof, allow_subsidy_only)
    calibration = calibrate(
        history,
        asof=resolved.date,
        price_model="merton" if price_model == "merton" else "gbm",
    )
    return history, calibration, resolved


def _levels_for(
    history: NetworkHistory, calibration: Calibration
) -> Callable[[CollateralKind, HaircutPolicy], LtvLevels]:
    return levels_from_history(history, asof=calibration.state.asof)


# ---- risk ----------------------------------------------------------------------------------


def render_risk(report: PortfolioRiskReport) -> None:
    out = console()
    mc = report.monte_carlo
    out.print(
        f"[bold]{report.portfolio.name}[/bold]: {len(report.portfolio)} positions, value today "
        f"{number(mc.value0_usd)} USD, as of {report.asof}, horizon {report.horizon_days} days"
    )
    table = Table(title="VaR and expected shortfall (USD, loss positive)", title_justify="left")
    for name in ("method", "confidence", "VaR", "VaR 95% interval", "ES", "± s.e.", "scenarios"):
        table.add_column(name, justify="left" if name in ("method",) else "right")
    for result in (mc, report.historical):
        if result is None:
            continue
        for e in result.estimates:
            table.add_row(
                result.method.replace("_", " "),
                f"{e.confidence:.1%}",
                number(e.var_usd),
                f"{number(e.var_low_usd)} … {number(e.var_high_usd)}",
                number(e.es_usd),
                number(e.es_std_error_usd),
                f"{result.n_scenarios:,}",
            )
    out.print(table)
    first = report.confidences[0]
    positions = Table(title=f"Positions (Monte Carlo, {first:.1%})", title_justify="left")
    for name in ("position", "value today", "mean P&L", "P&L s.d.", "VaR", "ES", "ES contrib."):
        positions.add_column(name, justify="left" if name == "position" else "right")
    for p in mc.positions:
        positions.add_row(
            p.name,
            number(p.value0_usd),
            number(p.mean_pnl_usd),
            number(p.std_pnl_usd),
            number(p.var_usd),
            number(p.es_usd),
            number(p.es_contribution_usd),
        )
    out.print(positions)
    if report.stress:
        stress = Table(title="Stress scenarios: P&L (USD)", title_justify="left")
        stress.add_column("position")
        for s in report.stress:
            stress.add_column(f"{s.scenario.name}\n{s.scenario.horizon_days} d", justify="right")
        for j, name in enumerate(report.stress_names):
            stress.add_row(name, *[number(float(s.pnl_usd[j])) for s in report.stress])
        stress.add_row(
            "[bold]total[/bold]", *[f"[bold]{number(s.total_usd)}[/bold]" for s in report.stress]
        )
        out.print(stress)
    for name, text in report.methods.items():
        out.print(f"{name.replace('_', ' ')}: {text}")
    for result in (mc, report.historical):
        for note in () if result is None else result.notes:
            out.print(f"note: {note}")


def risk_command(
    portfolio_path: Path = typer.Argument(
        ..., metavar="PORTFOLIO", help="Portfolio, JSON or YAML (see examples/risk)."
    ),
    confidence: list[float] = typer.Option(
        [0.99], "--confidence", help="Confidence level (repeat for several)."
    ),
    horizon_days: int = typer.Option(10, "--horizon-days", help="Horizon of the P&L, days."),
    paths: int = typer.Option(10_000, "--paths", help="Monte Carlo paths (and bootstrap draws)."),
    seed: int = SEED_OPTION,
    fmt: RiskFormat = FORMAT_OPTION,
    report: Path | None = REPORT_OPTION,
    asof: str | None = ASOF_OPTION,
    historical: bool = typer.Option(
        True, "--historical/--no-historical", help="Also bootstrap historical scenarios."
    ),
    block_days: int | None = typer.Option(
        None, "--block-days", help="Bootstrap block length in days (default: the horizon)."
    ),
    window_days: int = typer.Option(
        4 * 365, "--window-days", help="Historical window, days back from the as-of date."
    ),
    price_model: PriceModelChoice = PRICE_MODEL_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    usd_rate: float = USD_RATE_OPTION,
    workers: int = WORKERS_OPTION,
    scheduler: str | None = SCHEDULER_OPTION,
    dask_workers: int | None = DASK_WORKERS_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Portfolio VaR and expected shortfall (Monte Carlo and historical) and stress tests."""
    positive(paths, "--paths")
    positive(horizon_days, "--horizon-days")
    positive(workers, "--workers")
    cluster = resolve_scheduler(scheduler, dask_workers)
    history, calibration, resolved = _calibrated(
        data_dir, commercial_only, asof, price_model, allow_subsidy_only
    )
    portfolio = load_portfolio(portfolio_path, levels_for=_levels_for(history, calibration))
    state = calibration.state
    market = Market(
        state=state,
        usd_curve=FlatRate(usd_rate),
        past_fixings=past_fixings(portfolio, history, state),
    )
    with progress_bar("simulating", paths * horizon_days * 10) as progress:
        result = portfolio_report(
            portfolio,
            history=history,
            model=calibration.model,
            market=market,
            confidences=tuple(confidence),
            horizon_days=horizon_days,
            n_paths=paths,
            seed=seed,
            workers=workers,
            scheduler=cluster,
            historical=historical,
            block_days=block_days,
            window_days=window_days,
            progress=progress,
        )
    if fmt is RiskFormat.JSON:
        echo_json({**result.to_dict(), "calibration": calibration.report.to_dict()}, resolved)
    else:
        render_risk(result)
    print_asof(resolved, machine=fmt is RiskFormat.JSON)
    write_report(report, portfolio_html(result) if report else "")


# ---- hedge ---------------------------------------------------------------------------------


def render_hedge(plan: HedgePlan, check: dict[str, Any] | None) -> None:
    out = console()
    p = plan.profile
    out.print(
        f"[bold]{p.name}[/bold]: {p.hashrate_phs:g} PH/s at {p.efficiency_j_per_th:g} J/TH, power "
        f"{p.power_usd_per_kwh:g} USD/kWh, fixed {number(p.fixed_costs_usd_per_month)} USD/month; "
        f"{len(plan.months)} months from {plan.months[0]}; {plan.n_paths:,} paths, seed {plan.seed}"
    )
    table = Table(
        title=f"Hedges covering cash costs with probability ≥ {plan.target:.0%} every month",
        title_justify="left",
    )
    for name in (
        "",
        "hedge",
        "share",
        "put strike",
        "premium USD",
        "revenue given up USD",
        "P(not covered)",
        "P(all months)",
    ):
        table.add_column(name, justify="left" if name in ("", "hedge") else "right")

    def add(label: str, h: Hedge) -> None:
        table.add_row(
            label,
            h.family,
            f"{h.ratio:.2f}",
            "—" if h.put_moneyness is None else f"{h.put_moneyness:.0%}",
            number(h.premium_usd),
            number(h.revenue_given_up_usd),
            f"{h.after.probability_not_covered:.2%}",
            f"{h.after.coverage_all_months:.2%}",
        )

    add("[bold]recommended[/bold]" if plan.recommended else "best effort", plan.chosen)
    add("rule of thumb", plan.rule_of_thumb)
    for c in plan.candidates:
        if c is not plan.chosen:
            add("candidate", c)
    out.print(table)
    months = Table(title="Monthly net cash (USD): P5 / median / P95", title_justify="left")
    for name in ("month", "cash costs", "unhedged", "hedged"):
        months.add_column(name, justify="left" if name == "month" else "right")
    for i, m in enumerate(plan.months):
        u, h = plan.unhedged, plan.chosen.after
        months.add_row(
            m,
            number(plan.costs_usd[i]),
            f"{number(u.p5[i])} / {number(u.p50[i])} / {number(u.p95[i])}",
            f"{number(h.p5[i])} / {number(h.p50[i])} / {number(h.p95[i])}",
        )
    out.print(months)
    out.print(
        f"unhedged: P(not covered) {plan.unhedged.probability_not_covered:.2%} in the worst month; "
        f"BTC held covers {plan.treasury_months:.1f} months of cash costs"
    )
    if check is not None:
        out.print(
            f"independent seed {check['seed']}: the recommended hedge covers every month with "
            f"probability ≥ {check['coverage_worst_month']:.2%}"
        )
    if plan.choice is not None:
        render_choice(plan.choice)
    for note in plan.notes:
        out.print(f"note: {note}")


def render_choice(choice: HedgeChoice) -> None:
    """The two plans side by side, and why the planner takes one."""
    out = console()
    c = choice.capital
    table = Table(
        title="Lock or keep the upside: "
        + (
            f"the machines have paid back; hedged to {choice.horizon}"
            if c.paid_back
            else f"{number(c.unrecovered_usd)} USD of capital to recover by {choice.horizon}"
        ),
        title_justify="left",
    )
    table.add_column("")
    for o in (choice.lock, choice.puts):
        mark = " (chosen)" if o.plan == choice.chosen else ""
        table.add_column(f"{o.plan}{mark}", justify="right")
    paid = "paid back" if c.paid_back else ""
    rows: list[tuple[str, Callable[[PlanOutcome], str]]] = [
        ("hedge", lambda o: o.hedge.family),
        ("share of output", lambda o: f"{o.hedge.ratio:.2f}"),
        (
            "put strike",
            lambda o: "—" if o.hedge.put_moneyness is None else f"{o.hedge.put_moneyness:.0%}",
        ),
        ("premium USD", lambda o: number(o.hedge.premium_usd)),
        ("revenue given up USD", lambda o: number(o.hedge.revenue_given_up_usd)),
        ("P(not covered), worst month", lambda o: f"{o.hedge.after.probability_not_covered:.2%}"),
        ("meets the coverage target", lambda o: "yes" if o.meets_target else "no"),
        ("P(capital recovered)", lambda o: paid or f"{o.probability_recovered:.1%}"),
        (
            "median month recovered",
            lambda o: paid or o.median_recovery_month or "not by the horizon",
        ),
        ("total net P5 USD", lambda o: number(o.total_net_p5_usd)),
        ("total net median USD", lambda o: number(o.total_net_median_usd)),
        ("total net P95 USD", lambda o: number(o.total_net_p95_usd)),
    ]
    for label, cell in rows:
        table.add_row(label, cell(choice.lock), cell(choice.puts))
    out.print(table)
    recovered = (
        "" if c.paid_back else f", P(capital recovered) {choice.unhedged_probability_recovered:.1%}"
    )
    out.print(
        f"unhedged: expected net cash {number(choice.expected_net_usd)} USD over the horizon"
        + recovered
    )
    out.print(f"chosen: {choice.chosen} — {choice.reason}")


def hedge_command(
    miner_path: Path = typer.Argument(..., metavar="MINER", help="Miner profile, JSON or YAML."),
    coverage: float | None = typer.Option(
        None, "--coverage", help="Probability of covering cash costs (default: the file's, 0.95)."
    ),
    paths: int = typer.Option(20_000, "--paths", help="Simulated paths."),
    seed: int = SEED_OPTION,
    check_seed: int | None = typer.Option(
        None, "--check-seed", help="Check the plan on independent paths (default: seed + 1)."
    ),
    horizon_months: int | None = typer.Option(
        None,
        "--horizon-months",
        help="Months hedged (default: the file's, else to the machines' end of life, else 12).",
    ),
    fmt: RiskFormat = FORMAT_OPTION,
    report: Path | None = REPORT_OPTION,
    asof: str | None = ASOF_OPTION,
    price_model: PriceModelChoice = PRICE_MODEL_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    workers: int = WORKERS_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """A miner's hedge plan: the cheapest hedge that covers cash costs with a probability."""
    positive(paths, "--paths")
    positive(workers, "--workers")
    spec = with_horizon(load_miner(miner_path), horizon_months)
    history, calibration, resolved = _calibrated(
        data_dir, commercial_only, asof, price_model, allow_subsidy_only
    )
    miner = spec.profile
    with progress_bar(
        "simulating", paths * miner.horizon_for(calibration.state.asof) * 31
    ) as progress:
        analysis = hedge_analysis(
            spec,
            model=calibration.model,
            state=calibration.state,
            n_paths=paths,
            seed=seed,
            coverage=coverage,
            check_seed=check_seed,
            workers=workers,
            progress=progress,
            history=history,
        )
    plan = analysis.plan
    if fmt is RiskFormat.JSON:
        echo_json(analysis.to_dict(), resolved)
    else:
        render_hedge(plan, analysis.to_dict()["independent_check"])
    print_asof(resolved, machine=fmt is RiskFormat.JSON)
    write_report(report, hedge_html(plan) if report else "")


# ---- loan ----------------------------------------------------------------------------------


def render_loan(report: LoanReport) -> None:
    out = console()
    loan, s = report.loan, report.summary
    out.print(
        f"[bold]{loan.loan_id}[/bold]: {number(loan.principal_usd)} USD at "
        f"{loan.rate_per_year:.2%}, "
        f"{loan.start} to {loan.maturity}, {loan.collateral.quantity:g} {loan.collateral.unit} "
        f"({loan.collateral.kind.value}); as of {report.asof}"
    )
    levels = Table(title="LTV levels", title_justify="left")
    for name in ("level", "LTV", "haircut", "horizon days"):
        levels.add_column(name, justify="left" if name == "level" else "right")
    lv = report.levels
    rows = (
        (
            "initial",
            loan.initial_ltv,
            lv and lv.initial_haircut,
            lv and lv.policy.initial_horizon_days,
        ),
        (
            "margin call",
            loan.margin_call_ltv,
            lv and lv.margin_call_haircut,
            lv and lv.policy.margin_call_horizon_days,
        ),
        (
            "liquidation",
            loan.liquidation_ltv,
            lv and lv.liquidation_haircut,
            lv and lv.policy.liquidation_horizon_days,
        ),
    )
    for name, ltv, cut, horizon in rows:
        levels.add_row(
            name,
            f"{ltv:.2%}",
            "given" if cut is None else f"{cut:.2%}",
            "—" if horizon is None else f"{horizon:g}",
        )
    out.print(levels)
    if lv is not None:
        vol = lv.volatility
        source = f" from {vol.series}, {vol.start} to {vol.end}" if vol is not None else ""
        out.print(
            f"haircut H = q·σ·√h: q = {lv.quantile:.4f} ({lv.policy.tail.value}, "
            f"{lv.policy.confidence:.1%}), σ = {lv.sigma_daily:.3%}/day (EWMA λ "
            f"{lv.policy.ewma_lambda}{source}); LTV = 1 − H − {lv.policy.liquidation_cost:.0%}"
        )
    if report.machine is not None:
        m = report.machine
        out.print(
            f"one {m['model']}: {m['revenue_usd_per_day']:,.2f} USD a day at hashprice "
            f"{m['hashprice_usd_per_ph_day']:,.2f}, power {m['power_cost_usd_per_day']:,.2f}; "
            f"worth {m['value_usd']:,.2f} USD, obsolete on {m['obsolescence_date']}, a forced "
            f"sale fetches {m['secondary_fraction']:.0%} of it"
        )
    table = Table(title=f"Over {s.n_paths:,} scenarios (seed {s.seed})", title_justify="left")
    table.add_column("", justify="left")
    table.add_column("value", justify="right")
    for label, value in (
        ("LTV now", f"{report.ltv_now:.2%}"),
        ("collateral value now (USD)", number(report.collateral_value_usd)),
        (
            f"collateral for the initial LTV ({loan.collateral.unit})",
            f"{report.collateral_for_initial_ltv:,.4f}",
        ),
        ("P(margin call)", f"{s.probability_margin_call:.2%}"),
        ("P(liquidation)", f"{s.probability_liquidation:.2%}"),
        ("expected loss to the lender (USD)", number(s.expected_loss_usd)),
        ("99% loss quantile (USD)", number(s.loss_var_99_usd)),
        ("expected lender P&L (USD)", number(s.expected_lender_pnl_usd)),
        ("expected top-ups (USD)", number(s.expected_top_up_usd)),
    ):
        table.add_row(label, value)
    out.print(table)


def render_leverage(outcome: LeverageOutcome) -> None:
    out = console()
    summary = outcome.summary()
    table = Table(title=f"{summary['name']}", title_justify="left")
    table.add_column("", justify="left")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key == "name":
            continue
        if isinstance(value, float):
            text = f"{value:.2%}" if key.startswith("probability") else f"{value:,.2f}"
        else:
            text = f"{value:,}"
        table.add_row(key.replace("_", " "), text)
    out.print(table)


def loan_command(
    loan_path: Path = typer.Argument(
        ..., metavar="LOAN", help="Loan, deliverable forward or leveraged position (JSON/YAML)."
    ),
    paths: int = typer.Option(10_000, "--paths", help="Simulated paths."),
    seed: int = SEED_OPTION,
    horizon_days: int | None = typer.Option(
        None, "--horizon-days", help="Leveraged positions: days to look ahead (default 30)."
    ),
    fmt: RiskFormat = FORMAT_OPTION,
    report: Path | None = REPORT_OPTION,
    asof: str | None = ASOF_OPTION,
    price_model: PriceModelChoice = PRICE_MODEL_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    workers: int = WORKERS_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """A loan's LTV levels and its life over scenarios, or a leveraged BTC position's."""
    positive(paths, "--paths")
    positive(workers, "--workers")
    history, calibration, resolved = _calibrated(
        data_dir, commercial_only, asof, price_model, allow_subsidy_only
    )
    levels_for = _levels_for(history, calibration)
    spec = load_lending(loan_path, levels_for=levels_for, rates_for=rates_for(data_dir))
    result = lending_analysis(
        spec,
        levels_for=levels_for,
        model=calibration.model,
        state=calibration.state,
        n_paths=paths,
        seed=seed,
        horizon_days=horizon_days,
        workers=workers,
    )
    print_asof(resolved, machine=fmt is RiskFormat.JSON)
    if isinstance(result, LeverageOutcome):
        if fmt is RiskFormat.JSON:
            echo_json(result.summary(), resolved)
        else:
            render_leverage(result)
        write_report(report, leverage_html(result) if report else "")
        return
    if fmt is RiskFormat.JSON:
        echo_json(result.to_dict(), resolved)
    else:
        render_loan(result)
    write_report(report, loan_html(result) if report else "")
