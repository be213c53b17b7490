"""Cloud hashrate, hosting and machine leases: public computations (a contract's value over
scenarios, daily statements, an instalment schedule, a lessor's credit risk) and, for keys
with the ``settle`` permission, the ledger runs (purchase, daily payouts, hosting payments,
lease bookings), each behind the idempotency guard like every state-changing route."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from hashmarket.api.fields import Int64
from hashmarket.api.keys import ApiKey, Permission
from hashmarket.api.security import require
from hashmarket.api.state import ServiceState, service
from hashmarket.instruments import CloudHashrate, Fixings, Hosting, MachineLease
from hashmarket.ledger.mining import (
    CloudAccounts,
    HostingAccounts,
    LeaseAccounts,
    book_lease,
    pay_cloud,
    published_path,
    purchase_cloud,
    settle_hosting,
)
from hashmarket.operations import (
    client_breakeven_hashprice_usd_per_ph_day,
    hosting_period,
    hosting_scenarios,
    parse_contract,
)
from hashmarket.pricing import (
    Market,
    MonteCarloConfig,
    ValuationSetup,
    cloud_valuation,
    lease_risk,
    market_with_past,
    scenario_paths,
)

router = APIRouter(prefix="/api/v1", tags=["mining finance"])
# The routes that compute without changing anything (no Idempotency-Key).
COMPUTATIONS = frozenset(
    {
        "/api/v1/cloud/value",
        "/api/v1/hosting/statements",
        "/api/v1/hosting/scenarios",
        "/api/v1/lease/schedule",
        "/api/v1/lease/risk",
    }
)

SETTLE = Depends(require(Permission.SETTLE))
# The whole path set is held at once: 20,000 paths of an 18-month lease take 0.8 GB.
MAX_PATHS = 10_000


class Scenarios(BaseModel):
    spec: dict[str, Any] = Field(..., description="A contract spec, as in examples/specs/")
    paths: int = Field(5_000, ge=100, le=MAX_PATHS)
    seed: int = Field(0, ge=0)
    asof: dt.date | None = None
    measure: Literal["risk_neutral", "model"] = "risk_neutral"


class HostingScenariosRequest(Scenarios):
    measure: Literal["risk_neutral", "model"] = "model"
    site_power_cost_usd_per_kwh: float | None = Field(None, ge=0)


class LeaseRiskRequest(Scenarios):
    measure: Literal["risk_neutral", "model"] = "model"


def _inputs(
    contract: Any, request: Scenarios, state: ServiceState
) -> tuple[Market, Any, MonteCarloConfig, dict[str, Any]]:
    resolved = state.asof(request.asof)
    setup = ValuationSetup(asof=resolved.date)
    calibration = state.calibration(setup)
    market = market_with_past(contract, history=state.history, calibration=calibration, setup=setup)
    config = MonteCarloConfig(
        n_paths=request.paths, seed=request.seed, workers=1, measure=request.measure
    )
    return market, calibration.model, config, resolved.to_dict()


@router.post("/cloud/value", summary="A cloud hashrate contract's value to its buyer")
def cloud_value(request: Scenarios, state: ServiceState = Depends(service)) -> dict[str, Any]:
    """Fair up-front price (the buyer's expected PV of the net outputs), the buyer's NPV at
    the price, the flat break-even hashprice, the chance and expected day of a shut-off."""
    contract = parse_contract(request.spec, CloudHashrate)
    market, model, config, data_asof = _inputs(contract, request, state)
    result = cloud_valuation(contract, market=market, model=model, config=config)
    return {**result.to_dict(), "data_asof": data_asof}


class StatementsRequest(BaseModel):
    spec: dict[str, Any] = Field(..., description="A hosting spec, as in examples/specs/")
    through: dt.date | None = Field(None, description="Default: the as-of date")
    site_power_cost_usd_per_kwh: Decimal | None = Field(None, ge=0)


def _published(
    state: ServiceState, first: dt.date, through: dt.date | None
) -> tuple[Fixings | None, dt.date]:
    last = through or state.asof().date
    if last > state.history.last_date:
        raise HTTPException(422, f"through {last} is after the last day of data")
    return (published_path(state.history, first, last) if last >= first else None), last


@router.post("/hosting/statements", summary="A hosting agreement's daily statements")
def hosting_statements(
    request: StatementsRequest, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """Each day's statement from the published fixings and the period's economics for the
    client and the site."""
    hosting = parse_contract(request.spec, Hosting)
    published, last = _published(state, hosting.start, request.through)
    rows = []
    if published is not None:
        days = published.between(hosting.start, min(last, hosting.end))
        rows = hosting.statements(
            days, site_power_cost_usd_per_kwh=request.site_power_cost_usd_per_kwh
        )
    return {
        "period": _strings(hosting_period(hosting, rows).to_dict()),
        "statements": [_strings(r.to_dict()) for r in rows],
    }


def _strings(record: dict[str, Any]) -> dict[str, Any]:
    """Exact decimals as strings (JSON numbers would round them)."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in record.items()}


@router.post("/hosting/scenarios", summary="Hosting economics over scenarios")
def hosting_over_scenarios(
    request: HostingScenariosRequest, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """The client's net and the site's margin over the remaining days, over scenario paths."""
    hosting = parse_contract(request.spec, Hosting)
    market, model, config, data_asof = _inputs(hosting, request, state)
    drawn = scenario_paths(hosting, market=market, model=model, config=config)
    result = hosting_scenarios(
        hosting,
        drawn.fixings.between(max(hosting.start, market.asof), hosting.end),
        site_power_cost_usd_per_kwh=request.site_power_cost_usd_per_kwh,
    )
    return {
        "asof": market.asof.isoformat(),
        "client_pv_usd": drawn.value,
        "client_breakeven_hashprice_usd_per_ph_day": client_breakeven_hashprice_usd_per_ph_day(
            hosting
        ),
        **result.to_dict(),
        "data_asof": data_asof,
    }


class LeaseSpec(BaseModel):
    spec: dict[str, Any] = Field(..., description="A machine_lease spec, as in examples/specs/")


@router.post("/lease/schedule", summary="A machine lease's instalment schedule, in cents")
def lease_schedule(request: LeaseSpec) -> dict[str, Any]:
    lease = parse_contract(request.spec, MachineLease)
    return {
        "financed_cents": lease.financed_cents,
        "instalments": [r.to_dict() for r in lease.schedule],
    }


@router.post("/lease/risk", summary="A lessor's probability of default and expected loss")
def lease_credit_risk(
    request: LeaseRiskRequest, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    lease = parse_contract(request.spec, MachineLease)
    market, model, config, data_asof = _inputs(lease, request, state)
    result = lease_risk(lease, market=market, model=model, config=config)
    return {**result.to_dict(), "data_asof": data_asof}


# ---- on the ledger (admin: the settle permission) ------------------------------------------


class CloudRun(BaseModel):
    spec: dict[str, Any]
    contract_id: str = Field(..., min_length=1, max_length=64)
    provider_btc: Int64 = Field(..., gt=0)
    buyer_btc: Int64 = Field(..., gt=0)
    buyer_payment: Int64 = Field(..., gt=0, description="The buyer's USD or BTC account")
    provider_payment: Int64 = Field(..., gt=0)
    through: dt.date | None = Field(None, description="Default: the as-of date")

    def accounts(self) -> CloudAccounts:
        return CloudAccounts(
            self.provider_btc, self.buyer_btc, self.buyer_payment, self.provider_payment
        )


@router.post("/cloud/purchase", summary="Book a cloud contract's up-front payment (admin)")
def cloud_purchase(
    request: CloudRun, key: ApiKey = SETTLE, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    contract = parse_contract(request.spec, CloudHashrate)
    with state.ledger() as ledger:
        amount = purchase_cloud(ledger, request.contract_id, contract, request.accounts())
    return {"contract_id": request.contract_id, "price_minor": amount}


@router.post("/cloud/pay", summary="Pay a cloud contract's daily outputs (admin)")
def cloud_pay(
    request: CloudRun, key: ApiKey = SETTLE, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """Every day through ``through`` not yet paid; a shut-off is recorded and stops it."""
    contract = parse_contract(request.spec, CloudHashrate)
    published, last = _published(state, contract.start, request.through)
    with state.ledger() as ledger:
        run = pay_cloud(
            ledger,
            request.contract_id,
            contract,
            request.accounts(),
            published,
            through=last,
        )
    return run.to_dict()


class HostingRunRequest(BaseModel):
    spec: dict[str, Any]
    agreement_id: str = Field(..., min_length=1, max_length=64)
    site_btc: Int64 = Field(..., gt=0)
    client_btc: Int64 = Field(..., gt=0)
    client_usd: Int64 = Field(..., gt=0)
    site_usd: Int64 = Field(..., gt=0)
    through: dt.date | None = None


@router.post("/hosting/pay", summary="Pay a hosting agreement's daily statements (admin)")
def hosting_pay(
    request: HostingRunRequest, key: ApiKey = SETTLE, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    hosting = parse_contract(request.spec, Hosting)
    published, last = _published(state, hosting.start, request.through)
    accounts = HostingAccounts(
        request.site_btc, request.client_btc, request.client_usd, request.site_usd
    )
    with state.ledger() as ledger:
        run = settle_hosting(
            ledger,
            request.agreement_id,
            hosting,
            accounts,
            published,
            through=last,
        )
    record = run.to_dict()
    record["statements"] = [_strings(s) for s in record["statements"]]
    return record


class LeaseBookRequest(BaseModel):
    spec: dict[str, Any]
    lease_id: str = Field(..., min_length=1, max_length=64)
    lessor_usd: Int64 = Field(..., gt=0)
    lessee_usd: Int64 = Field(..., gt=0)
    lessor_machines: Int64 = Field(..., gt=0)
    lessee_machines: Int64 = Field(..., gt=0)
    through: dt.date | None = None


@router.post("/lease/book", summary="Book a machine lease through a day (admin)")
def lease_book(
    request: LeaseBookRequest, key: ApiKey = SETTLE, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    lease = parse_contract(request.spec, MachineLease)
    published, last = _published(state, lease.start, request.through)
    accounts = LeaseAccounts(
        request.lessor_usd, request.lessee_usd, request.lessor_machines, request.lessee_machines
    )
    with state.ledger() as ledger:
        booking = book_lease(ledger, request.lease_id, lease, accounts, published, through=last)
    return booking.to_dict()
