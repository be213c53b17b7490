"""The move to AI over HTTP: ``POST /convert`` behind a read key, ``POST /dispatch`` with a
conversion plan, and ``POST /risk`` on a book holding a compute forward."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.chain import NetworkHistory
from hashmarket.index import load_bundled_quotes
from hashmarket.operations import convert, parse_conversion_site, with_overrides

ROOT = Path(__file__).resolve().parents[2]
SITE = json.loads((ROOT / "examples" / "conversion" / "site.json").read_text())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, str]:
    data_dir = tmp_path_factory.mktemp("api-conversion")
    viewer = ServiceStore.in_data_dir(data_dir).create_key(Role.VIEWER, account="1001")[1]
    client = TestClient(
        create_app(ServiceConfig(data_dir=data_dir, rate_limit_per_s=1000, rate_limit_burst=1000))
    )
    return client, viewer


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_convert_needs_a_key_and_matches_the_library(served: tuple[TestClient, str]) -> None:
    client, key = served
    body = {"site": SITE, "paths": 200, "seed": 5}
    assert client.post("/api/v1/convert", json=body).status_code == 401
    answer = client.post("/api/v1/convert", json=body, headers=auth(key))
    assert answer.status_code == 200, answer.text
    result = answer.json()
    site = with_overrides(parse_conversion_site(SITE), paths=200, seed=5)
    asof = result["data_asof"]["asof"]
    direct = convert(
        site,
        history=NetworkHistory.load(),
        quotes=load_bundled_quotes(),
        asof=dt.date.fromisoformat(asof),
    )
    assert result["expected_npv_usd"] == pytest.approx(direct.valuation.expected_npv_usd)
    assert result["converted_mw"] == pytest.approx(12.0) and result["tenant_probability"] == 0.45
    assert result["waiting"]["value_of_waiting_usd"] >= 0
    assert result["correlation"]["estimated"] is False
    bad = {"site": {**SITE, "conversion": {**SITE["conversion"], "fraction": 2}}}
    refused = client.post("/api/v1/convert", json=bad, headers=auth(key))
    assert refused.status_code == 422 and "conversion.fraction" in refused.text


def test_dispatch_with_a_conversion_plan(served: tuple[TestClient, str]) -> None:
    client, _ = served
    site = {
        "name": "hand",
        "power_capacity_mw": 10,
        "mining": {"fleet": [{"hashrate_ths": 500, "power_w": 10000, "count": 1000}]},
        "market": {"hashprice_usd_per_ph_day": 50.0},
    }
    prices = (
        "time_utc,price_usd_per_mwh\n2025-01-01T00:00:00Z,30\n2025-01-01T01:00:00Z,100\n"
        "2025-01-01T02:00:00Z,200\n"
    )
    plan = {"fraction": 0.3, "gpus_per_mw": 1000, "lease": {"price_usd_per_gpu_hour": 2.0}}
    answer = client.post(
        "/api/v1/dispatch", json={"site": site, "prices_csv": prices, "conversion": plan}
    )
    assert answer.status_code == 200, answer.text
    margins = answer.json()["hours"]["margin_usd"]
    # 7 MW mine at 30 and 100 (104.17 USD/MWh earned), the 3 MW lease pays 6,000 an hour.
    assert sum(margins) == pytest.approx(17_558.333333, abs=1e-5)


def test_risk_on_a_book_with_a_compute_forward(served: tuple[TestClient, str]) -> None:
    client, key = served
    forward = json.loads((ROOT / "examples" / "specs" / "compute_forward.json").read_text())
    portfolio = {
        "name": "desk",
        "positions": [
            {"name": "BTC", "kind": "spot_btc", "quantity": 1},
            {"name": "H100 forward", "kind": "instrument", "instrument": forward},
        ],
    }
    body = {"portfolio": portfolio, "paths": 500, "historical": False}
    answer = client.post("/api/v1/risk", json=body, headers=auth(key))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    names = [p["name"] for p in report["monte_carlo"]["positions"]]
    assert names == ["BTC", "H100 forward"]
    (factor,) = report["gpu_factors"]
    assert factor["gpu_model"] == "H100" and factor["correlation"]["gpu_btc"] == 0.0
    assert "too short" in factor["correlation"]["statement"]
