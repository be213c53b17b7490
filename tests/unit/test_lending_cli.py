"""``hashmarket loan`` on machines, ``hashmarket loan-currency`` and ``hashmarket loan-protect``
on examples/risk/asic_loan.json, and their refusals."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from hashmarket.chain.history import NetworkHistory
from hashmarket.cli.app import app
from hashmarket.errors import RiskError
from hashmarket.index import hashprice_table
from hashmarket.instruments import margin_value_usd
from hashmarket.risk import liquidation_hashprice, load_lending, parse_lending

EXAMPLE = Path(__file__).parents[2] / "examples" / "risk" / "asic_loan.json"
ASOF = "2026-01-22"  # the loan starts then; pinned so that the data growing moves nothing
runner = CliRunner()


def run(*args: str, data_dir: Path) -> Any:
    result = runner.invoke(
        app,
        [*args, "--asof", ASOF, "--format", "json", "--data-dir", str(data_dir)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_machine_loan_is_valued_at_its_margin(tmp_path: Path) -> None:
    payload = run("loan", str(EXAMPLE), "--paths", "500", data_dir=tmp_path)
    loan = load_lending(EXAMPLE).loan
    assert loan is not None and loan.collateral.machine is not None
    day = dt.date.fromisoformat(ASOF)
    table = hashprice_table(NetworkHistory.load().between(None, day))
    hashprice = float(table["hashprice_usd_per_ph_day"].loc[str(day)])
    one = margin_value_usd(
        loan.collateral.machine, hashprice_usd_per_ph_day=np.array([hashprice]), day=day
    )[0]
    assert payload["loan"]["collateral_kind"] == "machines"
    assert payload["collateral_value_usd"] == pytest.approx(3000 * one, rel=1e-12)
    assert payload["ltv_now"] == pytest.approx(2_000_000 / (3000 * one), rel=1e-12)
    machine = payload["machine"]
    assert machine["value_usd"] == pytest.approx(one, rel=1e-12)
    # 0.27 PH/s earns 0.27·h a day against 13.5 × 270 × 24 / 1000 × 0.045 = 3.9366 of power;
    # at 25 % a year of difficulty growth the margin turns negative after
    # 365 · ln(0.27·h / 3.9366) / 0.25 days, about 3.9 years: the end of life comes first.
    assert machine["power_cost_usd_per_day"] == pytest.approx(3.9366, rel=1e-12)
    assert 365 * np.log(0.27 * hashprice / 3.9366) / 0.25 > (dt.date(2029, 1, 22) - day).days
    assert machine["obsolescence_date"] == "2029-01-22"
    s = payload["scenarios"]
    assert 0 <= s["probability_liquidation"] <= s["probability_margin_call"] <= 1


def test_borrowing_btc_moves_the_price_risk_from_the_miner_to_the_lender(tmp_path: Path) -> None:
    payload = run(
        "loan-currency", str(EXAMPLE), "--btc-rate", "0.06", "--paths", "1000", data_dir=tmp_path
    )
    usd, btc = payload["usd_loan"], payload["btc_loan"]
    assert btc["principal_btc"] == pytest.approx(2_000_000 / payload["btc_price_usd"], rel=1e-12)
    assert btc["rate_per_year"] == 0.06 and usd["rate_per_year"] == 0.12
    # The BTC debt falls with the machines' value: fewer calls and losses for the lender, a
    # narrower spread of the miner's net; the lender carries BTC's price instead.
    assert btc["probability_liquidation"] < usd["probability_liquidation"]
    assert btc["expected_loss_usd"] < usd["expected_loss_usd"]
    assert btc["miner_net_usd"]["std"] < usd["miner_net_usd"]["std"]
    assert btc["lender_pnl_usd"]["std"] > usd["lender_pnl_usd"]["std"]


def test_the_lenders_put_and_what_it_cuts(tmp_path: Path) -> None:
    payload = run("loan-protect", str(EXAMPLE), "--paths", "1000", data_dir=tmp_path)
    loan = load_lending(EXAMPLE).loan
    assert loan is not None
    put = payload["put"]
    assert put["underlying"] == "hashprice_usd" and put["expiry"] == "2026-07-22"
    assert put["strike"] == pytest.approx(liquidation_hashprice(loan, day=loan.maturity))
    assert payload["premium_usd"] > 0 and payload["engine"] == "mc"
    assert payload["uncovered_loss_usd"]["mean"] <= payload["loss_usd"]["mean"]
    assert payload["loss_var_99_reduction_usd"] >= 0


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("loan-currency", "needs machine collateral, not btc"),
        ("loan-protect", "must be greater than zero"),
    ],
)
def test_refusals_are_one_line(tmp_path: Path, command: str, message: str) -> None:
    spec = json.loads((EXAMPLE.parent / "loan.json").read_text())
    if command == "loan-protect":
        spec = json.loads(EXAMPLE.read_text())
        spec["collateral"]["machine"]["hashrate_ths"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "hashmarket", command, str(bad), "--asof", ASOF],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_a_btc_loan_against_machines(tmp_path: Path) -> None:
    example = EXAMPLE.parent / "asic_loan_btc.json"
    payload = run("loan", str(example), "--paths", "500", data_dir=tmp_path)
    assert payload["loan"]["principal_btc"] == 22.36
    # The claim is 22.36 BTC at the as-of close (89,454 USD): 2,000,191.44 USD.
    assert payload["claim_usd"] == pytest.approx(22.36 * 89_454.0, rel=1e-12)
    assert payload["ltv_now"] == pytest.approx(
        payload["claim_usd"] / payload["collateral_value_usd"], rel=1e-12
    )


def test_machine_levels_are_given_not_made_from_a_haircut(tmp_path: Path) -> None:
    spec = json.loads(EXAMPLE.read_text())
    del spec["ltv"]
    with pytest.raises(RiskError, match="machine collateral needs its LTV levels given"):
        load_lending_document(spec)


def load_lending_document(spec: dict[str, Any]) -> None:
    parse_lending(spec, levels_for=lambda kind, policy: pytest.fail("not asked"))
