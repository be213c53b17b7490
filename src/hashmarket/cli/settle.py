"""``hashmarket settle …``: bilateral contracts settled daily on the ledger from the published
fixings (see :mod:`hashmarket.ledger.settlement`).

Amounts are shown in the contract's asset (USD, BTC, or a USD stablecoin at par) and, in
JSON, in minor units (cents, sats, micro-units) under ``*_minor`` keys, signed from the
buyer's side. Each command is one ledger transaction: a refused command prints one line
and changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hashmarket.cli.common import (
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    emit_json,
    emit_records,
    exact_record,
    load_history,
    required_date,
)
from hashmarket.cli.ledger import AT_OPTION, parse_at
from hashmarket.cli.ledger_options import DB_OPTION, opened
from hashmarket.errors import LedgerError, SettlementError, SpecError, UsageError
from hashmarket.index import read_power_prices, read_quotes
from hashmarket.ledger import Ledger, ns_to_datetime, scaled
from hashmarket.ledger import settlement as st
from hashmarket.specfile import located, read_document

app = typer.Typer(
    help="Settle forwards, swaps and options between two accounts from the published fixings.",
    no_args_is_help=True,
)

CONTRACT_OPTION = typer.Option(None, "--contract", help="Only this contract (default: all).")


def _decimal(value: str | None, option: str) -> Decimal | None:
    if value is None:
        return None
    try:
        out = Decimal(value)
    except InvalidOperation:
        raise UsageError(
            "bad_option", option=option, problem=f"{value!r} is not a number"
        ) from None
    if not out.is_finite():
        raise UsageError("bad_option", option=option, problem="must be a finite number")
    return out


def _party(ledger: Ledger, ref: str, side: str, asset: str) -> int:
    """A party's account, by id or by name; a missing one is named with how to open it
    (a party must exist and hold funds for its margin, so it is never opened here)."""
    try:
        return ledger.account(ref).id
    except LedgerError as error:
        if error.key != "account_not_found":
            raise
    raise SettlementError("settle_party_unknown", account=ref, side=side, asset=asset) from None


def _load_instrument(path: Path) -> st.SettledInstrument:
    document, location = read_document(path, what="instrument spec", error=SpecError)
    with located(location):
        return st.instrument_from_spec(document)


def _money(units: int, s: st.ContractStatus) -> str:
    return f"{scaled(units, s.scale)} {s.asset}"


def _deadline(s: st.ContractStatus) -> str:
    if s.deadline_ns is None or s.state is not st.ContractState.MARGIN_CALL:
        return ""
    return ns_to_datetime(s.deadline_ns).strftime("%Y-%m-%d %H:%M UTC")


def _record(s: st.ContractStatus) -> dict[str, Any]:
    out = exact_record(s)
    out["deadline"] = _deadline(s) or None
    return out


def _table(
    title: str, statuses: Sequence[st.ContractStatus], moved: dict[str, int] | None = None
) -> Table:
    """Contracts as a table; ``moved`` (by contract) adds what a run has just moved."""
    table = Table(title=title, title_justify="left")
    columns = ("contract", "type", "state", "through", "settled (buyer)", "outstanding")
    for column in columns:
        table.add_column(column)
    if moved is not None:
        table.add_column("moved now (buyer)", justify="right")
    table.add_column("margins (buyer / seller)", justify="right")
    table.add_column("call deadline")
    for s in statuses:
        cells = [
            s.contract_id,
            s.instrument_type,
            s.state.value,
            "" if s.through_day is None else s.through_day.isoformat(),
            _money(s.settled_minor, s),
            _money(s.outstanding_minor, s) if s.outstanding_minor else "",
        ]
        if moved is not None:
            cells.append(_money(moved.get(s.contract_id, 0), s))
        cells.append(
            f"{scaled(s.buyer_margin_minor, s.scale)} / {scaled(s.seller_margin_minor, s.scale)}"
        )
        cells.append(_deadline(s))
        table.add_row(*cells)
    return table


def _emit(records: list[dict[str, Any]], fmt: OutputFormat, table: Table) -> None:
    if fmt is OutputFormat.JSON:
        emit_json(records)
    elif fmt is OutputFormat.CSV:
        emit_records(records, fmt)
    else:
        console().print(table)


@app.command("open")
def open_command(
    spec: Path = typer.Argument(..., help="The instrument spec, JSON or YAML."),
    buyer: str = typer.Option(..., "--buyer", help="The long account (id or name)."),
    seller: str = typer.Option(..., "--seller", help="The short account (id or name)."),
    asset: str | None = typer.Option(
        None,
        "--asset",
        help="usd or btc: the instrument's currency (its default); a USD payoff may settle at "
        "par in usdt or usdc (created by `ledger init --stablecoins`).",
    ),
    margin_rate: str | None = typer.Option(
        None, "--margin-rate", help="Initial margin / notional (default: 0.35 USD, 0.18 BTC)."
    ),
    grace_days: int = typer.Option(
        st.DEFAULT_GRACE_DAYS, "--grace-days", help="Days a margin call stays open."
    ),
    notional: str | None = typer.Option(
        None, "--notional", help="Notional in USD or BTC, when the terms do not fix it."
    ),
    contract_id: str | None = typer.Option(
        None, "--id", help="Contract id (default: from the terms, so a retry is a no-op)."
    ),
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Record a trade and reserve each side's initial margin (refused if a side cannot)."""
    instrument = _load_instrument(spec)
    rate = _decimal(margin_rate, "--margin-rate")
    size = _decimal(notional, "--notional")
    at_ns = parse_at(at)
    code = (asset or instrument.currency.value).upper()
    with opened(db, data_dir) as ledger:
        contract = st.Contract(
            contract_id="",
            instrument=instrument,
            buyer_account_id=_party(ledger, buyer, "buyer", code),
            seller_account_id=_party(ledger, seller, "seller", code),
            asset=code,
            margin_rate=rate,
            grace_days=grace_days,
            notional=size,
        )
        cid = contract_id if contract_id is not None else st.default_contract_id(contract)
        s = st.open_contract(ledger, dataclasses.replace(contract, contract_id=cid), at_ns=at_ns)
    if fmt is OutputFormat.TABLE:
        console().print(
            f"ok: contract {s.contract_id} ({s.instrument_type}, {s.first_day} to {s.last_day}) "
            f"between buyer {s.buyer_account_id} and seller {s.seller_account_id}; margins "
            f"{_money(s.buyer_margin_minor, s)} / {_money(s.seller_margin_minor, s)} reserved "
            f"({s.margin_rate} of {s.notional} {s.asset})"
        )
    else:
        _emit([_record(s)], fmt, Table())


