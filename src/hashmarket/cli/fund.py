"""``hashmarket fund …``: a hashrate fund (ETP) on the ledger, from its spec file.

Each command reads the fund's terms from SPEC (see ``examples/fund/fund.json``) and the
published fixings from the network history; each write is one ledger transaction. Shares
are whole units, tokens in the series' smallest unit, BTC in sats.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hashmarket.chain import NetworkHistory
from hashmarket.cli.common import (
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    emit_json,
    emit_records,
    emit_result,
    load_history,
    parse_date,
    required_date,
)
from hashmarket.cli.ledger import AT_OPTION, parse_at
from hashmarket.cli.ledger_options import DB_OPTION, opened
from hashmarket.errors import DataError, UsageError
from hashmarket.instruments import FundTerms, load_fund_spec
from hashmarket.ledger import fund as fd
from hashmarket.ledger import ns_to_datetime
from hashmarket.ledger import tokens as tk
from hashmarket.pricing import read_secondary_prices
from hashmarket.specfile import read_text

app = typer.Typer(
    help="A hashrate fund (ETP): daily NAV, creation and redemption by APs, tracking error.",
    no_args_is_help=True,
)

SPEC_ARGUMENT = typer.Argument(..., help="The fund's spec file (JSON or YAML).")
DAY_OPTION = typer.Option(..., "--day", help="The day, YYYY-MM-DD.")


def _rate(history: NetworkHistory, day: dt.date) -> tk.DayRate:
    rates = fd.day_rates(history, day, day)
    if day not in rates:
        raise DataError("no_fixing", day=day, problem="no published BTC and USD fixings")
    return rates[day]


@app.command("create")
def create_command(
    spec: Path = SPEC_ARGUMENT,
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Open the fund on the ledger: its share asset, its token and BTC accounts, the manager's
    account. Running it again changes nothing."""
    terms = load_fund_spec(spec)
    with opened(db, data_dir) as ledger:
        fd.open_fund(ledger, terms, at_ns=parse_at(at))
    console().print(
        f"ok: fund {terms.fund} holds {terms.token_series} in account {terms.token_account_id} "
        f"and BTC in {terms.btc_account_id}; shares issued by {terms.share_issuer_account_id}"
    )


