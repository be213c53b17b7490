"""``hashmarket loan-currency`` and ``hashmarket loan-protect``: a machine loan borrowed in BTC
or in USD, and the lender's puts, on the scenarios ``hashmarket loan`` runs the loan on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hashmarket.cli.common import (
    ALLOW_SUBSIDY_ONLY_OPTION,
    ASOF_OPTION,
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    PRICE_MODEL_OPTION,
    SEED_OPTION,
    PriceModelChoice,
    console,
    positive,
    print_asof,
)
from hashmarket.cli.risk import FORMAT_OPTION, RiskFormat, _calibrated, _levels_for, echo_json
from hashmarket.errors import RiskError
from hashmarket.instruments import Loan
from hashmarket.pricing import ValuationSetup, market_for
from hashmarket.reports import number
from hashmarket.risk import (
    CurrencyComparison,
    CurrencyLeg,
    ProtectionAnalysis,
    currency_comparison,
    load_lending,
    protection_analysis,
    protection_spec,
)

LOAN_ARGUMENT = typer.Argument(..., metavar="LOAN", help="A loan spec (JSON/YAML), e.g. machines.")
PATHS_OPTION = typer.Option(10_000, "--paths", help="Simulated paths.")


def _loan(path: Path, history: Any, calibration: Any) -> Loan:
    spec = load_lending(path, levels_for=_levels_for(history, calibration))
    if spec.loan is None:
        raise RiskError("risk_option", name="LOAN", problem=f"{path} is not a loan")
    return spec.loan


def render_comparison(result: CurrencyComparison) -> None:
    out = console()
    usd, btc = result.usd, result.btc
    out.print(
        f"[bold]{usd.loan.loan_id}[/bold]: {number(usd.loan.principal_usd)} USD at "
        f"{usd.loan.rate_per_year:.2%}, or {btc.loan.principal_btc:,.4f} BTC at "
        f"{btc.loan.rate_per_year:.2%} (BTC {number(result.price_usd)} USD); as of {result.asof}"
    )
    table = Table(
        title=f"Over the same {result.n_paths:,} scenarios (seed {result.seed})",
        title_justify="left",
    )
    for name in ("", "borrow USD", "borrow BTC"):
        table.add_column(name, justify="left" if not name else "right")
    rows: list[tuple[str, Callable[[CurrencyLeg], str]]] = [
        ("P(margin call)", lambda leg: f"{leg.summary.probability_margin_call:.2%}"),
        ("P(liquidation)", lambda leg: f"{leg.summary.probability_liquidation:.2%}"),
        ("lender: expected loss (USD)", lambda leg: number(leg.summary.expected_loss_usd)),
        ("lender: 99% loss (USD)", lambda leg: number(leg.summary.loss_var_99_usd)),
        ("lender: P&L mean (USD)", lambda leg: number(leg.lender_pnl_usd["mean"])),
        ("lender: P&L std (USD)", lambda leg: number(leg.lender_pnl_usd["std"])),
        ("miner: net at maturity, mean", lambda leg: number(leg.miner_net_usd["mean"])),
        ("miner: net, std", lambda leg: number(leg.miner_net_usd["std"])),
        ("miner: net, 1% quantile", lambda leg: number(leg.miner_net_usd["p1"])),
        ("miner: net, 5% quantile", lambda leg: number(leg.miner_net_usd["p5"])),
    ]
    for label, cell in rows:
        table.add_row(label, cell(usd), cell(btc))
    out.print(table)


def loan_currency_command(
    loan_path: Path = LOAN_ARGUMENT,
    btc_rate: float | None = typer.Option(
        None, "--btc-rate", help="Simple rate per year of the BTC loan (default: the USD rate)."
    ),
    paths: int = PATHS_OPTION,
    seed: int = SEED_OPTION,
    fmt: RiskFormat = FORMAT_OPTION,
    asof: str | None = ASOF_OPTION,
    price_model: PriceModelChoice = PRICE_MODEL_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Borrow BTC or USD against the same machines: the loan's life and the miner's net."""
    positive(paths, "--paths")
    if btc_rate is not None and not 0 <= btc_rate < 1:
        raise RiskError("risk_option", name="--btc-rate", problem=f"{btc_rate} must be in [0, 1)")
    history, calibration, resolved = _calibrated(
        data_dir, commercial_only, asof, price_model, allow_subsidy_only
    )
    result = currency_comparison(
        _loan(loan_path, history, calibration),
        btc_rate_per_year=btc_rate,
        model=calibration.model,
        state=calibration.state,
        n_paths=paths,
        seed=seed,
    )
    print_asof(resolved, machine=fmt is RiskFormat.JSON)
    if fmt is RiskFormat.JSON:
        echo_json(result.to_dict(), resolved)
    else:
        render_comparison(result)


def render_protection(result: ProtectionAnalysis) -> None:
    out = console()
    put = result.put
    out.print(
        f"[bold]{result.loan.loan_id}[/bold]: buy a put on {put.underlying.value}, strike "
        f"{put.strike:,.4f}, expiry {put.expiry}, quantity {put.quantity:,.2f}; premium "
        f"{number(result.premium_usd)} USD ± {number(result.premium_std_error_usd)} "
        f"({result.engine})"
    )
    table = Table(
        title=f"Lender's loss over {result.n_paths:,} scenarios (seed {result.seed}), USD",
        title_justify="left",
    )
    for name in ("", "mean", "99% quantile", "99% ES"):
        table.add_column(name, justify="left" if not name else "right")
    for label, stats in (
        ("unprotected", result.loss_usd),
        ("not covered by the put", result.uncovered_loss_usd),
        ("net of payoff, with premium", result.net_loss_usd),
    ):
        table.add_row(label, number(stats["mean"]), number(stats["p99"]), number(stats["es99"]))
    out.print(table)
    out.print(f"expected put payoff on the scenarios: {number(result.expected_payoff_usd)} USD")


def loan_protect_command(
    loan_path: Path = LOAN_ARGUMENT,
    paths: int = PATHS_OPTION,
    seed: int = SEED_OPTION,
    fmt: RiskFormat = FORMAT_OPTION,
    asof: str | None = ASOF_OPTION,
    price_model: PriceModelChoice = PRICE_MODEL_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    settlement_out: Path | None = typer.Option(
        None,
        "--settlement-out",
        help="Write the put as a contract spec that `hashmarket settle open` accepts.",
    ),
) -> None:
    """The lender's puts struck at the liquidation line: their cost and the loss they cut."""
    positive(paths, "--paths")
    history, calibration, resolved = _calibrated(
        data_dir, commercial_only, asof, price_model, allow_subsidy_only
    )
    setup = ValuationSetup(asof=resolved.date)
    result = protection_analysis(
        _loan(loan_path, history, calibration),
        model=calibration.model,
        state=calibration.state,
        market=market_for(calibration, setup),
        n_paths=paths,
        seed=seed,
    )
    print_asof(resolved, machine=fmt is RiskFormat.JSON)
    if fmt is RiskFormat.JSON:
        echo_json(result.to_dict(), resolved)
    else:
        render_protection(result)
    if settlement_out is not None:
        text = json.dumps(protection_spec(result.put), indent=2) + "\n"
        settlement_out.write_text(text, encoding="utf-8")
        if fmt is not RiskFormat.JSON:
            console().print(f"the put's contract spec: {settlement_out} (hashmarket settle open)")
