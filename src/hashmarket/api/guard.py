"""What every request passes through before a route: size limit, well-formed text,
authentication (with a per-address limit on failures), per-key rate limit and idempotency of
state-changing requests.

Idempotency is one mechanism for every state-changing route, kept in the ledger's database
(:mod:`hashmarket.ledger.idempotency`) so it holds across server processes and restarts: the
first request with an ``Idempotency-Key`` claims it atomically; a concurrent request with the
same key and body waits for that one and gets its response (``Idempotent-Replayed: true``),
as does any later replay; the same key with a different request gets 409. Claims and
responses are group-committed by the service's record writer (:mod:`.record_writer`); the
response is sent only after its record committed. The exchange's commands (paths under one
of ``claimed_by_route``) are claimed inside the exchange's own transaction instead
(:mod:`.market_service`): the guard only hands the route the key and the request's hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hashmarket.api.keys import NOT_CACHED, ApiKey
from hashmarket.api.problems import problem, problem_for
from hashmarket.api.record_writer import ClaimSlot, RequestKey
from hashmarket.api.state import ServiceState
from hashmarket.api.text import unstorable, unstorable_json
from hashmarket.errors import HashmarketError
from hashmarket.ledger import Outcome, StoredResponse, idempotency

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IN_FLIGHT_POLL_S = 0.05  # how often a duplicate asks whether the first request has finished


@dataclass
class TokenBucket:
    """A rate limit per key: ``rate_per_s`` sustained, ``burst`` at once."""

    rate_per_s: float
    burst: float
    max_keys: int = 100_000  # past this many keys, those back to a full bucket are forgotten
    _levels: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _level(self, key: str, now_s: float) -> float:
        level, last_s = self._levels.get(key, (self.burst, now_s))
        return min(self.burst, level + (now_s - last_s) * self.rate_per_s)

    def wait(self, key: str, now_s: float) -> float:
        """0 if ``key`` has a token left, else the seconds until it has (nothing is taken)."""
        with self._lock:
            level = self._level(key, now_s)
        return 0.0 if level >= 1 else (1 - level) / self.rate_per_s

    def allow(self, key: str, now_s: float) -> float:
        """Take a token: 0 if the request may go ahead, else the seconds until it may."""
        with self._lock:
            level = self._level(key, now_s)
            if len(self._levels) >= self.max_keys:
                self._forget_full(now_s)
            if level >= 1:
                self._levels[key] = (level - 1, now_s)
                return 0.0
            self._levels[key] = (level, now_s)
            return (1 - level) / self.rate_per_s

    def _forget_full(self, now_s: float) -> None:
        full = [k for k in self._levels if self._level(k, now_s) >= self.burst]
        for k in full:
            del self._levels[k]


def too_many(detail: str, wait_s: float) -> Response:
    limited = problem(429, "Too Many Requests", f"{detail}; retry in {wait_s:.2f} s")
    limited.headers["Retry-After"] = str(max(1, round(wait_s + 0.5)))
    return limited


def request_sha256(request: Request, body: bytes) -> str:
    parts = [request.method.encode(), request.url.path.encode(), request.url.query.encode(), body]
    return hashlib.sha256(b"\n".join(parts)).hexdigest()


class GuardMiddleware:
    """A plain ASGI middleware (no task and no stream per request, which Starlette's
    ``BaseHTTPMiddleware`` would add to every authenticated request): the route gets the
    body it read replayed, and only a claimed request's response is captured, to record."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        state: ServiceState,
        max_body_bytes: int,
        limiter: TokenBucket,
        auth_failures: TokenBucket,
        idempotency_exempt: frozenset[str],
        idempotency_wait_s: float,
        claimed_by_route: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.state = state
        self.max_body_bytes = max_body_bytes
        self.limiter = limiter
        self.auth_failures = auth_failures
        self.idempotency_exempt = idempotency_exempt
        self.idempotency_wait_s = idempotency_wait_s
        self.claimed_by_route = claimed_by_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Fast path: an anonymous read has no body, no key to check and nothing to record.
        if scope["type"] != "http" or (
            scope["method"] in ("GET", "HEAD")
            and not any(name == b"authorization" for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self.dispatch(request, _replaying(scope, receive, send, self.app))
        if response is not None:
            await response(scope, receive, send)

    async def dispatch(self, request: Request, call_next: Downstream) -> Response | None:
        """The refusal to send, the response of a claimed request, or None once the request
        went through to the app (which has answered it)."""
        body, refused = await self._read_body(request)
        if refused is not None:
            return refused
        refused = await self._authenticate(request)
        if refused is not None:
            return refused
        principal: ApiKey | None = request.state.principal
        if principal is not None:
            wait_s = self.limiter.allow(principal.key_id, time.monotonic())
            if wait_s > 0:
                return too_many("rate limit exceeded", wait_s)
        path = request.url.path
        if (
            request.method in MUTATING_METHODS
            and path.startswith("/api/")
            and path not in self.idempotency_exempt
            and principal is not None
        ):
            return await self._idempotent(request, call_next, principal, body)
        await call_next(body, None)
        return None

    async def _read_body(self, request: Request) -> tuple[bytes, Response | None]:
        """The body of a state-changing request, or the refusal of an oversized or
        unstorable one (a path or query with a NUL is refused too)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return b"", self._too_large()
        body = b""
        if request.method in MUTATING_METHODS:
            body = await request.body()
            if len(body) > self.max_body_bytes:
                return body, self._too_large()
            bad_text = unstorable_json(body)
            if bad_text is not None:
                where, what = bad_text
                return body, problem(422, "Invalid request", f"{where}: holds {what}", field=where)
        query = "".join(v for _, v in request.query_params.multi_items())
        path_problem = unstorable(request.url.path) or unstorable(query)
        if path_problem is not None:
            return body, problem(400, "Invalid request", f"the path or query holds {path_problem}")
        return body, None

    async def _authenticate(self, request: Request) -> Response | None:
        """Sets ``request.state.principal`` (None when anonymous or refused) and
        ``auth_failed``. An address whose failures used up its allowance gets 429 before its
        key is even looked at, so guessing cannot go faster than the allowance."""
        request.state.principal = None
        request.state.auth_failed = False
        authorization = request.headers.get("authorization", "")
        if not authorization:
            return None
        address = request.client.host if request.client is not None else "unknown"
        wait_s = self.auth_failures.wait(address, time.monotonic())
        if wait_s > 0:
            return too_many("too many failed authentications from this address", wait_s)
        scheme, _, token = authorization.partition(" ")
        key = None
        if scheme.lower() == "bearer":
            store = self.state.store
            found = store.authenticate_cached(token.strip())  # a fresh cached key: no thread hop
            if found is NOT_CACHED:
                found = await run_in_threadpool(store.authenticate, token.strip())
            key = found if isinstance(found, ApiKey) else None
        if key is None:
            self.auth_failures.allow(address, time.monotonic())
        request.state.principal = key
        request.state.auth_failed = key is None
        return None

    async def _idempotent(
        self, request: Request, call_next: Downstream, principal: ApiKey, body: bytes
    ) -> Response:
        idempotency_key = request.headers.get("idempotency-key", "").strip()
        if not idempotency_key or len(idempotency_key) > 200:
            return problem(
                400,
                "Idempotency-Key required",
                "state-changing requests need an Idempotency-Key header (1 to 200 characters)",
                field="Idempotency-Key",
            )
        scope = principal.key_id
        digest = request_sha256(request, body)
        if request.url.path.startswith(self.claimed_by_route):
            keyed = RequestKey(scope, idempotency_key, digest)
            return await self._run_keyed(request, call_next, keyed, body)
        records = self.state.record_writer
        claim = await self._claim(
            idempotency_key, lambda: records.claim(scope, idempotency_key, digest)
        )
        if isinstance(claim, Response):
            return claim
        assert claim.token is not None
        slot = ClaimSlot(scope, idempotency_key, claim.token)
        return await self._run_claimed(request, call_next, slot, body)

    async def _run_claimed(
        self, request: Request, call_next: Downstream, slot: ClaimSlot, body: bytes
    ) -> Response:
        """Run the request that holds the claim; store its response, or give the claim up
        if the server failed (5xx or an exception) so that a retry runs it again."""
        records = self.state.record_writer
        captured = _Captured()
        try:
            await call_next(body, captured)
        except BaseException:
            await asyncio.wrap_future(records.release(slot))
            raise
        content = b"".join(captured.chunks)
        headers = {k: v for k, v in captured.headers.items() if k.lower() != "content-length"}
        content_type = headers.get("content-type", "application/json")
        if captured.status < 500:
            record = StoredResponse(captured.status, content_type, content)
            await asyncio.wrap_future(records.complete(slot, record))
        else:
            await asyncio.wrap_future(records.release(slot))
        return Response(
            content, status_code=captured.status, headers=headers, media_type=content_type
        )

    async def _run_keyed(
        self, request: Request, call_next: Downstream, keyed: RequestKey, body: bytes
    ) -> Response:
        """Run an exchange command's request, which claims its key in the exchange's own
        transaction (``request.state.claim``) and sets ``request.state.recorded`` when its
        response is settled there: recorded, replayed or refused for its key. Any other
        answer under 500 (a refusal, which executed nothing) is recorded here, claim and
        response in one operation; if the key was taken meanwhile, its answer is sent."""
        request.state.claim = keyed
        request.state.recorded = False
        captured = _Captured()
        await call_next(body, captured)
        content = b"".join(captured.chunks)
        headers = {k: v for k, v in captured.headers.items() if k.lower() != "content-length"}
        content_type = headers.get("content-type", "application/json")
        if not request.state.recorded and captured.status < 500:
            record = StoredResponse(captured.status, content_type, content)
            records = self.state.record_writer
            claim = await self._claim(keyed.key, lambda: records.record(keyed, record))
            if isinstance(claim, Response):
                return claim  # the key was taken meanwhile: its answer
        return Response(
            content, status_code=captured.status, headers=headers, media_type=content_type
        )

    async def _claim(
        self, idempotency_key: str, attempt: Callable[[], Future[idempotency.Claim]]
    ) -> idempotency.Claim | Response:
        """Run ``attempt`` (a claim through the record writer) until the key is this
        request's, every :data:`IN_FLIGHT_POLL_S` while a live request holds it; else the
        answer the key gives: its stored response, a 409, or why the database failed."""
        deadline = time.monotonic() + self.idempotency_wait_s
        while True:
            try:
                claim = await asyncio.wrap_future(attempt())
            except HashmarketError as error:  # the ledger's database cannot be reached
                return problem_for(error)
            if claim.outcome is Outcome.CLAIMED:
                return claim
            if claim.outcome is Outcome.MISMATCH:
                return reused(idempotency_key)
            if claim.outcome is Outcome.REPLAY:
                assert claim.response is not None
                return replayed(claim.response)
            if time.monotonic() >= deadline:
                return in_progress(idempotency_key)
            await asyncio.sleep(IN_FLIGHT_POLL_S)

    def _too_large(self) -> Response:
        return problem(413, "Request body too large", f"the limit is {self.max_body_bytes:,} bytes")


class _Captured:
    """A response the app sent, kept to be recorded before it goes out."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))


# Runs the app on the request with its body replayed, sending to ``send`` (None: the client).
Downstream = Callable[[bytes, Send | None], Awaitable[None]]


def _replaying(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> Downstream:
    # The guard reads the body only of a state-changing request. Any other request still has
    # its body message in the client's channel: replaying one as well would leave that
    # message to look like the next event (the compute gate took it for the client leaving).
    body_read = scope["method"] in MUTATING_METHODS

    async def call(body: bytes, to: Send | None) -> None:
        if not body_read:
            await app(scope, receive, send if to is None else to)
            return
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay() -> Message:
            # The body once, then the client's channel (a disconnect, when it comes).
            return pending.pop() if pending else await receive()

        await app(scope, replay, send if to is None else to)

    return call


def reused(idempotency_key: str) -> Response:
    return problem(
        409,
        "Idempotency-Key reused",
        "this Idempotency-Key was already used for a different request",
        field="Idempotency-Key",
        value=idempotency_key,
    )


def in_progress(idempotency_key: str) -> Response:
    return problem(
        409,
        "Request in progress",
        "a request with this Idempotency-Key is still being processed; retry later",
        field="Idempotency-Key",
        value=idempotency_key,
    )


def replayed(stored: StoredResponse) -> Response:
    return Response(
        stored.body,
        status_code=stored.status,
        media_type=stored.content_type,
        headers={"Idempotent-Replayed": "true"},
    )
