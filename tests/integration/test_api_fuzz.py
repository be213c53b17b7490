"""Property-based fuzzing of the whole OpenAPI schema (schemathesis): for valid and invalid
requests alike, no 500, every error is ``application/problem+json``, and a refused request
leaves the ledger's state hash and the delivery files (leases, heartbeats, delivery logs under
the data directory) as they were.

It runs with an admin key, and again with a trader's key bound to one account (a few examples
per operation), which reaches the refusals of a key that may not use an account or a role.
The default run tries a few examples per operation and leaves out the long computations
(Monte Carlo pricing, risk, hedge plans, dispatch), which take seconds per valid request; the
``slow`` run tries many more examples on every operation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.app import COMPUTATIONS
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.api.state import ServiceState
from hashmarket.ledger import Account, Transfer
from tests.conftest import open_token_ledger

PROBLEM = "application/problem+json"
FUZZ_SETTINGS = {
    "deadline": None,
    "derandomize": True,  # the suite's run is the same every time
    "suppress_health_check": list(HealthCheck),
}


@dataclass(frozen=True)
class Fuzzed:
    app: FastAPI
    data_dir: Path
    admin: str  # an admin key
    trader: str  # a trader's key bound to account 1001


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Fuzzed:
    """The service on a ledger with a token series (HT1), BTC accounts 1001 and 1002, an
    admin key and a trader's key bound to 1001, so that generated requests reach the ledger
    rather than stop at 401."""
    data_dir: Path = tmp_path_factory.mktemp("api-fuzz")
    ledger = open_token_ledger(f"sqlite:///{data_dir / 'ledger.sqlite'}")
    ledger.create_accounts([Account(1001, "BTC", name="alice"), Account(1002, "BTC")])
    ledger.transfer(Transfer(5001, 1, 1001, 10_000))
    ledger.close()
    keys = ServiceStore.in_data_dir(data_dir)
    admin = keys.create_key(Role.ADMIN)[1]
    trader = keys.create_key(Role.TRADER, account="1001")[1]
    config = ServiceConfig(data_dir=data_dir, rate_limit_per_s=1e6, rate_limit_burst=1e6)
    app = create_app(config)
    # The exchange opens at first use and opening it writes its own accounts to the ledger:
    # open it here, so the state hash compared around a request is changed by that request
    # only (otherwise the first market request, refused or not, appears to change it).
    app.state.market.start()
    return Fuzzed(app, data_dir, admin, trader)


@pytest.fixture(scope="module")
def api_schema(fuzzed: Fuzzed) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app)
    schema.config.generation.update(allow_x00=True)
    return schema


def state_hash(app: FastAPI) -> str:
    service: ServiceState = app.state.service
    with service.ledger() as ledger:
        return ledger.state_hash()


def delivery_files(data_dir: Path) -> dict[str, bytes]:
    """Every file under ``data_dir/delivery`` (leases, heartbeats, delivery logs) by path."""
    folder = data_dir / "delivery"
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def check_case(case: schemathesis.Case, fuzzed: Fuzzed, key: str) -> None:
    app = fuzzed.app
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": uuid.uuid4().hex}
    before = state_hash(app)
    files_before = delivery_files(fuzzed.data_dir)
    response = case.call(headers=headers)
    where = f"{case.operation.label}: {response.status_code} {response.text[:300]}"
    assert response.status_code != 500, where
    if response.status_code >= 400:
        content_types = response.headers.get("content-type", [""])  # a list per header name
        assert content_types == [PROBLEM], (content_types, where)
        assert state_hash(app) == before, f"refused but changed the ledger: {where}"
        after = delivery_files(fuzzed.data_dir)
        assert after == files_before, f"refused but changed the delivery files: {where}"


def fuzz(
    schema: schemathesis.BaseSchema,
    fuzzed: Fuzzed,
    *,
    max_examples: int,
    key: str | None = None,
    skip: frozenset[str] = frozenset(),
) -> int:
    """Valid and invalid requests to every operation but those in ``skip``, with ``key`` (the
    admin's by default); the number of operations fuzzed."""
    key = fuzzed.admin if key is None else key
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the schema itself is valid
        operations.append(result.ok())
    fuzzed_count = 0
    for operation in operations:
        if operation.path in skip:
            continue
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(max_examples=max_examples, **FUZZ_SETTINGS)  # type: ignore[arg-type]
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                check_case(case, fuzzed, key)

            try:
                run()
            except Unsatisfiable:
                # Nothing of this operation can be made invalid (no parameters, no body).
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
        fuzzed_count += 1
    return fuzzed_count


def test_fuzz_the_schema(api_schema: schemathesis.BaseSchema, fuzzed) -> None:
    operations = fuzz(api_schema, fuzzed, max_examples=8, skip=COMPUTATIONS)
    assert operations >= 20  # the schema was read: every ledger, token and index route


def test_fuzz_the_schema_as_a_trader(api_schema: schemathesis.BaseSchema, fuzzed) -> None:
    operations = fuzz(api_schema, fuzzed, max_examples=3, skip=COMPUTATIONS, key=fuzzed.trader)
    assert operations >= 20


@pytest.mark.slow
def test_fuzz_the_schema_long(api_schema: schemathesis.BaseSchema, fuzzed) -> None:
    fuzz(api_schema, fuzzed, max_examples=200)
