"""One exchange per service process, fed by one thread: the sequencer.

Routes hand commands to :meth:`MarketService.submit` and await the answer. The sequencer
thread takes every command waiting, stamps each with the clock (never before the previous
one), and submits them as one group commit (:func:`hashmarket.market.venue.submit_sequenced`):
under load a batch holds many orders and the ledger commits once for all of them. After the
batch it publishes the changed books and the new trades to the feed (:mod:`.market_feed`).

Several worker processes (``hashmarket serve --workers N``) each run a sequencer on the same
database. The ``market_log`` table orders them: every batch first replays, inside its write
transaction, what other workers logged (see :mod:`hashmarket.market.venue`), so it never
races another for the log's next seq. Between batches the thread follows the
log every :data:`FOLLOW_S` seconds, so each worker's book and feed reach what the others
accepted within that time.

A command submitted with a :class:`Recording` (every command an HTTP route runs under an
``Idempotency-Key``) has its key claimed, and its response recorded, inside the batch's own
transaction, so an order costs one commit and the order and the response it got commit
together: a crash leaves either both or neither. Before any command of the batch runs, each
recorded command claims its key (:func:`hashmarket.ledger.idempotency.claim_in`): a key
completed for the same request replays its response and the command is not run; a key used
for a different request is refused (409); a key held by a live request on another route
makes the command wait, outside the batch, and be submitted again; a key claimed earlier in
the same batch for the same request gets that command's response. The write transaction
excludes every other process's exchange batch (SQLite's write lock, PostgreSQL's lock on the
ledger head), so a key committed by another worker is seen here; a claim being inserted by
another route's record writer on PostgreSQL makes the insert wait for it and then see it.
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

from hashmarket.api.guard import IN_FLIGHT_POLL_S
from hashmarket.api.market_feed import MarketFeed
from hashmarket.api.record_writer import RequestKey, take_batch
from hashmarket.api.state import ServiceState
from hashmarket.errors import MarketError
from hashmarket.ledger import Outcome, Store, StoredResponse, idempotency
from hashmarket.market import (
    BAR_INTERVALS_S,
    Accepted,
    Bar,
    BarSeries,
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
    """Where a command's HTTP response goes: the request's idempotency key (claimed in the
    command's batch), and how the command's answer (with the exchange as it stands after
    the command) becomes the response."""

    request: RequestKey
    render: Callable[[Answer, Exchange], StoredResponse]


@dataclass(frozen=True, slots=True)
class Recorded:
    """A recorded command's outcome. ``CLAIMED``: it ran and ``response`` is its answer,
    recorded already if ``recorded`` (a refusal's is not: it executed nothing, and the
    guard records it); ``REPLAY``: it did not run, ``response`` is the one its key holds;
    ``MISMATCH``: the key holds another request; ``IN_FLIGHT``: the key is held by a live
    request elsewhere (after waiting for it as long as the service waits)."""

    outcome: Outcome
    response: StoredResponse | None = None
    recorded: bool = True


Pending = tuple[Command, "Future[Any]", Recording | None]


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
        # Every market's bars on every interval, kept up to date with its trades on the
        # sequencer's thread (read under ``lock``): a bars request reads bars, not trades.
        self._bars: dict[tuple[str, int], BarSeries] = {}

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

    async def submit_recorded(self, command: Command, recording: Recording) -> Recorded:
        """Run ``command`` under its request's idempotency key, claimed in the command's own
        batch (see :class:`Recorded`); while another route's live request holds the key,
        submit it again every :data:`IN_FLIGHT_POLL_S` for up to the service's
        ``idempotency_wait_s``."""
        if self._thread is None:
            await asyncio.to_thread(self.start)
        self.feed.loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.state.config.idempotency_wait_s
        while True:
            future: Future[Recorded] = Future()
            self._queue.put((command, future, recording))
            answer = await asyncio.wrap_future(future)
            if answer.outcome is not Outcome.IN_FLIGHT or time.monotonic() >= deadline:
                return answer
            await asyncio.sleep(IN_FLIGHT_POLL_S)

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

    def bars(self, market: str, *, interval_s: int, last: int | None = None) -> list[Bar]:
        """``market``'s OHLCV bars on ``interval_s`` (one of :data:`BAR_INTERVALS_S`), oldest
        first, the ``last`` ones if given, as of the last batch."""
        self.start()
        with self.lock:
            series = self._bars.get((market, interval_s))
            return [] if series is None else series.bars(last=last)

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
            self._add_bars(_by_market(self._exchange.engine.trades))
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
        lease_ns = round(self.state.config.idempotency_lease_s * 1e9)
        claims = _BatchClaims(exchange, [recording for _, _, recording in batch], lease_ns)
        keyed = claims.any()
        try:
            with self.state.ledger(), self.lock:
                before = exchange.head[0]
                results = submit_sequenced(
                    exchange,
                    commands,
                    on_commit=claims.on_commit if keyed else None,
                    admit=claims.admit if keyed else None,
                    clock_stamped=True,
                )
                if exchange.head[0] - before != sum(isinstance(r, Accepted) for r in results):
                    markets = set(exchange.engine.books)  # it replayed others' commands too
        except BaseException as error:
            for _, future, _ in batch:
                future.set_exception(error)
            return
        self.batches += 1
        answers = claims.answers(results) if keyed else results
        for (_, future, _), answer in zip(batch, answers, strict=True):
            future.set_result(answer)  # committed: answered even if publishing fails
        self._publish(markets)

    def _add_bars(self, by_market: dict[str, list[Any]]) -> None:
        for market, fills in by_market.items():
            for interval_s in BAR_INTERVALS_S.values():
                series = self._bars.get((market, interval_s))
                if series is None:
                    series = self._bars[(market, interval_s)] = BarSeries(interval_s)
                series.extend(fills)

    def _publish(self, markets: set[str]) -> None:
        exchange = self._exchange
        assert exchange is not None
        trades = exchange.engine.trades
        fresh = trades[self._trades_seen :]
        self._trades_seen = len(trades)
        by_market = _by_market(fresh)
        with self.lock:
            self._add_bars(by_market)
            for market in markets | set(by_market):
                book = exchange.engine.books.get(market)
                if book is not None:
                    self.feed.publish(book, by_market.get(market, ()))


def _by_market(trades: list[Any]) -> dict[str, list[Any]]:
    by_market: dict[str, list[Any]] = {}
    for trade in trades:
        by_market.setdefault(trade.market, []).append(trade)
    return by_market


class _BatchClaims:
    """The idempotency keys of one batch's recorded commands, claimed in the batch's own
    transaction before any command runs (:meth:`admit`) and completed with the accepted
    commands' responses before it commits (:meth:`on_commit`)."""

    def __init__(
        self, exchange: Exchange, recordings: list[Recording | None], lease_ns: int
    ) -> None:
        self.exchange = exchange
        self.recordings = recordings
        self.lease_ns = lease_ns
        self.admitted: list[int] = []
        self.claims: dict[int, idempotency.Claim] = {}
        self.same_as: dict[int, int] = {}  # a repeat in this batch -> the command it repeats
        self.responses: dict[int, StoredResponse] = {}

    def any(self) -> bool:
        return any(r is not None for r in self.recordings)

    def admit(self, store: Store) -> list[int]:
        """Claim every recorded command's key; the indices of the commands to run."""
        now_ns = self.exchange.ledger.clock.now_ns()
        keyed: dict[int, RequestKey] = {}
        for i, recording in enumerate(self.recordings):
            if recording is None:
                self.admitted.append(i)
            else:
                keyed[i] = recording.request
        # In (scope, key) order, as the record writer takes its rows, so that a PostgreSQL
        # record-writer batch and this one never wait on each other's rows; the sort is
        # stable, so a key's commands keep their order in the batch.
        first: dict[tuple[str, str], int] = {}
        for i in sorted(keyed, key=lambda i: (keyed[i].scope, keyed[i].key)):
            request = keyed[i]
            earlier = first.get((request.scope, request.key))
            if earlier is not None and keyed[earlier].request_sha256 == request.request_sha256:
                self.same_as[i] = earlier  # the same request twice: the second gets the first's
                continue
            claim = idempotency.claim_in(
                store,
                request.scope,
                request.key,
                request.request_sha256,
                now_ns=now_ns,
                lease_ns=self.lease_ns,
            )
            self.claims[i] = claim
            if claim.outcome is Outcome.CLAIMED:
                first[(request.scope, request.key)] = i
                self.admitted.append(i)
        self.admitted.sort()
        return list(self.admitted)

    def on_commit(self, store: Store, results: list[Answer]) -> int:
        """Render each run command's response; record an accepted one's under its claim and
        give a refused one's claim up (it executed nothing: the guard records its answer,
        and a batch of refusals alone then rolls back as it always did)."""
        now_ns = self.exchange.ledger.clock.now_ns()
        written = 0
        for i, result in zip(self.admitted, results, strict=True):
            recording = self.recordings[i]
            if recording is None:
                continue
            response = recording.render(result, self.exchange)
            self.responses[i] = response
            request, token = recording.request, self.claims[i].token
            assert token is not None
            if isinstance(result, Accepted):
                # Claimed in this transaction, so no one else can hold it: this completes it.
                idempotency.complete_in(
                    store, request.scope, request.key, token, response, now_ns=now_ns
                )
                written += 1
            else:
                idempotency.release_in(store, request.scope, request.key, token)
        return written

    def answers(self, results: list[Answer]) -> list[Answer | Recorded]:
        """After the commit: each command's answer, in the batch's order."""
        ran = dict(zip(self.admitted, results, strict=True))
        out: list[Answer | Recorded] = []
        for i, recording in enumerate(self.recordings):
            if recording is None:
                out.append(ran[i])
            elif i in self.same_as:
                out.append(Recorded(Outcome.REPLAY, self.responses[self.same_as[i]]))
            elif i in ran:
                accepted = isinstance(ran[i], Accepted)
                out.append(Recorded(Outcome.CLAIMED, self.responses[i], recorded=accepted))
            else:
                claim = self.claims[i]
                out.append(Recorded(claim.outcome, claim.response))
        return out
