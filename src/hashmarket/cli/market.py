"""``hashmarket market …``: the exchange from the command line.

Every command opens the ledger at ``--db`` (as ``hashmarket ledger`` does), rebuilds the
exchange from its command log, does one thing and prints a table, JSON or CSV. A refused
command prints one line naming the field and the value, exits non-zero, and has logged and
reserved nothing. Commands are stamped with the clock, or with ``--at`` (a UTC time) to
enter past events in order.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
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
)
from hashmarket.cli.ledger import parse_at
from hashmarket.cli.ledger_options import DB_OPTION, ledger_url
from hashmarket.errors import MarketError, UsageError
from hashmarket.ledger import Ledger
from hashmarket.market import (
    GPU_CATALOGUE,
    HASHPOWER,
    NS_PER_S,
    S_PER_HOUR,
    Accepted,
    AddMargin,
    CancelOrder,
    Command,
    Exchange,
    MarkFutures,
    OrderType,
    PlaceGpuOrder,
    PlaceOrder,
    RegisterGpus,
    RegisterHashrate,
    ReplaceOrder,
    ReportDelivery,
    Side,
    TimeInForce,
    futures_positions,
    open_orders,
    open_venue,
    submit_sequenced,
)
from hashmarket.market import marketdata as md

app = typer.Typer(
    help="The exchange: orders, books, trades, bars, capacity and hashpower delivery.",
    no_args_is_help=True,
)

ACCOUNT_OPTION = typer.Option(..., "--account", help="Ledger account id that trades.")
AT_OPTION = typer.Option(
    None, "--at", help="Stamp the command with this UTC time (e.g. 2026-12-01T00:00:00Z)."
)


@contextmanager
def venue(db: str | None, data_dir: Path | None) -> Iterator[Exchange]:
    with Ledger.open(ledger_url(db, data_dir)) as ledger:
        yield open_venue(ledger)


def _stamp(exchange: Exchange, at: str | None) -> int:
    """The command's time: ``--at`` or the clock, never before the last logged command."""
    at_ns = parse_at(at)
    if at_ns is None:
        return max(time.time_ns(), exchange.engine.last_ts_ns)
    return at_ns


def _submit(exchange: Exchange, command: Command) -> Accepted:
    """Submit in log order even beside a running service on the same ledger; a refusal
    raises MarketError (one line, exit non-zero)."""
    (result,) = submit_sequenced(exchange, [command])
    if isinstance(result, MarketError):
        raise result
    return result


def _emit(records: list[dict[str, Any]], fmt: OutputFormat, title: str, columns: list[str]) -> None:
    if fmt is not OutputFormat.TABLE:
        if fmt is OutputFormat.JSON:
            emit_json(records)
        else:
            emit_records(records, fmt)
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in ("market", "side") else "right")
    for r in records:
        table.add_row(*map(_cell, map(r.get, columns)))
    console().print(table)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _accepted(result: Accepted, fmt: OutputFormat) -> None:
    record: dict[str, Any] = {
        "order_id": result.order_id,
        "resting": result.resting,
        "trades": [t.to_dict() for t in result.trades],
        "done": None if result.done is None else result.done.reason.value,
    }
    if fmt is OutputFormat.JSON:
        emit_json(record)
        return
    if fmt is OutputFormat.CSV:
        emit_records([{**record, "trades": len(result.trades)}], fmt)
        return
    filled = sum(t.size for t in result.trades)
    state = f"done: {record['done']}" if record["done"] else f"resting {result.resting:,}"
    console().print(
        f"ok: order {result.order_id}: filled {filled:,} in {len(result.trades)} trade(s), {state}"
    )
    for t in result.trades:
        console().print(f"  trade {t.trade_id}: {t.size:,} at {t.price:,}")


