"""A Luxor-style deliverable hashrate forward as a loan: the buyer pays upfront for PH/s
delivered every day, and the seller's remaining output is the collateral
(:class:`hashmarket.instruments.loans.Loan` with ``CollateralKind.HASHRATE_FORWARD``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from hashmarket.errors import RiskError
from hashmarket.instruments.loans import Collateral, CollateralKind, Loan


class LtvTriple(Protocol):
    """The three LTV levels of a loan (``risk.credit.LtvLevels`` is one, made from haircuts)."""

    @property
    def initial_ltv(self) -> float: ...
    @property
    def margin_call_ltv(self) -> float: ...
    @property
    def liquidation_ltv(self) -> float: ...


def deliverable_forward(
    *,
    loan_id: str,
    hashrate_phs: float,
    price_usd_per_ph_day: float,
    start: dt.date,
    maturity: dt.date,
    margin: float = 0.18,
    levels: LtvTriple | None = None,
    **terms: Any,
) -> Loan:
    """A Luxor-style deliverable forward as a loan: upfront = price × PH/s × days × (1 − margin),
    repaid by ``hashrate_phs`` of output every day. Without ``levels`` the initial LTV is
    1 − margin, a call comes when half the margin is gone (1 − margin/2) and liquidation when
    three quarters are (1 − margin/4): 82 %, 91 % and 95.5 % for Luxor's 18 %."""
    if not 0 < margin < 1:
        raise RiskError("risk_field", field="margin", problem=f"{margin} must be between 0 and 1")
    days = (maturity - start).days + 1
    upfront = price_usd_per_ph_day * hashrate_phs * days * (1.0 - margin)
    if levels is None:
        initial, call, liquidation = 1.0 - margin, 1.0 - margin / 2, 1.0 - margin / 4
    else:
        initial, call, liquidation = (
            levels.initial_ltv,
            levels.margin_call_ltv,
            levels.liquidation_ltv,
        )
    return Loan(
        loan_id=loan_id,
        principal_usd=upfront,
        rate_per_year=0.0,
        start=start,
        maturity=maturity,
        collateral=Collateral(CollateralKind.HASHRATE_FORWARD, hashrate_phs),
        initial_ltv=initial,
        margin_call_ltv=call,
        liquidation_ltv=liquidation,
        **terms,
    )
