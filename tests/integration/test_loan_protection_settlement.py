"""The lender's protective put (``loan-protect --settlement-out``) bought and settled on the
ledger like any option, on SQLite and PostgreSQL: over the realized window of the 2022 loan
(examples/risk/loan_2022.json) it pays its own payoff to the cent; and the CLI writes the
file ``settle open`` takes."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from hashmarket.chain import NetworkHistory
from hashmarket.cli.app import app
from hashmarket.index.fixings import fixings
from hashmarket.instruments import Fixings, load_spec
from hashmarket.ledger import Ledger
from hashmarket.ledger import settlement as st
from hashmarket.risk import load_lending, protection_put, protection_spec
from tests.conftest import fund

ROOT = Path(__file__).resolve().parents[2]
LOAN = ROOT / "examples" / "risk" / "loan_2022.json"
EXPIRY = dt.date(2022, 6, 30)
LENDER, DEALER = 10, 20


def test_the_put_written_for_settlement_is_the_put_of_the_analysis() -> None:
    loan = load_lending(LOAN).loan
    assert loan is not None
    put = protection_put(loan)
    # Strike: the claim at maturity, 1,000,000 × (1 + 0.10 × 90/365) = 1,024,657.53, where
    # 40 BTC are at the 85 % liquidation LTV: 1,024,657.53 / 34 = 30,136.99; on 40 × 0.98 BTC.
    assert put.strike == np.float64(1_000_000 * (1 + 0.10 * 90 / 365) / 34)
    assert protection_spec(put) == {
        "type": "european_option",
        "underlying": "btc_usd",
        "option_type": "put",
        "strike": 30136.99,
        "expiry": "2022-06-30",
        "quantity": 39.2,
        "side": "buy",
    }


def test_the_put_settled_over_the_realized_window_pays_its_payoff(ledger: Ledger) -> None:
    loan = load_lending(LOAN).loan
    assert loan is not None
    put = st.instrument_from_spec(protection_spec(protection_put(loan)))
    fund(ledger, LENDER, 1_000_00, asset="USD", tid=9_001)  # the buyer of an option posts nothing
    fund(ledger, DEALER, 1_000_000_00, asset="USD", tid=9_002)
    st.open_contract(ledger, st.Contract("PUT-2022", put, LENDER, DEALER, "USD"))
    window = NetworkHistory.load().between(EXPIRY, EXPIRY)
    published = st.PublishedFixings(usd=tuple(fixings(window, currency="usd")))
    (outcome,) = st.run(ledger, EXPIRY, published)
    # BTC closed at 19,332.9121294565 on 30 June 2022: 39.2 × (30,136.99 − 19,332.91…)
    # = 423,519.8525… USD → 42,351,985 cents to the lender, out of the dealer's account.
    spot = Decimal(repr(published.usd[0].inputs["price_usd"]))
    assert spot == Decimal("19332.9121294565")
    by_hand = (Decimal("30136.99") - spot) * Decimal("39.2") * 100
    assert by_hand.quantize(Decimal(1), ROUND_HALF_EVEN) == 42_351_985
    status = outcome.status
    assert status.state is st.ContractState.EXPIRED
    assert status.settled_minor == 42_351_985
    # The payoff of the put on the realized path, in cents, says the same.
    realized = Fixings.from_history(NetworkHistory.load(), start=EXPIRY, end=EXPIRY)
    assert round(float(put.cashflows(realized).sum()) * 100) == 42_351_985
    balances = {a.id: a.balance for a in ledger.lookup_accounts([LENDER, DEALER])}
    assert balances == {LENDER: 1_000_00 + 42_351_985, DEALER: 1_000_000_00 - 42_351_985}
    assert ledger.verify().ok


def test_loan_protect_writes_the_file_settle_open_accepts(tmp_path: Path) -> None:
    out = tmp_path / "put.json"
    result = CliRunner().invoke(
        app,
        [
            "loan-protect",
            str(LOAN),
            "--asof",
            "2022-04-01",
            "--paths",
            "200",
            "--format",
            "json",
            "--settlement-out",
            str(out),
            "--data-dir",
            str(tmp_path),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    analysed, written = json.loads(result.stdout)["put"], json.loads(out.read_text())
    assert round(analysed["strike"], 2) == written["strike"] == 30136.99
    assert st.instrument_from_spec(json.loads(out.read_text())) == load_spec(out)
