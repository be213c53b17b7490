"""``hashmarket convert SITE.json``: should a mining site move part of its power to AI, now,
later or never — the NPV and IRR distributions, the value of waiting and the break-even AI
price over joint hashprice and GPU-hour price paths."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hashmarket.cli.common import (
    ALLOW_SUBSIDY_ONLY_OPTION,
    ASOF_OPTION,
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    emit_json,
    load_history_asof,
    print_asof,
    print_table,
)
from hashmarket.errors import UsageError
from hashmarket.reports import number


def _money(value: float) -> str:
    return "n/a" if not math.isfinite(value) else number(value)


def _millions(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value / 1e6:,.1f}"


def _percent(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.1%}"


def render(body: dict[str, Any]) -> None:
    out = console()
    out.print(
        f"[bold]{body['site']}[/bold]: {body['fraction_converted']:.0%} of "
        f"{body['capacity_mw']:g} MW = {body['converted_mw']:g} MW to AI "
        f"({body['contract']}), {body['n_paths']:,} paths (seed {body['seed']}), "
        f"{body['life_years']} years at {body['discount_rate_per_year']:.1%}; "
        f"tenant probability {body['tenant_probability']:.0%}"
    )
    table = Table(
        title="Convert now (USD million, discounted to the as-of date; IRR)", title_justify="left"
    )
    for name in ("", "mean", "p5", "p25", "p50", "p75", "p95"):
        table.add_column(name, justify="left" if not name else "right", no_wrap=True)
    for label, key, fmt in (
        ("NPV", "npv_usd", _millions),
        ("NPV, tenant", "npv_with_tenant_usd", _millions),
        ("IRR, tenant", "irr_with_tenant", _percent),
    ):
        row = body[key]
        mean = fmt(row["mean"]) if "mean" in row else ""
        table.add_row(label, mean, *(fmt(row[q]) for q in ("p5", "p25", "p50", "p75", "p95")))
    print_table(table, out=out)
    w = body["waiting"]
    out.print(
        f"Expected NPV of converting now: {_money(body['expected_npv_usd'])} "
        f"(± {_money(body['expected_npv_std_error_usd'])}). With yearly decisions to year "
        f"{w['decision_years']}: option {_money(w['option_value_usd'])}, value of waiting "
        f"{_money(w['value_of_waiting_usd'])}; converting by year: "
        + ", ".join(f"{k} {v:.0%}" for k, v in w["share_converting_by_year"].items())
    )
    out.print(
        f"Break-even AI price: {body['break_even_usd_per_gpu_hour']:.4f} USD per GPU-hour "
        f"(GPU-hour index spot {body['gpu_index']['spot_usd_per_gpu_hour']:.4f}). Mining given "
        f"up {_money(body['mining_given_up_usd_per_mw_year'])} USD per MW-year on average."
    )
    out.print(f"GPU factor: {body['correlation']['statement']}.")
    for note in body["gpu_index"]["notes"]:
        out.print(f"GPU model: {note}.", style="dim")


def convert_command(
    site_path: Path = typer.Argument(..., metavar="SITE.json", help="The conversion site."),
    fmt: OutputFormat = FORMAT_OPTION,
    fraction: float | None = typer.Option(
        None, "--fraction", help="Share of the site's MW to convert (overrides the site)."
    ),
    paths: int | None = typer.Option(None, "--paths", help="Scenario paths (overrides)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (overrides the site)."),
    asof: str | None = ASOF_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
) -> None:
    """NPV, IRR, value of waiting and break-even AI price of converting a mining site to AI."""
    from hashmarket.index import load_bundled_quotes
    from hashmarket.operations import convert, read_conversion_site, with_overrides

    site = read_conversion_site(site_path)
    if fraction is not None and not (math.isfinite(fraction) and 0 < fraction <= 1):
        raise UsageError(
            "bad_option", option="--fraction", problem=f"must be in (0, 1], got {fraction}"
        )
    if paths is not None and not 10 <= paths <= 50_000:
        raise UsageError(
            "bad_option", option="--paths", problem=f"must be in [10, 50000], got {paths}"
        )
    if seed is not None and seed < 0:
        raise UsageError("bad_option", option="--seed", problem=f"must be >= 0, got {seed}")
    site = with_overrides(site, fraction=fraction, paths=paths, seed=seed)
    history, resolved = load_history_asof(data_dir, commercial_only, asof, allow_subsidy_only)
    print_asof(resolved, machine=fmt is not OutputFormat.TABLE)
    report = convert(site, history=history, quotes=load_bundled_quotes(), asof=resolved.date)
    body = report.to_dict()
    if fmt is OutputFormat.TABLE:
        render(body)
    else:
        emit_json(body)