@app.command("run")
def run_command(
    day: str = typer.Option(..., "--day", help="The day to settle, YYYY-MM-DD (must be over)."),
    contract_id: str | None = CONTRACT_OPTION,
    gpu_quotes: Path | None = typer.Option(
        None, "--gpu-quotes", help="GPU quotes file for compute contracts (default: bundled)."
    ),
    power_prices: Path | None = typer.Option(
        None,
        "--power-prices",
        help="Regional power prices CSV (date, region, price_usd_per_kwh or _per_mwh) for "
        "regional contracts: their fixings are the regional margin index of these prices.",
    ),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Settle every open contract (or one) through DAY; running a day again pays nothing."""
    when = required_date(day, "--day")
    with opened(db, data_dir) as ledger:
        published = st.published_fixings(
            st.status(ledger, contract_id),
            when,
            history=load_history(data_dir, commercial_only),
            gpu_quotes=None if gpu_quotes is None else read_quotes(gpu_quotes),
            power_prices=None if power_prices is None else read_power_prices(power_prices),
        )
        outcomes = st.run(ledger, when, published, contract_id=contract_id)
    if not outcomes:
        # Not an error: a scheduled run on a ledger without contracts has nothing to do.
        console().print(
            f"nothing to settle for {when}: the ledger has no contract "
            "(open one with `hashmarket settle open`)"
        )
        return
    moved = {o.status.contract_id: sum(e.amount_minor for e in o.events) for o in outcomes}
    records = []
    for o in outcomes:
        record = _record(o.status)
        record["events"] = [e.kind for e in o.events]
        record["moved_minor"] = moved[o.status.contract_id]
        records.append(record)
    statuses = [o.status for o in outcomes]
    _emit(records, fmt, _table(f"Settlement run for {when}", statuses, moved))


@app.command("status")
def status_command(
    contract_id: str | None = CONTRACT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Every contract's state, settled amounts, margins and any margin call."""
    with opened(db, data_dir) as ledger:
        statuses = st.status(ledger, contract_id)
    _emit([_record(s) for s in statuses], fmt, _table("Contracts", statuses))


@app.command("events")
def events_command(
    contract_id: str = typer.Argument(..., help="The contract id."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """A contract's history: opening, each settlement, margin calls, close-out or expiry."""
    with opened(db, data_dir) as ledger:
        rows = st.events(ledger, contract_id)
        (s,) = st.status(ledger, contract_id)
    records = [
        {
            "seq": e.seq,
            "kind": e.kind,
            "run_day": None if e.run_day is None else e.run_day.isoformat(),
            "state": e.state,
            "through_day": None if e.through_day is None else e.through_day.isoformat(),
            "amount_minor": e.amount_minor,
            "due_minor": e.due_minor,
            "settled_minor": e.settled_minor,
            "remainder_minor": e.remainder_minor,
            "called_party": e.called_party,
            "shortfall_minor": e.shortfall_minor,
            "transfer_id": e.transfer_id,
            "fixings_sha256": e.fixings_sha256,
            "time": ns_to_datetime(e.timestamp_ns).isoformat(),
        }
        for e in rows
    ]
    table = Table(title=f"Contract {contract_id} ({s.asset})", title_justify="left")
    for column in ("seq", "event", "run day", "through", "moved (buyer)", "settled", "state"):
        table.add_column(column)
    for e in rows:
        table.add_row(
            str(e.seq),
            e.kind,
            "" if e.run_day is None else e.run_day.isoformat(),
            "" if e.through_day is None else e.through_day.isoformat(),
            _money(e.amount_minor, s) if e.amount_minor else "",
            _money(e.settled_minor, s),
            e.state,
        )
    _emit(records, fmt, table)
