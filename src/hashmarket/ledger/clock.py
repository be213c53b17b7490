"""The ledger clock: passed in, never global.

Journal timestamps are nanoseconds since the Unix epoch (UTC), strictly increasing: the
ledger stamps a batch at ``max(clock.now_ns(), last_timestamp + 1)`` and counts up from there,
so a clock that stalls or steps back never reorders the journal. Pending transfers expire
against these timestamps, not against wall time, which makes expiry reproducible with a
:class:`ManualClock`.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol

from hashmarket.ledger.model import NS_PER_S


class Clock(Protocol):
    def now_ns(self) -> int: ...


class SystemClock:
    """Wall time."""

    def now_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that moves only when told: for tests, simulations and replays."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def advance(self, seconds: int) -> None:
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        self._now_ns += seconds * NS_PER_S

    def set(self, now_ns: int) -> None:
        self._now_ns = now_ns


def day_start_ns(day: dt.date) -> int:
    """00:00 UTC of ``day`` in ledger-clock nanoseconds."""
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return int(midnight.timestamp()) * NS_PER_S


def ns_to_datetime(timestamp_ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp_ns // NS_PER_S, tz=dt.UTC).replace(
        microsecond=(timestamp_ns % NS_PER_S) // 1000
    )
