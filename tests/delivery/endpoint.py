"""The Stratum endpoint on a background event loop, for tests that connect real sockets."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable
from fractions import Fraction
from typing import Any, TypeVar

from hashmarket.delivery import ContractEndpoint, HashpowerContract, IntervalRecord, Job
from hashmarket.delivery.server import StratumEndpoint

T = TypeVar("T")
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def contract(contract_id: str = "c1", **changes: Any) -> HashpowerContract:
    terms: dict[str, Any] = {
        "contract_id": contract_id,
        "buyer_account_id": 10,
        "seller_account_id": 11,
        "price_sats_per_ph_day": 5_000_000,
        "hashrate_ths": Fraction(1, 1_000_000),  # 1 MH/s: a CPU miner's order of magnitude
        "budget_sats": 1_000,
        "start": START,
        "end": START + dt.timedelta(days=1),
        "pending_transfer_id": 500,
        "interval_s": 3_600,
    }
    terms.update(changes)
    return HashpowerContract(**terms)


class Clock:
    def __init__(self, now_s: int) -> None:
        self.now = now_s

    def __call__(self) -> int:
        return self.now


class RunningEndpoint:
    def __init__(
        self,
        terms: HashpowerContract,
        *,
        difficulty: Fraction | int,
        clock: Clock | None = None,
        on_interval: Callable[[IntervalRecord], None] | None = None,
    ) -> None:
        self.clock = clock or Clock(terms.start_s + 60)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.core = ContractEndpoint(terms, difficulty=difficulty, now_s=self.clock)
        self.server = StratumEndpoint(self.core, on_interval=on_interval)
        self.port = self.run(self.server.start())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()

        return self.run(wrapped())

    def publish(self, job: Job) -> None:
        self.call(lambda: self.server.publish(job))

    def close_interval(self) -> IntervalRecord:
        return self.call(self.server.close_interval)

    def stop(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
