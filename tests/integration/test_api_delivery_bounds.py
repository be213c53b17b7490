"""Lease terms and heartbeats out of range over HTTP: each is refused with a 422 problem that
names the field and its value, and nothing is written under the data directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.delivery import GpuLease, GpuReading, LeaseBlock, NodeAgent
from hashmarket.ledger import Asset, Ledger

INT64_MAX = 2**63 - 1
AGENT = NodeAgent(Ed25519PrivateKey.generate(), lease_id="B1", block_id="rack-1")
MINUTE = 29_000_000  # 2025-02-20 in Unix minutes


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, str, Path]:
    data_dir = tmp_path_factory.mktemp("api-delivery-bounds")
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="BTC issuer")
    admin = ServiceStore.in_data_dir(data_dir).create_key(Role.ADMIN)[1]
    app = create_app(ServiceConfig(data_dir=data_dir, rate_limit_per_s=1000, rate_limit_burst=1000))
    client = TestClient(app)
    lease = terms()
    assert post(client, admin, "/leases", {"terms": lease}).status_code == 201
    return client, admin, data_dir


def terms(**changes: Any) -> dict[str, Any]:
    lease = GpuLease(
        lease_id="B1",
        buyer_account_id=101,
        seller_account_id=202,
        blocks=(LeaseBlock("rack-1", AGENT.public_key_hex, ("GPU-0", "GPU-1")),),
        start_minute=MINUTE,
        end_minute=MINUTE + 60,
        price_cents_per_gpu_hour=300,
    )
    return lease.to_dict() | changes


def post(client: TestClient, key: str, path: str, body: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"{time.time_ns()}"}
    return client.post(f"/api/v1/delivery{path}", headers=headers, json=body)


def files(data_dir: Path) -> dict[str, bytes]:
    folder = data_dir / "delivery"
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def refused(client: TestClient, key: str, data_dir: Path, path: str, body: Any) -> str:
    """The refusal's detail, after checking it is a 422 problem that changed no file."""
    before = files(data_dir)
    response = post(client, key, path, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert files(data_dir) == before
    return str(response.json()["detail"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lease_id", 7),
        ("buyer_account_id", 2**63),
        ("seller_account_id", -1),
        ("buyer_account_id", "101"),
        ("price_cents_per_gpu_hour", 2**63),
        ("price_cents_per_gpu_hour", 0),
        ("end_minute", 2**70),
        ("start_minute", -(2**70)),
        ("late_grace_s", 10**12),
    ],
)
def test_lease_terms_out_of_range_are_refused_by_field(
    setup: tuple[TestClient, str, Path], field: str, value: Any
) -> None:
    client, key, data_dir = setup
    detail = refused(
        client, key, data_dir, "/leases", {"terms": terms(**({"lease_id": "B2"} | {field: value}))}
    )
    assert field in detail and repr(value) in detail


def test_a_lease_must_end_after_it_starts(setup: tuple[TestClient, str, Path]) -> None:
    client, key, data_dir = setup
    body = {"terms": terms(lease_id="B3", end_minute=MINUTE)}
    detail = refused(client, key, data_dir, "/leases", body)
    assert "end_minute" in detail and str(MINUTE) in detail


def test_a_fee_the_ledger_could_not_hold_is_refused(setup: tuple[TestClient, str, Path]) -> None:
    # 2 GPUs × 60 minutes at this price is 2 × (INT64_MAX // 2 + 1) cents: one over int64.
    client, key, data_dir = setup
    price = INT64_MAX // 2 + 1
    detail = refused(
        client,
        key,
        data_dir,
        "/leases",
        {"terms": terms(lease_id="B4", price_cents_per_gpu_hour=price)},
    )
    assert "price_cents_per_gpu_hour" in detail and str(price) in detail
    # One cent less per hour fits exactly: the lease is accepted.
    ok = post(
        client, key, "/leases", {"terms": terms(lease_id="B5", price_cents_per_gpu_hour=price - 1)}
    )
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    ("field", "value"),
    [("minute", 2**63), ("power_w", 2**63), ("power_w", 1_000_001), ("minute", -1)],
)
def test_heartbeats_out_of_range_are_refused_by_field(
    setup: tuple[TestClient, str, Path], field: str, value: int
) -> None:
    client, key, data_dir = setup
    (signed,) = AGENT.beat(MINUTE, {"GPU-0": GpuReading(9_000, 700)})
    beat = signed.heartbeat.to_dict()
    good = {"heartbeat": beat, "signature": signed.signature.hex()}
    bad = {"heartbeat": beat | {field: value}, "signature": signed.signature.hex()}
    detail = refused(client, key, data_dir, "/leases/B1/heartbeats", {"heartbeats": [good, bad]})
    assert "heartbeats[1]" in detail and field in detail and str(value) in detail
