"""The FastAPI application: a thin shell over the library, no logic of its own."""

from __future__ import annotations

import dataclasses
import gc
import logging

from fastapi import FastAPI

from hashmarket import __version__
from hashmarket.api import dashboard, docs
from hashmarket.api.compute import ComputeGate, ComputeGateMiddleware
from hashmarket.api.config import ServiceConfig
from hashmarket.api.guard import GuardMiddleware, TokenBucket
from hashmarket.api.keys import ServiceStore
from hashmarket.api.market_service import MarketService
from hashmarket.api.problems import LastResortMiddleware, install_handlers
from hashmarket.api.routers import (
    conversion,
    counterparty,
    delivery,
    fund,
    index,
    keys,
    ledger,
    lending,
    lending_rate,
    loan_book,
    market,
    mining_finance,
    operations,
    pricing,
    regional,
    risk,
)
from hashmarket.api.state import ServiceState
from hashmarket.errors import HashmarketError, UsageError
from hashmarket.paths import default_data_dir

# POST routes that compute without changing state need no Idempotency-Key.
IDEMPOTENCY_EXEMPT: frozenset[str] = frozenset(
    {"/api/v1/dispatch", "/api/v1/price", "/api/v1/hedge", "/api/v1/risk", "/api/v1/loans/analyze"}
    | {"/api/v1/fund/nav", "/api/v1/fund/report"}
)
IDEMPOTENCY_EXEMPT |= lending.COMPUTATIONS
# The regional index and regional pricing compute from a posted power series (docs/regional.md).
IDEMPOTENCY_EXEMPT |= {"/api/v1/index/regional", "/api/v1/regional/price"}
IDEMPOTENCY_EXEMPT |= {"/api/v1/cva", "/api/v1/convert"}
# Cloud hashrate, hosting and lease analyses (docs/mining-finance.md).
IDEMPOTENCY_EXEMPT |= mining_finance.COMPUTATIONS
# The exchange's commands: their Idempotency-Keys are claimed in the exchange's transaction.
CLAIMED_BY_ROUTE = ("/api/v1/market/",)
# Routes that simulate or optimise for seconds: they take turns (hashmarket.api.compute).
COMPUTATIONS: frozenset[str] = IDEMPOTENCY_EXEMPT | {"/api/v1/curve/hashprice"}

LOG = logging.getLogger(__name__)


def create_app(config: ServiceConfig) -> FastAPI:
    app = FastAPI(
        title="Hashmarket",
        version=__version__,
        description=(
            "Hashprice index and fixings, pricing, ledger, hashrate tokens and risk. "
            "Authenticated routes take `Authorization: Bearer hm_…` (create keys with "
            "`hashmarket keys create`); state-changing requests take an `Idempotency-Key`. "
            "Errors are `application/problem+json`."
        ),
        # Served by hashmarket.api.docs from local copies of their scripts (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    store = ServiceStore.in_data_dir(config.data_dir, key_cache_ttl_s=config.key_cache_ttl_s)
    app.state.service = ServiceState(config=config, store=store)
    app.state.market = MarketService(app.state.service)  # the exchange opens at first use
    app.router.on_startup.append(_freeze_startup_heap)
    # Started with the service, not at the first write, so that it forgets expired records
    # even while only the exchange (which records in its own transactions) is written to.
    app.router.on_startup.append(lambda: _start_record_writer(app.state.service))
    app.router.on_shutdown.append(app.state.market.stop)
    app.router.on_shutdown.append(app.state.service.record_writer.stop)
    install_handlers(app)
    # Inside the guard: a request is authenticated and counted before it waits for a turn.
    app.state.compute_gate = ComputeGate(paths=COMPUTATIONS, limit=config.max_computations)
    app.add_middleware(ComputeGateMiddleware, gate=app.state.compute_gate)
    app.add_middleware(
        GuardMiddleware,
        state=app.state.service,
        max_body_bytes=config.max_body_bytes,
        limiter=TokenBucket(config.rate_limit_per_s, config.rate_limit_burst),
        auth_failures=TokenBucket(config.auth_failures_per_minute / 60, config.auth_failure_burst),
        idempotency_exempt=IDEMPOTENCY_EXEMPT,
        idempotency_wait_s=config.idempotency_wait_s,
        claimed_by_route=CLAIMED_BY_ROUTE,
    )
    app.add_middleware(LastResortMiddleware)  # added last: outermost
    app.include_router(index.router)
    app.include_router(keys.router)
    app.include_router(operations.router)
    app.include_router(pricing.router)
    app.include_router(ledger.router)
    app.include_router(risk.router)
    app.include_router(delivery.router)
    app.include_router(market.router)
    app.include_router(mining_finance.router)
    app.include_router(lending_rate.router)
    app.include_router(lending.router)
    app.include_router(regional.router)
    app.include_router(counterparty.router)
    app.include_router(conversion.router)
    app.include_router(fund.router)
    app.include_router(loan_book.router)
    app.include_router(dashboard.router)
    app.include_router(docs.router)
    return app


def _freeze_startup_heap() -> None:
    # What the process built before serving (modules, the app, its routes: hundreds of
    # thousands of objects) lives as long as the process. Left in the collector's oldest
    # generation, every full collection walks it again, a pause of tens of milliseconds that
    # lands on whichever requests are in flight; frozen, the collector skips it.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _start_record_writer(state: ServiceState) -> None:
    """Start the records' writer; if the ledger's database cannot be reached now, serve
    anyway (writes answer 503 until it can) and start the writer at the first write."""
    try:
        state.record_writer.start()
    except HashmarketError as error:
        LOG.warning("idempotency records: not started: %s", error)


def app_from_environment() -> FastAPI:
    """The app ``hashmarket serve`` runs, configured from ``HASHMARKET_*`` variables."""
    import os

    defaults = ServiceConfig(data_dir=default_data_dir())
    return create_app(
        dataclasses.replace(
            defaults,
            ledger_url=os.environ.get("HASHMARKET_DB") or None,
            include_noncommercial=not os.environ.get("HASHMARKET_COMMERCIAL_ONLY"),
            auth_failure_burst=_number_from_environment(
                "HASHMARKET_AUTH_FAILURE_BURST", defaults.auth_failure_burst
            ),
            auth_failures_per_minute=_number_from_environment(
                "HASHMARKET_AUTH_FAILURES_PER_MINUTE", defaults.auth_failures_per_minute
            ),
            key_cache_ttl_s=_number_from_environment(
                "HASHMARKET_KEY_CACHE_TTL_S", defaults.key_cache_ttl_s
            ),
            idempotency_retention_s=_number_from_environment(
                "HASHMARKET_IDEMPOTENCY_RETENTION_S", defaults.idempotency_retention_s
            ),
        )
    )


def _number_from_environment(name: str, default: float) -> float:
    import os

    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise UsageError("bad_option", option=name, problem=f"{text!r} is not a positive number")
    return value
