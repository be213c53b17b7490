"""``hashmarket lease …``: machine financial leases and instalment loans — the instalment
schedule, the lessor's credit risk over scenarios, and the booking on the ledger."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hashmarket.cli.common import (
    ASOF_OPTION,
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    SEED_OPTION,
    OutputFormat,
    console,
    emit_records,
    print_asof,
)
from hashmarket.cli.ledger import account_id
from hashmarket.cli.ledger_options import DB_OPTION, opened
from hashmarket.cli.mining_common import (
    ID_OPTION_HELP,
    MEASURE_OPTION,
    PATHS_OPTION,
    THROUGH_OPTION,
    emit,
    published_through,
    read_contract,
    scenario_inputs,
)

app = typer.Typer(
    help="Machine leases: the instalment schedule, the lessor's expected loss, the booking.",
    no_args_is_help=True,
)

SPEC_ARGUMENT = typer.Argument(..., metavar="SPEC", help="A machine_lease spec, JSON or YAML.")


@app.command("schedule")
def schedule_command(spec: Path = SPEC_ARGUMENT, fmt: OutputFormat = FORMAT_OPTION) -> None:
    """The annuity schedule in cents: each month's payment, interest, principal, balance."""
    from hashmarket.instruments import MachineLease

    lease = read_contract(spec, MachineLease)
    if fmt is not OutputFormat.TABLE:
        emit_records([r.to_dict() for r in lease.schedule], fmt)
        return
    table = Table(
        title=f"{spec.name}: ${lease.financed_cents / 100:,.2f} financed over {lease.months} "
        f"months at {lease.rate_per_year:%} a year",
        title_justify="left",
    )
    for column in ("month", "due", "payment $", "interest $", "principal $", "balance $"):
        table.add_column(column, justify="right")
    for r in lease.schedule:
        table.add_row(
            str(r.month),
            r.due.isoformat(),
            *(
                f"{c / 100:,.2f}"
                for c in (r.payment_cents, r.interest_cents, r.principal_cents, r.balance_cents)
            ),
        )
    total = sum(r.payment_cents for r in lease.schedule)
    interest = sum(r.interest_cents for r in lease.schedule)
    table.add_row(
        "total",
        "",
        f"{total / 100:,.2f}",
        f"{interest / 100:,.2f}",
        f"{lease.financed_cents / 100:,.2f}",
        "",
    )
    console().print(table)


@app.command("risk")
def risk_command(
    spec: Path = SPEC_ARGUMENT,
    paths: int = PATHS_OPTION,
    seed: int = SEED_OPTION,
    asof: str | None = ASOF_OPTION,
    measure: str = typer.Option("model", "--measure", help=MEASURE_OPTION.help),
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The lessor's probability of default, expected loss and loss quantiles over scenarios
    (recovery: the machines sold at a price that falls with hashprice)."""
    from hashmarket.instruments import MachineLease
    from hashmarket.pricing import lease_risk

    lease = read_contract(spec, MachineLease)
    market, model, config, resolved = scenario_inputs(
        lease,
        asof=asof,
        paths=paths,
        seed=seed,
        measure=measure,
        data_dir=data_dir,
        commercial_only=commercial_only,
    )
    result = lease_risk(lease, market=market, model=model, config=config)
    emit(result.to_dict(), fmt, f"lease {spec.name}: the lessor's credit risk")
    print_asof(resolved, machine=fmt is not OutputFormat.TABLE)


@app.command("book")
def book_command(
    spec: Path = SPEC_ARGUMENT,
    lease_id: str = typer.Option(..., "--lease-id", help=ID_OPTION_HELP),
    lessor_usd: str = typer.Option(..., "--lessor-usd", help="Lessor's USD account."),
    lessee_usd: str = typer.Option(..., "--lessee-usd", help="Lessee's USD account."),
    lessor_machines: str = typer.Option(
        ..., "--lessor-machines", help="Lessor's account of the machine asset (holds title)."
    ),
    lessee_machines: str = typer.Option(
        ..., "--lessee-machines", help="Lessee's account of the machine asset."
    ),
    through: str | None = THROUGH_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Book the down payment and every instalment due through ``--through``; the title
    after the last, or the default when the rule triggers on the published fixings."""
    from hashmarket.instruments import MachineLease
    from hashmarket.ledger.mining import LeaseAccounts, book_lease

    lease = read_contract(spec, MachineLease)
    published, last = published_through(
        lease.start, through, data_dir=data_dir, commercial_only=commercial_only
    )
    with opened(db, data_dir) as ledger:
        accounts = LeaseAccounts(
            lessor_usd=account_id(ledger, lessor_usd),
            lessee_usd=account_id(ledger, lessee_usd),
            lessor_machines=account_id(ledger, lessor_machines),
            lessee_machines=account_id(ledger, lessee_machines),
        )
        booking = book_lease(ledger, lease_id, lease, accounts, published, through=last)
    if booking.default_month is not None:
        state = f"defaulted in month {booking.default_month} ({booking.default_day})"
    elif booking.title_transferred:
        state = "paid off: title passed to the lessee"
    else:
        state = f"{booking.outstanding_cents / 100:,.2f} USD of principal outstanding"
    line = (
        f"ok: {lease_id} through {last}: {booking.instalments_paid} instalment(s), "
        f"{booking.paid_cents / 100:,.2f} USD paid; {state}; "
        f"{booking.new_transfers} new transfer(s)"
    )
    emit(booking.to_dict(), fmt, "", line=line)
