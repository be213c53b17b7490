"""One exchange per service process, fed by one thread: the sequencer.

Routes hand commands to :meth:`MarketService.submit` and await the answer. The sequencer
thread takes every command waiting, stamps each with the clock (never before the previous
one), and submits them as one group commit (:func:`hashmarket.market.venue.submit_sequenced`):
under load a batch holds many orders and the ledger commits once for all of them. After the
batch it publishes the changed books and the new trades to the feed (:mod:`.market_feed`).

Several worker processes (``hashmarket serve --workers N``) each run a sequencer on the same
database. The ``market_log`` table orders them: every batch first replays what other workers
logged, and a batch that raced another for the next seq fails as a whole and is retried
after replaying (see :mod:`hashmarket.market.venue`). Between batches the thread follows the
log every :data:`FOLLOW_S` seconds, so each worker's book and feed reach what the others
accepted within that time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from hashmarket.api.market_feed import MarketFeed
from hashmarket.api.state import ServiceState
from hashmarket.errors import MarketError
from hashmarket.market import (
    Accepted,
    CancelOrder,
    Command,
    Exchange,
    PlaceOrder,
    ReplaceOrder,
    catch_up,
    open_venue,
    submit_sequenced,
)

LOG = logging.getLogger(__name__)
MAX_BATCH = 512
FOLLOW_S = 0.25

Pending = tuple[Command, "Future[Accepted | MarketError]"]


class MarketService:
    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.feed = MarketFeed()
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._exchange: Exchange | None = None
        # Held while the sequencer changes the engine, and by readers (the routes' threads).
        self.lock = threading.Lock()
        self._trades_seen = 0
        self.batches = 0

    # -- from the routes --------------------------------------------------------------------

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                ready: Future[None] = Future()
                self._thread = threading.Thread(
                    target=self._run, args=(ready,), name="market-sequencer", daemon=True
                )
                self._thread.start()
                ready.result()  # the exchange is open (or this raises why not)

    async def submit(self, command: Command) -> Accepted | MarketError:
        if self._thread is None:  # the first command opens the exchange: not on the loop
            await asyncio.to_thread(self.start)
        self.feed.loop = asyncio.get_running_loop()
        future: Future[Accepted | MarketError] = Future()
        self._queue.put((command, future))
        return await asyncio.wrap_future(future)

    def submit_nowait(self, command: Command) -> Future[Accepted | MarketError]:
        """Queue a command from any thread; the future holds its answer."""
        self.start()
        future: Future[Accepted | MarketError] = Future()
        self._queue.put((command, future))
        return future

    @contextmanager
    def reading(self) -> Iterator[Exchange]:
        """The exchange between two batches, for reads from the routes' threads."""
        self.start()
        assert self._exchange is not None
        with self.lock:
            yield self._exchange

    def markets(self) -> frozenset[str]:
        self.start()
        assert self._exchange is not None
        return frozenset(self._exchange.engine.books)  # fixed by the configuration

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    # -- the sequencer thread ---------------------------------------------------------------

    def _run(self, ready: Future[None]) -> None:
        try:
            with self.state.ledger() as ledger:
                self._exchange = open_venue(ledger)
            self._trades_seen = len(self._exchange.engine.trades)
            for book in self._exchange.engine.books.values():
                self.feed.publish(book, ())
        except BaseException as error:
            ready.set_exception(error)
            return
        ready.set_result(None)
        while True:
            try:
                first = self._queue.get(timeout=FOLLOW_S)
            except queue.Empty:
                try:
                    self._follow()
                except Exception:  # the thread must outlive a failed read; the next tries again
                    LOG.exception("market sequencer: following the command log failed")
                continue
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                self._batch(batch)
            except Exception as error:  # answered already, or answer every waiter now
                LOG.exception("market sequencer: a batch failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)

    def _follow(self) -> None:
        exchange = self._exchange
        assert exchange is not None
        with self.state.ledger(), self.lock:
            replayed = catch_up(exchange)
        if replayed:
            self._publish(set(exchange.engine.books))

    def _batch(self, batch: list[Pending]) -> None:
        exchange = self._exchange
        assert exchange is not None
        engine = exchange.engine
        now = max(time.time_ns(), engine.last_ts_ns)
        commands = [dataclasses.replace(c, ts_ns=now) for c, _ in batch]
        markets: set[str] = set()
        for command in commands:
            if isinstance(command, PlaceOrder):
                markets.add(command.market)
            elif isinstance(command, CancelOrder | ReplaceOrder):
                market = engine.order_market.get(command.order_id)
                if market is not None:
                    markets.add(market)
        try:
            with self.state.ledger(), self.lock:
                before = exchange.head[0]
                results = submit_sequenced(exchange, commands)
                if exchange.head[0] - before != sum(isinstance(r, Accepted) for r in results):
                    markets = set(exchange.engine.books)  # it replayed others' commands too
        except BaseException as error:
            for _, future in batch:
                future.set_exception(error)
            return
        self.batches += 1
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)  # committed: answered even if publishing fails
        self._publish(markets)

    def _publish(self, markets: set[str]) -> None:
        exchange = self._exchange
        assert exchange is not None
        trades = exchange.engine.trades
        fresh = trades[self._trades_seen :]
        self._trades_seen = len(trades)
        by_market: dict[str, list[Any]] = {}
        for trade in fresh:
            by_market.setdefault(trade.market, []).append(trade)
        with self.lock:
            for market in markets | set(by_market):
                book = exchange.engine.books.get(market)
                if book is not None:
                    self.feed.publish(book, by_market.get(market, ()))
