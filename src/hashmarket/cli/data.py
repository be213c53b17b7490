"""``hashmarket data …``: what data there is, where it comes from, and adding your own."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from hashmarket.chain import (
    STORE_FILE_NAME,
    ImportResult,
    LocalStore,
    NetworkHistory,
    field_summary,
    incomplete_days,
    source_summary,
)
from hashmarket.chain.sources import read_import
from hashmarket.cli.common import (
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    emit_records,
    parse_date,
    print_table,
    resolve_data_dir,
)
from hashmarket.cli.data_sync import (
    ALLOW_CHAIN_OPTION,
    ATTEMPTS_OPTION,
    BATCH_OPTION,
    COMMIT_EVERY_OPTION,
    MAX_SECONDS_OPTION,
    QUICK_OPTION,
    RPC_COOKIE_OPTION,
    RPC_PASSWORD_OPTION,
    RPC_TIMEOUT_OPTION,
    RPC_URL_OPTION,
    RPC_USER_OPTION,
    SOURCE_OPTION,
    START_DATE_OPTION,
    START_HEIGHT_OPTION,
    TIMEOUT_OPTION,
    URL_OPTION,
    CoreSettings,
    SyncRun,
    SyncSource,
    check_positive,
    configured_sources,
    http_limits,
    sync_sources,
)
from hashmarket.errors import UsageError

app = typer.Typer(
    help="Network data: sources, licences, coverage, imports and node sync.", no_args_is_help=True
)


@app.command("info")
def info_command(
    fmt: OutputFormat = FORMAT_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Sources with their licences and date ranges, and the coverage of every field."""
    directory = resolve_data_dir(data_dir)
    history = NetworkHistory.load(data_dir=directory, include_noncommercial=not commercial_only)
    sources, fields = source_summary(history), field_summary(history)
    store = store_record(directory / STORE_FILE_NAME)
    if fmt is OutputFormat.JSON:
        typer.echo(
            json.dumps(
                {
                    "days": len(history.frame),
                    "first": history.first_date.isoformat(),
                    "last": history.last_date.isoformat(),
                    "sources": sources,
                    "fields": fields,
                    "store": store,
                },
                indent=2,
                default=str,
            )
        )
        return
    if fmt is OutputFormat.CSV:
        emit_records(fields, fmt)
        return
    out = console()
    out.print(
        f"Network history: {len(history.frame):,} days, {history.first_date} to {history.last_date}"
    )
    src = Table(title="Sources", title_justify="left")
    for name in ("source", "file", "days used", "from", "to", "licence"):
        src.add_column(name)
    for s in sources:
        src.add_row(
            s["source"],
            s["file"] or "",
            f"{s['days_used']:,}",
            s["first"] or "",
            s["last"] or "",
            s["licence"],
        )
    print_table(src, optional=("file",), out=out)
    cov = Table(title="Coverage per field", title_justify="left")
    for name in ("field", "days", "from", "to", "by source"):
        cov.add_column(name)
    for f in fields:
        by = ", ".join(f"{k} {v:,}" for k, v in f["sources"].items())
        cov.add_row(
            f["field"],
            f"{f['days']:,} of {f['of_days']:,}",
            str(f["first"] or ""),
            str(f["last"] or ""),
            by,
        )
    print_table(cov, out=out)
    render_store(out, store)
    out.print("Attribution:")
    for s in sources:
        if s["attribution"]:
            out.print(f"  [bold]{s['source']}[/bold]: {s['attribution']}")


def store_record(path: Path) -> dict[str, Any]:
    """What the local store holds: its imports and the blocks synced from a node."""
    store = LocalStore(path)
    node = store.node_status()
    mempool = store.node_status("mempool")
    prices = store.price_status("bitstamp_api")
    return {
        "path": str(path),
        "exists": path.exists(),
        "imports": [
            {**dataclasses.asdict(r), "first_date": r.first_date, "last_date": r.last_date}
            for r in store.imports()
        ],
        "node": None if node is None else dataclasses.asdict(node),
        "mempool": None if mempool is None else dataclasses.asdict(mempool),
        "bitstamp_api": None if prices is None else dataclasses.asdict(prices),
    }


def render_store(out: Console, store: dict[str, Any]) -> None:
    if not store["exists"]:
        out.print(
            f"Local store: none yet at {store['path']} "
            "(`hashmarket data import` and `hashmarket data sync` create it)"
        )
        return
    out.print(f"Local store: {store['path']}")
    if store["imports"]:
        table = Table(title="Imports", title_justify="left")
        for name in ("#", "file", "sha256", "imported at", "layout", "from", "to", "values"):
            table.add_column(name)
        for r in store["imports"]:
            table.add_row(
                str(r["import_id"]),
                r["file_path"],
                r["sha256"][:16] + "…",
                r["imported_at"],
                r["layout"],
                str(r["first_date"]),
                str(r["last_date"]),
                f"{r['cells_in_force']:,} of {r['cells']:,} in force",
            )
        out.print(table)
    for key, label in (("node", "Node sync"), ("mempool", "Mempool sync")):
        node = store[key]
        if node is None:
            continue
        tip_time = dt.datetime.fromtimestamp(node["tip_time_s"], dt.UTC)
        out.print(
            f"{label}: blocks {node['first_height']:,} to {node['tip_height']:,} "
            f"({node['blocks']:,} blocks, {node['days']:,} full days) "
            f"from {node['url'] or 'a node'}, chain {node['chain'] or '?'}, "
            f"last synced {node['synced_at'] or 'never completed'}"
        )
        out.print(f"  tip {node['tip_hash']} at {tip_time:%Y-%m-%d %H:%M:%S} UTC")
    prices = store["bitstamp_api"]
    if prices is not None:
        out.print(
            f"Price sync: BTC/USD closes {prices['first_date']} to {prices['last_date']} "
            f"({prices['days']:,} days) from {prices['url']}, last synced {prices['synced_at']}"
        )


