"""SIGKILL a process in the middle of a 100,000-holder distribution, then check the damage.

A template ledger holds a token series with 100,000 holders. One child process pays the day
to completion: its final state hash is the reference. Then, on fresh copies of the template,
child processes start the same distribution and are killed with SIGKILL after a random delay
(fixed seed) spread over the whole run, start-up and commit included. After each kill the
ledger is reopened and must show the day applied entirely or not at all (the record and the
payouts together, or neither), pass ``verify()``, and — after the distribution is run again
in this process — be byte for byte the reference state: paid exactly once.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from hashmarket.ledger import Account, Ledger, ManualClock, Transfer, token_store
from hashmarket.ledger import tokens as tk
from tests.conftest import PG_ENV, STORES, T0_NS, open_ledger, postgres_url

HOLDERS = 100_000
KILLS = {"sqlite": 3, "postgresql": 1}  # per run of the suite; the slow soak does more
SOAK_KILLS = {"sqlite": 12, "postgresql": 6}
SEED = 20250110
TOKEN_BASE, PAYOUT_BASE, TREASURY = 3_000_000, 2_000_000, 3
CLOCK_NS = 1_736_557_200_000_000_000  # 2025-01-11 01:00 UTC: the day 2025-01-10 is over
DAY = dt.date(2025, 1, 10)
RATE = tk.DayRate(DAY, Decimal("0.00057263"), Decimal(94591), "a" * 64, "b" * 64)
CHILD = """
import sys, datetime as dt
from decimal import Decimal
from hashmarket.ledger import Ledger, ManualClock
from hashmarket.ledger import tokens as tk
url, clock_ns = sys.argv[1], int(sys.argv[2])
rate = tk.DayRate(dt.date(2025, 1, 10), Decimal("0.00057263"), Decimal(94591), "a" * 64, "b" * 64)
with Ledger.open(url, clock=ManualClock(clock_ns)) as ledger:
    print("started", flush=True)
    tk.distribute(ledger, "HT1", rate)
