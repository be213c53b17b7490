"""``POST /api/v1/loans/book``: a loan's life on the published fixings, booked on the ledger
(``hashmarket loan-book``; :mod:`hashmarket.risk.loan_booking`).

It moves money out of the lender's, borrower's and buyer's accounts, so it needs the transfer
permission, may not debit an asset's issuer (that mints) unless the key may issue, and a key
bound to one account cannot book (a loan moves two parties' money). Like every write it runs
behind the idempotency guard (``Idempotency-Key``); the booking itself is idempotent too."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hashmarket.api.keys import ApiKey, Permission
from hashmarket.api.routers.ledger import check_mint
from hashmarket.api.routers.lending_rate import rates_for
from hashmarket.api.security import check_account, require
from hashmarket.api.state import ServiceState, service
from hashmarket.errors import LedgerError
from hashmarket.risk import LoanParties, book_realized, booked_loan

router = APIRouter(prefix="/api/v1", tags=["risk"])

TRANSFER = Depends(require(Permission.TRANSFER))
AccountRef = int | str


class BookRequest(BaseModel):
    loan: dict[str, Any] = Field(..., description="A loan spec (examples/risk/loan_booked.json)")
    lender: AccountRef = Field(..., description="The lender's cash account, id or name")
    borrower: AccountRef = Field(..., description="The borrower's cash account")
    collateral: AccountRef = Field(..., description="The borrower's collateral account")
    buyer: AccountRef | None = Field(None, description="The buyer's cash account, for a sale")
    buyer_collateral: AccountRef | None = None
    lender_collateral: AccountRef | None = None
    asof: dt.date | None = Field(None, description="Default: the data's as-of date")


@router.post("/loans/book", summary="Book a loan's life on the published fixings")
def book_loan(
    request: BookRequest, key: ApiKey = TRANSFER, state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """Disbursement, pledge, margin calls and top-ups, liquidation and sale, repayment: what
    the loan engine says happened on the published fixings up to the as-of day, booked in one
    ledger transaction; booking again books nothing new."""
    resolved = state.asof(request.asof)
    loan = booked_loan(
        request.loan, history=state.history, asof=resolved.date, rates_for=rates_for(state)
    )
    parties = LoanParties(
        lender=request.lender,
        borrower=request.borrower,
        borrower_collateral=request.collateral,
        buyer=request.buyer,
        buyer_collateral=request.buyer_collateral,
        lender_collateral=request.lender_collateral,
    )
    with state.ledger() as ledger:
        for ref in (request.lender, request.borrower, request.collateral, request.buyer):
            if ref is None:
                continue
            if key.account is not None:
                check_account(key, str(ref))
            try:
                debited = ledger.account(ref).id
            except LedgerError:
                continue  # the booking names the missing account
            check_mint(ledger, key, debited)
        result = book_realized(ledger, loan, parties, history=state.history, asof=resolved.date)
    return {**result.to_dict(), "data_asof": resolved.to_dict()}
