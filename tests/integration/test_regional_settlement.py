"""Regional contracts settled on the ledger (SQLite and PostgreSQL) from regional margin
fixings: a basis swap over three days of January 2025, every amount worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import SettlementError
from hashmarket.index import read_power_prices
from hashmarket.instruments import BasisSettlement, MarginLock, RegionalBasisSwap
from hashmarket.ledger import Ledger, ManualClock
from hashmarket.ledger import settlement as st
from hashmarket.ledger.clock import day_start_ns
from tests.conftest import fund

DAYS = [dt.date(2025, 1, 5), dt.date(2025, 1, 6), dt.date(2025, 1, 7)]
BUYER, SELLER = 10, 11
USD_1000 = 1_000_00  # cents
# The generated example prices of these days, USD/MWh (examples/regional/power_generated.csv).
PRICES = """date,region,price_usd_per_mwh
2025-01-05,quebec,29.87
2025-01-05,texas,40.64
2025-01-06,quebec,30.79
2025-01-06,texas,40.28
2025-01-07,quebec,31.37
2025-01-07,texas,39.26
"""


def swap(**changes: object) -> RegionalBasisSwap:
    terms: dict[str, object] = {
        "long_region": "quebec",
        "short_region": "texas",
        "notional_phs": 10,
        "start": DAYS[0],
        "end": DAYS[-1],
        "efficiency_j_per_th": 20,
        "fixed_spread_usd_per_ph_day": 4.0,
    }
    terms.update(changes)
    return RegionalBasisSwap(**terms)  # type: ignore[arg-type]


def published(
    tmp_path: Path, statuses: list[st.ContractStatus], day: dt.date
) -> st.PublishedFixings:
    path = tmp_path / "power.csv"
    path.write_text(PRICES, encoding="utf-8")
    return st.published_fixings(
        statuses, day, history=NetworkHistory.load(), power_prices=read_power_prices(path)
    )


def open_swap(ledger: Ledger, instrument: st.SettledInstrument) -> st.ContractStatus:
    fund(ledger, BUYER, USD_1000, asset="USD", tid=9_001)
    fund(ledger, SELLER, USD_1000, asset="USD", tid=9_002)
    return st.open_contract(
        ledger,
        st.Contract(
            "B1",
            instrument,
            BUYER,
            SELLER,
            "USD",
            notional=Decimal(500),
        ),
    )


def test_a_basis_swap_pays_three_days_of_margin_differences_to_the_cent(
    ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> None:
    # By hand. Hashprice fixings (USD/PH/s/day): 57.03, 59.45, 56.49. Power cost at 20 J/TH is
    # 480 kWh per PH/s per day × USD/kWh; margins rounded half to even to the cent:
    #   5 Jan  quebec 57.03 − 480 × 0.02987 = 57.03 − 14.3376 = 42.6924 → 42.69
    #          texas  57.03 − 480 × 0.04064 = 57.03 − 19.5072 = 37.5228 → 37.52
    #   6 Jan  quebec 59.45 − 14.7792 = 44.6708 → 44.67;  texas 59.45 − 19.3344 = 40.1156 → 40.12
    #   7 Jan  quebec 56.49 − 15.0576 = 41.4324 → 41.43;  texas 56.49 − 18.8448 = 37.6452 → 37.65
    # Buyer receives 10 PH/s × (quebec − texas − 4.00): 10 × 1.17 = 11.70, 10 × 0.55 = 5.50,
    # 10 × (−0.22) = −2.20 USD; 15.00 USD in all.
    opened = open_swap(ledger, swap())
    # Margin: 35 % of the 500 USD notional given (a basis swap's terms fix none) = 175.00.
    assert opened.buyer_margin_minor == opened.seller_margin_minor == 175_00
    clock.set(day_start_ns(dt.date(2025, 1, 8)))
    paid = []
    for day in DAYS:
        statuses = st.status(ledger)
        (outcome,) = st.run(ledger, day, published(tmp_path, statuses, day))
        paid.append(sum(e.amount_minor for e in outcome.events))
    assert paid == [11_70, 5_50, -2_20]
    status = outcome.status
    assert status.settled_minor == status.due_minor == 15_00
    assert status.state is st.ContractState.EXPIRED
    assert ledger.account(BUYER).balance == USD_1000 + 15_00
    assert ledger.account(SELLER).balance == USD_1000 - 15_00
    assert ledger.account(BUYER).debits_pending == ledger.account(SELLER).debits_pending == 0
    # Running a day again pays nothing.
    again = st.run(ledger, DAYS[-1], published(tmp_path, st.status(ledger), DAYS[-1]))
    assert again == [] or all(not o.events for o in again)
    assert ledger.account(BUYER).balance == USD_1000 + 15_00
    assert ledger.verify().ok


def test_a_monthly_basis_swap_pays_the_window_on_its_last_day(
    ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> None:
    open_swap(ledger, swap(settlement=BasisSettlement.MONTHLY))
    clock.set(day_start_ns(dt.date(2025, 1, 8)))
    paid = []
    for day in DAYS:
        (outcome,) = st.run(ledger, day, published(tmp_path, st.status(ledger), day))
        paid.append(sum(e.amount_minor for e in outcome.events))
    # The contract's month is 5-7 January: nothing until its last day, then the sum, 15.00.
    assert paid == [0, 0, 15_00]
    assert ledger.account(SELLER).balance == USD_1000 - 15_00


def test_without_power_prices_a_regional_contract_is_not_settled(
    ledger: Ledger, clock: ManualClock
) -> None:
    open_swap(ledger, swap())
    clock.set(day_start_ns(dt.date(2025, 1, 8)))
    statuses = st.status(ledger)
    nothing = st.published_fixings(statuses, DAYS[0], history=NetworkHistory.load())
    with pytest.raises(SettlementError, match="regional margin"):
        st.run(ledger, DAYS[0], nothing)
    assert ledger.account(BUYER).balance == USD_1000  # nothing moved


def test_a_margin_lock_settles_its_two_legs(
    ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> None:
    # Sold by a texas miner at 58.00 USD/PH/s/day and 0.04 USD/kWh on 10 PH/s (4,800 kWh/day).
    # The buyer receives 10 × (H − 58.00) − 4,800 × (P − 0.04) a day:
    #   5 Jan 10 × (57.03 − 58) − 4,800 × (0.04064 − 0.04) = −9.70 − 3.072 = −12.772
    #   6 Jan 10 × 1.45 − 4,800 × 0.00028 = 14.50 − 1.344 = 13.156
    #   7 Jan 10 × (−1.51) − 4,800 × (−0.00074) = −15.10 + 3.552 = −11.548
    # Cumulative, rounded half to even: −12.772 → −12.77; +0.384 → 0.38; −11.164 → −11.16.
    lock = MarginLock(
        region="texas",
        notional_phs=10,
        fixed_hashprice_usd_per_ph_day=58.0,
        fixed_power_usd_per_kwh=0.04,
        start=DAYS[0],
        end=DAYS[-1],
    )
    fund(ledger, BUYER, USD_1000, asset="USD", tid=9_001)
    fund(ledger, SELLER, USD_1000, asset="USD", tid=9_002)
    opened = st.open_contract(ledger, st.Contract("L1", lock, BUYER, SELLER, "USD"))
    # Notional as a hashprice forward's: 58 × 10 PH/s × 3 days = 1,740 USD; 35 % = 609.00.
    assert opened.notional == Decimal(1740) and opened.buyer_margin_minor == 609_00
    clock.set(day_start_ns(dt.date(2025, 1, 8)))
    paid = []
    for day in DAYS:
        (outcome,) = st.run(ledger, day, published(tmp_path, st.status(ledger), day))
        paid.append(sum(e.amount_minor for e in outcome.events))
    assert paid == [-12_77, 12_77 + 38, -11_16 - 38]
    assert ledger.account(BUYER).balance == USD_1000 - 11_16
    assert ledger.account(SELLER).balance == USD_1000 + 11_16
