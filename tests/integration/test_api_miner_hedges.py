"""Over HTTP: the hedge plan that fits a miner's situation, a netting set's CVA, and a forward
settled in USDC — behind keys and roles like their neighbours."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.chain.history import NetworkHistory
from hashmarket.index.fixings import fixings
from hashmarket.ledger import Account, Asset, Ledger, Transfer, create_stablecoins

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("api-miner-hedges")
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("USD", 2), issuer_account_id=2, name="usd-issuer")
        with ledger.transaction() as w:
            create_stablecoins(w)
        ledger.create_accounts([Account(3001, "USDC"), Account(3002, "USDC")])
        ledger.transfer(Transfer(1, 4, 3001, 10_000 * 10**6))
        ledger.transfer(Transfer(2, 4, 3002, 10_000 * 10**6))
    store = ServiceStore.in_data_dir(data_dir)
    keys = {
        "admin": store.create_key(Role.ADMIN)[1],
        "viewer": store.create_key(Role.VIEWER, account="3001")[1],
    }
    client = TestClient(
        create_app(ServiceConfig(data_dir=data_dir, rate_limit_per_s=1000, rate_limit_burst=1000))
    )
    return client, keys


def post(client: TestClient, path: str, key: str | None, idem: str | None = None, **kw):
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return client.post(path, headers=headers, **kw)


def test_the_hedge_route_chooses_by_the_miners_situation(service) -> None:
    client, keys = service
    miner = json.loads((EXAMPLES / "risk" / "miner_paid_back.json").read_text())
    body = {"miner": miner, "paths": 500, "seed": 3}
    assert post(client, "/api/v1/hedge", None, json=body).status_code == 401
    answer = post(client, "/api/v1/hedge", keys["viewer"], json=body)
    assert answer.status_code == 200, answer.text
    situation = answer.json()["situation"]
    # Bought on 2023-01-15 for 4.5 M USD: paid back from the index since, so it locks.
    assert situation["capital"]["paid_back"] is True and situation["chosen"] == "lock"
    assert situation["lock"]["family"] in ("hashprice_forward", "btc_swap")
    # The strip runs to the end of life, December 2027: 23 months after January 2026.
    assert answer.json()["months"][0] == "2026-02" and answer.json()["months"][-1] == "2027-12"
    bad = dict(miner, end_of_life="2020-01-01")
    refused = post(client, "/api/v1/hedge", keys["viewer"], json={"miner": bad, "paths": 500})
    assert refused.status_code == 422 and "end_of_life" in refused.text


def test_the_cva_route(service) -> None:
    client, keys = service
    netting = json.loads((EXAMPLES / "risk" / "counterparty.json").read_text())
    body = {"netting_set": netting, "paths": 500, "seed": 1}
    assert post(client, "/api/v1/cva", None, json=body).status_code == 401
    answer = post(client, "/api/v1/cva", keys["viewer"], json=body)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    # 300 bp at 40 % recovery: λ = 0.05 a year.
    assert report["counterparty"]["hazard_per_year"] == pytest.approx(0.05)
    assert 0 < report["cva_with_margin_usd"] < report["cva_usd"]
    assert report["profile"][-1]["date"] == "2026-12-31"
    both = dict(netting, counterparty={"name": "X", "cds_spread_bps": 1, "recovery": 1.5})
    refused = post(client, "/api/v1/cva", keys["viewer"], json={"netting_set": both})
    assert refused.status_code == 422 and "recovery" in refused.text


def test_a_forward_settles_in_usdc_over_http(service) -> None:
    client, keys = service
    spec = {
        "type": "hashprice_forward",
        "notional_phs": 10,
        "fixed_price_per_ph_day": 80.0,
        "currency": "usd",
        "start": "2020-07-20",
        "end": "2020-07-26",
        "side": "buy",
    }
    body = {"spec": spec, "buyer_account_id": 3001, "seller_account_id": 3002, "asset": "USDC"}
    opened = post(client, "/api/v1/settlement/contracts", keys["admin"], "u1", json=body)
    assert opened.status_code == 201, opened.text
    assert (opened.json()["asset"], opened.json()["margin_rate"]) == ("USDC", "0.35")
    run = post(client, "/api/v1/settlement/run", keys["admin"], "u2", json={"day": "2020-07-26"})
    assert run.status_code == 200, run.text
    week = NetworkHistory.load().between(dt.date(2020, 7, 20), dt.date(2020, 7, 26))
    cents = sum((f.value - Decimal(80)) * 10 * 100 for f in fixings(week, currency="usd"))
    # The USD amount in cents, × 10⁴: micro-units of USDC.
    assert run.json()[0]["settled_minor"] == int(cents) * 10**4
