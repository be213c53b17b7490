"""The matching engine's products, one rule at a time, with the numbers worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from hashmarket.errors import MarketError
from hashmarket.market import (
    AdvanceTime,
    CancelOrder,
    CollateralReleased,
    ContractEnded,
    ContractOpened,
    Delivery,
    DoneReason,
    GpuTrade,
    MarginCall,
    MarketConfig,
    MarkFutures,
    MatchingEngine,
    OrderType,
    PlaceGpuOrder,
    PlaceOrder,
    RegisterGpus,
    RegisterHashrate,
    ReplaceOrder,
    ReportDelivery,
    Side,
    TimeInForce,
    Variation,
    monthly_futures,
)
from hashmarket.market.hashpower import affordable
from hashmarket.market.products import fee

S = 10**9
T0 = 1_800_000_000 * S  # 2027-01-15 08:00 UTC
HOUR0 = 1_800_003_600  # the next whole hour (Unix seconds)
HP = "HASHPOWER"
FUT = monthly_futures(dt.date(2027, 1, 1), 2)
CONFIG = MarketConfig(futures=FUT)
JAN = FUT[0].symbol
BUYER, SELLER, OTHER = 11, 22, 33


@pytest.fixture
def engine() -> MatchingEngine:
    e = MatchingEngine(CONFIG)
    e.apply(RegisterHashrate(T0, SELLER, 2_000))
    e.apply(RegisterHashrate(T0, OTHER, 2_000))
    return e


def buy_hp(
    ts: int, size: int, price: int | None, budget: int, duration_s: int = 86_400
) -> PlaceOrder:
    order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
    tif = TimeInForce.GTC if price is not None else TimeInForce.IOC
    return PlaceOrder(ts, BUYER, HP, Side.BUY, size, price, order_type, tif, budget, duration_s)


# -- hashpower ----------------------------------------------------------------------------------


def test_a_fill_opens_contracts_that_split_the_budget_exactly(engine: MatchingEngine) -> None:
    engine.apply(PlaceOrder(T0, SELLER, HP, Side.SELL, 1_000, 45_000))
    engine.apply(PlaceOrder(T0, OTHER, HP, Side.SELL, 1_000, 45_010))
    result = engine.apply(buy_hp(T0, 1_500, 45_010, 1_000_000))
    assert [(t.price, t.size) for t in result.trades] == [(45_000, 1_000), (45_010, 500)]
    opened = [e for e in engine.take_events() if isinstance(e, ContractOpened)]
    # 1,000 of 1,500 TH/s take ⌊1,000,000 × 1,000 / 1,500⌋ = 666,666; the last fill the rest.
    assert [c.budget_sats for c in opened] == [666_666, 333_334]
    assert [c.seller_account_id for c in opened] == [SELLER, OTHER]
    assert result.done is not None and result.done.reason is DoneReason.FILLED


def test_delivery_pays_price_times_hashes_with_fees_and_caps_at_the_speed(
    engine: MatchingEngine,
) -> None:
    engine.apply(PlaceOrder(T0, SELLER, HP, Side.SELL, 1_000, 45_000))  # maker
    engine.apply(buy_hp(T0, 1_000, 45_000, 10_000_000))  # taker
    engine.take_events()
    # One hour at 1,000 TH/s is 3,600,000 TH·s = 1/24 PH·day: 45,000 / 24 = 1,875 sats.
    engine.apply(ReportDelivery(T0 + 3_600 * S, 1, 3_600_000))
    (paid,) = engine.take_events()
    assert isinstance(paid, Delivery)
    assert paid.gross_sats == 1_875
    assert paid.buyer_fee_sats == fee(1_875, CONFIG.hashpower.taker_fee_ppm) == 4  # ⌈3.75⌉
    assert paid.seller_fee_sats == fee(1_875, CONFIG.hashpower.maker_fee_ppm) == 2  # ⌈1.875⌉
    # Reporting twice the speed for the next hour pays only one more hour.
    engine.apply(ReportDelivery(T0 + 7_200 * S, 1, 7_200_000))
    (second,) = engine.take_events()
    assert isinstance(second, Delivery)
    assert second.delivered_ths_s == 7_200_000 and second.gross_sats == 1_875


def test_a_contract_ends_when_its_budget_runs_out(engine: MatchingEngine) -> None:
    engine.apply(PlaceOrder(T0, SELLER, HP, Side.SELL, 1_000, 45_000))
    engine.apply(buy_hp(T0, 1_000, 45_000, 1_000))
    engine.take_events()
    engine.apply(ReportDelivery(T0 + 3_600 * S, 1, 3_600_000))  # earns 1,875 > budget
    paid, ended = engine.take_events()
    assert isinstance(paid, Delivery) and isinstance(ended, ContractEnded)
    assert paid.gross_sats == affordable(1_000, CONFIG.hashpower.taker_fee_ppm) == 998
    assert paid.gross_sats + paid.buyer_fee_sats == 1_000  # 998 + ⌈1.996⌉
    assert ended.reason == "budget" and ended.unspent_sats == 0
    assert engine.hp_committed[SELLER] == 0  # the hashrate is free again


def test_a_contract_ends_with_its_duration_and_frees_the_sellers_capacity(
    engine: MatchingEngine,
) -> None:
    engine.apply(PlaceOrder(T0, SELLER, HP, Side.SELL, 2_000, 45_000))
    with pytest.raises(MarketError, match="has 0 TH/s of registered capacity free"):
        engine.apply(PlaceOrder(T0, SELLER, HP, Side.SELL, 100, 45_000))
    engine.apply(buy_hp(T0, 2_000, 45_000, 10_000_000, duration_s=3_600))
    engine.take_events()
    engine.apply(AdvanceTime(T0 + 3_599 * S))
    assert engine.take_events() == []
    engine.apply(AdvanceTime(T0 + 3_600 * S))
    (ended,) = engine.take_events()
    assert isinstance(ended, ContractEnded) and ended.reason == "duration"
    assert ended.unspent_sats == 10_000_000
    engine.apply(PlaceOrder(T0 + 3_600 * S, SELLER, HP, Side.SELL, 2_000, 45_000))


def test_self_trade_prevention_cancels_the_newest_order(engine: MatchingEngine) -> None:
    engine.apply(PlaceOrder(T0, OTHER, HP, Side.SELL, 100, 45_000))
    engine.apply(PlaceOrder(T0, SELLER, HP, Side.SELL, 100, 45_010))
    engine.apply(RegisterHashrate(T0, BUYER, 1_000))
    # SELLER's own bid reaches OTHER's ask first (trades), then its own ask: the bid stops.
    bid = PlaceOrder(T0, SELLER, HP, Side.BUY, 300, 45_010, budget_sats=10**6, duration_s=3_600)
    result = engine.apply(bid)
    assert [t.sell_order_id for t in result.trades] == [1]
    assert result.done is not None
    assert result.done.reason is DoneReason.SELF_TRADE and result.done.remaining == 200
    assert engine.books[HP].depth() == ([], [(45_010, 100)])  # the resting order stays


def test_cancel_replace_keeps_its_place_only_for_a_smaller_size(engine: MatchingEngine) -> None:
    first = engine.apply(PlaceOrder(T0, SELLER, HP, Side.SELL, 500, 45_000)).order_id
    second = engine.apply(PlaceOrder(T0, OTHER, HP, Side.SELL, 500, 45_000)).order_id
    engine.apply(ReplaceOrder(T0, SELLER, first, 45_000, 400))
    assert [o[0] for o in engine.books[HP].resting()] == [first, second]
    engine.apply(ReplaceOrder(T0, SELLER, first, 45_000, 450))  # larger: to the back
    assert [o[0] for o in engine.books[HP].resting()] == [second, first]
    engine.apply(ReplaceOrder(T0, OTHER, second, 45_010, 500))  # new price: loses its place
    assert engine.books[HP].depth() == ([], [(45_000, 450), (45_010, 500)])
    assert engine.hp_committed == {SELLER: 450, OTHER: 500}


def test_post_only_fok_ioc_and_market_orders(engine: MatchingEngine) -> None:
    engine.apply(PlaceOrder(T0, SELLER, HP, Side.SELL, 500, 45_000))
    would_take = engine.apply(
        PlaceOrder(
            T0,
            BUYER,
            HP,
            Side.BUY,
            100,
            45_000,
            tif=TimeInForce.POST_ONLY,
            budget_sats=10**6,
            duration_s=3_600,
        )
    )
    assert would_take.done is not None and would_take.done.reason is DoneReason.WOULD_TAKE
    fok = engine.apply(
        PlaceOrder(
            T0,
            BUYER,
            HP,
            Side.BUY,
            600,
            45_000,
            tif=TimeInForce.FOK,
            budget_sats=10**6,
            duration_s=3_600,
        )
    )
    assert fok.trades == () and fok.done is not None and fok.done.reason is DoneReason.UNFILLED
    market = engine.apply(buy_hp(T0, 600, None, 10**6))
    assert [t.size for t in market.trades] == [500]
    assert market.done is not None and market.done.remaining == 100
    assert engine.books[HP].depth() == ([], [])


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            PlaceOrder(T0, BUYER, HP, Side.BUY, 100, 45_001, budget_sats=10**6, duration_s=3_600),
            "field 'price': value 45001 is not on the tick of 10",
        ),
        (
            PlaceOrder(T0, BUYER, HP, Side.BUY, 100, 0, budget_sats=10**6, duration_s=3_600),
            "field 'price': value 0 must be at least 1",
        ),
        (
            PlaceOrder(T0, BUYER, HP, Side.BUY, 99, 45_000, budget_sats=10**6, duration_s=3_600),
            "field 'size': value 99 must be at least 100",
        ),
        (
            PlaceOrder(T0, BUYER, HP, Side.BUY, 100.5, 45_000, budget_sats=10**6, duration_s=3_600),  # type: ignore[arg-type]
            "field 'size': value 100.5 is not a whole number",
        ),
        (
            PlaceOrder(T0, BUYER, HP, Side.BUY, 100, 45_000, budget_sats=-5, duration_s=3_600),
            "field 'budget_sats': value -5 must be at least 1",
        ),
        (
            PlaceOrder(T0, BUYER, HP, Side.BUY, 100, 45_000, budget_sats=10**6),
            "field 'duration_s': value None is not a whole number",
        ),
        (PlaceOrder(T0, BUYER, "NOPE", Side.BUY, 100, 45_000), "unknown market 'NOPE'"),
        (
            PlaceOrder(T0, BUYER, JAN, "up", 1, 5_000),  # type: ignore[arg-type]
            "unknown side 'up'",
        ),
        (PlaceOrder(T0, BUYER, JAN, Side.BUY, 1, 5_010), "not on the tick of 25"),
        (PlaceOrder(T0, BUYER, JAN, Side.BUY, 1, 5_000, OrderType.MARKET), "must be empty"),
        (CancelOrder(T0, BUYER, 999), "no open order 999 of account 11"),
        (ReportDelivery(T0, 5, 100), "no running hashpower contract 5"),
        (PlaceOrder(T0 - 1, BUYER, JAN, Side.BUY, 1, 5_000), "before the last command's time"),
    ],
)
def test_bad_input_is_refused_with_its_field_and_changes_nothing(
    engine: MatchingEngine, command: PlaceOrder, message: str
) -> None:
    engine.apply(PlaceOrder(T0, SELLER, HP, Side.SELL, 500, 45_000))
    engine.take_events()
    before = (engine.books[HP].resting(), engine.next_order_id, dict(engine.hp_committed))
    with pytest.raises(MarketError, match=message):
        engine.apply(command)
    assert (engine.books[HP].resting(), engine.next_order_id, dict(engine.hp_committed)) == before
    assert engine.take_events() == []


# -- GPU blocks ---------------------------------------------------------------------------------


def gpu(
    ts: int,
    account: int,
    side: Side,
    gpus: int,
    start_h: int,
    end_h: int,
    price: int,
    tif: TimeInForce = TimeInForce.GTC,
) -> PlaceGpuOrder:
    return PlaceGpuOrder(
        ts, account, side, "H100", gpus, HOUR0 + start_h * 3_600, HOUR0 + end_h * 3_600, price, tif
    )


def test_a_gpu_buy_fills_from_several_blocks_split_in_count_and_time() -> None:
    e = MatchingEngine(CONFIG)
    e.apply(RegisterGpus(T0, SELLER, "nvidia h100", 8, HOUR0, HOUR0 + 48 * 3_600))
    e.apply(RegisterGpus(T0, OTHER, "H100", 4, HOUR0, HOUR0 + 48 * 3_600))
    e.apply(gpu(T0, SELLER, Side.SELL, 8, 0, 24, 250))  # cheaper, rests first
    e.apply(gpu(T0, OTHER, Side.SELL, 4, 10, 20, 260))
    # 10 GPUs for hours 12-16: 8 from SELLER at 250 and 2 from OTHER at 260, every hour.
    result = e.apply(gpu(T0, BUYER, Side.BUY, 10, 12, 16, 260))
    assert result.done is not None and result.done.reason is DoneReason.FILLED
    fills = [ev for ev in e.take_events() if isinstance(ev, GpuTrade)]
    assert [(f.sell_account_id, f.gpus, f.price, f.notional_cents) for f in fills] == [
        (SELLER, 8, 250, 250 * 8 * 4),
        (OTHER, 2, 260, 260 * 2 * 4),
    ]
    pieces = {
        (p[1], p[3], p[4] - HOUR0 // 3_600, p[5] - HOUR0 // 3_600) for p in e.gpu.sells["H100"]
    }
    assert pieces == {
        (SELLER, 8, 0, 12),
        (SELLER, 8, 16, 24),  # SELLER's block minus hours 12-16
        (OTHER, 4, 10, 12),
        (OTHER, 2, 12, 16),
        (OTHER, 4, 16, 20),  # OTHER's, split in count
    }
    # The buyer can resell part of what it bought: 3 GPUs for hours 13-15.
    e.apply(gpu(T0, BUYER, Side.SELL, 3, 13, 15, 300))
    with pytest.raises(MarketError, match="has 7 H100 GPUs of registered capacity free"):
        e.apply(gpu(T0, BUYER, Side.SELL, 8, 13, 14, 300))


def test_a_gpu_buy_is_all_or_none_and_rests_until_a_sell_completes_it() -> None:
    e = MatchingEngine(CONFIG)
    e.apply(RegisterGpus(T0, SELLER, "H100", 8, HOUR0, HOUR0 + 10 * 3_600))
    e.apply(gpu(T0, SELLER, Side.SELL, 8, 0, 5, 200))
    kill = e.apply(gpu(T0, BUYER, Side.BUY, 8, 0, 6, 300, TimeInForce.FOK))
    assert kill.done is not None and kill.done.reason is DoneReason.UNFILLED
    resting = e.apply(gpu(T0, BUYER, Side.BUY, 8, 0, 6, 300))
    assert resting.done is None and e.take_events()[-1].reason is DoneReason.UNFILLED
    e.apply(gpu(T0, SELLER, Side.SELL, 8, 5, 6, 210))
    fills = [ev for ev in e.take_events() if isinstance(ev, GpuTrade)]
    assert sum(f.gpus * (f.end_s - f.start_s) // 3_600 for f in fills) == 8 * 6
    assert {f.taker_side for f in fills} == {Side.SELL}
    assert e.gpu.sells["H100"] == [] and e.gpu.buys["H100"] == []


@pytest.mark.parametrize(
    ("start_s", "end_s", "model", "message"),
    [
        (HOUR0 + 60, HOUR0 + 3_600, "H100", "not on a whole UTC hour"),
        (HOUR0 - 7_200, HOUR0, "H100", "is in the past"),
        (HOUR0, HOUR0, "H100", "must be after start_s"),
        (HOUR0, HOUR0 + 3_600, "RTX 9090", "unknown model 'RTX 9090'"),
    ],
)
def test_gpu_bad_windows_and_models_are_refused(
    start_s: int, end_s: int, model: str, message: str
) -> None:
    e = MatchingEngine(CONFIG)
    with pytest.raises(MarketError, match=message):
        e.apply(PlaceGpuOrder(T0, BUYER, Side.BUY, model, 1, start_s, end_s, 300))
    assert e.next_order_id == 1


def test_gpu_orders_expire_when_their_window_begins() -> None:
    e = MatchingEngine(CONFIG)
    e.apply(RegisterGpus(T0, SELLER, "H100", 2, HOUR0, HOUR0 + 3 * 3_600))
    e.apply(gpu(T0, SELLER, Side.SELL, 2, 0, 3, 200))
    e.apply(gpu(T0, BUYER, Side.BUY, 4, 0, 2, 300))
    e.take_events()
    e.apply(AdvanceTime((HOUR0 + 1) * S))  # hour 0 has begun
    (expired,) = e.take_events()
    assert expired.reason is DoneReason.EXPIRED and expired.order_id == 2
    assert [(p[4] - HOUR0 // 3_600, p[5] - HOUR0 // 3_600) for p in e.gpu.sells["H100"]] == [(1, 3)]


# -- futures ------------------------------------------------------------------------------------


def test_futures_margin_variation_and_final_settlement() -> None:
    e = MatchingEngine(CONFIG)
    spec = FUT[0]
    e.apply(PlaceOrder(T0, SELLER, JAN, Side.SELL, 5, 5_000))
    e.apply(PlaceOrder(T0, BUYER, JAN, Side.BUY, 3, 5_000))
    e.take_events()
    assert e.futures.collateral == {
        (JAN, SELLER): 3 * spec.initial_margin_cents,
        (JAN, BUYER): 3 * spec.initial_margin_cents,
    }
    e.apply(MarkFutures(T0 + 86_400 * S, JAN, 5_100))
    gains = {ev.account_id: ev.amount_cents for ev in e.take_events() if isinstance(ev, Variation)}
    # +100 cents/PH/day × 3 contracts × 30 days, booked to collateral
    assert gains == {BUYER: 9_000, SELLER: -9_000}
    assert e.futures.collateral == {(JAN, SELLER): 141_000, (JAN, BUYER): 159_000}
    # Down to 3,000: the buyer loses 2,100 × 3 × 30 = 189,000 but has only 159,000.
    e.apply(MarkFutures(T0 + 2 * 86_400 * S, JAN, 3_000))
    events = e.take_events()
    moves = {
        ev.account_id: (ev.amount_cents, ev.uncovered_cents)
        for ev in events
        if isinstance(ev, Variation)
    }
    assert moves == {BUYER: (-159_000, -30_000), SELLER: (159_000, 30_000)}
    calls = [
        (ev.account_id, ev.collateral_cents, ev.maintenance_cents)
        for ev in events
        if isinstance(ev, MarginCall)
    ]
    assert calls == [(BUYER, 0, 3 * spec.maintenance_margin_cents)]
    e.apply(MarkFutures(T0 + 3 * 86_400 * S, JAN, 3_000, final=True))
    released = {
        ev.account_id: ev.amount_cents
        for ev in e.take_events()
        if isinstance(ev, CollateralReleased)
    }
    assert released == {SELLER: 300_000}  # all the collateral there is: 2 × 150,000
    assert JAN in e.futures.closed
    with pytest.raises(MarketError, match="has stopped trading"):
        e.apply(PlaceOrder(T0 + 3 * 86_400 * S, BUYER, JAN, Side.BUY, 1, 5_000))


def test_added_margin_answers_a_margin_call() -> None:
    from hashmarket.market import AddMargin, MarginAdded

    e = MatchingEngine(CONFIG)
    spec = FUT[0]
    e.apply(PlaceOrder(T0, SELLER, JAN, Side.SELL, 2, 5_000))
    e.apply(PlaceOrder(T0, BUYER, JAN, Side.BUY, 2, 5_000))
    # Down 250 cents: the buyer loses 250 × 2 × 30 = 15,000 of its 100,000; 85,000 is above
    # the maintenance margin (80,000). Down 600: it loses 36,000 in all, 64,000 left: a call.
    e.apply(MarkFutures(T0 + 86_400 * S, JAN, 4_750))
    assert not [ev for ev in e.take_events() if isinstance(ev, MarginCall)]
    e.apply(MarkFutures(T0 + 2 * 86_400 * S, JAN, 4_400))
    (call,) = [ev for ev in e.take_events() if isinstance(ev, MarginCall)]
    assert (call.account_id, call.collateral_cents, call.maintenance_cents) == (
        BUYER,
        64_000,
        2 * spec.maintenance_margin_cents,
    )
    at = T0 + 2 * 86_400 * S + 60 * S
    # Refused, changing nothing: no position, a market that is not a future, not whole.
    for bad, field in (
        (AddMargin(at, OTHER, JAN, 20_000), "account_id"),
        (AddMargin(at, BUYER, HP, 20_000), "market"),
        (AddMargin(at, BUYER, "HP-1999-01", 20_000), "market"),
        (AddMargin(at, BUYER, JAN, 0), "amount_cents"),
        (AddMargin(at, BUYER, JAN, 1.5), "amount_cents"),  # type: ignore[arg-type]
    ):
        with pytest.raises(MarketError, match=field):
            e.validate(bad)
        with pytest.raises(MarketError, match=field):
            e.apply(bad)
    assert e.futures.collateral[(JAN, BUYER)] == 64_000 and e.futures.additions == 0
    e.apply(AddMargin(at, BUYER, JAN, 20_000))
    e.apply(AddMargin(at, BUYER, JAN, 1_000))  # the same instant: its own reference
    added = [ev for ev in e.take_events() if isinstance(ev, MarginAdded)]
    assert [(ev.account_id, ev.amount_cents, ev.ref) for ev in added] == [
        (BUYER, 20_000, 1),
        (BUYER, 1_000, 2),
    ]
    assert e.futures.collateral[(JAN, BUYER)] == 85_000
    # A snapshot keeps the count, so an addition after a restart gets a reference of its own.
    from hashmarket.market.snapshot import engine_from_state, engine_state

    restored = engine_from_state(CONFIG, engine_state(e))
    assert restored.futures.additions == 2
    assert engine_state(restored) == engine_state(e)
    # The next mark, unchanged, calls no one; the final one releases what was added too.
    e.apply(MarkFutures(T0 + 3 * 86_400 * S, JAN, 4_400))
    assert not [ev for ev in e.take_events() if isinstance(ev, MarginCall)]
    e.apply(MarkFutures(T0 + 4 * 86_400 * S, JAN, 4_400, final=True))
    released = {
        ev.account_id: ev.amount_cents
        for ev in e.take_events()
        if isinstance(ev, CollateralReleased)
    }
    assert released == {BUYER: 85_000, SELLER: 136_000}  # 100,000 + 36,000
    with pytest.raises(MarketError, match="has stopped trading"):
        e.apply(AddMargin(T0 + 4 * 86_400 * S, BUYER, JAN, 1_000))


def test_the_clearing_ids_are_the_money_modules_derived_ids() -> None:
    from hashmarket.market.clearing import id_maker, reserve_id
    from hashmarket.money import derived_id

    make = id_maker("hashmarket.market.pay")
    for parts in (("gpu", 12, "seller"), ("margin", 7, 2001, "fee"), ("delivery", 1, 1, "fee")):
        assert make(*parts) == derived_id("hashmarket.market.pay", *parts)
    assert reserve_id("order", 5, 0) == derived_id("hashmarket.market.reserve", "order", 5, 0)
    assert reserve_id("order", 5, 0) != reserve_id("order", 5, 1)


def test_the_logs_json_is_the_canonical_json_of_the_command() -> None:
    from hashmarket.market import (
        AddMargin,
        Command,
        command_from_dict,
        command_json,
        command_to_dict,
    )
    from hashmarket.market.orders import canonical_json

    commands: list[Command] = [
        buy_hp(T0, 100, 45_000, 10**6),
        buy_hp(T0, 100, None, 10**6),
        PlaceOrder(T0, 1, 'odd "name" \\ é', Side.SELL, 1, 5_000),
        MarkFutures(T0, JAN, 5_000, final=True),
        AddMargin(T0, 1, JAN, 20_000),
        CancelOrder(T0, 1, 2),
        PlaceGpuOrder(T0, 2, Side.BUY, "nvidia h100", 3, HOUR0, HOUR0 + 3_600, 250),
    ]
    for command in commands:
        data = command_json(command)
        assert data == canonical_json(command_to_dict(command))
        assert command_from_dict(command_to_dict(command)) == command


# -- market data --------------------------------------------------------------------------------


def test_depth_bars_and_the_premium_to_the_index(engine: MatchingEngine) -> None:
    from hashmarket.market import bars, depth, premium, trades

    engine.apply(PlaceOrder(T0, SELLER, HP, Side.SELL, 500, 45_000))
    engine.apply(PlaceOrder(T0, OTHER, HP, Side.SELL, 500, 45_100))
    engine.apply(PlaceOrder(T0, SELLER, HP, Side.SELL, 300, 45_200))
    assert premium(engine, hashprice_btc_per_ph_day=0.00045) is None  # one-sided, no trade
    engine.apply(buy_hp(T0 + 10 * S, 600, 45_100, 10**6))  # 500 @ 45,000 and 100 @ 45,100
    engine.apply(buy_hp(T0 + 70 * S, 200, 45_100, 10**6))  # next minute: 200 @ 45,100
    engine.apply(buy_hp(T0 + 3_600 * S, 200, 44_000, 10**6))  # rests as the bid
    book = depth(engine, market=HP, levels=5)
    assert book.bids == ((44_000, 200),)
    assert book.asks == ((45_100, 200), (45_200, 300))
    assert book.spread == 1_100
    fills = trades(engine, market=HP)
    assert [(t.price, t.size) for t in fills] == [(45_000, 500), (45_100, 100), (45_100, 200)]
    (minute_1, minute_2) = bars(fills, interval_s=60)
    assert (minute_1.open, minute_1.high, minute_1.low, minute_1.close) == (
        45_000,
        45_100,
        45_000,
        45_100,
    )
    assert minute_1.volume == 600 and minute_1.trades == 2
    assert minute_1.vwap == round((45_000 * 500 + 45_100 * 100) / 600)  # 45,016.67 → 45,017
    assert (minute_2.open, minute_2.volume, minute_2.start_ns) == (45_100, 200, T0 + 60 * S)
    (hour,) = bars(fills, interval_s=3_600)
    assert hour.volume == 800 and hour.close == 45_100
    # Last trade 45,100 sats against an index of 0.00045 BTC = 45,000 sats: +22.2 bps.
    quoted = premium(engine, hashprice_btc_per_ph_day=0.00045)
    assert quoted is not None and (quoted.premium_bps, quoted.source) == (22, "last_trade")
    below = premium(engine, hashprice_btc_per_ph_day="0.00046")
    assert below is not None and below.premium_bps == -196  # 45,100 / 46,000 − 1


def test_gpu_trades_are_quotes_for_the_gpu_hour_index() -> None:
    from hashmarket.index.compute import compute_fixings
    from hashmarket.market import gpu_quote_table

    e = MatchingEngine(CONFIG)
    for seller in (SELLER, OTHER):
        e.apply(RegisterGpus(T0, seller, "H100", 8, HOUR0, HOUR0 + 24 * 3_600))
    e.apply(gpu(T0, SELLER, Side.SELL, 8, 0, 24, 240))
    e.apply(gpu(T0, OTHER, Side.SELL, 8, 0, 24, 260))
    e.apply(gpu(T0, BUYER, Side.BUY, 10, 0, 2, 300))  # 8 at $2.40, 2 at $2.60, 2 hours
    quotes = gpu_quote_table(e.gpu.trades)
    assert list(quotes.gpu_model) == ["H100", "H100"]
    assert list(quotes.price_usd_per_gpu_hour) == [2.40, 2.60]
    assert list(quotes.volume_gpu_hours) == [16.0, 4.0]
    fixings, _ = compute_fixings(quotes)
    assert len(fixings) == 1 and fixings[0].gpu_model == "H100"


def test_final_settlement_is_the_months_average_fixing_in_cents() -> None:
    from decimal import Decimal

    from hashmarket.index.fixings import Fixing
    from hashmarket.market.futures import final_settlement_cents

    spec = FUT[0]  # January 2027: 31 days
    days = [spec.month + dt.timedelta(days=i) for i in range(31)]

    def fixing(day: dt.date, usd: str) -> Fixing:
        return Fixing(day, Decimal(usd), "PH/s/day", "usd", "fpps", "1", True, {}, "0" * 64)

    # 30 days at $50.00 and one at $51.55: (1,500 + 51.55) / 31 = 50.0500 → 5,005 cents
    values = ["50.00"] * 30 + ["51.55"]
    assert (
        final_settlement_cents([fixing(d, v) for d, v in zip(days, values, strict=True)], spec)
        == 5_005
    )
    with pytest.raises(MarketError, match="must be one for each of the 31 days of 2027-01"):
        final_settlement_cents([fixing(d, "50") for d in days[:-1]], spec)