@app.command("register-ap")
def register_ap_command(
    spec: Path = SPEC_ARGUMENT,
    account: int = typer.Option(..., "--account", help="New share account id of the AP."),
    payout: int = typer.Option(..., "--payout", help="The AP's BTC account for distributions."),
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Register an authorised participant: only its share account may create and redeem."""
    terms = load_fund_spec(spec)
    with opened(db, data_dir) as ledger:
        fd.register_ap(
            ledger, terms, share_account_id=account, payout_account_id=payout, at_ns=parse_at(at)
        )
    console().print(f"ok: account {account} is an authorised participant of {terms.fund}")


def _strike_line(terms: FundTerms, s: Any) -> str:
    record = s.to_dict()
    return (
        f"{terms.fund} {s.day}: NAV {record['nav_sats_per_share']} sats a share "
        f"({s.shares:,} shares; {s.holdings.token_units:,} {terms.token_series} at "
        f"{s.mark.mark_sats_per_token:,} sats + {s.holdings.btc_sats:,} sats = "
        f"{s.gross_sats:,} gross; fee {s.fee_sats:,}, distribution {s.distribution_sats:,})"
    )


@app.command("strike")
def strike_command(
    spec: Path = SPEC_ARGUMENT,
    day: str = DAY_OPTION,
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Strike a day's NAV and book its fee and distribution (in the day's dealing window,
    the day after it, once the day before is struck)."""
    terms = load_fund_spec(spec)
    when = required_date(day, "--day")
    history = load_history(data_dir, commercial_only)
    previous = None
    if when > terms.launch_day:
        previous = _rate(history, when - dt.timedelta(days=1))
    rate = _rate(history, when)
    with opened(db, data_dir) as ledger:
        s = fd.strike(ledger, terms, rate, previous=previous, at_ns=parse_at(at))
    emit_result(s.to_dict(), fmt, "ok: " + _strike_line(terms, s))


@app.command("nav")
def nav_command(
    spec: Path = SPEC_ARGUMENT,
    day: str = DAY_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """A day's NAV from the ledger's holdings at its cut and its fixings (writes nothing)."""
    terms = load_fund_spec(spec)
    rate = _rate(load_history(data_dir, commercial_only), required_date(day, "--day"))
    with opened(db, data_dir) as ledger:
        s = fd.nav(ledger, terms, rate)
    emit_result(s.to_dict(), fmt, _strike_line(terms, s))


def _received(value: str | None, at_ns: int | None) -> dt.datetime:
    if value is None:
        if at_ns is None:
            return dt.datetime.now(dt.UTC)
        return ns_to_datetime(at_ns)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise UsageError(
            "bad_option",
            option="--received-at",
            problem=f"{value!r} is not an ISO 8601 time with its offset (e.g. …T15:00:00Z)",
        )
    return when


def _deal(side: str, spec: Path, options: dict[str, Any]) -> None:
    terms = load_fund_spec(spec)
    at_ns = parse_at(options["at"])
    when = _received(options["received_at"], at_ns)
    rate = _rate(
        load_history(options["data_dir"], options["commercial_only"]), terms.dealing_day(when)
    )
    order = fd.Order(
        order_id=options["order_id"],
        share_account_id=options["ap"],
        token_account_id=options["tokens"],
        btc_account_id=options["btc"],
        creation_units=options["units"],
        received_at=when,
    )
    book = fd.create_shares if side == "create" else fd.redeem_shares
    with opened(options["db"], options["data_dir"]) as ledger:
        done = book(ledger, terms, order, rate, at_ns=at_ns)
    b = done.basket
    verb = "created" if side == "create" else "redeemed"
    moved = "in" if side == "create" else "out"
    emit_result(
        done.to_dict(),
        options["fmt"],
        f"ok: order {order.order_id} {verb} {b.shares:,} {terms.fund} shares at the "
        f"{done.dealing_day} NAV of {done.to_dict()['nav_sats_per_share']} sats: "
        f"{b.token_units:,} {terms.token_series} and {b.cash_sats:,} sats {moved}",
    )


AP_OPTION = typer.Option(..., "--ap", help="The AP's share account.")
TOKENS_OPTION = typer.Option(..., "--tokens", help="The AP's token account (a series holder).")
BTC_OPTION = typer.Option(..., "--btc", help="The AP's BTC account (cash component).")
UNITS_OPTION = typer.Option(..., "--units", help="Creation units.")
ORDER_OPTION = typer.Option(..., "--id", help="The order's id; sending it again books it once.")
RECEIVED_OPTION = typer.Option(
    None,
    "--received-at",
    help="When the order was received (ISO 8601 with offset; default: --at, else now). "
    "Before the cut-off it deals at that day's NAV, after it at the next day's.",
)


@app.command("create-shares")
def create_shares_command(
    spec: Path = SPEC_ARGUMENT,
    ap: int = AP_OPTION,
    tokens: int = TOKENS_OPTION,
    btc: int = BTC_OPTION,
    units: int = UNITS_OPTION,
    order_id: str = ORDER_OPTION,
    received_at: str | None = RECEIVED_OPTION,
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """An AP creates shares in kind: tokens and the cash component in sats in, shares out."""
    _deal("create", spec, locals())


@app.command("redeem")
def redeem_command(
    spec: Path = SPEC_ARGUMENT,
    ap: int = AP_OPTION,
    tokens: int = TOKENS_OPTION,
    btc: int = BTC_OPTION,
    units: int = UNITS_OPTION,
    order_id: str = ORDER_OPTION,
    received_at: str | None = RECEIVED_OPTION,
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """An AP redeems shares in kind: shares in, tokens and the cash component out."""
    _deal("redeem", spec, locals())


@app.command("report")
def report_command(
    spec: Path = SPEC_ARGUMENT,
    prices: Path | None = typer.Option(
        None, "--prices", help="Secondary prices: CSV of date,price_sats_per_share."
    ),
    start: str | None = typer.Option(None, "--from", help="First day (default: the launch)."),
    end: str | None = typer.Option(None, "--to", help="Last day (default: the last fixing)."),
    window: int = typer.Option(30, "--window", help="Tracking error over this many returns."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Daily NAV, premium or discount of the secondary price, tracking error to the index."""
    terms = load_fund_spec(spec)
    history = load_history(data_dir, commercial_only)
    first = parse_date(start, "--from") or terms.launch_day
    last = parse_date(end, "--to") or history.last_date
    secondary = None
    if prices is not None:
        secondary = read_secondary_prices(read_text(prices, error=DataError), name=str(prices))
    rates = fd.day_rates(history, first, last)
    with opened(db, data_dir) as ledger:
        result = fd.report(ledger, terms, rates, prices=secondary, window_days=window)
    data = result.to_dict()
    if fmt is not OutputFormat.TABLE:
        emit_json(data) if fmt is OutputFormat.JSON else emit_records(_flat(data["days"]), fmt)
        return
    table = Table(title=f"{terms.fund}: NAV in sats a share", title_justify="left")
    for column in ("day", "shares", "NAV", "fee", "distributed", "index BTC/PH/day", "premium"):
        table.add_column(column, justify="right")
    for row in data["days"]:
        premium = row["premium"]
        table.add_row(
            row["day"],
            f"{row['shares']:,}",
            row["nav_sats_per_share"],
            f"{row['fee_sats']:,}",
            f"{row['distribution_sats']:,}",
            row["index_btc_per_ph_day"],
            "" if premium is None else f"{float(premium):+.2%}",
        )
    console().print(table)
    te = data["tracking_error"]
    if te is None:
        console().print("tracking error: needs 2 or more daily returns with shares outstanding")
    else:
        console().print(
            f"tracking error {te['annualised']:.2%} a year ({te['daily']:.4%} a day) over "
            f"{te['returns']} daily returns, {te['first_day']} to {te['last_day']}"
        )


def _flat(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not isinstance(v, dict)} for r in rows]
