"""The move to AI, for a miner: the value of converting part of a site to AI compute.

Authenticated (a read key), like the risk routes: a site's costs are private. A computation:
it changes nothing, so it needs no Idempotency-Key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hashmarket.api.keys import ApiKey, Permission
from hashmarket.api.security import require
from hashmarket.api.state import ServiceState, service
from hashmarket.errors import UsageError
from hashmarket.index import load_bundled_quotes
from hashmarket.operations import convert, parse_conversion_site, with_overrides

router = APIRouter(prefix="/api/v1", tags=["operations"])

READ = Depends(require(Permission.READ))
# 2,000 paths of an eight-year horizon take about 0.5 GB; the service allows 5,000.
MAX_PATHS = 5_000


class ConvertRequest(BaseModel):
    site: dict[str, Any] = Field(
        ..., description="A conversion site, as in examples/conversion/site.json"
    )
    fraction: float | None = Field(None, gt=0, le=1, description="Overrides the site's")
    paths: int | None = Field(None, ge=10, le=MAX_PATHS, description="Overrides the site's")
    seed: int | None = Field(None, ge=0, description="Overrides the site's")


@router.post("/convert", summary="Convert a mining site to AI: NPV, IRR, waiting, break-even")
def convert_site(
    request: ConvertRequest, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """NPV and IRR distributions over joint hashprice and GPU-hour price paths, the value of
    waiting (yearly decisions, least-squares Monte Carlo) and the break-even AI price, as of
    the service's as-of date (see docs/conversion.md)."""
    site = with_overrides(
        parse_conversion_site(request.site, path="site"),
        fraction=request.fraction,
        paths=request.paths,
        seed=request.seed,
    )
    if site.valuation.n_paths > MAX_PATHS:
        raise UsageError(
            "bad_option",
            option="site.valuation.paths",
            problem=f"at most {MAX_PATHS:,} on the service, got {site.valuation.n_paths:,}",
        )
    resolved = state.asof()
    report = convert(site, history=state.history, quotes=load_bundled_quotes(), asof=resolved.date)
    return {**report.to_dict(), "data_asof": resolved.to_dict()}
