"""``hashmarket data …``: what data there is, where it comes from, and adding your own."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hashmarket.chain.history import (
    STORE_FILE_NAME,
    NetworkHistory,
    field_summary,
    source_summary,
)
from hashmarket.chain.sources.bitcoin_core import (
    DEFAULT_TIMEOUT_S,
    BitcoinCoreRpc,
    RpcEndpoint,
    SyncOptions,
    SyncResult,
    sync_blocks,
)
from hashmarket.chain.sources.imports import read_import
from hashmarket.chain.store import ImportResult, LocalStore
from hashmarket.cli.common import (
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    emit_records,
    print_table,
    resolve_data_dir,
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
    out.print(cov)
    render_store(out, store)
    out.print("Attribution:")
    for s in sources:
        if s["attribution"]:
            out.print(f"  [bold]{s['source']}[/bold]: {s['attribution']}")


def store_record(path: Path) -> dict[str, Any]:
    """What the local store holds: its imports and the blocks synced from a node."""
    store = LocalStore(path)
    node = store.node_status()
    return {
        "path": str(path),
        "exists": path.exists(),
        "imports": [
            {**dataclasses.asdict(r), "first_date": r.first_date, "last_date": r.last_date}
            for r in store.imports()
        ],
        "node": None if node is None else dataclasses.asdict(node),
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
    node = store["node"]
    if node is not None:
        tip_time = dt.datetime.fromtimestamp(node["tip_time_s"], dt.UTC)
        out.print(
            f"Node sync: blocks {node['first_height']:,} to {node['tip_height']:,} "
            f"({node['blocks']:,} blocks, {node['days']:,} full days) "
            f"from {node['url'] or 'a node'}, chain {node['chain'] or '?'}, "
            f"last synced {node['synced_at'] or 'never completed'}"
        )
        out.print(f"  tip {node['tip_hash']} at {tip_time:%Y-%m-%d %H:%M:%S} UTC")


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


def _positive(value: float | None, option: str) -> None:
    if value is not None and value <= 0:
        raise UsageError("bad_option", option=option, problem=f"must be positive, got {value}")


@app.command("sync")
def sync_command(
    rpc_url: str = typer.Option(
        ..., "--rpc-url", help="The node's RPC address, e.g. http://127.0.0.1:8332."
    ),
    rpc_user: str | None = typer.Option(None, "--rpc-user", help="RPC user (rpcauth/rpcuser)."),
    rpc_password: str | None = typer.Option(None, "--rpc-password", help="RPC password."),
    rpc_cookie: Path | None = typer.Option(
        None, "--rpc-cookie", help="The node's cookie file, e.g. ~/.bitcoin/.cookie."
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    start_height: int | None = typer.Option(
        None, "--start-height", help="First block of an empty store (default: genesis)."
    ),
    allow_chain: bool = typer.Option(
        False, "--allow-chain", help="Accept a node on another chain than main (test, signet)."
    ),
    rpc_timeout_s: float = typer.Option(
        DEFAULT_TIMEOUT_S, "--rpc-timeout", help="Seconds to wait for each reply."
    ),
    batch_blocks: int = typer.Option(100, "--batch", help="Blocks asked for per request."),
    commit_every: int = typer.Option(
        1000, "--commit-every", help="Commit to the store every N blocks."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Fetch blocks from a Bitcoin Core node into the local store and aggregate them by day.

    Incremental and resumable: a second run fetches only new blocks, and an interrupted run
    keeps every block committed. If the node has reorganised the last blocks stored, they
    are rolled back first.
    """
    if start_height is not None and start_height < 0:
        raise UsageError("bad_option", option="--start-height", problem="must not be negative")
    _positive(rpc_timeout_s, "--rpc-timeout")
    _positive(batch_blocks, "--batch")
    _positive(commit_every, "--commit-every")
    endpoint = RpcEndpoint.parse(
        rpc_url, user=rpc_user, password=rpc_password, cookie_file=rpc_cookie
    )
    options = SyncOptions(
        start_height=start_height,
        allow_chain=allow_chain,
        batch_blocks=batch_blocks,
        commit_every_blocks=commit_every,
    )
    store = LocalStore(resolve_data_dir(data_dir) / STORE_FILE_NAME)
    progress_console = Console(stderr=True)
    with (
        BitcoinCoreRpc(endpoint, timeout_s=rpc_timeout_s) as rpc,
        Progress(
            TextColumn("blocks"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=progress_console,
            transient=True,
            # Only a terminal gets a bar: in a pipe or a log it would be noise, and an error
            # must stay one line on stderr.
            disable=not progress_console.is_terminal,
        ) as bar,
    ):
        task = bar.add_task("sync", total=None)
        result = sync_blocks(
            rpc,
            store.node_writer,
            options=options,
            clock=lambda: dt.datetime.now(dt.UTC),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            store_name=str(store.path),
        )
    if fmt is not OutputFormat.TABLE:
        emit_records([{"store": str(store.path), **dataclasses.asdict(result)}], fmt)
        return
    _print_sync(result, store.path)


def _print_sync(result: SyncResult, path: Path) -> None:
    if result.rolled_back:
        typer.echo(
            f"Reorganisation: rolled back {result.rolled_back:,} blocks above height "
            f"{result.fork_height:,}."
        )
    typer.echo(
        f"Synced {result.url} (chain {result.chain}): {result.fetched:,} new blocks, "
        f"tip {result.tip_height:,} {result.tip_hash}."
    )
    typer.echo(
        f"Store: {path}, blocks {result.first_height:,} to {result.tip_height:,}, "
        f"{result.days:,} full days aggregated."
    )
