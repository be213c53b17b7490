"""``hashmarket tokens …``: hashrate token series on the ledger.

Amounts of tokens are in the series' smallest unit (10**-scale token; scale 0 by default,
so whole tokens). Payouts are in sats. Each command is one ledger transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

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
    emit_result,
    exact_record,
    load_history,
    parse_date,
    required_date,
)
from hashmarket.cli.ledger import AT_OPTION, account_id, new_transfer_id, parse_at
from hashmarket.cli.ledger_options import DB_OPTION, opened
from hashmarket.errors import TokenError, UsageError
from hashmarket.index import day_fixings
from hashmarket.ledger import InclusionProof, Ledger, LedgerWriter, Root, verify_proof
from hashmarket.ledger import tokens as tk

app = typer.Typer(
    help="Hashrate tokens: issue a series, mint, burn, transfer, pay daily, prove reserves.",
    no_args_is_help=True,
)

SERIES_OPTION = typer.Option(..., "--series", help="The series' asset code, e.g. HT1.")
ID_OPTION = typer.Option(
    None, "--id", help="Your id for the transfer; sending it again applies it at most once."
)


def decimal_option(value: str, option: str) -> Decimal:
    try:
        out = Decimal(value)
    except InvalidOperation:
        raise UsageError(
            "bad_option", option=option, problem=f"{value!r} is not a number"
        ) from None
    if not out.is_finite():
        raise UsageError("bad_option", option=option, problem="must be a finite number")
    return out


@app.command("issue")
def issue_command(
    series: str = SERIES_OPTION,
    issuer_id: int = typer.Option(..., "--issuer-id", help="New account id: the series' issuer."),
    reserve_id: int = typer.Option(..., "--reserve-id", help="New account id: unminted supply."),
    treasury: str = typer.Option(..., "--treasury", help="BTC account that pays the holders."),
    ths_per_token: str = typer.Option("1", "--ths-per-token", help="TH/s one token represents."),
    efficiency: str = typer.Option(..., "--efficiency-w-per-th", help="Fleet efficiency, W/TH."),
    power_price: str = typer.Option(
        ..., "--power-price-usd-per-kwh", help="Power price, USD per kWh."
    ),
    service_fee: str = typer.Option(
        "0", "--service-fee-usd-per-th-day", help="Service fee, USD per TH/s per day."
    ),
    backing: str = typer.Option(..., "--backing-ths", help="Fleet hashrate backing it, TH/s."),
    start: str = typer.Option(..., "--start", help="First day of the term, YYYY-MM-DD."),
    end: str = typer.Option(..., "--end", help="Last day of the term, YYYY-MM-DD."),
    scale: int = typer.Option(0, "--scale", help="Token units: 10**-scale token (0: whole)."),
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Declare a series; its reserve receives the supply the backing covers."""
    at_ns = parse_at(at)
    with opened(db, data_dir) as ledger:
        terms = tk.TokenSeries(
            asset=series,
            issuer_account_id=issuer_id,
            reserve_account_id=reserve_id,
            treasury_account_id=account_id(ledger, treasury),
            ths_per_token=decimal_option(ths_per_token, "--ths-per-token"),
            efficiency_w_per_th=decimal_option(efficiency, "--efficiency-w-per-th"),
            power_price_usd_per_kwh=decimal_option(power_price, "--power-price-usd-per-kwh"),
            service_fee_usd_per_th_day=decimal_option(service_fee, "--service-fee-usd-per-th-day"),
            backing_hashrate_ths=decimal_option(backing, "--backing-ths"),
            term_start=required_date(start, "--start"),
            term_end=required_date(end, "--end"),
            scale=scale,
        )
        s = tk.issue(ledger, terms, at_ns=at_ns)
    record = {
        "series": s.asset,
        "max_supply_units": s.max_supply_units,
        "ths_per_token": s.ths_per_token,
        "backing_hashrate_ths": s.backing_hashrate_ths,
        "term_start": s.term_start.isoformat(),
        "term_end": s.term_end.isoformat(),
    }
    emit_result(
        record,
        fmt,
        f"ok: series {s.asset}, {s.max_supply_units:,} units backed by "
        f"{s.backing_hashrate_ths} TH/s, {s.term_start} to {s.term_end}",
    )


