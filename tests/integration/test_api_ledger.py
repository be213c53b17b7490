"""Authenticated API on a real ledger: roles, a holder's own account, idempotency, bad bodies."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.ledger import Asset, Ledger
from tests.conftest import open_token_ledger


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, str], Path]:
    data_dir = tmp_path_factory.mktemp("api-ledger")
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="BTC issuer")
    store = ServiceStore.in_data_dir(data_dir)
    keys = {
        "admin": store.create_key(Role.ADMIN)[1],
        "issuer": store.create_key(Role.ISSUER)[1],
        "alice": store.create_key(Role.TRADER, account="1001")[1],
        "viewer": store.create_key(Role.VIEWER, account="1001")[1],
    }
    client = TestClient(
        create_app(ServiceConfig(data_dir=data_dir, rate_limit_per_s=1000, rate_limit_burst=1000))
    )
    return client, keys, data_dir


def call(
    client: TestClient, method: str, path: str, key: str | None, idem: str | None = None, **kw
):
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return client.request(method, path, headers=headers, **kw)


def test_accounts_transfers_and_security(setup) -> None:
    client, keys, _ = setup
    # Opening accounts takes a role that may manage accounts, and an Idempotency-Key.
    body = {"id": 1001, "asset": "BTC", "name": "alice"}
    assert call(client, "POST", "/api/v1/accounts", None, "a1", json=body).status_code == 401
    assert (
        call(client, "POST", "/api/v1/accounts", keys["alice"], "a1", json=body).status_code == 403
    )
    missing = call(client, "POST", "/api/v1/accounts", keys["issuer"], None, json=body)
    assert missing.status_code == 400
    assert missing.json()["field"] == "Idempotency-Key"
    assert (
        call(client, "POST", "/api/v1/accounts", keys["issuer"], "a1", json=body).status_code == 201
    )
    bob = {"id": 1002, "asset": "BTC", "name": "bob"}
    assert (
        call(client, "POST", "/api/v1/accounts", keys["issuer"], "a2", json=bob).status_code == 201
    )

    # The issuer funds alice; a replay returns the first response; another body under the
    # same key is a conflict.
    fund = {"id": 1, "debit_account_id": 1, "credit_account_id": 1001, "amount": 50_000}
    first = call(client, "POST", "/api/v1/transfers", keys["admin"], "t1", json=fund)
    assert first.status_code == 201
    replay = call(client, "POST", "/api/v1/transfers", keys["admin"], "t1", json=fund)
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    other = call(
        client, "POST", "/api/v1/transfers", keys["admin"], "t1", json=dict(fund, amount=7)
    )
    assert other.status_code == 409

    # Alice moves her own money; she cannot move bob's, see bob's, or overdraw.
    pay = {"id": 2, "debit_account_id": 1001, "credit_account_id": 1002, "amount": 20_000}
    assert (
        call(client, "POST", "/api/v1/transfers", keys["alice"], "t2", json=pay).status_code == 201
    )
    steal = {"id": 3, "debit_account_id": 1002, "credit_account_id": 1001, "amount": 1}
    assert (
        call(client, "POST", "/api/v1/transfers", keys["alice"], "t3", json=steal).status_code
        == 403
    )
    assert call(client, "GET", "/api/v1/accounts/1002", keys["alice"]).status_code == 403
    overdraw = {"id": 4, "debit_account_id": 1001, "credit_account_id": 1002, "amount": 30_001}
    refused = call(client, "POST", "/api/v1/transfers", keys["alice"], "t4", json=overdraw)
    assert refused.status_code in (409, 422)
    assert refused.headers["content-type"] == "application/problem+json"
    assert "exceeds_credits" in refused.json()["detail"]

    mine = call(client, "GET", "/api/v1/accounts", keys["alice"]).json()
    assert [(a["id"], a["balance_units"]) for a in mine] == [(1001, 30_000)]
    history = call(client, "GET", "/api/v1/accounts/1001/history", keys["viewer"]).json()
    assert [h["id"] for h in history] == [2, 1]
    # A viewer reads but does not move.
    assert (
        call(client, "POST", "/api/v1/transfers", keys["viewer"], "t5", json=pay).status_code == 403
    )

    report = call(client, "GET", "/api/v1/ledger/verify", keys["admin"]).json()
    assert report["ok"] is True
    assert call(client, "GET", "/api/v1/ledger/verify", keys["alice"]).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": 9, "debit_account_id": 1, "credit_account_id": 1001, "amount": 1.5}, "amount"),
        ({"id": 9, "debit_account_id": 1, "credit_account_id": 1001, "amount": "100"}, "amount"),
        ({"id": 9, "debit_account_id": 1, "credit_account_id": 1001, "amount": -5}, "amount"),
        (
            {"id": 9, "debit_account_id": 1, "credit_account_id": 1001, "amount": 5, "kind": "x"},
            "kind",
        ),
        ({"debit_account_id": 1, "credit_account_id": 1001, "amount": 5}, "id"),
    ],
)
def test_bad_transfer_bodies_name_the_field_and_change_nothing(setup, body, field) -> None:
    client, keys, data_dir = setup
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        before = ledger.state_hash()
    response = call(
        client,
        "POST",
        "/api/v1/transfers",
        keys["admin"],
        f"bad-{field}-{body.get('amount')}",
        json=body,
    )
    assert response.status_code == 422
    assert response.json()["field"] == field
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        assert ledger.state_hash() == before
        assert ledger.lookup_transfer(9) is None


@pytest.fixture(scope="module")
def token_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, str]]:
    """A series whose holders 201 (600 tokens) and 202 (250) bought in January 2025 on the
    ledger clock, so the 2025-01-10 cut, which the bundled fixings cover, sees them."""
    data_dir = tmp_path_factory.mktemp("api-tokens")
    open_token_ledger(f"sqlite:///{data_dir / 'ledger.sqlite'}").close()
    store = ServiceStore.in_data_dir(data_dir)
    keys = {
        "issuer": store.create_key(Role.ISSUER)[1],
        "holder": store.create_key(Role.VIEWER, account="201")[1],
    }
    return TestClient(create_app(ServiceConfig(data_dir=data_dir))), keys


def test_token_distribution_holders_and_proof(token_setup) -> None:
    client, keys = token_setup
    series = call(client, "GET", "/api/v1/tokens", keys["holder"]).json()
    assert [s["series"] for s in series] == ["HT1"]
    body = {"day": "2025-01-10"}
    assert (
        call(
            client, "POST", "/api/v1/tokens/HT1/distribute", keys["holder"], "d1", json=body
        ).status_code
        == 403
    )
    paid = call(client, "POST", "/api/v1/tokens/HT1/distribute", keys["issuer"], "d1", json=body)
    assert paid.status_code == 200
    day = paid.json()
    assert day["hashprice_btc_per_ph_day"] == "0.00058154"
    assert (day["supply_units"], day["holder_count"]) == (850, 2)
    # Paying the same day again (new request) pays nothing more and shows the same record.
    again = call(
        client, "POST", "/api/v1/tokens/HT1/distribute", keys["issuer"], "d2", json=body
    ).json()
    assert again == day

    everyone = call(
        client, "GET", "/api/v1/tokens/HT1/holders", keys["issuer"], params={"day": "2025-01-10"}
    ).json()
    assert [(h["token_account_id"], h["balance_units"]) for h in everyone["holders"]] == [
        (201, 600),
        (202, 250),
    ]
    own = call(
        client, "GET", "/api/v1/tokens/HT1/holders", keys["holder"], params={"day": "2025-01-10"}
    ).json()
    assert [h["token_account_id"] for h in own["holders"]] == [201]
    assert own["supply_units"] == 850

    proof = call(
        client,
        "GET",
        "/api/v1/tokens/HT1/proof",
        keys["holder"],
        params={"account_id": 201, "day": "2025-01-10"},
    )
    assert proof.status_code == 200
    document = proof.json()
    assert document["root"]["hash"] == day["reserves_root"]
    assert document["balance_units"] == 600
    assert document["root"]["total"] == 850
    other = call(
        client,
        "GET",
        "/api/v1/tokens/HT1/proof",
        keys["holder"],
        params={"account_id": 202, "day": "2025-01-10"},
    )
    assert other.status_code == 403
    listed = call(client, "GET", "/api/v1/tokens/HT1/distributions", keys["holder"]).json()
    assert [d["day"] for d in listed] == ["2025-01-10"]


def test_risk_and_hedge_need_a_key_and_answer(setup) -> None:
    import json

    client, keys, _ = setup
    portfolio = {
        "name": "treasury",
        "positions": [{"name": "BTC", "kind": "spot_btc", "quantity": 10}],
    }
    body = {
        "portfolio": portfolio,
        "confidences": [0.99],
        "horizon_days": 10,
        "paths": 2000,
        "historical": False,
    }
    assert client.post("/api/v1/risk", json=body).status_code == 401
    result = call(client, "POST", "/api/v1/risk", keys["viewer"], json=body)
    assert result.status_code == 200, result.text
    report = result.json()
    (estimate,) = report["monte_carlo"]["estimates"]
    assert estimate["es_usd"] >= estimate["var_usd"] > 0
    value0 = report["monte_carlo"]["value0_usd"]
    crash = next(s for s in report["stress"] if s["factor_changes"]["price_usd"] == -0.5)
    assert crash["total_pnl_usd"] == pytest.approx(-0.5 * value0)  # 10 BTC lose half their value
    bad = dict(
        body,
        portfolio={
            "name": "x",
            "positions": [{"name": "BTC", "kind": "spot_btc", "quantity": 1, "colour": 1}],
        },
    )
    refused = call(client, "POST", "/api/v1/risk", keys["viewer"], json=bad)
    assert refused.status_code == 422
    assert "colour" in refused.json()["detail"]

    miner = json.loads(Path("examples/risk/miner.json").read_text())
    plan = call(
        client,
        "POST",
        "/api/v1/hedge",
        keys["viewer"],
        json={"miner": miner, "paths": 500, "seed": 3},
    )
    assert plan.status_code == 200, plan.text
    assert plan.json()["independent_check"]["seed"] == 4


def test_settlement_through_the_api(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A one-week USD forward from July 2020 opened and settled over HTTP: the buyer receives
    Σ (fixing − fixed) × 10 PH/s in cents, the seller pays exactly that."""
    import datetime as dt
    from decimal import Decimal

    from hashmarket.chain.history import NetworkHistory
    from hashmarket.index.fixings import fixings
    from hashmarket.ledger import Account, Transfer

    data_dir = tmp_path_factory.mktemp("api-settle")
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("USD", 2), issuer_account_id=2, name="USD issuer")
        ledger.create_accounts([Account(2001, "USD"), Account(2002, "USD")])
        ledger.transfer(Transfer(1, 2, 2001, 10_000_000))
        ledger.transfer(Transfer(2, 2, 2002, 10_000_000))
    store = ServiceStore.in_data_dir(data_dir)
    admin, viewer = (
        store.create_key(Role.ADMIN)[1],
        store.create_key(Role.VIEWER, account="2001")[1],
    )
    client = TestClient(create_app(ServiceConfig(data_dir=data_dir)))
    spec = {
        "type": "hashprice_forward",
        "notional_phs": 10,
        "fixed_price_per_ph_day": 80.0,
        "currency": "usd",
        "start": "2020-07-20",
        "end": "2020-07-26",
        "side": "buy",
    }
    body = {"spec": spec, "buyer_account_id": 2001, "seller_account_id": 2002}
    assert (
        call(client, "POST", "/api/v1/settlement/contracts", viewer, "c1", json=body).status_code
        == 403
    )
    opened = call(client, "POST", "/api/v1/settlement/contracts", admin, "c1", json=body)
    assert opened.status_code == 201, opened.text
    run = call(client, "POST", "/api/v1/settlement/run", admin, "r1", json={"day": "2020-07-26"})
    assert run.status_code == 200, run.text
    (outcome,) = run.json()
    assert outcome["state"] == "expired"

    week = NetworkHistory.load().between(dt.date(2020, 7, 20), dt.date(2020, 7, 26))
    expected_cents = sum((f.value - Decimal(80)) * 10 * 100 for f in fixings(week, currency="usd"))
    balances = {
        a["id"]: a["balance_units"] for a in call(client, "GET", "/api/v1/accounts", admin).json()
    }
    assert balances[2001] - 10_000_000 == int(expected_cents)
    assert balances[2002] - 10_000_000 == -int(expected_cents)
    seen = call(client, "GET", "/api/v1/settlement/contracts", viewer).json()
    assert [c["contract_id"] for c in seen] == [outcome["contract_id"]]
    assert call(client, "GET", "/api/v1/ledger/verify", admin).json()["ok"] is True


