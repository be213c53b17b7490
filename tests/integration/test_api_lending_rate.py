"""The lending reference rate over HTTP: fixings by currency, tenor and date behind a read
key, the same numbers as the library, and floating loans analysed from them."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.index import (
    LendingCurrency,
    Tenor,
    import_transactions,
    lending_fixings,
    read_transactions,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "lending"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lending-service")
    import_transactions(EXAMPLE / "transactions_generated.csv", folder)
    return folder


@pytest.fixture(scope="module")
def client(data_dir: Path) -> TestClient:
    return TestClient(create_app(ServiceConfig(data_dir=data_dir)))


@pytest.fixture(scope="module")
def headers(data_dir: Path) -> dict[str, str]:
    _, secret = ServiceStore.in_data_dir(data_dir).create_key(Role.VIEWER)
    return {"Authorization": f"Bearer {secret}"}


def test_fixings_need_a_key(client: TestClient) -> None:
    assert client.get("/api/v1/index/lending-rate/usd/1m").status_code == 401


def test_fixings_by_tenor_and_date(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get(
        "/api/v1/index/lending-rate/usd/1m",
        params={"start": "2026-01-19", "end": "2026-01-22"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    served = response.json()
    library = lending_fixings(
        read_transactions(EXAMPLE / "transactions_generated.csv"),
        currency=LendingCurrency.USD,
        tenors=[Tenor.M1],
        start=dt.date(2026, 1, 19),
        end=dt.date(2026, 1, 22),
    )
    assert [f["date"] for f in served] == ["2026-01-19", "2026-01-20", "2026-01-21", "2026-01-22"]
    assert [f["inputs_sha256"] for f in served] == [f.inputs_sha256 for f in library]
    assert [f["rate_per_year"] for f in served] == [str(f.rate_per_year) for f in library]
    one = client.get("/api/v1/index/lending-rate/usd/1m/2026-01-21", headers=headers)
    assert one.status_code == 200 and one.json() == served[2]
    weekend = client.get("/api/v1/index/lending-rate/usd/1m/2026-01-17", headers=headers)
    assert weekend.status_code == 404
    assert "no usd 1m lending-rate fixing on 2026-01-17" in weekend.json()["detail"]
    assert client.get("/api/v1/index/lending-rate/eur/1m", headers=headers).status_code == 422


def test_floating_loan_analysed_on_the_service_fixings(
    client: TestClient, headers: dict[str, str]
) -> None:
    loan = json.loads((EXAMPLE / "floating_loan.json").read_text())
    response = client.post(
        "/api/v1/loans/analyze", json={"loan": loan, "paths": 200, "seed": 1}, headers=headers
    )
    assert response.status_code == 200, response.text
    # The last 1m fixing of the example data (2026-01-22) + the 2.5 % spread.
    last = lending_fixings(
        read_transactions(EXAMPLE / "transactions_generated.csv"),
        currency=LendingCurrency.USD,
        tenors=[Tenor.M1],
    )[-1]
    body = response.json()["loan"]
    assert body["rate_per_year"] == pytest.approx(float(last.rate_per_year) + 0.025)
    # Monthly resets from 2 February to 2 May: 28, 31 and 30 days, each after the data's last
    # fixing (22 January), so each takes it (a flat projection).
    resets = body["floating"]["resets"]
    rate = last.rate_per_year + Decimal("0.025")
    assert [(r["days"], r["fixing_date"], r["rate_per_year"]) for r in resets] == [
        (days, "2026-01-22", str(rate)) for days in (28, 31, 30)
    ]
    assert [r["interest_cents"] for r in resets] == [
        round(Fraction(100_000_000) * Fraction(rate) * days / 365) for days in (28, 31, 30)
    ]
