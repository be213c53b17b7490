"""Options and output helpers shared by every sub-command."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from hashmarket.errors import UsageError
from hashmarket.paths import default_data_dir

if TYPE_CHECKING:
    from hashmarket.chain.history import NetworkHistory
    from hashmarket.index.asof import AsOf


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


DATA_DIR_OPTION = typer.Option(
    None,
    "--data-dir",
    help=(
        "Directory of the local data store "
        "(default: $HASHMARKET_DATA_DIR or ~/.local/share/hashmarket)."
    ),
)
COMMERCIAL_ONLY_OPTION = typer.Option(
    False,
    "--commercial-only",
    envvar="HASHMARKET_COMMERCIAL_ONLY",
    help="Leave out data whose licence forbids commercial use (Coin Metrics, CC BY-NC 4.0).",
)
FORMAT_OPTION = typer.Option(OutputFormat.TABLE, "--format", help="Output format.")


class PriceModelChoice(enum.StrEnum):
    GBM = "gbm"
    MERTON = "merton"


# Options of the commands that calibrate models and simulate (price, curve, risk, hedge, loan).
ASOF_OPTION = typer.Option(
    None,
    "--asof",
    help="Valuation date, YYYY-MM-DD (default: the last day with a complete index value).",
)
ALLOW_SUBSIDY_ONLY_OPTION = typer.Option(
    False,
    "--allow-subsidy-only",
    help="Let the as-of date be a day whose index value has no fee data (subsidy only).",
)
SEED_OPTION = typer.Option(0, "--seed", help="Random seed: the same seed gives the same numbers.")
PRICE_MODEL_OPTION = typer.Option(
    PriceModelChoice.GBM, "--price-model", help="BTC price process: gbm or merton (jumps)."
)
WORKERS_OPTION = typer.Option(
    2, "--workers", help="Threads simulating in parallel (results do not depend on it)."
)


def resolve_data_dir(option: Path | None) -> Path:
    return option if option is not None else default_data_dir()


def parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(
            "bad_option", option=option, problem=f"{value!r} is not a YYYY-MM-DD date"
        ) from None


def console() -> Console:
    return Console()


def resolve_cli_asof(
    history: NetworkHistory, asof: str | None, *, allow_subsidy_only: bool = False
) -> AsOf:
    """The as-of date of a command: ``--asof`` if given and supported, else the default;
    staleness is measured against today's date (``HASHMARKET_TODAY`` overrides the clock)."""
    from hashmarket.index.asof import resolve_asof
    from hashmarket.today import today

    return resolve_asof(
        history,
        requested=parse_date(asof, "--asof"),
        today=today(),
        allow_subsidy_only=allow_subsidy_only,
    )


def print_asof(asof: AsOf, *, machine: bool) -> None:
    """One line naming the as-of date and the data's reach, and one more if the data is
    stale; on stderr when the output is for programs (JSON, CSV), so it stays parseable."""
    out = Console(stderr=True) if machine else console()
    out.print(asof.describe(), markup=False, highlight=False, soft_wrap=True)
    warning = asof.stale_warning()
    if warning is not None:
        out.print(warning, style="bold yellow", markup=False, highlight=False, soft_wrap=True)


def jsonable(value: Any) -> Any:
    """Plain JSON value: NaN becomes null, numpy scalars become Python numbers, dates ISO."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def emit_records(records: Sequence[dict[str, Any]], fmt: OutputFormat) -> None:
    """Print records as JSON (a list of objects) or CSV (header: every record's keys, in the
    order they first appear; blank where a record has no such key)."""
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps([{k: jsonable(v) for k, v in r.items()} for r in records], indent=2))
        return
    buffer = io.StringIO()
    if records:
        fields = list(dict.fromkeys(k for r in records for k in r))
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for r in records:
            cells = {k: jsonable(r.get(k)) for k in fields}
            writer.writerow({k: "" if v is None else v for k, v in cells.items()})
    typer.echo(buffer.getvalue(), nl=False)


SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """One character per value, scaled between the smallest and largest (blank where missing)."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    return "".join(
        " " if math.isnan(v) else SPARK_BLOCKS[round((v - low) / span * (len(SPARK_BLOCKS) - 1))]
        for v in values
    )


def bar(value: float, low: float, high: float, width: int = 24) -> str:
    """A horizontal bar for a table cell, from ``low`` (empty) to ``high`` (full)."""
    if math.isnan(value):
        return ""
    span = high - low or 1.0
    eighths = round((value - low) / span * width * 8)
    full, rest = divmod(max(eighths, 1), 8)
    return "█" * full + ("▏▎▍▌▋▊▉"[rest - 1] if rest else "")