def test_loan_analysis_through_the_api(setup) -> None:
    import json

    client, keys, _ = setup
    loan = json.loads(Path("examples/risk/loan.json").read_text())
    response = call(
        client, "POST", "/api/v1/loans/analyze", keys["viewer"], json={"loan": loan, "paths": 1000}
    )
    assert response.status_code == 200, response.text
    text = json.dumps(response.json())
    assert "probability_margin_call" in text
    triple = json.loads(Path("examples/risk/triple.json").read_text())
    leveraged = call(
        client,
        "POST",
        "/api/v1/loans/analyze",
        keys["viewer"],
        json={"loan": triple, "paths": 1000},
    )
    assert leveraged.status_code == 200, leveraged.text
    summary = leveraged.json()
    # Liquidation when equity falls to the maintenance margin: S·(1 − 1/L) / (1 − m).
    assert summary["liquidation_price_usd_now"] == pytest.approx(
        summary["spot_usd"] * (2 / 3) / 0.95
    )
    # Funding: 200,000 USD borrowed at 10 % a year for 30 days.
    assert summary["funding_cost_usd"] == pytest.approx(200_000 * 0.10 * 30 / 365)
    bad = call(
        client,
        "POST",
        "/api/v1/loans/analyze",
        keys["viewer"],
        json={"loan": dict(triple, leverage=5)},
    )
    assert bad.status_code == 422
