"""``hashmarket index regional``: the regional mining-margin index from a power price file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hashmarket.cli.common import (
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    emit_json,
    emit_records,
    load_history,
    parse_date,
)
from hashmarket.index import (
    REFERENCE_EFFICIENCY_J_PER_TH,
    RegionalFixing,
    read_power_prices,
    regional_fixings,
)

DEFAULT_DAYS = 7


def fixing_record(f: RegionalFixing) -> dict[str, Any]:
    """A flat record for CSV/JSON output, units in the keys."""
    return {
        "date": f.date.isoformat(),
        "region": f.region,
        "margin_usd_per_ph_day": f.value,
        "hashprice_usd_per_ph_day": f.hashprice_usd_per_ph_day,
        "power_price_usd_per_kwh": f.power_price_usd_per_kwh,
        "power_cost_usd_per_ph_day": f.power_cost_usd_per_ph_day,
        "efficiency_j_per_th": f.efficiency_j_per_th,
        "methodology_version": f.methodology_version,
        "inputs_sha256": f.inputs_sha256,
    }


def render_table(fixings: list[RegionalFixing], *, source: str, efficiency: float) -> None:
    table = Table(
        title=f"Regional mining margin, USD per PH/s per day, at {efficiency:g} J/TH ({source})",
        title_justify="left",
    )
    for name in ("date", "region", "hashprice", "USD/kWh", "power cost", "margin", "inputs"):
        table.add_column(name, justify="left" if name in ("date", "region") else "right")
    for f in fixings:
        table.add_row(
            f.date.isoformat(),
            f.region,
            f"{f.hashprice_usd_per_ph_day:.2f}",
            f"{f.power_price_usd_per_kwh:.5f}",
            f"{f.power_cost_usd_per_ph_day:.4f}",
            f"{f.value:.2f}",
            f.inputs_sha256[:12],
        )
    out = console()
    out.print(table)
    version = fixings[0].methodology_version if fixings else "—"
    out.print(
        f"Methodology {version}: margin = hashprice fixing − {efficiency:g} J/TH × 24 × USD/kWh, "
        "to the cent. Full input hashes: --format json or csv."
    )


def regional_command(
    power_path: Path = typer.Argument(
        ..., metavar="POWER.csv", help="Daily power prices: date, region, price_usd_per_kwh|mwh."
    ),
    efficiency: float = typer.Option(
        REFERENCE_EFFICIENCY_J_PER_TH, "--efficiency", help="Reference machine efficiency, J/TH."
    ),
    region: list[str] = typer.Option([], "--region", help="Only this region (repeat)."),
    start: str | None = typer.Option(None, "--start", help="First day, YYYY-MM-DD."),
    end: str | None = typer.Option(None, "--end", help="Last day, YYYY-MM-DD."),
    fmt: OutputFormat = FORMAT_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Regional mining margin: hashprice less a region's power cost (default: the last 7 days)."""
    prices = read_power_prices(power_path)
    history = load_history(data_dir, commercial_only)
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    fixings = regional_fixings(
        history,
        prices,
        efficiency_j_per_th=efficiency,
        regions=region or None,
        start=first,
        end=last,
    )
    if first is None and last is None and fixings:
        since = fixings[-1].date - dt.timedelta(days=DEFAULT_DAYS - 1)
        fixings = [f for f in fixings if f.date >= since]
    if fmt is OutputFormat.TABLE:
        render_table(fixings, source=power_path.name, efficiency=efficiency)
    elif fmt is OutputFormat.JSON:
        emit_json([f.to_dict() for f in fixings])
    else:
        emit_records([fixing_record(f) for f in fixings], fmt)
