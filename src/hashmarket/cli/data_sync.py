"""``hashmarket data sync``: its options, and syncing each source into the local store —
blocks from a Bitcoin Core node or a mempool instance, daily BTC/USD closes from Bitstamp."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from hashmarket.chain import LocalStore
from hashmarket.chain.sources import (
    DEFAULT_TIMEOUT_S,
    PAGE_BLOCKS,
    BitcoinCoreRpc,
    BlockSink,
    ChainReader,
    CoreReader,
    HttpClient,
    HttpPolicy,
    MempoolReader,
    PriceSyncResult,
    RpcEndpoint,
    SyncOptions,
    SyncResult,
    sync_chain,
    sync_prices,
)
from hashmarket.chain.sources import DEFAULT_URL as BITSTAMP_URL
from hashmarket.chain.sources import DEFAULT_URL as MEMPOOL_URL
from hashmarket.cli.common import OutputFormat, emit_records
from hashmarket.errors import HashmarketError, SourceError, UsageError


def check_positive(value: float | None, option: str) -> None:
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


SOURCE_OPTION = typer.Option(
    None,
    "--source",
    help=(
        "core (a Bitcoin Core node), mempool (a mempool instance's REST API) or bitstamp "
        "(daily BTC/USD close). Default: mempool and bitstamp, and core when --rpc-url or "
        "HASHMARKET_RPC_URL is set."
    ),
)
URL_OPTION = typer.Option(
    None,
    "--url",
    help=(
        "Address of the --source: default https://mempool.space ($HASHMARKET_MEMPOOL_URL), "
        "https://www.bitstamp.net ($HASHMARKET_BITSTAMP_URL); for core, as --rpc-url."
    ),
    show_default=False,
)
RPC_URL_OPTION = typer.Option(
    None,
    "--rpc-url",
    envvar="HASHMARKET_RPC_URL",
    help="The node's RPC address, e.g. http://127.0.0.1:8332.",
)
RPC_USER_OPTION = typer.Option(None, "--rpc-user", help="RPC user (rpcauth/rpcuser).")
RPC_PASSWORD_OPTION = typer.Option(None, "--rpc-password", help="RPC password.")
RPC_COOKIE_OPTION = typer.Option(
    None, "--rpc-cookie", help="The node's cookie file, e.g. ~/.bitcoin/.cookie."
)
START_HEIGHT_OPTION = typer.Option(
    None,
    "--start-height",
    help=(
        "First block of an empty store (default: genesis for core, the last 2016 blocks "
        "for mempool)."
    ),
)
START_DATE_OPTION = typer.Option(
    None,
    "--start-date",
    help="bitstamp: first day to fetch, YYYY-MM-DD (default: after the last stored day, "
    "or 1000 days back).",
)
ALLOW_CHAIN_OPTION = typer.Option(
    False, "--allow-chain", help="Accept a source on another chain than main (test, signet)."
)
RPC_TIMEOUT_OPTION = typer.Option(
    DEFAULT_TIMEOUT_S, "--rpc-timeout", help="core: seconds to wait for each reply."
)
BATCH_OPTION = typer.Option(100, "--batch", help="core: blocks asked for per request.")
COMMIT_EVERY_OPTION = typer.Option(
    1000, "--commit-every", help="core: commit to the store every N blocks."
)
TIMEOUT_OPTION = typer.Option(
    None,
    "--timeout",
    help=(
        f"mempool, bitstamp: seconds to wait for each reply (default {DEFAULT_POLICY.timeout_s:g})."
    ),
)
ATTEMPTS_OPTION = typer.Option(
    None,
    "--attempts",
    help=(
        "mempool, bitstamp: tries per request, retrying 429, 5xx, timeouts and lost "
        f"connections with backoff (default {DEFAULT_POLICY.attempts})."
    ),
)
MAX_SECONDS_OPTION = typer.Option(
    None,
    "--max-seconds",
    help="Stop fetching after this many seconds, keeping what was stored; the next run continues.",
)
QUICK_OPTION = typer.Option(
    False,
    "--quick",
    help=(
        f"A short sync: --max-seconds {QUICK_MAX_SECONDS:g}, --timeout {QUICK_TIMEOUT_S:g}, "
        f"--attempts {QUICK_ATTEMPTS} (unless given)."
    ),
)


@dataclass(frozen=True)
class SyncRun:
    """What one ``data sync`` asks of every source: where to store, how far to go, and the
    settings each kind of source reads."""

    store: LocalStore
    fmt: OutputFormat
    start_height: int | None
    allow_chain: bool
    deadline_s: float | None
    policy: HttpPolicy
    first_day: dt.date | None
    url: str | None  # the --url of a single --source
    core: CoreSettings


@dataclass(frozen=True)
class CoreSettings:
    rpc_url: str | None
    rpc_user: str | None
    rpc_password: str | None
    rpc_cookie: Path | None
    timeout_s: float
    batch_blocks: int
    commit_every: int


def http_limits(
    quick: bool, timeout_s: float | None, attempts: int | None, max_seconds: float | None
) -> tuple[HttpPolicy, float | None]:
    """The HTTP policy and the monotonic deadline, ``--quick`` filling what was not given."""
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
    return policy, deadline_s


def sync_sources(run: SyncRun, sources: list[SyncSource]) -> None:
    """Sync each source in turn; one that fails does not stop the others (a single source's
    error is raised as it is)."""
    records: list[dict[str, Any]] = []
    failures: list[HashmarketError] = []
    for name in sources:
        try:
            if name is SyncSource.CORE:
                records.append(_sync_core(run))
            else:
                records.append(_sync_http(run, name))
        except HashmarketError as error:
            if len(sources) == 1:
                raise
            failures.append(error)
    if run.fmt is not OutputFormat.TABLE and records:
        emit_records(records, run.fmt)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise SourceError("sync_failed", detail="; ".join(str(f) for f in failures))


def _sync_core(run: SyncRun) -> dict[str, Any]:
    """Blocks from a Bitcoin Core node over RPC."""
    core, store = run.core, run.store
    assert core.rpc_url is not None
    endpoint = RpcEndpoint.parse(
        core.rpc_url, user=core.rpc_user, password=core.rpc_password, cookie_file=core.rpc_cookie
    )
    options = SyncOptions(
        start_height=run.start_height,
        allow_chain=run.allow_chain,
        batch_blocks=core.batch_blocks,
        commit_every_blocks=core.commit_every,
    )
    with BitcoinCoreRpc(endpoint, timeout_s=core.timeout_s) as rpc:
        reader = CoreReader(rpc, allow_chain=run.allow_chain)
        result = _sync_blocks(reader, store.node_writer, options, store, run.deadline_s)
    return _block_record("core", result, store.path, run.fmt)


def _sync_http(run: SyncRun, name: SyncSource) -> dict[str, Any]:
    """Blocks from a mempool instance, or daily closes from Bitstamp, over HTTP."""
    store = run.store
    address = _source_url(name, run.url)
    with HttpClient(address, policy=run.policy, deadline_s=run.deadline_s) as client:
        if name is SyncSource.MEMPOOL:
            options = SyncOptions(
                start_height=run.start_height,
                allow_chain=run.allow_chain,
                batch_blocks=MEMPOOL_BATCH_BLOCKS,
                commit_every_blocks=MEMPOOL_BATCH_BLOCKS,
            )
            result = _sync_blocks(
                MempoolReader(client, allow_chain=run.allow_chain),
                lambda: store.node_writer("mempool"),
                options,
                store,
                run.deadline_s,
            )
            return _block_record("mempool", result, store.path, run.fmt)
        prices = sync_prices(
            client,
            store.prices("bitstamp_api"),
            start=run.first_day,
            clock=_now,
            deadline_s=run.deadline_s,
        )
        return _price_record(prices, store, run.fmt)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def configured_sources(rpc_url: str | None) -> list[SyncSource]:
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
