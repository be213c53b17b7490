"""The exchange on a real ledger (SQLite and PostgreSQL): money conservation, pre-trade
reservations, refusals that change nothing, recovery, and the same log giving the same
ledger state on both stores.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from hashmarket.errors import MarketError
from hashmarket.ledger import Ledger, ManualClock
from hashmarket.market import (
    Accepted,
    CollateralReleased,
    Delivery,
    Exchange,
    GpuTrade,
    HashpowerContract,
    MarginMove,
    PlaceGpuOrder,
    PlaceOrder,
    Side,
    open_exchange_accounts,
)
from hashmarket.market.log import read_log, verified
from hashmarket.market.products import fee
from hashmarket.market.snapshot import engine_state
from tests.conftest import STORES, T0_NS, UrlFactory, open_ledger, postgres_url
from tests.integration.market_flows import (
    BTC_ACCOUNTS,
    BTC_FUNDS,
    CONFIG,
    HOUR0,
    T0,
    USD_ACCOUNTS,
    USD_FUNDS,
    fund,
    random_flow,
)

BATCH = 25


def new_exchange(ledger: Ledger, events: list[Any] | None = None, **kw: Any) -> Exchange:
    fund(ledger)
    accounts = open_exchange_accounts(ledger)
    listener = None if events is None else events.extend
    return Exchange.open(ledger, accounts=accounts, config=CONFIG, listener=listener, **kw)


def run(exchange: Exchange, commands: list[Any]) -> list[Accepted | MarketError]:
    out: list[Accepted | MarketError] = []
    for i in range(0, len(commands), BATCH):
        out.extend(exchange.submit_many(commands[i : i + BATCH]))
    return out


@pytest.fixture(params=STORES)
def ledger(request: pytest.FixtureRequest, new_url: UrlFactory) -> Any:
    with open_ledger(new_url(request.param), ManualClock(T0_NS)) as opened:
        yield opened


def expected_moves(events: list[Any]) -> dict[int, int]:
    """Each account's net change, recomputed from the events with the fee rule by hand."""
    hp, gpu = CONFIG.hashpower, CONFIG.gpu
    net: dict[int, int] = defaultdict(int)
    for e in events:
        if isinstance(e, Delivery):
            net[e.buyer_account_id] -= e.gross_sats + e.buyer_fee_sats
            net[e.seller_account_id] += e.gross_sats - e.seller_fee_sats
            assert e.buyer_fee_sats in (
                fee(e.gross_sats, hp.maker_fee_ppm),
                fee(e.gross_sats, hp.taker_fee_ppm),
            )
        elif isinstance(e, GpuTrade):
            hours = (e.end_s - e.start_s) // 3_600
            assert e.notional_cents == e.price * e.gpus * hours  # Σ price × size
            taker, maker = gpu.taker_fee_ppm, gpu.maker_fee_ppm
            buyer_rate, seller_rate = (taker, maker) if e.taker_side is Side.BUY else (maker, taker)
            # the buyer's fee is rounded up on the running total of its fill's pieces
            assert e.buy_fee_cents in (
                -(-e.notional_cents * buyer_rate // 1_000_000),
                e.notional_cents * buyer_rate // 1_000_000,
            )
            assert e.sell_fee_cents == -(-e.notional_cents * seller_rate // 1_000_000)
            net[e.buy_account_id] -= e.notional_cents + e.buy_fee_cents
            net[e.sell_account_id] += e.notional_cents - e.sell_fee_cents
        elif isinstance(e, MarginMove):
            net[e.account_id] += e.released_cents - e.posted_cents - e.fee_cents
        elif isinstance(e, CollateralReleased):
            net[e.account_id] += e.amount_cents
    return net


@pytest.mark.parametrize("seed", [1, 2])
def test_money_is_conserved_and_reservations_match_the_open_orders(
    ledger: Ledger, seed: int
) -> None:
    events: list[Any] = []
    exchange = new_exchange(ledger, events)
    results = run(exchange, random_flow(seed, 400))
    accepted = sum(isinstance(r, Accepted) for r in results)
    assert accepted > 250 and any(isinstance(e, Delivery) for e in events)
    assert any(isinstance(e, GpuTrade) for e in events)
    assert any(isinstance(e, MarginMove) for e in events)
    net = expected_moves(events)
    acc = exchange.accounts
    balances = {a.id: a for a in ledger.lookup_accounts([*BTC_ACCOUNTS, *USD_ACCOUNTS])}
    for a in BTC_ACCOUNTS:
        assert balances[a].balance == BTC_FUNDS + net[a], a
    for a in USD_ACCOUNTS:
        assert balances[a].balance == USD_FUNDS + net[a], a
    fee_events = [e for e in events if isinstance(e, (Delivery, GpuTrade, MarginMove))]
    btc_fees = sum(
        e.buyer_fee_sats + e.seller_fee_sats for e in fee_events if isinstance(e, Delivery)
    )
    usd_fees = sum(
        e.buy_fee_cents + e.sell_fee_cents for e in fee_events if isinstance(e, GpuTrade)
    )
    usd_fees += sum(e.fee_cents for e in fee_events if isinstance(e, MarginMove))
    assert ledger.account(acc.fees_btc).balance == btc_fees
    assert ledger.account(acc.fees_usd).balance == usd_fees
    # Clearing passes money on at once; margin holds exactly the collateral.
    assert ledger.account(acc.clearing_btc).balance == 0
    assert ledger.account(acc.clearing_usd).balance == 0
    assert ledger.account(acc.margin_usd).balance == sum(
        exchange.engine.futures.collateral.values()
    )
    # What each account has reserved is what its open orders and contracts may still spend.
    engine, clearing = exchange.engine, exchange.clearing
    for oid, (budget, _) in engine.hp_budget.items():
        assert clearing.orders[oid].reserved == budget
    for cid, contract in engine.contracts.items():
        assert isinstance(contract, HashpowerContract)
        assert clearing.contracts[cid].reserved == contract.budget_sats - contract.spent_sats
    reserved: dict[int, int] = defaultdict(int)
    for chain in (*clearing.orders.values(), *clearing.contracts.values()):
        reserved[chain.debit] += chain.reserved
    for a in (*BTC_ACCOUNTS, *USD_ACCOUNTS):
        assert balances[a].debits_pending == reserved[a], a
    assert ledger.verify().ok


def test_refused_commands_change_nothing(ledger: Ledger) -> None:
    exchange = new_exchange(ledger)
    run(exchange, random_flow(3, 60))
    before = (ledger.state_hash(), exchange.head, engine_state(exchange.engine))
    poor = BTC_ACCOUNTS[0]
    too_big = PlaceOrder(
        T0 + 10**15,
        poor,
        "HASHPOWER",
        Side.BUY,
        100,
        45_000,
        budget_sats=BTC_FUNDS + 1,
        duration_s=3_600,
    )
    with pytest.raises(
        MarketError, match=f"account {poor} cannot reserve 3000001 BTC.*exceeds_credits"
    ):
        exchange.submit(too_big)
    unknown = PlaceOrder(
        T0 + 10**15, 4_242, "HASHPOWER", Side.BUY, 100, 45_000, budget_sats=1_000, duration_s=3_600
    )
    with pytest.raises(MarketError, match="debit_account_not_found"):
        exchange.submit(unknown)
    wrong_asset = PlaceGpuOrder(
        T0 + 10**15,
        poor,
        Side.BUY,
        "H100",
        1,
        HOUR0 + 86_400 * 30,
        HOUR0 + 86_400 * 30 + 3_600,
        200,
    )
    with pytest.raises(MarketError, match="accounts_must_have_the_same_asset"):
        exchange.submit(wrong_asset)
    too_much_gpu = PlaceGpuOrder(
        T0 + 10**15,
        USD_ACCOUNTS[0],
        Side.BUY,
        "H100",
        500,
        HOUR0 + 86_400 * 30,
        HOUR0 + 86_400 * 31,
        200,
    )
    with pytest.raises(MarketError, match="cannot reserve 2404800 USD for the GPU block"):
        exchange.submit(too_much_gpu)  # 200 × 500 × 24 + 0.2 % fee = 2,404,800 cents
    with pytest.raises(MarketError, match="not on the tick"):
        exchange.submit(PlaceOrder(T0 + 10**15, poor, "HASHPOWER", Side.SELL, 100, 45_001))
    assert (ledger.state_hash(), exchange.head, engine_state(exchange.engine)) == before


def test_restart_replays_the_log_and_snapshots_to_the_same_state(ledger: Ledger) -> None:
    exchange = new_exchange(ledger, snapshot_every=100)
    run(exchange, random_flow(4, 300))
    reopened = Exchange.open(ledger, accounts=exchange.accounts, config=CONFIG)
    assert reopened.head == exchange.head
    assert engine_state(reopened.engine) == engine_state(exchange.engine)
    assert reopened.clearing.state() == exchange.clearing.state()
    replayed = reopened.recover()
    assert replayed < 100  # from the newest snapshot, not from the start
    with ledger.snapshot() as store:
        entries = list(verified(read_log(store), prev=exchange.genesis))
    assert entries[-1].seq == exchange.head[0] and entries[-1].hash == exchange.head[1]
    # A tampered log row does not verify.
    tampered = entries[:]
    tampered[5] = type(entries[5])(6, entries[5].ts_ns, entries[5].command + b" ", entries[5].hash)
    with pytest.raises(MarketError, match="seq 6: hash does not chain"):
        list(verified(tampered, prev=exchange.genesis))


@pytest.mark.postgresql
def test_the_same_log_gives_the_same_ledger_on_sqlite_and_postgresql(new_url: UrlFactory) -> None:
    postgres_url()  # skips without a server
    flow = random_flow(5, 300)
    found = {}
    for kind in ("sqlite", "postgresql"):
        with open_ledger(new_url(kind), ManualClock(T0_NS)) as ledger:
            exchange = new_exchange(ledger)
            results = run(exchange, flow)
            found[kind] = (
                ledger.state_hash(),
                exchange.head,
                [r.trades if isinstance(r, Accepted) else str(r) for r in results],
            )
    assert found["sqlite"] == found["postgresql"]


def test_a_contracts_record_names_its_pending_transfer_and_delivery_pays_from_it(
    ledger: Ledger,
) -> None:
    from hashmarket.market import RegisterHashrate

    exchange = new_exchange(ledger)
    buyer, seller = BTC_ACCOUNTS[0], BTC_ACCOUNTS[1]
    exchange.submit(RegisterHashrate(T0, seller, 1_000))
    exchange.submit(PlaceOrder(T0, seller, "HASHPOWER", Side.SELL, 1_000, 45_000))
    exchange.submit(
        PlaceOrder(
            T0, buyer, "HASHPOWER", Side.BUY, 1_000, 45_000, budget_sats=100_000, duration_s=86_400
        )
    )
    record = exchange.contract(1)
    assert (record["buyer_account_id"], record["seller_account_id"]) == (buyer, seller)
    assert (record["price"], record["hashrate_ths"], record["budget_sats"]) == (
        45_000,
        1_000,
        100_000,
    )
    pending = ledger.lookup_transfer(record["pending_transfer_id"])
    assert pending is not None and pending.kind == "pending" and pending.amount == 100_000
    # Half an hour at 1 PH/s, in hashes: 1.8e18 hashes = 1,800,000 TH/s·s → 937.5 → 937 sats.
    exchange.report_delivery(1, ts_ns=T0 + 1_800 * 10**9, hashes=1_800 * 1_000 * 10**12 + 5)
    after = exchange.contract(1)
    assert after["paid_sats"] == 937 and after["delivered_ths_s"] == 1_800_000
    assert after["reserved_sats"] == 100_000 - 937 - fee(937, CONFIG.hashpower.taker_fee_ppm)
    assert ledger.account(seller).balance == BTC_FUNDS + 937 - fee(
        937, CONFIG.hashpower.maker_fee_ppm
    )
    with pytest.raises(MarketError, match="or hashes must be given"):
        exchange.report_delivery(1, ts_ns=T0 + 3_600 * 10**9)


def test_the_listener_hears_each_committed_batch_once_and_nothing_refused(ledger: Ledger) -> None:
    from hashmarket.market import OrderDone, RegisterHashrate, Trade

    heard: list[list[Any]] = []
    exchange = new_exchange(ledger)
    exchange.listener = heard.append
    buyer, seller = BTC_ACCOUNTS[0], BTC_ACCOUNTS[1]
    results = exchange.submit_many(
        [
            RegisterHashrate(T0, seller, 1_000),
            PlaceOrder(T0, seller, "HASHPOWER", Side.SELL, 500, 45_000),
            PlaceOrder(
                T0,
                buyer,
                "HASHPOWER",
                Side.BUY,
                500,
                45_000,
                budget_sats=BTC_FUNDS + 1,
                duration_s=3_600,
            ),  # refused: funds
            PlaceOrder(
                T0, buyer, "HASHPOWER", Side.BUY, 200, 45_000, budget_sats=10_000, duration_s=3_600
            ),
        ]
    )
    assert [type(r).__name__ for r in results] == [
        "Accepted",
        "Accepted",
        "MarketError",
        "Accepted",
    ]
    (batch,) = heard
    assert [type(e).__name__ for e in batch] == ["Trade", "ContractOpened", "OrderDone"]
    trade, _, done = batch
    assert isinstance(trade, Trade) and trade.size == 200 and trade.buy_account_id == buyer
    assert isinstance(done, OrderDone) and done.account_id == buyer
    exchange.submit_many([PlaceOrder(T0, buyer, "HASHPOWER", Side.SELL, 150, 45_001)])  # off tick
    assert len(heard) == 1  # nothing committed, nothing heard
