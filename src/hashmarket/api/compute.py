"""Long computations (Monte Carlo pricing, curves, hedge plans, risk, dispatch) take turns.

Their routes are plain functions, so FastAPI runs each in a worker thread and the event loop keeps
answering everything else. On top of that, at most ``limit`` computations run at once (one per
core by default) and the rest wait for a turn without holding a thread. A request whose client
goes away while it waits is dropped before any work starts; one already running finishes in its
thread (Python cannot stop a thread) and its answer is discarded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class ComputeGate:
    """The turns: which paths take one, how many at once, and what happened so far."""

    paths: frozenset[str]
    limit: int
    started: int = 0
    waiting: int = 0
    dropped: int = 0  # clients that left while waiting: nothing was computed for them
    # anyio's semaphore binds to no event loop (a test client may run each request in its own).
    _slots: anyio.Semaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"limit must be at least 1, not {self.limit}")
        self._slots = anyio.Semaphore(self.limit)

    @property
    def free(self) -> int:
        return self._slots.value


class ComputeGateMiddleware:
    def __init__(self, app: ASGIApp, *, gate: ComputeGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.gate.paths:
            await self.app(scope, receive, send)
            return
        # The body is read first: while the request waits, the same channel is watched for
        # the client leaving, and the route gets the body replayed.
        body: list[Message] = []
        while not body or body[-1].get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gate.dropped += 1
                return
            body.append(message)
        turn = asyncio.ensure_future(self.gate._slots.acquire())
        gone = asyncio.ensure_future(receive())
        self.gate.waiting += 1
        try:
            await asyncio.wait({turn, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.gate.waiting -= 1
        if not turn.done() or turn.cancelled():
            turn.cancel()
            self.gate.dropped += 1
            return
        if gone.done():  # the turn came as the client left: give the turn back
            self.gate._slots.release()
            self.gate.dropped += 1
            return

        async def replay() -> Message:
            return body.pop(0) if body else await gone

        self.gate.started += 1
        try:
            await self.app(scope, replay, send)
        finally:
            self.gate._slots.release()
            gone.cancel()
