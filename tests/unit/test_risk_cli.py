"""``hashmarket risk``, ``hedge`` and ``loan`` on the shipped examples, and the input files'
errors: each names the file and the field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hashmarket.cli.app import app
from hashmarket.errors import RiskError
from hashmarket.risk.specs import load_lending, load_miner, load_portfolio

EXAMPLES = Path(__file__).parents[2] / "examples" / "risk"
runner = CliRunner()


# The examples' contracts run through 2026; they are valued as of a day both the bundled data
# and its extensions hold, so the results do not move when the data grows.
PIN = ["--asof", "2025-01-11", "--allow-subsidy-only"]


def run(*args: str, data_dir: Path) -> Any:
    pin = PIN if args[0] in ("risk", "hedge", "loan") else []
    result = runner.invoke(app, [*args, *pin, "--data-dir", str(data_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_risk_json_and_report(tmp_path: Path) -> None:
    report = tmp_path / "risk.html"
    result = run(
        "risk",
        str(EXAMPLES / "portfolio.json"),
        "--paths",
        "600",
        "--confidence",
        "0.99",
        "--confidence",
        "0.95",
        "--format",
        "json",
        "--report",
        str(report),
        data_dir=tmp_path,
    )
    payload = json.loads(result.stdout)
    assert payload["horizon_days"] == 10
    assert len(payload["positions"]) == 9
    for method in ("monte_carlo", "historical"):
        estimates = payload[method]["estimates"]
        assert [e["confidence"] for e in estimates] == [0.99, 0.95]
        for e in estimates:
            assert e["es_usd"] >= e["var_usd"] > 0
    assert "daily changes from" in payload["historical"]["window"]
    assert [s["name"] for s in payload["stress"]] == [
        "halving",
        "difficulty_up_20pct_1m",
        "btc_down_50pct",
        "fee_spike",
        "replay_2021_hashrate_drop",
    ]
    for s in payload["stress"]:
        assert s["total_pnl_usd"] == pytest.approx(sum(p["pnl_usd"] for p in s["positions"]))
    html = report.read_text(encoding="utf-8")
    assert "<script src=" not in html  # Plotly is inline: the report works offline
    assert "Plotly" in html and "P&L (USD)" in html


def test_risk_table(tmp_path: Path) -> None:
    result = run(
        "risk",
        str(EXAMPLES / "portfolio.json"),
        "--paths",
        "400",
        "--no-historical",
        data_dir=tmp_path,
    )
    assert "VaR and expected shortfall" in result.stdout
    assert "Stress scenarios" in result.stdout


def test_hedge_json(tmp_path: Path) -> None:
    report = tmp_path / "hedge.html"
    result = run(
        "hedge",
        str(EXAMPLES / "miner.json"),
        "--paths",
        "2000",
        "--format",
        "json",
        "--report",
        str(report),
        data_dir=tmp_path,
    )
    payload = json.loads(result.stdout)
    assert len(payload["months"]) == 12
    chosen = payload["recommended"] or payload["best_effort"]
    assert chosen["family"] in ("hashprice_forward", "btc_swap", "btc_put", "collar")
    assert payload["independent_check"]["seed"] == 1
    assert 0 < payload["rule_of_thumb_ratio"] <= 1
    assert "Monthly net cash" in report.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["loan.json", "deliverable_forward.json"])
def test_loan_json(tmp_path: Path, name: str) -> None:
    result = run(
        "loan", str(EXAMPLES / name), "--paths", "1000", "--format", "json", data_dir=tmp_path
    )
    payload = json.loads(result.stdout)
    s = payload["scenarios"]
    assert 0 <= s["probability_liquidation"] <= s["probability_margin_call"] <= 1
    loan = payload["loan"]
    assert loan["initial_ltv"] < loan["margin_call_ltv"] < loan["liquidation_ltv"]
    if name == "loan.json":
        levels = payload["levels_from_haircuts"]
        assert levels["tail"] == "student_t"
        assert levels["initial_ltv"] == pytest.approx(loan["initial_ltv"])


def test_leverage_table_and_report(tmp_path: Path) -> None:
    report = tmp_path / "triple.html"
    result = run(
        "loan",
        str(EXAMPLES / "triple.json"),
        "--paths",
        "1000",
        "--report",
        str(report),
        data_dir=tmp_path,
    )
    assert "liquidation price usd now" in result.stdout
    assert report.exists()


def test_refusals_are_one_line_with_exit_code_65(tmp_path: Path) -> None:
    bad = tmp_path / "triple.json"
    bad.write_text(json.dumps({"type": "leveraged_btc", "equity_usd": 1000, "leverage": 5}))
    done = subprocess.run(
        [sys.executable, "-m", "hashmarket", "loan", str(bad), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 65
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "leverage 5.0x is outside the allowed range 1.1x to 3.0x" in lines[0]
    assert str(bad) in lines[0]


# ---- input files -------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def portfolio(*positions: dict[str, Any]) -> dict[str, Any]:
    return {"name": "p", "positions": list(positions)}


FORWARD = {
    "type": "hashprice_forward",
    "notional_phs": 1,
    "fixed_price_per_ph_day": 40,
    "start": "2026-03-01",
    "end": "2026-03-31",
}


@pytest.mark.parametrize(
    ("document", "field", "problem"),
    [
        (
            portfolio({"name": "x", "kind": "spot_btc", "quantity": 1, "amount": 2}),
            "positions[0].amount",
            "unknown field",
        ),
        (portfolio({"name": "x", "kind": "spot_btc"}), "positions[0].quantity", "missing"),
        (
            portfolio({"name": "x", "kind": "spot_btc", "quantity": "1"}),
            "positions[0].quantity",
            "not a number",
        ),
        (
            portfolio({"name": "x", "kind": "bond", "quantity": 1}),
            "positions[0].kind",
            "not one of",
        ),
        (
            portfolio(
                {"name": "x", "kind": "instrument", "instrument": {**FORWARD, "notional_phs": -1}}
            ),
            "positions[0].instrument",
            "notional_phs",
        ),
        (
            portfolio({"name": "x", "kind": "instrument"}),
            "positions[0].instrument",
            "exactly one",
        ),
        (
            portfolio(
                {"name": "x", "kind": "spot_btc", "quantity": 1},
                {"name": "x", "kind": "spot_btc", "quantity": 2},
            ),
            "positions",
            "two positions",
        ),
        ({"name": "p", "positions": []}, "positions", "non-empty list"),
        (
            portfolio(
                {
                    "name": "l",
                    "kind": "loan",
                    "loan": {
                        "loan_id": "a",
                        "principal_usd": 1,
                        "rate_per_year": 0.1,
                        "start": "2026-01-01",
                        "maturity": "2026-02-01",
                        "collateral": {"kind": "btc", "quantity": 1},
                    },
                }
            ),
            "positions[0].loan.ltv",
            "missing",
        ),
    ],
)
def test_portfolio_errors_name_file_and_field(
    tmp_path: Path, document: Any, field: str, problem: str
) -> None:
    path = write(tmp_path, "portfolio.json", document)
    with pytest.raises(RiskError) as caught:
        load_portfolio(path)
    message = str(caught.value)
    assert str(path) in message and f"field {field!r}" in message and problem in message


def test_a_yaml_portfolio_and_a_spec_file_beside_it(tmp_path: Path) -> None:
    (tmp_path / "fwd.json").write_text(json.dumps(FORWARD))
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: y\npositions:\n"
        "  - {name: a, kind: instrument, spec: fwd.json, quantity: -2}\n"
        "  - {name: b, kind: spot_btc, quantity: 0.5}\n"
    )
    book = load_portfolio(path)
    assert [p.quantity for p in book.positions] == [-2.0, 0.5]


def test_unreadable_files_say_so(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{not json")
    with pytest.raises(RiskError, match="not a JSON or YAML portfolio"):
        load_portfolio(path)
    with pytest.raises(RiskError, match="file not found"):
        load_portfolio(tmp_path / "missing.json")


def test_miner_and_loan_errors_name_the_field(tmp_path: Path) -> None:
    miner = write(tmp_path, "m.json", {"hashrate_phs": 10, "efficiency_j_per_th": 15})
    with pytest.raises(RiskError, match="'power_usd_per_kwh': missing"):
        load_miner(miner)
    miner = write(
        tmp_path,
        "m2.json",
        {"hashrate_phs": 10, "efficiency_j_per_th": 15, "power_usd_per_kwh": 0.05, "uptime": 2},
    )
    with pytest.raises(RiskError, match="'uptime'"):
        load_miner(miner)
    loan = write(tmp_path, "l.json", {"type": "loan", "loan_id": "x", "colateral": {}})
    with pytest.raises(RiskError, match="'colateral': unknown field"):
        load_lending(loan)


def test_the_examples_load() -> None:
    assert len(load_portfolio(EXAMPLES / "portfolio.json")) == 9
    assert load_miner(EXAMPLES / "miner.json").coverage == 0.95
    triple = load_lending(EXAMPLES / "triple.json")
    assert triple.leverage is not None and triple.leverage.leverage == 3.0
    forward = load_lending(EXAMPLES / "deliverable_forward.json")
    assert forward.loan is not None and forward.loan.is_forward
