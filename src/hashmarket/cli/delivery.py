"""``hashmarket delivery …``: proof of delivery from the command line.

``stratum`` runs a contract's Stratum V1 endpoint, appends every closed interval to the
contract's delivery log and, with ``--db``, pays it out of the reserved budget on the ledger
(``--market-contract ID``: a contract the exchange opened, paid through the exchange);
``report`` reads a delivery log; ``verify-heartbeats`` checks a GPU lease's signed heartbeats
against its terms and, with ``--settle``, pays the SLA refunds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hashmarket.cli.common import (
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    emit_json,
    print_table,
    resolve_data_dir,
)
from hashmarket.cli.ledger_options import DB_OPTION, ledger_url
from hashmarket.delivery import (
    ContractEndpoint,
    DeliveryLog,
    GpuLease,
    HashpowerContract,
    HolderLog,
    IntervalRecord,
    JobFactory,
    LedgerPayer,
    MarketPayer,
    Meter,
    StratumEndpoint,
    contract_name,
    delivery_report,
    delivery_terms,
    post_id,
    read_delivery,
    read_heartbeats,
    read_log,
    reserve_budget,
    resume,
    settle_refunds,
    sla_report,
)
from hashmarket.errors import DeliveryError, SpecError, UsageError
from hashmarket.ledger import Ledger
from hashmarket.market import Exchange, open_exchange_accounts
from hashmarket.specfile import read_document

app = typer.Typer(
    help="Proof of delivery: Stratum share metering (hashpower), heartbeats and SLAs (GPU time).",
    no_args_is_help=True,
)

LOG_DIR = "delivery"
# The bits and previous block of mainnet block 840,000 (the fourth halving): synthetic jobs
# look like real work on a recent tip unless the operator names another.
DEFAULT_PREVHASH = "0000000000000000000172014ba58d66455762add0512355ad651207918494ab"
DEFAULT_NBITS = "17034219"


def _difficulty(text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        value = Fraction(0)
    if value <= 0 or Fraction(float(value)) != value:
        raise UsageError(
            "bad_option",
            option="--difficulty",
            problem=f"{text!r} is not a positive number exact as a float (e.g. 1024 or 1/65536)",
        )
    return value


def _contract(path: Path) -> HashpowerContract:
    terms, location = read_document(path, what="contract", error=SpecError)
    if not isinstance(terms, dict):
        raise SpecError("spec_not_mapping", location=location, value=terms)
    try:
        return HashpowerContract.from_dict(terms)
    except SpecError as exc:
        raise SpecError(exc.key, location=location, **exc.fields) from exc


def _log_path(data_dir: Path | None, contract_id: str) -> Path:
    folder = resolve_data_dir(data_dir) / LOG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{contract_id}.jsonl"


async def _wait_any(events: list[asyncio.Event], timeout_s: float) -> None:
    """Return when one of ``events`` is set or after ``timeout_s``."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _serve(
    endpoint: StratumEndpoint,
    factory: JobFactory,
    *,
    host: str,
    port: int,
    job_every_s: float,
    duration_s: float | None,
) -> None:
    """Serve until the contract ends, ``duration_s`` passes, or SIGINT / SIGTERM: a signal
    only sets an event, so the endpoint always stops through :meth:`StratumEndpoint.stop`
    (the open interval closed, logged and paid) and never half-way through a payment."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(sig, stopping.set)
    bound = await endpoint.start(host, port)
    typer.echo(
        f"stratum+tcp://{host}:{bound} for contract {endpoint.endpoint.contract.contract_id}"
    )
    stop_at = None if duration_s is None else loop.time() + duration_s
    endpoint.publish(factory.job(int(time.time())))
    try:
        while not endpoint.done.is_set() and not stopping.is_set():
            wait = job_every_s if stop_at is None else min(job_every_s, stop_at - loop.time())
            if wait <= 0:
                break
            await _wait_any([endpoint.done, stopping], wait)
            if not (endpoint.done.is_set() or stopping.is_set()):
                endpoint.publish(factory.job(int(time.time()), clean_jobs=False))
    finally:
        await endpoint.stop()


@dataclasses.dataclass
class MarketHooks:
    """What the endpoint of an exchange contract runs with: its terms as first logged, the
    meter resumed from its log, and ``on_interval`` (log with holder changes, then report)."""

    terms: HashpowerContract
    meter: Meter
    payer: MarketPayer
    holder_log: HolderLog

    def on_interval(self, record: IntervalRecord) -> None:
        # Another process may run the exchange: read what it logged (a sale, an end) first.
        self.payer.exchange.recover()
        self.holder_log(record)  # first: the holder who pays it, then the interval
        self.payer(record)


def market_hooks(
    exchange: Exchange, contract_id: int, log_path: Path, *, now_s: int, interval_s: int = 600
) -> MarketHooks:
    """The endpoint's hooks for exchange contract ``contract_id`` (its log at ``log_path``)."""
    payer = MarketPayer(exchange, contract_id)  # refuses a contract the exchange does not run
    terms = delivery_terms(exchange.engine.contracts[contract_id], interval_s=interval_s)
    log = DeliveryLog(log_path, terms)
    read = read_delivery(log_path)
    # The log's first line names the holder when it began; the exchange, the current one.
    if dataclasses.replace(terms, buyer_account_id=read.terms.buyer_account_id) != read.terms:
        raise DeliveryError(
            "delivery_refused", action="logging", what=str(log_path), problem="other terms"
        )
    meter, _ = resume(read.terms, read.records, now_s=now_s)
    payer.catch_up(read.records)  # the exchange's log already holds their reports
    return MarketHooks(
        read.terms, meter, payer, HolderLog(log, exchange, contract_id, read.holders[-1])
    )


