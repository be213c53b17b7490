"""Delivery over HTTP: a key sees only its own account's contracts and leases, the provider's
key registers a lease and posts its heartbeats, the SLA report counts them."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.delivery import DeliveryLog, GpuLease, GpuReading, LeaseBlock, Meter, NodeAgent
from hashmarket.ledger import Asset, Ledger
from tests.delivery.endpoint import contract

SHARE = Fraction(2**16)  # 2⁴⁸ hashes


def write_log(data_dir: Path, name: str, buyer: int, seller: int, shares: list[int]) -> None:
    # 1 TH/s ordered: 6 × 10¹⁴ hashes per 600 s interval; one share is 2.81 × 10¹⁴.
    terms = contract(
        name, buyer_account_id=buyer, seller_account_id=seller, hashrate_ths=1, interval_s=600
    )
    folder = data_dir / "delivery"
    folder.mkdir(exist_ok=True)
    log = DeliveryLog(folder / f"{name}.jsonl", terms)
    meter = Meter(terms, interval_start_s=terms.start_s)
    for k, n in enumerate(shares):
        meter.credit(SHARE, n)
        log(meter.close(terms.start_s + 600 * (k + 1)))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("api-delivery")
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="BTC issuer")
    write_log(data_dir, "hp-1", 101, 202, [3, 1, 3])
    write_log(data_dir, "hp-2", 303, 404, [2])
    store = ServiceStore.in_data_dir(data_dir)
    keys = {
        "admin": store.create_key(Role.ADMIN)[1],
        "buyer": store.create_key(Role.TRADER, account="101")[1],
        "seller": store.create_key(Role.TRADER, account="202")[1],
        "stranger": store.create_key(Role.TRADER, account="999")[1],
        "viewer": store.create_key(Role.VIEWER, account="101")[1],
    }
    app = create_app(ServiceConfig(data_dir=data_dir, rate_limit_per_s=1000, rate_limit_burst=1000))
    return TestClient(app), keys


def call(client: TestClient, method: str, path: str, key: str, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"{time.time_ns()}"}
    return client.request(method, f"/api/v1/delivery{path}", headers=headers, **kw)


def test_contracts_are_seen_by_their_parties_only(setup: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = setup
    assert [c["contract_id"] for c in call(client, "GET", "/contracts", keys["admin"]).json()] == [
        "hp-1",
        "hp-2",
    ]
    (mine,) = call(client, "GET", "/contracts", keys["buyer"]).json()
    assert (mine["contract_id"], mine["side"]) == ("hp-1", "buyer")
    assert call(client, "GET", "/contracts", keys["stranger"]).json() == []
    assert call(client, "GET", "/contracts/hp-1", keys["stranger"]).status_code == 403
    assert call(client, "GET", "/contracts/nope", keys["admin"]).status_code == 404
    assert call(client, "GET", "/contracts/..%2Fx", keys["admin"]).status_code in (404, 422)
    assert call(client, "GET", "/contracts", "hm_bad_key").status_code == 401


def test_delivered_against_ordered_per_interval(setup: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = setup
    body = call(client, "GET", "/contracts/hp-1", keys["seller"]).json()
    assert body["side"] == "seller"
    assert body["under_delivered_intervals"] == [1]  # one share against 6 × 10¹⁴ ordered
    first, second, _third = body["intervals"]
    assert [i["ordered_hashrate_ths"] for i in body["intervals"]] == [1.0, 1.0, 1.0]
    assert second["delivered_hashrate_ths"] == pytest.approx(2**48 / 1e12 / 600)
    assert first["delivered_hashrate_ths"] == pytest.approx(3 * 2**48 / 1e12 / 600)
    assert second["shortfall_hashes"] == str(6 * 10**14 - 2**48)
    assert body["delivery_ratio"] == pytest.approx(7 * 2**48 / (3 * 6e14))
    # A viewer key bound to the buyer reads it too.
    assert call(client, "GET", "/contracts/hp-1", keys["viewer"]).status_code == 200


def test_the_provider_posts_heartbeats_and_the_buyer_reads_the_sla(
    setup: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = setup
    agent = NodeAgent(Ed25519PrivateKey.generate(), lease_id="L9", block_id="rack-1")
    minute = int(time.time()) // 60
    lease = GpuLease(
        lease_id="L9",
        buyer_account_id=101,
        seller_account_id=202,
        blocks=(LeaseBlock("rack-1", agent.public_key_hex, ("GPU-0", "GPU-1")),),
        start_minute=minute - 2,
        end_minute=minute + 8,
        price_cents_per_gpu_hour=300,
    )
    terms = {"terms": lease.to_dict()}
    assert call(client, "POST", "/leases", keys["buyer"], json=terms).status_code == 403
    assert call(client, "POST", "/leases", keys["seller"], json=terms).status_code == 201
    assert call(client, "POST", "/leases", keys["seller"], json=terms).status_code == 409
    beats = [
        {"heartbeat": hb.heartbeat.to_dict(), "signature": hb.signature.hex()}
        for m in (minute - 2, minute - 1, minute)
        for hb in agent.beat(m, {"GPU-0": GpuReading(9_000, 700), "GPU-1": GpuReading(7_000, 500)})
    ]
    beats[0]["signature"] = "00" * 64  # a forged one: stored, and counted as downtime
    path = "/leases/L9/heartbeats"
    assert call(client, "POST", path, keys["buyer"], json={"heartbeats": beats}).status_code == 403
    bad = call(client, "POST", path, keys["seller"], json={"heartbeats": [{"x": 1}]})
    assert bad.status_code == 422
    posted = call(client, "POST", path, keys["seller"], json={"heartbeats": beats}).json()
    assert posted["received"] == 6
    sla = call(client, "GET", "/leases/L9/sla", keys["buyer"]).json()
    (block,) = sla["blocks"]
    assert block["up_device_minutes"] == 5 and block["rejected"] == {"bad_signature": 1}
    # 5 of 20 device-minutes: under 90 %, half the 2 × 10 min × 300 ¢/h = 100 ¢ fee back.
    assert sla["refund_cents"] == 50
    assert call(client, "GET", "/leases/L9/sla", keys["stranger"]).status_code == 403


def test_after_a_sale_the_new_holder_sees_the_contract_and_the_old_one_its_own_past(
    tmp_path: Path,
) -> None:
    from tests.delivery.test_market_delivery import sold_on_after_one_interval

    (tmp_path / "delivery").mkdir()
    ledger, _ = sold_on_after_one_interval(tmp_path / "delivery" / "hp-1.jsonl")
    ledger.close()
    store = ServiceStore.in_data_dir(tmp_path)
    keys = {
        name: store.create_key(Role.TRADER, account=str(account))[1]
        for name, account in (("old", 101), ("new", 103), ("seller", 202), ("stranger", 999))
    }
    app = create_app(ServiceConfig(data_dir=tmp_path, rate_limit_per_s=1000, rate_limit_burst=1000))
    client = TestClient(app)
    holders = [
        {"account_id": 101, "since_s": 1_800_000_000, "from_interval": 0},
        {"account_id": 103, "since_s": 1_800_000_600, "from_interval": 1},
    ]
    seen = {}
    for name in ("old", "new", "seller"):
        (listed,) = call(client, "GET", "/contracts", keys[name]).json()
        body = call(client, "GET", "/contracts/hp-1", keys[name]).json()
        assert listed["buyer_account_id"] == body["buyer_account_id"] == 103
        assert listed["holders"] == body["holders"] == holders
        assert listed["side"] == body["side"]
        seen[name] = (body["side"], [i["index"] for i in body["intervals"]], body["paid_sats"])
    # 20 shares (5,629 TH·s) while 101 held it, 10 more (2,815) once 103 did.
    assert seen == {
        "old": ("former_buyer", [0], 5_629),
        "new": ("buyer", [0, 1], 8_444),
        "seller": ("seller", [0, 1], 8_444),
    }
    assert call(client, "GET", "/contracts", keys["stranger"]).json() == []
    assert call(client, "GET", "/contracts/hp-1", keys["stranger"]).status_code == 403
