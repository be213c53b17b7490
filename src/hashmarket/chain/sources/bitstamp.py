"""Bitstamp's public API as a source of the daily BTC/USD close.

``GET /api/v2/ohlc/btcusd/?step=86400&limit=1000&start=UNIX&exclude_current_candle=true``
answers ``{"data": {"pair": "BTC/USD", "ohlc": [{"timestamp", "open", "high", "low",
"close", "volume"}, …]}}``, every value a string. A daily candle's ``timestamp`` is the start
of its UTC day and its ``close`` the last price of that day, so ``price_usd`` of day D is the
close of the candle of day D — the convention of the bundled files (the price at 00:00 UTC
of the next day). Only days that are over are stored; a day's close is final, so a later
run may fetch it again and store the same value.

The sync asks from the day after the last stored one (or ``start``) in pages of
:data:`PAGE_DAYS` candles and commits each page, so an interrupted run keeps what it stored.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hashmarket.chain.sources.http import HttpClient
from hashmarket.errors import SourceError
from hashmarket.units import SECONDS_PER_DAY

DEFAULT_URL = "https://www.bitstamp.net"
OHLC_PATH = "api/v2/ohlc/btcusd/"
PAGE_DAYS = 1000  # the most candles one answer holds
DEFAULT_BACKFILL_DAYS = 1000  # an empty store starts this many days back: one request


class PriceSink(Protocol):
    """Where daily prices go (``store.LocalStore`` for one source)."""

    def last_price_date(self) -> dt.date | None: ...
    def store_prices(
        self, rows: Sequence[tuple[dt.date, float]], *, url: str, synced_at: dt.datetime
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class PriceSyncResult:
    url: str
    fetched: int  # days stored by this run (new or confirmed)
    first_date: dt.date | None  # the first and last day this run stored
    last_date: dt.date | None
    complete: bool = True  # False: stopped at the deadline; the next run continues


def daily_closes(reply: Any, where: str) -> list[tuple[dt.date, float]]:
    """(day, close) from one OHLC answer, checked, in day order."""

    def bad(problem: str) -> SourceError:
        return SourceError("http_bad_reply", url=where, problem=problem)

    data = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("ohlc"), list):
        raise bad("expected an object with data.ohlc, a list of candles")
    candles = data["ohlc"]
    if data.get("pair") not in (None, "BTC/USD"):
        raise bad(f"data.pair is {data.get('pair')!r}, expected 'BTC/USD'")
    out: list[tuple[dt.date, float]] = []
    for i, candle in enumerate(candles):
        if not isinstance(candle, dict):
            raise bad(f"data.ohlc[{i}] is not an object")
        try:
            start_s = int(str(candle["timestamp"]))
            close = float(str(candle["close"]))
        except KeyError as missing:
            raise bad(f"data.ohlc[{i}] has no {missing.args[0]!r}") from None
        except ValueError:
            raise bad(
                f"data.ohlc[{i}]: timestamp {candle.get('timestamp')!r} or close "
                f"{candle.get('close')!r} is not a number"
            ) from None
        if start_s % SECONDS_PER_DAY:
            raise bad(f"data.ohlc[{i}]: timestamp {start_s} is not the start of a UTC day")
        if not math.isfinite(close) or close <= 0:
            raise bad(f"data.ohlc[{i}]: close {close!r} is not a positive price")
        day = dt.datetime.fromtimestamp(start_s, dt.UTC).date()
        if out and day <= out[-1][0]:
            raise bad(f"data.ohlc[{i}]: {day} does not follow {out[-1][0]}")
        out.append((day, close))
    return out


def sync_prices(
    client: HttpClient,
    sink: PriceSink,
    *,
    start: dt.date | None,
    clock: Callable[[], dt.datetime],
    deadline_s: float | None = None,
) -> PriceSyncResult:
    """Store the daily closes from the day after the last stored one (or ``start``) to
    yesterday (UTC)."""
    now = clock()
    today = now.astimezone(dt.UTC).date()
    last = sink.last_price_date()
    if last is not None:
        first = last + dt.timedelta(days=1)
        if start is not None and start < first:
            first = start  # asked to go back: fetch again from there
    else:
        first = start if start is not None else today - dt.timedelta(days=DEFAULT_BACKFILL_DAYS)
    stored: list[tuple[dt.date, float]] = []
    day = first
    stopped = False
    while day < today:
        if deadline_s is not None and time.monotonic() >= deadline_s:
            stopped = True
            break
        start_s = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
        params: dict[str, str | int] = {
            "step": SECONDS_PER_DAY,
            "limit": PAGE_DAYS,
            "start": start_s,
            "exclude_current_candle": "true",
        }
        reply = client.get_json(OHLC_PATH, params)
        rows = [(d, c) for d, c in daily_closes(reply, client.url(OHLC_PATH)) if day <= d < today]
        if not rows:
            break  # nothing newer (e.g. the exchange has no candle for these days yet)
        sink.store_prices(rows, url=client.base_url, synced_at=now)
        stored.extend(rows)
        day = rows[-1][0] + dt.timedelta(days=1)
    return PriceSyncResult(
        url=client.base_url,
        fetched=len(stored),
        first_date=stored[0][0] if stored else None,
        last_date=stored[-1][0] if stored else None,
        complete=not stopped,
    )
