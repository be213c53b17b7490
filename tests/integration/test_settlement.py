"""Settlement of bilateral contracts on the ledger, on SQLite and PostgreSQL: the instrument's
own payoff on the published fixings of July 2020, paid day by day in whole cents or sats,
with initial margin, margin calls, close-out and expiry; ``verify()`` after every scenario."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from functools import cache

import numpy as np
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import SettlementError
from hashmarket.index.compute import GpuFixing, gpu_fixings
from hashmarket.index.fixings import Fixing, fixings
from hashmarket.index.gpu_quotes import QuoteTable
from hashmarket.instruments import (
    BtcPriceSwap,
    EuropeanOption,
    Fixings,
    HashpriceForward,
    OptionType,
    Side,
    Underlying,
)
from hashmarket.instruments.compute import ComputeForward, fixings_from_gpu_index
from hashmarket.ledger import Ledger, ManualClock
from hashmarket.ledger import settlement as st
from hashmarket.ledger.clock import day_start_ns
from hashmarket.money import Rounding
from hashmarket.units import SECONDS_PER_DAY
from tests.conftest import UrlFactory, fund, open_ledger

JULY = [dt.date(2020, 7, d) for d in range(1, 32)]
BUYER, SELLER = 10, 11  # USD accounts
BTC_BUYER, BTC_SELLER = 20, 21
CENT = Decimal("0.01")
USD_100K = 100_000_00  # cents


@cache
def july() -> st.PublishedFixings:
    window = NetworkHistory.load().between(JULY[0], JULY[-1])
    usd = tuple(fixings(window, currency="usd"))
    btc = tuple(fixings(window, currency="btc"))
    assert [f.date for f in usd] == JULY and [f.date for f in btc] == JULY
    # Every day is a full fixing: subsidy and fees (Coin Metrics to 27 July, its 2020-2025
    # continuation from 28 July).
    assert all(f.inputs["fees_btc"] is not None for f in usd + btc)
    return st.PublishedFixings(usd=usd, btc=btc)


def fixing_values(currency: str) -> list[Decimal]:
    items: tuple[Fixing, ...] = july().usd if currency == "usd" else july().btc
    return [f.value for f in items]


def forward(fixed: float = 77.0, **changes: object) -> HashpriceForward:
    terms: dict[str, object] = {
        "notional_phs": 10,
        "fixed_price_per_ph_day": fixed,
        "start": JULY[0],
        "end": JULY[-1],
    }
    terms.update(changes)
    return HashpriceForward(**terms)  # type: ignore[arg-type]


def usd_parties(ledger: Ledger, buyer_cents: int = USD_100K, seller_cents: int = USD_100K) -> None:
    fund(ledger, BUYER, buyer_cents, asset="USD", tid=9_001)
    fund(ledger, SELLER, seller_cents, asset="USD", tid=9_002)


def btc_parties(ledger: Ledger, sats: int = 10 * 10**8) -> None:
    fund(ledger, BTC_BUYER, sats, tid=9_003)
    fund(ledger, BTC_SELLER, sats, tid=9_004)


def open_usd(ledger: Ledger, instrument: object, cid: str = "K1", **terms: object) -> None:
    st.open_contract(
        ledger,
        st.Contract(cid, instrument, BUYER, SELLER, "USD", **terms),  # type: ignore[arg-type]
    )


def settle_days(ledger: Ledger, days: list[dt.date], cid: str | None = None) -> st.ContractStatus:
    for day in days:
        (outcome,) = (
            st.run(ledger, day, july(), contract_id=cid) if cid else st.run(ledger, day, july())
        )
    return outcome.status


def balance(ledger: Ledger, account: int) -> int:
    return ledger.account(account).balance


def assert_sound(ledger: Ledger) -> None:
    report = ledger.verify()
    assert report.ok, report.problems


def assert_margins_released(ledger: Ledger, *accounts: int, asset: str = "USD") -> None:
    for account in accounts:
        assert ledger.account(account).debits_pending == 0
    escrow = ledger.account(st.escrow_account_id(asset))
    assert (escrow.balance, escrow.credits_pending) == (0, 0)


# -- a forward over its window ------------------------------------------------------------------


def test_a_forward_settled_day_by_day_pays_its_cash_flows_to_the_cent(ledger: Ledger):
    usd_parties(ledger)
    fwd = forward(77.0)
    open_usd(ledger, fwd)
    paid = []
    for day in JULY:
        (outcome,) = st.run(ledger, day, july())
        paid.append(sum(e.amount_minor for e in outcome.events))
    s = outcome.status
    # Hand arithmetic: (fixing − fixed) × 10 PH/s each day, in cents.
    by_hand = [(v - Decimal("77.00")) * 10 / CENT for v in fixing_values("usd")]
    assert paid == [int(x) for x in by_hand]
    # The July fixings add up to 2,456.88 USD/PH/day: (2,456.88 − 31 × 77) × 10 PH/s = 698.80 USD.
    assert sum(fixing_values("usd")) == Decimal("2456.88")
    assert s.settled_minor == sum(by_hand) == 69_880
    # The instrument's own cash flows on the published path, summed and rounded once.
    flows = fwd.cashflows(Fixings.from_published(usd=july().usd))[0]
    assert s.settled_minor == int(
        Decimal(repr(float(flows.sum() * 100))).to_integral_value(ROUND_HALF_EVEN)
    )
    # Σ P&L = 0: what the seller gained the buyer lost, and the escrow holds nothing.
    assert balance(ledger, BUYER) - USD_100K == s.buyer_pnl_minor == 69_880
    assert balance(ledger, SELLER) - USD_100K == s.seller_pnl_minor == -69_880
    assert s.state is st.ContractState.EXPIRED and s.outstanding_minor == 0
    assert_margins_released(ledger, BUYER, SELLER)
    kinds = [e.kind for e in st.events(ledger, "K1")]
    assert kinds == ["open"] + ["settle"] * 31 + ["expire"]
    assert_sound(ledger)


def test_initial_margin_is_reserved_at_the_luxor_rates(ledger: Ledger):
    usd_parties(ledger)
    btc_parties(ledger)
    open_usd(ledger, forward(90.0))
    s = st.status(ledger, "K1")[0]
    # 35 % of 90 $/PH/day × 10 PH/s × 31 days = 27,900 $.
    assert (s.notional, s.margin_rate) == (Decimal("27900.00"), Decimal("0.35"))
    assert s.buyer_margin_minor == s.seller_margin_minor == 976_500
    assert ledger.account(BUYER).available == USD_100K - 976_500
    escrow = ledger.account(st.escrow_account_id("USD"))
    assert (escrow.credits_pending, escrow.balance) == (2 * 976_500, 0)
    btc_fwd = forward(0.008, currency="btc")
    st.open_contract(ledger, st.Contract("B1", btc_fwd, BTC_BUYER, BTC_SELLER, "BTC"))
    b = st.status(ledger, "B1")[0]
    # 18 % of 0.008 BTC × 10 × 31 = 0.4464 BTC.
    assert b.seller_margin_minor == 44_640_000 and b.margin_rate == Decimal("0.18")
    st.open_contract(
        ledger,
        st.Contract("B2", btc_fwd, BTC_BUYER, BTC_SELLER, "BTC", margin_rate=Decimal("0.5")),
    )
    assert st.status(ledger, "B2")[0].buyer_margin_minor == 124_000_000
    assert_sound(ledger)


def test_a_btc_forward_settles_in_sats(ledger: Ledger):
    btc_parties(ledger)
    fwd = forward(0.008, currency="btc")
    st.open_contract(ledger, st.Contract("B1", fwd, BTC_BUYER, BTC_SELLER, "BTC"))
    s = settle_days(ledger, JULY)
    by_hand = sum((v - Decimal("0.008")) * 10 * 10**8 for v in fixing_values("btc"))
    # Σ July BTC fixings = 0.25547773 BTC/PH/day: (0.25547773 − 31 × 0.008) × 10 PH/s
    # = 0.0747773 BTC.
    assert sum(fixing_values("btc")) == Decimal("0.25547773")
    assert s.settled_minor == by_hand == 7_477_730
    assert balance(ledger, BTC_BUYER) + balance(ledger, BTC_SELLER) == 20 * 10**8
    assert balance(ledger, BTC_SELLER) - 10 * 10**8 == -7_477_730
    assert_margins_released(ledger, BTC_BUYER, BTC_SELLER, asset="BTC")
    assert_sound(ledger)


def test_a_sell_side_spec_gives_the_same_settlement_between_buyer_and_seller(ledger: Ledger):
    usd_parties(ledger)
    open_usd(ledger, forward(77.0), "LONG")
    open_usd(ledger, forward(77.0, side=Side.SELL), "SHORT")
    for day in JULY[:5]:
        outcomes = st.run(ledger, day, july())
    long, short = (o.status for o in outcomes)
    assert long.settled_minor == short.settled_minor != 0
    assert_sound(ledger)


# -- idempotency and catching up ---------------------------------------------------------------


def test_running_a_day_again_or_an_earlier_day_changes_nothing(ledger: Ledger):
    usd_parties(ledger)
    open_usd(ledger, forward(77.0))
    settle_days(ledger, JULY[:10])
    before = (ledger.state_hash(), ledger.head(), st.status(ledger))
    for day in (JULY[9], JULY[9], JULY[2], JULY[0]):
        (outcome,) = st.run(ledger, day, july())
        assert outcome.events == ()
    assert (ledger.state_hash(), ledger.head(), st.status(ledger)) == before
    # A day before the window settles nothing either.
    assert st.run(ledger, dt.date(2020, 6, 30), july())[0].events == ()
    assert_sound(ledger)


def test_a_missed_day_is_caught_up_and_the_total_is_the_same(ledger: Ledger):
    usd_parties(ledger)
    open_usd(ledger, forward(77.0), "DAILY")
    open_usd(ledger, forward(77.0), "LATE")
    settle_days(ledger, JULY, "DAILY")
    late = settle_days(ledger, [JULY[4], JULY[30]], "LATE")
    daily = st.status(ledger, "DAILY")[0]
    assert late.settled_minor == daily.settled_minor == 69_880  # as day by day, above
    assert late.state is st.ContractState.EXPIRED
    assert_sound(ledger)


def test_cumulative_rounding_pays_the_rounded_total_with_the_remainder_recorded(ledger: Ledger):
    # 0.333 PH/s × (fixing − 77): every day's amount has fractions of a cent.
    usd_parties(ledger)
    open_usd(ledger, forward(77.0, notional_phs=0.333))
    s = settle_days(ledger, JULY)
    cents = [(v - Decimal(77)) * Decimal("0.333") * 100 for v in fixing_values("usd")]
    exact = sum(cents, Decimal(0))
    # 0.333 × 6,988 cents (the 10 PH/s contract's 698.80 USD per PH/s × 100) = 2,327.004 cents.
    assert exact == Decimal("2327.004")
    assert s.settled_minor == int(exact.to_integral_value(ROUND_HALF_EVEN)) == 2_327
    settled = [e for e in st.events(ledger, "K1") if e.kind == "settle"]
    assert len(settled) == 31
    for k, e in enumerate(settled):
        # Through day k the contract has paid the exact cumulative rounded once, and the
        # remainder recorded is the rest of it; each day is within a cent of its own amount.
        assert e.due_minor + e.remainder_minor == sum(cents[: k + 1], Decimal(0))
        assert abs(e.remainder_minor) <= Decimal("0.5")
        assert abs(e.amount_minor - cents[k]) < 1
    assert_sound(ledger)


# -- a BTC price swap and an option -------------------------------------------------------------


def test_a_btc_price_swap_settles_the_month_on_its_last_day(ledger: Ledger):
    usd_parties(ledger)
    swap = BtcPriceSwap(
        fixed_price_usd=9_000.0, start=JULY[0], end=JULY[-1], quantity_btc_per_month=1.0
    )
    open_usd(ledger, swap, "SWAP")
    s = st.status(ledger, "SWAP")[0]
    assert s.notional == Decimal("9000.0") and s.seller_margin_minor == 315_000
    mid = settle_days(ledger, JULY[:30])
    assert mid.settled_minor == 0 and mid.state is st.ContractState.ACTIVE
    s = settle_days(ledger, JULY[30:])
    # The BTC buyer receives (average BTC price − fixed) × 1 BTC.
    prices = [f.inputs["price_usd"] for f in july().usd]
    by_hand = (Decimal(repr(float(np.mean(prices)))) - 9_000) * 100
    # The July prices (Coin Metrics' reference rate) average 9,597.276 USD:
    # (9,597.276 − 9,000) × 1 BTC = 597.28 USD.
    assert abs(Decimal(repr(float(np.mean(prices)))) - Decimal("9597.276")) < Decimal("0.001")
    assert s.settled_minor == int(by_hand.to_integral_value(ROUND_HALF_EVEN)) == 59_728
    assert balance(ledger, BUYER) - USD_100K == 59_728 == USD_100K - balance(ledger, SELLER)
    assert s.state is st.ContractState.EXPIRED
    assert_margins_released(ledger, BUYER, SELLER)
    assert_sound(ledger)


def test_an_option_buyer_posts_no_margin_and_is_paid_at_expiry(ledger: Ledger):
    btc_parties(ledger)
    call = EuropeanOption(
        underlying=Underlying.HASHPRICE_BTC,
        option_type=OptionType.CALL,
        strike=0.007,
        expiry=JULY[-1],
        quantity=300,
    )
    st.open_contract(ledger, st.Contract("OPT", call, BTC_BUYER, BTC_SELLER, "BTC"))
    s = st.status(ledger, "OPT")[0]
    margin = (Decimal("0.18") * Decimal("0.007") * 300 * 10**8).to_integral_value(ROUND_CEILING)
    assert (s.buyer_margin_minor, s.seller_margin_minor) == (0, margin)
    assert settle_days(ledger, JULY[:30]).settled_minor == 0
    s = settle_days(ledger, JULY[30:])
    # max(S − K, 0) × 300 with S the BTC hashprice fixing of 31 July.
    # (0.00879938 − 0.007) × 300 = 0.539814 BTC.
    assert fixing_values("btc")[-1] == Decimal("0.00879938")
    payoff = (fixing_values("btc")[-1] - Decimal("0.007")) * 300 * 10**8
    assert s.settled_minor == payoff == 53_981_400
    assert balance(ledger, BTC_SELLER) == 10 * 10**8 - 53_981_400
    assert_margins_released(ledger, BTC_SELLER, asset="BTC")
    assert_sound(ledger)


# -- margin calls -------------------------------------------------------------------------------


def test_a_margin_call_is_cured_by_a_top_up(ledger: Ledger, clock: ManualClock):
    # The buyer holds exactly its margin: nothing free to pay the first day's loss with.
    usd_parties(ledger, buyer_cents=976_500)
    open_usd(ledger, forward(90.0))
    (outcome,) = st.run(ledger, JULY[0], july())
    s = outcome.status
    assert s.state is st.ContractState.MARGIN_CALL and s.called_party is st.Party.BUYER
    assert s.outstanding_minor == -11_880  # (78.12 − 90) × 10 PH/s, owed by the buyer
    call_time = outcome.events[-1].timestamp_ns
    assert s.deadline_ns is not None
    assert abs(s.deadline_ns - (call_time + 2 * SECONDS_PER_DAY * 10**9)) < 10**6
    assert balance(ledger, SELLER) == USD_100K
    # Another day within the grace period adds to what is owed; the call stands.
    clock.advance(SECONDS_PER_DAY)
    s = st.run(ledger, JULY[1], july())[0].status
    assert s.state is st.ContractState.MARGIN_CALL and s.outstanding_minor == -25_490
    fund(ledger, BUYER, 500_000, asset="USD", tid=9_100)  # the top-up
    (outcome,) = st.run(ledger, JULY[1], july())
    assert [e.kind for e in outcome.events] == ["paid"]
    s = outcome.status
    assert s.state is st.ContractState.ACTIVE and s.outstanding_minor == 0
    assert s.settled_minor == -25_490 and s.called_party is None
    assert balance(ledger, SELLER) == USD_100K + 25_490
    s = settle_days(ledger, JULY[2:])
    # (2,456.88 − 31 × 90) × 10 PH/s = −3,331.20 USD.
    assert s.state is st.ContractState.EXPIRED and s.settled_minor == -333_120
    assert balance(ledger, BUYER) + balance(ledger, SELLER) == 976_500 + 500_000 + USD_100K
    assert_margins_released(ledger, BUYER, SELLER)
    assert_sound(ledger)


def test_after_the_grace_period_the_payer_is_closed_out_against_its_margin(
    ledger: Ledger, clock: ManualClock
):
    usd_parties(ledger, buyer_cents=976_500)
    open_usd(ledger, forward(90.0))
    st.run(ledger, JULY[0], july())
    clock.advance(SECONDS_PER_DAY)
    assert st.run(ledger, JULY[1], july())[0].status.state is st.ContractState.MARGIN_CALL
    clock.advance(SECONDS_PER_DAY + 1)  # past the deadline
    (outcome,) = st.run(ledger, JULY[2], july())
    s = outcome.status
    assert [e.kind for e in outcome.events] == ["margin_call", "close_out"]
    owed = 11_880 + 13_610 + 14_000  # days 1-3: (fixing − 90) × 10 PH/s
    assert s.state is st.ContractState.CLOSED and s.shortfall_minor == 0
    assert s.settled_minor == -owed and outcome.events[-1].amount_minor == -owed
    # The seller got what was owed out of the buyer's margin; the rest of it came back.
    assert balance(ledger, SELLER) == USD_100K + owed
    assert balance(ledger, BUYER) == 976_500 - owed
    assert_margins_released(ledger, BUYER, SELLER)
    # Closed: later days settle nothing.
    before = ledger.state_hash()
    assert st.run(ledger, JULY[10], july())[0].events == ()
    assert ledger.state_hash() == before
    assert_sound(ledger)


def test_a_close_out_pays_at_most_the_margin_and_records_the_shortfall(
    ledger: Ledger, clock: ManualClock
):
    usd_parties(ledger, buyer_cents=2_790)
    open_usd(ledger, forward(90.0), margin_rate=Decimal("0.001"), grace_days=0)
    (outcome,) = st.run(ledger, JULY[0], july())
    # No grace: called and closed out in the same run.
    assert [e.kind for e in outcome.events] == ["margin_call", "close_out"]
    s = outcome.status
    assert s.state is st.ContractState.CLOSED
    assert s.settled_minor == -2_790 and s.shortfall_minor == 11_880 - 2_790
    assert balance(ledger, SELLER) == USD_100K + 2_790 and balance(ledger, BUYER) == 0
    assert balance(ledger, BUYER) + balance(ledger, SELLER) == USD_100K + 2_790
    assert_margins_released(ledger, BUYER, SELLER)
    assert_sound(ledger)


# -- refusals change nothing --------------------------------------------------------------------


def test_a_party_without_funds_for_its_margin_is_refused_and_nothing_changes(ledger: Ledger):
    usd_parties(ledger, seller_cents=976_499)  # one cent short of its margin
    before = ledger.state_hash()
    with pytest.raises(SettlementError, match=r"the seller \(account 11\) cannot reserve"):
        open_usd(ledger, forward(90.0))
    assert ledger.state_hash() == before
    assert st.status(ledger) == []
    with pytest.raises(SettlementError, match="no contract 'K1'"):
        st.status(ledger, "K1")
    assert_sound(ledger)


def test_bad_terms_are_refused_naming_the_field(ledger: Ledger):
    usd_parties(ledger)
    before = ledger.state_hash()
    cases = [
        (st.Contract("X", forward(), BUYER, SELLER, "BTC"), "pays in USD"),
        (st.Contract("X", forward(), BUYER, BUYER, "USD"), "two parties"),
        (st.Contract("X", forward(), BUYER, 99, "USD"), "no account 99"),
        (st.Contract("X", forward(), BUYER, SELLER, "USD", margin_rate=0.3), "margin_rate"),  # type: ignore[arg-type]
        (st.Contract("X", forward(), BUYER, SELLER, "USD", grace_days=-1), "grace_days"),
        (
            st.Contract("X", forward(), BUYER, SELLER, "USD", rounding=Rounding.HALF_UP),
            "rounding.*'half_up'.*settle by cumulative_half_even",
        ),
        (st.Contract("no spaces", forward(), BUYER, SELLER, "USD"), "contract_id"),
        (
            st.Contract(
                "X",
                BtcPriceSwap(fixed_price_usd=9e3, start=JULY[0], end=JULY[-1], production_phs=1.0),
                BUYER,
                SELLER,
                "USD",
            ),
            "notional must be given",
        ),
    ]
    for contract, message in cases:
        with pytest.raises(SettlementError, match=message):
            st.open_contract(ledger, contract)
    open_usd(ledger, forward(), "SAME")
    open_usd(ledger, forward(), "SAME")  # a replay
    with pytest.raises(SettlementError, match="exists_with_different_terms"):
        open_usd(ledger, forward(78.0), "SAME")
    assert len(st.status(ledger)) == 1 and ledger.state_hash() != before
    assert_sound(ledger)


def test_unpublished_fixings_and_unfinished_days_are_refused_and_change_nothing(
    ledger: Ledger, clock: ManualClock
):
    usd_parties(ledger)
    open_usd(ledger, forward(77.0))
    settle_days(ledger, JULY[:3])
    before = ledger.state_hash()
    partial = st.PublishedFixings(usd=july().usd[:10])
    with pytest.raises(SettlementError, match=r"contract 'K1'.*run from 2020-07-01 to 2020-07-10"):
        st.run(ledger, JULY[11], partial)
    gap = st.PublishedFixings(usd=july().usd[:5] + july().usd[6:])
    with pytest.raises(SettlementError, match="no value on 2020-07-06"):
        st.run(ledger, JULY[8], gap)
    today = dt.date(2025, 1, 1)
    with pytest.raises(SettlementError, match="2025-01-01 is not over"):
        st.run(ledger, today, july())
    assert ledger.state_hash() == before
    assert_sound(ledger)


# -- a compute forward on the GPU-hour index ----------------------------------------------------

NOVEMBER = [dt.date(2024, 11, d) for d in range(1, 11)]


def gpu_index() -> list[GpuFixing]:
    """Daily H100 on-demand fixings of the GPU-hour index from three providers' quotes."""
    prices = {"A": 2.10, "B": 2.45, "C": 3.90}
    times, providers, rows = [], [], []
    for k, day in enumerate(NOVEMBER):
        for name, base in prices.items():
            times.append(day_start_ns(day) // 10**9 + 3_600)
            providers.append(name)
            rows.append(round(base + 0.05 * k, 4))
    quotes = QuoteTable.from_arrays(
        time_s=times,
        provider=providers,
        gpu_model=["NVIDIA H100"] * len(rows),
        region=[""] * len(rows),
        term=["on-demand"] * len(rows),
        price_usd_per_gpu_hour=rows,
    )
    return gpu_fixings(quotes)


def test_a_compute_forward_settles_on_gpu_index_fixings(ledger: Ledger):
    usd_parties(ledger)
    published = st.PublishedFixings(gpu=tuple(gpu_index()))
    assert [f.period_start for f in published.gpu] == NOVEMBER
    fwd = ComputeForward(
        gpu_model="H100",
        gpus=8,
        fixed_price_usd_per_gpu_hour=2.60,
        start=NOVEMBER[0],
        end=NOVEMBER[-1],
    )
    open_usd(ledger, fwd, "GPU")
    s = st.status(ledger, "GPU")[0]
    assert s.notional == Decimal("2.6") * 8 * 24 * 10 and s.margin_rate == Decimal("0.35")
    paid = []
    for day in NOVEMBER:
        (outcome,) = st.run(ledger, day, published)
        paid.append(sum(e.amount_minor for e in outcome.events))
    # The index is the median quote (provider B): 2.45 + 0.05 k. (fixing − 2.60) × 192 GPU-h.
    fixing = [f.value for f in published.gpu]
    assert fixing == [Decimal("2.45") + Decimal("0.05") * k for k in range(10)]
    by_hand = [int((v - Decimal("2.60")) * 8 * 24 * 100) for v in fixing]
    assert paid == by_hand and sum(by_hand) == 14_400
    flows = fwd.cashflows(fixings_from_gpu_index(published.gpu, gpu_model="H100", term="on-demand"))
    assert outcome.status.settled_minor == round(float(flows.sum()) * 100)
    assert outcome.status.state is st.ContractState.EXPIRED
    assert balance(ledger, BUYER) - USD_100K == 14_400 == USD_100K - balance(ledger, SELLER)
    assert_margins_released(ledger, BUYER, SELLER)
    assert_sound(ledger)


# -- one behaviour on both stores ---------------------------------------------------------------


@pytest.mark.postgresql
def test_the_same_settlement_gives_the_same_ledger_state_on_both_stores(new_url: UrlFactory):
    hashes, statuses = [], []
    for kind in ("sqlite", "postgresql"):
        clock = ManualClock(day_start_ns(dt.date(2025, 1, 1)))
        with open_ledger(new_url(kind), clock) as ledger:
            # The buyer holds exactly both margins: K1's first loss calls it.
            usd_parties(ledger, buyer_cents=976_500 + 835_450)
            open_usd(ledger, forward(90.0))
            open_usd(ledger, forward(77.0), "K2")
            for day in JULY[:4]:
                st.run(ledger, day, july())
                clock.advance(SECONDS_PER_DAY)
            assert_sound(ledger)
            hashes.append(ledger.state_hash())
            statuses.append(st.status(ledger))
    assert hashes[0] == hashes[1]
    assert statuses[0] == statuses[1]
    assert statuses[0][0].state is st.ContractState.CLOSED
