"""What every request passes through before a route: size limit, authentication, per-key rate
limit and idempotency of state-changing requests.

Idempotency is one mechanism for every state-changing route: the first response to an
``Idempotency-Key`` is stored with a hash of the request; a replay gets that response back
(``Idempotent-Replayed: true``), the same key with a different request gets 409.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hashmarket.api.keys import ServiceStore, StoredResponse
from hashmarket.api.problems import problem
from hashmarket.api.text import unstorable, unstorable_json

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class TokenBucket:
    """Per-key rate limit: ``rate_per_s`` sustained, ``burst`` at once."""

    rate_per_s: float
    burst: float
    _levels: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, key: str, now_s: float) -> float:
        """0 if the request may go ahead, else the seconds until it may."""
        with self._lock:
            level, last_s = self._levels.get(key, (self.burst, now_s))
            level = min(self.burst, level + (now_s - last_s) * self.rate_per_s)
            if level >= 1:
                self._levels[key] = (level - 1, now_s)
                return 0.0
            self._levels[key] = (level, now_s)
            return (1 - level) / self.rate_per_s


class GuardMiddleware(BaseHTTPMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        *,
        store: ServiceStore,
        max_body_bytes: int,
        limiter: TokenBucket,
        idempotency_exempt: frozenset[str],
    ) -> None:
        super().__init__(app)
        self.store = store
        self.max_body_bytes = max_body_bytes
        self.limiter = limiter
        self.idempotency_exempt = idempotency_exempt
        self._in_flight: dict[tuple[str, str], asyncio.Lock] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Fast path: an anonymous read has no body, no key to check and nothing to record.
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and not any(name == b"authorization" for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return self._too_large()
        body = b""
        if request.method in MUTATING_METHODS:
            body = await request.body()
            if len(body) > self.max_body_bytes:
                return self._too_large()
            bad_text = unstorable_json(body)
            if bad_text is not None:
                field_path, what = bad_text
                return problem(
                    422, "Invalid request", f"{field_path}: holds {what}", field=field_path
                )
        path_problem = unstorable(request.url.path) or unstorable(
            "".join(v for _, v in request.query_params.multi_items())
        )
        if path_problem is not None:
            return problem(400, "Invalid request", f"the path or query holds {path_problem}")

        request.state.principal = None
        request.state.auth_failed = False
        authorization = request.headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            key = (
                await run_in_threadpool(self.store.authenticate, token.strip())
                if scheme.lower() == "bearer"
                else None
            )
            request.state.principal = key
            request.state.auth_failed = key is None
        principal = request.state.principal

        if principal is not None:
            wait_s = self.limiter.allow(principal.key_id, time.monotonic())
            if wait_s > 0:
                limited = problem(
                    429, "Too Many Requests", f"rate limit exceeded; retry in {wait_s:.2f} s"
                )
                limited.headers["Retry-After"] = str(max(1, round(wait_s)))
                return limited

        path = request.url.path
        needs_idempotency = (
            request.method in MUTATING_METHODS
            and path.startswith("/api/")
            and path not in self.idempotency_exempt
            and principal is not None
        )
        if not needs_idempotency:
            return await call_next(request)
        idempotency_key = request.headers.get("idempotency-key", "").strip()
        if not idempotency_key or len(idempotency_key) > 200:
            return problem(
                400,
                "Idempotency-Key required",
                "state-changing requests need an Idempotency-Key header (1 to 200 characters)",
                field="Idempotency-Key",
            )
        request_hash = hashlib.sha256(
            b"\n".join(
                [
                    request.method.encode(),
                    str(request.url.path).encode(),
                    request.url.query.encode(),
                    body,
                ]
            )
        ).hexdigest()
        slot = (principal.key_id, idempotency_key)
        lock = self._in_flight.setdefault(slot, asyncio.Lock())
        async with lock:  # a concurrent duplicate waits for the first and then replays it
            stored = await run_in_threadpool(self.store.stored_response, *slot)
            if stored is not None:
                if stored.request_sha256_hex != request_hash:
                    return problem(
                        409,
                        "Idempotency-Key reused",
                        "this Idempotency-Key was already used for a different request",
                        field="Idempotency-Key",
                        value=idempotency_key,
                    )
                return Response(
                    stored.body,
                    status_code=stored.status,
                    media_type=stored.content_type,
                    headers={"Idempotent-Replayed": "true"},
                )
            response = await call_next(request)
            content = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
            content_type = response.headers.get("content-type", "application/json")
            if response.status_code < 500:
                record = StoredResponse(request_hash, response.status_code, content_type, content)
                await run_in_threadpool(self.store.store_response, *slot, record)
            self._in_flight.pop(slot, None)
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return Response(
                content, status_code=response.status_code, headers=headers, media_type=content_type
            )

    def _too_large(self) -> Response:
        return problem(413, "Request body too large", f"the limit is {self.max_body_bytes:,} bytes")