def _ensure_holder(w: LedgerWriter, series: str, holder: int, payout: int | None) -> None:
    if payout is not None:
        tk.open_holder(
            w, series, token_account_id=holder, payout_account_id=payout, open_payout=True
        )


def _payout_id(ledger: Ledger, ref: str | None) -> int | None:
    """--payout: an account id (opened as a BTC account if new) or an existing name."""
    if ref is None:
        return None
    return account_id(ledger, ref)


@app.command("mint")
def mint_command(
    series: str = SERIES_OPTION,
    to: str = typer.Option(..., "--to", help="Holder account id (new with --payout)."),
    amount: int = typer.Option(..., "--amount", help="Token units."),
    payout: str | None = typer.Option(
        None,
        "--payout",
        help="BTC account for the holder's payouts (opens a new holder; a new id is opened "
        "as a BTC account).",
    ),
    transfer_id: int | None = ID_OPTION,
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Sell tokens out of the reserve to a holder (refused beyond the declared backing)."""
    tid = transfer_id if transfer_id is not None else new_transfer_id()
    at_ns = parse_at(at)
    with opened(db, data_dir) as ledger:
        holder = account_id(ledger, to)
        payout_id = _payout_id(ledger, payout)
        with ledger.transaction(at_ns=at_ns) as w:
            _ensure_holder(w, series, holder, payout_id)
            tk.mint(w, series, transfer_id=tid, to_account_id=holder, amount_units=amount)
        balance = ledger.account(holder).balance
    emit_result(
        {"id": tid, "series": series, "to": holder, "amount_units": amount, "balance": balance},
        fmt,
        f"ok: transfer {tid} minted {amount:,} {series} to {holder} (now {balance:,})",
    )


@app.command("burn")
def burn_command(
    series: str = SERIES_OPTION,
    from_account: str = typer.Option(..., "--from", help="Holder account id."),
    amount: int = typer.Option(..., "--amount", help="Token units."),
    transfer_id: int | None = ID_OPTION,
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Return tokens to the reserve: the outstanding supply shrinks."""
    tid = transfer_id if transfer_id is not None else new_transfer_id()
    at_ns = parse_at(at)
    with opened(db, data_dir) as ledger:
        holder = account_id(ledger, from_account)
        with ledger.transaction(at_ns=at_ns) as w:
            tk.burn(w, series, transfer_id=tid, from_account_id=holder, amount_units=amount)
        balance = ledger.account(holder).balance
    emit_result(
        {"id": tid, "series": series, "from": holder, "amount_units": amount, "balance": balance},
        fmt,
        f"ok: transfer {tid} burned {amount:,} {series} from {holder} (now {balance:,})",
    )


@app.command("transfer")
def transfer_command(
    series: str = SERIES_OPTION,
    from_account: str = typer.Option(..., "--from", help="Holder account id."),
    to: str = typer.Option(..., "--to", help="Holder account id (new with --payout)."),
    amount: int = typer.Option(..., "--amount", help="Token units."),
    payout: str | None = typer.Option(
        None,
        "--payout",
        help="BTC account for a new holder's payouts (a new id is opened as a BTC account).",
    ),
    transfer_id: int | None = ID_OPTION,
    at: str | None = AT_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Move tokens between holders."""
    tid = transfer_id if transfer_id is not None else new_transfer_id()
    at_ns = parse_at(at)
    with opened(db, data_dir) as ledger:
        source, target = account_id(ledger, from_account), account_id(ledger, to)
        payout_id = _payout_id(ledger, payout)
        with ledger.transaction(at_ns=at_ns) as w:
            _ensure_holder(w, series, target, payout_id)
            tk.transfer(
                w,
                series,
                transfer_id=tid,
                from_account_id=source,
                to_account_id=target,
                amount_units=amount,
            )
    emit_result(
        {"id": tid, "series": series, "from": source, "to": target, "amount_units": amount},
        fmt,
        f"ok: transfer {tid} moved {amount:,} {series} from {source} to {target}",
    )


def day_rate(day: dt.date, *, data_dir: Path | None, commercial_only: bool) -> tk.DayRate:
    """The day's FPPS fixings in BTC and USD, from the network history."""
    history = load_history(data_dir, commercial_only)
    return tk.DayRate.from_fixings(*day_fixings(history, day))


@app.command("distribute")
def distribute_command(
    series: str = SERIES_OPTION,
    day: str = typer.Option(..., "--day", help="The day to pay, YYYY-MM-DD (must be over)."),
    uptime: str = typer.Option("1", "--uptime", help="Fraction of the day the fleet hashed."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Pay one day's net FPPS reward to the holders at the day's cut; running it again for
    the same day pays nothing and shows the record."""
    when = required_date(day, "--day")
    rate = day_rate(when, data_dir=data_dir, commercial_only=commercial_only)
    with opened(db, data_dir) as ledger:
        record = tk.distribute(ledger, series, rate, uptime=decimal_option(uptime, "--uptime"))
    emit_result(
        exact_record(record),
        fmt,
        f"ok: {series} {when}: {record.pool_sats:,} sats to {record.holder_count:,} holders of "
        f"{record.supply_units:,} units (gross {record.gross_sats:.2f}, costs "
        f"{record.cost_sats:.2f}, dust {record.dust_sats:.4f}, "
        f"shortfall {record.shortfall_sats:.2f} sats); reserves root "
        f"{record.reserves_root.hex()[:16]}…",
    )


@app.command("holders")
def holders_command(
    series: str = SERIES_OPTION,
    day: str | None = typer.Option(None, "--day", help="Holdings at this day's cut (default now)."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Holders, their balances and shares of the outstanding supply."""
    with opened(db, data_dir) as ledger:
        rows = tk.holdings(ledger, series, day=parse_date(day, "--day"))
    supply = sum(h.balance_units for h in rows)
    records = [
        {
            "token_account_id": h.token_account_id,
            "payout_account_id": h.payout_account_id,
            "balance_units": h.balance_units,
            "share": round(h.balance_units / supply, 6) if supply else 0.0,
        }
        for h in rows
    ]
    if fmt is not OutputFormat.TABLE:
        if fmt is OutputFormat.JSON:
            emit_json(records)
        else:
            emit_records(records, fmt)
        return
    table = Table(title=f"{series} holders (supply {supply:,} units)", title_justify="left")
    for column in ("holder account", "payout account", "units", "share"):
        table.add_column(column, justify="right")
    for r in records:
        table.add_row(
            str(r["token_account_id"]),
            str(r["payout_account_id"]),
            f"{r['balance_units']:,}",
            f"{r['share']:.6f}",
        )
    console().print(table)


@app.command("proof")
def proof_command(
    account: str = typer.Argument(..., help="Holder account id."),
    series: str = SERIES_OPTION,
    day: str = typer.Option(..., "--day", help="A distributed day, YYYY-MM-DD."),
    out: Path | None = typer.Option(None, "--out", help="Write the proof here (default stdout)."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """The inclusion proof of a holder's balance in that day's published reserves root."""
    with opened(db, data_dir) as ledger:
        proof = tk.proof(ledger, series, required_date(day, "--day"), account_id(ledger, account))
    text = json.dumps(proof.to_dict(), indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        console().print(f"ok: proof for account {proof.account_id} written to {out}")


@app.command("verify-proof")
def verify_proof_command(
    file: Path = typer.Argument(..., help="A proof file from `hashmarket tokens proof`."),
    root: str | None = typer.Option(
        None, "--root", help="The published root hash (hex) the proof must lead to."
    ),
) -> None:
    """Check an inclusion proof: exits 0 if valid, 1 if not."""
    try:
        proof = InclusionProof.from_dict(json.loads(file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise TokenError("token_proof", problem=f"file {file} not found") from None
    except (ValueError, KeyError, TypeError) as error:
        raise TokenError("token_proof", problem=f"file {file} is malformed: {error}") from None
    published = None
    if root is not None:
        try:
            published = Root(bytes.fromhex(root), proof.root.total, proof.root.leaf_count)
        except ValueError:
            raise UsageError("bad_option", option="--root", problem="not hex") from None
    if not verify_proof(proof, root=published):
        raise TokenError("token_proof", problem=f"in {file} is not valid")
    console().print(
        f"valid: account {proof.account_id} holds {proof.balance:,} units of {proof.series} "
        f"in the {proof.day} root {proof.root.hash.hex()[:16]}… (total {proof.root.total:,})"
    )