@app.command("place")
def place_command(
    market: str = typer.Argument(..., help="HASHPOWER, a future (HPF-2027-01) or a GPU model."),
    side: Side = typer.Argument(..., help="buy or sell."),
    size: int = typer.Argument(..., help="TH/s, contracts, or GPUs for a GPU block."),
    account: int = ACCOUNT_OPTION,
    price: int | None = typer.Option(
        None, "--price", help="Limit: sats/PH/day, cents/PH/day, or cents per GPU-hour."
    ),
    market_order: bool = typer.Option(False, "--market", help="A market order (no --price)."),
    tif: TimeInForce = typer.Option(TimeInForce.GTC, "--tif", help="gtc, ioc, fok, post_only."),
    budget: int | None = typer.Option(None, "--budget", help="Hashpower buy: budget in sats."),
    duration: int | None = typer.Option(
        None, "--duration", help="Hashpower buy: contract duration in seconds."
    ),
    start: str | None = typer.Option(None, "--start", help="GPU block: first hour (UTC time)."),
    hours: int | None = typer.Option(None, "--hours", help="GPU block: whole hours."),
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Place an order; prints its id, what traded at once and what rests."""
    with venue(db, data_dir) as exchange:
        ts = _stamp(exchange, at)
        command: Command
        if market.upper() in GPU_CATALOGUE:
            start_s, end_s = _window(start, hours)
            if price is None:
                raise UsageError("bad_option", option="--price", problem="a GPU block needs one")
            command = PlaceGpuOrder(
                ts, account, side, market.upper(), size, start_s, end_s, price, tif
            )
        else:
            order_type = OrderType.MARKET if market_order else OrderType.LIMIT
            command = PlaceOrder(
                ts, account, market, side, size, price, order_type, tif, budget, duration
            )
        result = _submit(exchange, command)
    _accepted(result, fmt)


def _window(start: str | None, hours: int | None) -> tuple[int, int]:
    start_ns = parse_at(start)
    if start_ns is None or hours is None:
        raise UsageError("bad_option", option="--start/--hours", problem="a GPU block needs both")
    if hours < 1:
        raise UsageError("bad_option", option="--hours", problem=f"{hours} is not at least 1")
    start_s = start_ns // NS_PER_S
    return start_s, start_s + hours * S_PER_HOUR


@app.command("cancel")
def cancel_command(
    order_id: int = typer.Argument(..., help="The open order's id."),
    account: int = ACCOUNT_OPTION,
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Cancel an open order of the account; its reservation is released."""
    with venue(db, data_dir) as exchange:
        result = _submit(exchange, CancelOrder(_stamp(exchange, at), account, order_id))
    _accepted(result, fmt)


@app.command("replace")
def replace_command(
    order_id: int = typer.Argument(..., help="The open order's id."),
    account: int = ACCOUNT_OPTION,
    price: int = typer.Option(..., "--price", help="The new limit."),
    size: int = typer.Option(..., "--size", help="The new remaining size."),
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Cancel-replace an open order (same price and smaller size keeps its place)."""
    with venue(db, data_dir) as exchange:
        command = ReplaceOrder(_stamp(exchange, at), account, order_id, price, size)
        result = _submit(exchange, command)
    _accepted(result, fmt)


@app.command("register")
def register_command(
    account: int = typer.Argument(..., help="The seller's ledger account id."),
    hashrate_ths: int | None = typer.Option(
        None, "--hashrate-ths", help="Set the registered hashrate (TH/s)."
    ),
    gpus: int | None = typer.Option(None, "--gpus", help="Add this many GPUs of --model."),
    model: str | None = typer.Option(None, "--model", help="GPU model, e.g. H100."),
    start: str | None = typer.Option(None, "--start", help="GPUs: first hour (UTC time)."),
    hours: int | None = typer.Option(None, "--hours", help="GPUs: whole hours."),
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Register capacity a seller may sell: hashrate, or GPUs over a window."""
    if (hashrate_ths is None) == (gpus is None):
        raise UsageError("bad_option", option="--hashrate-ths/--gpus", problem="give one of them")
    with venue(db, data_dir) as exchange:
        ts = _stamp(exchange, at)
        command: Command
        if hashrate_ths is not None:
            command = RegisterHashrate(ts, account, hashrate_ths)
            what = f"{hashrate_ths:,} TH/s"
        else:
            assert gpus is not None
            start_s, end_s = _window(start, hours)
            command = RegisterGpus(ts, account, (model or "").upper(), gpus, start_s, end_s)
            what = f"{gpus:,} {command.model} for {hours} h"
        _submit(exchange, command)
    console().print(f"ok: account {account} registered {what}")


@app.command("report-delivery")
def report_delivery_command(
    contract_id: int = typer.Argument(..., help="The running hashpower contract."),
    delivered_ths_s: int = typer.Argument(..., help="TH/s·seconds delivered since last report."),
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Report metered hashes on a contract: the buyer's budget pays the seller for them."""
    with venue(db, data_dir) as exchange:
        _submit(exchange, ReportDelivery(_stamp(exchange, at), contract_id, delivered_ths_s))
        contract = exchange.engine.contracts.get(contract_id)
    record: dict[str, Any] = {"contract_id": contract_id, "running": contract is not None}
    if contract is not None:
        record.update(
            delivered_ths_s=contract.delivered_ths_s,
            paid_sats=contract.paid_sats,
            spent_sats=contract.spent_sats,
        )
    if fmt is OutputFormat.JSON:
        emit_json(record)
    elif fmt is OutputFormat.CSV:
        emit_records([record], fmt)
    elif contract is None:
        console().print(f"ok: contract {contract_id} has ended (its budget is spent)")
    else:
        console().print(
            f"ok: contract {contract_id}: {contract.delivered_ths_s:,} TH/s·s delivered, "
            f"{contract.paid_sats:,} sats paid to the seller"
        )


@app.command("contracts")
def contracts_command(
    account: int | None = typer.Option(None, "--account", help="Only this buyer's or seller's."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Running hashpower contracts: price, speed, budget, what was delivered and paid."""
    with venue(db, data_dir) as exchange:
        contracts = [
            c.to_dict()
            for c in exchange.engine.contracts.values()
            if account is None or account in (c.buyer_account_id, c.seller_account_id)
        ]
    columns = ["contract_id", "buyer_account_id", "seller_account_id", "price", "hashrate_ths"]
    _emit(contracts, fmt, "Hashpower contracts", [*columns, "budget_sats", "paid_sats"])


@app.command("orders")
def orders_command(
    account: int | None = typer.Option(None, "--account", help="Only this account's orders."),
    market: str | None = typer.Option(None, "--market", help="Only this market's."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Open orders on the continuous books, oldest first."""
    with venue(db, data_dir) as exchange:
        found = open_orders(exchange, account_ids=None if account is None else {account},
                            market=market)  # fmt: skip
    columns = ["order_id", "account_id", "market", "side", "price", "remaining"]
    _emit([o.to_dict() for o in found], fmt, "Open orders", columns)


POSITION_COLUMNS = ["market", "account_id", "contracts", "collateral_cents",
                    "maintenance_margin_cents", "last_mark", "margin_call"]  # fmt: skip


@app.command("positions")
def positions_command(
    account: int | None = typer.Option(None, "--account", help="Only this account's positions."),
    market: str | None = typer.Option(None, "--market", help="Only this future's."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Open futures positions: contracts, collateral, margins, and which are under a call."""
    with venue(db, data_dir) as exchange:
        found = futures_positions(exchange, account_ids=None if account is None else {account},
                                  market=market)  # fmt: skip
    _emit([p.to_dict() for p in found], fmt, "Futures positions", POSITION_COLUMNS)


@app.command("add-margin")
def add_margin_command(
    market: str = typer.Argument(..., help="The listed future, e.g. HPF-2026-03."),
    account: int = ACCOUNT_OPTION,
    amount_cents: int = typer.Option(..., "--amount-cents", help="USD cents to add."),
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Add collateral to the account's position (to answer a margin call), from its USD
    account."""
    with venue(db, data_dir) as exchange:
        _submit(exchange, AddMargin(_stamp(exchange, at), account, market, amount_cents))
        found = futures_positions(exchange, account_ids={account}, market=market)
    _emit([p.to_dict() for p in found], fmt, "Position", POSITION_COLUMNS)


@app.command("mark")
def mark_command(
    market: str = typer.Argument(..., help="The listed future, e.g. HPF-2026-03."),
    price: int = typer.Option(..., "--price", help="USD cents per PH/s per day."),
    final: bool = typer.Option(
        False, "--final", help="The final settlement (the month's average fixing): closes it."
    ),
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Mark a future: variation margin moves by the change from the last mark; the positions
    left are listed, with those under a margin call."""
    with venue(db, data_dir) as exchange:
        _submit(exchange, MarkFutures(_stamp(exchange, at), market, price, final))
        found = futures_positions(exchange, market=market)
    _emit([p.to_dict() for p in found], fmt, f"{market} after the mark", POSITION_COLUMNS)


def _check_market(exchange: Exchange, market: str) -> None:
    if market not in exchange.engine.books:
        known = ", ".join(exchange.engine.books)
        raise MarketError("market_unknown", command="book", field="market", what="market",
                          value=market, known=known)  # fmt: skip


@app.command("book")
def book_command(
    market: str = typer.Argument(HASHPOWER, help="HASHPOWER or a future."),
    levels: int = typer.Option(10, "--levels", help="Price levels per side."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The order book: total size at each of the best price levels per side."""
    with venue(db, data_dir) as exchange:
        _check_market(exchange, market)
        book = md.book_depth(exchange.engine, market=market, levels=levels)
    if fmt is OutputFormat.JSON:
        emit_json(md.depth_record(book))
        return
    rows = [{"side": "ask", "price": p, "size": s} for p, s in reversed(book.asks)]
    rows += [{"side": "bid", "price": p, "size": s} for p, s in book.bids]
    _emit(rows, fmt, f"{market} book", ["side", "price", "size"])


@app.command("trades")
def trades_command(
    market: str = typer.Argument(HASHPOWER, help="HASHPOWER or a future."),
    limit: int = typer.Option(50, "--limit", help="At most this many, newest first."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The trade tape, newest first."""
    with venue(db, data_dir) as exchange:
        _check_market(exchange, market)
        found = md.tape(exchange.engine.trades, market=market, limit=limit)
    records = [{**t.to_dict(), "time_utc": _utc(t.ts_ns)} for t in found]
    columns = ["trade_id", "time_utc", "price", "size", "taker_side"]
    _emit(records, fmt, f"{market} trades", columns)


def _utc(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / NS_PER_S, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@app.command("bars")
def bars_command(
    market: str = typer.Argument(HASHPOWER, help="HASHPOWER or a future."),
    interval: md.Interval = typer.Option(md.Interval.HOUR, "--interval", help="1m, 1h or 1d."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """OHLCV bars from the trades (volume in the market's size unit)."""
    with venue(db, data_dir) as exchange:
        _check_market(exchange, market)
        mine = [t for t in exchange.engine.trades if t.market == market]
        found = md.interval_bars(mine, interval=interval)
    columns = ["start_utc", "open", "high", "low", "close", "volume", "vwap", "trades"]
    _emit([md.bar_record(b) for b in found], fmt, f"{market} {interval.value} bars", columns)
