"""Idempotency records group-committed: one writer thread with its own long-lived connection
to the ledger's database commits every record operation waiting in one transaction.

A state-changing request claims its ``Idempotency-Key`` before it runs and completes the
claim with its response after (:mod:`hashmarket.ledger.idempotency`). Each of those is a
commit, and on SQLite with ``synchronous=FULL`` a commit is an fsync behind the one write
lock: done one request at a time they bounded the service at a few hundred requests per
second. Here the guard hands each operation to :class:`RecordWriter` and awaits its future;
the writer takes all the operations waiting (up to :data:`MAX_BATCH`), applies them in order
in one records transaction and answers each only after the commit, so a request is
acknowledged only once its record is durable. Under load one fsync serves many requests.

The exchange's commands claim nothing here: their keys are claimed, and their responses
recorded, inside the exchange's own group-commit transaction
(:mod:`hashmarket.api.market_service`), so an order costs one commit and an order and its
record are durable together. Only a response the exchange did not record (a refusal, which
executed nothing) comes here, claimed and completed in one operation (:meth:`record`).

The writer also forgets records older than the service's retention: every
:data:`PRUNE_EVERY_S`, between batches, it deletes up to :data:`PRUNE_ROWS` of the oldest in
a transaction of their own (again at once while there are more), so the table holds about a
retention's worth of requests and no pass holds the write lock for long.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from hashmarket.ledger import Ledger, Store, StoredResponse, idempotency

LOG = logging.getLogger(__name__)
MAX_BATCH = 512
PRUNE_EVERY_S = 60.0
PRUNE_ROWS = 5_000

# One record operation: what it does inside the batch's transaction, given the batch's
# ledger-clock time; ordered within a batch by the (scope, key) it touches.
Operation = Callable[[Store, int], Any]
Queued = tuple[tuple[str, str], Operation, "Future[Any]"]
T = TypeVar("T")


def take_batch(waiting: queue.SimpleQueue[T | None], first: T, most: int) -> list[T]:
    """``first`` and the items already waiting behind it, up to ``most`` in all, in the order
    they came; a stop (``None``) met on the way is put back for the thread's loop to see."""
    batch = [first]
    while len(batch) < most:
        try:
            item = waiting.get_nowait()
        except queue.Empty:
            break
        if item is None:
            waiting.put(None)
            break
        batch.append(item)
    return batch


@dataclass(frozen=True, slots=True)
class ClaimSlot:
    """The claim a running request holds: whoever completes it presents the token."""

    scope: str
    key: str
    token: str


@dataclass(frozen=True, slots=True)
class RequestKey:
    """A request under an ``Idempotency-Key`` that is claimed where it runs (the exchange's
    commands): the key's scope (the API key id), the key and the request's hash."""

    scope: str
    key: str
    request_sha256: str


