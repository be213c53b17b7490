"""Authenticated: accounts, balances, history and transfers; hashrate token series;
settlement of contracts.

Roles decide what a key may do (``api.keys.ROLE_PERMISSIONS``); a key bound to an account sees
and moves only that account. Every state-changing route runs behind the idempotency guard.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field, StrictInt, model_validator

from hashmarket.api.fields import ACCOUNT_ID, TRANSFER_ID, Int64
from hashmarket.api.keys import ApiKey, Permission, Role
from hashmarket.api.routers.regional import power_prices_from_text
from hashmarket.api.security import check_account, require
from hashmarket.api.state import ServiceState, service
from hashmarket.index import PowerPrices, day_fixings
from hashmarket.ledger import (
    INT64_MAX,
    Account,
    AccountFlags,
    Ledger,
    Transfer,
    TransferFlags,
    account_record,
    entry_record,
)
from hashmarket.ledger import settlement as st
from hashmarket.ledger import tokens as tk

router = APIRouter(prefix="/api/v1", tags=["ledger"])

READ = Depends(require(Permission.READ))
TRANSFER = Depends(require(Permission.TRANSFER))
MANAGE = Depends(require(Permission.MANAGE_ACCOUNTS))
ISSUE = Depends(require(Permission.ISSUE))
SETTLE = Depends(require(Permission.SETTLE))


# ---- accounts ------------------------------------------------------------------------------


@router.get("/accounts", summary="Accounts the key may see, with balances")
def list_accounts(
    asset: str | None = None,
    limit: int = Query(1_000, ge=1, le=100_000),
    key: ApiKey = READ,
    state: ServiceState = Depends(service),
) -> list[dict[str, Any]]:
    with state.ledger() as ledger:
        scales = {a.code: a.scale for a in ledger.assets()}
        if key.account is not None:
            found = [ledger.account(key.account)]
        else:
            found = ledger.accounts(asset=asset, limit=limit)
    return [account_record(a, scales[a.asset]) for a in found]


@router.get("/accounts/{account_id}", summary="One account's balances")
def get_account(
    account_id: int = ACCOUNT_ID, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    check_account(key, str(account_id))
    with state.ledger() as ledger:
        account = ledger.account(account_id)
        return account_record(account, ledger.asset(account.asset).scale)


@router.get("/accounts/{account_id}/history", summary="One account's journal, newest first")
def account_history(
    account_id: int = ACCOUNT_ID,
    limit: int = Query(50, ge=1, le=10_000),
    before_seq: int | None = Query(
        None, ge=1, le=INT64_MAX, description="Only rows older than this seq (to page)"
    ),
    key: ApiKey = READ,
    state: ServiceState = Depends(service),
) -> list[dict[str, Any]]:
    check_account(key, str(account_id))
    with state.ledger() as ledger:
        ledger.account(account_id)  # 4xx for an unknown account, not an empty list
        return [
            entry_record(e) for e in ledger.history(account_id, limit=limit, before_seq=before_seq)
        ]


class ImportFields(BaseModel):
    """Back-dating (TigerBeetle's ``imported`` flag): ``imported`` with ``timestamp`` in ns
    since 1970 UTC writes the request as an import at that time (see docs/settlement.md)."""

    imported: bool = False
    timestamp: Int64 | None = Field(None, gt=0, description="ns since 1970 UTC; with imported only")

    @model_validator(mode="after")
    def _timestamp_with_imported(self) -> ImportFields:
        if self.imported and self.timestamp is None:
            raise ValueError("imported requires a timestamp")
        if self.timestamp is not None and not self.imported:
            raise ValueError("timestamp must be absent unless imported is true")
        return self

    @property
    def at_ns(self) -> int | None:
        return self.timestamp if self.imported else None


class AccountRequest(ImportFields):
    id: Int64 = Field(..., gt=0)
    asset: str = Field(..., min_length=1, max_length=16)
    name: str | None = Field(None, max_length=128)
    code: StrictInt = Field(0, ge=0, le=65_535)


@router.post("/accounts", status_code=201, summary="Open an account (no overdraft)")
def open_account(
    request: AccountRequest, key: ApiKey = MANAGE, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    check_account(key, str(request.id))
    account = Account(
        request.id,
        request.asset,
        flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        code=request.code,
        name=request.name,
    )
    with state.ledger() as ledger:
        ledger.create_account(account, at_ns=request.at_ns)
        created = ledger.account(request.id)
        return account_record(created, ledger.asset(created.asset).scale)


# ---- transfers -----------------------------------------------------------------------------


class TransferRequest(ImportFields):
    """Amounts are integers in the asset's smallest unit (sats, cents); anything else is
    refused. ``kind`` ``post``/``void`` resolve the reservation ``pending_id``."""

    id: Int64 = Field(..., gt=0, description="Your id: sending it again applies it once")
    kind: Literal["plain", "pending", "post", "void"] = "plain"
    debit_account_id: Int64 = Field(0, ge=0)
    credit_account_id: Int64 = Field(0, ge=0)
    amount: Int64 = Field(0, ge=0)
    pending_id: Int64 = Field(0, ge=0)
    timeout_s: Int64 = Field(0, ge=0)
    code: StrictInt = Field(0, ge=0, le=65_535)


FLAGS = {
    "plain": TransferFlags.NONE,
    "pending": TransferFlags.PENDING,
    "post": TransferFlags.POST_PENDING,
    "void": TransferFlags.VOID_PENDING,
}


def check_mint(ledger: Ledger, key: ApiKey, debit_account_id: int) -> None:
    """403 unless the key may debit ``debit_account_id``: an asset's issuer account has no
    limit, so debiting it creates money (mints), which only a role that may issue does."""
    if key.allows(Permission.ISSUE):
        return
    for asset in ledger.assets():
        if asset.issuer_account_id == debit_account_id:
            raise HTTPException(
                403,
                f"account {debit_account_id} issues {asset.code}: debiting it mints, which "
                f"role {key.role.value!r} may not do",
            )


@router.post("/transfers", status_code=201, summary="Move an amount, or resolve a reservation")
def create_transfer(
    request: TransferRequest, key: ApiKey = TRANSFER, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    with state.ledger() as ledger:
        debit = request.debit_account_id
        if request.kind in ("post", "void"):
            reservation = ledger.lookup_transfer(request.pending_id)
            debit = reservation.debit_account_id if reservation is not None else 0
        if key.account is not None:
            # A holder's key moves money out of its own account only.
            check_account(key, str(debit))
        check_mint(ledger, key, debit)
        transfer = Transfer(
            request.id,
            request.debit_account_id,
            request.credit_account_id,
            request.amount,
            FLAGS[request.kind],
            pending_id=request.pending_id,
            timeout_s=request.timeout_s,
            code=request.code,
        )
        ledger.transfer(transfer, at_ns=request.at_ns)
        entry = ledger.lookup_transfer(request.id)
    assert entry is not None
    return entry_record(entry)


@router.get("/transfers/{transfer_id}", summary="A transfer as journaled")
def get_transfer(
    transfer_id: int = TRANSFER_ID, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    with state.ledger() as ledger:
        entry = ledger.lookup_transfer(transfer_id)
    if entry is None:
        raise HTTPException(404, f"no transfer {transfer_id}")
    if not (
        key.may_use_account(str(entry.debit_account_id))
        or key.may_use_account(str(entry.credit_account_id))
    ):
        raise HTTPException(403, f"this key may only use account {key.account!r}")
    return entry_record(entry)


@router.get("/ledger/verify", summary="Check every ledger invariant (admin)")
def verify(key: ApiKey = READ, state: ServiceState = Depends(service)) -> dict[str, Any]:
    if key.role is not Role.ADMIN:
        raise HTTPException(403, f"role {key.role.value!r} may not verify the ledger")
    with state.ledger() as ledger:
        report = ledger.verify()
        return {"ok": report.ok, "report": str(report), "state_hash": ledger.state_hash()}


# ---- hashrate tokens -----------------------------------------------------------------------


def series_record(s: tk.TokenSeries) -> dict[str, Any]:
    return {
        "series": s.asset,
        "ths_per_token": str(s.ths_per_token),
        "efficiency_w_per_th": str(s.efficiency_w_per_th),
        "power_price_usd_per_kwh": str(s.power_price_usd_per_kwh),
        "service_fee_usd_per_th_day": str(s.service_fee_usd_per_th_day),
        "backing_hashrate_ths": str(s.backing_hashrate_ths),
        "max_supply_units": s.max_supply_units,
        "term_start": s.term_start.isoformat(),
        "term_end": s.term_end.isoformat(),
        "issuer_account_id": s.issuer_account_id,
        "reserve_account_id": s.reserve_account_id,
        "treasury_account_id": s.treasury_account_id,
    }


@router.get("/tokens", summary="Token series")
def list_series(key: ApiKey = READ, state: ServiceState = Depends(service)) -> list[dict[str, Any]]:
    with state.ledger() as ledger:
        return [series_record(s) for s in tk.all_series(ledger)]


@router.get("/tokens/{series}/holders", summary="Holders at a day's cut (or now)")
def holders(
    series: str,
    day: dt.date | None = None,
    key: ApiKey = READ,
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    with state.ledger() as ledger:
        rows = tk.holdings(ledger, series, day=day)
    supply = sum(h.balance_units for h in rows)
    visible = [h for h in rows if key.may_use_account(str(h.token_account_id))]
    return {
        "series": series,
        "supply_units": supply,
        "holder_count": len(rows),
        "holders": [
            {
                "token_account_id": h.token_account_id,
                "payout_account_id": h.payout_account_id,
                "balance_units": h.balance_units,
                "share": f"{Decimal(h.balance_units) / supply:.6f}" if supply else "0",
            }
            for h in visible
        ],
    }


@router.get("/tokens/{series}/distributions", summary="Daily distributions paid so far")
def distributions(
    series: str, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> list[dict[str, Any]]:
    with state.ledger() as ledger:
        s = tk.series(ledger, series)
        last = min(s.term_end, dt.datetime.now(dt.UTC).date())
        days = [s.term_start + dt.timedelta(days=i) for i in range((last - s.term_start).days + 1)]
        found = [tk.distribution(ledger, series, day) for day in days]
    return [d.to_dict() for d in found if d is not None]


class DistributeRequest(BaseModel):
    day: dt.date
    uptime: Decimal = Field(Decimal(1), ge=0, le=1)


@router.post("/tokens/{series}/distribute", summary="Pay one day to the holders")
def distribute(
    series: str,
    request: DistributeRequest,
    key: ApiKey = ISSUE,
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    """The day's net FPPS reward in sats, pro rata at the day's cut; paying a day twice pays
    nothing the second time."""
    rate = tk.DayRate.from_fixings(*day_fixings(state.history, request.day))
    with state.ledger() as ledger:
        return tk.distribute(ledger, series, rate, uptime=request.uptime).to_dict()


@router.get("/tokens/{series}/proof", summary="Proof of reserves: a holder's inclusion proof")
def proof(
    series: str,
    account_id: int = Query(..., ge=1, le=INT64_MAX),
    day: dt.date = Query(...),
    key: ApiKey = READ,
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    check_account(key, str(account_id))
    with state.ledger() as ledger:
        return tk.proof(ledger, series, day, account_id).to_dict()


# ---- settlement ----------------------------------------------------------------------------


class ContractRequest(ImportFields):
    spec: dict[str, Any] = Field(..., description="The instrument traded, as an instrument spec")
    buyer_account_id: Int64 = Field(..., gt=0)
    seller_account_id: Int64 = Field(..., gt=0)
    asset: Literal["USD", "BTC", "USDT", "USDC"] | None = None
    margin_rate: Decimal | None = Field(None, ge=0, le=1)
    grace_days: StrictInt = Field(2, ge=0, le=365)
    notional: Decimal | None = Field(None, gt=0)
    contract_id: str | None = Field(None, min_length=1, max_length=64)


@router.post("/settlement/contracts", status_code=201, summary="Open a contract (admin)")
def open_settlement_contract(
    request: ContractRequest, key: ApiKey = SETTLE, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """Record a trade and reserve both sides' initial margin as pending transfers."""
    instrument = st.instrument_from_spec(request.spec)
    contract = st.Contract(
        contract_id="",
        instrument=instrument,
        buyer_account_id=request.buyer_account_id,
        seller_account_id=request.seller_account_id,
        asset=(request.asset or instrument.currency.value).upper(),
        margin_rate=request.margin_rate,
        grace_days=request.grace_days,
        notional=request.notional,
    )
    cid = request.contract_id or st.default_contract_id(contract)
    with state.ledger() as ledger:
        opened = st.open_contract(
            ledger, dataclasses.replace(contract, contract_id=cid), at_ns=request.at_ns
        )
        return opened.to_dict()


class RunRequest(BaseModel):
    day: dt.date
    contract_id: str | None = None
    power_csv: str | None = Field(
        None,
        description="Daily regional power prices for regional contracts (docs/regional.md)",
        max_length=5_000_000,
    )


def _power(text: str) -> PowerPrices:
    return power_prices_from_text(text)[0]


@router.post("/settlement/run", summary="Settle open contracts through a day (admin)")
def run_settlement(
    request: RunRequest, key: ApiKey = SETTLE, state: ServiceState = Depends(service)
) -> list[dict[str, Any]]:
    """Daily variation from the published fixings; running a day again moves nothing."""
    with state.ledger() as ledger:
        published = st.published_fixings(
            st.status(ledger, request.contract_id),
            request.day,
            history=state.history,
            power_prices=None if request.power_csv is None else _power(request.power_csv),
        )
        outcomes = st.run(ledger, request.day, published, contract_id=request.contract_id)
    return [
        {
            **o.status.to_dict(),
            "events": [e.kind for e in o.events],
            "moved_minor": sum(e.amount_minor for e in o.events),
        }
        for o in outcomes
    ]


@router.get("/settlement/contracts", summary="Contracts, their state and margins")
def settlement_contracts(
    key: ApiKey = READ, state: ServiceState = Depends(service)
) -> list[dict[str, Any]]:
    with state.ledger() as ledger:
        statuses = st.status(ledger)
    return [
        s.to_dict()
        for s in statuses
        if key.may_use_account(str(s.buyer_account_id))
        or key.may_use_account(str(s.seller_account_id))
    ]
