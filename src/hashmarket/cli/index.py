"""``hashmarket index …``: the hashprice index as a table, JSON or CSV."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hashmarket.cli.common import (
    ALLOW_SUBSIDY_ONLY_OPTION,
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    bar,
    console,
    emit_records,
    load_history_asof,
    parse_date,
    print_asof,
    sparkline,
)
from hashmarket.index import Method, hashprice_records, hashprice_table, select_days
from hashmarket.reports import number
from hashmarket.units import Currency, HashrateUnit

BAR_WIDTH = 10


def render_table(
    records: list[dict[str, Any]], *, unit: HashrateUnit, currency: Currency, method: Method
) -> None:
    suffix = f"per_{unit.value}_day"
    key = f"hashprice_{currency.value}_{suffix}"
    digits = {"usd": 2, "sats": 2, "btc": 8 if unit is not HashrateUnit.TH else 10}[currency.value]
    values = [math.nan if r[key] is None else float(r[key]) for r in records]
    finite = [v for v in values if not math.isnan(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    label = f"{currency.value.upper()}/{unit.value.upper()}/s/day"
    table = Table(title=f"Hashprice index ({method.value}), {label}", title_justify="left")
    label = "hashprice"
    table.add_column("date", no_wrap=True, min_width=10)
    table.add_column(label, justify="right", no_wrap=True)
    table.add_column("7d avg", justify="right", no_wrap=True, min_width=6)
    table.add_column("", no_wrap=True, min_width=BAR_WIDTH)
    table.add_column("diff. T", justify="right", no_wrap=True)
    table.add_column("fee/blk", justify="right", no_wrap=True)
    table.add_column("BTC/USD", justify="right", no_wrap=True, min_width=7)
    for r, v in zip(records, values, strict=True):
        fees = number(r["fees_btc_per_block"], 3) if r["fees_included"] else "n/a"
        difficulty = r["difficulty"] / 1e12 if r["difficulty"] is not None else None
        table.add_row(
            r["date"],
            number(v, digits),
            number(r[f"{key}_7d"], digits),
            f"[cyan]{bar(v, low * 0.98, high, width=BAR_WIDTH)}[/cyan]",
            number(difficulty, 2),
            fees,
            number(r["price_usd"], 0),
        )
    out = console()
    out.print(table)
    if finite:
        out.print(
            f"{records[0]['date']} {sparkline(values)} {records[-1]['date']}  "
            f"low {number(low, digits)}  high {number(high, digits)}"
        )
    if any(not r["fees_included"] for r in records):
        out.print("n/a: no fee data for that day; the value is the subsidy-only hashprice.")


def hashprice_command(
    start: str | None = typer.Option(None, "--start", help="First day, YYYY-MM-DD."),
    end: str | None = typer.Option(
        None, "--end", help="Last day, YYYY-MM-DD (default: the as-of date)."
    ),
    last: int | None = typer.Option(
        None, "--last", help="Only the latest N days that have a value."
    ),
    unit: HashrateUnit = typer.Option(HashrateUnit.PH, "--unit", help="Hashrate unit."),
    currency: Currency = typer.Option(
        Currency.USD, "--currency", help="Currency of the main column."
    ),
    method: Method = typer.Option(
        Method.FPPS, "--method", help="fpps (difficulty-implied) or realized."
    ),
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Daily hashprice: what one unit of hashrate earns per day (to the as-of date).

    By default the 30 days to the as-of date, the last day with a complete index value.
    """
    history, asof = load_history_asof(data_dir, commercial_only, None, allow_subsidy_only)
    table = hashprice_table(history, method=method)
    value_column = (
        "hashprice_usd_per_ph_day" if currency is Currency.USD else "hashprice_btc_per_ph_day"
    )
    rows = select_days(
        table,
        start=parse_date(start, "--start"),
        end=parse_date(end, "--end"),
        last=last,
        value_column=value_column,
        asof=asof.date,
    )
    records = hashprice_records(rows, unit=unit, currency=currency)
    if fmt is OutputFormat.TABLE:
        render_table(records, unit=unit, currency=currency, method=method)
    else:
        emit_records(records, fmt)
    print_asof(asof, machine=fmt is not OutputFormat.TABLE)
