"""The exchange: matching in process, the durable exchange on SQLite, GPU block matching.

Targets: at least 200,000 orders/s matched in process on a realistic mixed flow; at least
20,000 orders/s with ledger reservations and the durable command log on SQLite (one
transaction per batch of commands: group commit); a GPU buy block matched in under 5 ms
(median) against 10,000 resting blocks.

Flows come from :mod:`benchmarks.market_flow` (seeded; about 73 % limit orders, 8 points of
them crossing, 16 % cancels, 3 % cancel-replaces, 6 % IOC or market, 2 % FOK or post-only).
Baselines in the same run: a bare ``heapq`` insert-then-pop loop over as many (price, seq)
keys as the flow has commands (the cheapest sorted container there is, no matching at all);
for the durable exchange, the engine alone on the same commands; for GPU blocks, one bare
pass over the 10,000 resting blocks comparing a price. Runs are interleaved and the figures
are medians; wall time and this process's CPU time are both reported, because the machine is
shared and the CPU time says what the code costs when it gets a core.

Each throughput is measured with Python's default garbage-collector thresholds and with the
young generation collected every 50,000 allocations (``gc.set_threshold(50_000, 20, 100)``):
a book is tens of thousands of small long-lived lists, which the default settings walk again
and again; a process that runs the exchange can set the same.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import heapq
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks.market_flow import order_flow
from benchmarks.timing import median_seconds
from hashmarket.ledger import Account, Asset, Ledger, ManualClock, Transfer
from hashmarket.market import (
    Command,
    Exchange,
    MarketConfig,
    MatchingEngine,
    PlaceGpuOrder,
    RegisterGpus,
    Side,
    TimeInForce,
    monthly_futures,
    open_exchange_accounts,
)
from hashmarket.market.products import HASHPOWER

CONFIG = MarketConfig(futures=monthly_futures(dt.date(2030, 1, 1), 1))
FUTURE = CONFIG.futures[0].symbol
IN_PROCESS = 200_000
TUNED_GC = (50_000, 20, 100)
GC_NAMES = {False: "default gc thresholds", True: f"gc thresholds {TUNED_GC}"}
DURABLE = 40_000
RUNS = 5
S = 10**9
T0 = 1_800_000_000 * S


def _both(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _engine_run(commands: list[Command]) -> Callable[[], None]:
    def run() -> None:
        engine = MatchingEngine(CONFIG)
        apply, take = engine.apply, engine.take_events
        for i, command in enumerate(commands):
            apply(command)
            if not i & 1023:
                take()

    return run


def _heap_run(n: int) -> Callable[[], None]:
    rng = random.Random(7)
    keys = [(rng.randrange(1_000), i) for i in range(n)]

    def run() -> None:
        heap: list[tuple[int, int]] = []
        for key in keys:
            heapq.heappush(heap, key)
        while heap:
            heapq.heappop(heap)

    return run


@contextlib.contextmanager
def collector(tuned: bool) -> Iterator[None]:
    """Python's cyclic garbage collector with its default thresholds, or with the young
    generation collected every 50,000 allocations instead of 700: the book is many small
    long-lived lists, which every full collection walks again."""
    gc.collect()
    before = gc.get_threshold()
    if tuned:
        gc.set_threshold(*TUNED_GC)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def in_process() -> None:
    for name, market, mid, tick, lot in (
        ("futures book", FUTURE, 5_000, 25, 1),
        ("hashpower book (contracts opened per fill)", HASHPOWER, 50_000, 10, 100),
    ):
        commands = order_flow(IN_PROCESS, market=market, mid=mid, tick=tick, lot=lot, config=CONFIG)
        for tuned in (False, True):
            with collector(tuned):
                _in_process_figure(f"{name}, {GC_NAMES[tuned]}", commands)


def _in_process_figure(name: str, commands: list[Command]) -> None:
    engine, baseline = _engine_run(commands), _heap_run(len(commands))
    samples, base = [], []
    for _ in range(RUNS):
        samples.append(_both(engine))
        base.append(_both(baseline))
    wall = statistics.median(s[0] for s in samples)
    cpu = statistics.median(s[1] for s in samples)
    base_wall = statistics.median(b[0] for b in base)
    base_cpu = statistics.median(b[1] for b in base)
    n = len(commands)
    print(
        f"in process, {name}: {n:,} commands, median of {RUNS}: "
        f"{n / wall:,.0f} orders/s wall ({n / cpu:,.0f} on CPU time); "
        f"baseline heapq push+pop {n / base_wall:,.0f}/s wall ({n / base_cpu:,.0f} CPU); "
        f"engine/baseline time {wall / base_wall:.2f} wall, {cpu / base_cpu:.2f} CPU"
    )


def _fresh_exchange(directory: Path, run: int) -> Exchange:
    ledger = Ledger.open(
        f"sqlite:///{directory}/market-{run}.db", create=True, clock=ManualClock(10**18)
    )
    ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="btc-issuer")
    ledger.create_asset(Asset("USD", 2), issuer_account_id=2, name="usd-issuer")
    accounts = range(1_001, 1_101)
    ledger.create_accounts([Account(a, "BTC") for a in accounts])
    ledger.create_transfers([Transfer(5_000 + a, 1, a, 10**12) for a in accounts])
    return Exchange.open(ledger, accounts=open_exchange_accounts(ledger), config=CONFIG)


def durable() -> None:
    commands = order_flow(DURABLE, market=HASHPOWER, mid=50_000, tick=10, lot=100, config=CONFIG)
    with tempfile.TemporaryDirectory() as tmp:
        for batch, tuned in ((1_000, False), (1_000, True), (5_000, True)):
            samples, base, rows = [], [], 0
            for run in range(3):
                exchange = _fresh_exchange(Path(tmp), run + 10 * batch + 100 * tuned)

                def submit(exchange: Exchange = exchange, batch: int = batch) -> None:
                    for i in range(0, len(commands), batch):
                        exchange.submit_many(commands[i : i + batch])

                with collector(tuned):
                    samples.append(_both(submit))
                    base.append(_both(_engine_run(commands)))
                rows = exchange.ledger.head().seq
                exchange.ledger.close()
            wall = statistics.median(s[0] for s in samples)
            cpu = statistics.median(s[1] for s in samples)
            base_cpu = statistics.median(b[1] for b in base)
            n = len(commands)
            print(
                f"durable on SQLite, hashpower flow, {batch:,} commands per commit, "
                f"{GC_NAMES[tuned]}: {n:,} "
                f"commands, {rows:,} journal rows, median of 3: {n / wall:,.0f} orders/s wall "
                f"({n / cpu:,.0f} on CPU time); the engine alone on the same commands "
                f"{n / base_cpu:,.0f}/s CPU"
            )


def gpu_blocks() -> None:
    rng = random.Random(11)
    engine = MatchingEngine(CONFIG)
    hour0 = T0 // S + 3_600
    sellers = range(1, 201)
    for account in sellers:
        engine.apply(RegisterGpus(T0, account, "H100", 10_000, hour0, hour0 + 40 * 86_400))
    for _ in range(10_000):
        start = hour0 + rng.randrange(0, 29 * 24) * 3_600
        hours = rng.randint(4, 48)
        engine.apply(
            PlaceGpuOrder(
                T0,
                rng.choice(sellers),
                Side.SELL,
                "H100",
                rng.randint(1, 16),
                start,
                start + hours * 3_600,
                rng.randint(150, 400),
            )
        )
    engine.take_events()
    pieces = len(engine.gpu.sells["H100"])
    times, filled = [], 0
    for i in range(300):
        start = hour0 + rng.randrange(0, 28 * 24) * 3_600
        command = PlaceGpuOrder(
            T0,
            10_000 + i,
            Side.BUY,
            "H100",
            rng.randint(1, 16),
            start,
            start + rng.randint(1, 24) * 3_600,
            rng.randint(200, 450),
            TimeInForce.FOK,
        )
        began = time.perf_counter()
        result = engine.apply(command)
        times.append(time.perf_counter() - began)
        filled += result.done is not None and result.done.reason.value == "filled"
        engine.take_events()
    book = engine.gpu.sells["H100"]
    scan = []
    for _ in range(300):
        began = time.perf_counter()
        for piece in book:
            if piece[2] > 10**9:
                break
        scan.append(time.perf_counter() - began)
    print(
        f"GPU blocks: {pieces:,} resting pieces from 10,000 sell blocks; 300 fill-or-kill buys "
        f"({filled} filled): median {statistics.median(times) * 1e3:.2f} ms, 90th percentile "
        f"{sorted(times)[269] * 1e3:.2f} ms; baseline one bare pass over the pieces "
        f"{statistics.median(scan) * 1e3:.2f} ms"
    )


BAR_TRADES = 1_000_000


def bars_request() -> None:
    """A bars request on a market with ``BAR_TRADES`` trades over 30 days: computed from the
    trade history (what the service did, holding the exchange's lock for the scan), against
    read from bars kept up to date (what it does), and what keeping them costs per batch."""
    from hashmarket.market import BarSeries
    from hashmarket.market import marketdata as md
    from hashmarket.market.orders import Side, Trade

    rng = random.Random(7)
    start_ns = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()) * 10**9
    step_ns = 30 * 86_400 * 10**9 // BAR_TRADES
    trades = [
        Trade(i, "HASHPOWER" if i % 10 else "HP-2026-02", start_ns + i * step_ns,
              50_000 + rng.randrange(-200, 200), 100, 1, 2, 10, 20, Side.BUY)
        for i in range(BAR_TRADES)
    ]  # fmt: skip
    mine = [t for t in trades if t.market == "HASHPOWER"]
    series = {s: BarSeries(s) for s in (60, 3_600, 86_400)}
    for each in series.values():
        each.extend(mine[:-3_000])
    batches = iter([mine[i : i + 500] for i in range(len(mine) - 3_000, len(mine), 500)])

    def under_the_lock() -> None:
        [t for t in trades if t.market == "HASHPOWER"]

    def from_trades() -> None:
        md.interval_bars([t for t in trades if t.market == "HASHPOWER"], interval="1h")

    def from_series() -> None:
        series[3_600].bars()

    def newest_minutes() -> None:
        series[60].bars(last=500)

    def keep_up() -> None:  # the next batch's 500 trades into the three series
        batch = next(batches)
        for each in series.values():
            each.extend(batch)

    figures = [(name, median_seconds(fn, repeat=5)) for name, fn in (
        ("1h bars from the trade history (as the service computed them)", from_trades),
        ("  of which the pass over the trades, under the exchange's lock", under_the_lock),
        ("1h bars read from the kept series", from_series),
        ("the newest 500 1m bars read from the kept series", newest_minutes),
        ("keeping the three series up to date with a batch of 500 trades", keep_up),
    )]  # fmt: skip
    print(f"bars of one market, {BAR_TRADES:,} trades over 30 days (9 in 10 in that market):")
    for name, seconds in figures:
        print(f"  {name}: {seconds * 1e3:.2f} ms (median of 5)")


def main() -> None:
    in_process()
    gpu_blocks()
    durable()
    bars_request()


if __name__ == "__main__":
    main()
