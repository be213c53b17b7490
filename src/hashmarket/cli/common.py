"""Options and output helpers shared by every sub-command."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import functools
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from hashmarket.errors import UsageError
from hashmarket.paths import default_data_dir
from hashmarket.today import parse_day

if TYPE_CHECKING:
    from hashmarket.chain import NetworkHistory
    from hashmarket.index import AsOf


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
SCHEDULER_OPTION = typer.Option(
    None,
    "--scheduler",
    envvar="HASHMARKET_SCHEDULER",
    help="Run the Monte Carlo chunks on a Dask cluster: a scheduler address (tcp://host:8786), "
    "'local' (a local cluster, one worker process per core) or 'local:N'. The numbers are the "
    "same as without, bit for bit (needs the 'dask' extra).",
)
DASK_WORKERS_OPTION = typer.Option(
    None,
    "--dask-workers",
    help="Start a local Dask cluster of N worker processes (--scheduler local:N).",
)
USD_RATE_OPTION = typer.Option(0.0, "--usd-rate", help="Flat USD rate, continuously compounded.")
REPORT_OPTION = typer.Option(
    None, "--report", help="Also write a self-contained HTML report with charts to this file."
)

# Runs longer than this many simulated path-days show a progress bar (on stderr).
PROGRESS_PATH_DAYS = 2_000_000


def resolve_data_dir(option: Path | None) -> Path:
    return option if option is not None else default_data_dir()


def positive(value: int, option: str) -> int:
    """``value`` if it is above zero; otherwise a usage error naming ``option``."""
    if value <= 0:
        raise UsageError("bad_option", option=option, problem=f"must be positive, got {value}")
    return value


def resolve_scheduler(scheduler: str | None, dask_workers: int | None) -> str | None:
    """The cluster ``--scheduler`` and ``--dask-workers`` name (``None``: in process)."""
    from hashmarket.models import LOCAL, parse_scheduler

    if dask_workers is None:
        if scheduler is not None:
            parse_scheduler(scheduler)  # a bad address is a usage error before any work
        return scheduler
    positive(dask_workers, "--dask-workers")
    if scheduler is not None and parse_scheduler(scheduler)[0] != LOCAL:
        raise UsageError(
            "bad_option",
            option="--dask-workers",
            problem=f"starts a local cluster; it cannot be combined with --scheduler {scheduler}",
        )
    return f"{LOCAL}:{dask_workers}"


def parse_date(value: str | None, option: str) -> dt.date | None:
    return None if value is None else parse_day(value, option)


def required_date(value: str, option: str) -> dt.date:
    """The date of an option that has no default."""
    parsed = parse_date(value, option)
    assert parsed is not None
    return parsed


def console() -> Console:
    return Console()


def resolve_cli_asof(
    history: NetworkHistory, asof: str | None, *, allow_subsidy_only: bool = False
) -> AsOf:
    """The as-of date of a command: ``--asof`` if given and supported, else the default;
    staleness is measured against today's date (``HASHMARKET_TODAY`` overrides the clock)."""
    from hashmarket.index import resolve_asof
    from hashmarket.today import today

    return resolve_asof(
        history,
        requested=parse_date(asof, "--asof"),
        today=today(),
        allow_subsidy_only=allow_subsidy_only,
    )


def load_history(data_dir: Path | None, commercial_only: bool) -> NetworkHistory:
    """The network history of the data store (``--data-dir``, ``--commercial-only``)."""
    from hashmarket.chain import NetworkHistory

    return NetworkHistory.load(
        data_dir=resolve_data_dir(data_dir), include_noncommercial=not commercial_only
    )


def load_history_asof(
    data_dir: Path | None, commercial_only: bool, asof: str | None, allow_subsidy_only: bool
) -> tuple[NetworkHistory, AsOf]:
    """The network history of the data store and the command's resolved as-of date."""
    history = load_history(data_dir, commercial_only)
    return history, resolve_cli_asof(history, asof, allow_subsidy_only=allow_subsidy_only)


@contextmanager
def progress_bar(
    label: str, path_days: int, paths: int = 0
) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr for runs of at least ``PROGRESS_PATH_DAYS`` simulated
    path-days, fed by the ``(done, total)`` callback it yields; ``None`` for short runs."""
    if path_days < PROGRESS_PATH_DAYS:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar_ = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} paths"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar_:
        task = bar_.add_task(label, total=paths)

        def update(done: int, total: int) -> None:
            bar_.update(task, completed=done, total=total)

        yield update


def write_report(path: Path | None, text: str) -> None:
    """Write a ``--report`` file next to its target and rename it into place, so a failed
    run leaves no half-written report; say where it went on stderr."""
    if path is None:
        return
    if not path.parent.is_dir():
        raise UsageError("bad_option", option="--report", problem=f"no directory {path.parent}")
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError("bad_option", option="--report", problem=str(exc)) from None
    finally:
        tmp.unlink(missing_ok=True)
    Console(stderr=True).print(f"report written to {path}", markup=False, highlight=False)


def print_asof(asof: AsOf, *, machine: bool) -> None:
    """One line naming the as-of date and the data's reach, and one more if the data is
    stale; on stderr when the output is for programs (JSON, CSV), so it stays parseable.
    The first line wraps between words at the terminal's width, like the tables above it."""
    out = Console(stderr=True) if machine else console()
    out.print(asof.describe(), markup=False, highlight=False)
    warning = asof.stale_warning()
    if warning is not None:
        out.print(warning, style="bold yellow", markup=False, highlight=False, soft_wrap=True)


