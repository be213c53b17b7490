"""Two exchanges on one ledger (two service workers): the command log orders them, a stale one
catches up before it writes, and what another logged meanwhile is replayed inside the write
transaction, so no command is lost or doubled and no batch fails for being late."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from hashmarket.errors import MarketError
from hashmarket.ledger import Account, Asset, Ledger, Transfer
from hashmarket.market import log as mlog
from hashmarket.market import venue
from hashmarket.market.exchange import Exchange
from hashmarket.market.orders import (
    Accepted,
    AddMargin,
    Command,
    PlaceOrder,
    RegisterHashrate,
    Side,
)
from hashmarket.market.venue import catch_up, open_orders, open_venue, submit_sequenced

BUYER, SELLER = 10, 20


def _ledger(url: str) -> str:
    with Ledger.open(url, create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="BTC issuer")
        ledger.create_asset(Asset("USD", 2), issuer_account_id=2, name="USD issuer")
        ledger.create_account(Account(BUYER, "BTC"))
        ledger.create_account(Account(SELLER, "BTC"))
        ledger.transfer(Transfer(1, 1, BUYER, 1_000_000))
    return url


def _order_id(results: list[Accepted | MarketError]) -> int:
    (result,) = results
    assert isinstance(result, Accepted), result
    return result.order_id


def _sell(ts: int, price: int) -> PlaceOrder:
    return PlaceOrder(ts, SELLER, "HASHPOWER", Side.SELL, 100, price)


def test_a_stale_worker_catches_up_inside_its_write_transaction(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _ledger(ledger_url)
    with Ledger.open(url) as first_ledger, Ledger.open(url) as second_ledger:
        first, second = open_venue(first_ledger), open_venue(second_ledger)
        assert _order_id(submit_sequenced(first, [RegisterHashrate(1, SELLER, 1_000)])) == 0
        assert _order_id(submit_sequenced(first, [_sell(2, 50_000)])) == 1
        # The second worker has not seen either command: it catches up first and writes
        # seq 3.
        assert _order_id(submit_sequenced(second, [_sell(3, 50_010)])) == 2
        assert second.head[0] == 3
        # A race: the first worker appends seq 4 between the second's catching up and its
        # write (here: its catch-up sees nothing). The second replays seq 4 inside its own
        # write transaction, which no one else can enter, and writes seq 5: no retry.
        submit_sequenced(first, [_sell(4, 50_020)])  # seq 4 (order 3)
        calls = []

        def late_catch_up(exchange: Exchange) -> int:
            calls.append(exchange.head[0])
            return 0

        monkeypatch.setattr(venue, "catch_up", late_catch_up)
        # Stamped earlier than the command it did not see: moved up to that command's time.
        early = PlaceOrder(3, SELLER, "HASHPOWER", Side.SELL, 100, 50_030)
        raced = submit_sequenced(second, [early], clock_stamped=True)
        assert calls == [3]
        assert _order_id(raced) == 4  # applied after order 3, as the log orders them
        assert second.head[0] == 5 and second.engine.last_ts_ns == 4
        assert catch_up(first) == 1
        books = [
            [(o.order_id, o.price) for o in open_orders(x, market="HASHPOWER")]
            for x in (first, second)
        ]
        assert books[0] == books[1] == [(1, 50_000), (2, 50_010), (3, 50_020), (4, 50_030)]
        with first_ledger.snapshot() as store:
            seqs = [e.seq for e in mlog.verified(mlog.read_log(store), prev=first.genesis)]
        assert seqs == [1, 2, 3, 4, 5]
        assert first_ledger.verify().ok


def test_two_busy_workers_never_fail_a_batch(ledger_url: str) -> None:
    """Two exchanges submitting back to back from two threads, each batch racing the other's
    for the write lock: every command is accepted, whichever got in first, and both end with
    the book the log describes."""
    url = _ledger(ledger_url)
    per_worker, batch = 40, 5
    with Ledger.open(url) as first_ledger, Ledger.open(url) as second_ledger:
        workers = [open_venue(first_ledger), open_venue(second_ledger)]
        submit_sequenced(workers[0], [RegisterHashrate(1, SELLER, 100_000)])

        def run(index: int) -> list[Accepted | MarketError]:
            exchange, results = workers[index], []
            for n in range(per_worker):
                commands: list[Command] = [
                    PlaceOrder(time.time_ns(), SELLER, "HASHPOWER", Side.SELL, 100, price)
                    for price in range(50_000 + 10 * n, 50_000 + 10 * (n + batch), 10)
                ]
                results += submit_sequenced(exchange, commands, clock_stamped=True)
            return results

        with ThreadPoolExecutor(2) as pool:
            answers = [a for results in pool.map(run, [0, 1]) for a in results]
        refused = [a for a in answers if not isinstance(a, Accepted)]
        assert refused == [] and len(answers) == 2 * per_worker * batch
        assert sorted(a.order_id for a in answers if isinstance(a, Accepted)) == list(
            range(1, 2 * per_worker * batch + 1)
        )  # order 0 is the registration: each id once
        for exchange in workers:
            catch_up(exchange)
        assert workers[0].head == workers[1].head and workers[0].head[0] == 1 + len(answers)
        books = [
            [(o.order_id, o.price) for o in open_orders(x, market="HASHPOWER")] for x in workers
        ]
        assert books[0] == books[1] and len(books[0]) == len(answers)
        assert first_ledger.verify().ok


def test_a_refused_first_command_leaves_a_new_ledger_as_it_was(ledger_url: str) -> None:
    """Opening the venue writes nothing; its own accounts come with the first accepted command
    (a refused one, even the very first, leaves the ledger's state hash unchanged)."""
    url = _ledger(ledger_url)
    with Ledger.open(url) as ledger:
        before = ledger.state_hash()
        exchange = open_venue(ledger)
        (refused,) = submit_sequenced(exchange, [_sell(1, 50_000)])  # no registered capacity
        assert isinstance(refused, MarketError)
        assert ledger.state_hash() == before
        fees = exchange.accounts.fees_btc
        assert _order_id(submit_sequenced(exchange, [RegisterHashrate(2, SELLER, 1_000)])) == 0
        assert ledger.state_hash() != before
        assert ledger.account(fees).balance == 0  # opened with the accepted command
        assert ledger.verify().ok


def test_margin_added_twice_in_one_batch_moves_each_amount_once(ledger_url: str) -> None:
    """Two additions in one batch, stamped alike, are two transfers (each its own id); one
    the account cannot pay is refused and moves nothing; a reopened exchange agrees."""
    long_, short = 30, 40
    url = _ledger(ledger_url)
    with Ledger.open(url) as ledger:
        for account in (long_, short):
            ledger.create_account(Account(account, "USD"))
            ledger.transfer(Transfer(account, 2, account, 300_000))
        exchange = open_venue(ledger)
        market, at = "HPF-2026-12", 1_796_083_200 * 10**9  # 2026-12-01 00:00 UTC
        submit_sequenced(exchange, [
            PlaceOrder(at, short, market, Side.SELL, 2, 5_000),
            PlaceOrder(at, long_, market, Side.BUY, 2, 5_000),
        ])  # fmt: skip
        before = ledger.account(long_).balance  # 300,000 − 100,000 margin − 200 fee
        results = submit_sequenced(exchange, [
            AddMargin(at, long_, market, 30_000),
            AddMargin(at, long_, market, 500_000),  # more than is left
            AddMargin(at, long_, market, 20_000),
        ])  # fmt: skip
        assert [type(r).__name__ for r in results] == ["Accepted", "MarketError", "Accepted"]
        assert ledger.account(long_).balance == before - 50_000
        margin = ledger.account(exchange.accounts.margin_usd).balance
        assert margin == 2 * 100_000 + 50_000 == sum(exchange.engine.futures.collateral.values())
        again = open_venue(ledger)
        assert again.engine.futures.collateral == exchange.engine.futures.collateral
        assert ledger.verify().ok
