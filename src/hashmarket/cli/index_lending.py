"""``hashmarket index lending-rate``: the crypto lending reference rate's fixings, and
``… import FILE`` to add a transactions file (CSV) or a loan book (JSON/YAML) to the data
directory. See ``docs/lending-rate.md``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hashmarket.cli.common import (
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    emit_json,
    emit_records,
    parse_date,
    print_table,
    resolve_data_dir,
)
from hashmarket.cli.ledger_options import DB_OPTION, LEDGER_FILE_NAME
from hashmarket.errors import UsageError
from hashmarket.index import (
    LendingCurrency,
    LendingFixing,
    LendingTransaction,
    Tenor,
    import_transactions,
    lending_fixings,
    read_transactions,
)
from hashmarket.instruments import FloatingRate
from hashmarket.ledger import Ledger, floating_rates, import_loan_book, reference_transactions
from hashmarket.risk import RatesFor
from hashmarket.today import today

app = typer.Typer(
    help="Crypto lending reference rate: daily fixings by currency and tenor (and imports).",
    no_args_is_help=False,
)


@contextmanager
def loan_book_ledger(db: str | None, data_dir: Path) -> Iterator[Ledger | None]:
    """The ledger whose booked loans count: ``--db``, else the data directory's, if any."""
    if db is None and not (data_dir / LEDGER_FILE_NAME).exists():
        yield None
        return
    with Ledger.open(db or f"sqlite:///{data_dir / LEDGER_FILE_NAME}") as ledger:
        yield ledger


def gather(data_dir: Path, db: str | None, extra_files: Sequence[Path]) -> list[LendingTransaction]:
    """The imported transactions, the booked loans of the imported loan books, and
    ``extra_files`` read for this run only."""
    with loan_book_ledger(db, data_dir) as ledger:
        transactions = reference_transactions(data_dir, ledger)
    for path in extra_files:
        transactions.extend(read_transactions(path))
    return transactions


def rates_for(data_dir: Path | None, db: str | None = None) -> RatesFor:
    """A floating loan's resets from the fixings of the data directory's sources, gathered
    only when a floating loan asks (``hashmarket loan``)."""

    def resolve(floating: FloatingRate, start: dt.date, maturity: dt.date) -> FloatingRate:
        found = gather(resolve_data_dir(data_dir), db, [])
        return floating_rates(found)(floating, start, maturity)

    return resolve


def fixing_record(f: LendingFixing) -> dict[str, Any]:
    """A flat record for CSV output (the inputs stay in JSON)."""
    record = f.to_dict()
    del record["inputs"]
    return record


def _percent(value: Any) -> str:
    return "—" if value is None else f"{value * 100:.3f}"


def render_table(fixings: list[LendingFixing], currency: LendingCurrency) -> None:
    unit = "USD" if currency is LendingCurrency.USD else "BTC"
    table = Table(title=f"Lending reference rate, {unit} loans, % per year", title_justify="left")
    headers = ("date", "tenor", "rate %", "level", "n", f"volume {unit}", "trim mean %", "sha256")
    for name in headers:
        table.add_column(name, justify="left" if name in ("date", "sha256") else "right")
    decimals = currency.scale if currency is LendingCurrency.BTC else 0
    for f in fixings:
        table.add_row(
            f.date.isoformat(),
            f.tenor.value,
            _percent(f.rate_per_year),
            str(f.level),
            str(f.n_transactions),
            f"{f.volume_minor / 10**currency.scale:,.{decimals}f}",
            _percent(f.trimmed_mean_per_year),
            f.inputs_sha256[:12],
        )
    out = console()
    print_table(table, optional=("sha256", "trim mean %"), out=out)
    out.print(
        f"Methodology {fixings[0].methodology_version}: volume-weighted median after trimming "
        "25 % of the volume from each end. Levels: 1 computed, 2 widened window, 3 carried "
        "with an adjacent tenor's change, 4 republished. Inputs: --format json."
    )


@app.callback(invoke_without_command=True)
def lending_rate_command(
    ctx: typer.Context,
    tenor: list[Tenor] = typer.Option([], "--tenor", help="Only this tenor (repeatable)."),
    currency: LendingCurrency = typer.Option(
        LendingCurrency.USD, "--currency", help="usd: dollars lent against BTC; btc: BTC lent."
    ),
    start: str | None = typer.Option(None, "--from", help="First date (YYYY-MM-DD)."),
    end: str | None = typer.Option(
        None, "--to", help="Last date (default: the last trade date of the data)."
    ),
    transactions: list[Path] = typer.Option(
        [], "--transactions", help="Also this transactions file, not imported (repeatable)."
    ),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Crypto lending reference rate: daily fixings by currency and tenor (and imports)."""
    if ctx.invoked_subcommand is not None:
        return
    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    if first and last and last < first:
        raise UsageError("bad_option", option="--to", problem=f"{last} is before --from {first}")
    found = gather(resolve_data_dir(data_dir), db, transactions)
    # No fixing is published for a day that has not come yet.
    last = min(last, today()) if last is not None else None
    fixings = lending_fixings(
        found, currency=currency, start=first, end=last, tenors=tenor or list(Tenor)
    )
    if fmt is OutputFormat.JSON:
        emit_json([f.to_dict() for f in fixings])
    elif fmt is OutputFormat.CSV:
        emit_records([fixing_record(f) for f in fixings], fmt)
    elif not fixings:
        console().print(
            f"No {currency.value} fixing: no eligible transactions "
            "(import some with `hashmarket index lending-rate import FILE`)."
        )
    else:
        render_table(fixings, currency)


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="Transactions (.csv) or a loan book (.json/.yaml)."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Validate a file and add it to the data directory; a bad file stores nothing."""
    where = resolve_data_dir(data_dir)
    if file.suffix.lower() == ".csv":
        stored, rows, new = import_transactions(file, where)
        what = "transactions"
    else:
        stored, rows, new = import_loan_book(file, where)
        what = "loans"
    verb = "imported" if new else "already imported"
    typer.echo(f"{verb} {file.name}: {rows} {what} ({stored.name})")
