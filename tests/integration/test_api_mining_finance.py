"""The mining-finance routes: public computations checked against hand-worked figures, and
the ledger runs behind the settle permission and the idempotency guard, on a real ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.ledger import Account, Asset, Ledger, Transfer

CLOUD = {
    "type": "cloud_hashrate",
    "start": "2025-01-01",
    "end": "2025-06-30",
    "hashrate_ths": 100,
    "fee_usd_per_th_day": 0.05,
    "price_usd": 150,
}
HOSTING = {
    "type": "hosting",
    "start": "2025-01-10",
    "end": "2025-03-31",
    "machines": 10,
    "machine_model": "Antminer S21",
    "power_price_usd_per_kwh": 0.07,
    "revenue_share": 0.1,
    "uptime": 0.97,
}
LEASE = {
    "type": "machine_lease",
    "start": "2025-01-31",
    "months": 3,
    "machines": 2,
    "hashrate_ths_per_machine": 500,
    "efficiency_j_per_th": 1,
    "price_usd_per_machine": 600,
    "down_payment_usd": 200,
    "rate_per_year": 0.12,
    "power_price_usd_per_kwh": 0,
    "end_of_life": "2027-12-31",
    "reference_hashprice_usd_per_ph_day": 50,
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, str], Path]:
    data_dir = tmp_path_factory.mktemp("api-mining")
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="btc-issuer")
        ledger.create_asset(Asset("USD", 2), issuer_account_id=2, name="usd-issuer")
        for account_id, asset in ((10, "BTC"), (11, "BTC"), (12, "USD"), (13, "USD")):
            ledger.create_account(Account(account_id, asset))
        ledger.create_transfers([Transfer(1, 1, 10, 10_000_000), Transfer(2, 2, 12, 500_00)])
    store = ServiceStore.in_data_dir(data_dir)
    keys = {
        "admin": store.create_key(Role.ADMIN)[1],
        "trader": store.create_key(Role.TRADER)[1],
    }
    client = TestClient(
        create_app(ServiceConfig(data_dir=data_dir, rate_limit_per_s=1000, rate_limit_burst=1000))
    )
    return client, keys, data_dir


def post(
    client: TestClient,
    path: str,
    body: dict[str, Any],
    key: str | None = None,
    idem: str | None = None,
) -> Any:
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return client.post(path, json=body, headers=headers)


def test_lease_schedule_to_the_cent(setup) -> None:
    client, _, _ = setup
    answer = post(client, "/api/v1/lease/schedule", {"spec": LEASE})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["financed_cents"] == 100_000
    assert [(r["payment_cents"], r["interest_cents"]) for r in body["instalments"]] == [
        (34_002, 1_000),
        (34_002, 670),
        (34_003, 337),
    ]
    assert body["instalments"][0]["due"] == "2025-02-28"


def test_hosting_statement_of_10_january(setup) -> None:
    client, _, _ = setup
    body = {"spec": HOSTING, "through": "2025-01-10", "site_power_cost_usd_per_kwh": "0.05"}
    answer = post(client, "/api/v1/hosting/statements", body)
    assert answer.status_code == 200, answer.text
    (day,) = answer.json()["statements"]
    assert (day["mined_sats"], day["site_share_sats"], day["client_sats"]) == (
        112_818,
        11_281,
        101_537,
    )
    assert day["power_cents"] == 5_880
    assert day["client_net_usd"].startswith("37.41556")


def test_bad_spec_is_a_problem_naming_the_field(setup) -> None:
    client, _, _ = setup
    answer = post(client, "/api/v1/lease/schedule", {"spec": {**LEASE, "months": 0}})
    assert answer.status_code == 422
    assert "months" in answer.json()["detail"]
    wrong = post(client, "/api/v1/lease/schedule", {"spec": CLOUD})
    assert wrong.status_code == 422 and "machine_lease" in wrong.json()["detail"]


def test_cloud_value_over_scenarios(setup) -> None:
    client, _, _ = setup
    spec = {**CLOUD, "start": "2026-02-01", "end": "2026-03-31"}
    answer = post(client, "/api/v1/cloud/value", {"spec": spec, "paths": 200, "seed": 1})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["n_paths"] == 200 and body["fair_upfront_sats"] > 0
    assert body["price_usd"] == pytest.approx(150.0)
    assert body["buyer_npv_usd"] == pytest.approx(body["fair_upfront_usd"] - 150.0)


def test_cloud_purchase_and_payouts_on_the_ledger(setup) -> None:
    client, keys, data_dir = setup
    run = {
        "spec": CLOUD,
        "contract_id": "C-API",
        "provider_btc": 10,
        "buyer_btc": 11,
        "buyer_payment": 12,
        "provider_payment": 13,
        "through": "2025-01-10",
    }
    assert post(client, "/api/v1/cloud/purchase", run).status_code == 401
    assert post(client, "/api/v1/cloud/purchase", run, keys["trader"], "p0").status_code == 403
    assert post(client, "/api/v1/cloud/purchase", run, keys["admin"]).status_code == 400
    bought = post(client, "/api/v1/cloud/purchase", run, keys["admin"], "p1")
    assert bought.status_code == 200 and bought.json()["price_minor"] == 150_00
    paid = post(client, "/api/v1/cloud/pay", run, keys["admin"], "pay-1")
    assert paid.status_code == 200, paid.text
    assert paid.json()["paid_sats"] == 6_354 and paid.json()["new_transfers"] == 10
    replay = post(client, "/api/v1/cloud/pay", run, keys["admin"], "pay-1")
    assert replay.json() == paid.json() and replay.headers["Idempotent-Replayed"] == "true"
    again = post(client, "/api/v1/cloud/pay", run, keys["admin"], "pay-2")
    assert again.json()["new_transfers"] == 0
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        assert ledger.account(11).balance == 6_354
        assert ledger.account(13).balance == 150_00
        assert ledger.verify().ok
