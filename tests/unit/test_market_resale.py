"""The resale commands in the pure engine: canonical JSON, validation without side effects,
and the snapshot form (unchanged for an engine that never listed a contract)."""

from __future__ import annotations

from hashmarket.errors import MarketError
from hashmarket.market import (
    BuyContract,
    CancelListing,
    ListContract,
    MatchingEngine,
    PlaceOrder,
    RegisterHashrate,
    Side,
    command_from_dict,
    command_json,
    command_to_dict,
    contract_listings,
)
from hashmarket.market.orders import canonical_json
from hashmarket.market.resale import listing_fees
from hashmarket.market.snapshot import engine_from_state, engine_state

T0 = 1_800_000_000 * 10**9


def test_resale_commands_round_trip_through_their_canonical_json() -> None:
    for command in (
        ListContract(T0, 3, 101, 50_000),
        CancelListing(T0, 2, 101),
        BuyContract(T0, 2, 102, 60_000),
    ):
        data = command_to_dict(command)
        assert command_from_dict(data) == command
        assert command_json(command) == canonical_json(data)
    assert command_json(BuyContract(T0, 2, 102, 60_000)) == (
        b'{"account_id":102,"kind":"buy_contract","listing_id":2,'
        b'"max_price_sats":60000,"ts_ns":1800000000000000000}'
    )


def test_fees_on_an_ask_are_the_hashpower_taker_and_maker_rates_rounded_up() -> None:
    spec = MatchingEngine().config.hashpower
    assert listing_fees(spec, 50_000) == (100, 50)
    assert listing_fees(spec, 1_001) == (3, 2)  # 2.002 → 3 and 1.001 → 2
    assert listing_fees(spec, 0) == (0, 0)


def test_a_refused_listing_changes_nothing_and_a_snapshot_keeps_the_open_ones() -> None:
    engine = MatchingEngine()
    engine.apply(RegisterHashrate(T0, 1, 100))
    engine.apply(PlaceOrder(T0, 1, "HASHPOWER", Side.SELL, 100, 1_000))
    engine.apply(
        PlaceOrder(T0, 2, "HASHPOWER", Side.BUY, 100, 1_000, budget_sats=500, duration_s=3_600)
    )
    untouched = engine_state(engine)
    assert "listings" not in untouched  # the form of every snapshot before resale existed
    for command in (ListContract(T0, 1, 1, 10), BuyContract(T0, 1, 3, 10), CancelListing(T0, 1, 2)):
        try:
            engine.validate(command)
        except MarketError:
            pass
        else:
            raise AssertionError(f"{command} was not refused")
    engine.take_events()
    assert engine_state(engine) == untouched
    assert engine.apply(ListContract(T0, 1, 2, 10)).order_id == 1
    restored = engine_from_state(engine.config, engine_state(engine))
    assert contract_listings(restored) == contract_listings(engine)
    assert [q.budget_left_sats for q in contract_listings(restored)] == [500]
    assert restored.resale.by_contract == {1: 1} and restored.resale.next_id == 2
