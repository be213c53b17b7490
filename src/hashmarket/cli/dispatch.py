"""``hashmarket dispatch SITE.json PRICES.csv``: mine, serve AI or curtail, hour by hour."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.table import Table

from hashmarket.cli.common import (
    FORMAT_OPTION,
    REPORT_OPTION,
    OutputFormat,
    console,
    emit_records,
    jsonable,
    write_report,
)
from hashmarket.errors import UsageError
from hashmarket.operations import DispatchComparison, compare, read_prices, read_site
from hashmarket.reports import dispatch_html, number


def records(comparison: DispatchComparison) -> dict[str, Any]:
    """Everything but the hourly plan, as plain JSON values."""
    optimal = comparison.optimal
    solve = dataclasses.asdict(optimal.solve)
    return {
        "site": comparison.site.name,
        "hours": len(optimal.hours),
        "first_hour_utc": optimal.hours.index[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "last_hour_utc": optimal.hours.index[-1].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "policies": [
            {"policy": policy, **{k: jsonable(v) for k, v in row.items()}}
            for policy, row in comparison.summary().iterrows()
        ],
        "optimal_by_use": [
            {"use": use, **{k: jsonable(v) for k, v in row.items()}}
            for use, row in optimal.by_use().iterrows()
        ],
        "contract_blocks": [
            {
                "contract": name,
                "first_hour_utc": a.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "last_hour_utc": b.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "gpus": g,
            }
            for name, a, b, g in comparison.contract_levels()
        ],
        "solve": {k: jsonable(v) for k, v in solve.items()},
    }


def hourly_records(comparison: DispatchComparison) -> list[dict[str, Any]]:
    hours = comparison.optimal.hours
    out = []
    for moment, row in zip(hours.index, hours.to_dict("records"), strict=True):
        record = {k: jsonable(v) for k, v in row.items()}
        out.append({"time_utc": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), **record})
    return out


def render_table(comparison: DispatchComparison, *, prices_label: str) -> None:
    site = comparison.site
    optimal = comparison.optimal
    out = console()
    hours = optimal.hours
    out.print(
        f"[bold]{site.name}[/bold]: {len(hours):,} hours from {hours.index[0]:%Y-%m-%d %H:%M} "
        f"UTC ({prices_label}); connection {site.power_capacity_mw:g} MW, mining up to "
        f"{site.mining_mw_max:.2f} MW, GPUs up to {site.gpu_mw_max:.2f} MW"
    )
    policies = Table(title="Policies (USD)", title_justify="left")
    for name in ("policy", "margin", "revenue", "MWh", "revenue/MWh", "margin/MWh"):
        policies.add_column(name, justify="left" if name == "policy" else "right", no_wrap=True)
    for policy, r in comparison.summary().iterrows():
        policies.add_row(
            str(policy),
            number(r["margin_usd"]),
            number(r["revenue_usd"]),
            number(r["mwh"]),
            number(r["revenue_usd_per_mwh"], 2),
            number(r["margin_usd_per_mwh"], 2),
        )
    out.print(policies)
    uses = Table(title="Optimal plan by use", title_justify="left")
    for name in ("use", "MWh", "revenue USD", "revenue/MWh", "margin USD", "hours on"):
        uses.add_column(name, justify="left" if name == "use" else "right", no_wrap=True)
    for use, r in optimal.by_use().iterrows():
        uses.add_row(
            str(use),
            number(r["mwh"]),
            number(r["revenue_usd"]),
            number(r["revenue_usd_per_mwh"], 2),
            number(r["margin_usd"]),
            f"{int(r['hours_on']):,}",
        )
    out.print(uses)
    if len(optimal.blocks):
        levels = ", ".join(f"{g:,.0f}" for g in optimal.block_gpus)
        out.print(f"AI contract GPUs per term: {levels}")
    for plan in comparison.plans():
        if "Optimal" not in plan.solve.status:
            gap = plan.solve.mip_gap
            out.print(
                f"[yellow]warning: {plan.policy.value}: the solver stopped before proving the "
                f"optimum ({plan.solve.status}"
                + (f"; gap {gap:.1%}" if gap is not None and math.isfinite(gap) else "")
                + "); the plan is feasible, its margin a lower bound. Without --integer the "
                "linear program solves a year in about a second.[/yellow]"
            )
    best_pure = max(comparison.mine_only.margin_usd, comparison.ai_only.margin_usd)
    solve = optimal.solve
    out.print(
        f"The optimum earns {number(optimal.margin_usd - best_pure)} USD more than the better "
        f"pure policy. HiGHS ({'MIP' if solve.integer else 'LP'}): {solve.variables:,} variables, "
        f"{solve.solve_s:.2f} s. Hourly plan: --format csv; charts: --report out.html."
    )


def dispatch_command(
    site_path: Path = typer.Argument(..., metavar="SITE.json", help="The site description."),
    prices_path: Path = typer.Argument(
        ..., metavar="PRICES.csv", help="Hourly time_utc, price_usd_per_mwh (and optional columns)."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    report: Path | None = REPORT_OPTION,
    hashprice: float | None = typer.Option(
        None, "--hashprice", help="USD per PH/s per day for every hour (overrides the site)."
    ),
    gpu_price: float | None = typer.Option(
        None, "--gpu-price", help="USD per GPU-hour for every hour (overrides the site)."
    ),
    integer: bool = typer.Option(
        False,
        "--integer",
        help="Whole machines and GPUs (mixed-integer): for small cases; a year can take hours.",
    ),
    time_limit: float | None = typer.Option(
        None, "--time-limit-s", help="Stop the solver after this many seconds."
    ),
    conversion: Path | None = typer.Option(
        None,
        "--conversion",
        metavar="PLAN.json",
        help="Move part of the site's power to AI (GPUs on a lease or the market) first.",
    ),
) -> None:
    """Hourly plan that maximises the site's margin, compared with "mine only" and "AI only"."""
    site = read_site(site_path)
    if conversion is not None:
        from hashmarket.operations import apply_conversion, read_conversion_plan

        plan = read_conversion_plan(conversion)
        site = apply_conversion(site, plan, plan_name=str(conversion))
    for option, value in (("--hashprice", hashprice), ("--gpu-price", gpu_price)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise UsageError("bad_option", option=option, problem=f"must be >= 0, got {value}")
    if time_limit is not None and not time_limit > 0:
        raise UsageError("bad_option", option="--time-limit-s", problem="must be > 0")
    if hashprice is not None:
        site = dataclasses.replace(site, hashprice_usd_per_ph_day=hashprice)
    if gpu_price is not None:
        site = dataclasses.replace(site, gpu_price_usd_per_gpu_hour=gpu_price)
    market = read_prices(prices_path, site)
    if hashprice is not None:
        every_hour = np.full(len(market), hashprice)
        market = dataclasses.replace(market, hashprice_usd_per_ph_day=every_hour)
    if gpu_price is not None:
        every_hour = np.full(len(market), gpu_price)
        market = dataclasses.replace(market, gpu_price_usd_per_gpu_hour=every_hour)
    comparison = compare(site, market, integer=integer, time_limit_s=time_limit)
    if report is not None:
        write_report(report, dispatch_html(comparison, prices_label=prices_path.name))
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps({**records(comparison), "plan": hourly_records(comparison)}))
    elif fmt is OutputFormat.CSV:
        emit_records(hourly_records(comparison), fmt)
    else:
        render_table(comparison, prices_label=prices_path.name)
