"""The lending routes: a machine loan borrowed in BTC or USD, and the lender's puts, behind the
read role like /loans/analyze."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore

EXAMPLE = Path(__file__).parents[2] / "examples" / "risk" / "asic_loan.json"


@pytest.fixture(scope="module")
def client_and_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, str]:
    data_dir = tmp_path_factory.mktemp("api-lending")
    key = ServiceStore.in_data_dir(data_dir).create_key(Role.VIEWER)[1]
    config = ServiceConfig(data_dir=data_dir, rate_limit_per_s=1000, rate_limit_burst=1000)
    return TestClient(create_app(config)), key


def post(client: TestClient, path: str, key: str | None, body: object) -> object:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return client.post(path, headers=headers, json=body)


def test_borrowing_btc_or_usd(client_and_key: tuple[TestClient, str]) -> None:
    client, key = client_and_key
    loan = json.loads(EXAMPLE.read_text())
    body = {"loan": loan, "paths": 400, "btc_rate_per_year": 0.06}
    assert post(client, "/api/v1/loans/currency", None, body).status_code == 401  # type: ignore[attr-defined]
    response = post(client, "/api/v1/loans/currency", key, body)
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    payload = response.json()  # type: ignore[attr-defined]
    assert payload["btc_loan"]["principal_btc"] == pytest.approx(
        loan["principal_usd"] / payload["btc_price_usd"]
    )
    assert payload["usd_loan"]["currency"] == "USD" and payload["btc_loan"]["currency"] == "BTC"
    assert "data_asof" in payload


def test_the_lenders_put(client_and_key: tuple[TestClient, str]) -> None:
    client, key = client_and_key
    loan = json.loads(EXAMPLE.read_text())
    response = post(client, "/api/v1/loans/protection", key, {"loan": loan, "paths": 400})
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    payload = response.json()  # type: ignore[attr-defined]
    assert payload["put"]["underlying"] == "hashprice_usd"
    assert payload["premium_usd"] > 0


def test_bad_loans_are_refused_naming_the_field(client_and_key: tuple[TestClient, str]) -> None:
    client, key = client_and_key
    loan = json.loads(EXAMPLE.read_text())
    loan["collateral"]["machine"]["power_usd_per_kwh"] = -1
    response = post(client, "/api/v1/loans/currency", key, {"loan": loan, "paths": 400})
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "collateral.machine.power_usd_per_kwh" in response.text  # type: ignore[attr-defined]
    btc = json.loads((EXAMPLE.parent / "loan.json").read_text())
    refused = post(client, "/api/v1/loans/currency", key, {"loan": btc, "paths": 400})
    assert refused.status_code == 422, refused.text  # type: ignore[attr-defined]
    assert "needs machine collateral" in refused.text  # type: ignore[attr-defined]
