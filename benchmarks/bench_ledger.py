"""The ledger: durable transfers per second, and a daily distribution to a million holders.

Targets: at least 50,000 transfers/s on SQLite and 20,000 on PostgreSQL, in batches of 1,000
with one durable commit per batch (SQLite WAL with synchronous=FULL; PostgreSQL with fsync
and synchronous_commit on); a distribution to 1,000,000 holders in under 15 s on SQLite with
peak memory under 1 GB.

Baseline in the same run, on the same database: the raw insert rate of precomputed rows into
a table with the journal's columns and indexes, 1,000 rows per committed transaction and no
ledger logic (no validation, no limits, no hash chain, no balance updates). The ratio says
what the ledger's rules cost on top of the storage floor.

Workload: 10,000 funded BTC accounts; every batch is 1,000 plain transfers between random
pairs of them (seeded), fresh ids, amounts of 1-1,000 sats. Each figure is the median of
several runs of 20 batches, ledger and baseline runs interleaved, so background load hits
both alike. PostgreSQL runs against the throwaway server ``scripts/with_postgres.sh`` starts
(or ``HASHMARKET_TEST_PG_URL``). The distribution runs in a child process that reports its
own wall time and ``ru_maxrss``; building its million holders is not timed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from hashmarket.ledger import (
    Account,
    Asset,
    CreateTransferResult,
    Ledger,
    ManualClock,
    Transfer,
    token_store,
)
from hashmarket.ledger import tokens as tk
from hashmarket.ledger.clock import day_start_ns
from hashmarket.ledger.migrations import MIGRATIONS

ACCOUNTS = 10_000
BATCH = 1_000
BATCHES_PER_RUN = 20
RUNS = 5
HOLDERS = 1_000_000
PG_ENV = "HASHMARKET_TEST_PG_URL"
REPO = Path(__file__).resolve().parent.parent
DAY = dt.date(2025, 1, 10)
T0_NS = day_start_ns(dt.date(2025, 1, 1))


def _open(url: str) -> Ledger:
    ledger = Ledger.open(url, create=True, clock=ManualClock(T0_NS))
    ledger.create_asset(Asset("BTC", 8), issuer_account_id=1)
    for start in range(2, ACCOUNTS + 2, 5_000):
        ledger.create_accounts(
            [Account(i, "BTC") for i in range(start, min(start + 5_000, ACCOUNTS + 2))]
        )
    ledger.create_transfers([Transfer(i, 1, i, 10**12) for i in range(2, ACCOUNTS + 2)])
    return ledger


def _batches(rng: random.Random, first_id: int, count: int) -> list[list[Transfer]]:
    out = []
    tid = first_id
    for _ in range(count):
        batch = []
        for _ in range(BATCH):
            a = rng.randrange(2, ACCOUNTS + 2)
            b = rng.randrange(2, ACCOUNTS + 1)
            b = b + 1 if b >= a else b
            tid += 1
            batch.append(Transfer(tid, a, b, rng.randrange(1, 1_001)))
        out.append(batch)
    return out


def _raw_rows(rng: random.Random, first_seq: int) -> list[tuple[object, ...]]:
    """Journal-shaped rows (15 columns) with random accounts and a random 32-byte hash."""
    return [
        (
            first_seq + i,
            first_seq + i,
            rng.randrange(2, ACCOUNTS + 2),
            rng.randrange(2, ACCOUNTS + 2),
            rng.randrange(1, 1_001),
            0,
            None,
            None,
            0,
            0,
            first_seq + i,
            None,
            0,
            0,
            rng.randbytes(32),
        )
        for i in range(BATCH)
    ]


def _raw_table(ledger: Ledger) -> None:
    """``bench_raw``: the journal's columns and indexes, none of its triggers."""
    store = ledger._store
    store.begin_write()
    for statement in MIGRATIONS[0].statements(store.dialect):
        if (
            "TABLE journal" in statement or " ON journal " in statement
        ) and "TRIGGER" not in statement:
            store.execute(statement.replace("journal", "bench_raw"))
    store.commit()


def _raw_insert(ledger: Ledger, batches: list[list[tuple[object, ...]]]) -> None:
    store = ledger._store
    if store.dialect == "sqlite":
        conn = store._conn  # type: ignore[attr-defined]
        for rows in batches:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(f"INSERT INTO bench_raw VALUES ({', '.join('?' * 15)})", rows)
            conn.execute("COMMIT")
        return
    conn = store._conn  # type: ignore[attr-defined]
    types = ["int8"] * 14 + ["bytea"]
    types[5] = types[9] = "int4"  # flags, code
    for rows in batches:
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY bench_raw FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        conn.commit()


def _rate(run: Callable[[], None], rows: int) -> float:
    start = time.perf_counter()
    run()
    return rows / (time.perf_counter() - start)


