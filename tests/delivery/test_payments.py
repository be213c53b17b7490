"""Paying delivered work from the reserved budget: exact, once, and never for nothing."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest

from hashmarket.delivery import LedgerPayer, Meter, reserve_budget
from hashmarket.delivery.payments import post_id, reserve_id
from hashmarket.delivery.report import DeliveryLog, delivery_report, read_log
from hashmarket.errors import DataError
from hashmarket.ledger import Account, Ledger, TransferFlags
from tests.conftest import fund
from tests.delivery.endpoint import START, contract

BUYER, SELLER = 10, 11
# At 5,000,000 sats per PH·day one sat buys 8.64e19 / 5e6 = 17,280,000,000,000 hashes; a
# difficulty-1 share is 2³² hashes, so 4,023.3 shares make a sat.
HASHES_PER_SAT = Fraction(8_640 * 10**16, 5_000_000)


def open_parties(ledger: Ledger) -> None:
    fund(ledger, BUYER, 5_000, tid=9001)
    ledger.create_account(Account(SELLER, "BTC"))


def test_intervals_pay_the_metered_value_exactly_and_void_the_rest(ledger: Ledger) -> None:
    open_parties(ledger)
    terms = contract("pay1", budget_sats=1_000)
    payer = LedgerPayer(ledger, terms, reserve_budget(ledger, terms))
    meter = Meter(terms, interval_start_s=terms.start_s)
    shares = [10_000, 0, 7_777, 123_457, 1]
    records = []
    for i, n in enumerate(shares):
        meter.credit(Fraction(1), n % 50)
        meter.credit(Fraction(50), n // 50)
        record = meter.close(terms.start_s + 3_600 * (i + 1))
        payer(record)
        records.append(record)
    total_hashes = sum(shares) * 2**32
    exact = total_hashes / HASHES_PER_SAT  # 32.28… sats, far below the budget
    paid = [r.paid_sats for r in records]
    assert sum(paid) == math.floor(exact) == records[-1].paid_total_sats
    assert paid[1] == 0  # nothing delivered, nothing paid
    # The remainder carried is exact to the 50 significant digits money.DECIMAL keeps.
    assert abs(Fraction(records[-1].remainder_sats) - (exact - math.floor(exact))) < 1e-45
    # The seller holds exactly what was paid; the rest of the budget is still reserved.
    seller, buyer = ledger.lookup_accounts([SELLER, BUYER])[::-1]
    assert seller.credits_posted == sum(paid)
    assert buyer.debits_pending == 1_000 - sum(paid)
    assert seller.credits_pending == 1_000 - sum(paid)
    # The interval without payment wrote nothing.
    assert ledger.lookup_transfer(post_id("pay1", 1)) is None
    assert ledger.lookup_transfer(reserve_id("pay1", 0)) is not None
    payer.finish()
    seller, buyer = ledger.lookup_accounts([SELLER, BUYER])[::-1]
    assert (buyer.debits_pending, seller.credits_pending) == (0, 0)
    assert buyer.balance == 5_000 - sum(paid)
    assert ledger.verify().ok


def test_a_replayed_interval_pays_once(ledger: Ledger) -> None:
    open_parties(ledger)
    terms = contract("pay2", budget_sats=1_000)
    start = reserve_budget(ledger, terms)
    meter = Meter(terms, interval_start_s=terms.start_s)
    meter.credit(Fraction(4096), 100)  # 1.76e15 hashes: 101.8 sats
    record = meter.close(terms.start_s + 600)
    payer = LedgerPayer(ledger, terms, start)
    payer(record)
    again = LedgerPayer(ledger, terms, start)
    again(record)  # a crash before the state was saved: the same ids, applied once
    assert again.reservation == payer.reservation
    seller = ledger.account(SELLER)
    assert seller.credits_posted == record.paid_sats == 101
    post = ledger.lookup_transfer(post_id("pay2", 0))
    assert post is not None and post.flags & TransferFlags.POST_PENDING


def test_budget_caps_payment_and_the_last_post_closes_the_reservation(ledger: Ledger) -> None:
    open_parties(ledger)
    terms = contract("pay3", budget_sats=50)
    payer = LedgerPayer(ledger, terms, reserve_budget(ledger, terms))
    meter = Meter(terms, interval_start_s=terms.start_s)
    meter.credit(Fraction(2**20), 1)  # 4.5e15 hashes: 260 sats of work for a 50-sat budget
    record = meter.close(terms.start_s + 600)
    payer(record)
    assert (record.paid_sats, record.budget_left_sats, meter.budget_spent) == (50, 0, True)
    assert payer.reservation.amount_sats == 0
    assert ledger.account(SELLER).credits_posted == 50
    assert ledger.account(BUYER).debits_pending == 0
    payer.finish()  # nothing left to void
    assert ledger.verify().ok


def test_delivery_log_round_trips_and_reports_under_delivery(tmp_path: Path) -> None:
    terms = contract("log1", hashrate_ths=Fraction(1, 1000))  # 1 GH/s ordered
    log = DeliveryLog(tmp_path / "log1.jsonl", terms)
    meter = Meter(terms, interval_start_s=terms.start_s)
    meter.credit(Fraction(1), 1_000)  # 4.3e12 hashes in an hour: 1.19 GH/s
    meter.reject("duplicate")
    log(meter.close(terms.start_s + 3_600))
    meter.credit(Fraction(1), 500)  # 0.6 GH/s: under-delivered
    log(meter.close(terms.start_s + 7_200))
    read_terms, records = read_log(tmp_path / "log1.jsonl")
    assert read_terms == terms
    report = delivery_report(read_terms, records)
    assert report.under_delivered == (1,)
    assert report.work_hashes == 1_500 * 2**32
    assert report.ordered_hashes == 2 * 3_600 * 10**9
    assert report.delivery_ratio == pytest.approx(1_500 * 2**32 / 7.2e12)
    assert report.shares_rejected == {"duplicate": 1}
    # 1,500 difficulty-1 shares over two hours: √1500 × 2³² hashes of standard error.
    assert report.delivered_hashrate_std_error_ths == pytest.approx(
        math.sqrt(1_500) * 2**32 / 1e12 / 7_200
    )
    assert report.to_dict()["paid_sats"] == math.floor(1_500 * 2**32 / HASHES_PER_SAT)
    assert START.isoformat() in (tmp_path / "log1.jsonl").read_text()


def test_a_damaged_log_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    DeliveryLog(path, contract("bad"))
    with path.open("a") as handle:
        handle.write('{"interval": {"index": 0}}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not a delivery log line"):
        read_log(path)


def test_a_restart_catches_up_on_logged_intervals_and_pays_each_once(ledger: Ledger) -> None:
    open_parties(ledger)
    terms = contract("pay4", budget_sats=1_000)
    reserve_budget(ledger, terms)
    meter = Meter(terms, interval_start_s=terms.start_s)
    records = []
    for i, shares in enumerate([5_000, 0, 9_000, 4_000]):
        meter.credit(Fraction(4096), shares // 100)
        records.append(meter.close(terms.start_s + 600 * (i + 1)))
    first = LedgerPayer(ledger, terms)
    for record in records[:2]:  # the run paid two intervals, logged four, and stopped
        first(record)
    head = ledger.head()
    again = LedgerPayer(ledger, terms)
    again.catch_up(records[:2])
    assert ledger.head() == head  # nothing new: every id was a replay
    again.catch_up(records)
    paid = sum(r.paid_sats for r in records)
    assert paid == records[-1].paid_total_sats > 0
    assert ledger.account(SELLER).credits_posted == paid
    assert ledger.account(BUYER).debits_pending == 1_000 - paid
    assert again.reservation.amount_sats == 1_000 - paid
    assert ledger.verify().ok
