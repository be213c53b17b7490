"""The Stratum V1 endpoint on TCP: newline-delimited JSON-RPC, one asyncio protocol per miner.

The protocol works on whole buffers rather than on lines read one at a time: each chunk the
socket delivers is split into request lines, every line is answered, and the replies go out in
one write. A miner that pipelines shares (ASIC firmware does) costs one system call per chunk,
not per share. Lines longer than :data:`LINE_MAX_BYTES` close the connection: nothing honest
sends them.

A metering loop closes the contract's interval every ``interval_s`` seconds and hands each
:class:`~hashmarket.delivery.metering.IntervalRecord` to ``on_interval`` (which pays it on the
ledger and appends it to the delivery log, see :mod:`hashmarket.delivery.payments`). When the
budget is spent or the term is over the endpoint closes the last interval and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from hashmarket.delivery.metering import IntervalRecord
from hashmarket.delivery.shares import Job
from hashmarket.delivery.stratum import ContractEndpoint, StratumSession

LINE_MAX_BYTES = 16_384
TICK_S = 1.0


class StratumProtocol(asyncio.Protocol):
    """One miner's TCP connection."""

    def __init__(self, endpoint: ContractEndpoint) -> None:
        self.endpoint = endpoint
        self.session: StratumSession | None = None
        self.transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.session = self.endpoint.session()
        self.session.writer = transport.write
        self.session.closer = transport.close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session.closer = None
            self.session.close()

    def data_received(self, data: bytes) -> None:
        assert self.session is not None and self.transport is not None
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        if len(self._buffer) > LINE_MAX_BYTES:
            self.transport.close()
            return
        handle = self.session.handle_line
        out = [handle(line) for line in lines if line.strip()]
        if out:
            self.transport.write(b"".join(out))


class StratumEndpoint:
    """A running endpoint for one contract: the TCP server, job publishing and metering."""

    def __init__(
        self,
        endpoint: ContractEndpoint,
        *,
        on_interval: Callable[[IntervalRecord], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.on_interval = on_interval
        self.records: list[IntervalRecord] = []
        self.server: asyncio.Server | None = None
        self._meter_task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()
        # What stopped the metering loop, if it failed (a refused payment): the endpoint
        # stops accepting work rather than meter shares it may not be able to pay.
        self.failure: BaseException | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; return the port (``port=0`` picks a free one)."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: StratumProtocol(self.endpoint), host, port, backlog=1024
        )
        self._meter_task = asyncio.create_task(self._meter_loop())
        sockets = self.server.sockets
        return int(sockets[0].getsockname()[1])

    def publish(self, job: Job) -> None:
        """Send a new job to every authorized miner."""
        for session, line in self.endpoint.publish(job):
            if session.writer is not None:
                session.writer(line)

    def close_interval(self) -> IntervalRecord:
        """Close the open interval now (the metering loop calls this on its schedule)."""
        end_s = min(self.endpoint.now_s(), self.endpoint.contract.end_s)
        record = self.endpoint.meter.close(max(end_s, self.endpoint.meter.interval_start_s))
        self.records.append(record)
        if self.on_interval is not None:
            self.on_interval(record)
        return record

    async def _meter_loop(self) -> None:
        """Close an interval every ``interval_s``, or as soon as the open interval's work
        spends the rest of the budget (checked every ``TICK_S``), so a seller hashes at most
        a tick's worth of work that the budget can no longer pay."""
        endpoint = self.endpoint
        loop = asyncio.get_running_loop()
        due = loop.time() + endpoint.contract.interval_s
        try:
            while not endpoint.ended:
                await asyncio.sleep(max(0.0, min(TICK_S, due - loop.time())))
                if loop.time() >= due or endpoint.meter.open_work_spends_budget():
                    self.close_interval()
                    due = loop.time() + endpoint.contract.interval_s
        except Exception as exc:  # kept: stop() raises it for the caller
            self.failure = exc
            if self.server is not None:
                self.server.close()
            for session in list(endpoint.sessions):
                session.close()
        self.done.set()

    async def stop(self) -> None:
        """Stop listening, close the open interval and drop every connection."""
        if self._meter_task is not None:
            self._meter_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._meter_task
        if self.server is not None:
            self.server.close()
            for session in list(self.endpoint.sessions):
                session.close()
            await self.server.wait_closed()
        # The metering loop closed the last interval of a contract that ended on its own; a
        # failed loop leaves the open interval to the next run (its shares are not logged).
        if self.failure is None and (
            not self.endpoint.ended or self.endpoint.meter.open_work_hashes()
        ):
            self.close_interval()
        self.done.set()
        if self.failure is not None:
            raise self.failure
