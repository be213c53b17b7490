"""Authenticated computations for a desk, a miner and a lender: portfolio risk, hedge plans
and loans.

They change nothing, so they need no Idempotency-Key; they are authenticated because a book
and a miner's costs are private."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hashmarket.api.keys import ApiKey, Permission
from hashmarket.api.routers import lending_rate
from hashmarket.api.security import require
from hashmarket.api.state import ServiceState, service
from hashmarket.pricing import ValuationSetup, market_for
from hashmarket.risk import (
    LeverageOutcome,
    hedge_analysis,
    lending_analysis,
    levels_from_history,
    parse_lending,
    parse_miner,
    parse_portfolio,
    past_fixings,
    portfolio_report,
    with_horizon,
)

router = APIRouter(prefix="/api/v1", tags=["risk"])

READ = Depends(require(Permission.READ))
MAX_PATHS = 50_000


class HedgeRequest(BaseModel):
    miner: dict[str, Any] = Field(
        ..., description="A miner profile, as in examples/risk/miner.json"
    )
    paths: int = Field(5_000, ge=200, le=MAX_PATHS)
    seed: int = Field(0, ge=0)
    coverage: float | None = Field(None, ge=0.5, lt=1)
    horizon_months: int | None = Field(None, ge=1, le=120)


@router.post("/hedge", summary="A miner's hedge plan, checked on an independent seed")
def hedge(
    request: HedgeRequest, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    spec = with_horizon(parse_miner(request.miner), request.horizon_months)
    resolved = state.asof()
    calibration = state.calibration(ValuationSetup(asof=resolved.date))
    analysis = hedge_analysis(
        spec,
        model=calibration.model,
        state=calibration.state,
        n_paths=request.paths,
        seed=request.seed,
        coverage=request.coverage,
        history=state.history,
    )
    return {**analysis.to_dict(), "data_asof": resolved.to_dict()}


class RiskRequest(BaseModel):
    portfolio: dict[str, Any] = Field(..., description="Positions with inline instrument specs")
    confidences: list[float] = Field([0.99], min_length=1, max_length=5)
    horizon_days: int = Field(10, ge=1, le=365)
    paths: int = Field(5_000, ge=200, le=MAX_PATHS)
    seed: int = Field(0, ge=0)
    historical: bool = True


@router.post("/risk", summary="Portfolio VaR/ES (Monte Carlo and historical) and stress tests")
def risk(
    request: RiskRequest, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    history = state.history
    resolved = state.asof()
    setup = ValuationSetup(asof=resolved.date)
    calibration = state.calibration(setup)
    portfolio = parse_portfolio(
        request.portfolio, levels_for=levels_from_history(history, asof=calibration.state.asof)
    )
    market = market_for(
        calibration, setup, past_fixings=past_fixings(portfolio, history, calibration.state)
    )
    result = portfolio_report(
        portfolio,
        history=history,
        model=calibration.model,
        market=market,
        confidences=tuple(request.confidences),
        horizon_days=request.horizon_days,
        n_paths=request.paths,
        seed=request.seed,
        workers=1,
        historical=request.historical,
        block_days=None,
        window_days=4 * 365,
    )
    return {**result.to_dict(), "data_asof": resolved.to_dict()}


class LoanRequest(BaseModel):
    loan: dict[str, Any] = Field(
        ..., description="A loan, deliverable forward or leveraged BTC position (examples/risk/)"
    )
    paths: int = Field(5_000, ge=200, le=MAX_PATHS)
    seed: int = Field(0, ge=0)
    horizon_days: int | None = Field(None, ge=1, le=3650)


@router.post("/loans/analyze", summary="A loan's LTV levels and its life over scenarios")
def analyze_loan(
    request: LoanRequest, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """Haircut-based LTV levels, probabilities of a margin call and of liquidation, expected
    loss to the lender; or a leveraged BTC position's liquidation price and P&L."""
    history = state.history
    resolved = state.asof()
    calibration = state.calibration(ValuationSetup(asof=resolved.date))
    levels_for = levels_from_history(history, asof=calibration.state.asof)
    result = lending_analysis(
        parse_lending(request.loan, levels_for=levels_for, rates_for=lending_rate.rates_for(state)),
        levels_for=levels_for,
        model=calibration.model,
        state=calibration.state,
        n_paths=request.paths,
        seed=request.seed,
        horizon_days=request.horizon_days,
    )
    body = result.summary() if isinstance(result, LeverageOutcome) else result.to_dict()
    return {**body, "data_asof": resolved.to_dict()}