def transfers_per_second(url: str, label: str, target: int) -> None:
    rng = random.Random(20250110)
    with _open(url) as ledger:
        _raw_table(ledger)
        next_id, next_seq = 10_000_000, 1
        for batch in _batches(rng, next_id, 2):  # warm up caches and statements
            ledger.create_transfers(batch)
        next_id += 2 * BATCH
        ledger_rates, raw_rates = [], []
        for _ in range(RUNS):
            batches = _batches(rng, next_id, BATCHES_PER_RUN)
            next_id += BATCHES_PER_RUN * BATCH
            raw = [_raw_rows(rng, next_seq + i * BATCH) for i in range(BATCHES_PER_RUN)]
            next_seq += BATCHES_PER_RUN * BATCH

            def apply(batches: list[list[Transfer]] = batches) -> None:
                for batch in batches:
                    results = ledger.create_transfers(batch)
                    assert results.count(CreateTransferResult.OK) == BATCH

            def insert_raw(rows: list[list[tuple[object, ...]]] = raw) -> None:
                _raw_insert(ledger, rows)

            ledger_rates.append(_rate(apply, BATCHES_PER_RUN * BATCH))
            raw_rates.append(_rate(insert_raw, BATCHES_PER_RUN * BATCH))
        report = ledger.verify()
        assert report.ok, report.problems
    median, raw_median = statistics.median(ledger_rates), statistics.median(raw_rates)
    low, high = min(ledger_rates), max(ledger_rates)
    print(
        f"{label}: {median:,.0f} transfers/s median of {RUNS} runs of {BATCHES_PER_RUN} x "
        f"{BATCH:,} (min {low:,.0f}, max {high:,.0f}; target >= {target:,})"
    )
    print(
        f"{label} baseline, raw insert into a journal-shaped table: {raw_median:,.0f} rows/s "
        f"median (min {min(raw_rates):,.0f}, max {max(raw_rates):,.0f}); "
        f"ledger = {median / raw_median:.0%} of raw"
    )


def postgres_main() -> None:
    """The PostgreSQL figures, run under ``scripts/with_postgres.sh``."""
    base = os.environ.get(PG_ENV)
    if not base:
        print("postgresql: no server could be started; skipped")
        return
    url = f"{base}{'&' if '?' in base else '?'}schema=bench_{uuid.uuid4().hex[:8]}"
    transfers_per_second(url, "postgresql", 20_000)


# -- the million-holder distribution --------------------------------------------------------

_BUILD = """
import sys
from benchmarks.bench_ledger import build_holders
build_holders(sys.argv[1])
"""
_DISTRIBUTE = """
import json, resource, sys, time
from benchmarks.bench_ledger import distribute_once
seconds, record = distribute_once(sys.argv[1])
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024, **record}))
"""


def build_holders(url: str) -> None:
    """A series with HOLDERS holders of 1-7 tokens, bought before the 2025-01-10 cut."""
    with Ledger.open(url, create=True, clock=ManualClock(T0_NS)) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1)
        ledger.create_account(Account(3, "BTC"))
        ledger.transfer(Transfer(1, 1, 3, 10**15))
        tk.issue(
            ledger,
            tk.TokenSeries(
                asset="HT1",
                issuer_account_id=100,
                reserve_account_id=101,
                treasury_account_id=3,
                ths_per_token=Decimal(1),
                efficiency_w_per_th=Decimal("18.5"),
                power_price_usd_per_kwh=Decimal("0.05"),
                service_fee_usd_per_th_day=Decimal("0.002"),
                backing_hashrate_ths=Decimal(HOLDERS * 10),
                term_start=dt.date(2025, 1, 1),
                term_end=dt.date(2025, 12, 31),
            ),
        )
        step = 100_000
        for start in range(0, HOLDERS, step):
            ids = range(start, min(start + step, HOLDERS))
            with ledger.transaction() as w:
                w.create_accounts([Account(2_000_000 + i, "BTC") for i in ids])
                w.create_accounts([Account(3_000_000 + i, "HT1") for i in ids])
                token_store.insert_holders(
                    w.store, [(3_000_000 + i, "HT1", 2_000_000 + i, 0) for i in ids]
                )
                minted = [(3_000_000 + i, 1 + i % 7) for i in ids]
                assert w.create_fan_out(101, minted, code=tk.CODE_MINT)[1] == -1


def distribute_once(url: str) -> tuple[float, dict[str, object]]:
    rate = tk.DayRate(DAY, Decimal("0.00057263"), Decimal(94_591), "a" * 64, "b" * 64)
    clock = ManualClock(day_start_ns(DAY + dt.timedelta(days=1)) + 3_600 * 10**9)
    with Ledger.open(url, clock=clock) as ledger:
        start = time.perf_counter()
        record = tk.distribute(ledger, "HT1", rate)
        seconds = time.perf_counter() - start
    return seconds, {"holders": record.holder_count, "pool_sats": record.pool_sats}


def _child(code: str, url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, url], cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return done.stdout


def distribution(directory: Path) -> None:
    url = f"sqlite:///{directory / 'holders.sqlite'}"
    start = time.perf_counter()
    _child(_BUILD, url)
    build_s = time.perf_counter() - start
    result = json.loads(_child(_DISTRIBUTE, url).strip().splitlines()[-1])
    print(
        f"sqlite: distribution to {result['holders']:,} holders ({result['pool_sats']:,} sats, "
        f"one transaction): {result['seconds']:.1f} s (target < 15 s), peak RSS of the "
        f"process {result['peak_mib']:,.0f} MiB (target < 1,024)"
    )
    print(f"(building the {HOLDERS:,} holders, not timed: {build_s:.0f} s)")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hashmarket-bench-") as tmp:
        directory = Path(tmp)
        transfers_per_second(f"sqlite:///{directory / 'transfers.sqlite'}", "sqlite", 50_000)
        if os.environ.get(PG_ENV):
            postgres_main()
        else:
            # Start a throwaway server for this part only, exactly as `make test` does.
            subprocess.run(
                [
                    "bash",
                    str(REPO / "scripts" / "with_postgres.sh"),
                    sys.executable,
                    "-c",
                    "from benchmarks.bench_ledger import postgres_main; postgres_main()",
                ],
                cwd=REPO,
                check=True,
            )
        distribution(directory)


if __name__ == "__main__":
    main()
