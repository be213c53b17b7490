"""Who may do what: only an issuing role mints, a key bound by account name can use that
account, and failed authentication from one address is rate-limited."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.cli.app import main
from hashmarket.errors import UsageError
from hashmarket.ledger import Account, Asset, Ledger, Transfer

PROBLEM = "application/problem+json"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """BTC issued from account 1; alice (1001) holds 5,000 sats, bob (1002) nothing."""
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="btc-issuer")
        ledger.create_accounts(
            [Account(1001, "BTC", name="alice"), Account(1002, "BTC", name="bob")]
        )
        ledger.transfer(Transfer(1, 1, 1001, 5_000))
    return tmp_path


def client_for(data_dir: Path, **config) -> TestClient:
    return TestClient(create_app(ServiceConfig(data_dir=data_dir, **config)))


def supply(data_dir: Path) -> int:
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        return -ledger.account(1).balance


def post_transfer(client: TestClient, secret: str, idem: str, **body):
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": idem}
    return client.post("/api/v1/transfers", json=body, headers=headers)


def test_only_an_issuing_role_mints(data_dir: Path) -> None:
    store = ServiceStore.in_data_dir(data_dir)
    trader = store.create_key(Role.TRADER)[1]  # no account binding
    bound_to_issuer = store.create_key(Role.TRADER, account="1")[1]
    issuer, admin = store.create_key(Role.ISSUER)[1], store.create_key(Role.ADMIN)[1]
    client = client_for(data_dir)
    mint = {"debit_account_id": 1, "credit_account_id": 1002, "amount": 1_000}
    for n, secret in enumerate((trader, bound_to_issuer)):
        refused = post_transfer(client, secret, f"m{n}", id=10 + n, **mint)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert "mints" in refused.json()["detail"]
    assert supply(data_dir) == 5_000
    # A reservation on the issuer account is minting too, and so is posting one.
    pending = post_transfer(client, trader, "m2", id=12, kind="pending", **mint)
    assert pending.status_code == 403
    reserved = post_transfer(client, issuer, "m3", id=13, kind="pending", **mint)
    assert reserved.status_code == 201, reserved.text
    post = post_transfer(client, trader, "m4", id=14, kind="post", pending_id=13)
    assert post.status_code == 403
    # The trader still moves ordinary accounts; issuer and admin mint.
    moved = post_transfer(
        client, trader, "m5", id=15, debit_account_id=1001, credit_account_id=1002, amount=1
    )
    assert moved.status_code == 201, moved.text
    assert post_transfer(client, issuer, "m6", id=16, **mint).status_code == 201
    assert post_transfer(client, admin, "m7", id=17, **mint).status_code == 201
    assert supply(data_dir) == 7_000


def run_cli(monkeypatch, capsys, *args: str, data_dir: Path) -> tuple[int, str, str]:
    monkeypatch.setenv("HASHMARKET_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setattr(sys, "argv", ["hashmarket", *args])
    capsys.readouterr()
    code: int | str | None = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 1), out, err


def test_a_key_bound_by_name_uses_that_account(data_dir: Path, monkeypatch, capsys) -> None:
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        *("keys", "create", "--role", "trader", "--account", "alice", "--format", "json"),
        data_dir=data_dir,
    )
    assert code == 0, err
    created = json.loads(out)
    assert created["account"] == "1001"  # the name resolved to its id at creation
    client = client_for(data_dir)
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/v1/accounts/1001", headers=headers).json()["balance_units"] == 5_000
    paid = post_transfer(
        client,
        created["key"],
        "n1",
        id=20,
        debit_account_id=1001,
        credit_account_id=1002,
        amount=100,
    )
    assert paid.status_code == 201, paid.text
    assert client.get("/api/v1/accounts/1002", headers=headers).status_code == 403

    code, out, err = run_cli(
        monkeypatch,
        capsys,
        *("keys", "create", "--role", "trader", "--account", "carol"),
        data_dir=data_dir,
    )
    assert code != 0
    assert "'carol'" in err and "no account" in err, err
    assert out == ""
    assert len(ServiceStore.in_data_dir(data_dir).list_keys()) == 1  # nothing was created


def test_the_store_takes_account_ids_only(data_dir: Path) -> None:
    with pytest.raises(UsageError, match="not an account id"):
        ServiceStore.in_data_dir(data_dir).create_key(Role.TRADER, account="alice")


def test_failed_authentication_is_rate_limited_per_address(data_dir: Path) -> None:
    """80 wrong keys from one address: the burst (5 here) is answered 401, the rest 429
    with Retry-After, and while the address is limited even a valid key waits."""
    secret = ServiceStore.in_data_dir(data_dir).create_key(Role.VIEWER)[1]
    client = client_for(data_dir, auth_failure_burst=5, auth_failures_per_minute=6)
    wrong = {"Authorization": "Bearer hm_000000000000_not-the-secret"}
    responses = [client.get("/api/v1/keys/me", headers=wrong) for _ in range(80)]
    assert [r.status_code for r in responses] == [401] * 5 + [429] * 75
    limited = responses[-1]
    assert limited.headers["content-type"] == PROBLEM
    assert 1 <= int(limited.headers["Retry-After"]) <= 10  # one failure per 10 s comes back
    assert "failed authentications" in limited.json()["detail"]
    right = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/keys/me", headers=right).status_code == 429
    # Anonymous requests are not failures, and another address has its own allowance.
    assert client.get("/api/v1/keys/me").status_code == 401
    other = TestClient(client.app, client=("192.0.2.7", 50000))
    assert other.get("/api/v1/keys/me", headers=right).status_code == 200
    assert other.get("/api/v1/keys/me", headers=wrong).status_code == 401


def test_the_failure_limit_is_configured_from_the_environment(data_dir: Path, monkeypatch) -> None:
    from hashmarket.api.app import app_from_environment

    monkeypatch.setenv("HASHMARKET_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HASHMARKET_AUTH_FAILURE_BURST", "2")
    client = TestClient(app_from_environment())
    wrong = {"Authorization": "Bearer nope"}
    assert [client.get("/api/v1/keys/me", headers=wrong).status_code for _ in range(4)] == [
        401,
        401,
        429,
        429,
    ]
    monkeypatch.setenv("HASHMARKET_AUTH_FAILURES_PER_MINUTE", "-3")
    with pytest.raises(UsageError, match="HASHMARKET_AUTH_FAILURES_PER_MINUTE"):
        app_from_environment()
