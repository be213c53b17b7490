"""SIGKILL the exchange at random points of a random flow, restart, finish: same result.

A template ledger (SQLite, and PostgreSQL when a server is given) holds funded participants.
A reference run submits a seeded flow of every product (hashpower, deliveries, GPU blocks,
futures and marks, cancels, replaces, time) in batches, uninterrupted. Then child processes
run the same flow on fresh copies and are killed with SIGKILL once the log reaches a random
length (fixed seed; from none of the flow to all of it) and a random moment more. After each
kill the exchange is reopened (it replays its log), the flow resumes after the last batch
the log holds, and the result must equal the reference: the same log head, the same book,
trades, contracts and reservations (no fill lost or doubled), and the same ledger byte for
byte (its state hash), which also passes ``verify()``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from hashmarket.ledger import Ledger, ManualClock
from hashmarket.market import Exchange, command_json, open_exchange_accounts
from hashmarket.market.log import read_log
from hashmarket.market.snapshot import engine_state
from tests.conftest import PG_ENV, STORES, T0_NS, open_ledger, postgres_url
from tests.integration.market_flows import CONFIG, fund, random_flow

SEED, COMMANDS, BATCH = 20261207, 600, 10
KILLS, SOAK_KILLS = 3, 12
CLOCK_NS = T0_NS + 10**12
REPO = Path(__file__).resolve().parents[2]
CHILD = """
import sys
from hashmarket.ledger import Ledger, ManualClock
from hashmarket.market import Exchange, open_exchange_accounts
from tests.integration.market_flows import CONFIG, random_flow
url, clock_ns, seed, n, batch, start = sys.argv[1:7]
flow = random_flow(int(seed), int(n))
with Ledger.open(url, clock=ManualClock(int(clock_ns))) as ledger:
    exchange = Exchange.open(ledger, accounts=open_exchange_accounts(ledger), config=CONFIG)
    print("started", flush=True)
    b = int(batch)
    for i in range(int(start), len(flow), b):
        exchange.submit_many(flow[i : i + b])
print("done", flush=True)
"""


def build(url: str) -> None:
    with open_ledger(url, ManualClock(T0_NS)) as ledger:
        fund(ledger)
        open_exchange_accounts(ledger)


def run_child(url: str, start: int = 0) -> subprocess.Popen[str]:
    args = [url, str(CLOCK_NS), str(SEED), str(COMMANDS), str(BATCH), str(start)]
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def resume_point(ledger: Ledger, flow: list[Any]) -> int:
    """The first command of the batch after the last one the log holds."""
    with ledger.snapshot() as store:
        entries = list(read_log(store))
    if not entries:
        return 0
    position = [command_json(c) for c in flow].index(entries[-1].command)
    return (position // BATCH + 1) * BATCH


def outcome(url: str) -> tuple[Any, ...]:
    with Ledger.open(url, clock=ManualClock(CLOCK_NS)) as ledger:
        exchange = Exchange.open(ledger, accounts=open_exchange_accounts(ledger), config=CONFIG)
        assert ledger.verify().ok
        return (
            exchange.head,
            engine_state(exchange.engine),
            exchange.clearing.state(),
            ledger.state_hash(),
        )


@pytest.fixture(params=STORES)
def fresh_copy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A function returning the URL of a new copy of the funded template ledger."""
    if request.param == "sqlite":
        template = tmp_path / "template.sqlite"
        build(f"sqlite:///{template}")
        copies = iter(range(1_000))

        def copy_sqlite() -> str:
            target = tmp_path / f"copy-{next(copies)}.sqlite"
            shutil.copyfile(template, target)
            return f"sqlite:///{target}"

        yield copy_sqlite
        return
    import psycopg

    base = postgres_url()
    admin = psycopg.connect(os.environ[PG_ENV], autocommit=True)
    template_db = f"market_crash_{uuid.uuid4().hex[:10]}"
    created = [template_db]
    admin.execute(f'CREATE DATABASE "{template_db}"')
    build(_database_url(base, template_db))

    def copy_postgres() -> str:
        name = f"{template_db}_{len(created)}"
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
        created.append(name)
        return _database_url(base, name)

    yield copy_postgres
    for name in reversed(created):
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def _database_url(base: str, name: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def kill_when_logged(
    child: subprocess.Popen[str], watcher: Ledger, logged_seq: int, then_s: float
) -> None:
    """SIGKILL ``child`` ``then_s`` after ``watcher`` sees its command log hold
    ``logged_seq`` entries (or when it ends first)."""
    deadline = time.monotonic() + 600
    while child.poll() is None and _logged(watcher) < logged_seq:
        assert time.monotonic() < deadline, "the flow stalled"
        time.sleep(0.0005)
    time.sleep(then_s)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)


def _logged(ledger: Ledger) -> int:
    with ledger.snapshot() as store:
        return int(store.query("SELECT COALESCE(MAX(seq), 0) FROM market_log")[0][0])


def kill_and_check(fresh: Callable[[], str], kills: int, *, seed: int) -> list[int]:
    reference_url = fresh()
    child = run_child(reference_url)
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0 and out.split() == ["started", "done"], err
    reference = outcome(reference_url)
    assert reference[0][0] > COMMANDS // 2  # most of the flow was accepted and logged

    flow = random_flow(SEED, COMMANDS)
    rng = random.Random(seed)
    resumed_at = []
    for _ in range(kills):
        url = fresh()
        # Killed once its log reaches a random length (from none of the flow to all of it),
        # then a random moment into the next batch: the points depend on the seed, not on
        # how fast the machine happens to be.
        with Ledger.open(url, clock=ManualClock(CLOCK_NS)) as watcher:
            child = run_child(url)
            logged_seq, then_s = rng.randint(0, reference[0][0]), rng.uniform(0, 0.005)
            kill_when_logged(child, watcher, logged_seq, then_s)
        with Ledger.open(url, clock=ManualClock(CLOCK_NS)) as ledger:
            assert ledger.verify().ok
            start = resume_point(ledger, flow)
        resumed_at.append(start)
        finish = run_child(url, start)
        out, err = finish.communicate(timeout=600)
        assert finish.returncode == 0, err
        assert outcome(url) == reference
    return resumed_at


def test_sigkill_during_a_flow_then_restart_equals_an_uninterrupted_run(
    fresh_copy: Callable[[], str],
) -> None:
    resumed_at = kill_and_check(fresh_copy, KILLS, seed=SEED)
    assert len(resumed_at) == KILLS


@pytest.mark.slow
def test_sigkill_soak(fresh_copy: Callable[[], str]) -> None:
    resumed_at = kill_and_check(fresh_copy, SOAK_KILLS, seed=SEED + 1)
    # the kills landed at different points: before, during and after the flow
    assert len(set(resumed_at)) > 3
