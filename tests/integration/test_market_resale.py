"""Reselling a running hashpower contract through the exchange, on a real ledger (SQLite and
PostgreSQL): listing, refusals that reserve nothing, the sale as a hand-over with the
hashpower fees on the ask, and listings through replay and snapshots.

The price is 86,400,000 sats per PH/s per day, so one TH·s is worth one sat. The contract's
buyer took the seller's offer: its fee is the taker's 0.2 %, the seller's the maker's 0.1 %.
A listing rests, so on a sale the lister pays the maker's 0.1 % and the buyer the taker's
0.2 % of the ask, each rounded up.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest

from hashmarket.errors import MarketError
from hashmarket.ledger import Account, Ledger, ManualClock, Transfer
from hashmarket.market import (
    AdvanceTime,
    BuyContract,
    CancelListing,
    Command,
    ContractTransferred,
    Delivery,
    Exchange,
    ListContract,
    PlaceOrder,
    RegisterHashrate,
    ReportDelivery,
    Side,
    TransferContract,
    contract_listings,
    open_exchange_accounts,
)
from hashmarket.market.products import fee
from hashmarket.market.resale import ContractListed, ListingDone
from hashmarket.market.snapshot import engine_state
from tests.conftest import STORES, T0_NS, UrlFactory, open_ledger
from tests.integration.market_flows import BTC_ACCOUNTS, BTC_FUNDS, CONFIG, fund, random_flow

S = 10**9
T0 = 1_800_000_000 * S
SELLER, HOLDER, BUYER, OTHER, POOR = 1001, 1002, 1003, 1004, 1010
PRICE = 86_400_000


@pytest.fixture(params=STORES)
def ledger(request: pytest.FixtureRequest, new_url: UrlFactory) -> Any:
    with open_ledger(new_url(request.param), ManualClock(T0_NS)) as opened:
        yield opened


def opened(ledger: Ledger, events: list[Any]) -> Exchange:
    """A 1 PH/s contract for an hour with a 1,000,000-sat budget, 600,000 TH·s delivered."""
    fund(ledger)
    ledger.create_accounts([Account(POOR, "BTC")])
    ledger.transfer(Transfer(9_999, 1, POOR, 400_000))
    exchange = Exchange.open(
        ledger, accounts=open_exchange_accounts(ledger), config=CONFIG, listener=events.extend
    )
    exchange.submit(RegisterHashrate(T0, SELLER, 1_000))
    exchange.submit(PlaceOrder(T0, SELLER, "HASHPOWER", Side.SELL, 1_000, PRICE))
    exchange.submit(
        PlaceOrder(
            T0, HOLDER, "HASHPOWER", Side.BUY, 1_000, PRICE, budget_sats=1_000_000, duration_s=3_600
        )
    )
    # 600,000 sats and the holder's 1,200-sat fee: 398,800 of the budget left.
    exchange.submit(ReportDelivery(T0 + 600 * S, 1, 600_000))
    return exchange


def balances(ledger: Ledger, *accounts: int) -> list[tuple[int, int]]:
    return [(ledger.account(a).balance, ledger.account(a).debits_pending) for a in accounts]


def test_a_listed_contract_is_sold_as_a_hand_over_with_the_fees_on_the_ask(ledger: Ledger) -> None:
    events: list[Any] = []
    exchange = opened(ledger, events)
    t = T0 + 600 * S
    assert exchange.submit(ListContract(t, 1, HOLDER, 50_000)).order_id == 1
    (quote,) = contract_listings(exchange.engine)
    assert quote.to_dict() == {
        "listing_id": 1,
        "contract_id": 1,
        "account_id": HOLDER,
        "ask_sats": 50_000,
        "listed_ns": t,
        "price": PRICE,
        "hashrate_ths": 1_000,
        "budget_left_sats": 398_800,
        "end_ns": T0 + 3_600 * S,
        "seconds_left": 3_000,
    }
    before = balances(ledger, SELLER, HOLDER, BUYER, POOR)
    head = exchange.head
    refused: dict[str, Command] = {
        "does not hold the contract": ListContract(t, 1, BUYER, 1),
        r"is already listed \(listing 1\)": ListContract(t, 1, HOLDER, 1),
        "no running hashpower contract 7": ListContract(t, 7, HOLDER, 1),
        "'ask_sats': value -1 must be at least 0": ListContract(t, 1, HOLDER, -1),
        "is below the ask of 50000 sats": BuyContract(t, 1, BUYER, 49_999),
        "already holds or sells the contract": BuyContract(t, 1, HOLDER, 50_000),
        "already holds or sells the contract ": BuyContract(t, 1, SELLER, 50_000),
        "no open contract listing 9": BuyContract(t, 9, BUYER, 50_000),
        "did not list it": CancelListing(t, 1, BUYER),
        # 398,800 + 50,000 + a 100-sat fee: more than its 400,000.
        "account 1010 cannot reserve 448900 BTC": BuyContract(t, 1, POOR, 50_000),
    }
    for message, command in refused.items():
        with pytest.raises(MarketError, match=message.strip()):
            exchange.submit(command)
    assert exchange.head == head and balances(ledger, SELLER, HOLDER, BUYER, POOR) == before
    assert exchange.submit(BuyContract(t, 1, BUYER, 60_000)).order_id == 1
    assert exchange.engine.contracts[1].buyer_account_id == BUYER
    assert contract_listings(exchange.engine) == []
    sold = [e for e in events if isinstance(e, ContractTransferred)]
    assert sold == [ContractTransferred(1, t, HOLDER, BUYER, 398_800, 50_000, 100, 50, 1)]
    assert [e for e in events if isinstance(e, ListingDone)] == [
        ListingDone(1, 1, HOLDER, "sold", t)
    ]
    assert balances(ledger, HOLDER, BUYER) == [
        (BTC_FUNDS - 601_200 + 49_950, 0),  # the ask less the maker's 50
        (BTC_FUNDS - 50_100, 398_800),  # the ask and the taker's 100; the budget left reserved
    ]
    fees = ledger.account(exchange.accounts.fees_btc).balance
    assert fees == 1_200 + 600 + 100 + 50
    # Later deliveries are paid from the new holder's reservation.
    exchange.submit(ReportDelivery(T0 + 1_200 * S, 1, 100_000))
    assert balances(ledger, BUYER) == [(BTC_FUNDS - 50_100 - 100_200, 298_600)]
    assert ledger.account(SELLER).balance == BTC_FUNDS + 599_400 + 99_900
    assert ledger.verify().ok


def test_a_listing_goes_with_a_direct_hand_over_a_cancel_or_the_contracts_end(
    ledger: Ledger,
) -> None:
    events: list[Any] = []
    exchange = opened(ledger, events)
    t = T0 + 600 * S
    exchange.submit(ListContract(t, 1, HOLDER, 10_000))
    assert exchange.submit(CancelListing(t, 1, HOLDER)).order_id == 1
    exchange.submit(ListContract(t, 1, HOLDER, 20_000))  # listing 2
    exchange.submit(TransferContract(t, 1, HOLDER, OTHER))
    with pytest.raises(MarketError, match="no open contract listing 2"):
        exchange.submit(BuyContract(t, 2, BUYER, 20_000))
    exchange.submit(ListContract(t, 1, OTHER, 30_000))  # listing 3, by the new holder
    end = T0 + 3_600 * S
    with pytest.raises(MarketError, match=f"has ended \\(its term ended at {end}\\)"):
        exchange.submit(BuyContract(end, 3, BUYER, 30_000))
    with pytest.raises(MarketError, match="has ended"):
        exchange.submit(ListContract(end, 1, HOLDER, 1))
    exchange.submit(AdvanceTime(end))
    assert [
        (e.listing_id, e.account_id, e.reason) for e in events if isinstance(e, ListingDone)
    ] == [
        (1, HOLDER, "cancelled"),
        (2, HOLDER, "transferred"),
        (3, OTHER, "ended"),
    ]
    assert [e.ask_sats for e in events if isinstance(e, ContractListed)] == [10_000, 20_000, 30_000]
    assert not exchange.engine.resale.open and not exchange.engine.resale.by_contract
    assert balances(ledger, OTHER) == [(BTC_FUNDS, 0)]  # the direct hand-over was free
    assert ledger.verify().ok


def test_listings_survive_replay_and_snapshots(ledger: Ledger) -> None:
    exchange = opened(ledger, [])
    t = T0 + 600 * S
    exchange.submit(ListContract(t, 1, HOLDER, 10_000))
    exchange.submit(CancelListing(t, 1, HOLDER))
    exchange.submit(ListContract(t, 1, HOLDER, 20_000))
    state = engine_state(exchange.engine)
    assert state["listings"] == {"next_id": 3, "open": [[2, 1, HOLDER, 20_000, t]]}
    replayed = Exchange.open(ledger, accounts=exchange.accounts, config=CONFIG)
    assert engine_state(replayed.engine) == state
    exchange.snapshot()
    restored = Exchange.open(ledger, accounts=exchange.accounts, config=CONFIG)
    assert engine_state(restored.engine) == state
    assert restored.clearing.state() == exchange.clearing.state()
    # The restored exchange sells the listing it restored, at its ask.
    restored.submit(BuyContract(t, 2, BUYER, 20_000))
    assert balances(ledger, BUYER) == [(BTC_FUNDS - 20_000 - 40, 398_800)]
    assert ledger.account(HOLDER).balance == BTC_FUNDS - 601_200 + 20_000 - 20


def resale_commands(rng: random.Random, exchange: Exchange, ts: int) -> list[Command]:
    """Listings, buys and cancels on what the exchange runs now, some of them refused."""
    engine = exchange.engine
    out: list[Command] = []
    for contract in list(engine.contracts.values())[:6]:
        holder = contract.buyer_account_id if rng.random() < 0.8 else rng.choice(BTC_ACCOUNTS)
        out.append(ListContract(ts, contract.contract_id, holder, rng.randint(0, 30) * 1_000))
    for listing in list(engine.resale.open.values())[:6]:
        roll = rng.random()
        if roll < 0.5:
            most = listing.ask_sats + rng.randint(-2, 10) * 500
            out.append(BuyContract(ts, listing.listing_id, rng.choice(BTC_ACCOUNTS), most))
        elif roll < 0.6:
            out.append(CancelListing(ts, listing.listing_id, listing.account_id))
    return out


@pytest.mark.parametrize("seed", [3, 4])
def test_random_resales_conserve_money_and_replay_to_the_same_state(
    ledger: Ledger, seed: int
) -> None:
    events: list[Any] = []
    fund(ledger)
    exchange = Exchange.open(
        ledger,
        accounts=open_exchange_accounts(ledger),
        config=CONFIG,
        listener=events.extend,
        snapshot_every=60,
    )
    rng = random.Random(seed)
    flow = random_flow(seed, 400)
    for i in range(0, len(flow), 20):
        batch = flow[i : i + 20]
        exchange.submit_many([*batch, *resale_commands(rng, exchange, batch[-1].ts_ns)])
    sales = [e for e in events if isinstance(e, ContractTransferred)]
    assert len(sales) >= 3 and any(isinstance(e, ListingDone) for e in events)
    # Each account's balance: deliveries as paid, and every sale's ask and fees by hand.
    hp = CONFIG.hashpower
    net: dict[int, int] = defaultdict(int)
    fees = 0
    for e in events:
        if isinstance(e, Delivery):
            net[e.buyer_account_id] -= e.gross_sats + e.buyer_fee_sats
            net[e.seller_account_id] += e.gross_sats - e.seller_fee_sats
            fees += e.buyer_fee_sats + e.seller_fee_sats
        elif isinstance(e, ContractTransferred):
            assert (e.buyer_fee_sats, e.seller_fee_sats) == (
                fee(e.price_sats, hp.taker_fee_ppm),
                fee(e.price_sats, hp.maker_fee_ppm),
            )
            net[e.to_account_id] -= e.price_sats + e.buyer_fee_sats
            net[e.from_account_id] += e.price_sats - e.seller_fee_sats
            fees += e.buyer_fee_sats + e.seller_fee_sats
    for a in BTC_ACCOUNTS:
        assert ledger.account(a).balance == BTC_FUNDS + net[a], a
    assert ledger.account(exchange.accounts.fees_btc).balance == fees
    assert ledger.account(exchange.accounts.clearing_btc).balance == 0
    # Each contract's budget left is reserved from its current holder, and only from it.
    for cid, contract in exchange.engine.contracts.items():
        chain = exchange.clearing.contracts[cid]
        assert (chain.debit, chain.reserved) == (
            contract.buyer_account_id,
            contract.budget_sats - contract.spent_sats,
        )
    for listing in exchange.engine.resale.open.values():
        assert exchange.engine.contracts[listing.contract_id].buyer_account_id == listing.account_id
    reopened = Exchange.open(ledger, accounts=exchange.accounts, config=CONFIG)
    assert engine_state(reopened.engine) == engine_state(exchange.engine)
    assert reopened.clearing.state() == exchange.clearing.state()
    assert ledger.verify().ok
