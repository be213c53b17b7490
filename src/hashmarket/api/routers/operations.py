"""Public computations for miners and compute markets: the GPU-hour index, the ASIC catalogue,
breakeven points, and the hourly dispatch of a site's power."""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from hashmarket.api.state import ServiceState, service
from hashmarket.index import Method, Methodology, Period, gpu_fixings, load_bundled_quotes
from hashmarket.operations import (
    Costs,
    DispatchComparison,
    Fleet,
    apply_conversion,
    breakeven,
    compare,
    load_catalogue,
    parse_conversion_plan,
    parse_site,
    read_prices,
)

router = APIRouter(prefix="/api/v1", tags=["operations"])

EXAMPLE_SITE = "dispatch_site.json"
EXAMPLE_PRICES = "dispatch_prices_week_generated.csv"


@router.get("/index/gpu", summary="GPU-hour index fixings from the bundled quotes")
def gpu_index(
    model: str | None = Query(None, description="GPU model, e.g. H100"),
    term: str | None = Query(None, description="on-demand, reserved or spot"),
    period: Period = Period.ALL,
) -> list[dict[str, Any]]:
    """Volume-weighted medians after MAD screening, one per period × model × term, each with its
    methodology version and input hash (see docs/compute-index.md)."""
    fixings = gpu_fixings(load_bundled_quotes(), methodology=Methodology(period=period))
    return [
        f.to_dict()
        for f in fixings
        if (model is None or f.gpu_model.lower() == model.lower())
        and (term is None or f.term == term)
    ]


@router.get("/miner/models", summary="The ASIC catalogue")
def miner_models() -> list[dict[str, Any]]:
    return [
        {
            "model": m.model,
            "maker": m.maker,
            "hashrate_ths": m.hashrate_ths,
            "power_w": m.power_w,
            "efficiency_j_per_th": m.efficiency_j_per_th,
        }
        for m in load_catalogue()
    ]


@router.get("/miner/breakeven", summary="Breakeven and shutdown hashprice of a fleet")
def miner_breakeven(
    machine: str = Query(..., description="A catalogue model, e.g. 'Antminer S21'"),
    count: int = Query(1, ge=1, le=10_000_000),
    power_price_usd_per_kwh: float = Query(..., ge=0, le=10),
    pool_fee_fraction: float = Query(0.0, ge=0, lt=1),
    hosting_usd_per_kwh: float = Query(0.0, ge=0),
    service_usd_per_th_day: float = Query(0.0, ge=0),
    fixed_usd_per_day: float = Query(0.0, ge=0),
    uptime_fraction: float = Query(1.0, gt=0, le=1),
    hashprice_usd_per_ph_day: float | None = Query(
        None, ge=0, description="Default: the index value of the as-of date"
    ),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    fleet = Fleet.of(load_catalogue().get(machine), count)
    asof = state.asof()
    hashprice_as_of = "given"
    if hashprice_usd_per_ph_day is None:
        table = state.hashprice(Method.FPPS)
        hashprice_usd_per_ph_day = float(
            table.at[pd.Timestamp(asof.date), "hashprice_usd_per_ph_day"]
        )
        hashprice_as_of = asof.date.isoformat()
    costs = Costs(
        power_price_usd_per_kwh=power_price_usd_per_kwh,
        pool_fee_fraction=pool_fee_fraction,
        hosting_usd_per_kwh=hosting_usd_per_kwh,
        service_usd_per_th_day=service_usd_per_th_day,
        fixed_usd_per_day=fixed_usd_per_day,
        uptime_fraction=uptime_fraction,
    )
    result = breakeven(fleet, costs, hashprice_usd_per_ph_day=hashprice_usd_per_ph_day)
    return {
        "fleet": fleet.describe(),
        "hashrate_phs": fleet.hashrate_phs,
        "efficiency_j_per_th": fleet.efficiency_j_per_th,
        "breakeven_hashprice_usd_per_ph_day": result.breakeven_hashprice_usd_per_ph_day,
        "shutdown_hashprice_usd_per_ph_day": result.shutdown_hashprice_usd_per_ph_day,
        "hashprice_usd_per_ph_day": result.hashprice_usd_per_ph_day,
        "breakeven_power_price_usd_per_kwh": result.breakeven_power_price_usd_per_kwh,
        "margin_usd_per_day": result.margin_usd_per_day,
        "hashprice_as_of": hashprice_as_of,
        "data_asof": asof.to_dict(),
    }


class DispatchRequest(BaseModel):
    site: dict[str, Any] = Field(..., description="A site, as in examples/dispatch/site.json")
    prices_csv: str = Field(
        ...,
        description="Hourly prices: time_utc,price_usd_per_mwh[,gpu_price_usd_per_gpu_hour,…]",
        max_length=2_000_000,
    )
    conversion: dict[str, Any] | None = Field(
        None, description="A conversion plan applied first, as in examples/dispatch/conversion.json"
    )


def _comparison_body(comparison: DispatchComparison) -> dict[str, Any]:
    plan = comparison.optimal
    hours = plan.hours
    return {
        "site": comparison.site.name,
        "policies": [
            {"policy": str(policy), **{k: float(v) for k, v in row.items()}}
            for policy, row in comparison.summary().iterrows()
        ],
        "hours": {
            "time_utc": [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in hours.index],
            **{str(c): [float(v) for v in hours[c].to_numpy()] for c in hours.columns},
        },
    }


def run_dispatch(
    site_data: dict[str, Any], prices_csv: str, conversion: dict[str, Any] | None = None
) -> dict[str, Any]:
    site = parse_site(site_data, path="site")
    if conversion is not None:
        plan = parse_conversion_plan(conversion, path="conversion")
        site = apply_conversion(site, plan, plan_name="conversion")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "prices.csv"
        path.write_text(prices_csv, encoding="utf-8")
        market = read_prices(path, site, display_name="prices_csv")
    return _comparison_body(compare(site, market))


@router.post("/dispatch", summary="Hourly plan: mine, serve AI or curtail")
def dispatch(request: DispatchRequest) -> dict[str, Any]:
    """Optimal hourly plan of the site's power and the comparison with mine-only and AI-only.
    A computation: it changes nothing, so it needs no Idempotency-Key."""
    return run_dispatch(request.site, request.prices_csv, request.conversion)


@router.get("/dispatch/example", summary="The example site and a generated week of prices")
def dispatch_example() -> dict[str, Any]:
    """Inputs for trying the dispatch: an illustrative 20 MW site and one week of **generated**
    hourly prices (not market data)."""
    import json

    folder = resources.files("hashmarket.data").joinpath("examples")
    return {
        "site": json.loads(folder.joinpath(EXAMPLE_SITE).read_text(encoding="utf-8")),
        "prices_csv": folder.joinpath(EXAMPLE_PRICES).read_text(encoding="utf-8"),
        "note": "generated prices, not market data",
    }
