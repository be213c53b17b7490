"""The market feed: per market a channel with a sequence number, a snapshot and deltas.

A channel keeps its own copy of the market's aggregated book (price → size per side) and the
latest trades. After every batch of commands the sequencer calls :meth:`MarketFeed.publish`
with the book as it now is and the new trades: the changed levels become one ``book``
message and each trade one ``trade`` message, each with the channel's next ``seq``. A
subscriber gets a ``snapshot`` (the whole book, the recent trades and the ``seq`` it is
current to) and then every message with a higher ``seq``, so it can tell a gap (a message
whose ``seq`` is not one more than the last) and ask for a new snapshot.

Messages are JSON objects; a WebSocket frame is a JSON array of them. A subscriber gets at
most one frame every :data:`FRAME_INTERVAL_S` (50 ms): what was published meanwhile goes out
together in its next frame, so a busy market costs the server a send per subscriber per
interval rather than per batch. A level whose size is 0 has gone. A subscriber
more than :data:`MAX_BACKLOG` frames behind loses its oldest frames: its next ``seq`` jumps,
and it resyncs.

Publishing runs on the sequencer's thread, subscribers live on the event loop: the feed's
lock orders snapshots against publications, and frames reach the loop by one
``call_soon_threadsafe`` per batch, encoded once for all subscribers.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hashmarket.market import OrderBook, Trade

RECENT_TRADES = 50
MAX_BACKLOG = 2_000
FRAME_INTERVAL_S = 0.05  # a subscriber's frames are at least this far apart


@dataclass
class Channel:
    market: str
    seq: int = 0
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    trades: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_TRADES))
    subscribers: set[Subscriber] = field(default_factory=set)

    def snapshot(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "market": self.market,
            "seq": self.seq,
            "bids": sorted(([p, s] for p, s in self.bids.items()), reverse=True),
            "asks": sorted([p, s] for p, s in self.asks.items()),
            "trades": list(self.trades),
        }


class Subscriber:
    """One WebSocket's queue of encoded frames; ``after`` is, per market, the seq of the
    snapshot it was sent (older messages already in flight are skipped)."""

    def __init__(self) -> None:
        self.frames: deque[str] = deque()
        self.ready = asyncio.Event()
        self.after: dict[str, int] = {}
        self.dropped = 0

    def push(self, frame: str) -> None:
        if len(self.frames) >= MAX_BACKLOG:
            self.frames.popleft()
            self.dropped += 1
        self.frames.append(frame)
        self.ready.set()

    async def next_frame(self) -> str:
        """Every message queued so far, as one JSON array."""
        while not self.frames:
            self.ready.clear()
            await self.ready.wait()
        parts = list(self.frames)
        self.frames.clear()
        return "[" + ",".join(parts) + "]"


def _diff(old: dict[int, int], new: dict[int, int]) -> list[list[int]]:
    changed = [[p, s] for p, s in new.items() if old.get(p) != s]
    changed += [[p, 0] for p in old if p not in new]
    return changed


class MarketFeed:
    def __init__(self) -> None:
        self.channels: dict[str, Channel] = {}
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None

    def channel(self, market: str) -> Channel:
        found = self.channels.get(market)
        if found is None:
            found = self.channels[market] = Channel(market)
        return found

    def publish(self, book: OrderBook, trades: Iterable[Trade]) -> None:
        """The book as it is after a batch, and the batch's trades on it."""
        now_ns = time.time_ns()
        with self._lock:
            channel = self.channel(book.market)
            messages: list[dict[str, Any]] = []
            bids, asks = dict(book.bid_size), dict(book.ask_size)
            bid_changes, ask_changes = _diff(channel.bids, bids), _diff(channel.asks, asks)
            if bid_changes or ask_changes:
                channel.seq += 1
                channel.bids, channel.asks = bids, asks
                messages.append(
                    {
                        "type": "book",
                        "market": book.market,
                        "seq": channel.seq,
                        "bids": bid_changes,
                        "asks": ask_changes,
                        "published_ns": now_ns,
                    }
                )
            for trade in trades:
                channel.seq += 1
                record = {**trade.to_dict(), "type": "trade", "seq": channel.seq}
                channel.trades.appendleft(record)
                messages.append({**record, "published_ns": now_ns})
            if not messages or not channel.subscribers or self.loop is None:
                return
            frame = ",".join(json.dumps(m, separators=(",", ":")) for m in messages)
            first = messages[0]["seq"]
            subscribers = list(channel.subscribers)
        self.loop.call_soon_threadsafe(self._fan_out, book.market, first, frame, subscribers)

    @staticmethod
    def _fan_out(market: str, first: int, frame: str, subscribers: list[Subscriber]) -> None:
        for subscriber in subscribers:
            if first > subscriber.after.get(market, 0):
                subscriber.push(frame)

    def subscribe(self, subscriber: Subscriber, market: str) -> dict[str, Any]:
        """Register for ``market``'s messages and return its snapshot (sent before them)."""
        with self._lock:
            channel = self.channel(market)
            snapshot = channel.snapshot()
            subscriber.after[market] = channel.seq
            channel.subscribers.add(subscriber)
        return snapshot

    def unsubscribe(self, subscriber: Subscriber, market: str | None = None) -> None:
        with self._lock:
            for name, channel in self.channels.items():
                if market is None or name == market:
                    channel.subscribers.discard(subscriber)
