"""``hashmarket cva``: the exposure profile of OTC contracts with one counterparty, its default
risk and the credit charge (CVA), with and without margin (see
:mod:`hashmarket.risk.counterparty`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hashmarket.cli.common import (
    ALLOW_SUBSIDY_ONLY_OPTION,
    ASOF_OPTION,
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    PRICE_MODEL_OPTION,
    SEED_OPTION,
    USD_RATE_OPTION,
    WORKERS_OPTION,
    PriceModelChoice,
    console,
    positive,
    print_asof,
)
from hashmarket.cli.risk import FORMAT_OPTION, RiskFormat, _calibrated, echo_json
from hashmarket.pricing import FlatRate, Market
from hashmarket.reports import number
from hashmarket.risk import CounterpartyReport, counterparty_report, load_netting_set, past_fixings


def render_cva(report: CounterpartyReport) -> None:
    out = console()
    c, p = report.counterparty, report.profile
    out.print(
        f"[bold]{report.name}[/bold]: {len(report.positions)} contracts with {c.name} as of "
        f"{report.asof}, worth {number(report.value0_usd)} USD to us today; "
        f"{report.n_paths:,} paths, seed {report.seed}"
    )
    out.print(
        f"{c.name}: hazard {c.hazard_per_year:.4f}/year (from {c.source.replace('_', ' ')}), "
        f"one-year default probability {1 - float(c.survival(1.0)):.2%}, recovery {c.recovery:.0%}"
    )
    table = Table(title="Exposure profile (USD)", title_justify="left")
    for name in ("date", "EE", "PFE 95%", "PFE 99%", "EE margined", "PFE 99% margined", "PD"):
        table.add_column(name, justify="left" if name == "date" else "right", no_wrap=True)
    for row in p.rows():
        table.add_row(
            row["date"],
            number(row["ee_usd"]),
            number(row["pfe_95%_usd"]),
            number(row["pfe_99%_usd"]),
            number(row["ee_collateralised_usd"]),
            number(row["pfe_99%_collateralised_usd"]),
            f"{row['default_probability']:.3%}",
        )
    out.print(table)
    out.print(
        f"CVA without margin: {number(p.cva_usd)} USD (± {number(p.cva_std_error_usd)}, one "
        "standard error)"
    )
    if report.collateral is not None:
        a = report.collateral
        out.print(
            f"CVA with margin (threshold {number(a.threshold_usd)} USD, minimum transfer "
            f"{number(a.minimum_transfer_usd)} USD, margin period of risk {a.mpor_days} days): "
            f"{number(p.cva_collateralised_usd)} USD "
            f"(± {number(p.cva_collateralised_std_error_usd)})"
        )
    else:
        out.print("no collateral agreement: the CVA with margin is the CVA")


def cva_command(
    spec_path: Path = typer.Argument(
        ..., metavar="SPEC", help="Netting set, JSON or YAML (see examples/risk/counterparty.json)."
    ),
    paths: int = typer.Option(10_000, "--paths", help="Monte Carlo paths."),
    seed: int = SEED_OPTION,
    fmt: RiskFormat = FORMAT_OPTION,
    asof: str | None = ASOF_OPTION,
    price_model: PriceModelChoice = PRICE_MODEL_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    usd_rate: float = USD_RATE_OPTION,
    workers: int = WORKERS_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """EE, PFE and CVA of OTC contracts with one counterparty, with and without margin."""
    positive(paths, "--paths")
    positive(workers, "--workers")
    spec = load_netting_set(spec_path)
    history, calibration, resolved = _calibrated(
        data_dir, commercial_only, asof, price_model, allow_subsidy_only
    )
    state = calibration.state
    market = Market(
        state=state,
        usd_curve=FlatRate(usd_rate),
        past_fixings=past_fixings(spec.netting_set, history, state),
    )
    report = counterparty_report(
        spec.name,
        spec.netting_set,
        counterparty=spec.counterparty,
        collateral=spec.collateral,
        market=market,
        model=calibration.model,
        n_paths=paths,
        seed=seed,
        workers=workers,
    )
    if fmt is RiskFormat.JSON:
        echo_json(report.to_dict(), resolved)
    else:
        render_cva(report)
    print_asof(resolved, machine=fmt is RiskFormat.JSON)
