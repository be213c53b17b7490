"""Market data as the command line, the HTTP service and the feed publish it, on top of the
engine's own :mod:`hashmarket.market.data` (depth, trades, bars, GPU quotes):

* :func:`book_depth` — L2 depth of one market, every level when ``levels`` is None;
* :func:`tape` — the trade tape, newest first, at most ``limit``;
* :class:`Interval` — bar widths by name (``1m``, ``1h``, ``1d``) for :func:`interval_bars`;
* :func:`hashpower_premium` — per UTC day, the volume-weighted hashpower price against that
  day's published hashprice fixing (:func:`~hashmarket.market.data.premium` compares one
  price with one index value; a day's trades are compared with the day's fixing here), with
  :func:`trade_days` and :func:`published_btc_fixings` to find the fixings;
* :func:`with_exchange_quotes` — the providers' published GPU-hour quotes and the exchange's
  GPU trades (:func:`~hashmarket.market.data.gpu_quote_table`) in one quote table;
* ``…_record`` — JSON-ready forms.

Nothing here reads a clock or a store: the same trades give the same numbers.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hashmarket.errors import MarketError
from hashmarket.market import data
from hashmarket.market.engine import MatchingEngine
from hashmarket.market.gpu import GpuTrade
from hashmarket.market.orders import Trade
from hashmarket.market.products import HASHPOWER, NS_PER_S

if TYPE_CHECKING:
    from hashmarket.chain import NetworkHistory
    from hashmarket.index import QuoteTable

SATS_PER_BTC = 100_000_000
PREMIUM_QUANTUM = Decimal("0.000001")
VWAP_QUANTUM = Decimal("0.01")


def _utc(ts_ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ns // NS_PER_S, dt.UTC)


def book_depth(engine: MatchingEngine, *, market: str, levels: int | None = 10) -> data.Depth:
    """The best ``levels`` price levels per side (every level for ``None``)."""
    if levels is not None and levels < 1:
        raise MarketError("market_field", command="depth", field="levels", value=levels,
                          problem="must be at least 1")  # fmt: skip
    if levels is None:
        book = engine.books[market]
        levels = max(len(book.bid_size), len(book.ask_size), 1)
    return data.depth(engine, market=market, levels=levels)


def depth_record(depth: data.Depth) -> dict[str, Any]:
    return {
        "market": depth.market,
        "bids": [list(level) for level in depth.bids],
        "asks": [list(level) for level in depth.asks],
    }


def tape(
    trades: Sequence[Trade], *, market: str, limit: int = 100, after_trade_id: int = 0
) -> list[Trade]:
    """The market's trades after ``after_trade_id``, newest first, at most ``limit`` (reads
    from the end: the cost is the tape's length, not the history's)."""
    out: list[Trade] = []
    for trade in reversed(trades):
        if trade.trade_id <= after_trade_id or len(out) >= limit:
            break
        if trade.market == market:
            out.append(trade)
    return out


class Interval(enum.StrEnum):
    MINUTE = "1m"
    HOUR = "1h"
    DAY = "1d"

    @property
    def seconds(self) -> int:
        return data.BAR_INTERVALS_S[self.value]


def interval_bars(trades: Iterable[Trade], *, interval: Interval | str) -> list[data.Bar]:
    """OHLCV bars of one market's trades (in trade order) by interval name."""
    try:
        width = Interval(interval)
    except ValueError:
        known = ", ".join(i.value for i in Interval)
        raise MarketError("market_unknown", command="bars", field="interval", what="interval",
                          value=interval, known=known) from None  # fmt: skip
    return data.bars(trades, interval_s=width.seconds)


def bar_record(bar: data.Bar) -> dict[str, Any]:
    return {
        "start_ns": bar.start_ns,
        "start_utc": _utc(bar.start_ns).isoformat(),
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
        "vwap": bar.vwap,
        "trades": bar.trades,
    }


@dataclass(frozen=True, slots=True)
class PremiumDay:
    """One UTC day of the hashpower market against the index: the volume-weighted price of the
    day's trades and the fixing, both in sats per PH/s per day, and the premium (negative: a
    discount) as a fraction of the index."""

    day: dt.date
    vwap_sats_per_ph_day: Decimal
    volume_ths: int
    trades: int
    index_sats_per_ph_day: Decimal
    premium: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "vwap_sats_per_ph_day": str(self.vwap_sats_per_ph_day),
            "volume_ths": self.volume_ths,
            "trades": self.trades,
            "index_sats_per_ph_day": str(self.index_sats_per_ph_day),
            "premium": str(self.premium),
        }


def hashpower_premium(
    trades: Iterable[Trade], *, index_btc_per_ph_day: Mapping[dt.date, Decimal]
) -> list[PremiumDay]:
    """Per UTC day with hashpower trades and a fixing: VWAP ÷ index − 1, to 6 decimals (the
    VWAP to 0.01 sat). Days without a published fixing are left out, not guessed."""
    notional: dict[dt.date, int] = {}
    volume: dict[dt.date, int] = {}
    count: dict[dt.date, int] = {}
    for trade in trades:
        if trade.market != HASHPOWER:
            continue
        day = _utc(trade.ts_ns).date()
        notional[day] = notional.get(day, 0) + trade.price * trade.size
        volume[day] = volume.get(day, 0) + trade.size
        count[day] = count.get(day, 0) + 1
    out = []
    for day in sorted(notional):
        fixing = index_btc_per_ph_day.get(day)
        if fixing is None:
            continue
        index_sats = Decimal(fixing) * SATS_PER_BTC
        vwap = Decimal(notional[day]) / Decimal(volume[day])
        premium = (vwap / index_sats - 1).quantize(PREMIUM_QUANTUM)
        out.append(
            PremiumDay(
                day, vwap.quantize(VWAP_QUANTUM), volume[day], count[day], index_sats, premium
            )
        )
    return out


def trade_days(trades: Iterable[Trade]) -> set[dt.date]:
    """The UTC days on which hashpower traded."""
    return {_utc(t.ts_ns).date() for t in trades if t.market == HASHPOWER}


def published_btc_fixings(
    history: NetworkHistory, days: Iterable[dt.date]
) -> dict[dt.date, Decimal]:
    """The published FPPS fixing in BTC per PH/s per day (at the index's tick) of each day
    that has one; days outside the history or without a value are left out."""
    from hashmarket.index import fixings  # pandas: only when asked for

    out = {}
    for day in sorted(days):
        if history.first_date <= day <= history.last_date:
            found = fixings(history.between(day, day), currency="btc")
            if found:
                out[day] = found[0].value
    return out


def with_exchange_quotes(published: QuoteTable, trades: Sequence[GpuTrade]) -> QuoteTable:
    """The published quotes followed by the exchange's GPU trades as quotes, in one table:
    the GPU-hour index then fixes on both, each trade weighted by its GPU-hours."""
    from hashmarket.index import QuoteTable

    if not trades:
        return published
    ours = data.gpu_quote_table(trades)
    return QuoteTable.from_arrays(
        time_s=[*published.time_s, *ours.time_s],
        provider=[*published.provider, *ours.provider],
        gpu_model=[*published.gpu_model, *ours.gpu_model],
        region=[*published.region, *ours.region],
        term=[*published.term, *ours.term],
        price_usd_per_gpu_hour=[*published.price_usd_per_gpu_hour, *ours.price_usd_per_gpu_hour],
        volume_gpu_hours=[*published.volume_gpu_hours, *ours.volume_gpu_hours],
        path=published.path,
    )
