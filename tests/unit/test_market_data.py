"""Market data from a known book and a known trade list, computed by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from hashmarket.errors import MarketError
from hashmarket.index.compute import gpu_fixings
from hashmarket.market.book import OrderBook
from hashmarket.market.gpu import GpuTrade
from hashmarket.market.marketdata import (
    Bar,
    bars,
    depth,
    gpu_trade_quotes,
    hashpower_premium,
    tape,
    with_exchange_quotes,
)
from hashmarket.market.orders import Side, TimeInForce, Trade

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


def test_depth_aggregates_levels_best_first() -> None:
    book = OrderBook("HASHPOWER")
    orders = [  # (is_buy, price, size)
        (True, 1_000, 100),
        (True, 1_000, 200),
        (True, 990, 150),
        (True, 980, 100),
        (False, 1_010, 100),
        (False, 1_020, 300),
        (False, 1_020, 100),
    ]
    for i, (is_buy, price, size) in enumerate(orders, start=1):
        left, reason = book.place(i, i, is_buy, price, size, TimeInForce.GTC, i, [])
        assert (left, reason) == (size, None)
    two = depth(book, levels=2)
    assert two.bids == ((1_000, 300), (990, 150))
    assert two.asks == ((1_010, 100), (1_020, 400))
    every = depth(book, levels=None)
    assert every.bids[-1] == (980, 100) and len(every.asks) == 2
    assert every.to_dict()["asks"] == [[1_010, 100], [1_020, 400]]
    book.cancel(1)
    assert depth(book, levels=1).bids == ((1_000, 200),)
    with pytest.raises(MarketError, match="levels"):
        depth(book, levels=0)


def test_minute_hour_and_day_bars() -> None:
    t = DAY0 * NS
    assert bars(TRADES, interval="1m") == [
        Bar(t, 50_000, 51_000, 49_500, 49_500, 400, 3),
        Bar(t + 60 * NS, 50_500, 50_500, 50_500, 50_500, 300, 1),
        Bar(t + 5_400 * NS, 52_500, 52_500, 52_500, 52_500, 100, 1),
    ]
    assert bars(TRADES, interval="1h") == [
        Bar(t, 50_000, 51_000, 49_500, 50_500, 700, 4),
        Bar(t + 3_600 * NS, 52_500, 52_500, 52_500, 52_500, 100, 1),
    ]
    assert bars(TRADES, interval="1d") == [Bar(t, 50_000, 52_500, 49_500, 52_500, 800, 5)]
    assert bars([], interval="1d") == []
    assert bars(TRADES, interval="1d")[0].to_dict()["start_utc"] == "2026-01-05T00:00:00+00:00"
    with pytest.raises(MarketError, match="'5m'"):
        bars(TRADES, interval="5m")


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


def test_gpu_trades_become_index_quotes() -> None:
    trades = [_gpu(1, 245, 8, 4), _gpu(2, 199, 2, 30 * 24)]
    quotes = gpu_trade_quotes(trades)
    assert list(quotes.gpu_model) == ["H100", "H100"]
    assert list(quotes.term) == ["on-demand", "reserved"]
    assert list(quotes.price_usd_per_gpu_hour) == [2.45, 1.99]
    assert list(quotes.volume_gpu_hours) == [32.0, 1_440.0]
    assert list(quotes.time_s) == [DAY0 + 600, DAY0 + 600]
    # Beside three published on-demand quotes of the day the exchange's trade is one more
    # quote of the same group: the volume-weighted median moves to the heavier exchange quote.
    published = gpu_trade_quotes([_gpu(3, 300, 1, 1), _gpu(4, 310, 1, 1), _gpu(5, 320, 1, 1)],
                                 provider="cloud-a")  # fmt: skip
    alone = [f for f in gpu_fixings(published) if f.term == "on-demand"]
    both = [
        f for f in gpu_fixings(with_exchange_quotes(published, trades)) if f.term == "on-demand"
    ]
    assert [f.n_quotes for f in alone] == [3] and [f.n_quotes for f in both] == [4]
    assert alone[0].value == Decimal("3.10")
    assert both[0].value == Decimal("2.45")  # 32 GPU-hours outweigh the three single hours
    # Every other quote is then more than the MAD screen from the centre (the weighted MAD is
    # 0 when one quote holds most of the weight): only the exchange's 32 GPU-hours are kept.
    assert both[0].n_outliers == 3 and both[0].volume_gpu_hours == 32.0
    assert with_exchange_quotes(published, []) is published
    # Bars of GPU trades count GPU-hours
    assert bars(trades, interval="1d")[0].volume == 32 + 1_440
