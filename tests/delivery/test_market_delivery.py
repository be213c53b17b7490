"""Delivery of a contract the exchange opened: buy and sell on the exchange, a CPU miner on the
contract's Stratum endpoint, metered intervals reported to the exchange, which pays the seller
from the buyer's reservation and releases the rest at the end.

The price is chosen so one TH·s is worth exactly one sat: 86,400,000 sats per PH/s per day
(a PH/s·day is 86,400,000 TH·s). Hand-computed fees: taker (the buyer) 0.2 %, maker (the
seller) 0.1 %, each rounded up per payment.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from hashmarket.delivery import ContractEndpoint, IntervalRecord, Meter, reserve_budget
from hashmarket.delivery.market_link import (
    HolderLog,
    MarketPayer,
    contract_name,
    delivery_terms,
    market_contract_id,
)
from hashmarket.delivery.payments import LedgerPayer
from hashmarket.delivery.report import (
    DeliveryLog,
    Holder,
    delivery_report,
    read_delivery,
    read_log,
)
from hashmarket.errors import DataError, DeliveryError
from hashmarket.ledger import Account, Asset, Ledger, Transfer
from hashmarket.market import (
    AdvanceTime,
    Exchange,
    PlaceOrder,
    RegisterHashrate,
    Side,
    open_exchange_accounts,
)
from tests.delivery.endpoint import Clock, RunningEndpoint
from tests.delivery.miner import CpuMiner
from tests.delivery.test_stratum_tcp import EASY, factory

BUYER, SELLER = 101, 202
PRICE = 86_400_000  # sats per PH/s per day: 1 sat per TH·s
T0 = 1_800_000_000  # seconds
NS = 10**9
ASIC_SHARE = Fraction(2**16)  # 2⁴⁸ hashes = 281.47… TH·s


def open_market(
    budget_sats: int, duration_s: int = 3_600, url: str | None = None
) -> tuple[Ledger, Exchange]:
    url = url or f"sqlite:///{tempfile.mkdtemp()}/market.db"
    ledger = Ledger.open(url, create=True)
    ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="btc-issuer")
    ledger.create_accounts([Account(BUYER, "BTC", name="buyer"), Account(SELLER, "BTC")])
    ledger.transfer(Transfer(1_000, 1, BUYER, 5_000_000))
    exchange = Exchange.open(ledger, accounts=open_exchange_accounts(ledger))
    t = T0 * NS
    exchange.submit(RegisterHashrate(t, SELLER, 1_000))
    exchange.submit(PlaceOrder(t, SELLER, "HASHPOWER", Side.SELL, 100, PRICE))
    bought = exchange.submit(
        PlaceOrder(
            t,
            BUYER,
            "HASHPOWER",
            Side.BUY,
            100,
            PRICE,
            budget_sats=budget_sats,
            duration_s=duration_s,
        )
    )
    assert [(f.price, f.size) for f in bought.trades] == [(PRICE, 100)]
    return ledger, exchange


@pytest.fixture
def market_endpoint() -> Iterator[tuple[Ledger, Exchange, RunningEndpoint, MarketPayer]]:
    ledger, exchange = open_market(budget_sats=10_000)
    (contract_id,) = exchange.engine.contracts
    terms = delivery_terms(exchange.engine.contracts[contract_id], interval_s=60)
    running = RunningEndpoint(terms, difficulty=EASY, clock=Clock(T0))
    payer = MarketPayer(exchange, contract_id, endpoint=running.core)
    running.server.on_interval = payer
    running.publish(factory(terms.contract_id).job(running.clock.now))
    yield ledger, exchange, running, payer
    running.stop()


def test_terms_follow_the_exchange_contract() -> None:
    _, exchange = open_market(budget_sats=10_000)
    (contract,) = exchange.engine.contracts.values()
    terms = delivery_terms(contract)
    assert terms.contract_id == contract_name(contract.contract_id) == "hp-1"
    assert market_contract_id("hp-1") == 1
    assert (terms.start_s, terms.end_s) == (T0, T0 + 3_600)
    assert (terms.price_sats_per_ph_day, terms.hashrate_ths, terms.budget_sats) == (
        PRICE,
        100,
        10_000,
    )
    with pytest.raises(DeliveryError, match="not an exchange contract name"):
        market_contract_id("c1")
    with pytest.raises(DeliveryError, match="no running contract"):
        MarketPayer(exchange, 99)


def test_a_miner_delivers_an_exchange_contract_until_its_budget_is_spent(
    market_endpoint: tuple[Ledger, Exchange, RunningEndpoint, MarketPayer],
) -> None:
    ledger, exchange, running, payer = market_endpoint
    miner = CpuMiner("127.0.0.1", running.port, "hp-1.rig1").connect()
    shares = miner.mine(2**18)
    replies = miner.submit_all(shares)
    assert len(shares) > 20 and all(r["result"] is True for r in replies)
    # The CPU's work (about 10⁶ hashes) is far under one TH·s: reported as nothing, carried.
    running.clock.now += 60
    first = running.close_interval()
    assert first.shares_accepted == len(shares) and 0 < first.work_hashes < 10**12
    assert payer.reports == [] and payer.paid_sats == 0
    assert ledger.account(SELLER).balance == 0

    # An ASIC's shares at difficulty 2¹⁶ (a CPU cannot find one in a test's time): 20 of them
    # are 20 × 2⁴⁸ = 5,629,499,534,213,120 hashes; with the carried CPU work still under the
    # next TH·s, 5,629 TH·s are counted, worth 5,629 sats (under the 100 TH/s × 120 s cap).
    running.call(lambda: running.core.meter.credit(ASIC_SHARE, 20))
    running.clock.now += 60
    running.close_interval()
    (report,) = payer.reports
    assert (report.delivered_ths_s, report.ts_ns) == (5_629, (T0 + 120) * NS)
    assert payer.paid_sats == 5_629 and payer.spent_sats == 5_629 + 12  # ⌈11.258⌉ buyer fee
    assert ledger.account(SELLER).balance == 5_629 - 6  # ⌈5.629⌉ seller fee

    # 20 more: the running total is 11,258 TH·s, the change 5,629 sats plus a 12-sat fee, but
    # only 10,000 − 5,641 = 4,359 sats of budget are left: the largest payment g with
    # g + ⌈0.002 g⌉ ≤ 4,359 is 4,350 (fee 9); the contract ends on its budget.
    running.call(lambda: running.core.meter.credit(ASIC_SHARE, 20))
    running.clock.now += 60
    running.close_interval()
    assert payer.paid_sats == 5_629 + 4_350 and payer.spent_sats == 10_000
    assert payer.ended and running.core.ended and not exchange.engine.contracts
    assert ledger.account(SELLER).balance == 5_623 + 4_350 - 5  # ⌈4.35⌉ seller fee
    buyer = ledger.account(BUYER)
    assert (buyer.balance, buyer.debits_pending) == (5_000_000 - 10_000, 0)
    fees = ledger.account(exchange.accounts.fees_btc).balance
    assert fees == 12 + 6 + 9 + 5

    # The endpoint now refuses work: the exchange ended the contract.
    (reply,) = miner.submit_all([shares[0]])
    assert reply["error"][:2] == [20, "contract ended"]
    miner.close()
    assert ledger.verify().ok


def test_the_duration_ends_the_contract_and_releases_the_unspent_budget(ledger_url: str) -> None:
    ledger, exchange = open_market(budget_sats=1_000_000, url=ledger_url)
    terms = delivery_terms(exchange.engine.contracts[1], interval_s=600)
    meter = Meter(terms, interval_start_s=terms.start_s)
    endpoint = ContractEndpoint(terms, now_s=lambda: T0 + 600, meter=meter)
    payer = MarketPayer(exchange, 1, endpoint=endpoint)
    meter.credit(ASIC_SHARE, 10)  # 2,814.749… TH·s in ten minutes: 2,814 sats
    payer(meter.close(T0 + 600))
    assert ledger.account(BUYER).debits_pending == 1_000_000 - 2_814 - 6  # ⌈5.628⌉
    exchange.submit(AdvanceTime((T0 + 3_600) * NS))
    assert not endpoint.ended
    payer(meter.close(T0 + 900))  # an interval with no work: the endpoint learns of the end
    assert endpoint.ended and endpoint.closed_reason() == "contract ended"
    assert not payer.running()
    buyer = ledger.account(BUYER)
    assert (buyer.balance, buyer.debits_pending) == (5_000_000 - 2_820, 0)
    assert ledger.account(SELLER).balance == 2_814 - 3  # ⌈2.814⌉
    # Work metered after the end is not reported: nothing more is paid.
    meter.credit(ASIC_SHARE, 10)
    payer(meter.close(T0 + 1_200))
    assert len(payer.reports) == 1 and ledger.account(SELLER).balance == 2_811
    assert ledger.verify().ok


def test_standalone_and_exchange_pay_the_same_total_for_the_same_work() -> None:
    """The one money rule: the same metered intervals pay the seller the same gross total
    through the exchange (``ReportDelivery``) as through the standalone ledger payer."""
    ledger, exchange = open_market(budget_sats=1_000_000)
    terms = delivery_terms(exchange.engine.contracts[1], interval_s=600)
    ledger.create_accounts([Account(303, "BTC"), Account(404, "BTC")])
    ledger.transfer(Transfer(1_001, 1, 303, 1_000_000))
    standalone = dataclasses.replace(
        terms,
        contract_id="standalone-1",
        pending_transfer_id=77,
        buyer_account_id=303,
        seller_account_id=404,
    )
    reserve_budget(ledger, standalone)
    meters = [Meter(t, interval_start_s=T0) for t in (terms, standalone)]
    market_payer, ledger_payer = MarketPayer(exchange, 1), LedgerPayer(ledger, standalone)
    payers: list[Callable[[IntervalRecord], None]] = [market_payer, ledger_payer]
    # Odd amounts of work, so the sub-TH·s carry and the sat rounding both matter.
    steps = [(ASIC_SHARE, 3), (Fraction(3), 7), (Fraction(2**20), 5)]
    for k, (difficulty, count) in enumerate(steps):
        for meter, pay in zip(meters, payers, strict=True):
            meter.credit(difficulty, count)
            pay(meter.close(T0 + 600 * (k + 1)))
    # 3 × 2⁴⁸ + 21 × 2³² + 5 × 2⁵² = 23,362,513,261,297,664 hashes: 23,362 whole TH·s.
    work = 3 * 2**48 + 7 * 3 * 2**32 + 5 * 2**52
    assert market_payer.paid_sats == work // 10**12 == 23_362
    assert ledger.account(404).balance == 23_362 == meters[1].paid_total_sats
    ledger_payer.finish()
    assert ledger.verify().ok


def test_a_gpu_block_bought_on_the_exchange_is_the_lease_its_heartbeats_prove() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from hashmarket.delivery import GpuReading, NodeAgent, settle_refunds, sla_report
    from hashmarket.delivery.market_link import gpu_lease
    from hashmarket.ledger import ManualClock
    from hashmarket.market import PlaceGpuOrder, RegisterGpus

    clock = ManualClock(T0 * NS)
    ledger = Ledger.open(f"sqlite:///{tempfile.mkdtemp()}/gpu.db", create=True, clock=clock)
    ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="btc-issuer")
    ledger.create_asset(Asset("USD", 2), issuer_account_id=2, name="usd-issuer")
    ledger.create_accounts([Account(301, "USD"), Account(302, "USD")])
    ledger.transfer(Transfer(2_000, 2, 301, 100_000))
    exchange = Exchange.open(ledger, accounts=open_exchange_accounts(ledger))
    start_s, end_s = T0 + 3_600, T0 + 3 * 3_600  # two whole hours, not yet begun
    t = T0 * NS
    exchange.submit(RegisterGpus(t, 302, "H100", 2, start_s, end_s))
    exchange.submit(PlaceGpuOrder(t, 302, Side.SELL, "H100", 2, start_s, end_s, 250))
    exchange.submit(PlaceGpuOrder(t, 301, Side.BUY, "H100", 2, start_s, end_s, 250))
    (trade,) = exchange.engine.gpu.trades
    # 2 GPUs × 2 h × 250 ¢ = 1,000 ¢; the buyer (taker) pays 2 ¢ fee, the seller 1 ¢.
    assert ledger.account(301).balance == 100_000 - 1_002
    assert ledger.account(302).balance == 999

    agent = NodeAgent(
        Ed25519PrivateKey.generate(),
        lease_id=f"gpu-{trade.trade_id}",
        block_id=f"trade-{trade.trade_id}",
    )
    with pytest.raises(DeliveryError, match="names 1 devices; the trade is for 2 GPUs"):
        gpu_lease(trade, node_public_key=agent.public_key_hex, device_ids=["GPU-0"])
    lease = gpu_lease(trade, node_public_key=agent.public_key_hex, device_ids=["GPU-0", "GPU-1"])
    assert (lease.start_minute, lease.end_minute) == (start_s // 60, end_s // 60)
    beats = []
    for minute in range(lease.start_minute, lease.end_minute):
        readings = {"GPU-0": GpuReading(9_000, 650)}
        if minute % 10:  # GPU-1 misses one minute in ten: 228 of 240 device-minutes, 95 %
            readings["GPU-1"] = GpuReading(8_000, 600)
        beats += [hb.received(minute * 60 + 70) for hb in agent.beat(minute, readings)]
    report = sla_report(lease, beats)
    (block,) = report.blocks
    assert block.up_minutes == 228 and block.refund_cents == 100  # 10 % of 1,000 ¢
    with pytest.raises(DeliveryError, match="the lease settles from"):
        settle_refunds(ledger, report)
    clock.advance(end_s + 120 - T0)
    settle_refunds(ledger, report)
    assert ledger.account(301).balance == 100_000 - 1_002 + 100
    assert ledger.account(302).balance == 999 - 100
    assert ledger.verify().ok


def test_a_transferred_contract_is_paid_from_the_new_holders_reservation(ledger_url: str) -> None:
    from hashmarket.errors import MarketError
    from hashmarket.market import TransferContract

    ledger, exchange = open_market(budget_sats=10_000, url=ledger_url)
    ledger.create_accounts([Account(103, "BTC"), Account(104, "BTC")])
    ledger.transfer(Transfer(1_002, 1, 103, 10_000))
    ledger.transfer(Transfer(1_003, 1, 104, 100))
    terms = delivery_terms(exchange.engine.contracts[1], interval_s=600)
    meter = Meter(terms, interval_start_s=T0)
    payer = MarketPayer(exchange, 1)
    meter.credit(ASIC_SHARE, 20)
    payer(meter.close(T0 + 600))  # 5,629 sats and a 12-sat fee: 4,359 of the budget left
    t = (T0 + 600) * NS
    refused = {
        "does not hold it": TransferContract(t, 1, 103, 104),
        "already holds or sells it": TransferContract(t, 1, BUYER, SELLER),
        "no running hashpower contract 9": TransferContract(t, 9, BUYER, 103),
        "cannot reserve 4459 BTC": TransferContract(t, 1, BUYER, 104, price_sats=100),
    }
    for message, command in refused.items():
        with pytest.raises(MarketError, match=message):
            exchange.submit(command)
    exchange.submit(TransferContract(t, 1, BUYER, 103, price_sats=1_000))
    buyer, holder = ledger.account(BUYER), ledger.account(103)
    assert (buyer.balance, buyer.debits_pending) == (5_000_000 - 5_641 + 1_000, 0)
    assert (holder.balance, holder.debits_pending) == (10_000 - 1_000, 4_359)
    assert delivery_terms(exchange.engine.contracts[1]).buyer_account_id == 103
    # A restart (from a snapshot and the log after it) carries on with the new holder.
    exchange.snapshot()
    payer.exchange = exchange = Exchange.open(ledger, accounts=exchange.accounts)
    assert exchange.engine.contracts[1].buyer_account_id == 103

    # 10 more shares: 8,444 TH·s in all, 2,815 more sats and a 6-sat fee, from the new holder.
    meter.credit(ASIC_SHARE, 10)
    payer(meter.close(T0 + 1_200))
    holder = ledger.account(103)
    assert (holder.balance, holder.debits_pending) == (9_000 - 2_821, 4_359 - 2_821)
    assert ledger.account(SELLER).balance == 5_623 + 2_815 - 3
    exchange.submit(AdvanceTime((T0 + 3_600) * NS))
    holder = ledger.account(103)
    assert (holder.balance, holder.debits_pending) == (6_179, 0)
    assert ledger.verify().ok
    # The log replays to the same state: the contract's holder and the reservations.
    again = Exchange.open(ledger, accounts=exchange.accounts)
    assert again.clearing.state() == exchange.clearing.state() and not again.engine.contracts


def test_a_restarted_payer_carries_on_from_the_logged_intervals() -> None:
    ledger, exchange = open_market(budget_sats=1_000_000)
    terms = delivery_terms(exchange.engine.contracts[1], interval_s=600)
    meter = Meter(terms, interval_start_s=T0)
    meter.credit(ASIC_SHARE, 3)  # 844.42… TH·s: 844 reported, 0.42… TH·s carried
    first = meter.close(T0 + 600)
    MarketPayer(exchange, 1)(first)
    restarted = MarketPayer(exchange, 1)
    restarted.catch_up([first])
    assert restarted.reported_ths_s == 844 and restarted.paid_sats == 844
    meter.credit(ASIC_SHARE, 3)  # 1,688.84… TH·s in all: 844 more, not 845 or 1,688
    restarted(meter.close(T0 + 1_200))
    assert restarted.reports[-1].delivered_ths_s == 844 and restarted.paid_sats == 1_688
    assert ledger.account(SELLER).balance == (844 - 1) + (844 - 1)  # ⌈0.844⌉ seller fee each


def sold_on_after_one_interval(path: Path) -> tuple[Ledger, Exchange]:
    """The contract delivered into the log at ``path``: 20 shares in its first interval (paid
    by the buyer, 101), then sold through a listing to 103 for 1,000 sats, then 10 shares
    (paid by 103)."""
    from hashmarket.market import BuyContract, ListContract

    ledger, exchange = open_market(budget_sats=10_000)
    ledger.create_accounts([Account(103, "BTC")])
    ledger.transfer(Transfer(1_002, 1, 103, 10_000))
    terms = delivery_terms(exchange.engine.contracts[1], interval_s=600)
    log = HolderLog(DeliveryLog(path, terms), exchange, 1, Holder(BUYER, T0, 0))
    payer = MarketPayer(exchange, 1)
    meter = Meter(terms, interval_start_s=T0)
    for shares, end_s in ((20, T0 + 600), (10, T0 + 1_200)):
        meter.credit(ASIC_SHARE, shares)
        record = meter.close(end_s)
        log(record)
        payer(record)
        if end_s == T0 + 600:  # 5,629 sats and a 12-sat fee paid: 4,359 of the budget left
            t = end_s * NS
            listing = exchange.submit(ListContract(t, 1, BUYER, 1_000)).order_id
            exchange.submit(BuyContract(t, listing, 103, 1_000))
    return ledger, exchange


def test_the_delivery_log_names_each_holder_and_the_intervals_it_paid(tmp_path: Path) -> None:
    path = tmp_path / "hp-1.jsonl"
    ledger, exchange = sold_on_after_one_interval(path)
    # 8,444 TH·s in all: 2,815 more sats and a 6-sat fee, from 103's reservation; 103 paid the
    # 1,000-sat ask and its 2-sat taker fee, 101 received the ask less its 1-sat maker fee.
    assert (ledger.account(103).balance, ledger.account(103).debits_pending) == (
        10_000 - 1_002 - 2_821,
        4_359 - 2_821,
    )
    assert ledger.account(BUYER).balance == 5_000_000 - 5_641 + 999
    read = read_delivery(path)
    assert read.terms.buyer_account_id == BUYER  # the terms as ordered
    assert read.holders == (Holder(BUYER, T0, 0), Holder(103, T0 + 600, 1))
    assert read_log(path)[0].buyer_account_id == 103
    assert [r.index for r in read.held_by(BUYER)] == [0]
    assert [r.index for r in read.held_by(103)] == [1]
    assert read.held_by(SELLER) == []
    report = delivery_report(read.terms, read.records, read.holders).to_dict()
    assert report["buyer_account_id"] == 103 and report["paid_sats"] == 5_629 + 2_815
    assert report["holders"] == [
        {"account_id": BUYER, "since_s": T0, "from_interval": 0},
        {"account_id": 103, "since_s": T0 + 600, "from_interval": 1},
    ]
    # A restarted endpoint carries on with the last holder the log names: no new holder line.
    again = HolderLog(DeliveryLog(path, read.terms), exchange, 1, read.holders[-1])
    meter = Meter(read.terms, interval_start_s=T0 + 1_200, index=2)
    again(meter.close(T0 + 1_800))
    assert read_delivery(path).holders == read.holders and len(read_delivery(path).records) == 3
    # A holder line must come before the first interval it pays for.
    with path.open("a") as handle:
        handle.write('{"holder": {"account_id": 104, "since_s": 0, "from_interval": 9}}\n')
    with pytest.raises(DataError, match=r"jsonl:6: .*holder from interval 9 after 3 intervals"):
        read_delivery(path)
