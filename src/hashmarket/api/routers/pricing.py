"""Public computations: the hashprice forward curve and the value of a posted instrument."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from hashmarket.api.state import ServiceState, service
from hashmarket.instruments import SettlementCurrency, parse_spec, to_spec
from hashmarket.pricing import (
    COMPUTE,
    REGIONAL,
    MonteCarloConfig,
    ValuationSetup,
    engine_for,
    forward_curve,
    value_instrument,
)

router = APIRouter(prefix="/api/v1", tags=["pricing"])

MAX_PATHS = 200_000  # a request is answered within seconds, not minutes


@router.get("/curve/hashprice", summary="Hashprice forward curve with P5/P50/P95 bands")
def curve(
    asof: dt.date | None = Query(
        None, description="Valuation date (default: the last day with a complete index value)"
    ),
    months: int = Query(12, ge=1, le=36),
    paths: int = Query(5_000, ge=100, le=MAX_PATHS),
    seed: int = Query(0, ge=0),
    currency: SettlementCurrency = SettlementCurrency.USD,
    price_model: Literal["gbm", "merton"] = "gbm",
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    resolved = state.asof(asof)
    setup = ValuationSetup(asof=resolved.date, price_model=price_model)
    calibration = state.calibration(setup)
    result = forward_curve(
        calibration=calibration,
        setup=setup,
        months=months,
        config=MonteCarloConfig(n_paths=paths, seed=seed, workers=1),
        currency=currency,
    )
    return {
        "asof": result.asof.isoformat(),
        "currency": result.currency,
        "unit": f"{result.currency}_per_ph_day",
        "n_paths": result.n_paths,
        "seed": result.seed,
        f"spot_{result.currency}_per_ph_day": result.spot,
        "months": result.to_records(),
        "calibration": calibration.report.to_dict(),
        "data_asof": resolved.to_dict(),
    }


class PriceRequest(BaseModel):
    spec: dict[str, Any] = Field(..., description="An instrument spec, as in examples/specs/")
    paths: int = Field(10_000, ge=100, le=MAX_PATHS)
    seed: int = Field(0, ge=0)
    engine: Literal["mc", "analytic"] = "mc"
    method: Literal["plain", "pseudo", "sobol"] = Field(
        "plain",
        description="Monte Carlo paths: plain (every network field every day), pseudo (what "
        "the contract reads, control variates) or sobol (as pseudo, scrambled Sobol points)",
    )
    asof: dt.date | None = None
    greeks: bool = False
    price_model: Literal["gbm", "merton"] = "gbm"
    usd_rate: float = Field(0.0, ge=-0.5, le=1.0)


@router.post("/price", summary="Value an instrument spec")
def price_instrument(
    request: PriceRequest, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """Value, standard error, paths, seed and Greeks of a posted spec. A computation: it changes
    nothing, so it needs no Idempotency-Key."""
    instrument = parse_spec(request.spec)
    if engine_for(type(instrument), request.engine).inputs is COMPUTE:
        return _price_compute(instrument, request)
    if engine_for(type(instrument), request.engine).inputs is REGIONAL:
        # The generated example power series; POST /regional/price takes your own.
        from hashmarket.api.routers.regional import price_regional

        return price_regional(
            request.spec, state, paths=request.paths, seed=request.seed, asof=request.asof
        )
    resolved = state.asof(request.asof)
    setup = ValuationSetup(
        asof=resolved.date, price_model=request.price_model, usd_rate=request.usd_rate
    )
    calibration = state.calibration(setup)
    result = value_instrument(
        instrument,
        history=state.history,
        calibration=calibration,
        setup=setup,
        config=MonteCarloConfig(
            n_paths=request.paths,
            seed=request.seed,
            workers=1,
            greeks=request.greeks,
            method=request.method,
        ),
        engine=request.engine,
    )
    return {
        "instrument": to_spec(instrument),
        "asof": calibration.state.asof.isoformat(),
        **result.to_dict(),
        "data_asof": resolved.to_dict(),
    }


def _price_compute(instrument: Any, request: PriceRequest) -> dict[str, Any]:
    """A compute contract: the GPU-hour model and market from the bundled GPU quotes' index
    fixings of the contract's model and term, as the command line does (``hashmarket price``)."""
    from hashmarket.index import BUNDLED_QUOTES_FILE, load_bundled_quotes
    from hashmarket.pricing import compute_index_of, compute_setup, price

    gpu_model, term = compute_index_of(instrument)
    setup = compute_setup(
        load_bundled_quotes(),
        gpu_model=gpu_model,
        term=term,
        asof=request.asof,
        usd_rate=request.usd_rate,
        source=BUNDLED_QUOTES_FILE,
    )
    config = MonteCarloConfig(
        n_paths=request.paths, seed=request.seed, workers=1, greeks=request.greeks
    )
    result = price(
        instrument, market=setup.market, model=setup.model, config=config, engine=request.engine
    )
    return {
        "instrument": to_spec(instrument),
        "asof": setup.market.asof.isoformat(),
        **result.to_dict(),
        "gpu_index": setup.to_dict(),
    }
