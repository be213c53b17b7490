"""``hashmarket loan-book``: a loan's life along the published fixings, booked on the ledger
(see :mod:`hashmarket.risk.loan_booking`). One ledger transaction: a refused booking prints
one line and changes nothing; booking again books nothing new."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from hashmarket.cli.common import (
    ALLOW_SUBSIDY_ONLY_OPTION,
    ASOF_OPTION,
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    console,
    jsonable,
    load_history_asof,
    print_asof,
)
from hashmarket.cli.index_lending import rates_for
from hashmarket.cli.ledger_options import DB_OPTION, opened
from hashmarket.cli.risk import FORMAT_OPTION, RiskFormat
from hashmarket.errors import RiskError
from hashmarket.risk import LoanBookResult, LoanParties, book_realized, booked_loan
from hashmarket.specfile import read_document

BUYER_HELP = "The buyer's cash account, needed when the collateral is sold (id or name)."


def _amount(value: float) -> str:
    return "" if value == 0.0 else f"{value:,.8f}".rstrip("0").rstrip(".")


def render_booking(result: LoanBookResult) -> None:
    out = console()
    loan = result.loan
    out.print(
        f"[bold]{loan.loan_id}[/bold]: {len(result.events)} events through {result.asof}, "
        f"{result.new_transfers} new transfers"
        + (" (nothing new)" if result.events and not result.new_transfers else "")
    )
    if result.events:
        table = Table(title="The loan's life on the published fixings", title_justify="left")
        for name in ("day", "event", "collateral units", "USD", "BTC", "LTV"):
            table.add_column(name, justify="left" if name in ("day", "event") else "right")
        for e in result.events:
            ltv = "" if e.ltv != e.ltv else f"{e.ltv:.4f}"
            table.add_row(
                e.day.isoformat(),
                e.kind,
                _amount(e.units),
                "" if e.usd == 0.0 else f"{e.usd:,.2f}",
                _amount(e.btc),
                ltv,
            )
        out.print(table)
    if result.booking is not None:
        b = result.booking
        out.print(
            f"in minor units: principal {b.principal_minor:,}, pledged {b.pledged_minor:,}, "
            f"repaid {b.repaid_minor:,}, recovered {b.recovered_minor:,}, "
            f"surplus {b.surplus_minor:,}; pending pledges {len(b.pending_ids)}"
        )
    if result.waiting:
        out.print(f"not booked yet: {result.waiting}")


def loan_book_command(
    loan_path: Path = typer.Argument(..., metavar="LOAN", help="A loan spec (JSON/YAML)."),
    lender: str = typer.Option(
        ..., "--lender", help="The lender's cash account: USD, BTC for a loan of BTC (id or name)."
    ),
    borrower: str = typer.Option(..., "--borrower", help="The borrower's cash account."),
    collateral: str = typer.Option(
        ..., "--collateral", help="The borrower's account in the collateral's asset."
    ),
    buyer: str | None = typer.Option(None, "--buyer", help=BUYER_HELP),
    buyer_collateral: str | None = typer.Option(
        None, "--buyer-collateral", help="Where sold collateral goes (default: derived, opened)."
    ),
    lender_collateral: str | None = typer.Option(
        None, "--lender-collateral", help="A forward's deliveries (default: derived, opened)."
    ),
    fmt: RiskFormat = FORMAT_OPTION,
    asof: str | None = ASOF_OPTION,
    db: str | None = DB_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Book a loan's life on the published fixings up to the as-of day on the ledger."""
    history, resolved = load_history_asof(data_dir, commercial_only, asof, allow_subsidy_only)
    document, location = read_document(loan_path, what="loan", error=RiskError)
    loan = booked_loan(
        document,
        history=history,
        asof=resolved.date,
        rates_for=rates_for(data_dir),
        location=location,
    )
    parties = LoanParties(
        lender=lender,
        borrower=borrower,
        borrower_collateral=collateral,
        buyer=buyer,
        buyer_collateral=buyer_collateral,
        lender_collateral=lender_collateral,
    )
    with opened(db, data_dir) as ledger:
        result = book_realized(ledger, loan, parties, history=history, asof=resolved.date)
    print_asof(resolved, machine=fmt is RiskFormat.JSON)
    if fmt is RiskFormat.JSON:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=jsonable))
    else:
        render_booking(result)