def print_table(table: Table, *, optional: Sequence[str] = (), out: Console | None = None) -> None:
    """Print ``table`` without cutting a number, date or id short in a narrow terminal.

    Rich squeezes every column of a table wider than the terminal and ends cells with "…".
    Here, when the table is too wide, a column whose cells are single words (numbers, dates,
    ids) keeps the width of its widest cell and only columns of text wrap; when that does not
    fit, the ``optional`` columns (headers, in order: columns whose content another column
    also shows) are left out, and then the vertical rules.
    """
    out = out or console()
    if _widths(out, table, rigid=False) is None:
        steps: list[Callable[[], None]] = [lambda: None]
        for header in optional:
            steps.append(functools.partial(_drop_column, table, header))
        steps.append(lambda: setattr(table, "box", None))
        for step in steps:
            step()
            widths = _widths(out, table, rigid=True)
            if widths is not None:
                for column, width in zip(table.columns, widths, strict=True):
                    column.width = width
                break
    out.print(table)


def _drop_column(table: Table, header: str) -> None:
    table.columns[:] = [c for c in table.columns if c.header != header]


def _widths(out: Console, table: Table, *, rigid: bool) -> list[int | None] | None:
    """Column widths for ``table`` in the terminal, or ``None`` when it does not fit.

    Not ``rigid``: every cell on one line (the table as rich prints it when it fits; all
    ``None``). Rigid: a column of single-word cells takes its widest cell; a column of text
    may wrap, down to its longest word, and shares the room left in proportion to how much
    wider it would like to be (rich's own squeezing ignores the longest word and cuts it)."""
    # A rule and a space either side of each column; without rules, the spaces only.
    needed = 2 * len(table.columns) + (len(table.columns) + 1 if table.box else 0)
    fixed: list[int | None] = []
    least: list[int] = []
    most: list[int] = []
    for column in table.columns:
        header = Measurement.get(out, out.options, column.header)
        cells = [Measurement.get(out, out.options, cell) for cell in column.cells]
        widest = max([header.maximum, *(m.maximum for m in cells)])
        if not rigid:
            fixed.append(None)
            least.append(widest)
        elif all(m.minimum == m.maximum for m in cells):
            fixed.append(max([header.minimum, *(m.maximum for m in cells)]))
            least.append(fixed[-1] or 0)
        else:
            fixed.append(None)
            least.append(max([header.minimum, *(m.minimum for m in cells)]))
        most.append(widest)
    spare = out.width - needed - sum(least)
    if spare < 0:
        return None
    if not rigid:
        return fixed
    wants = [m - w if f is None else 0 for f, w, m in zip(fixed, least, most, strict=True)]
    total = sum(wants)
    widths: list[int | None] = []
    for f, w, want in zip(fixed, least, wants, strict=True):
        extra = min(want, spare * want // total) if total else 0
        widths.append(f if f is not None else w + extra)
    return widths


def jsonable(value: Any) -> Any:
    """Plain JSON value: NaN becomes null, numpy scalars and decimals become numbers (JSON has
    no decimal type; a number stays a number rather than a string), dates ISO."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _plain(value: Any) -> Any:
    """A record's value for :func:`to_json`: decimals stay exact, NaN (which the encoder
    would write as an invalid ``NaN``) becomes null."""
    return value if isinstance(value, Decimal) else jsonable(value)


def csv_cell(value: Any) -> Any:
    """A CSV cell: blank for a missing value; a decimal keeps its written digits (2.4900)."""
    if isinstance(value, Decimal):
        return str(value)
    plain = jsonable(value)
    return "" if plain is None else plain


# A decimal goes through the encoder as this marked string, then loses the quotes and the
# marks: JSON numbers have any number of digits, so it is written exactly (2.4900, 0.1).
_DECIMAL = "\x00decimal\x00"
_MARKED_DECIMAL = re.compile(r'"\\u0000decimal\\u0000([-+.0-9eE]+)"')


def _exact(value: Any) -> Any:
    if isinstance(value, Decimal) and value.is_finite():
        return f"{_DECIMAL}{value}"
    return jsonable(value)


def to_json(value: Any) -> str:
    """Any structure of records as JSON: numbers as numbers whatever their Python type,
    decimals with their exact digits, NaN as null, dates ISO."""
    return _MARKED_DECIMAL.sub(r"\1", json.dumps(value, indent=2, default=_exact))


def emit_json(value: Any) -> None:
    typer.echo(to_json(value))


def exact_record(item: Any) -> dict[str, Any]:
    """``item.to_dict()`` with the decimals ``item`` holds put back as decimals: the ledger
    layer writes them as strings (so its stored rows and the HTTP API keep every digit), and
    :func:`to_json` writes a decimal as an exact JSON number."""
    record: dict[str, Any] = item.to_dict()
    for key, value in record.items():
        held = getattr(item, key, None)
        if isinstance(held, Decimal) and value == str(held):
            record[key] = held
    return record


def emit_records(records: Sequence[dict[str, Any]], fmt: OutputFormat) -> None:
    """Print records as JSON (a list of objects) or CSV (header: every record's keys, in the
    order they first appear; blank where a record has no such key)."""
    if fmt is OutputFormat.JSON:
        emit_json([{k: _plain(v) for k, v in r.items()} for r in records])
        return
    buffer = io.StringIO()
    if records:
        fields = list(dict.fromkeys(k for r in records for k in r))
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: csv_cell(r.get(k)) for k in fields})
    typer.echo(buffer.getvalue(), nl=False)


SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def emit_result(record: dict[str, Any], fmt: OutputFormat, line: str) -> None:
    """One command's result: the record as JSON, its scalar fields as a CSV row (nested
    records left out), or ``line`` for people."""
    if fmt is OutputFormat.JSON:
        emit_json(record)
    elif fmt is OutputFormat.CSV:
        emit_records([{k: v for k, v in record.items() if not isinstance(v, dict)}], fmt)
    else:
        console().print(line)


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
