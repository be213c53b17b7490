"""A machine loan borrowed in BTC or in USD, and the lender's puts, on one set of scenarios
(``hashmarket loan-currency`` and ``hashmarket loan-protect``).

Computations that change nothing: authenticated with the read role, like ``/loans/analyze``
(a loan's terms are private), no Idempotency-Key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hashmarket.api.keys import ApiKey, Permission
from hashmarket.api.security import require
from hashmarket.api.state import ServiceState, service
from hashmarket.errors import RiskError
from hashmarket.instruments import Loan
from hashmarket.pricing import ValuationSetup, market_for
from hashmarket.risk import (
    currency_comparison,
    levels_from_history,
    parse_lending,
    protection_analysis,
)

router = APIRouter(prefix="/api/v1", tags=["risk"])

READ = Depends(require(Permission.READ))
MAX_PATHS = 50_000
# They compute and change nothing: no Idempotency-Key, and they take turns with the others.
COMPUTATIONS: frozenset[str] = frozenset({"/api/v1/loans/currency", "/api/v1/loans/protection"})


class CurrencyRequest(BaseModel):
    loan: dict[str, Any] = Field(..., description="A USD loan against machines (examples/risk/)")
    btc_rate_per_year: float | None = Field(None, ge=0, lt=1)
    paths: int = Field(5_000, ge=200, le=MAX_PATHS)
    seed: int = Field(0, ge=0)


class ProtectionRequest(BaseModel):
    loan: dict[str, Any] = Field(..., description="A USD loan against BTC or machines")
    paths: int = Field(5_000, ge=200, le=MAX_PATHS)
    seed: int = Field(0, ge=0)


def _loan(document: dict[str, Any], state: ServiceState, asof: Any) -> Loan:
    spec = parse_lending(document, levels_for=levels_from_history(state.history, asof=asof))
    if spec.loan is None:
        raise RiskError("risk_option", name="loan", problem="a leveraged position is not a loan")
    return spec.loan


@router.post("/loans/currency", summary="Borrow BTC or USD against the same machines")
def compare_currency(
    request: CurrencyRequest, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """Margin calls, liquidation, expected loss and the lender's P&L of the USD loan and its
    BTC twin, and the miner's net position at maturity in USD, on the same scenarios."""
    resolved = state.asof()
    calibration = state.calibration(ValuationSetup(asof=resolved.date))
    result = currency_comparison(
        _loan(request.loan, state, calibration.state.asof),
        btc_rate_per_year=request.btc_rate_per_year,
        model=calibration.model,
        state=calibration.state,
        n_paths=request.paths,
        seed=request.seed,
    )
    return {**result.to_dict(), "data_asof": resolved.to_dict()}


@router.post("/loans/protection", summary="The lender's puts struck at the liquidation line")
def protect(
    request: ProtectionRequest, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """The put's terms and premium (from the pricing engines), and the lender's loss with and
    without it over the loan's scenarios."""
    resolved = state.asof()
    setup = ValuationSetup(asof=resolved.date)
    calibration = state.calibration(setup)
    result = protection_analysis(
        _loan(request.loan, state, calibration.state.asof),
        model=calibration.model,
        state=calibration.state,
        market=market_for(calibration, setup),
        n_paths=request.paths,
        seed=request.seed,
    )
    return {**result.to_dict(), "data_asof": resolved.to_dict()}
