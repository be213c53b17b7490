"""Ledger fixtures: every store test runs on SQLite and on PostgreSQL.

``make test`` runs the suite through ``scripts/with_postgres.sh``, which starts a throwaway
PostgreSQL server and exports its URL in ``HASHMARKET_TEST_PG_URL``. Each PostgreSQL test gets
its own schema in that server (``?schema=…``), so tests never see each other's rows. Without the
URL the PostgreSQL cases skip, except under ``CI=true``, where a missing server is a failure.

Property tests (Hypothesis) draw their examples from a fixed seed, so a run's outcome depends
on the code, not on the draw; ``HYPOTHESIS_PROFILE=explore`` draws new ones on every run to
look for counterexamples (pin what it finds with ``@example``).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from hashmarket.ledger import Account, Asset, CreateAssetResult, Ledger, ManualClock, Transfer
from hashmarket.ledger.clock import day_start_ns

settings.register_profile("fixed", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))

PG_ENV = "HASHMARKET_TEST_PG_URL"
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
# 2025-01-01 00:00 UTC: a fixed start for the ledger clock, so runs are reproducible.
T0_NS = day_start_ns(dt.date(2025, 1, 1))
BTC_ISSUER, USD_ISSUER = 1, 2


def postgres_url() -> str:
    """The test server's URL, or skip (fail under CI=true) when there is none."""
    url = os.environ.get(PG_ENV)
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(f"{PG_ENV} is not set under CI=true: run the tests with `make test`")
    pytest.skip(f"no PostgreSQL server ({PG_ENV} is not set; `make test` starts one)")


def _with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(os.environ[PG_ENV], autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``slow`` tests (long soak runs) are left out unless ``-m`` asks for them, as the
    marker's declaration in pyproject.toml says."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


UrlFactory = Callable[[str], str]


@pytest.fixture
def new_url(tmp_path: Path) -> Iterator[UrlFactory]:
    """``new_url("sqlite" | "postgresql")``: the URL of a new, empty ledger of that kind."""
    schemas: list[str] = []
    counter = iter(range(1_000_000))

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path}/ledger-{next(counter)}.sqlite"
        base = postgres_url()
        schema = f"t_{uuid.uuid4().hex[:16]}"
        schemas.append(schema)
        return _with_schema(base, schema)

    yield make
    for schema in schemas:
        drop_schema(schema)


@pytest.fixture(params=STORES)
def ledger_url(request: pytest.FixtureRequest, new_url: UrlFactory) -> str:
    return new_url(request.param)


def open_ledger(url: str, clock: ManualClock | None = None) -> Ledger:
    """A new ledger with BTC (sats) and USD (cents), issuers 1 and 2, clock at 2025-01-01."""
    ledger = Ledger.open(url, create=True, clock=clock or ManualClock(T0_NS))
    for asset, issuer, name in (
        (Asset("BTC", 8), BTC_ISSUER, "btc-issuer"),
        (Asset("USD", 2), USD_ISSUER, "usd-issuer"),
    ):
        result = ledger.create_asset(asset, issuer_account_id=issuer, name=name)
        assert result is CreateAssetResult.OK, result
    return ledger


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0_NS)


@pytest.fixture
def ledger(ledger_url: str, clock: ManualClock) -> Iterator[Ledger]:
    with open_ledger(ledger_url, clock) as opened:
        yield opened


def fund(ledger: Ledger, account_id: int, amount: int, *, asset: str = "BTC", tid: int) -> None:
    """Open ``account_id`` (if needed) and credit it from the asset's issuer."""
    ledger.create_account(Account(account_id, asset))
    issuer = BTC_ISSUER if asset == "BTC" else USD_ISSUER
    ledger.transfer(Transfer(tid, issuer, account_id, amount))


def open_token_ledger(url: str) -> Ledger:
    """A ledger with the example series HT1 (1,000 TH/s backing, 2025) whose holders 201 (600
    tokens, paid to 301) and 202 (250, paid to 302) bought on 2025-01-02 on the ledger clock,
    so the cut of any day from then on, which the bundled fixings cover to 2025-01-11, sees
    them; the treasury (account 3) holds 1 BTC. The clock is left at 2025-01-12."""
    import datetime as dt
    from decimal import Decimal

    from hashmarket.ledger import Account, Transfer
    from hashmarket.ledger import tokens as tk
    from hashmarket.ledger.clock import day_start_ns

    clock = ManualClock(day_start_ns(dt.date(2025, 1, 2)))
    ledger = open_ledger(url, clock)
    ledger.create_accounts([Account(i, "BTC") for i in (3, 301, 302)])
    ledger.transfer(Transfer(1, BTC_ISSUER, 3, 10**8))
    tk.issue(
        ledger,
        tk.TokenSeries(
            asset="HT1",
            issuer_account_id=100,
            reserve_account_id=101,
            treasury_account_id=3,
            ths_per_token=Decimal(1),
            efficiency_w_per_th=Decimal("18.5"),
            power_price_usd_per_kwh=Decimal("0.05"),
            service_fee_usd_per_th_day=Decimal("0.002"),
            backing_hashrate_ths=Decimal(1_000),
            term_start=dt.date(2025, 1, 1),
            term_end=dt.date(2025, 12, 31),
        ),
    )
    with ledger.transaction() as w:
        for holder, payout, amount in ((201, 301, 600), (202, 302, 250)):
            tk.open_holder(w, "HT1", token_account_id=holder, payout_account_id=payout)
            tk.mint(w, "HT1", transfer_id=holder, to_account_id=holder, amount_units=amount)
    clock.advance(10 * 86_400)
    return ledger
