"""``hashmarket ledger …``: the double-entry ledger from the command line.

Every command opens the ledger at ``--db`` (default: ``sqlite:///<data dir>/ledger.sqlite``),
does one thing in one transaction, and prints a table or JSON. A refused request prints one
line with its result code and exits non-zero, and has changed nothing.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hashmarket.cli import ledger_admin
from hashmarket.cli.common import (
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    emit_json,
    emit_records,
    print_table,
)
from hashmarket.cli.ledger_options import DB_OPTION, ledger_url, opened
from hashmarket.errors import AccountRefusedError, UsageError
from hashmarket.ledger import (
    Account,
    AccountBalance,
    Asset,
    CreateAssetResult,
    Ledger,
    Transfer,
    TransferFlags,
    account_record,
    create_stablecoins,
    day_start_ns,
    entry_record,
    ns_to_datetime,
)

app = typer.Typer(
    help="The double-entry ledger: accounts, transfers, balances.", no_args_is_help=True
)

DEFAULT_ASSETS = (("BTC", 8, "btc-issuer"), ("USD", 2, "usd-issuer"))
AT_OPTION = typer.Option(
    None,
    "--at",
    help="Back-date this write (an import): a UTC time such as 2025-01-05T00:00:00Z, or a "
    "date (its 00:00 UTC). Imports go in time order, each after the ledger's last event.",
)


def parse_at(value: str | None) -> int | None:
    """``--at``: ledger-clock nanoseconds of an ISO 8601 time with its offset, or of a date's
    00:00 UTC; ``None`` when not given (the write is stamped by the clock)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return day_start_ns(dt.date.fromisoformat(value))
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            "bad_option", option="--at", problem=f"{value!r} is not a date or an ISO 8601 time"
        ) from None
    if when.tzinfo is None:
        raise UsageError(
            "bad_option", option="--at", problem=f"{value!r} has no UTC offset (end it with Z)"
        )
    since_epoch = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return since_epoch // dt.timedelta(microseconds=1) * 1000


