"""``hashmarket hedge`` on the machines' situation, ``hashmarket cva``, and ``ledger init
--stablecoins`` with a USDC settlement, as a user runs them: values, exit codes and one-line
errors that change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from hashmarket.cli.app import app
from hashmarket.ledger import Ledger

EXAMPLES = Path(__file__).parents[2] / "examples"
runner = CliRunner()


def ok(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_hedge_of_new_machines_shows_both_plans_and_why(tmp_path: Path) -> None:
    payload = ok(
        "hedge",
        str(EXAMPLES / "risk" / "miner_new_machines.json"),
        "--paths",
        "1000",
        "--data-dir",
        str(tmp_path),
        "--report",
        str(tmp_path / "hedge.html"),
    )
    # February 2026 to the end of life in September 2029: 44 monthly hedges.
    assert len(payload["months"]) == 44 and payload["months"][-1] == "2029-09"
    s = payload["situation"]
    capital = s["capital"]
    # 3.6 M USD less what 200 PH/s earned net from 1 October 2025 to 22 January 2026.
    assert capital["paid_back"] is False
    assert capital["unrecovered_usd"] == capital["machine_cost_usd"] - capital["recovered_usd"]
    assert capital["days_without_index"] == 10  # 30 December 2025 to 8 January 2026
    assert {s["lock"]["plan"], s["puts"]["plan"]} == {"lock", "puts"}
    chosen = s[s["chosen"]]
    assert (payload["recommended"] or payload["best_effort"])["family"] == chosen["family"]
    assert f"{chosen['probability_capital_recovered']:.1%}" in s["reason"]
    page = (tmp_path / "hedge.html").read_text(encoding="utf-8")
    assert "Lock or keep the upside" in page and f"Chosen: {s['chosen']} — " in page


def test_cva_table_and_a_bad_file(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["cva", str(EXAMPLES / "risk" / "counterparty.json"), "--paths", "400"]
    )
    assert result.exit_code == 0, result.output
    assert "CVA without margin" in result.stdout and "CVA with margin" in result.stdout
    bad = json.loads((EXAMPLES / "risk" / "counterparty.json").read_text())
    bad["counterparty"]["recovery"] = 1.2
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    refused = runner.invoke(app, ["cva", str(path)])
    # The error names the file, the field and the value (`main` prints it as one line).
    assert refused.exit_code != 0
    assert str(refused.exception).endswith(
        "bad.json: field 'counterparty.recovery': 1.2 must be in [0, 1)"
    )


def test_ledger_init_adds_stablecoins_and_settle_opens_in_usdc(tmp_path: Path) -> None:
    db = ["--data-dir", str(tmp_path)]
    plain = ok("ledger", "init", *db)
    assert [a["asset"] for a in plain["assets"]] == ["BTC", "USD"]
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    with Ledger.open(url) as ledger:
        before = ledger.state_hash()
    added = ok("ledger", "init", "--stablecoins", *db)
    assert {(a["asset"], a["scale"], a["issuer_account_id"]) for a in added["assets"]} == {
        ("BTC", 8, 1),
        ("USD", 2, 2),
        ("USDT", 6, 3),
        ("USDC", 6, 4),
    }
    with Ledger.open(url) as ledger:
        after = ledger.state_hash()
    assert after != before
    ok("ledger", "init", "--stablecoins", *db)  # again: nothing new
    with Ledger.open(url) as ledger:
        assert ledger.state_hash() == after
    for account, name in ((21, "carol"), (22, "dave")):
        ok("ledger", "account", str(account), "--asset", "USDC", "--name", name, *db)
        ok(
            "ledger",
            "transfer",
            "--from",
            "usdc-issuer",
            "--to",
            name,
            "--amount",
            "10000000000",
            *db,
        )
    spec = str(EXAMPLES / "settlement" / "hashprice_forward_2025-01.json")
    (opened,) = ok(
        "settle", "open", spec, "--buyer", "carol", "--seller", "dave", "--asset", "usdc", *db
    )
    # 35 % of 55 USD × 10 PH/s × 6 days = 1,155 USD: 1,155,000,000 micro-USDC.
    assert (opened["asset"], opened["seller_margin_minor"]) == ("USDC", 1_155_000_000)
    (run,) = ok("settle", "run", "--day", "2025-01-10", *db)
    assert run["settled_minor"] == 72_300_000 and run["state"] == "expired"
    # A BTC account cannot take a USD payoff, whatever the asset named.
    refused = runner.invoke(
        app, ["settle", "open", spec, "--buyer", "carol", "--seller", "dave", "--asset", "btc", *db]
    )
    assert refused.exit_code != 0 and "so it settles in USD" in str(refused.exception)


def test_the_horizon_can_be_shortened_on_the_command_line(tmp_path: Path) -> None:
    miner = str(EXAMPLES / "risk" / "miner_new_machines.json")
    args = ("--paths", "500", "--data-dir", str(tmp_path))
    payload = ok("hedge", miner, "--horizon-months", "6", *args)
    assert payload["months"] == ["2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07"]
    assert payload["situation"]["last_month_hedged"] == "2026-07"
    refused = runner.invoke(app, ["hedge", miner, "--horizon-months", "121", *args])
    assert refused.exit_code != 0 and "must be 1 to 120" in str(refused.exception)


def test_the_stablecoin_issuers_can_be_other_accounts(tmp_path: Path) -> None:
    db = ["--data-dir", str(tmp_path)]
    made = ok(
        "ledger", "init", "--stablecoins", "--usdt-issuer-id", "7", "--usdc-issuer-id", "8", *db
    )
    issuers = {a["asset"]: a["issuer_account_id"] for a in made["assets"]}
    assert (issuers["USDT"], issuers["USDC"]) == (7, 8)
    # The same assets with another issuer are refused, and the ledger stays as it was.
    with Ledger.open(f"sqlite:///{tmp_path}/ledger.sqlite") as ledger:
        before = ledger.state_hash()
    refused = runner.invoke(app, ["ledger", "init", "--stablecoins", *db])
    assert refused.exit_code != 0 and "USDT" in str(refused.exception)
    with Ledger.open(f"sqlite:///{tmp_path}/ledger.sqlite") as ledger:
        assert ledger.state_hash() == before