def _stratum_market(
    contract_id: int, *, db: str | None, data_dir: Path | None, serve: _Serve
) -> Path:
    """Run the endpoint of an exchange contract, paid through the exchange on ``db``."""
    log_path = _log_path(data_dir, contract_name(contract_id))
    with Ledger.open(ledger_url(db, data_dir)) as ledger:
        exchange = Exchange.open(ledger, accounts=open_exchange_accounts(ledger))
        hooks = market_hooks(exchange, contract_id, log_path, now_s=int(time.time()))
        core = ContractEndpoint(
            hooks.terms,
            difficulty=serve.difficulty,
            now_s=lambda: int(time.time()),
            meter=hooks.meter,
        )
        hooks.payer.endpoint = core  # stops accepting work once the exchange ends it
        serve.run(core, hooks.on_interval)
    return log_path


@dataclasses.dataclass
class _Serve:
    difficulty: Fraction
    host: str
    port: int
    job_every_s: float
    duration_s: float | None

    def run(self, core: ContractEndpoint, on_interval: Callable[[IntervalRecord], None]) -> None:
        factory = JobFactory(
            core.contract.contract_id,
            prevhash=bytes.fromhex(DEFAULT_PREVHASH)[::-1],
            height=840_000,
            nbits=int(DEFAULT_NBITS, 16),
        )
        server = StratumEndpoint(core, on_interval=on_interval)
        asyncio.run(
            _serve(
                server,
                factory,
                host=self.host,
                port=self.port,
                job_every_s=self.job_every_s,
                duration_s=self.duration_s,
            )
        )


