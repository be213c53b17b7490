"""``hashmarket fund …`` as a user runs it on the bundled fixings: JSON output checked by
hand, one-line errors with their exit codes, and a ledger left as it was by a refusal."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.integration.test_settlement_cli import Cli

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "examples" / "fund" / "fund.json")
PRICES = str(ROOT / "examples" / "fund" / "secondary_prices_illustrative.csv")
AP = ["--ap", "600", "--tokens", "601", "--btc", "602"]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    """docs/fund.md's ledger to the fund's launch: HT1, an AP with 500 tokens and 0.5 BTC."""
    run = Cli(monkeypatch, capsys, tmp_path)
    for args in (
        ["ledger", "init", "--at", "2025-01-01T00:00:00Z"],
        ["ledger", "account", "10", "--asset", "BTC", "--at", "2025-01-01T00:01:00Z"],
        ["ledger", "account", "602", "--asset", "BTC", "--at", "2025-01-01T00:02:00Z"],
        ["ledger", "transfer", "--from", "1", "--to", "602", "--amount", "50000000", "--id", "1",
         "--at", "2025-01-01T00:03:00Z"],
        ["tokens", "issue", "--series", "HT1", "--issuer-id", "100", "--reserve-id", "101",
         "--treasury", "10", "--efficiency-w-per-th", "18.5", "--power-price-usd-per-kwh", "0.05",
         "--service-fee-usd-per-th-day", "0.002", "--backing-ths", "1000", "--start",
         "2025-01-01", "--end", "2025-12-31", "--at", "2025-01-02T00:00:00Z"],
        ["tokens", "mint", "--series", "HT1", "--to", "601", "--payout", "602", "--amount", "500",
         "--id", "10", "--at", "2025-01-03T00:00:00Z"],
        ["fund", "create", SPEC, "--at", "2025-01-04T00:00:00Z"],
        ["fund", "register-ap", SPEC, "--account", "600", "--payout", "602",
         "--at", "2025-01-04T00:01:00Z"],
    ):  # fmt: skip
        done = run(*args)
        assert done.returncode == 0, done.stderr
    return run


def test_the_launch_and_a_creation_by_hand(cli: Cli) -> None:
    day1 = cli.ok("fund", "strike", SPEC, "--day", "2025-01-05", "--at", "2025-01-06T00:10:00Z")
    # HT1 pays 33 sats a token on 5 January; 360 days remain, discounted at 5 % a year:
    # 33 × Σ_{k=1..360} exp(−0.05 k / 365) = 33 × 351.2434 = 11,591.03 → 11,591 sats.
    q = math.exp(-0.05 / 365)
    annuity = q * (1 - q**360) / (1 - q)
    assert annuity == pytest.approx(351.243366, abs=1e-6)
    assert day1["mark"]["pool_sats_per_token"] == 33
    assert day1["mark"]["mark_sats_per_token"] == round(33 * annuity) == 11_591
    # The seed unit: (100 × 11,591 + 50,000) / 1,000 shares = 1,209.1 sats a share.
    assert day1["nav_sats_per_share"] == "1209.1000"
    done = cli.ok(
        "fund", "create-shares", SPEC, *AP, "--units", "2", "--id", "c1",
        "--received-at", "2025-01-05T15:00:00Z", "--at", "2025-01-06T00:20:00Z",
    )  # fmt: skip
    assert (done["dealing_day"], done["token_units"], done["cash_sats"]) == (
        "2025-01-05",
        200,
        100_000,
    )
    accounts = {a["id"]: a["balance_units"] for a in cli.ok("ledger", "balance")}
    assert accounts[600] == 2_000 and accounts[601] == 300 and accounts[501] == 200
    assert accounts[602] == 50_000_000 - 100_000 and accounts[502] == 100_000


def test_bad_input_is_one_line_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    before = cli.state_hash()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(Path(SPEC).read_text()), "income": "reinvest"}))
    line = cli.refused("fund", "strike", str(bad), "--day", "2025-01-05", code=65)
    assert str(bad) in line and "field 'income': unknown value 'reinvest'" in line
    line = cli.refused(
        "fund", "create-shares", SPEC, *AP, "--units", "1", "--id", "x",
        "--received-at", "2025-01-05 15:00", code=2,
    )  # fmt: skip
    assert "--received-at" in line
    # Not an authorised participant: the fund's own BTC account is no share account.
    cli.ok("fund", "strike", SPEC, "--day", "2025-01-05", "--at", "2025-01-06T00:10:00Z")
    struck = cli.state_hash()
    assert struck == before  # the launch day books nothing
    line = cli.refused(
        "fund", "create-shares", SPEC, "--ap", "602", "--tokens", "601", "--btc", "602",
        "--units", "1", "--id", "x", "--received-at", "2025-01-05T15:00:00Z",
        "--at", "2025-01-06T00:20:00Z",
    )  # fmt: skip
    assert "account 602 is not an authorised participant of fund 'HFUND'" in line
    # Live (the clock is today): 5 January's dealing window closed long ago.
    line = cli.refused(
        "fund", "create-shares", SPEC, *AP, "--units", "1", "--id", "y",
        "--received-at", "2025-01-05T15:00:00Z",
    )  # fmt: skip
    assert "dealing window closed at 2025-01-07" in line
    assert cli.state_hash() == before
    bad_prices = tmp_path / "prices.csv"
    bad_prices.write_text("date,price_sats_per_share\n2025-01-06,1245.5\n2025-01-06,1200\n")
    line = cli.refused("fund", "report", SPEC, "--prices", str(bad_prices), code=65)
    assert f"{bad_prices}:3" in line and "date appears twice" in line


def test_report_prints_premium_and_tracking_error(cli: Cli) -> None:
    cli.ok("fund", "strike", SPEC, "--day", "2025-01-05", "--at", "2025-01-06T00:10:00Z")
    cli.ok(
        "fund", "create-shares", SPEC, *AP, "--units", "2", "--id", "c1",
        "--received-at", "2025-01-05T15:00:00Z", "--at", "2025-01-06T00:20:00Z",
    )  # fmt: skip
    out = cli.ok("fund", "report", SPEC, "--to", "2025-01-09", "--prices", PRICES)
    days = {d["day"]: d for d in out["days"]}
    # 6 January: the illustrative price 1,245.5 against the NAV of that day.
    nav = float(days["2025-01-06"]["nav_sats_per_share"])
    assert float(days["2025-01-06"]["premium"]) == pytest.approx(1245.5 / nav - 1, abs=1e-6)
    assert out["tracking_error"]["returns"] == 3  # 6 → 9 January, the days with shares
