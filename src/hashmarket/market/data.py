"""Market data: pure functions of the engine's book and trade history.

* :func:`depth` — L2: the total size at each of the best price levels, per side;
* :func:`trades` — a market's trades in order, optionally after a trade id;
* :func:`bars` — OHLCV bars (1 minute, 1 hour, 1 day, or any whole number of seconds) with
  volume-weighted price, from trades; :class:`BarSeries` keeps them up to date as trades come;
* :func:`premium` — the hashpower market's price against the hashprice index, in basis points
  (positive: buyers pay more than mining earns, a premium; negative: a discount);
* :func:`gpu_quote_table` — GPU block trades as quotes of the GPU-hour index (``provider``
  ``hashmarket``, term ``reserved``: a block is bought ahead for a fixed window), volume in
  GPU-hours, ready for :func:`hashmarket.index.compute.compute_fixings`.

Prices stay integers in each market's unit; only the premium and the GPU quotes (which the
index layer keeps in floats, USD per GPU-hour) leave integers, each at one named step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from hashmarket.market.engine import MatchingEngine
from hashmarket.market.gpu import GpuTrade
from hashmarket.market.orders import Trade
from hashmarket.market.products import NS_PER_S, S_PER_HOUR
from hashmarket.money import DECIMAL, Rounding, divide_minor, round_minor

if TYPE_CHECKING:
    from hashmarket.index import QuoteTable

BAR_INTERVALS_S = {"1m": 60, "1h": 3_600, "1d": 86_400}
SATS_PER_BTC = 100_000_000


@dataclass(frozen=True, slots=True)
class Depth:
    market: str
    bids: tuple[tuple[int, int], ...]  # (price, size), best first
    asks: tuple[tuple[int, int], ...]

    @property
    def spread(self) -> int | None:
        return self.asks[0][0] - self.bids[0][0] if self.bids and self.asks else None


@dataclass(frozen=True, slots=True)
class Bar:
    """One interval's trades: open, high, low, close, total size and the volume-weighted
    price (rounded half to even to the market's integer unit), and how many trades."""

    start_ns: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    vwap: int
    trades: int


def depth(engine: MatchingEngine, *, market: str, levels: int = 10) -> Depth:
    bids, asks = engine.books[market].depth(levels)
    return Depth(market, tuple(bids), tuple(asks))


def trades(engine: MatchingEngine, *, market: str, after_trade_id: int = 0) -> list[Trade]:
    return [t for t in engine.trades if t.market == market and t.trade_id > after_trade_id]


def bars(fills: Iterable[Trade], *, interval_s: int) -> list[Bar]:
    """OHLCV bars of ``fills`` (in trade order) on UTC-aligned intervals; empty intervals
    are left out."""
    series = BarSeries(interval_s)
    series.extend(fills)
    return series.bars()


class BarSeries:
    """One market's bars on one interval, kept up to date trade by trade: :meth:`bars` gives
    what :func:`bars` would for every trade added so far, without reading them again, so a
    service can answer a bars request in time proportional to the bars, not the trades."""

    def __init__(self, interval_s: int) -> None:
        if type(interval_s) is not int or interval_s <= 0:
            raise ValueError(
                f"interval_s must be a positive whole number of seconds: {interval_s!r}"
            )
        self.width_ns = interval_s * NS_PER_S
        # One row per interval with trades: [start, open, high, low, close, volume,
        # notional, trades]; trades come in time order (the log's time never goes back).
        self._rows: list[list[int]] = []

    def extend(self, fills: Iterable[Trade]) -> None:
        rows, width = self._rows, self.width_ns
        current = rows[-1] if rows else None
        for t in fills:
            start = t.ts_ns - t.ts_ns % width
            if current is None or current[0] != start:
                current = [start, t.price, t.price, t.price, t.price, 0, 0, 0]
                rows.append(current)
            if t.price > current[2]:
                current[2] = t.price
            if t.price < current[3]:
                current[3] = t.price
            current[4] = t.price
            current[5] += t.size
            current[6] += t.price * t.size
            current[7] += 1

    def bars(self, *, last: int | None = None) -> list[Bar]:
        """The bars, oldest first; only the ``last`` ones if given."""
        rows = self._rows if last is None else self._rows[-last:]
        return [_bar(row) for row in rows]


def _bar(row: list[int]) -> Bar:
    start, first, high, low, last, volume, notional, n = row
    vwap = round_minor(DECIMAL.divide(Decimal(notional), Decimal(volume)), Rounding.HALF_EVEN)
    return Bar(start, first, high, low, last, volume, vwap, n)


@dataclass(frozen=True, slots=True)
class Premium:
    """The hashpower market's price (the last trade's, else the mid) against the index."""

    market_sats_per_ph_day: int
    index_sats_per_ph_day: int
    premium_bps: int  # (market / index − 1) × 10,000, rounded half to even
    source: str  # "last_trade" or "mid"


def premium(
    engine: MatchingEngine,
    *,
    hashprice_btc_per_ph_day: float | Decimal | str,
    market: str = "HASHPOWER",
) -> Premium | None:
    """The premium (or, negative, the discount) of the hashpower market to the hashprice index
    value given (BTC per PH/s per day, e.g. the day's published fixing); None without a trade
    or a two-sided book."""
    done = trades(engine, market=market)
    if done:
        price, source = done[-1].price, "last_trade"
    else:
        book = engine.books[market]
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return None
        price, source = divide_minor(bid + ask, 2, Rounding.DOWN), "mid"
    index = Decimal(str(hashprice_btc_per_ph_day)) * SATS_PER_BTC
    if index <= 0:
        raise ValueError(f"the index must be positive: {hashprice_btc_per_ph_day!r}")
    ratio = DECIMAL.divide(Decimal(price) - index, index) * 10_000
    return Premium(
        price,
        round_minor(index, Rounding.HALF_EVEN),
        round_minor(ratio, Rounding.HALF_EVEN),
        source,
    )


def gpu_quote_table(fills: Iterable[GpuTrade]) -> QuoteTable:
    """GPU block trades as GPU-hour index quotes (time: the trade's, in whole seconds)."""
    from hashmarket.index import QuoteTable

    rows = list(fills)
    return QuoteTable.from_arrays(
        time_s=[t.ts_ns // NS_PER_S for t in rows],
        provider=["hashmarket"] * len(rows),
        gpu_model=[t.model for t in rows],
        region=[""] * len(rows),
        term=["reserved"] * len(rows),
        price_usd_per_gpu_hour=[t.price / 100 for t in rows],  # cents → USD, the index's unit
        volume_gpu_hours=[t.gpus * (t.end_s - t.start_s) // S_PER_HOUR for t in rows],
        path="<hashmarket GPU trades>",
    )
