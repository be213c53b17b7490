"""Authenticated: proof of delivery — hashpower contracts' delivered against ordered work,
GPU leases, their heartbeats and SLA reports.

What the routes read and write lives in the service's data directory, where the Stratum
endpoint keeps its delivery logs (``delivery/CONTRACT_ID.jsonl``, see
:mod:`hashmarket.delivery.report`); leases are ``delivery/leases/LEASE_ID.json`` and their
heartbeats ``delivery/heartbeats/LEASE_ID.jsonl``, one signed heartbeat a line, stamped with
the second the service received it. A key bound to an account sees only the contracts and
leases in which that account is the buyer or the seller; only the seller's (the provider's)
key, or an unbound one, may register a lease or post its heartbeats.

An exchange contract can change holder while it runs (its log names every holder): the
current holder is its buyer and sees all of it; a former holder (side ``former_buyer``) still
sees the contract, but only the intervals it paid for.
"""

from __future__ import annotations

import json
import re
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from hashmarket.api.keys import ApiKey, Permission
from hashmarket.api.security import require
from hashmarket.api.state import ServiceState, service
from hashmarket.delivery import (
    DeliveryFile,
    GpuLease,
    IntervalRecord,
    SignedHeartbeat,
    delivery_report,
    read_delivery,
    read_heartbeats,
    sla_report,
)
from hashmarket.errors import HashmarketError
from hashmarket.units import HASHES_PER_TH

router = APIRouter(prefix="/api/v1/delivery", tags=["delivery"])

READ = Depends(require(Permission.READ))
# Posting heartbeats or a lease moves no money, but it is the provider acting on its own
# account: the same role as moving funds out of it.
PROVIDE = Depends(require(Permission.TRANSFER))
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
MAX_HEARTBEATS_PER_REQUEST = 10_000
_write_lock = threading.Lock()


def _folder(state: ServiceState, *parts: str) -> Path:
    return Path(state.config.data_dir, "delivery", *parts)


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise HTTPException(422, f"{what} {value!r}: letters, digits and . _ : - only")
    return value


def _party(key: ApiKey, buyer: int, seller: int) -> str | None:
    """The key's side of a contract, ``"any"`` for an unbound key, or None (not its own)."""
    if key.account is None:
        return "any"
    if key.account == str(buyer):
        return "buyer"
    if key.account == str(seller):
        return "seller"
    return None


def _log(state: ServiceState, contract_id: str) -> DeliveryFile:
    path = _folder(state, f"{_name(contract_id, 'contract')}.jsonl")
    if not path.is_file():
        raise HTTPException(404, f"no delivery log for contract {contract_id!r}")
    try:
        return read_delivery(path)
    except HashmarketError as exc:
        raise HTTPException(500, f"contract {contract_id!r}: {exc}") from exc


def _seen(key: ApiKey, log: DeliveryFile) -> tuple[str, list[IntervalRecord]] | None:
    """The key's side of a contract and the intervals it may see, or None (not its own): a
    former holder sees the intervals it paid for, not those of later holders."""
    contract = log.contract
    side = _party(key, contract.buyer_account_id, contract.seller_account_id)
    if side is not None:
        return side, log.records
    if key.account is not None and key.account.isdigit():
        account = int(key.account)
        if any(h.account_id == account for h in log.holders):
            return "former_buyer", log.held_by(account)
    return None


def _summary(log: DeliveryFile, records: list[IntervalRecord]) -> dict[str, Any]:
    contract = log.contract
    return delivery_report(log.terms, records, log.holders).to_dict() | {
        "buyer_account_id": contract.buyer_account_id,
        "seller_account_id": contract.seller_account_id,
        "price_sats_per_ph_day": contract.price_sats_per_ph_day,
        "start": contract.start.isoformat(),
        "end": contract.end.isoformat(),
    }


def _interval(record: IntervalRecord) -> dict[str, Any]:
    seconds = record.end_s - record.start_s
    ordered = float(record.ordered_hashes / HASHES_PER_TH / seconds) if seconds else 0.0
    return {
        "index": record.index,
        "start_s": record.start_s,
        "end_s": record.end_s,
        "shares_accepted": record.shares_accepted,
        "delivered_hashrate_ths": record.delivered_hashrate_ths,
        "delivered_hashrate_std_error_ths": record.delivered_hashrate_std_error_ths,
        "ordered_hashrate_ths": ordered,
        "delivery_ratio": record.delivery_ratio,
        "shortfall_hashes": str(record.shortfall_hashes),
        "paid_sats": record.paid_sats,
        "paid_total_sats": record.paid_total_sats,
    }


