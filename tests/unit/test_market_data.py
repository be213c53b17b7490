"""Market data as the interfaces publish it, from a known book and a known trade list, computed
by hand (the engine's own market data is tested in test_market_engine.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from hashmarket.errors import MarketError
from hashmarket.index.compute import gpu_fixings
from hashmarket.index.gpu_quotes import QuoteTable
from hashmarket.market.data import Bar, BarSeries, bars
from hashmarket.market.engine import MatchingEngine
from hashmarket.market.gpu import GpuTrade
from hashmarket.market.marketdata import (
    Interval,
    bar_record,
    book_depth,
    depth_record,
    hashpower_premium,
    interval_bars,
    tape,
    with_exchange_quotes,
)
from hashmarket.market.orders import PlaceOrder, RegisterHashrate, Side, Trade

DAY0 = int(dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp())  # 2026-01-05 00:00 UTC
NS = 1_000_000_000


def _trade(trade_id: int, at_s: int, price: int, size: int, market: str = "HASHPOWER") -> Trade:
    return Trade(trade_id, market, (DAY0 + at_s) * NS, price, size, 1, 2, 10, 20, Side.BUY)


TRADES = [
    _trade(1, 10, 50_000, 100),  # 00:00:10
    _trade(2, 50, 51_000, 200),  # 00:00:50
    _trade(3, 59, 49_500, 100),  # 00:00:59
    _trade(4, 60, 50_500, 300),  # 00:01:00, the next minute
    _trade(5, 5_400, 52_500, 100),  # 01:30:00
]


def test_book_depth_every_level_or_the_best() -> None:
    engine = MatchingEngine()
    engine.apply(RegisterHashrate(1, 20, 10_000))
    orders = [  # (side, price, size)
        (Side.BUY, 1_000, 100),
        (Side.BUY, 1_000, 200),
        (Side.BUY, 990, 150),
        (Side.BUY, 980, 100),
        (Side.SELL, 1_010, 100),
        (Side.SELL, 1_020, 300),
        (Side.SELL, 1_020, 100),
    ]
    for i, (side, price, size) in enumerate(orders, start=2):
        buy = side is Side.BUY
        engine.apply(PlaceOrder(i, 10 if buy else 20, "HASHPOWER", side, size, price,
                                budget_sats=10**6 if buy else None,
                                duration_s=3_600 if buy else None))  # fmt: skip
    two = book_depth(engine, market="HASHPOWER", levels=2)
    assert two.bids == ((1_000, 300), (990, 150))
    assert two.asks == ((1_010, 100), (1_020, 400))
    every = book_depth(engine, market="HASHPOWER", levels=None)
    assert every.bids == ((1_000, 300), (990, 150), (980, 100)) and len(every.asks) == 2
    assert depth_record(every)["asks"] == [[1_010, 100], [1_020, 400]]
    with pytest.raises(MarketError, match="levels"):
        book_depth(engine, market="HASHPOWER", levels=0)


def test_minute_hour_and_day_bars() -> None:
    t = DAY0 * NS
    # VWAPs: (50,000×100 + 51,000×200 + 49,500×100) ÷ 400 = 50,375; with 50,500×300 the hour
    # is 35,300,000 ÷ 700 = 50,428.57… → 50,429; the day 40,550,000 ÷ 800 = 50,687.5 → 50,688
    # (half to even).
    assert interval_bars(TRADES, interval="1m") == [
        Bar(t, 50_000, 51_000, 49_500, 49_500, 400, 50_375, 3),
        Bar(t + 60 * NS, 50_500, 50_500, 50_500, 50_500, 300, 50_500, 1),
        Bar(t + 5_400 * NS, 52_500, 52_500, 52_500, 52_500, 100, 52_500, 1),
    ]
    assert interval_bars(TRADES, interval="1h") == [
        Bar(t, 50_000, 51_000, 49_500, 50_500, 700, 50_429, 4),
        Bar(t + 3_600 * NS, 52_500, 52_500, 52_500, 52_500, 100, 52_500, 1),
    ]
    (day,) = interval_bars(TRADES, interval=Interval.DAY)
    assert day == Bar(t, 50_000, 52_500, 49_500, 52_500, 800, 50_688, 5)
    assert interval_bars([], interval="1d") == []
    assert bar_record(day)["start_utc"] == "2026-01-05T00:00:00+00:00"
    with pytest.raises(MarketError, match="'5m'"):
        interval_bars(TRADES, interval="5m")


def test_a_bar_series_fed_in_pieces_gives_the_bars_of_all_its_trades() -> None:
    """What a service keeps per market and interval: bars updated trade by trade equal the
    bars computed from every trade at once, whatever the pieces; ``last`` keeps the newest."""
    for interval_s in (60, 3_600, 86_400):
        series = BarSeries(interval_s)
        for piece in (TRADES[:1], [], TRADES[1:4], TRADES[4:]):
            series.extend(piece)
        assert series.bars() == bars(TRADES, interval_s=interval_s)
    minutes = BarSeries(60)
    minutes.extend(TRADES)
    assert minutes.bars(last=2) == interval_bars(TRADES, interval="1m")[-2:]
    assert BarSeries(60).bars() == []
    with pytest.raises(ValueError, match="interval_s"):
        BarSeries(0)


def test_tape_is_newest_first_per_market() -> None:
    mixed = [*TRADES[:2], _trade(6, 70, 5_000, 3, "HPF-2026-02"), *TRADES[2:]]
    assert [t.trade_id for t in tape(mixed, market="HASHPOWER")] == [5, 4, 3, 2, 1]
    assert [t.trade_id for t in tape(mixed, market="HASHPOWER", limit=2)] == [5, 4]
    assert [t.trade_id for t in tape(mixed, market="HASHPOWER", after_trade_id=3)] == [5, 4]
    assert [t.trade_id for t in tape(mixed, market="HPF-2026-02")] == [6]


def test_premium_to_the_hashprice_fixing() -> None:
    # VWAP = (50,000×100 + 51,000×200 + 49,500×100 + 50,500×300 + 52,500×100) ÷ 800 = 50,687.5
    # sats/PH/day; the fixing 0.0005 BTC/PH/day is 50,000 sats: a premium of 1.375 %.
    index = {dt.date(2026, 1, 5): Decimal("0.00050000"), dt.date(2026, 1, 6): Decimal("0.0006")}
    (day,) = hashpower_premium(TRADES, index_btc_per_ph_day=index)
    assert day.day == dt.date(2026, 1, 5)
    assert day.vwap_sats_per_ph_day == Decimal("50687.50")
    assert day.index_sats_per_ph_day == Decimal("50000")
    assert day.premium == Decimal("0.013750")
    assert (day.volume_ths, day.trades) == (800, 5)
    # A day without a published fixing is left out; a discount is negative.
    later = [_trade(7, 86_400 + 1, 48_000, 100)]
    (disc,) = hashpower_premium(later, index_btc_per_ph_day=index)
    assert disc.premium == Decimal("-0.200000")  # 48,000 ÷ 60,000 − 1
    assert hashpower_premium(later, index_btc_per_ph_day={}) == []


def test_premium_against_the_published_fixing() -> None:
    from hashmarket.chain.history import NetworkHistory
    from hashmarket.market.marketdata import published_btc_fixings, trade_days

    # 2025-01-10's FPPS fixing, fees included, is 0.00058154 BTC/PH/day (as the README's
    # token payout uses it); a day past the bundled history has none.
    day = dt.date(2025, 1, 10)
    at_s = int(dt.datetime(2025, 1, 10, 12, tzinfo=dt.UTC).timestamp()) - DAY0
    trades = [_trade(1, at_s, 58_000, 100), _trade(2, at_s + 60, 59_000, 300)]
    assert trade_days(trades) == {day}
    index = published_btc_fixings(NetworkHistory.load(), {day, dt.date(2031, 1, 1)})
    assert index == {day: Decimal("0.00058154")}
    (premium,) = hashpower_premium(trades, index_btc_per_ph_day=index)
    # VWAP (58,000 × 100 + 59,000 × 300) ÷ 400 = 58,750 against 58,154 sats: +1.0249 %
    assert premium.vwap_sats_per_ph_day == Decimal("58750.00")
    assert premium.premium == Decimal("0.010249")


def _gpu(trade_id: int, price: int, gpus: int, hours: int) -> GpuTrade:
    start = DAY0 + 86_400
    notional = price * gpus * hours
    return GpuTrade(
        trade_id, "H100", (DAY0 + 600) * NS, price, gpus, start, start + hours * 3_600,
        1, 2, 10, 20, Side.BUY, notional, 0, 0,
    )  # fmt: skip


def test_gpu_trades_join_the_published_quotes() -> None:
    # Three providers' reserved H100 prices of the day, one GPU-hour each, fix at the median
    # 2.10 USD; an exchange trade of 1 GPU for 2 hours at 2.05 weighs 2 GPU-hours and moves
    # the volume-weighted median to itself (cumulative weight 1, 3 of 5).
    published = QuoteTable.from_arrays(
        time_s=[DAY0 + 60, DAY0 + 120, DAY0 + 180],
        provider=["cloud-a", "cloud-b", "cloud-c"],
        gpu_model=["H100"] * 3,
        region=["us"] * 3,
        term=["reserved"] * 3,
        price_usd_per_gpu_hour=[2.00, 2.10, 2.20],
        volume_gpu_hours=[1, 1, 1],
    )
    trades = [_gpu(1, 205, 1, 2)]
    combined = with_exchange_quotes(published, trades)
    assert len(combined) == 4
    assert list(combined.provider)[-1] == "hashmarket"
    assert list(combined.volume_gpu_hours) == [1.0, 1.0, 1.0, 2.0]
    (alone,) = gpu_fixings(published)
    (both,) = gpu_fixings(combined)
    assert (alone.value, alone.n_quotes) == (Decimal("2.10"), 3)
    assert (both.value, both.n_quotes, both.n_outliers) == (Decimal("2.05"), 4, 0)
    assert both.volume_gpu_hours == 5.0
    assert with_exchange_quotes(published, []) is published
