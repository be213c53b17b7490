"""Idempotency records: one response per (scope, key), shared by every process on a ledger.

A client that retries a state-changing request sends the same ``Idempotency-Key``; the HTTP
service must apply the request once and answer every retry with the first response, whichever
server process receives it. The record lives in the ledger's database (migration 4), so the
claim is one atomic insert against a primary key:

1. :func:`claim` inserts ``(scope, key, request hash, claim token)``. The first insert wins;
   every other caller reads the row and learns whether it holds a **different** request
   (refuse), a **completed** one (replay the stored response) or one still **in flight**
   (wait and ask again).
2. The winner runs the request and :func:`complete` stores the response under its token.
3. A request that failed on the server's side is :func:`release`\\ d, so a retry runs it again.

A claim whose process died keeps its row in flight; after ``lease_ns`` a claim of the same
request takes it over (compare-and-set on the old token). Ledger writes carry client ids, so a
takeover after a write that did commit replays that write's outcome rather than repeating it.

Records are not kept for ever: :func:`prune_in` forgets those claimed before a cut-off
(the service's retention, a day by default), after which a key is new again.

Each step also exists inside a transaction the caller holds (:func:`claim_in`,
:func:`complete_in`, :func:`release_in`): the HTTP service commits many requests' steps in one
transaction, and the exchange completes its commands' records in the transaction that
executes them, so an order and its response commit together.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

from hashmarket.ledger import idempotency_store
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.store import Store


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    content_type: str
    body: bytes


class Outcome(enum.Enum):
    CLAIMED = "claimed"  # run the request, then complete() or release()
    REPLAY = "replay"  # the same request completed: answer with its response
    MISMATCH = "mismatch"  # the key was used for a different request
    IN_FLIGHT = "in_flight"  # the same request is running elsewhere: ask again later


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Outcome
    token: str | None = None  # with CLAIMED: what complete() and release() must present
    response: StoredResponse | None = None  # with REPLAY


def claim(ledger: Ledger, scope: str, key: str, request_sha256: str, *, lease_ns: int) -> Claim:
    """Claim ``key`` within ``scope`` (an API key id) for the request hashed ``request_sha256``."""
    now_ns = ledger.clock.now_ns()
    with ledger.records() as store:
        return claim_in(store, scope, key, request_sha256, now_ns=now_ns, lease_ns=lease_ns)


def complete(ledger: Ledger, scope: str, key: str, token: str, response: StoredResponse) -> bool:
    """Store the response of a claimed request; False if the claim was taken over meanwhile
    (its lease ran out), in which case the other claimant's response is the one kept."""
    with ledger.records() as store:
        return complete_in(store, scope, key, token, response, now_ns=ledger.clock.now_ns())


def release(ledger: Ledger, scope: str, key: str, token: str) -> None:
    """Give a claim up (the request failed on the server's side): a retry runs it again."""
    with ledger.records() as store:
        release_in(store, scope, key, token)


# -- the same steps inside a transaction the caller holds ---------------------------------------
# A writer that commits many requests' records at once (the HTTP service's group commit), or
# the exchange's own transaction completing its commands' records, calls these.


def claim_in(
    store: Store, scope: str, key: str, request_sha256: str, *, now_ns: int, lease_ns: int
) -> Claim:
    """:func:`claim` inside the caller's records (or ledger) transaction."""
    token = secrets.token_hex(16)
    if idempotency_store.insert_claim(store, scope, key, request_sha256, token, now_ns):
        return Claim(Outcome.CLAIMED, token=token)
    row = idempotency_store.record(store, scope, key)
    stored_sha256, old_token, claimed_at_ns, status, content_type, body = row
    if stored_sha256 != request_sha256:
        return Claim(Outcome.MISMATCH)
    if status is not None:
        return Claim(Outcome.REPLAY, response=StoredResponse(status, content_type, bytes(body)))
    if now_ns - claimed_at_ns < lease_ns:
        return Claim(Outcome.IN_FLIGHT)
    taken = idempotency_store.take_over(
        store, scope, key, old_token=old_token, token=token, now_ns=now_ns
    )
    return Claim(Outcome.CLAIMED, token=token) if taken else Claim(Outcome.IN_FLIGHT)


def complete_in(
    store: Store, scope: str, key: str, token: str, response: StoredResponse, *, now_ns: int
) -> bool:
    """:func:`complete` inside the caller's transaction."""
    return idempotency_store.store_response(
        store,
        scope,
        key,
        token,
        status=response.status,
        content_type=response.content_type,
        body=response.body,
        now_ns=now_ns,
    )


def release_in(store: Store, scope: str, key: str, token: str) -> None:
    """:func:`release` inside the caller's transaction."""
    idempotency_store.delete_claim(store, scope, key, token)


def prune_in(store: Store, *, before_ns: int, limit: int) -> int:
    """Forget up to ``limit`` records claimed before ``before_ns`` (oldest first), inside the
    caller's records transaction; returns how many. A key whose record is gone is new again:
    a request that reuses it runs. The service keeps records for its retention (a day by
    default), far beyond any client's retries and any claim's lease."""
    return idempotency_store.delete_claimed_before(store, before_ns, limit)
