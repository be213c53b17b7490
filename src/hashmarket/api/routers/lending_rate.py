"""The crypto lending reference rate: fixings by currency, tenor and date (read role).

The sources are what the service's data directory holds (transaction files and loan books
imported with ``hashmarket index lending-rate import``) and the loans of those books booked
on the service's ledger; see ``docs/lending-rate.md``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query

from hashmarket.api.keys import ApiKey, Permission
from hashmarket.api.security import require
from hashmarket.api.state import ServiceState, service
from hashmarket.errors import DataError, UsageError
from hashmarket.index import LendingCurrency, LendingTransaction, Tenor, lending_fixings
from hashmarket.instruments import FloatingRate
from hashmarket.ledger import floating_rates, reference_transactions
from hashmarket.risk import RatesFor
from hashmarket.today import today

router = APIRouter(prefix="/api/v1", tags=["lending rate"])

READ = Depends(require(Permission.READ))


def lending_transactions(state: ServiceState) -> list[LendingTransaction]:
    """Every rate source of the service: its imported files and its ledger's booked loans."""
    with state.ledger() as ledger:
        return reference_transactions(state.config.data_dir, ledger)


def rates_for(state: ServiceState) -> RatesFor:
    """A floating loan's resets from the service's fixings, read only when a loan asks."""

    def resolve(floating: FloatingRate, start: dt.date, maturity: dt.date) -> FloatingRate:
        return floating_rates(lending_transactions(state))(floating, start, maturity)

    return resolve


@router.get(
    "/index/lending-rate/{currency}/{tenor}",
    summary="Lending reference rate fixings of one currency and tenor",
)
def lending_rate_fixings(
    currency: LendingCurrency,
    tenor: Tenor,
    start: dt.date | None = Query(None, description="First date"),
    end: dt.date | None = Query(None, description="Last date (default: the last trade date)"),
    key: ApiKey = READ,
    state: ServiceState = Depends(service),
) -> list[dict[str, Any]]:
    """One fixing per business day: the rate (a fraction per year), the waterfall level it
    used, the volume and count of its transactions, the methodology version, the inputs and
    their SHA-256."""
    if start is not None and end is not None and end < start:
        raise UsageError("bad_option", option="end", problem=f"{end} is before start {start}")
    # No fixing is published for a day that has not come yet.
    end = min(end, today()) if end is not None else None
    fixings = lending_fixings(
        lending_transactions(state), currency=currency, tenors=[tenor], start=start, end=end
    )
    return [f.to_dict() for f in fixings]


@router.get(
    "/index/lending-rate/{currency}/{tenor}/{day}",
    summary="The lending reference rate fixing of one currency, tenor and date",
)
def lending_rate_fixing(
    currency: LendingCurrency,
    tenor: Tenor,
    day: dt.date,
    key: ApiKey = READ,
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    """The fixing of ``day`` (404 problem when there is none: not a business day, or before
    the tenor's first fixing, or after the data)."""
    fixings = lending_fixings(
        lending_transactions(state),
        currency=currency,
        tenors=[tenor],
        start=day,
        end=min(day, today()),
    )
    if not fixings:
        missing = DataError(
            "no_lending_fixing", currency=currency.value, tenor=tenor.value, when=f"on {day}"
        )
        raise HTTPException(404, detail=str(missing))
    return fixings[0].to_dict()
