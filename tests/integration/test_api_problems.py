"""Requests that used to fail inside the service come back as problem+json naming the field,
and an error nothing handled is a problem+json 500 that leaves the connection usable."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.ledger import Account, Asset, Ledger, Transfer

PROBLEM = "application/problem+json"
BIG = str(2**63)  # one past the largest 64-bit id
HUGE = str(2**64)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, str, Path]:
    """Issuer 1 funds 1001 (seq 1) and 1002 (seq 2); 1001 pays 1002 (seq 3)."""
    data_dir = tmp_path_factory.mktemp("api-problems")
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="BTC issuer")
        ledger.create_accounts([Account(1001, "BTC"), Account(1002, "BTC")])
        ledger.transfer(Transfer(1, 1, 1001, 5_000))
        ledger.transfer(Transfer(2, 1, 1002, 5_000))
        ledger.transfer(Transfer(3, 1001, 1002, 100))
    admin = ServiceStore.in_data_dir(data_dir).create_key(Role.ADMIN)[1]
    app = create_app(ServiceConfig(data_dir=data_dir, rate_limit_per_s=1e4, rate_limit_burst=1e4))
    return TestClient(app), admin, data_dir


def state_hash(data_dir: Path) -> str:
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        return ledger.state_hash()


def assert_problem(response, status: int | tuple[int, ...], field: str | None = None) -> dict:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == response.status_code
    if field is not None:
        assert body["field"] == field, body
    return body


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/api/v1/accounts/{BIG}", "path.account_id"),
        (f"/api/v1/transfers/{HUGE}", "path.transfer_id"),
        (f"/api/v1/transfers/-{HUGE}", "path.transfer_id"),
        (f"/api/v1/accounts/1001/history?before_seq={HUGE}", "query.before_seq"),
        (f"/api/v1/tokens/HT1/proof?account_id={BIG}&day=2025-01-10", "query.account_id"),
    ],
)
def test_integers_past_64_bits_in_paths_and_queries_are_422_naming_the_field(
    setup, path: str, field: str
) -> None:
    client, admin, _ = setup
    response = client.get(path, headers={"Authorization": f"Bearer {admin}"})
    assert_problem(response, 422, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": 9, "kind": "post", "pending_id": 2**64}, "pending_id"),
        ({"id": 2**63, "debit_account_id": 1001, "credit_account_id": 1002, "amount": 1}, "id"),
        ({"id": 9, "debit_account_id": 1001, "credit_account_id": 1002, "amount": 2**63}, "amount"),
        ({"id": 9, "debit_account_id": 2**64, "credit_account_id": 1002}, "debit_account_id"),
    ],
)
def test_integers_past_64_bits_in_bodies_are_422_and_change_nothing(
    setup, body: dict, field: str
) -> None:
    client, admin, data_dir = setup
    before = state_hash(data_dir)
    headers = {"Authorization": f"Bearer {admin}", "Idempotency-Key": f"big-{field}"}
    response = client.post("/api/v1/transfers", json=body, headers=headers)
    assert_problem(response, 422, field)
    assert state_hash(data_dir) == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"id": 3001, "asset": "BTC", "name": "\\ud800"}', "name"),
        (b'{"id": 3001, "asset": "BTC", "name": "a\\udfffb"}', "name"),
        (b'{"id": 3001, "asset": "BTC", "name": "nul\\u0000"}', "name"),
        (b'{"id": 3001, "asset": "BT\\ud83d"}', "asset"),
    ],
)
def test_unstorable_text_in_a_body_is_422_naming_the_field(setup, raw: bytes, field: str) -> None:
    client, admin, data_dir = setup
    before = state_hash(data_dir)
    headers = {
        "Authorization": f"Bearer {admin}",
        "Idempotency-Key": f"text-{raw.hex()[-12:]}",
        "Content-Type": "application/json",
    }
    response = client.post("/api/v1/accounts", content=raw, headers=headers)
    assert_problem(response, 422, field)
    assert state_hash(data_dir) == before
    # A well-formed pair is one character, not a lone surrogate: that name is stored.
    pair = b'{"id": 3002, "asset": "BTC", "name": "emoji \\ud83d\\ude00"}'
    headers["Idempotency-Key"] = f"pair-{raw.hex()[-12:]}"
    created = client.post("/api/v1/accounts", content=pair, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "emoji \U0001f600"


@pytest.mark.parametrize("name", ["%00.css", "a%00.js", "..%2Fpages%2Flayout.html", "dashboard"])
def test_odd_static_names_are_404_problems(setup, name: str) -> None:
    client, _, _ = setup
    assert_problem(client.get(f"/static/{name}"), 404)


def test_history_pages_from_a_seq_of_another_account(setup) -> None:
    """seq 2 moved issuer → 1002; 1001's rows older than it are its funding row (seq 1)."""
    client, admin, _ = setup
    headers = {"Authorization": f"Bearer {admin}"}
    url = "/api/v1/accounts/1001/history"
    assert [r["id"] for r in client.get(url, headers=headers).json()] == [3, 1]
    paged = client.get(url, params={"before_seq": 2}, headers=headers)
    assert paged.status_code == 200, paged.text
    assert [r["id"] for r in paged.json()] == [1]
    assert [r["id"] for r in client.get(url, params={"before_seq": 3}, headers=headers).json()] == [
        1
    ]
    past_head = client.get(url, params={"before_seq": 2**63 - 1}, headers=headers)
    assert [r["id"] for r in past_head.json()] == [3, 1]


def failing_app(data_dir: Path) -> FastAPI:
    app = create_app(ServiceConfig(data_dir=data_dir))

    @app.get("/api/v1/fail")
    def fail() -> None:
        raise RuntimeError("a defect the handlers do not know")

    return app


def test_an_unhandled_error_is_a_problem_500(setup) -> None:
    _, _, data_dir = setup
    client = TestClient(failing_app(data_dir), raise_server_exceptions=False)
    body = assert_problem(client.get("/api/v1/fail"), 500)
    assert body["title"] == "Internal Server Error"
    assert "RuntimeError" not in json.dumps(body)  # nothing of the internals leaks


@pytest.fixture
def served(setup) -> Iterator[int]:
    """The service with a failing route, on a real HTTP server (keep-alive and all)."""
    _, _, data_dir = setup
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = failing_app(data_dir)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def test_the_connection_survives_a_500(served: int, setup) -> None:
    _, admin, _ = setup
    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    headers = {"Authorization": f"Bearer {admin}"}
    for path in ("/api/v1/fail", f"/api/v1/accounts/{BIG}", "/static/%00.css"):
        connection.request("GET", path, headers=headers)
        failed = connection.getresponse()
        assert failed.getheader("content-type") == PROBLEM
        assert failed.status in (400, 404, 422, 500)
        failed.read()
        # The same socket answers the next request.
        connection.request("GET", "/api/v1/keys/me", headers=headers)
        ok = connection.getresponse()
        assert ok.status == 200
        assert json.loads(ok.read())["role"] == "admin"
    connection.close()