@router.get("/contracts", summary="Hashpower contracts the key's account buys or sells")
def list_contracts(key: ApiKey = READ, state: ServiceState = Depends(service)) -> list[Any]:
    folder = _folder(state)
    out = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        try:
            log = read_delivery(path)
        except HashmarketError:
            continue  # a damaged log is reported by its own route, not by the list
        seen = _seen(key, log)
        if seen is not None:
            out.append(_summary(log, seen[1]) | {"side": seen[0]})
    return out


@router.get("/contracts/{contract_id}", summary="Delivered against ordered work, per interval")
def get_contract(
    contract_id: str, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    log = _log(state, contract_id)
    seen = _seen(key, log)
    if seen is None:
        raise HTTPException(403, f"contract {contract_id!r} is not this key's account's")
    side, records = seen
    return _summary(log, records) | {
        "side": side,
        "ordered_hashrate_ths": str(Fraction(log.terms.hashrate_ths)),
        "intervals": [_interval(r) for r in records],
    }


def _lease(state: ServiceState, lease_id: str) -> GpuLease:
    path = _folder(state, "leases", f"{_name(lease_id, 'lease')}.json")
    if not path.is_file():
        raise HTTPException(404, f"no lease {lease_id!r}")
    return GpuLease.from_dict(json.loads(path.read_text(encoding="utf-8")))


class LeaseBody(BaseModel):
    terms: dict[str, Any] = Field(description="The lease's terms, as GpuLease.to_dict() gives")


@router.post("/leases", summary="Register a GPU lease (the provider's key)", status_code=201)
def register_lease(
    body: LeaseBody, key: ApiKey = PROVIDE, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    try:
        lease = GpuLease.from_dict(body.terms)
    except (HashmarketError, ValueError, KeyError, TypeError) as exc:
        raise HTTPException(422, f"lease terms: {exc}") from exc
    if _party(key, lease.buyer_account_id, lease.seller_account_id) not in ("seller", "any"):
        raise HTTPException(403, "only the lease's seller registers it")
    path = _folder(state, "leases", f"{_name(lease.lease_id, 'lease')}.json")
    with _write_lock:
        if path.exists():
            raise HTTPException(409, f"lease {lease.lease_id!r} is already registered")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(lease.to_dict(), sort_keys=True), encoding="utf-8")
    return lease.to_dict()


class HeartbeatsBody(BaseModel):
    heartbeats: list[dict[str, Any]] = Field(
        max_length=MAX_HEARTBEATS_PER_REQUEST,
        description="Signed heartbeats: heartbeat, signature and optionally buyer_signature",
    )


@router.post("/leases/{lease_id}/heartbeats", summary="Post signed heartbeats (the provider)")
def post_heartbeats(
    lease_id: str,
    body: HeartbeatsBody,
    key: ApiKey = PROVIDE,
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    lease = _lease(state, lease_id)
    if _party(key, lease.buyer_account_id, lease.seller_account_id) not in ("seller", "any"):
        raise HTTPException(403, f"only lease {lease_id!r}'s seller posts its heartbeats")
    now_s = int(time.time())
    lines = []
    for number, row in enumerate(body.heartbeats):
        try:
            signed = SignedHeartbeat.from_dict({**row, "received_at_s": None})
        except (ValueError, KeyError, TypeError) as exc:
            raise HTTPException(422, f"heartbeats[{number}]: {exc}") from exc
        lines.append(signed.received(now_s).to_line())
    # Stored as received: verification belongs to the SLA report, which counts what fails.
    path = _folder(state, "heartbeats", f"{lease.lease_id}.jsonl")
    with _write_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
    return {"lease_id": lease.lease_id, "received": len(lines), "received_at_s": now_s}


@router.get("/leases/{lease_id}/sla", summary="Uptime, load, energy and refunds of a lease")
def lease_sla(
    lease_id: str, key: ApiKey = READ, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    lease = _lease(state, lease_id)
    if _party(key, lease.buyer_account_id, lease.seller_account_id) is None:
        raise HTTPException(403, f"lease {lease_id!r} is not this key's account's")
    path = _folder(state, "heartbeats", f"{lease.lease_id}.jsonl")
    beats = list(read_heartbeats(path)) if path.is_file() else []
    return sla_report(lease, beats).to_dict()