class RecordWriter:
    """Claims, completions and releases of idempotency records, committed in batches by one
    thread on its own connection to ``ledger_url`` (opened at first use, closed by
    :meth:`stop`)."""

    def __init__(
        self,
        ledger_url: str,
        *,
        lease_ns: int,
        retention_ns: int | None = None,
        prune_every_s: float = PRUNE_EVERY_S,
    ) -> None:
        self.ledger_url = ledger_url
        self.lease_ns = lease_ns
        self.retention_ns = retention_ns  # None: records are kept
        self.prune_every_s = prune_every_s
        self.batches = 0  # transactions committed (operations / batches = the batching)
        self.pruned = 0  # records forgotten after their retention
        self._next_prune_s = 0.0  # monotonic time of the next pass
        self._queue: queue.SimpleQueue[Queued | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def claim(self, scope: str, key: str, request_sha256: str) -> Future[idempotency.Claim]:
        lease_ns = self.lease_ns

        def op(store: Store, now_ns: int) -> idempotency.Claim:
            return idempotency.claim_in(
                store, scope, key, request_sha256, now_ns=now_ns, lease_ns=lease_ns
            )

        return self._put((scope, key), op)

    def complete(self, slot: ClaimSlot, response: StoredResponse) -> Future[bool]:
        def op(store: Store, now_ns: int) -> bool:
            return idempotency.complete_in(
                store, slot.scope, slot.key, slot.token, response, now_ns=now_ns
            )

        return self._put((slot.scope, slot.key), op)

    def release(self, slot: ClaimSlot) -> Future[None]:
        def op(store: Store, _: int) -> None:
            idempotency.release_in(store, slot.scope, slot.key, slot.token)

        return self._put((slot.scope, slot.key), op)

    def record(self, request: RequestKey, response: StoredResponse) -> Future[idempotency.Claim]:
        """Claim ``request``'s key and complete it with ``response`` in one operation. The
        claim's outcome says what was stored: ``CLAIMED``, this response; ``REPLAY``, the
        same request's earlier one; ``MISMATCH`` or ``IN_FLIGHT``, nothing."""
        lease_ns = self.lease_ns
        scope, key = request.scope, request.key

        def op(store: Store, now_ns: int) -> idempotency.Claim:
            claim = idempotency.claim_in(
                store, scope, key, request.request_sha256, now_ns=now_ns, lease_ns=lease_ns
            )
            if claim.outcome is idempotency.Outcome.CLAIMED:
                assert claim.token is not None
                idempotency.complete_in(store, scope, key, claim.token, response, now_ns=now_ns)
            return claim

        return self._put((scope, key), op)

    def stop(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=5)
                self._thread = None

    def _put(self, slot: tuple[str, str], op: Operation) -> Future[Any]:
        self.start()
        future: Future[Any] = Future()
        self._queue.put((slot, op, future))
        return future

    def start(self) -> None:
        """Start the writer thread and open its connection (idempotent)."""
        with self._start_lock:
            if self._thread is None:
                ready: Future[None] = Future()
                thread = threading.Thread(
                    target=self._run, args=(ready,), name="idempotency-records", daemon=True
                )
                thread.start()
                ready.result()  # the connection is open (or this raises why not)
                self._thread = thread

    def _run(self, ready: Future[None]) -> None:
        try:
            ledger = Ledger.open(self.ledger_url, create=True)
        except BaseException as error:
            ready.set_exception(error)
            return
        ready.set_result(None)
        with ledger:
            while True:
                try:
                    first = self._queue.get(timeout=self._until_prune_s())
                except queue.Empty:
                    self._prune(ledger)
                    continue
                if first is None:
                    return
                self._commit(ledger, take_batch(self._queue, first, MAX_BATCH))
                if self._until_prune_s() == 0:
                    self._prune(ledger)

    def _until_prune_s(self) -> float | None:
        if self.retention_ns is None:
            return None
        return max(0.0, self._next_prune_s - time.monotonic())

    def _prune(self, ledger: Ledger) -> None:
        """One pass: forget up to :data:`PRUNE_ROWS` records claimed before the retention."""
        assert self.retention_ns is not None
        deleted = 0
        try:
            before_ns = ledger.clock.now_ns() - self.retention_ns
            with ledger.records() as store:
                deleted = idempotency.prune_in(store, before_ns=before_ns, limit=PRUNE_ROWS)
        except Exception as error:  # the records stay; the next pass tries again
            LOG.warning("idempotency records: pruning failed: %s", error)
        self.pruned += deleted
        more = deleted == PRUNE_ROWS
        self._next_prune_s = time.monotonic() + (0.0 if more else self.prune_every_s)

    def _commit(self, ledger: Ledger, batch: list[Queued]) -> None:
        # One lock order for every process's batches, so two PostgreSQL transactions cannot
        # wait on each other's rows; the sort is stable, so one key's operations keep the
        # order they arrived in.
        batch.sort(key=lambda queued: queued[0])
        try:
            now_ns = ledger.clock.now_ns()
            with ledger.records() as store:
                results = [op(store, now_ns) for _, op, _ in batch]
        except BaseException as error:  # nothing of the batch committed: every waiter hears why
            LOG.warning("idempotency records: a batch of %d failed: %s", len(batch), error)
            for _, _, future in batch:
                future.set_exception(error)
            return
        self.batches += 1
        for (_, _, future), result in zip(batch, results, strict=True):
            future.set_result(result)
