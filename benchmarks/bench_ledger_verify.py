"""What the registry log costs: creating accounts, and ``verify()``.

Workload: a SQLite ledger (WAL, ``synchronous=FULL``) with ACCOUNTS accounts created in
batches of 10,000 (one commit each), then TRANSFERS plain transfers in batches of 1,000.
Figures are medians of RUNS runs; the baselines are measured in the same run:

* account creation through the ledger (rows, balances and registry entries) against raw
  inserts of the same account and balances rows without registry entries;
* the whole ``verify()`` against its registry part alone (the chain walk and the digest of
  every registered row), and against ``state_hash()`` over the same snapshot.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

from hashmarket.ledger import Account, Asset, Ledger, ManualClock, Transfer
from hashmarket.ledger.store import ACCOUNT_INSERT, BALANCES_INSERT
from hashmarket.ledger.verify import _check_registry, state_hash, verify

ACCOUNTS = 100_000
TRANSFERS = 100_000
BATCH = 10_000
RUNS = 3
T0_NS = 1_735_689_600 * 10**9


def _ledger(path: Path) -> Ledger:
    ledger = Ledger.open(f"sqlite:///{path}", create=True, clock=ManualClock(T0_NS))
    ledger.create_asset(Asset("BTC", 8), issuer_account_id=1)
    return ledger


def _accounts(first: int) -> list[Account]:
    return [Account(first + i, "BTC") for i in range(BATCH)]


def create_accounts(path: Path) -> float:
    with _ledger(path) as ledger:
        start = time.perf_counter()
        for b in range(ACCOUNTS // BATCH):
            ledger.create_accounts(_accounts(10 + b * BATCH))
        return time.perf_counter() - start


def raw_accounts(path: Path) -> float:
    with _ledger(path) as ledger:
        store = ledger._store
        start = time.perf_counter()
        for b in range(ACCOUNTS // BATCH):
            rows = [(10 + b * BATCH + i, "BTC", 1, 0, None, T0_NS + b * BATCH + i)
                    for i in range(BATCH)]  # fmt: skip
            store.begin_write()
            store.executemany(ACCOUNT_INSERT, rows)
            store.executemany(BALANCES_INSERT, [(r[0],) for r in rows])
            store.commit()
        return time.perf_counter() - start


def fill(path: Path) -> None:
    rng = random.Random(1)
    with Ledger.open(f"sqlite:///{path}", clock=ManualClock(T0_NS)) as ledger:
        ids = range(10, 10 + ACCOUNTS)
        ledger.create_transfers([Transfer(i, 1, i, 10**9) for i in ids])
        next_id = 10**7
        for _ in range(TRANSFERS // 1_000):
            batch = []
            for _ in range(1_000):
                next_id += 1
                a, b = rng.sample(ids, 2)
                batch.append(Transfer(next_id, a, b, rng.randrange(1, 1_000)))
            ledger.create_transfers(batch)


def timed_checks(path: Path) -> tuple[float, float, float]:
    with Ledger.open(f"sqlite:///{path}") as ledger, ledger.snapshot() as store:
        start = time.perf_counter()
        report = verify(store)
        whole = time.perf_counter() - start
        assert report.ok, report.problems
        accounts = {r[0]: r for r in store.stream("SELECT a.id, a.asset, a.flags, a.code, "
                    "a.name, 0, 0, 0, 0, a.timestamp_ns FROM accounts AS a")}  # fmt: skip
        start = time.perf_counter()
        assert not _check_registry(store, accounts)
        registry = time.perf_counter() - start
        start = time.perf_counter()
        state_hash(store)
        state = time.perf_counter() - start
    return whole, registry, state


def main() -> None:
    created, raw, whole, registry, state = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="hashmarket-bench-") as tmp:
        for run in range(RUNS):
            path = Path(tmp) / f"ledger-{run}.sqlite"
            raw.append(raw_accounts(Path(tmp) / f"raw-{run}.sqlite"))
            created.append(create_accounts(path))
            fill(path)
            w, r, s = timed_checks(path)
            whole.append(w)
            registry.append(r)
            state.append(s)
    med = statistics.median
    print(
        f"sqlite: {ACCOUNTS:,} accounts in batches of {BATCH:,}: "
        f"{ACCOUNTS / med(created):,.0f} accounts/s through the ledger (registry included), "
        f"raw inserts {ACCOUNTS / med(raw):,.0f} rows/s"
    )
    print(
        f"sqlite: verify() of {ACCOUNTS:,} accounts and {ACCOUNTS + TRANSFERS:,} journal rows: "
        f"{med(whole):.2f} s, of which the registry log {med(registry):.2f} s; "
        f"state_hash() {med(state):.2f} s (medians of {RUNS})"
    )
