"""Public, read-only: the hashprice index, its fixings, and data coverage."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from hashmarket.api.state import ServiceState, service
from hashmarket.chain import field_summary, source_summary
from hashmarket.index import Method, fixings
from hashmarket.units import Currency, HashrateUnit

router = APIRouter(prefix="/api/v1", tags=["index"])

ASOF_HEADER = "X-Hashmarket-Asof"
SUBSIDY_ONLY_HELP = "Let the as-of date be a day whose index value has no fee data"


@router.get(
    "/index/hashprice",
    summary="Daily hashprice index",
    response_model=list[dict[str, Any]],
    response_class=JSONResponse,
)
def hashprice(
    start: dt.date | None = None,
    end: dt.date | None = Query(None, description="Last day (default: the as-of date)"),
    last: int | None = Query(None, ge=1, le=100_000, description="Latest N days with a value"),
    unit: HashrateUnit = HashrateUnit.PH,
    currency: Currency = Currency.USD,
    method: Method = Method.FPPS,
    allow_subsidy_only: bool = Query(False, description=SUBSIDY_ONLY_HELP),
    state: ServiceState = Depends(service),
) -> JSONResponse:
    """One record per day; keys follow ``unit`` (``hashprice_usd_per_th_day``…); null where a
    value is missing. With no range, the 30 days with a value up to the as-of date (the last
    day with a complete index value), which the ``X-Hashmarket-Asof`` header names."""
    asof = state.asof(allow_subsidy_only=allow_subsidy_only)
    # Returned as a response so the cached records skip re-validation on every request.
    records = state.hashprice_records(
        start=start,
        end=end,
        last=last,
        unit=unit,
        currency=currency,
        method=method,
        asof=asof.date,
    )
    return JSONResponse(records, headers={ASOF_HEADER: asof.date.isoformat()})


@router.get("/asof", summary="The as-of date, its data coverage and staleness")
def asof_route(
    asof: dt.date | None = Query(None, description="A requested date to check"),
    allow_subsidy_only: bool = Query(False, description=SUBSIDY_ONLY_HELP),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    """The day every "latest" answer of this service refers to: by default the last day with a
    complete index value (FPPS with fees, and a BTC price); per field the first and last day
    of data; how many days old that is."""
    return state.asof(asof, allow_subsidy_only=allow_subsidy_only).to_dict()


@router.get("/index/fixings", summary="Published daily fixings with input hashes")
def index_fixings(
    start: dt.date | None = None,
    end: dt.date | None = None,
    currency: Literal["usd", "btc"] = "usd",
    method: Method = Method.FPPS,
    state: ServiceState = Depends(service),
) -> list[dict[str, Any]]:
    """Fixings at the contract tick, with methodology version and SHA-256 of the inputs.
    With no range, the two years to the as-of date."""
    history = state.history
    if start is None and end is None:
        end = state.asof().date
        start = end - dt.timedelta(days=730)
    return [
        f.to_dict() for f in fixings(history.between(start, end), currency=currency, method=method)
    ]


@router.get("/data/coverage", summary="Sources, licences and coverage per field")
def coverage(state: ServiceState = Depends(service)) -> dict[str, Any]:
    history = state.history
    return {
        "days": len(history.frame),
        "first": history.first_date.isoformat(),
        "last": history.last_date.isoformat(),
        "sources": source_summary(history),
        "fields": field_summary(history),
        "data_asof": state.asof().to_dict(),
    }


# Dates of past halvings (UTC day of block 210,000·n), public chain facts; the fourth is
# cited in the project's domain reference (block 840,000 on 2024-04-20 at about 00:09 UTC).
HALVINGS = (
    {"height": 210_000, "date": "2012-11-28"},
    {"height": 420_000, "date": "2016-07-09"},
    {"height": 630_000, "date": "2020-05-11"},
    {"height": 840_000, "date": "2024-04-20"},
)


@router.get("/index/hashprice/series", summary="Whole hashprice history as columns, for charts")
def hashprice_series(
    method: Method = Method.FPPS,
    allow_subsidy_only: bool = Query(False, description=SUBSIDY_ONLY_HELP),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    """Columnar arrays (dates, USD and BTC per PH/s/day, 30-day averages) of every day with a
    BTC value up to the as-of date, plus the halving dates, in one small response for the
    dashboard's chart."""
    asof = state.asof(allow_subsidy_only=allow_subsidy_only)
    table = state.hashprice(method).loc[: pd.Timestamp(asof.date)]
    rows = table[table["hashprice_btc_per_ph_day"].notna()]

    def column(name: str) -> list[float | None]:
        return [None if v != v else round(float(v), 10) for v in rows[name].to_numpy()]

    return {
        "method": method.value,
        "unit": "PH/s/day",
        "dates": [d.date().isoformat() for d in rows.index],
        "hashprice_usd_per_ph_day": column("hashprice_usd_per_ph_day"),
        "hashprice_btc_per_ph_day": column("hashprice_btc_per_ph_day"),
        "hashprice_usd_per_ph_day_30d": column("hashprice_usd_per_ph_day_30d"),
        "difficulty": column("difficulty"),
        "fees_included": [bool(v) for v in rows["fees_included"].to_numpy()],
        "halvings": list(HALVINGS),
        "asof": asof.date.isoformat(),
        "data_asof": asof.to_dict(),
    }
