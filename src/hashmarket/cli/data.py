"""``hashmarket data …``: what data there is, where it comes from, and adding your own."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from hashmarket.chain.history import (
    STORE_FILE_NAME,
    NetworkHistory,
    field_summary,
    incomplete_days,
    source_summary,
)
from hashmarket.chain.sources.bitcoin_core import (
    DEFAULT_TIMEOUT_S,
    BitcoinCoreRpc,
    CoreReader,
    RpcEndpoint,
)
from hashmarket.chain.sources.bitstamp import DEFAULT_URL as BITSTAMP_URL
from hashmarket.chain.sources.bitstamp import PriceSyncResult, sync_prices
from hashmarket.chain.sources.blocksync import (
    BlockSink,
    ChainReader,
    SyncOptions,
    SyncResult,
    sync_chain,
)
from hashmarket.chain.sources.http import HttpClient, HttpPolicy
from hashmarket.chain.sources.imports import read_import
from hashmarket.chain.sources.mempool import DEFAULT_URL as MEMPOOL_URL
from hashmarket.chain.sources.mempool import PAGE_BLOCKS, MempoolReader
from hashmarket.chain.store import ImportResult, LocalStore
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
from hashmarket.errors import HashmarketError, SourceError, UsageError

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


def _positive(value: float | None, option: str) -> None:
    if value is not None and value <= 0:
        raise UsageError("bad_option", option=option, problem=f"must be positive, got {value}")


class SyncSource(enum.StrEnum):
    CORE = "core"
    MEMPOOL = "mempool"
    BITSTAMP = "bitstamp"


URL_ENV = {
    SyncSource.CORE: "HASHMARKET_RPC_URL",
    SyncSource.MEMPOOL: "HASHMARKET_MEMPOOL_URL",
    SyncSource.BITSTAMP: "HASHMARKET_BITSTAMP_URL",
}
DEFAULT_URLS = {SyncSource.MEMPOOL: MEMPOOL_URL, SyncSource.BITSTAMP: BITSTAMP_URL}
QUICK_MAX_SECONDS = 15.0  # --quick: what `make run` can wait for before serving
QUICK_TIMEOUT_S = 5.0
QUICK_ATTEMPTS = 2
# A mempool batch is three pages of 15 blocks fetched at once; each batch is committed.
MEMPOOL_BATCH_BLOCKS = 3 * PAGE_BLOCKS
DEFAULT_POLICY = HttpPolicy()


@app.command("sync")
def sync_command(
    source: SyncSource | None = typer.Option(
        None,
        "--source",
        help=(
            "core (a Bitcoin Core node), mempool (a mempool instance's REST API) or bitstamp "
            "(daily BTC/USD close). Default: mempool and bitstamp, and core when --rpc-url or "
            "HASHMARKET_RPC_URL is set."
        ),
    ),
    url: str | None = typer.Option(
        None,
        "--url",
        help=(
            "Address of the --source: default https://mempool.space ($HASHMARKET_MEMPOOL_URL), "
            "https://www.bitstamp.net ($HASHMARKET_BITSTAMP_URL); for core, as --rpc-url."
        ),
        show_default=False,
    ),
    rpc_url: str | None = typer.Option(
        None,
        "--rpc-url",
        envvar="HASHMARKET_RPC_URL",
        help="The node's RPC address, e.g. http://127.0.0.1:8332.",
    ),
    rpc_user: str | None = typer.Option(None, "--rpc-user", help="RPC user (rpcauth/rpcuser)."),
    rpc_password: str | None = typer.Option(None, "--rpc-password", help="RPC password."),
    rpc_cookie: Path | None = typer.Option(
        None, "--rpc-cookie", help="The node's cookie file, e.g. ~/.bitcoin/.cookie."
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    start_height: int | None = typer.Option(
        None,
        "--start-height",
        help=(
            "First block of an empty store (default: genesis for core, the last 2016 blocks "
            "for mempool)."
        ),
    ),
    start_date: str | None = typer.Option(
        None,
        "--start-date",
        help="bitstamp: first day to fetch, YYYY-MM-DD (default: after the last stored day, "
        "or 1000 days back).",
    ),
    allow_chain: bool = typer.Option(
        False, "--allow-chain", help="Accept a source on another chain than main (test, signet)."
    ),
    rpc_timeout_s: float = typer.Option(
        DEFAULT_TIMEOUT_S, "--rpc-timeout", help="core: seconds to wait for each reply."
    ),
    batch_blocks: int = typer.Option(100, "--batch", help="core: blocks asked for per request."),
    commit_every: int = typer.Option(
        1000, "--commit-every", help="core: commit to the store every N blocks."
    ),
    timeout_s: float | None = typer.Option(
        None,
        "--timeout",
        help=(
            "mempool, bitstamp: seconds to wait for each reply "
            f"(default {DEFAULT_POLICY.timeout_s:g})."
        ),
    ),
    attempts: int | None = typer.Option(
        None,
        "--attempts",
        help=(
            "mempool, bitstamp: tries per request, retrying 429, 5xx, timeouts and lost "
            f"connections with backoff (default {DEFAULT_POLICY.attempts})."
        ),
    ),
    max_seconds: float | None = typer.Option(
        None,
        "--max-seconds",
        help="Stop fetching after this many seconds, keeping what was stored; the next run "
        "continues.",
    ),
    quick: bool = typer.Option(
        False,
        "--quick",
        help=(
            f"A short sync: --max-seconds {QUICK_MAX_SECONDS:g}, --timeout {QUICK_TIMEOUT_S:g}, "
            f"--attempts {QUICK_ATTEMPTS} (unless given)."
        ),
    ),
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
        _positive(value, option)
    first_day = parse_date(start_date, "--start-date")
    if quick:
        max_seconds = QUICK_MAX_SECONDS if max_seconds is None else max_seconds
        timeout_s = QUICK_TIMEOUT_S if timeout_s is None else timeout_s
        attempts = QUICK_ATTEMPTS if attempts is None else attempts
    policy = dataclasses.replace(
        DEFAULT_POLICY,
        timeout_s=DEFAULT_POLICY.timeout_s if timeout_s is None else timeout_s,
        attempts=DEFAULT_POLICY.attempts if attempts is None else attempts,
    )
    deadline_s = None if max_seconds is None else time.monotonic() + max_seconds
    if url is not None and source is None:
        raise UsageError("bad_option", option="--url", problem="give --source with it")
    if source is SyncSource.CORE and url is not None:
        rpc_url = url
    sources = [source] if source is not None else _configured_sources(rpc_url)
    if SyncSource.CORE in sources and rpc_url is None:
        raise UsageError(
            "bad_option", option="--rpc-url", problem="--source core needs the node's address"
        )
    store = LocalStore(resolve_data_dir(data_dir) / STORE_FILE_NAME)
    records: list[dict[str, Any]] = []
    failures: list[HashmarketError] = []
    for name in sources:
        try:
            if name is SyncSource.CORE:
                assert rpc_url is not None
                endpoint = RpcEndpoint.parse(
                    rpc_url, user=rpc_user, password=rpc_password, cookie_file=rpc_cookie
                )
                options = SyncOptions(
                    start_height=start_height,
                    allow_chain=allow_chain,
                    batch_blocks=batch_blocks,
                    commit_every_blocks=commit_every,
                )
                with BitcoinCoreRpc(endpoint, timeout_s=rpc_timeout_s) as rpc:
                    reader = CoreReader(rpc, allow_chain=allow_chain)
                    result = _sync_blocks(reader, store.node_writer, options, store, deadline_s)
                records.append(_block_record("core", result, store.path, fmt))
                continue
            address = _source_url(name, url if source is not None else None)
            with HttpClient(address, policy=policy, deadline_s=deadline_s) as client:
                if name is SyncSource.MEMPOOL:
                    options = SyncOptions(
                        start_height=start_height,
                        allow_chain=allow_chain,
                        batch_blocks=MEMPOOL_BATCH_BLOCKS,
                        commit_every_blocks=MEMPOOL_BATCH_BLOCKS,
                    )
                    result = _sync_blocks(
                        MempoolReader(client, allow_chain=allow_chain),
                        lambda: store.node_writer("mempool"),
                        options,
                        store,
                        deadline_s,
                    )
                    records.append(_block_record("mempool", result, store.path, fmt))
                else:
                    prices = sync_prices(
                        client,
                        store.prices("bitstamp_api"),
                        start=first_day,
                        clock=_now,
                        deadline_s=deadline_s,
                    )
                    records.append(_price_record(prices, store, fmt))
        except HashmarketError as error:
            if len(sources) == 1:
                raise
            failures.append(error)
    if fmt is not OutputFormat.TABLE and records:
        emit_records(records, fmt)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise SourceError("sync_failed", detail="; ".join(str(f) for f in failures))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _configured_sources(rpc_url: str | None) -> list[SyncSource]:
    sources = [SyncSource.CORE] if rpc_url is not None else []
    return [*sources, SyncSource.MEMPOOL, SyncSource.BITSTAMP]


def _source_url(source: SyncSource, given: str | None) -> str:
    address = given or os.environ.get(URL_ENV[source]) or DEFAULT_URLS[source]
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        option = "--url" if given else URL_ENV[source]
        raise UsageError("bad_option", option=option, problem=f"{address!r} is not an http(s) URL")
    return address.rstrip("/")


def _sync_blocks(
    reader: ChainReader,
    open_sink: Callable[[], AbstractContextManager[BlockSink]],
    options: SyncOptions,
    store: LocalStore,
    deadline_s: float | None,
) -> SyncResult:
    progress_console = Console(stderr=True)
    with RichProgress(
        TextColumn("blocks"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=progress_console,
        transient=True,
        # Only a terminal gets a bar: in a pipe or a log it would be noise, and an error
        # must stay one line on stderr.
        disable=not progress_console.is_terminal,
    ) as bar:
        task = bar.add_task("sync", total=None)
        return sync_chain(
            reader,
            open_sink,
            options=options,
            clock=_now,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            store_name=str(store.path),
            deadline_s=deadline_s,
        )


def _block_record(source: str, result: SyncResult, path: Path, fmt: OutputFormat) -> dict[str, Any]:
    if fmt is OutputFormat.TABLE:
        _print_sync(result, path)
    return {"source": source, "store": str(path), **dataclasses.asdict(result)}


def _price_record(result: PriceSyncResult, store: LocalStore, fmt: OutputFormat) -> dict[str, Any]:
    status = store.price_status("bitstamp_api")
    if fmt is OutputFormat.TABLE:
        if result.fetched:
            typer.echo(
                f"Synced {result.url}: {result.fetched:,} daily closes, "
                f"{result.first_date} to {result.last_date}."
            )
        else:
            typer.echo(f"Synced {result.url}: nothing new.")
        if not result.complete:
            typer.echo("Stopped at the time limit; the next run continues.")
        if status is not None:
            typer.echo(
                f"Store: {store.path}, BTC/USD closes {status.first_date} to "
                f"{status.last_date} ({status.days:,} days)."
            )
    return {
        "source": "bitstamp",
        "store": str(store.path),
        **dataclasses.asdict(result),
        "stored_first_date": None if status is None else status.first_date,
        "stored_last_date": None if status is None else status.last_date,
    }


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
    stored_tip = result.stored_tip_height
    if not result.complete and stored_tip is not None:
        typer.echo(
            f"Stopped at the time limit at block {stored_tip:,}; "
            f"{result.tip_height - stored_tip:,} blocks to go (the next run continues)."
        )
    if stored_tip is not None:
        typer.echo(
            f"Store: {path}, blocks {result.first_height:,} to {stored_tip:,}, "
            f"{result.days:,} full days aggregated."
        )
