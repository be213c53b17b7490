"""The regional routes: the index of a posted power series, a regional contract's value, the
generic price route on a regional spec, and a bad series refused naming its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app

ROOT = Path(__file__).parents[2]
PRICES = """date,region,price_usd_per_kwh
2025-01-05,quebec,0.02987
2025-01-05,texas,0.04064
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    data_dir = tmp_path_factory.mktemp("api-regional")
    return TestClient(create_app(ServiceConfig(data_dir=data_dir)))


def test_the_index_of_a_posted_series(client: TestClient) -> None:
    response = client.post("/api/v1/index/regional", json={"power_csv": PRICES})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "power_csv"
    # 57.03 − 20 × 24 × 0.02987 = 42.6924 → 42.69; 57.03 − 19.5072 = 37.5228 → 37.52.
    values = {(f["date"], f["region"]): f["value"] for f in body["fixings"]}
    assert values == {("2025-01-05", "quebec"): "42.69", ("2025-01-05", "texas"): "37.52"}
    texas = body["fixings"][1]
    assert texas["power_cost_usd_per_ph_day"] == "19.507200"
    assert texas["hashprice_usd_per_ph_day"] == "57.03"


def test_a_bad_series_is_refused_with_its_line(client: TestClient) -> None:
    bad = PRICES + "2025-01-06,texas,-0.01\n"
    response = client.post("/api/v1/index/regional", json={"power_csv": bad})
    assert response.status_code in (400, 422), response.text
    assert "power_csv:4" in response.text and "must be greater than zero" in response.text


def test_a_regional_contract_is_valued(client: TestClient) -> None:
    spec = json.loads((ROOT / "examples" / "specs" / "power_forward.json").read_text())
    response = client.post("/api/v1/regional/price", json={"spec": spec, "paths": 400})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["n_paths"] == 400 and body["seed"] == 0 and body["std_error"] > 0
    (texas,) = body["regional"]["regions"]
    assert texas["region"] == "texas" and -1 <= texas["correlation_to_hashprice"] <= 1
    assert "GENERATED" in body["regional"]["source"]
    # The generic route prices the same spec the same way (generated series, same seed).
    same = client.post("/api/v1/price", json={"spec": spec, "paths": 400})
    assert same.status_code == 200, same.text
    assert same.json()["value"] == body["value"]


def test_a_basis_swap_settled_over_http_with_a_posted_series(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from hashmarket.api.keys import Role, ServiceStore
    from hashmarket.ledger import Account, Asset, Ledger, Transfer

    data_dir = tmp_path_factory.mktemp("api-regional-settle")
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("USD", 2), issuer_account_id=2, name="USD issuer")
        ledger.create_accounts([Account(2001, "USD"), Account(2002, "USD")])
        ledger.transfer(Transfer(1, 2, 2001, 100_000))
        ledger.transfer(Transfer(2, 2, 2002, 100_000))
    admin = ServiceStore.in_data_dir(data_dir).create_key(Role.ADMIN)[1]
    client = TestClient(create_app(ServiceConfig(data_dir=data_dir)))

    def post(path: str, idem: str, body: dict[str, Any]) -> Any:
        headers = {"Authorization": f"Bearer {admin}", "Idempotency-Key": idem}
        response = client.post(path, headers=headers, json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    spec = json.loads(
        (ROOT / "examples" / "settlement" / "regional_basis_swap_2025-01.json").read_text()
    )
    opened = post(
        "/api/v1/settlement/contracts",
        "c1",
        {"spec": spec, "buyer_account_id": 2001, "seller_account_id": 2002, "notional": "500"},
    )
    assert opened["buyer_margin_minor"] == 175_00
    power = (ROOT / "examples" / "regional" / "power_generated.csv").read_text()
    run = post("/api/v1/settlement/run", "r1", {"day": "2025-01-07", "power_csv": power})
    (outcome,) = run
    # 10 PH/s × (5.17 + 4.55 + 3.78 − 3 × 4.00) = 15.00 USD to the buyer (tests/integration/
    # test_regional_settlement.py works each day out).
    assert outcome["moved_minor"] == 15_00 and outcome["state"] == "expired"
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        assert ledger.account(2001).balance == 100_000 + 15_00
        assert ledger.account(2002).balance == 100_000 - 15_00
