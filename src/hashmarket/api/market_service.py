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

A command submitted with a :class:`Recording` (every command an HTTP route runs under an
``Idempotency-Key``) has its response rendered and its idempotency record completed inside
the batch's own transaction, so the order and the response it got commit together: a crash
can leave a claim without an order (a retry after the lease runs it, once) but never an
order without its response (a retry replays it). If another request took the claim over in
the meantime (its lease ran out), the batch is rolled back and run again without that
command, which is answered 409 and not executed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hashmarket.api.market_feed import MarketFeed
from hashmarket.api.problems import problem
from hashmarket.api.record_writer import ClaimSlot, take_batch
from hashmarket.api.state import ServiceState
from hashmarket.errors import MarketError
from hashmarket.ledger import Store, StoredResponse, idempotency
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

Answer = Accepted | MarketError


@dataclass(frozen=True, slots=True)
class Recording:
    """Where a command's HTTP response goes: the request's claim on its idempotency record,
    and how the command's answer (with the exchange as it stands after the command) becomes
    the response."""

    claim: ClaimSlot
    render: Callable[[Answer, Exchange], StoredResponse]


Pending = tuple[Command, "Future[Any]", Recording | None]


class ClaimsLostError(Exception):
    """Some commands' claims were taken over before their batch committed (by index)."""

    def __init__(self, lost: list[int]) -> None:
        super().__init__(f"{len(lost)} idempotency claim(s) taken over before the commit")
        self.lost = lost


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
        future: Future[Answer] = Future()
        self._queue.put((command, future, None))
        return await asyncio.wrap_future(future)

    async def submit_recorded(
        self, command: Command, recording: Recording
    ) -> tuple[StoredResponse, bool]:
        """Run ``command`` and answer with its response, and whether that is recorded
        already: an accepted command's is, under the request's claim in the command's own
        transaction; a refusal's is not (it executed nothing, so the guard records it as any
        other response). A 409 if the claim was lost counts as recorded: nothing is to be."""
        if self._thread is None:
            await asyncio.to_thread(self.start)
        self.feed.loop = asyncio.get_running_loop()
        future: Future[tuple[StoredResponse, bool]] = Future()
        self._queue.put((command, future, recording))
        return await asyncio.wrap_future(future)

    def submit_nowait(self, command: Command) -> Future[Answer]:
        """Queue a command from any thread; the future holds its answer."""
        self.start()
        future: Future[Answer] = Future()
        self._queue.put((command, future, None))
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
            batch = take_batch(self._queue, first, MAX_BATCH)
            try:
                self._batch(batch)
            except Exception as error:  # answered already, or answer every waiter now
                LOG.exception("market sequencer: a batch failed")
                for _, future, _ in batch:
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
        commands = [dataclasses.replace(c, ts_ns=now) for c, _, _ in batch]
        markets: set[str] = set()
        for command in commands:
            if isinstance(command, PlaceOrder):
                markets.add(command.market)
            elif isinstance(command, CancelOrder | ReplaceOrder):
                market = engine.order_market.get(command.order_id)
                if market is not None:
                    markets.add(market)
        recordings = [recording for _, _, recording in batch]
        responses: list[StoredResponse | None] = []
        on_commit = None
        if any(r is not None for r in recordings):

            def on_commit(store: Store, results: list[Answer]) -> int:
                responses[:] = self._record(store, recordings, results)
                pairs = zip(recordings, results, strict=True)
                return sum(rec is not None and isinstance(r, Accepted) for rec, r in pairs)

        try:
            with self.state.ledger(), self.lock:
                before = exchange.head[0]
                results = submit_sequenced(
                    exchange, commands, on_commit=on_commit, clock_stamped=True
                )
                if exchange.head[0] - before != sum(isinstance(r, Accepted) for r in results):
                    markets = set(exchange.engine.books)  # it replayed others' commands too
        except ClaimsLostError as lost:
            self._without(batch, lost.lost)
            return
        except BaseException as error:
            for _, future, _ in batch:
                future.set_exception(error)
            return
        self.batches += 1
        for i, ((_, future, recording), result) in enumerate(zip(batch, results, strict=True)):
            # Committed: answered even if publishing fails.
            if recording is None:
                future.set_result(result)
            else:
                future.set_result((responses[i], isinstance(result, Accepted)))
        self._publish(markets)

    def _record(
        self, store: Store, recordings: list[Recording | None], results: list[Answer]
    ) -> list[StoredResponse | None]:
        """Inside the batch's transaction: render every recorded command's response and record
        an accepted one's (a refusal's is left to the guard: recording it here would commit a
        transaction that changes nothing else, and the ledger's head with it); raises
        :class:`ClaimsLostError` if a claim is no longer this request's."""
        exchange = self._exchange
        assert exchange is not None
        now_ns = exchange.ledger.clock.now_ns()
        responses: list[StoredResponse | None] = []
        lost = []
        for i, (recording, result) in enumerate(zip(recordings, results, strict=True)):
            if recording is None:
                responses.append(None)
                continue
            response = recording.render(result, exchange)
            claim = recording.claim
            if isinstance(result, Accepted) and not idempotency.complete_in(
                store, claim.scope, claim.key, claim.token, response, now_ns=now_ns
            ):
                lost.append(i)
            responses.append(response)
        if lost:
            raise ClaimsLostError(lost)
        return responses

    def _without(self, batch: list[Pending], lost: list[int]) -> None:
        """Answer the commands whose claims were lost (not executed) and run the rest again."""
        taken = problem(
            409,
            "Request in progress",
            "another request with this Idempotency-Key took it over; retry later",
            field="Idempotency-Key",
        )
        for i in lost:
            lost_response = StoredResponse(409, taken.media_type or "", bytes(taken.body))
            batch[i][1].set_result((lost_response, True))
        rest = [pending for i, pending in enumerate(batch) if i not in set(lost)]
        if rest:
            self._batch(rest)

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