def new_transfer_id() -> int:
    """A fresh id when the user gives none: milliseconds since 1970 in the high bits and 20
    random bits (sortable by time, like a ULID, and within 63 bits). It is printed, so a
    retry can send the same id and be applied at most once."""
    return (time.time_ns() // 1_000_000) << 20 | secrets.randbits(20)


def resolve_account(ledger: Ledger, ref: str) -> AccountBalance:
    """An account by id or by name."""
    return ledger.account(ref)


def account_id(ledger: Ledger, ref: str) -> int:
    """An account id: ``ref`` itself if it is a number (it is not looked up: the command may
    open it), else the id of the account so named."""
    return int(ref) if ref.isdigit() else ledger.account(ref).id


@app.command("init")
def init_command(
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    btc_issuer_id: int = typer.Option(1, "--btc-issuer-id", help="Account id of the BTC issuer."),
    usd_issuer_id: int = typer.Option(2, "--usd-issuer-id", help="Account id of the USD issuer."),
    stablecoins: bool = typer.Option(
        False,
        "--stablecoins",
        help="Also USDT and USDC (6 decimals; issuers 3 and 4), for settlement at par in USD.",
    ),
    usdt_issuer_id: int = typer.Option(
        3, "--usdt-issuer-id", help="Account id of the USDT issuer."
    ),
    usdc_issuer_id: int = typer.Option(
        4, "--usdc-issuer-id", help="Account id of the USDC issuer."
    ),
    at: str | None = AT_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Create the ledger (schema, BTC in sats, USD in cents, their issuers; with --stablecoins
    USDT and USDC in micro-units); safe to repeat, and a later --stablecoins adds them.
    A ledger that will load past events is created with --at before the first of them."""
    url = ledger_url(db, data_dir)
    at_ns = parse_at(at)
    with Ledger.open(url, create=True) as ledger:
        with ledger.transaction(at_ns=at_ns) as w:
            for (code, scale, name), issuer in zip(
                DEFAULT_ASSETS, (btc_issuer_id, usd_issuer_id), strict=True
            ):
                result = w.create_asset(Asset(code, scale), issuer_account_id=issuer, name=name)
                if result is not CreateAssetResult.OK:
                    raise AccountRefusedError(
                        "asset_refused", result_code=result.value, asset=code, reason=result.reason
                    )
            issuers = {"USDT": usdt_issuer_id, "USDC": usdc_issuer_id}
            for coin, result in create_stablecoins(w, issuers) if stablecoins else []:
                if result is not CreateAssetResult.OK:
                    raise AccountRefusedError(
                        "asset_refused",
                        result_code=result.value,
                        asset=coin.code,
                        reason=result.reason,
                    )
        assets = ledger.assets()
        head = ledger.head()
    records: list[dict[str, Any]] = [
        {"asset": a.code, "scale": a.scale, "issuer_account_id": a.issuer_account_id}
        for a in assets
    ]
    if fmt is OutputFormat.TABLE:
        out = console()
        out.print(f"ledger ready at {url} (journal rows: {head.seq})")
        table = Table("asset", "scale", "issuer account", title="Assets", title_justify="left")
        for r in records:
            table.add_row(str(r["asset"]), str(r["scale"]), str(r["issuer_account_id"]))
        out.print(table)
    elif fmt is OutputFormat.JSON:
        emit_json({"url": url, "journal_rows": head.seq, "assets": records})
    else:
        emit_records(records, fmt)


@app.command("account")
def account_command(
    account_id: int = typer.Argument(..., help="New account id (1 to 2**63 - 1)."),
    asset: str = typer.Option(..., "--asset", help="Asset code, e.g. BTC."),
    name: str | None = typer.Option(None, "--name", help="Unique name (not all digits)."),
    code: int = typer.Option(0, "--code", help="Your category for the account (0-65535)."),
    issuer_scale: int | None = typer.Option(
        None,
        "--new-asset-scale",
        help="Create ASSET with this scale and make this account its issuer.",
    ),
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Open an account (it may not overdraw); or, with --new-asset-scale, a new asset and its
    issuer account. Repeating the same command is a no-op."""
    at_ns = parse_at(at)
    with opened(db, data_dir) as ledger:
        if issuer_scale is not None:
            result = ledger.create_asset(
                Asset(asset, issuer_scale),
                issuer_account_id=account_id,
                name=name,
                code=code,
                at_ns=at_ns,
            )
            if result is not CreateAssetResult.OK:
                raise AccountRefusedError(
                    "asset_refused", result_code=result.value, asset=asset, reason=result.reason
                )
        else:
            ledger.create_account(Account(account_id, asset, code=code, name=name), at_ns=at_ns)
        account = ledger.account(account_id)
        scale = ledger.asset(account.asset).scale
    show_accounts([account_record(account, scale)], fmt)


@app.command("transfer")
def transfer_command(
    from_account: str | None = typer.Option(None, "--from", help="Debit account (id or name)."),
    to_account: str | None = typer.Option(None, "--to", help="Credit account (id or name)."),
    amount: int = typer.Option(0, "--amount", help="Amount in the asset's smallest unit."),
    transfer_id: int | None = typer.Option(
        None, "--id", help="Your id for this transfer; sending it again applies it at most once."
    ),
    pending: bool = typer.Option(False, "--pending", help="Reserve only (two-phase)."),
    timeout_s: int = typer.Option(0, "--timeout", help="Seconds before a reservation expires."),
    post: int | None = typer.Option(None, "--post", help="Post this pending transfer."),
    void: int | None = typer.Option(None, "--void", help="Void this pending transfer."),
    reverse: int | None = typer.Option(None, "--reverse", help="Reverse this transfer."),
    code: int = typer.Option(0, "--code", help="Your category for the transfer (0-65535)."),
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Move an amount (plain, --pending), or resolve one (--post, --void, --reverse)."""
    modes = [m for m in (pending, post is not None, void is not None, reverse is not None) if m]
    if len(modes) > 1:
        raise UsageError(
            "bad_option", option="--pending/--post/--void/--reverse", problem="give one at most"
        )
    tid = transfer_id if transfer_id is not None else new_transfer_id()
    at_ns = parse_at(at)
    with opened(db, data_dir) as ledger:
        debit = resolve_account(ledger, from_account).id if from_account else 0
        credit = resolve_account(ledger, to_account).id if to_account else 0
        if post is not None or void is not None:
            flags = TransferFlags.POST_PENDING if post is not None else TransferFlags.VOID_PENDING
            pending_id = post if post is not None else void
            request = Transfer(
                tid, debit, credit, amount, flags, pending_id=pending_id or 0, code=code
            )
        elif reverse is not None:
            request = Transfer(
                tid, debit, credit, amount, TransferFlags.REVERSAL, reverses_id=reverse, code=code
            )
        else:
            if not debit or not credit:
                raise UsageError("bad_option", option="--from/--to", problem="both are required")
            flags = TransferFlags.PENDING if pending else TransferFlags.NONE
            request = Transfer(tid, debit, credit, amount, flags, timeout_s=timeout_s, code=code)
        ledger.transfer(request, at_ns=at_ns)
        entry = ledger.lookup_transfer(tid)
    assert entry is not None
    record = entry_record(entry)
    if fmt is OutputFormat.JSON:
        emit_json({"result": "ok", **record})
    elif fmt is OutputFormat.CSV:
        emit_records([record], fmt)
    else:
        console().print(
            f"ok: transfer {tid} ({entry.kind}) {entry.amount} units "
            f"from {entry.debit_account_id} to {entry.credit_account_id}, journal seq {entry.seq}"
        )


def show_accounts(records: list[dict[str, Any]], fmt: OutputFormat) -> None:
    if fmt is not OutputFormat.TABLE:
        if fmt is OutputFormat.JSON:  # the balance as an exact number, not its text
            emit_json([{**r, "balance": Decimal(r["balance"])} for r in records])
        else:
            emit_records(records, fmt)
        return
    table = Table(title="Accounts", title_justify="left")
    for column, justify in (
        ("id", "right"),
        ("name", "left"),
        ("asset", "left"),
        ("balance", "right"),
        ("units", "right"),
        ("available", "right"),
        ("pending out", "right"),
        ("pending in", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in records:
        table.add_row(
            str(r["id"]),
            r["name"] or "",
            r["asset"],
            r["balance"],
            f"{r['balance_units']:,}",
            f"{r['available_units']:,}",
            f"{r['debits_pending_units']:,}",
            f"{r['credits_pending_units']:,}",
        )
    print_table(table, optional=("balance",))


@app.command("balance")
def balance_command(
    accounts: list[str] = typer.Argument(None, help="Account ids or names (default: all)."),
    asset: str | None = typer.Option(None, "--asset", help="Only accounts of this asset."),
    limit: int = typer.Option(1_000, "--limit", help="At most this many accounts."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Posted balance, what is available and what is pending, per account."""
    with opened(db, data_dir) as ledger:
        scales = {a.code: a.scale for a in ledger.assets()}
        if accounts:
            found = [resolve_account(ledger, ref) for ref in accounts]
        else:
            found = ledger.accounts(asset=asset, limit=limit)
    show_accounts([account_record(a, scales[a.asset]) for a in found], fmt)


@app.command("history")
def history_command(
    account: str = typer.Argument(..., help="Account id or name."),
    limit: int = typer.Option(50, "--limit", help="At most this many rows, newest first."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The account's journal rows, newest first."""
    with opened(db, data_dir) as ledger:
        found = resolve_account(ledger, account)
        entries = ledger.history(found.id, limit=limit)
    records = [entry_record(e) for e in entries]
    if fmt is OutputFormat.JSON:
        emit_json(records)
        return
    if fmt is OutputFormat.CSV:
        emit_records(records, fmt)
        return
    table = Table(title=f"History of account {found.id}", title_justify="left")
    for column in ("seq", "id", "kind", "from", "to", "amount", "code", "time (UTC)"):
        table.add_column(column)
    for e in entries:
        sign = "-" if e.debit_account_id == found.id else "+"
        table.add_row(
            str(e.seq),
            str(e.id),
            e.kind,
            str(e.debit_account_id),
            str(e.credit_account_id),
            f"{sign}{e.amount:,}",
            str(e.code),
            ns_to_datetime(e.timestamp_ns).strftime("%Y-%m-%d %H:%M:%S"),
        )
    console().print(table)


app.command("verify")(ledger_admin.verify_command)
app.command("keygen")(ledger_admin.keygen_command)
app.command("checkpoint")(ledger_admin.checkpoint_command)
app.command("backup")(ledger_admin.backup_command)
app.command("restore")(ledger_admin.restore_command)
app.command("grant")(ledger_admin.grant_command)
