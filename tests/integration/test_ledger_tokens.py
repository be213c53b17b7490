"""Hashrate tokens on the ledger, on SQLite and PostgreSQL: issue, mint, burn, transfer,
daily distribution and proof of reserves."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import TokenError
from hashmarket.index.fixings import day_fixings
from hashmarket.instruments import Fixings, HashrateToken, TokenTerms, parse_spec
from hashmarket.ledger import (
    Account,
    CreateTransferResult,
    Ledger,
    ManualClock,
    Transfer,
    writer,
)
from hashmarket.ledger import (
    TransferFlags as F,
)
from hashmarket.ledger import tokens as tk
from hashmarket.ledger.clock import day_start_ns
from hashmarket.ledger.reserves import Root, verify_proof
from hashmarket.models.network import NetworkModel, NetworkState
from hashmarket.models.scenarios import ScenarioSet
from hashmarket.money import Rounding, to_minor
from hashmarket.pricing.market import Market
from hashmarket.pricing.montecarlo import _Run
from hashmarket.pricing.result import MonteCarloConfig
from tests.conftest import BTC_ISSUER, STORES, fund, open_ledger

TREASURY = 3
SERIES = "HT1"
ISSUER, RESERVE = 100, 101
DAY = dt.date(2025, 1, 10)
# Holders: token account -> BTC payout account.
HOLDERS = {201: 301, 202: 302, 203: 303}
RATE = tk.DayRate(DAY, Decimal("0.0005"), Decimal(100_000), "a" * 64, "b" * 64)


def terms(**changes: object) -> tk.TokenSeries:
    base: dict[str, object] = {
        "asset": SERIES,
        "issuer_account_id": ISSUER,
        "reserve_account_id": RESERVE,
        "treasury_account_id": TREASURY,
        "ths_per_token": Decimal(1),
        "efficiency_w_per_th": Decimal(20),
        "power_price_usd_per_kwh": Decimal("0.05"),
        "service_fee_usd_per_th_day": Decimal("0.002"),
        "backing_hashrate_ths": Decimal(1_000),
        "term_start": dt.date(2025, 1, 1),
        "term_end": dt.date(2025, 3, 31),
    }
    base.update(changes)
    return tk.TokenSeries(**base)  # type: ignore[arg-type]


def mint(ledger: Ledger, tid: int, to: int, amount: int) -> None:
    with ledger.transaction() as w:
        tk.mint(w, SERIES, transfer_id=tid, to_account_id=to, amount_units=amount)


@pytest.fixture
def issued(ledger: Ledger) -> Ledger:
    return issue_with_holders(ledger, terms())


def issue_with_holders(ledger: Ledger, series: tk.TokenSeries) -> Ledger:
    """``series`` issued (1,000 TH/s); holders 201-203 hold 500, 300 and 0 tokens; treasury
    10 BTC."""
    fund(ledger, TREASURY, 10 * 10**8, tid=1)
    tk.issue(ledger, series)
    ledger.create_accounts([Account(p, "BTC") for p in HOLDERS.values()])
    with ledger.transaction() as w:
        for token_account, payout in HOLDERS.items():
            tk.open_holder(w, SERIES, token_account_id=token_account, payout_account_id=payout)
    mint(ledger, 10, 201, 500)
    mint(ledger, 11, 202, 300)
    return ledger


def after_day(clock: ManualClock, day: dt.date = DAY) -> None:
    clock.set(day_start_ns(day + dt.timedelta(days=1)) + 3_600 * 10**9)


def test_issue_fills_the_reserve_with_the_backed_supply(issued: Ledger):
    s = tk.series(issued, SERIES)
    assert s.max_supply_units == 1_000
    assert issued.account(ISSUER).balance == -1_000
    assert issued.account(RESERVE).balance == 1_000 - 800
    assert tk.issue(issued, terms()) == s  # a replay changes nothing
    with pytest.raises(TokenError, match="exists_with_different_terms"):
        tk.issue(issued, terms(backing_hashrate_ths=Decimal(2_000)))
    assert issued.verify().ok


def test_minting_beyond_the_backing_is_refused(issued: Ledger):
    before = issued.state_hash()
    with pytest.raises(TokenError, match="minting beyond the declared backing") as refused:
        mint(issued, 12, 203, 201)  # 200 left in the reserve
    assert refused.value.result_code == "exceeds_credits"
    assert issued.state_hash() == before
    mint(issued, 12, 203, 200)
    assert issued.account(RESERVE).balance == 0


def test_burning_reduces_the_supply(issued: Ledger):
    with issued.transaction() as w:
        tk.burn(w, SERIES, transfer_id=20, from_account_id=201, amount_units=100)
    assert sum(h.balance_units for h in tk.holdings(issued, SERIES)) == 700
    assert issued.account(RESERVE).balance == 300
    with pytest.raises(TokenError, match="exceeds_credits"), issued.transaction() as w:
        tk.burn(w, SERIES, transfer_id=21, from_account_id=202, amount_units=301)


def test_transfers_go_between_registered_holders_only(issued: Ledger):
    with issued.transaction() as w:
        tk.transfer(
            w, SERIES, transfer_id=30, from_account_id=201, to_account_id=203, amount_units=50
        )
    assert issued.account(203).balance == 50
    with pytest.raises(TokenError, match="payout_is_treasury"), issued.transaction() as w:
        tk.open_holder(w, SERIES, token_account_id=204, payout_account_id=TREASURY)
    issued.create_account(Account(299, SERIES))  # a token account nobody registered
    with pytest.raises(TokenError, match="not a holder"), issued.transaction() as w:
        tk.transfer(
            w, SERIES, transfer_id=31, from_account_id=201, to_account_id=299, amount_units=1
        )


def test_a_day_is_paid_pro_rata_exactly_once(issued: Ledger, clock: ManualClock):
    after_day(clock)
    treasury_before = issued.account(TREASURY).balance
    record = tk.distribute(issued, SERIES, RATE)
    # 800 TH/s: gross 40,000 sats; costs $20.80 at $100,000 = 20,800; pool 19,200.
    assert (record.supply_units, record.holder_count, record.pool_sats) == (800, 2, 19_200)
    assert record.gross_sats == 40_000 and record.cost_sats == 20_800
    paid = {p: issued.account(p).balance for p in HOLDERS.values()}
    assert paid == {301: 12_000, 302: 7_200, 303: 0}
    assert issued.account(TREASURY).balance == treasury_before - 19_200
    state = issued.state_hash()
    assert tk.distribute(issued, SERIES, RATE) == record
    assert issued.state_hash() == state
    assert tk.distribution(issued, SERIES, DAY) == record
    assert issued.verify().ok


def test_payouts_are_within_one_sat_of_the_exact_share(issued: Ledger, clock: ManualClock):
    mint(issued, 12, 203, 7)  # 500 : 300 : 7 does not divide evenly
    after_day(clock)
    record = tk.distribute(issued, SERIES, RATE)
    paid = {t: issued.account(p).balance for t, p in HOLDERS.items()}
    assert sum(paid.values()) == record.pool_sats
    held = {201: 500, 202: 300, 203: 7}
    for token_account, share in paid.items():
        exact = Fraction(record.pool_sats * held[token_account], 807)
        assert abs(share - exact) < 1
    assert record.dust_sats < 1


def test_holdings_are_taken_at_the_cut(issued: Ledger, clock: ManualClock):
    after_day(clock)  # 01:00 on the next day: after the cut
    with issued.transaction() as w:
        tk.transfer(
            w, SERIES, transfer_id=40, from_account_id=201, to_account_id=203, amount_units=500
        )
    record = tk.distribute(issued, SERIES, RATE)
    assert record.holder_count == 2
    assert issued.account(301).balance == 12_000  # paid on the 500 held at the cut
    assert issued.account(303).balance == 0


def test_a_day_not_over_or_outside_the_term_is_refused(issued: Ledger, clock: ManualClock):
    clock.set(day_start_ns(DAY) + 12 * 3_600 * 10**9)
    with pytest.raises(TokenError, match="is not over on the ledger clock"):
        tk.distribute(issued, SERIES, RATE)
    late = tk.DayRate(dt.date(2025, 4, 1), Decimal("0.0005"), Decimal(100_000), "a", "b")
    after_day(clock, dt.date(2025, 4, 1))
    with pytest.raises(TokenError, match="outside the term"):
        tk.distribute(issued, SERIES, late)


def test_costs_above_the_gross_pay_nothing_and_record_the_shortfall(
    issued: Ledger, clock: ManualClock
):
    after_day(clock)
    poor = tk.DayRate(DAY, Decimal("0.0002"), Decimal(50_000), "a" * 64, "b" * 64)
    treasury_before = issued.account(TREASURY).balance
    head = issued.head()
    record = tk.distribute(issued, SERIES, poor)
    # 800 TH/s: gross 16,000; costs $20.80 at $50,000 = 41,600 sats.
    assert (record.pool_sats, record.shortfall_sats, record.first_seq) == (0, 25_600, 0)
    assert issued.account(TREASURY).balance == treasury_before
    assert issued.head().seq == head.seq  # no payout rows
    assert tk.distribute(issued, SERIES, RATE) == record  # the day is done


def test_an_unfunded_treasury_refuses_the_whole_day(issued: Ledger, clock: ManualClock):
    with issued.transaction() as w:
        w.create_transfers([Transfer(50, TREASURY, BTC_ISSUER, 10 * 10**8 - 100)])
    after_day(clock)
    before = issued.state_hash()
    with pytest.raises(TokenError, match="exceeds_credits") as refused:
        tk.distribute(issued, SERIES, RATE)
    assert refused.value.result_code == "exceeds_credits"
    assert issued.state_hash() == before
    assert tk.distribution(issued, SERIES, DAY) is None
    fund(issued, TREASURY, 10**6, tid=51)
    assert tk.distribute(issued, SERIES, RATE).pool_sats == 19_200


def test_verify_checks_each_paid_day_against_its_payouts(issued: Ledger, clock: ManualClock):
    after_day(clock)
    record = tk.distribute(issued, SERIES, RATE)
    assert issued.verify().ok
    # A forged record for another day, claiming payouts that are really that day's: caught.
    store = issued._store
    store.begin_write()
    store.execute(
        "INSERT INTO token_distributions SELECT asset, '2025-01-11', hashprice_btc_per_ph_day, "
        "btc_price_usd, hashprice_fixing_sha256, price_fixing_sha256, uptime, cut_ns, "
        "supply_units, holder_count, gross_sats, cost_sats, pool_sats + 1, dust_sats, "
        "shortfall_sats, first_seq, last_seq, reserves_root, reserves_total, timestamp_ns "
        "FROM token_distributions"
    )
    store.commit()
    report = issued.verify()
    assert report.problems == (
        f"distribution HT1 2025-01-11: payouts add up to {record.pool_sats} sats, "
        f"the pool is {record.pool_sats + 1}",
        # and the row was never logged by the ledger:
        "token_distributions HT1 2025-01-11: row is not in the registry log (written by direct "
        "SQL)",
    )


def test_each_holder_can_check_an_inclusion_proof(issued: Ledger, clock: ManualClock):
    after_day(clock)
    record = tk.distribute(issued, SERIES, RATE)
    published = Root(record.reserves_root, record.reserves_total, record.holder_count)
    assert published.total == 800
    for token_account, balance in ((201, 500), (202, 300)):
        proof = tk.proof(issued, SERIES, DAY, token_account)
        assert proof.balance == balance
        assert verify_proof(proof, root=published)
    with pytest.raises(TokenError, match="held no HT1"):
        tk.proof(issued, SERIES, DAY, 203)


@pytest.mark.parametrize("chunk", [50_000, 4])
@pytest.mark.parametrize("kind", STORES)
def test_fan_out_matches_the_transfer_by_transfer_path(
    kind: str, chunk: int, new_url, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
):
    """The bulk path writes the same journal and balances as a linked chain would, whether
    the credits fit one chunk or span several (with an account credited in more than one)."""
    monkeypatch.setattr(writer, "FAN_OUT_CHUNK", chunk)
    hashes = []
    for bulk in (True, False):
        ledger = open_ledger(new_url(kind), ManualClock(clock.now_ns()))
        fund(ledger, TREASURY, 10**6, tid=1)
        ledger.create_accounts([Account(i, "BTC") for i in range(400, 410)])
        credits = [(400 + (i * 7) % 10, 1 + i) for i in range(25)]  # repeats, out of order
        with ledger.transaction() as w:
            if bulk:
                assert w.create_fan_out(TREASURY, credits, code=5) == (
                    CreateTransferResult.OK,
                    -1,
                )
            else:
                last = len(credits) - 1
                chain = [
                    Transfer(0, TREASURY, c, a, F.LINKED if i < last else F.NONE, code=5)
                    for i, (c, a) in enumerate(credits)
                ]
                assert set(w.create_transfers(chain, ledger_ids=True)) == {CreateTransferResult.OK}
        assert ledger.verify().ok
        hashes.append(ledger.state_hash())
        ledger.close()
    assert hashes[0] == hashes[1]


@pytest.mark.parametrize("chunk", [50_000, 2])
def test_a_refused_fan_out_names_the_first_refusal_and_applies_nothing(
    issued: Ledger, chunk: int, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(writer, "FAN_OUT_CHUNK", chunk)  # 2: the refusal is in a later chunk
    before = issued.state_hash()
    treasury = issued.account(TREASURY).balance
    cases = [
        (
            [(301, 5), (302, 6), (999, 7), (303, 8)],
            CreateTransferResult.CREDIT_ACCOUNT_NOT_FOUND,
            2,
        ),
        (
            [(301, 5), (302, 6), (303, 7), (2, 8)],
            CreateTransferResult.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET,
            3,
        ),
        ([(301, 10**10)], CreateTransferResult.EXCEEDS_CREDITS, 0),
        # The treasury runs dry on the third payout: the engine only replays that prefix.
        (
            [(301, treasury // 2), (302, treasury // 2), (303, 1 + treasury % 2), (301, 1)],
            CreateTransferResult.EXCEEDS_CREDITS,
            2,
        ),
        ([(301, 5), (TREASURY, 6)], CreateTransferResult.ACCOUNTS_MUST_BE_DIFFERENT, 1),
        ([(301, 5), (302, 0)], CreateTransferResult.AMOUNT_MUST_BE_POSITIVE, 1),
    ]
    for credits, code, index in cases:
        with issued.transaction() as w:
            assert w.create_fan_out(TREASURY, credits) == (code, index), credits
        assert issued.state_hash() == before


# The 2025 days the payoff is checked on: 10 January, a week of April with a negative day
# (20 April: 0.00051749 BTC/PH/day at 85,101.75 USD/BTC does not cover 20 W/TH at
# $0.10/kWh), and 23 to 30 June, every day of which pays (the BTC price rising from about
# 100,000 to 107,000 USD over them).
APRIL = [dt.date(2025, 4, 16) + dt.timedelta(days=i) for i in range(9)]
JUNE = [dt.date(2025, 6, 23) + dt.timedelta(days=i) for i in range(8)]
PAID_DAYS = [dt.date(2025, 1, 10), *APRIL, *JUNE]


def test_the_token_prices_what_the_series_pays(ledger: Ledger, clock: ManualClock):
    """The hashrate_token spec with the series' terms, for the outstanding 800 TH/s, pays on
    each day's published fixings exactly the pool the ledger distributes, and the Monte Carlo
    engine's value of it on one realized path is what the series paid on it: the sum of the
    sats under the model measure, and with BTC as the numeraire each day's sats at that day's
    price over today's (zero rates and drift: F_t = S_0)."""
    series = terms(power_price_usd_per_kwh=Decimal("0.1"), term_end=dt.date(2025, 12, 31))
    issue_with_holders(ledger, series.validated())
    uptime = Decimal("0.97")
    # One set of field names: the series' terms are the spec's fields.
    spec: dict[str, object] = {
        f.name: str(getattr(series, f.name)) for f in dataclasses.fields(TokenTerms)
    }
    spec |= {"type": "hashrate_token", "ths_per_token": 800, "uptime": 0.97}
    token = parse_spec({**spec, "start": "2025-06-23", "end": "2025-06-30"})
    assert isinstance(token, HashrateToken) and token.terms == dataclasses.replace(
        series.terms, ths_per_token=Decimal(800)
    )

    history = NetworkHistory.load(include_noncommercial=True)
    paid: dict[dt.date, int] = {}
    published = {}
    for day in PAID_DAYS:
        btc, usd = day_fixings(history, day)
        published[day] = (btc, usd)
        after_day(clock, day)
        record = tk.distribute(ledger, SERIES, tk.DayRate.from_fixings(btc, usd), uptime=uptime)
        paid[day] = record.pool_sats
        one_day = dataclasses.replace(token, start=day, end=day)
        cashflow = one_day.cashflows(Fixings.from_published(usd=[usd], btc=[btc]))
        assert to_minor(float(cashflow[0, 0]), 8, Rounding.DOWN) == record.pool_sats, day
    assert paid[dt.date(2025, 4, 20)] == 0 and min(paid.values()) == 0 < max(paid.values())
    assert all(paid[day] > 1_000 for day in JUNE)
    assert sum(ledger.account(p).balance for p in HOLDERS.values()) == sum(paid.values())

    # The engine's present value on the realized June days, valued the day before they start.
    asof = JUNE[0] - dt.timedelta(days=1)
    btc_asof, usd_asof = day_fixings(history, asof)
    june = Fixings.from_published(
        usd=[usd_asof, *(published[d][1] for d in JUNE)],
        btc=[btc_asof, *(published[d][0] for d in JUNE)],
    )
    prices = june.values["price_usd"][0]
    state = NetworkState(
        asof=asof,
        price_usd=float(prices[0]),
        hashrate_ths=8e8,
        difficulty=1.2e14,
        height=903_000,
        epoch_elapsed_s=0,
        fee_btc_per_block=0.02,
    )
    # The realized days as the engine's one-path chunk (column 0 is the as-of day).
    realized = ScenarioSet(june.dates, 0, 0, False, (1,), dict(june.values))
    sats = [paid[day] for day in JUNE]
    values = {}
    for measure in ("model", "risk_neutral"):
        config = MonteCarloConfig(n_paths=2, measure=measure)
        run = _Run(token, Market(state=state), NetworkModel(), config, len(JUNE), None)
        (values[measure],) = run.present_values(realized)
    # Pools are floored to whole sats: each day's value is at most one sat above what was paid.
    assert 0 <= values["model"] * 1e8 - sum(sats) < len(JUNE)
    weighted = sum(s * float(p) / float(prices[0]) for s, p in zip(sats, prices[1:], strict=True))
    assert 0 <= values["risk_neutral"] * 1e8 - weighted < 1.1 * len(JUNE)
    # The weights matter here: the BTC paid late in the week is worth more of today's BTC.
    assert weighted - sum(sats) > 10 * len(JUNE)
