"""The hashrate fund on the ledger, on SQLite and PostgreSQL: a launch, a creation and a
redemption checked to the sat, the cut-off on either side, dealing windows, idempotent
replays, authorised participants only, and a distributing fund paying its income."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from hashmarket.errors import FundError
from hashmarket.instruments import parse_fund_spec
from hashmarket.ledger import Account, Ledger, ManualClock, Transfer
from hashmarket.ledger import fund as fd
from hashmarket.ledger import tokens as tk
from hashmarket.ledger.clock import day_start_ns
from tests.conftest import BTC_ISSUER, STORES, open_ledger

DAY1, DAY2, DAY3 = dt.date(2025, 1, 10), dt.date(2025, 1, 11), dt.date(2025, 1, 12)
# Constructed fixings: at 0.0005 BTC/PH/day and $100,000 a token pays 50 − 26 = 24 sats,
# at 0.00055 it pays 55 − 26 = 29 sats (see tests/unit/test_fund_nav.py).
RATES = {
    DAY1: tk.DayRate(DAY1, Decimal("0.0005"), Decimal(100_000), "a" * 64, "b" * 64),
    DAY2: tk.DayRate(DAY2, Decimal("0.00055"), Decimal(100_000), "c" * 64, "d" * 64),
    DAY3: tk.DayRate(DAY3, Decimal("0.0005"), Decimal(100_000), "e" * 64, "f" * 64),
}
SPEC: dict[str, Any] = {
    "type": "hashrate_fund",
    "fund": "HFUND",
    "token_series": "HT1",
    "launch_day": "2025-01-10",
    "creation_unit_shares": 1000,
    "seed_tokens_per_unit": 100,
    "seed_sats_per_unit": 50000,
    "management_fee_rate": "0.0365",
    "cutoff_utc": "16:00",
    "income": "accumulate",
    "mark_discount_rate": "0",
    "share_issuer_account_id": 500,
    "token_account_id": 501,
    "btc_account_id": 502,
    "manager_account_id": 503,
}
AP_SHARES, AP_TOKENS, AP_BTC = 600, 601, 602
NOT_AP_SHARES = 610


def at(day: dt.date, hour: int, minute: int = 0) -> int:
    return day_start_ns(day) + (hour * 3600 + minute * 60) * 10**9


def received(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)


def order(order_id: str, units: int, when: dt.datetime) -> fd.Order:
    return fd.Order(order_id, AP_SHARES, AP_TOKENS, AP_BTC, units, when)


def balance(ledger: Ledger, account_id: int) -> int:
    return ledger.account(account_id).balance


def launched(url: str, spec: dict[str, Any]) -> tuple[Ledger, ManualClock, Any]:
    """The series HT1 (1 TH/s a token, 20 W/TH, $0.05/kWh, $0.002/TH/day, to 31 March), the
    fund opened on 9 January, and an AP (600) holding 500 tokens (601) and 1 BTC (602)."""
    clock = ManualClock(day_start_ns(dt.date(2025, 1, 9)))
    ledger = open_ledger(url, clock)
    ledger.create_accounts([Account(i, "BTC") for i in (3, AP_BTC)])
    ledger.transfer(Transfer(1, BTC_ISSUER, AP_BTC, 10**8))
    tk.issue(
        ledger,
        tk.TokenSeries(
            asset="HT1",
            issuer_account_id=100,
            reserve_account_id=101,
            treasury_account_id=3,
            ths_per_token=Decimal(1),
            efficiency_w_per_th=Decimal(20),
            power_price_usd_per_kwh=Decimal("0.05"),
            service_fee_usd_per_th_day=Decimal("0.002"),
            backing_hashrate_ths=Decimal(10_000),
            term_start=dt.date(2025, 1, 1),
            term_end=dt.date(2025, 3, 31),
        ),
    )
    with ledger.transaction() as w:
        tk.open_holder(w, "HT1", token_account_id=AP_TOKENS, payout_account_id=AP_BTC)
        tk.mint(w, "HT1", transfer_id=2, to_account_id=AP_TOKENS, amount_units=500)
    terms = parse_fund_spec(spec)
    fd.open_fund(ledger, terms)
    fd.open_fund(ledger, terms)  # again: nothing changes
    fd.register_ap(ledger, terms, share_account_id=AP_SHARES, payout_account_id=AP_BTC)
    ledger.create_account(Account(NOT_AP_SHARES, "HFUND"))
    return ledger, clock, terms


@pytest.fixture(params=STORES)
def url(request: pytest.FixtureRequest, new_url: Any) -> str:
    return str(new_url(request.param))


def test_creation_and_redemption_to_the_sat(url: str) -> None:
    ledger, clock, terms = launched(url, SPEC)
    with ledger:
        # Day 1, the launch, struck at 00:30 on 11 January: nothing held, seed NAV 242.
        clock.set(at(DAY2, 0, 30))
        day1 = fd.strike(ledger, terms, RATES[DAY1])
        assert (day1.fee_sats, day1.nav_sats_per_share) == (0, 242)
        # An order received 10 January 15:00 (before the 16:00 cut-off) deals at day 1:
        # 2 units = 200 tokens and 2 × 50,000 sats in, 2,000 shares out.
        clock.set(at(DAY2, 1))
        done = fd.create_shares(ledger, terms, order("c1", 2, received(DAY1, 15)), RATES[DAY1])
        assert (done.dealing_day, done.basket.token_units, done.basket.cash_sats) == (
            DAY1,
            200,
            100_000,
        )
        assert balance(ledger, AP_SHARES) == 2_000
        assert balance(ledger, AP_TOKENS) == 300
        assert balance(ledger, AP_BTC) == 10**8 - 100_000
        assert (balance(ledger, 501), balance(ledger, 502)) == (200, 100_000)
        assert balance(ledger, 500) == -2_000
        # Replaying the order applies nothing.
        head = ledger.head()
        fd.create_shares(ledger, terms, order("c1", 2, received(DAY1, 15)), RATES[DAY1])
        assert ledger.head() == head

        # Day 2 struck at 00:10 on 12 January: 200 × 2,291 + 100,000 = 558,200 gross, fee
        # 55 sats to the manager, NAV (558,200 − 55) / 2,000 = 279.0725.
        clock.set(at(DAY3, 0, 10))
        day2 = fd.strike(ledger, terms, RATES[DAY2], previous=RATES[DAY1])
        assert (day2.gross_sats, day2.fee_sats, day2.net_sats) == (558_200, 55, 558_145)
        assert balance(ledger, 503) == 55
        assert (balance(ledger, 502)) == 100_000 - 55
        # A redemption received 11 January 10:00 deals at day 2: 1 unit = 100 tokens and
        # floor(279,072.5 − 229,100) = 49,972 sats out, 1,000 shares in.
        clock.set(at(DAY3, 0, 20))
        out = fd.redeem_shares(ledger, terms, order("r1", 1, received(DAY2, 10)), RATES[DAY2])
        assert (out.basket.token_units, out.basket.cash_sats) == (100, 49_972)
        assert balance(ledger, AP_SHARES) == 1_000
        assert balance(ledger, AP_TOKENS) == 400
        assert balance(ledger, AP_BTC) == 10**8 - 100_000 + 49_972
        assert (balance(ledger, 501), balance(ledger, 502)) == (100, 100_000 - 55 - 49_972)
        assert balance(ledger, 500) == -1_000
        assert fd.nav(ledger, terms, RATES[DAY2]) == day2  # reproducible after the fact
        ledger.verify().raise_if_broken()


def test_the_cut_off_on_either_side(url: str) -> None:
    ledger, clock, terms = launched(url, SPEC)
    with ledger:
        clock.set(at(DAY2, 0, 30))
        fd.strike(ledger, terms, RATES[DAY1])
        fd.create_shares(ledger, terms, order("seed", 1, received(DAY1, 9)), RATES[DAY1])
        late = order("late", 1, received(DAY1, 16))  # 16:00:00: after the cut-off
        with pytest.raises(FundError, match=r"deals at 2025-01-11's NAV .* not 2025-01-10's"):
            fd.create_shares(ledger, terms, late, RATES[DAY1])
        with pytest.raises(FundError, match="the day is not over"):
            fd.create_shares(ledger, terms, late, RATES[DAY2])
        head = ledger.head()
        # Day 2's window: strike it, then the late order deals at its NAV (279.0725 → see
        # above; here 100 tokens × 2,291 + 50,000 sats = 279,100; fee 27.91 → 27;
        # NAV 279.073 a share): 100 tokens and ceil(279,073 − 229,100) = 49,973 sats.
        clock.set(at(DAY3, 1))
        day2 = fd.strike(ledger, terms, RATES[DAY2], previous=RATES[DAY1])
        assert (day2.fee_sats, day2.net_sats) == (27, 279_073)
        done = fd.create_shares(ledger, terms, late, RATES[DAY2])
        assert (done.dealing_day, done.basket.token_units, done.basket.cash_sats) == (
            DAY2,
            100,
            49_973,
        )
        assert ledger.head() != head
        # Day 1's window has closed: its orders can no longer be booked.
        with pytest.raises(FundError, match="dealing window closed at 2025-01-12"):
            fd.create_shares(ledger, terms, order("x", 1, received(DAY1, 9)), RATES[DAY1])


def test_only_authorised_participants_deal_and_refusals_change_nothing(url: str) -> None:
    ledger, clock, terms = launched(url, SPEC)
    with ledger:
        clock.set(at(DAY2, 0, 30))
        head = ledger.head()
        fd.strike(ledger, terms, RATES[DAY1])
        assert ledger.head() == head  # nothing to book on the launch day
        stranger = fd.Order("c2", NOT_AP_SHARES, AP_TOKENS, AP_BTC, 1, received(DAY1, 9))
        with pytest.raises(FundError, match="account 610 is not an authorised participant"):
            fd.create_shares(ledger, terms, stranger, RATES[DAY1])
        # The AP holds 500 tokens: 6 units need 600, so no leg is booked.
        with pytest.raises(FundError, match="exceeds_credits"):
            fd.create_shares(ledger, terms, order("c3", 6, received(DAY1, 9)), RATES[DAY1])
        assert ledger.head() == head
        assert balance(ledger, AP_TOKENS) == 500 and balance(ledger, AP_BTC) == 10**8
        fd.create_shares(ledger, terms, order("c1", 2, received(DAY1, 9)), RATES[DAY1])
        # Day 2 has a fee to book (55 sats): its orders wait for its strike.
        clock.set(at(DAY3, 0, 30))
        head = ledger.head()
        with pytest.raises(FundError, match="not struck yet"):
            fd.redeem_shares(ledger, terms, order("r1", 1, received(DAY2, 9)), RATES[DAY2])
        with pytest.raises(FundError, match="needs the fixings of 2025-01-10"):
            fd.strike(ledger, terms, RATES[DAY2])
        assert ledger.head() == head
        # A day is struck in its own window only.
        with pytest.raises(FundError, match="dealing window closed"):
            fd.strike(ledger, terms, RATES[DAY1])


def test_registering_participants(url: str) -> None:
    ledger, _, terms = launched(url, SPEC)
    with ledger:
        head = ledger.head()
        fd.register_ap(ledger, terms, share_account_id=AP_SHARES, payout_account_id=AP_BTC)
        assert ledger.head() == head  # the same registration again: nothing changes
        with pytest.raises(FundError, match="registered with another payout"):
            fd.register_ap(ledger, terms, share_account_id=AP_SHARES, payout_account_id=3)
        with pytest.raises(FundError, match="601 is not a BTC account"):
            fd.register_ap(ledger, terms, share_account_id=620, payout_account_id=AP_TOKENS)
        other = parse_fund_spec({**SPEC, "fund": "OTHER", "share_issuer_account_id": 510})
        with pytest.raises(FundError, match=r"not open on this ledger \(hashmarket fund create\)"):
            fd.register_ap(ledger, other, share_account_id=620, payout_account_id=AP_BTC)
        assert ledger.head() == head


def test_a_day_is_struck_only_after_the_day_before(url: str) -> None:
    ledger, clock, terms = launched(url, SPEC)
    with ledger:
        clock.set(at(DAY2, 0, 30))
        fd.strike(ledger, terms, RATES[DAY1])
        fd.create_shares(ledger, terms, order("c1", 2, received(DAY1, 9)), RATES[DAY1])
        # Day 2 is never struck (its fee of 55 sats never booked); day 3 is refused.
        clock.set(at(dt.date(2025, 1, 13), 0, 30))
        with pytest.raises(FundError, match="2025-01-11 was not struck in its window"):
            fd.strike(ledger, terms, RATES[DAY3], previous=RATES[DAY2])


def test_a_distributing_fund_pays_its_income_to_the_shareholders(url: str) -> None:
    ledger, clock, terms = launched(url, {**SPEC, "income": "distribute"})
    with ledger:
        clock.set(at(DAY2, 0, 30))
        fd.strike(ledger, terms, RATES[DAY1])
        fd.create_shares(ledger, terms, order("c1", 2, received(DAY1, 9)), RATES[DAY1])
        clock.set(at(DAY3, 0, 10))
        fd.strike(ledger, terms, RATES[DAY2], previous=RATES[DAY1])  # fee 55, no income yet
        # The series pays day 2 on 12 January: the fund held 200 tokens at its cut,
        # 200 × 29 = 5,800 sats into the fund's BTC account (the treasury holds 1 BTC).
        ledger.transfer(Transfer(3, BTC_ISSUER, 3, 10**8))
        paid = tk.distribute(ledger, "HT1", RATES[DAY2])
        assert paid.pool_sats == 500 * 29  # the AP's 300 tokens are paid too
        assert balance(ledger, 502) == 100_000 - 55 + 5_800
        # A second AP (700, paid to 702) holds 1 of the 2,000 shares at day 3's cut.
        ledger.create_account(Account(702, "BTC"))
        fd.register_ap(ledger, terms, share_account_id=700, payout_account_id=702)
        ledger.transfer(Transfer(4, AP_SHARES, 700, 1))
        # Day 3 (struck on 13 January): 200 × 1,872 + 105,745 = 480,145 gross, fee 48,
        # the 5,800 sats of income to the shareholders, NAV 474,297 / 2,000: 1,999 / 2,000
        # of 5,800 is 5,797.1 and 1 / 2,000 is 2.9; the largest remainder (0.9) gets the
        # sat left: 5,797 and 3.
        clock.set(at(dt.date(2025, 1, 13), 0, 30))
        before = balance(ledger, AP_BTC)
        day3 = fd.strike(ledger, terms, RATES[DAY3], previous=RATES[DAY2])
        assert (day3.holdings.income_sats, day3.gross_sats) == (5_800, 480_145)
        assert (day3.fee_sats, day3.distribution_sats, day3.net_sats) == (48, 5_800, 474_297)
        assert (balance(ledger, AP_BTC) - before, balance(ledger, 702)) == (5_797, 3)
        assert balance(ledger, 502) == 100_000 - 55 + 5_800 - 48 - 5_800
        assert balance(ledger, 503) == 55 + 48
        # Striking it again pays nothing more.
        head = ledger.head()
        assert fd.strike(ledger, terms, RATES[DAY3], previous=RATES[DAY2]) == day3
        assert ledger.head() == head
        report = fd.report(ledger, terms, RATES)
        assert [s.day for s in report.days] == [DAY1, DAY2, DAY3]
        assert report.tracking is None  # two days with shares: one return is not enough
        ledger.verify().raise_if_broken()
