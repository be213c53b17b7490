"""API keys cached in the server process: a revocation through the process is seen on the
very next request; one made elsewhere is seen once the cached row's time to live ran out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app, key_store
from hashmarket.api.keys import NOT_CACHED, Role, ServiceStore


def bearer(secret: str, idempotency_key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {secret}"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


def test_a_key_revoked_over_http_is_refused_on_the_next_request(tmp_path: Path) -> None:
    store = ServiceStore.in_data_dir(tmp_path)
    admin = store.create_key(Role.ADMIN)[1]
    trader, secret = store.create_key(Role.TRADER, account="1001")
    config = ServiceConfig(data_dir=tmp_path, key_cache_ttl_s=3_600)  # only revocation clears it
    with TestClient(create_app(config)) as client:
        assert client.get("/api/v1/keys/me", headers=bearer(secret)).status_code == 200
        # Cached now: without revocation the next hour of requests would not read the row.
        refused = client.delete(f"/api/v1/keys/{trader.key_id}", headers=bearer(secret, "r0"))
        assert refused.status_code == 403  # a trader may not revoke
        revoked = client.delete(f"/api/v1/keys/{trader.key_id}", headers=bearer(admin, "r1"))
        assert revoked.status_code == 200
        assert revoked.json()["key_id"] == trader.key_id and revoked.json()["revoked_at"]
        after = client.get("/api/v1/keys/me", headers=bearer(secret))
        assert after.status_code == 401 and "revoked" in after.json()["detail"]
        unknown = client.delete("/api/v1/keys/000000000000", headers=bearer(admin, "r2"))
        assert unknown.status_code == 400 and "000000000000" in unknown.json()["detail"]


def test_the_cache_is_read_again_after_its_time_to_live(tmp_path: Path) -> None:
    now = [100.0]
    store = ServiceStore(tmp_path / "service.sqlite", key_cache_ttl_s=2.0, monotonic=lambda: now[0])
    key, secret = store.create_key(Role.VIEWER)
    assert store.authenticate_cached(secret) is NOT_CACHED  # never read yet
    assert store.authenticate(secret) == key  # read at t = 100.0
    # Another process revokes it: this process's cache does not know.
    with sqlite3.connect(store.path, isolation_level=None) as elsewhere:
        key_store.revoke(elsewhere, key.key_id, "2026-12-07T00:00:00Z")
    now[0] = 101.999
    assert store.authenticate_cached(secret) == key  # 1.999 s old: still served from memory
    assert store.authenticate(secret) == key
    now[0] = 102.0  # 2.0 s old: expired, so the row is read again and the revocation seen
    assert store.authenticate_cached(secret) is NOT_CACHED
    assert store.authenticate(secret) is None
    # The revoked row is cached too: refused without a read until it expires.
    assert store.authenticate_cached(secret) is None
    # A wrong secret for a cached key is refused: the digest is checked every time.
    assert store.authenticate_cached(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None


def test_a_revocation_through_any_store_of_the_process_clears_the_cache(tmp_path: Path) -> None:
    serving = ServiceStore.in_data_dir(tmp_path, key_cache_ttl_s=3_600)
    key, secret = serving.create_key(Role.VIEWER)
    assert serving.authenticate(secret) == key
    ServiceStore.in_data_dir(tmp_path).revoke_key(key.key_id)  # as `hashmarket keys revoke`
    assert serving.authenticate_cached(secret) is NOT_CACHED
    assert serving.authenticate(secret) is None
