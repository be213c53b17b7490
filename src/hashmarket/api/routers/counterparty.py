"""Counterparty credit risk of a netting set: its exposure profile and CVA, with and without
margin (``hashmarket cva``). It changes nothing, so it needs no Idempotency-Key; it is
authenticated because a book and its counterparties are private."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hashmarket.api.keys import ApiKey, Permission
from hashmarket.api.security import require
from hashmarket.api.state import ServiceState, service
from hashmarket.pricing import ValuationSetup, market_for
from hashmarket.risk import counterparty_report, parse_netting_set, past_fixings

router = APIRouter(prefix="/api/v1", tags=["risk"])

READ = Depends(require(Permission.READ))
MAX_PATHS = 20_000


class CvaRequest(BaseModel):
    netting_set: dict[str, Any] = Field(
        ...,
        description="Counterparty, collateral agreement and positions, as in "
        "examples/risk/counterparty.json (instruments inline)",
    )
    paths: int = Field(2_000, ge=200, le=MAX_PATHS)
    seed: int = Field(0, ge=0)


@router.post("/cva", summary="Exposure profile (EE, PFE) and CVA of a netting set")
def cva(
    request: CvaRequest, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """EE and PFE at 95 %/99 % per month end, the counterparty's hazard rate, and the CVA
    with and without the collateral agreement, on ``paths`` scenarios."""
    spec = parse_netting_set(request.netting_set)
    resolved = state.asof()
    setup = ValuationSetup(asof=resolved.date)
    calibration = state.calibration(setup)
    market = market_for(
        calibration,
        setup,
        past_fixings=past_fixings(spec.netting_set, state.history, calibration.state),
    )
    report = counterparty_report(
        spec.name,
        spec.netting_set,
        counterparty=spec.counterparty,
        collateral=spec.collateral,
        market=market,
        model=calibration.model,
        n_paths=request.paths,
        seed=request.seed,
    )
    return {**report.to_dict(), "data_asof": resolved.to_dict()}
