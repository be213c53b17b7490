"""``loan-book`` for every kind of loan a file describes, on SQLite and PostgreSQL: machines
(examples/risk/asic_loan.json), a loan of BTC against machines (asic_loan_btc.json), hashrate
tokens and a floating loan on the lending reference rate, each booked on the published
fixings with its amounts written out."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hashmarket.chain import NetworkHistory
from hashmarket.cli.app import app
from hashmarket.cli.index_lending import rates_for
from hashmarket.errors import RiskError
from hashmarket.ledger import Account, Asset, Ledger, Transfer
from hashmarket.risk import LoanParties, book_realized, booked_loan
from hashmarket.risk.loan_booking import account_id
from tests.conftest import fund

ROOT = Path(__file__).resolve().parents[2]
ASOF = dt.date(2026, 1, 22)
LENDER, BORROWER, COLLATERAL = 10, 11, 12
ISSUER = 50  # of the collateral asset (machines, tokens)


@cache
def history() -> NetworkHistory:
    return NetworkHistory.load()


def held(ledger: Ledger, *ids: int) -> list[tuple[int, int]]:
    found = {a.id: a for a in ledger.lookup_accounts(list(ids))}
    return [(found[i].balance, found[i].debits_pending) for i in ids]


def units_asset(ledger: Ledger, code: str, quantity: int) -> None:
    """An asset counted in whole units (machines, tokens), ``quantity`` held by the borrower."""
    assert ledger.create_asset(Asset(code, 0), issuer_account_id=ISSUER).value == "ok"
    fund(ledger, BORROWER, 1_000_00, asset="USD", tid=9_010)
    ledger.create_account(Account(COLLATERAL, code))
    ledger.transfer(Transfer(9_011, ISSUER, COLLATERAL, quantity))


def book(ledger: Ledger, document: dict[str, Any], **kwargs: Any) -> Any:
    loan = booked_loan(document, history=history(), asof=ASOF, **kwargs)
    parties = LoanParties(LENDER, BORROWER, COLLATERAL)
    result = book_realized(ledger, loan, parties, history=history(), asof=ASOF)
    assert ledger.verify().ok
    state = ledger.state_hash()
    assert book_realized(ledger, loan, parties, history=history(), asof=ASOF).new_transfers == 0
    assert ledger.state_hash() == state
    return result


def example(path: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / path).read_text())
    return document


def test_machines_are_pledged_whole(ledger: Ledger) -> None:
    fund(ledger, LENDER, 3_000_000_00, asset="USD", tid=9_001)
    units_asset(ledger, "S21XP", 5_000)
    result = book(ledger, example("examples/risk/asic_loan.json"))
    assert [e.kind for e in result.events] == ["disbursement", "pledge"]
    # 2,000,000.00 USD lent on 22 January 2026 against 3,000 machines, reserved.
    assert held(ledger, LENDER, BORROWER, COLLATERAL) == [
        (1_000_000_00, 0),
        (2_001_000_00, 0),
        (5_000, 3_000),
    ]


def test_a_loan_of_btc_is_lent_and_owed_in_sats(ledger: Ledger) -> None:
    fund(ledger, LENDER, 30 * 10**8, tid=9_001)
    units_asset(ledger, "S21XP", 3_000)
    ledger.create_account(Account(BORROWER + 100, "BTC"))
    loan = booked_loan(example("examples/risk/asic_loan_btc.json"), history=history(), asof=ASOF)
    parties = LoanParties(LENDER, BORROWER + 100, COLLATERAL)
    result = book_realized(ledger, loan, parties, history=history(), asof=ASOF)
    assert result.accounts is not None and result.accounts.usd_asset == "BTC"
    # 22.36 BTC lent: 2,236,000,000 sats from the lender's BTC account to the borrower's.
    assert held(ledger, LENDER, BORROWER + 100, COLLATERAL) == [
        (30 * 10**8 - 2_236_000_000, 0),
        (2_236_000_000, 0),
        (3_000, 3_000),
    ]
    assert ledger.verify().ok


def test_hashrate_tokens_are_pledged_and_released(ledger: Ledger) -> None:
    fund(ledger, LENDER, 100_000_00, asset="USD", tid=9_001)
    units_asset(ledger, "HT25", 1_000)
    token = {
        "ths_per_token": 100,
        "start": "2025-01-01",
        "end": "2025-12-31",
        "efficiency_w_per_th": 15,
        "power_price_usd_per_kwh": 0.05,
    }
    document = {
        "loan_id": "tokens-2025-03",
        "principal_usd": 20_000,
        "rate_per_year": 0.10,
        "start": "2025-03-01",
        "maturity": "2025-05-30",
        "collateral": {"kind": "token", "quantity": 800, "token": token},
        "ltv": {"initial": 0.5, "margin_call": 0.7, "liquidation": 0.85},
    }
    result = book(ledger, document)
    assert [e.kind for e in result.events] == ["disbursement", "pledge", "repayment", "release"]
    # Repaid 20,000 × (1 + 0.10 × 90/365) = 20,493.150… → 2,049,316 cents (rounded up).
    assert result.booking.repaid_minor == 2_049_316
    assert held(ledger, LENDER, BORROWER, COLLATERAL) == [
        (100_000_00 - 2_000_000 + 2_049_316, 0),
        (1_000_00 + 2_000_000 - 2_049_316, 0),
        (1_000, 0),
    ]
    custody = account_id("tokens-2025-03", "custody")
    assert held(ledger, custody) == [(0, 0)]


def test_a_floating_loan_repays_at_its_published_resets(ledger: Ledger, tmp_path: Path) -> None:
    csv = ROOT / "examples" / "lending" / "transactions_generated.csv"
    imported = CliRunner().invoke(
        app, ["index", "lending-rate", "import", str(csv), "--data-dir", str(tmp_path)]
    )
    assert imported.exit_code == 0, imported.output
    fund(ledger, LENDER, 2_000_000_00, asset="USD", tid=9_001)
    fund(ledger, BORROWER, 50_000_00, asset="USD", tid=9_002)
    fund(ledger, COLLATERAL, 30 * 10**8, tid=9_003)
    document = example("examples/lending/floating_loan.json")
    document.update(loan_id="floating-2025-11", start="2025-11-10", maturity="2026-01-10")
    result = book(ledger, document, rates_for=rates_for(tmp_path))
    loan = result.loan
    assert loan.floating is not None
    resets = [(r.fixing_date.isoformat(), r.rate_per_year) for r in loan.floating.resets]
    assert [(day, str(rate)) for day, rate in resets] == [
        ("2025-11-10", "0.10208"),
        ("2025-12-10", "0.10640"),
    ]
    # 100,000,000 × 0.10208 × 30/365 = 839,013.70 → 839,014 cents; 100,000,000 × 0.1064 ×
    # 31/365 = 903,671.23 → 903,671: repaid 101,742,685 cents.
    assert result.booking.repaid_minor == 101_742_685
    assert held(ledger, LENDER, BORROWER, COLLATERAL) == [
        (2_000_000_00 - 100_000_000 + 101_742_685, 0),
        (50_000_00 + 100_000_000 - 101_742_685, 0),
        (30 * 10**8, 0),
    ]


@pytest.mark.parametrize("kind", ["btc", "machines"])
def test_token_or_machine_terms_on_the_wrong_kind_are_refused_with_the_field(kind: str) -> None:
    document = example("examples/risk/loan_booked.json")
    document["collateral"] = {"kind": kind, "quantity": 1, "token": {}}
    with pytest.raises(RiskError, match="token"):
        booked_loan(document, history=history(), asof=ASOF)


def test_a_loan_of_btc_is_repaid_in_sats(ledger: Ledger) -> None:
    fund(ledger, LENDER, 30 * 10**8, tid=9_001)
    units_asset(ledger, "S21XP", 3_000)
    ledger.create_account(Account(BORROWER + 100, "BTC"))
    fund(ledger, BORROWER + 100, 10**8, tid=9_002)  # for the interest
    document = example("examples/risk/asic_loan_btc.json")
    document.update(loan_id="btc-2025-03", start="2025-03-01", maturity="2025-05-30")
    loan = booked_loan(document, history=history(), asof=ASOF)
    parties = LoanParties(LENDER, BORROWER + 100, COLLATERAL)
    result = book_realized(ledger, loan, parties, history=history(), asof=ASOF)
    assert [e.kind for e in result.events] == ["disbursement", "pledge", "repayment", "release"]
    # 22.36 BTC × (1 + 0.06 × 90/365) = 22.690805479… BTC → 2,269,080,548 sats (rounded up).
    assert result.booking is not None
    assert result.booking.repaid_minor == 2_269_080_548
    assert held(ledger, LENDER, BORROWER + 100, COLLATERAL) == [
        (30 * 10**8 - 2_236_000_000 + 2_269_080_548, 0),
        (10**8 + 2_236_000_000 - 2_269_080_548, 0),
        (3_000, 0),
    ]
    assert ledger.verify().ok


def test_a_deliverable_forward_delivers_its_output_daily(ledger: Ledger) -> None:
    fund(ledger, LENDER, 100_000_00, asset="USD", tid=9_001)
    fund(ledger, BORROWER, 1_000_00, asset="USD", tid=9_002)
    fund(ledger, COLLATERAL, 10**8, tid=9_003)  # the BTC it mines and delivers
    document = example("examples/risk/deliverable_forward.json")
    document.update(loan_id="fwd-2025-03", start="2025-03-01", maturity="2025-03-11")
    result = book(ledger, document)
    deliveries = [e for e in result.events if e.kind == "delivery"]
    assert len(deliveries) == 11  # 1 to 11 March
    # 100 PH/s × 36 USD × 11 days × (1 − 18 %) = 32,472.00 USD paid upfront; on 1 March
    # 100 PH/s × 0.00057537642… BTC/PH/day = 5,753,764 sats delivered (rounded down).
    assert result.booking.principal_minor == 3_247_200
    assert result.booking.delivered_minor == sum(int(e.units * 10**8) for e in deliveries)
    assert int(deliveries[0].units * 10**8) == 5_753_764
    lender_btc = account_id("fwd-2025-03", "lender_collateral")
    assert held(ledger, LENDER, BORROWER, COLLATERAL, lender_btc) == [
        (100_000_00 - 3_247_200, 0),
        (1_000_00 + 3_247_200, 0),
        (10**8 - result.booking.delivered_minor, 0),
        (result.booking.delivered_minor, 0),
    ]
