"""Settlement in USD stablecoins, on SQLite and PostgreSQL: a USD payoff paid at par in USDT or
USDC micro-units, beside the same contract in USD cents (the README's 5-10 January 2025
forward)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import SettlementError
from hashmarket.index.fixings import fixings
from hashmarket.instruments import HashpriceForward
from hashmarket.ledger import (
    STABLECOINS,
    Account,
    Ledger,
    ManualClock,
    Transfer,
    create_stablecoins,
    par_currency,
)
from hashmarket.ledger import settlement as st
from hashmarket.ledger.clock import day_start_ns
from tests.conftest import fund

DAYS = [dt.date(2025, 1, d) for d in range(5, 11)]
ALICE, BOB = 11, 12
FUNDS_USD = 20_000  # each party's funds, in USD


def readme_forward() -> HashpriceForward:
    """examples/settlement/hashprice_forward_2025-01.json: 10 PH/s at 55 USD/PH/day."""
    return HashpriceForward(
        notional_phs=10, fixed_price_per_ph_day=55.0, start=DAYS[0], end=DAYS[-1]
    )


def published() -> st.PublishedFixings:
    window = NetworkHistory.load().between(DAYS[0], DAYS[-1])
    return st.PublishedFixings(
        usd=tuple(fixings(window, currency="usd")), btc=tuple(fixings(window, currency="btc"))
    )


def stablecoin_ledger(ledger: Ledger) -> None:
    with ledger.transaction() as w:
        results = create_stablecoins(w)
    assert [(c.code, r.value) for c, r in results] == [("USDT", "ok"), ("USDC", "ok")]


def fund_coin(ledger: Ledger, asset: str, account: int, units: int, tid: int) -> None:
    ledger.create_account(Account(account, asset))
    ledger.transfer(Transfer(tid, STABLECOINS[asset].issuer_account_id, account, units))


def settle(ledger: Ledger, clock: ManualClock) -> dict[str, list[int]]:
    """Settle every open contract through 7 January, then through 10 January, as the README
    runs it; what each contract's buyer received on each run."""
    clock.set(day_start_ns(dt.date(2025, 1, 12)))
    paid: dict[str, list[int]] = {}
    for day in (dt.date(2025, 1, 7), dt.date(2025, 1, 10)):
        for outcome in st.run(ledger, day, published()):
            moved = sum(e.amount_minor for e in outcome.events)
            paid.setdefault(outcome.status.contract_id, []).append(moved)
    return paid


def test_stablecoins_are_usd_at_par_with_six_decimals():
    assert {c.code: (c.scale, c.currency) for c in STABLECOINS.values()} == {
        "USDT": (6, "USD"),
        "USDC": (6, "USD"),
    }
    assert [par_currency(a) for a in ("usdc", "USDT", "USD", "BTC")] == ["USD"] * 3 + ["BTC"]


def test_a_forward_settled_in_a_stablecoin_pays_the_usd_amount_in_micro_units(
    ledger: Ledger, clock: ManualClock
):
    stablecoin_ledger(ledger)
    fund(ledger, ALICE, FUNDS_USD * 100, asset="USD", tid=1)
    fund(ledger, BOB, FUNDS_USD * 100, asset="USD", tid=2)
    coins = {"USDC": (21, 22), "USDT": (31, 32)}
    tid = 10
    for coin, (buyer, seller) in coins.items():
        for account in (buyer, seller):
            fund_coin(ledger, coin, account, FUNDS_USD * 10**6, tid=(tid := tid + 1))
    forward = readme_forward()
    st.open_contract(ledger, st.Contract("R-USD", forward, ALICE, BOB, "USD"))
    for coin, (buyer, seller) in coins.items():
        st.open_contract(ledger, st.Contract(f"R-{coin}", forward, buyer, seller, coin.lower()))
    paid = settle(ledger, clock)
    # The README's numbers: alice gets 79.70 USD for 5-7 January, pays 7.40 USD for 8-10
    # January; in all Σ (fixing − 55) × 10 = (337.23 − 330) × 10 = 72.30 USD.
    assert paid["R-USD"] == [7_970, -740]
    usd = st.status(ledger, "R-USD")[0]
    for coin, (buyer, seller) in coins.items():
        (status,) = st.status(ledger, f"R-{coin}")
        # Cents → micro-units: every amount × 10⁴ exactly, 72.30 USD = 72,300,000 units.
        assert paid[f"R-{coin}"] == [79_700_000, -7_400_000]
        assert status.settled_minor == usd.settled_minor * 10**4 == 72_300_000
        assert status.state is st.ContractState.EXPIRED and (status.asset, status.scale) == (
            coin,
            6,
        )
        # The margin rate is USD's: 35 % of 55 × 10 PH/s × 6 days = 3,300 USD is 1,155 USD.
        assert status.margin_rate == usd.margin_rate == Decimal("0.35")
        assert status.seller_margin_minor == usd.seller_margin_minor * 10**4 == 1_155_000_000
        issuer = ledger.account(STABLECOINS[coin].issuer_account_id).balance
        b, s = ledger.account(buyer).balance, ledger.account(seller).balance
        escrow = ledger.account(st.escrow_account_id(coin))
        assert (b, s) == (FUNDS_USD * 10**6 + 72_300_000, FUNDS_USD * 10**6 - 72_300_000)
        assert (escrow.balance, escrow.credits_pending) == (0, 0)
        # Σ balances = 0 across issuer and parties: the issuer is minus the supply.
        assert issuer == -2 * FUNDS_USD * 10**6 and issuer + b + s + escrow.balance == 0
    report = ledger.verify()
    assert report.ok, report.problems


def test_a_btc_payoff_cannot_settle_in_a_stablecoin_and_nothing_changes(ledger: Ledger):
    stablecoin_ledger(ledger)
    fund_coin(ledger, "USDC", ALICE, 10**9, tid=1)
    fund_coin(ledger, "USDC", BOB, 10**9, tid=2)
    btc_forward = HashpriceForward(
        notional_phs=10,
        fixed_price_per_ph_day=0.0006,
        start=DAYS[0],
        end=DAYS[-1],
        currency="btc",  # type: ignore[arg-type]
    )
    before = ledger.state_hash()
    with pytest.raises(SettlementError, match="pays in BTC, so it settles in BTC"):
        st.open_contract(ledger, st.Contract("B1", btc_forward, ALICE, BOB, "USDC"))
    assert ledger.state_hash() == before
