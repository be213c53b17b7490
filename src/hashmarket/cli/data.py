"""``hashmarket data …``: what data there is, where it comes from, and adding your own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hashmarket.chain.history import NetworkHistory
from hashmarket.chain.sources.bundled import BUNDLED_SOURCES
from hashmarket.cli.common import (
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    emit_records,
    jsonable,
    resolve_data_dir,
)

app = typer.Typer(
    help="Network data: sources, licences, coverage, imports and node sync.", no_args_is_help=True
)


def info_records(history: NetworkHistory) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per source (rows, date range, licence) and per field (coverage) descriptions."""
    sources = []
    for info in history.sources + tuple(s for s in BUNDLED_SOURCES if s not in history.sources):
        mask = (history.provenance == info.name).any(axis=1).to_numpy()
        days = history.dates[mask]
        sources.append(
            {
                "source": info.name,
                "file": info.file,
                "days_used": int(mask.sum()),
                "first": days[0].date().isoformat() if len(days) else None,
                "last": days[-1].date().isoformat() if len(days) else None,
                "licence": info.licence,
                "commercial_use": info.commercial_use,
                "attribution": info.attribution,
                "description": info.description,
            }
        )
    fields = [
        {"field": name, **{k: jsonable(v) for k, v in row.items()}}
        for name, row in history.coverage().iterrows()
    ]
    return sources, fields


@app.command("info")
def info_command(
    fmt: OutputFormat = FORMAT_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Sources with their licences and date ranges, and the coverage of every field."""
    history = NetworkHistory.load(
        data_dir=resolve_data_dir(data_dir), include_noncommercial=not commercial_only
    )
    sources, fields = info_records(history)
    if fmt is OutputFormat.JSON:
        import json

        typer.echo(
            json.dumps(
                {
                    "days": len(history.frame),
                    "first": history.first_date.isoformat(),
                    "last": history.last_date.isoformat(),
                    "sources": sources,
                    "fields": fields,
                },
                indent=2,
                default=str,
            )
        )
        return
    if fmt is OutputFormat.CSV:
        emit_records(fields, fmt)
        return
    out = console()
    out.print(
        f"Network history: {len(history.frame):,} days, {history.first_date} to {history.last_date}"
    )
    src = Table(title="Sources", title_justify="left")
    for name in ("source", "file", "days used", "from", "to", "licence"):
        src.add_column(name)
    for s in sources:
        src.add_row(
            s["source"],
            s["file"] or "",
            f"{s['days_used']:,}",
            s["first"] or "",
            s["last"] or "",
            s["licence"],
        )
    out.print(src)
    cov = Table(title="Coverage per field", title_justify="left")
    for name in ("field", "days", "from", "to", "by source"):
        cov.add_column(name)
    for f in fields:
        by = ", ".join(f"{k} {v:,}" for k, v in f["sources"].items())
        cov.add_row(
            f["field"],
            f"{f['days']:,} of {f['of_days']:,}",
            str(f["first"] or ""),
            str(f["last"] or ""),
            by,
        )
    out.print(cov)
    out.print("Attribution:")
    for s in sources:
        if s["attribution"]:
            out.print(f"  [bold]{s['source']}[/bold]: {s['attribution']}")
