"""Exactly-once and no-overdraft under concurrency, on SQLite and PostgreSQL.

Threads and processes each open their own ledger on the same database and start together at a
barrier. The same transfer sent by all of them is applied once; workers racing to debit one
small account never overdraw it; and ``verify()`` passes afterwards.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from hashmarket.ledger import Account, CreateTransferResult, Ledger, ManualClock, Transfer
from tests.conftest import T0_NS, fund, open_ledger

R = CreateTransferResult
WORKERS = 6
PROCESSES = 4
SMALL_BALANCE = 100


def _send(url: str, batch: list[Transfer], start: Any) -> list[str]:
    with Ledger.open(url, clock=ManualClock(T0_NS + 10**12)) as ledger:
        start.wait()
        return [c.value for c in ledger.create_transfers(batch)]


def _race(url: str, seed: int, start: Any) -> list[tuple[int, str]]:
    """Twenty small debits of account 10 with this worker's ids; (amount, result) for each."""
    rng = random.Random(seed)
    out: list[tuple[int, str]] = []
    with Ledger.open(url, clock=ManualClock(T0_NS + 10**12)) as ledger:
        start.wait()
        for i in range(20):
            amount = rng.randrange(1, 11)
            (code,) = ledger.create_transfers([Transfer(seed * 1_000 + i, 10, 11, amount)])
            out.append((amount, code.value))
    return out


def _process_main(target: Callable[..., Any], args: tuple[Any, ...], queue: Any) -> None:
    try:
        queue.put(("ok", target(*args)))
    except BaseException as error:  # report, do not hang the parent
        queue.put(("error", repr(error)))


def in_threads(target: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
    start = threading.Barrier(len(args))
    results: list[Any] = [None] * len(args)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = target(*args[i], start)
        except BaseException as error:
            errors.append(error)
            start.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def in_processes(target: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
    # spawn, not fork: a forked child would share the parent's database connections.
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(len(args))
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_main, args=(target, (*a, start), queue)) for a in args]
    for p in procs:
        p.start()
    outcomes = [queue.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert all(status == "ok" for status, _ in outcomes), outcomes
    return [value for _, value in outcomes]


@pytest.fixture
def shared(ledger_url: str) -> str:
    with open_ledger(ledger_url) as ledger:
        fund(ledger, 10, SMALL_BALANCE, tid=1)
        ledger.create_account(Account(11, "BTC"))
    return ledger_url


def check_applied_once(url: str, answers: list[list[str]]) -> None:
    assert answers == [["ok"]] * len(answers)  # every sender gets the original answer
    with Ledger.open(url) as ledger:
        assert [e.id for e in ledger.journal()] == [1, 500]
        assert ledger.account(11).balance == 7
        assert ledger.verify().ok


def test_same_transfer_from_many_threads_is_applied_once(shared: str):
    transfer = Transfer(500, 10, 11, 7)
    check_applied_once(shared, in_threads(_send, [(shared, [transfer])] * WORKERS))


def test_same_transfer_from_many_processes_is_applied_once(shared: str):
    transfer = Transfer(500, 10, 11, 7)
    check_applied_once(shared, in_processes(_send, [(shared, [transfer])] * PROCESSES))


def test_same_id_with_different_amounts_has_one_winner(shared: str):
    batches = [(shared, [Transfer(500, 10, 11, 1 + i)]) for i in range(WORKERS)]
    answers = [a[0] for a in in_threads(_send, batches)]
    assert answers.count("ok") == 1
    assert set(answers) - {"ok"} == {R.EXISTS_WITH_DIFFERENT_AMOUNT.value}
    with Ledger.open(shared) as ledger:
        winner = answers.index("ok") + 1
        assert ledger.account(11).balance == winner
        assert ledger.verify().ok


def check_not_overdrawn(url: str, outcomes: list[list[tuple[int, str]]]) -> None:
    accepted = [amount for results in outcomes for amount, code in results if code == "ok"]
    refused = {code for results in outcomes for _, code in results if code != "ok"}
    assert sum(accepted) <= SMALL_BALANCE
    assert refused <= {R.EXCEEDS_CREDITS.value}
    assert refused, "the workers asked for more than the balance: some must be refused"
    with Ledger.open(url) as ledger:
        assert ledger.account(10).balance == SMALL_BALANCE - sum(accepted) >= 0
        assert ledger.account(11).balance == sum(accepted)
        assert ledger.verify().ok


def test_workers_in_threads_never_overdraw_a_small_account(shared: str):
    outcomes = in_threads(_race, [(shared, seed) for seed in range(1, WORKERS + 1)])
    check_not_overdrawn(shared, outcomes)


def test_workers_in_processes_never_overdraw_a_small_account(shared: str):
    outcomes = in_processes(_race, [(shared, seed) for seed in range(1, PROCESSES + 1)])
    check_not_overdrawn(shared, outcomes)


def test_threads_sharing_one_ledger_object(shared: str):
    with Ledger.open(shared, clock=ManualClock(T0_NS + 10**12)) as ledger:

        def send(i: int, start: Any) -> list[str]:
            start.wait()
            return [c.value for c in ledger.create_transfers([Transfer(500, 10, 11, 7)])]

        answers = in_threads(send, [(i,) for i in range(WORKERS)])
    check_applied_once(shared, answers)
