"""``hashmarket index gpu``: GPU-hour index fixings from a quotes file."""

from __future__ import annotations

import enum
import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hashmarket.cli.common import FORMAT_OPTION, OutputFormat, console, emit_json, emit_records
from hashmarket.errors import UsageError
from hashmarket.index import (
    BUNDLED_QUOTES_FILE,
    DEFAULT_MAD_THRESHOLD,
    GpuFixing,
    Methodology,
    Period,
    QuoteTable,
    Term,
    bundled_quotes_path,
    canonical_model,
    gpu_fixings,
    read_quotes,
)

BUNDLED_QUOTES = BUNDLED_QUOTES_FILE


class TermChoice(enum.StrEnum):
    ALL = "all"
    ON_DEMAND = "on-demand"
    RESERVED = "reserved"
    SPOT = "spot"


def select_quotes(
    quotes: QuoteTable, *, model: str | None, term: TermChoice, region: str | None
) -> QuoteTable:
    chosen = quotes.select(
        gpu_model=model,
        term=None if term is TermChoice.ALL else Term(term.value),
        region=region,
    )
    if len(chosen) == 0:
        asked = []
        if model is not None:
            asked.append(f"--model {canonical_model(model)}")
        if term is not TermChoice.ALL:
            asked.append(f"--term {term.value}")
        if region is not None:
            asked.append(f"--region {region}")
        models = ", ".join(sorted(set(quotes.gpu_model.tolist())))
        raise UsageError("no_matching_quotes", what=f"{' '.join(asked)} (models: {models})")
    return chosen


def fixing_record(f: GpuFixing) -> dict[str, Any]:
    """A flat record for CSV/JSON output, units in the keys."""
    return {
        "period_start": f.period_start.isoformat(),
        "period_end": f.period_end.isoformat(),
        "gpu_model": f.gpu_model,
        "term": f.term,
        "price_usd_per_gpu_hour": f.value,
        "n_quotes": f.n_quotes,
        "n_outliers": f.n_outliers,
        "volume_gpu_hours": f.volume_gpu_hours,
        "centre_usd_per_gpu_hour": round(f.centre_usd_per_gpu_hour, 6),
        "mad_usd_per_gpu_hour": round(f.mad_usd_per_gpu_hour, 6),
        "methodology_version": f.methodology_version,
        "inputs_sha256": f.inputs_sha256,
    }


def render_table(fixings: list[GpuFixing], *, source: str, period: Period) -> None:
    table = Table(
        title=f"GPU-hour index, USD per GPU-hour ({period.value} fixings, {source})",
        title_justify="left",
    )
    weighted = any(f.volume_gpu_hours is not None for f in fixings)
    columns = ["period", "model", "term", "USD/GPU-h", "n", "out", "MAD"]
    if weighted:
        columns.append("GPU-h kept")
    for name in columns:
        justify = "left" if name in ("period", "model", "term") else "right"
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for f in fixings:
        span = (
            f.period_start.isoformat()
            if f.period_start == f.period_end
            else f"{f.period_start}…{f.period_end}"
        )
        cells = [
            span,
            f.gpu_model,
            f.term,
            f"{f.value:.4f}",
            str(f.n_quotes),
            str(f.n_outliers),
            f"{f.mad_usd_per_gpu_hour:.4f}",
        ]
        if weighted:
            cells.append("—" if f.volume_gpu_hours is None else f"{f.volume_gpu_hours:,.0f}")
        table.add_row(*cells)
    out = console()
    out.print(table)
    out.print(
        f"Methodology {fixings[0].methodology_version}: volume-weighted median of the quotes "
        "within the MAD threshold of the median. n: quotes, out: screened out, MAD: median "
        "absolute deviation. Input hashes: --format json or csv."
    )


def gpu_command(
    quotes_path: Path | None = typer.Argument(
        None,
        metavar="[QUOTES.csv]",
        help=f"Quotes file (default: the bundled sample of published figures, {BUNDLED_QUOTES})",
        show_default=False,
    ),
    model: str | None = typer.Option(None, "--model", help="GPU model, e.g. H100."),
    term: TermChoice = typer.Option(TermChoice.ALL, "--term", help="Only this term."),
    region: str | None = typer.Option(None, "--region", help="Only quotes of this region."),
    period: Period = typer.Option(Period.DAY, "--period", help="Window of one fixing."),
    mad_threshold: float = typer.Option(
        DEFAULT_MAD_THRESHOLD,
        "--mad-threshold",
        help="Screen quotes further than this many robust σ from the median (methodology: 3).",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """GPU-hour index: one fixing per period, GPU model and term, from price quotes."""
    if quotes_path is None:
        quotes = read_quotes(bundled_quotes_path(), display_name=BUNDLED_QUOTES_FILE)
        source = f"bundled {BUNDLED_QUOTES_FILE}"
    else:
        quotes = read_quotes(quotes_path)
        source = quotes_path.name
    if not (mad_threshold > 0 and math.isfinite(mad_threshold)):
        raise UsageError("bad_option", option="--mad-threshold", problem="must be positive")
    chosen = select_quotes(quotes, model=model, term=term, region=region)
    fixings = gpu_fixings(
        chosen, methodology=Methodology(period=period, mad_threshold=mad_threshold)
    )
    if fmt is OutputFormat.TABLE:
        render_table(fixings, source=source, period=period)
    elif fmt is OutputFormat.JSON:
        emit_json([f.to_dict() for f in fixings])
    else:
        emit_records([fixing_record(f) for f in fixings], fmt)
