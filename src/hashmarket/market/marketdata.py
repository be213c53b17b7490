"""Market data: what the exchange publishes, as pure functions of its book and its trades.

* :func:`depth` — the L2 book: per side the best ``levels`` prices with the total size
  resting at each (the book's own :meth:`~hashmarket.market.book.OrderBook.depth`);
* :func:`tape` — the trade tape of one market, newest first;
* :func:`bars` — OHLCV bars of 1 minute, 1 hour or 1 day from trades: integer prices in the
  product's unit, volume in its size unit (TH/s for hashpower, contracts for futures,
  GPU-hours for GPU blocks); only intervals with a trade get a bar;
* :func:`hashpower_premium` — each UTC day's volume-weighted hashpower price (sats per PH/s
  per day) against that day's published hashprice fixing (BTC per PH/s per day);
* :func:`gpu_trade_quotes` — GPU block trades as quotes the GPU-hour index can take beside the
  providers' published prices (:mod:`hashmarket.index.gpu_quotes`).

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
from hashmarket.market.book import OrderBook
from hashmarket.market.gpu import GpuTrade
from hashmarket.market.orders import Trade
from hashmarket.market.products import HASHPOWER, NS_PER_S, S_PER_DAY, S_PER_HOUR

if TYPE_CHECKING:
    from hashmarket.chain.history import NetworkHistory
    from hashmarket.index.gpu_quotes import QuoteTable

SATS_PER_BTC = 100_000_000
# GPU blocks of at least this many hours are quoted as reserved capacity, shorter ones as
# on-demand; none is spot, since a block on the exchange cannot be taken back.
RESERVED_MIN_HOURS = 30 * 24
EXCHANGE_PROVIDER = "hashmarket-exchange"
EXCHANGE_REGION = "exchange"


@dataclass(frozen=True, slots=True)
class Depth:
    """The aggregated book: ``(price, size)`` per level, best first on each side."""

    market: str
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "market": self.market,
            "bids": [list(level) for level in self.bids],
            "asks": [list(level) for level in self.asks],
        }


def depth(book: OrderBook, *, levels: int | None = 10) -> Depth:
    """The best ``levels`` price levels per side (all of them for ``None``)."""
    if levels is not None and levels < 1:
        raise MarketError("market_field", command="depth", field="levels", value=levels,
                          problem="must be at least 1")  # fmt: skip
    bids, asks = book.depth(levels)
    return Depth(book.market, tuple(bids), tuple(asks))


def tape(
    trades: Sequence[Trade], *, market: str, limit: int = 100, after_trade_id: int = 0
) -> list[Trade]:
    """The market's trades after ``after_trade_id``, newest first, at most ``limit``."""
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
        return {"1m": 60, "1h": S_PER_HOUR, "1d": S_PER_DAY}[self.value]


@dataclass(frozen=True, slots=True)
class Bar:
    """Open, high, low and close prices of the interval starting at ``start_ns``, the volume
    traded in it (the product's size unit) and the number of trades."""

    start_ns: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    trades: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_ns": self.start_ns,
            "start_utc": dt.datetime.fromtimestamp(self.start_ns // NS_PER_S, dt.UTC).isoformat(),
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
            "trades": self.trades,
        }


def _volume(trade: Trade | GpuTrade) -> int:
    if isinstance(trade, GpuTrade):  # GPU-hours: GPUs × whole hours of the block
        return trade.gpus * (trade.end_s - trade.start_s) // S_PER_HOUR
    return trade.size


def bars(trades: Iterable[Trade | GpuTrade], *, interval: Interval | str) -> list[Bar]:
    """OHLCV bars of ``trades`` (one market's, in the order they traded), oldest first."""
    try:
        step_ns = Interval(interval).seconds * NS_PER_S
    except ValueError:
        known = ", ".join(i.value for i in Interval)
        raise MarketError("market_unknown", command="bars", field="interval", what="interval",
                          value=interval, known=known) from None  # fmt: skip
    out: list[Bar] = []
    start = o = h = lo = c = v = n = 0
    for trade in trades:
        bucket = trade.ts_ns - trade.ts_ns % step_ns
        if n and bucket != start:
            out.append(Bar(start, o, h, lo, c, v, n))
            n = 0
        if not n:
            start, o, h, lo, v = bucket, trade.price, trade.price, trade.price, 0
        h, lo, c = max(h, trade.price), min(lo, trade.price), trade.price
        v += _volume(trade)
        n += 1
    if n:
        out.append(Bar(start, o, h, lo, c, v, n))
    return out


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


PREMIUM_QUANTUM = Decimal("0.000001")
VWAP_QUANTUM = Decimal("0.01")


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
        day = dt.datetime.fromtimestamp(trade.ts_ns // NS_PER_S, dt.UTC).date()
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
    return {
        dt.datetime.fromtimestamp(t.ts_ns // NS_PER_S, dt.UTC).date()
        for t in trades
        if t.market == HASHPOWER
    }


def published_btc_fixings(
    history: NetworkHistory, days: Iterable[dt.date]
) -> dict[dt.date, Decimal]:
    """The published FPPS fixing in BTC per PH/s per day (at the index's tick) of each day
    that has one; days outside the history or without a value are left out."""
    from hashmarket.index.fixings import fixings  # pandas: only when asked for

    out = {}
    for day in sorted(days):
        if history.first_date <= day <= history.last_date:
            found = fixings(history.between(day, day), currency="btc")
            if found:
                out[day] = found[0].value
    return out


def gpu_trade_quotes(
    trades: Sequence[GpuTrade], *, provider: str = EXCHANGE_PROVIDER
) -> QuoteTable:
    """GPU block trades as index quotes: the trade's time, the model, the exchange as provider
    and region, the term from the block's length, USD per GPU-hour and the GPU-hours traded
    as volume (so the index's volume weighting counts a trade by its size)."""
    from hashmarket.index.gpu_quotes import QuoteTable, Term  # numpy: only when asked for

    hours = [(t.end_s - t.start_s) // S_PER_HOUR for t in trades]
    return QuoteTable.from_arrays(
        time_s=[t.ts_ns // NS_PER_S for t in trades],
        provider=[provider] * len(trades),
        gpu_model=[t.model for t in trades],
        region=[EXCHANGE_REGION] * len(trades),
        term=[(Term.RESERVED if h >= RESERVED_MIN_HOURS else Term.ON_DEMAND).value for h in hours],
        price_usd_per_gpu_hour=[t.price / 100 for t in trades],
        volume_gpu_hours=[t.gpus * h for t, h in zip(trades, hours, strict=True)],
        path="<exchange trades>",
    )


def with_exchange_quotes(published: QuoteTable, trades: Sequence[GpuTrade]) -> QuoteTable:
    """The published quotes followed by the exchange's trades as quotes, in one table."""
    from hashmarket.index.gpu_quotes import QuoteTable

    if not trades:
        return published
    ours = gpu_trade_quotes(trades)
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