print("done", flush=True)
"""


def build(url: str) -> None:
    """BTC treasury, a 1 PH/s series, 100,000 holders with 1-7 tokens each."""
    with open_ledger(url, ManualClock(T0_NS)) as ledger:
        ledger.create_account(Account(TREASURY, "BTC"))
        ledger.transfer(Transfer(1, 1, TREASURY, 10**12))
        tk.issue(
            ledger,
            tk.TokenSeries(
                asset="HT1",
                issuer_account_id=100,
                reserve_account_id=101,
                treasury_account_id=TREASURY,
                ths_per_token=Decimal(1),
                efficiency_w_per_th=Decimal("18.5"),
                power_price_usd_per_kwh=Decimal("0.05"),
                service_fee_usd_per_th_day=Decimal("0.002"),
                backing_hashrate_ths=Decimal(HOLDERS * 10),
                term_start=dt.date(2025, 1, 1),
                term_end=dt.date(2025, 12, 31),
            ),
        )
        with ledger.transaction() as w:
            w.create_accounts([Account(PAYOUT_BASE + i, "BTC") for i in range(HOLDERS)])
            w.create_accounts([Account(TOKEN_BASE + i, "HT1") for i in range(HOLDERS)])
            token_store.insert_holders(
                w.store, [(TOKEN_BASE + i, "HT1", PAYOUT_BASE + i, 0) for i in range(HOLDERS)]
            )
            minted = [(TOKEN_BASE + i, 1 + i % 7) for i in range(HOLDERS)]
            assert w.create_fan_out(101, minted, code=tk.CODE_MINT)[1] == -1


def _pg_database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(params=STORES)
def fresh_copy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A function returning the URL of a new copy of the 100,000-holder template."""
    if request.param == "sqlite":
        template = tmp_path / "template.sqlite"
        build(f"sqlite:///{template}")  # closing checkpoints the WAL into the file
        counter = iter(range(100))

        def copy_sqlite() -> str:
            target = tmp_path / f"copy-{next(counter)}.sqlite"
            shutil.copyfile(template, target)
            return f"sqlite:///{target}"

        yield copy_sqlite
        return
    import psycopg

    base = postgres_url()
    admin = psycopg.connect(os.environ[PG_ENV], autocommit=True)
    template_db = f"crash_{uuid.uuid4().hex[:10]}"
    created = [template_db]
    admin.execute(f'CREATE DATABASE "{template_db}"')
    build(_pg_database_url(base, template_db))

    def copy_postgres() -> str:
        name = f"{template_db}_{len(created)}"
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
        created.append(name)
        return _pg_database_url(base, name)

    yield copy_postgres
    for name in reversed(created):
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def start_child(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(CLOCK_NS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def rerun(url: str) -> tk.Distribution:
    with Ledger.open(url, clock=ManualClock(CLOCK_NS)) as ledger:
        return tk.distribute(ledger, "HT1", RATE)


def payouts(ledger: Ledger) -> tuple[int, int]:
    """(sats credited to holders' payout accounts, distribution rows in the journal)."""
    with ledger.snapshot() as store:
        (paid,) = store.query(
            "SELECT COALESCE(SUM(credits_posted), 0) FROM balances "
            "WHERE account_id >= ? AND account_id < ?",
            (PAYOUT_BASE, PAYOUT_BASE + HOLDERS),
        )[0]
        (rows,) = store.query(
            "SELECT COUNT(*) FROM journal WHERE code = ?", (tk.CODE_DISTRIBUTION,)
        )[0]
    return int(paid), int(rows)


def test_sigkill_during_a_distribution_leaves_all_or_nothing(
    request: pytest.FixtureRequest, fresh_copy: Callable[[], str]
):
    kind = request.node.callspec.params["fresh_copy"]
    kill_and_check(kind, fresh_copy, KILLS[kind], seed=SEED)


@pytest.mark.slow
def test_sigkill_soak(request: pytest.FixtureRequest, fresh_copy: Callable[[], str]):
    kind = request.node.callspec.params["fresh_copy"]
    kill_and_check(kind, fresh_copy, SOAK_KILLS[kind], seed=SEED + 1)


def kill_and_check(kind: str, fresh_copy: Callable[[], str], kills: int, *, seed: int) -> None:
    reference_url = fresh_copy()
    started = time.perf_counter()
    child = start_child(reference_url)
    out, err = child.communicate(timeout=600)
    duration_s = time.perf_counter() - started
    assert child.returncode == 0 and out.split() == ["started", "done"], err
    with Ledger.open(reference_url) as ledger:
        reference = tk.distribution(ledger, "HT1", DAY)
        assert reference is not None and reference.holder_count == HOLDERS
        assert payouts(ledger) == (reference.pool_sats, HOLDERS)
        reference_hash = ledger.state_hash()

    rng = random.Random(seed)
    outcomes = []
    for _ in range(kills):
        url = fresh_copy()
        child = start_child(url)
        time.sleep(rng.uniform(0.3, 1.1) * duration_s)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        with Ledger.open(url) as ledger:
            record = tk.distribution(ledger, "HT1", DAY)
            paid, rows = payouts(ledger)
            if record is None:
                assert (paid, rows) == (0, 0), "payouts without their record"
                outcomes.append("nothing")
            else:
                assert record == reference
                assert (paid, rows) == (reference.pool_sats, HOLDERS)
                outcomes.append("everything")
            report = ledger.verify()
            assert report.ok, report.problems
        assert rerun(url) == reference
        with Ledger.open(url) as ledger:
            assert payouts(ledger) == (reference.pool_sats, HOLDERS)
            assert ledger.state_hash() == reference_hash
    print(f"{kind}: killed after ~{duration_s:.1f} s runs: {outcomes}")
