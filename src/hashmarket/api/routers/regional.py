"""Public computations on regional power: the regional mining-margin index of a posted power
price series, and the value of a regional contract (basis swap, power forward, margin lock)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hashmarket.api.state import ServiceState, service
from hashmarket.index import (
    EXAMPLE_POWER_FILE,
    REFERENCE_EFFICIENCY_J_PER_TH,
    PowerPrices,
    load_example_power_prices,
    read_power_prices,
    regional_fixings,
)
from hashmarket.instruments import parse_spec, to_spec
from hashmarket.pricing import MonteCarloConfig, ValuationSetup, price, regional_setup

router = APIRouter(prefix="/api/v1", tags=["regional"])

MAX_CSV_CHARS = 5_000_000
MAX_PATHS = 200_000
POWER_CSV = Field(
    None,
    description="Daily power prices: date,region,price_usd_per_kwh (or price_usd_per_mwh); "
    f"default: the GENERATED example series {EXAMPLE_POWER_FILE} (not market data)",
    max_length=MAX_CSV_CHARS,
)


def power_prices_from_text(text: str | None) -> tuple[PowerPrices, str]:
    """The posted series (errors name ``power_csv`` and the line), or the generated example."""
    if text is None:
        return load_example_power_prices(), f"{EXAMPLE_POWER_FILE} (GENERATED example)"
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "power.csv"
        path.write_text(text, encoding="utf-8")
        return read_power_prices(path, display_name="power_csv"), "power_csv"


class RegionalIndexRequest(BaseModel):
    power_csv: str | None = POWER_CSV
    efficiency_j_per_th: float = Field(REFERENCE_EFFICIENCY_J_PER_TH, gt=0, le=1000)
    regions: list[str] | None = Field(None, description="Only these regions (default: all)")
    start: dt.date | None = None
    end: dt.date | None = None


@router.post("/index/regional", summary="Regional mining-margin fixings of a power series")
def regional_index(
    request: RegionalIndexRequest, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """Hashprice fixing less the region's power cost at the efficiency, per day and region,
    each with its methodology version and input hash (see docs/regional.md). A computation:
    it changes nothing, so it needs no Idempotency-Key."""
    prices, source = power_prices_from_text(request.power_csv)
    fixings = regional_fixings(
        state.history,
        prices,
        efficiency_j_per_th=request.efficiency_j_per_th,
        regions=request.regions,
        start=request.start,
        end=request.end,
    )
    return {
        "source": source,
        "power_file_sha256": prices.sha256,
        "fixings": [f.to_dict() for f in fixings],
    }


class RegionalPriceRequest(BaseModel):
    spec: dict[str, Any] = Field(..., description="A regional spec, as in examples/specs/")
    power_csv: str | None = POWER_CSV
    paths: int = Field(10_000, ge=100, le=MAX_PATHS)
    seed: int = Field(0, ge=0)
    asof: dt.date | None = None
    usd_rate: float = Field(0.0, ge=-0.5, le=1.0)


def price_regional(
    spec: dict[str, Any],
    state: ServiceState,
    *,
    power_csv: str | None = None,
    paths: int = 10_000,
    seed: int = 0,
    asof: dt.date | None = None,
    usd_rate: float = 0.0,
) -> dict[str, Any]:
    """Value a regional spec on the calibrated network model and the posted power series."""
    instrument: Any = parse_spec(spec)
    prices, source = power_prices_from_text(power_csv)
    resolved = state.asof(asof)
    setup = ValuationSetup(asof=resolved.date, usd_rate=usd_rate)
    calibration = state.calibration(setup)
    regional = regional_setup(
        instrument,
        history=state.history,
        calibration=calibration,
        setup=setup,
        prices=prices,
        source=source,
    )
    result = price(
        instrument,
        market=regional.market,
        model=regional.model,
        config=MonteCarloConfig(n_paths=paths, seed=seed, workers=1),
    )
    return {
        "instrument": to_spec(instrument),
        "asof": calibration.state.asof.isoformat(),
        **result.to_dict(),
        "regional": regional.to_dict(),
        "data_asof": resolved.to_dict(),
    }


@router.post("/regional/price", summary="Value a regional contract on a power series")
def regional_price(
    request: RegionalPriceRequest, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """Value, standard error, paths and seed of a regional basis swap, power forward or margin
    lock, with each region's fitted power model and its correlation to hashprice. A
    computation: it changes nothing, so it needs no Idempotency-Key."""
    return price_regional(
        request.spec,
        state,
        power_csv=request.power_csv,
        paths=request.paths,
        seed=request.seed,
        asof=request.asof,
        usd_rate=request.usd_rate,
    )