@app.command("stratum")
def stratum_command(
    contract_file: Path | None = typer.Argument(
        None, help="The contract's terms (JSON or YAML); not with --market-contract."
    ),
    market_contract: int | None = typer.Option(
        None,
        "--market-contract",
        help="An exchange contract's id: its terms come from the exchange on --db, which pays.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(3333, "--port", help="TCP port (0: any free port)."),
    difficulty: str = typer.Option("65536", "--difficulty", help="Share difficulty."),
    db: str | None = typer.Option(
        None, "--db", help="Ledger URL: pay each interval from the budget's reservation."
    ),
    reserve: bool = typer.Option(
        False, "--reserve", help="Reserve the budget first (when no exchange did)."
    ),
    job_every_s: float = typer.Option(30.0, "--job-every", help="Seconds between new jobs."),
    duration_s: float | None = typer.Option(
        None, "--duration", help="Stop after this many seconds (default: at the contract's end)."
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Run the Stratum V1 endpoint a seller's miners connect to for a contract."""
    serve = _Serve(_difficulty(difficulty), host, port, job_every_s, duration_s)
    if (contract_file is None) == (market_contract is None):
        raise UsageError(
            "bad_option",
            option="--market-contract",
            problem="give a contract file or --market-contract ID (one of them)",
        )
    if market_contract is not None:
        if reserve:
            raise UsageError(
                "bad_option",
                option="--reserve",
                problem="an exchange contract's budget is already reserved by the exchange",
            )
        log_path = _stratum_market(market_contract, db=db, data_dir=data_dir, serve=serve)
        typer.echo(f"delivery log: {log_path}")
        return
    assert contract_file is not None
    contract = _contract(contract_file)
    log_path = _log_path(data_dir, contract.contract_id)
    log = DeliveryLog(log_path, contract)
    logged, records = read_log(log_path)
    if logged != contract:
        raise DeliveryError(
            "delivery_refused", action="logging", what=str(log_path), problem="other terms"
        )
    meter, _ = resume(contract, records, now_s=int(time.time()))
    ledger = Ledger.open(db) if db else None
    try:
        payer = None
        if ledger is not None:
            if reserve and not records:
                reserve_budget(ledger, contract)
            payer = LedgerPayer(ledger, contract)
            payer.catch_up(records)  # pays what an earlier run logged but did not pay

        def on_interval(record: IntervalRecord) -> None:
            log(record)  # first: a payment that fails is paid by the next run's catch-up
            if payer is not None:
                payer(record)

        core = ContractEndpoint(
            contract, difficulty=serve.difficulty, now_s=lambda: int(time.time()), meter=meter
        )
        serve.run(core, on_interval)
        if payer is not None and core.ended:
            payer.finish()
    finally:
        if ledger is not None:
            ledger.close()
    typer.echo(f"delivery log: {log_path}")


@app.command("report")
def report_command(
    contract: str = typer.Argument(
        ..., help="A contract id (its log in <data dir>/delivery/) or a delivery log file."
    ),
    db: str | None = DB_OPTION,
    check_ledger: bool = typer.Option(
        False, "--check-ledger", help="Compare the log's payments with the ledger's."
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """A contract's delivery: work metered, speed against the order, paid and left."""
    path = Path(contract)
    if not path.exists():
        path = resolve_data_dir(data_dir) / LOG_DIR / f"{contract}.jsonl"
    read = read_delivery(path)
    terms, records = read.terms, read.records
    report = delivery_report(terms, records, read.holders)
    out: dict[str, Any] = report.to_dict()
    if check_ledger:
        with Ledger.open(ledger_url(db, data_dir)) as ledger:
            posted = 0
            for r in records:
                entry = ledger.lookup_transfer(post_id(terms.contract_id, r.index))
                posted += 0 if entry is None else entry.amount
        out["ledger_paid_sats"] = posted
        if posted != report.paid_sats:
            raise DeliveryError(
                "delivery_refused",
                action="report",
                what=terms.contract_id,
                problem=f"the log pays {report.paid_sats} sats, the ledger {posted}",
            )
    if fmt is OutputFormat.JSON:
        emit_json(out)
        return
    table = Table("field", "value", title=f"Delivery of {terms.contract_id}")
    for key, value in out.items():
        table.add_row(key, str(value))
    print_table(table)


@app.command("verify-heartbeats")
def verify_heartbeats_command(
    heartbeats_file: Path = typer.Argument(..., help="Signed heartbeats, one JSON per line."),
    lease_file: Path = typer.Option(..., "--lease", help="The lease's terms (JSON or YAML)."),
    settle: bool = typer.Option(False, "--settle", help="Pay the refunds on the ledger."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Verify a lease's heartbeats: uptime, load and energy per block, and SLA refunds."""
    terms, location = read_document(lease_file, what="lease", error=DeliveryError)
    if not isinstance(terms, dict):
        raise DeliveryError(
            "lease_terms", location=location, lease="?", field="terms", problem="must be a mapping"
        )
    try:
        lease = GpuLease.from_dict(terms)
    except DeliveryError as exc:
        raise DeliveryError(exc.key, location=location, **exc.fields) from exc
    report = sla_report(lease, read_heartbeats(heartbeats_file))
    out = report.to_dict()
    if settle:
        with Ledger.open(ledger_url(db, data_dir)) as ledger:
            paid = settle_refunds(ledger, report)
        out["settled_transfer_ids"] = [t.id for t in paid]
    if fmt is OutputFormat.JSON:
        emit_json(out)
        return
    table = Table(
        "block",
        "devices",
        "uptime",
        "load",
        "energy kWh",
        "GPU-h/kWh",
        "rejected",
        "refund ¢",
        title=f"Lease {lease.lease_id} (SLA {lease.uptime_target:%})",
    )
    for b in report.blocks:
        table.add_row(
            b.block_id,
            str(b.devices),
            f"{float(b.uptime):.4%}",
            f"{b.load_rate:.1%}",
            f"{b.energy_kwh:.3f}",
            f"{b.utilised_gpu_hours_per_kwh:.3f}",
            ", ".join(f"{k} {v}" for k, v in sorted(b.rejected.items())) or "-",
            str(b.refund_cents),
        )
    print_table(table)