@app.command("import")
def import_command(
    file: Path = typer.Argument(
        ...,
        help=(
            "CSV file: daily rows (date plus some of price_usd, hashrate_ths, difficulty_mean, "
            "fees_btc, issuance_btc, block_count) or one row per block (height, time, bits "
            "or difficulty, and optionally hash, subsidy_sats, fees_sats)."
        ),
        show_default=False,
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Import your own daily or per-block data; it takes precedence over the bundled data.

    The whole file is checked before anything is stored: a file with any problem is refused
    with its line, column and value, and the store is left as it was. Importing the same file
    again changes nothing; a later file with the same days replaces those values (a blank
    cell sets nothing, so the day's value comes from earlier imports or the bundled data).
    """
    imported = read_import(file)
    store = LocalStore(resolve_data_dir(data_dir) / STORE_FILE_NAME)
    result = store.apply_import(imported, imported_at=dt.datetime.now(dt.UTC))
    merged = NetworkHistory.load(data_dir=resolve_data_dir(data_dir))
    for line in incomplete_days(merged, imported.first_date, imported.last_date):
        typer.echo(f"warning: {line}", err=True)
    if fmt is not OutputFormat.TABLE:
        emit_records([_import_result_record(result, store.path)], fmt)
        return
    r = result.record
    if not result.changed:
        typer.echo(f"{file} is already imported (sha256 {r.sha256[:16]}…); nothing changed.")
        return
    replaced = f", {result.cells_replaced:,} of them replacing an earlier import"
    typer.echo(
        f"Imported {file}: {r.layout} layout, {r.rows:,} rows, {r.first_date} to {r.last_date}; "
        f"{result.cells_set:,} values set{replaced if result.cells_replaced else ''}."
    )
    typer.echo(f"Store: {store.path} (import #{r.import_id}, sha256 {r.sha256})")


def _import_result_record(result: ImportResult, path: Path) -> dict[str, Any]:
    return {
        "store": str(path),
        "changed": result.changed,
        "values_set": result.cells_set,
        "values_replaced": result.cells_replaced,
        **dataclasses.asdict(result.record),
    }


@app.command("sync")
def sync_command(
    source: SyncSource | None = SOURCE_OPTION,
    url: str | None = URL_OPTION,
    rpc_url: str | None = RPC_URL_OPTION,
    rpc_user: str | None = RPC_USER_OPTION,
    rpc_password: str | None = RPC_PASSWORD_OPTION,
    rpc_cookie: Path | None = RPC_COOKIE_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    start_height: int | None = START_HEIGHT_OPTION,
    start_date: str | None = START_DATE_OPTION,
    allow_chain: bool = ALLOW_CHAIN_OPTION,
    rpc_timeout_s: float = RPC_TIMEOUT_OPTION,
    batch_blocks: int = BATCH_OPTION,
    commit_every: int = COMMIT_EVERY_OPTION,
    timeout_s: float | None = TIMEOUT_OPTION,
    attempts: int | None = ATTEMPTS_OPTION,
    max_seconds: float | None = MAX_SECONDS_OPTION,
    quick: bool = QUICK_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Fetch current data into the local store: blocks (from a Bitcoin Core node or a mempool
    instance, aggregated by day) and the daily BTC/USD close (from Bitstamp).

    Incremental and resumable: a second run fetches only what is new, and an interrupted run
    keeps everything committed. If the source has reorganised the last blocks stored, they are
    rolled back first. Without --source every configured source is synced; one that fails
    does not stop the others, and the command then exits with an error naming it.
    """
    if start_height is not None and start_height < 0:
        raise UsageError("bad_option", option="--start-height", problem="must not be negative")
    for value, option in (
        (rpc_timeout_s, "--rpc-timeout"),
        (batch_blocks, "--batch"),
        (commit_every, "--commit-every"),
        (timeout_s, "--timeout"),
        (attempts, "--attempts"),
        (max_seconds, "--max-seconds"),
    ):
        check_positive(value, option)
    first_day = parse_date(start_date, "--start-date")
    policy, deadline_s = http_limits(quick, timeout_s, attempts, max_seconds)
    if url is not None and source is None:
        raise UsageError("bad_option", option="--url", problem="give --source with it")
    if source is SyncSource.CORE and url is not None:
        rpc_url = url
    sources = [source] if source is not None else configured_sources(rpc_url)
    if SyncSource.CORE in sources and rpc_url is None:
        raise UsageError(
            "bad_option", option="--rpc-url", problem="--source core needs the node's address"
        )
    run = SyncRun(
        store=LocalStore(resolve_data_dir(data_dir) / STORE_FILE_NAME),
        fmt=fmt,
        start_height=start_height,
        allow_chain=allow_chain,
        deadline_s=deadline_s,
        policy=policy,
        first_day=first_day,
        url=url if source is not None else None,
        core=CoreSettings(
            rpc_url, rpc_user, rpc_password, rpc_cookie, rpc_timeout_s, batch_blocks, commit_every
        ),
    )
    sync_sources(run, sources)
