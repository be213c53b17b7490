"""``hashmarket loan-book`` and ``POST /api/v1/loans/book`` on a SQLite ledger in a data
directory: the example loan booked to a pinned as-of day, again (nothing new), to a later
day (only the repayment and the release); bad input refused with its file, field and value
and nothing written; the route's roles and Idempotency-Key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.cli.app import app
from hashmarket.errors import RiskError
from hashmarket.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]
LOAN = ROOT / "examples" / "risk" / "loan_booked.json"
runner = CliRunner()
PARTIES = ["--lender", "bank", "--borrower", "miner", "--collateral", "miner-btc"]


def cli(data_dir: Path, *args: str, ok: bool = True) -> Any:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    assert (result.exit_code == 0) is ok, result.output
    return result


def parties(data_dir: Path) -> None:
    """bank (3,000,000 USD), miner (200,000 USD) and miner-btc (50 BTC)."""
    cli(data_dir, "ledger", "init")
    for account_id, asset, name in (
        (10, "USD", "bank"),
        (11, "USD", "miner"),
        (12, "BTC", "miner-btc"),
    ):
        cli(data_dir, "ledger", "account", str(account_id), "--asset", asset, "--name", name)
    for issuer, to, amount in (
        ("usd-issuer", "bank", 300_000_000),
        ("usd-issuer", "miner", 20_000_000),
        ("btc-issuer", "miner-btc", 5_000_000_000),
    ):
        cli(data_dir, "ledger", "transfer", "--from", issuer, "--to", to, "--amount", str(amount))


def book(data_dir: Path, *args: str, ok: bool = True) -> Any:
    result = cli(data_dir, "loan-book", *args, *PARTIES, "--format", "json", ok=ok)
    return json.loads(result.stdout) if ok else result


def state(data_dir: Path) -> str:
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        return ledger.state_hash()


def test_the_command_books_what_is_new_and_nothing_twice(tmp_path: Path) -> None:
    parties(tmp_path)
    first = book(tmp_path, str(LOAN), "--asof", "2025-10-31")
    assert [e["kind"] for e in first["events"]] == ["disbursement", "pledge"]
    assert first["new_transfers"] == 2
    assert first["booking"]["principal_minor"] == 200_000_000  # cents
    assert first["booking"]["pledged_minor"] == 4_300_000_000  # sats
    hashed = state(tmp_path)
    assert book(tmp_path, str(LOAN), "--asof", "2025-10-31")["new_transfers"] == 0
    assert state(tmp_path) == hashed
    later = book(tmp_path, str(LOAN))  # the data's as-of day, 2026-01-22
    assert later["asof"] == "2026-01-22"
    assert [e["kind"] for e in later["events"]][2:] == ["repayment", "release"]
    assert later["new_transfers"] == 2
    assert later["booking"]["repaid_minor"] == 211_030_137
    balances = cli(tmp_path, "ledger", "balance", "bank", "miner", "--format", "json")
    held = {row["name"]: row["balance"] for row in json.loads(balances.stdout)}
    # In USD: 3,000,000 − 2,000,000 + 2,110,301.37 and 200,000 + 2,000,000 − 2,110,301.37.
    assert held == {"bank": 3_110_301.37, "miner": 89_698.63}


def test_bad_input_is_refused_with_file_field_and_value(tmp_path: Path) -> None:
    parties(tmp_path)
    hashed = state(tmp_path)
    bad = json.loads(LOAN.read_text())
    bad["principal_usd"] = -5
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    refused = book(tmp_path, str(path), ok=False)
    assert isinstance(refused.exception, RiskError) and refused.exception.exit_code == 65
    assert "bad.json" in str(refused.exception) and "principal_usd" in str(refused.exception)
    assert "-5" in str(refused.exception)
    wrong = cli(
        tmp_path,
        "loan-book",
        str(LOAN),
        *PARTIES[:4],
        "--collateral",
        "miner",
        ok=False,
    )
    assert "collateral account 'miner': holds USD, the loan needs BTC" in str(wrong.exception)
    assert state(tmp_path) == hashed


@pytest.fixture
def service(tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    parties(tmp_path)
    store = ServiceStore.in_data_dir(tmp_path)
    keys = {
        "trader": store.create_key(Role.TRADER)[1],
        "viewer": store.create_key(Role.VIEWER)[1],
        "bound": store.create_key(Role.TRADER, account="10")[1],
    }
    config = ServiceConfig(data_dir=tmp_path, rate_limit_per_s=1000, rate_limit_burst=1000)
    return TestClient(create_app(config)), keys


def post(client: TestClient, key: str, body: Any, idem: str | None) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return client.post("/api/v1/loans/book", headers=headers, json=body)


def test_the_route_books_with_the_transfer_permission(service: Any) -> None:
    client, keys = service
    body = {
        "loan": json.loads(LOAN.read_text()),
        "lender": "bank",
        "borrower": 11,
        "collateral": "miner-btc",
        "asof": "2025-10-31",
    }
    assert post(client, keys["viewer"], body, "v-1").status_code == 403
    assert post(client, keys["bound"], body, "b-1").status_code == 403
    missing = post(client, keys["trader"], body, None)  # no Idempotency-Key
    assert missing.status_code == 400 and "Idempotency-Key" in missing.text
    first = post(client, keys["trader"], body, "t-1")
    assert first.status_code == 200, first.text
    assert first.json()["new_transfers"] == 2
    assert first.json()["booking"]["principal_minor"] == 200_000_000
    replay = post(client, keys["trader"], body, "t-1")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    again = post(client, keys["trader"], body, "t-2")  # a new request books nothing new
    assert again.status_code == 200 and again.json()["new_transfers"] == 0
    bad = post(client, keys["trader"], {**body, "collateral": "nobody"}, "t-3")
    assert bad.status_code in (400, 422) and "no such account" in bad.text


def test_the_protection_route_answers_the_put_as_a_contract_spec(service: Any) -> None:
    client, keys = service
    loan = json.loads((ROOT / "examples" / "risk" / "loan.json").read_text())
    response = client.post(
        "/api/v1/loans/protection",
        headers={"Authorization": f"Bearer {keys['viewer']}"},
        json={"loan": loan, "paths": 200},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    spec = answer["settlement_spec"]
    assert spec["type"] == "european_option" and spec["option_type"] == "put"
    assert spec["strike"] == round(answer["put"]["strike"], 2)
    assert spec["quantity"] == round(answer["put"]["quantity"], 8)
    assert spec["expiry"] == "2026-07-31" and spec["side"] == "buy"
