"""Authenticated: a hashrate fund (ETP) on the ledger, from its spec given in the body: NAV,
the daily strike, creation and redemption by authorised participants, the report (NAV
history, premium/discount, tracking error). See docs/fund.md."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, Field

from hashmarket.api.fields import Int64
from hashmarket.api.keys import ApiKey, Permission
from hashmarket.api.security import check_account, require
from hashmarket.api.state import ServiceState, service
from hashmarket.chain import NetworkHistory
from hashmarket.errors import DataError
from hashmarket.instruments import FundTerms, parse_fund_spec
from hashmarket.ledger import fund as fd
from hashmarket.ledger import tokens as tk
from hashmarket.pricing import read_secondary_prices

router = APIRouter(prefix="/api/v1", tags=["fund"])

READ = Depends(require(Permission.READ))
TRANSFER = Depends(require(Permission.TRANSFER))
ISSUE = Depends(require(Permission.ISSUE))
EXAMPLE_SPEC = "fund.json"
EXAMPLE_PRICES = "fund_secondary_prices_illustrative.csv"


def _rate(history: NetworkHistory, day: dt.date) -> tk.DayRate:
    rates = fd.day_rates(history, day, day)
    if day not in rates:
        raise DataError("no_fixing", day=day, problem="no published BTC and USD fixings")
    return rates[day]


class FundSpec(BaseModel):
    spec: dict[str, Any] = Field(..., description="The fund's spec (see examples/fund).")

    def terms(self) -> FundTerms:
        return parse_fund_spec(self.spec)


class DayRequest(FundSpec):
    day: dt.date


class OrderRequest(FundSpec):
    order_id: str = Field(..., min_length=1, max_length=128)
    share_account_id: Int64
    token_account_id: Int64
    btc_account_id: Int64
    creation_units: int = Field(..., ge=1, le=1_000_000)
    received_at: AwareDatetime = Field(..., description="ISO 8601 with its offset")


class ReportRequest(FundSpec):
    start: dt.date | None = None
    end: dt.date | None = None
    prices_csv: str | None = Field(None, description="date,price_sats_per_share rows")
    window_days: int = Field(30, ge=2, le=3660)


@router.get("/fund/example", summary="The example fund spec and illustrative secondary prices")
def fund_example() -> dict[str, Any]:
    """The example fund (examples/fund/fund.json) and a **made-up** series of secondary
    prices (not market data) for trying the report."""
    import json

    folder = resources.files("hashmarket.data").joinpath("examples")
    return {
        "spec": json.loads(folder.joinpath(EXAMPLE_SPEC).read_text(encoding="utf-8")),
        "prices_csv": folder.joinpath(EXAMPLE_PRICES).read_text(encoding="utf-8"),
        "note": "illustrative secondary prices, not market data",
    }


@router.post("/fund/nav", summary="A day's NAV from the ledger and the day's fixings")
def fund_nav(
    request: DayRequest, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    terms = request.terms()
    rate = _rate(state.history, request.day)
    with state.ledger() as ledger:
        return fd.nav(ledger, terms, rate).to_dict()


@router.post("/fund/strike", summary="Strike a day: book its fee and distribution")
def fund_strike(
    request: DayRequest, key: ApiKey = ISSUE, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """In the day's dealing window (the day after it), once the day before is struck;
    striking a day again books nothing."""
    terms = request.terms()
    history = state.history
    previous = None
    if request.day > terms.launch_day:
        previous = _rate(history, request.day - dt.timedelta(days=1))
    rate = _rate(history, request.day)
    with state.ledger() as ledger:
        return fd.strike(ledger, terms, rate, previous=previous).to_dict()


def _deal(request: OrderRequest, key: ApiKey, state: ServiceState, side: str) -> dict[str, Any]:
    for account in (request.share_account_id, request.token_account_id, request.btc_account_id):
        check_account(key, str(account))
    terms = request.terms()
    order = fd.Order(
        order_id=request.order_id,
        share_account_id=request.share_account_id,
        token_account_id=request.token_account_id,
        btc_account_id=request.btc_account_id,
        creation_units=request.creation_units,
        received_at=request.received_at,
    )
    rate = _rate(state.history, terms.dealing_day(request.received_at))
    book = fd.create_shares if side == "create" else fd.redeem_shares
    with state.ledger() as ledger:
        return book(ledger, terms, order, rate).to_dict()


@router.post("/fund/create-shares", summary="An AP creates shares in kind")
def fund_create_shares(
    request: OrderRequest, key: ApiKey = TRANSFER, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """Tokens and the cash component in sats in, shares out, at the NAV of the order's
    dealing day (before the cut-off: that day; after it: the next)."""
    return _deal(request, key, state, "create")


@router.post("/fund/redeem", summary="An AP redeems shares in kind")
def fund_redeem(
    request: OrderRequest, key: ApiKey = TRANSFER, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    return _deal(request, key, state, "redeem")


@router.post("/fund/report", summary="NAV history, premium/discount and tracking error")
def fund_report(
    request: ReportRequest, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    terms = request.terms()
    history = state.history
    prices = None
    if request.prices_csv:
        prices = read_secondary_prices(request.prices_csv, name="prices_csv")
    rates = fd.day_rates(
        history, request.start or terms.launch_day, request.end or history.last_date
    )
    with state.ledger() as ledger:
        out = fd.report(ledger, terms, rates, prices=prices, window_days=request.window_days)
    return {"fund": terms.fund, **out.to_dict()}
