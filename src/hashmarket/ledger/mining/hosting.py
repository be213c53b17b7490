"""A hosting agreement on the ledger: each day's statement paid between the site and the client.

For every day of the agreement with a published fixing through ``through``, the day's
statement (:meth:`hashmarket.instruments.Hosting.statement`, whole sats and cents) moves:

* the client's BTC — ``client_sats``, the mined sats less the site's revenue share — from the
  site's BTC account (where the pool pays the machines' output) to the client's;
* the power charge — ``power_cents`` — from the client's USD account to the site's.

Ids are derived from (agreement, day, leg), so a run writes only days never written and
re-running changes nothing; a run's movements are one linked write, all or nothing (a client
short of cents for the power bill is refused and neither leg of any day is written).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hashmarket.errors import FinanceError
from hashmarket.instruments import Fixings, Hosting, HostingStatement
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.mining.common import (
    CODE_HOSTING_BTC,
    CODE_HOSTING_POWER,
    event_id,
    require_assets,
    write,
)
from hashmarket.ledger.model import Transfer

PRODUCT = "hosting"


@dataclass(frozen=True, slots=True)
class HostingAccounts:
    site_btc: int
    client_btc: int
    client_usd: int
    site_usd: int


@dataclass(frozen=True, slots=True)
class HostingRun:
    """The statements of the days through ``through`` and what this run wrote."""

    agreement_id: str
    through: dt.date
    statements: tuple[HostingStatement, ...]
    new_transfers: int

    @property
    def client_sats(self) -> int:
        return sum(s.client_sats for s in self.statements)

    @property
    def power_cents(self) -> int:
        return sum(s.power_cents for s in self.statements)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agreement_id": self.agreement_id,
            "through": self.through.isoformat(),
            "client_sats": self.client_sats,
            "power_cents": self.power_cents,
            "new_transfers": self.new_transfers,
            "statements": [s.to_dict() for s in self.statements],
        }


def statement_transfers(
    agreement_id: str, statement: HostingStatement, accounts: HostingAccounts
) -> list[Transfer]:
    """The day's movements (a leg of zero moves nothing)."""
    day = statement.day.isoformat()
    out = []
    if statement.client_sats:
        out.append(
            Transfer(
                event_id(PRODUCT, agreement_id, day, "btc"),
                accounts.site_btc,
                accounts.client_btc,
                statement.client_sats,
                code=CODE_HOSTING_BTC,
            )
        )
    if statement.power_cents:
        out.append(
            Transfer(
                event_id(PRODUCT, agreement_id, day, "power"),
                accounts.client_usd,
                accounts.site_usd,
                statement.power_cents,
                code=CODE_HOSTING_POWER,
            )
        )
    return out


def settle_hosting(
    ledger: Ledger,
    agreement_id: str,
    hosting: Hosting,
    accounts: HostingAccounts,
    published: Fixings | None,
    *,
    through: dt.date,
    site_power_cost_usd_per_kwh: Decimal | None = None,
) -> HostingRun:
    """Pay every statement from ``hosting.start`` to ``through`` not yet paid, from
    ``published`` (the published fixings, one path, covering those days)."""
    require_assets(
        ledger,
        product=PRODUCT,
        contract_id=agreement_id,
        accounts={
            "site's BTC": (accounts.site_btc, "BTC"),
            "client's BTC": (accounts.client_btc, "BTC"),
            "client's USD": (accounts.client_usd, "USD"),
            "site's USD": (accounts.site_usd, "USD"),
        },
    )
    if ledger.asset("USD").scale != 2 or ledger.asset("BTC").scale != 8:
        raise FinanceError(
            "finance_state",
            product=PRODUCT,
            contract=agreement_id,
            problem="statements are in cents and sats: USD must have scale 2 and BTC scale 8",
        )
    last = min(through, hosting.end)
    if last < hosting.start:
        return HostingRun(agreement_id, through, (), 0)
    if published is None or published.first_date > hosting.start or published.last_date < last:
        raise FinanceError(
            "finance_state",
            product=PRODUCT,
            contract=agreement_id,
            problem=f"needs published fixings from {hosting.start} to {last}; given "
            + ("none" if published is None else f"{published.first_date} to {published.last_date}"),
        )
    statements = hosting.statements(
        published.between(hosting.start, last),
        site_power_cost_usd_per_kwh=site_power_cost_usd_per_kwh,
    )
    transfers = [t for s in statements for t in statement_transfers(agreement_id, s, accounts)]
    written = write(ledger, product=PRODUCT, contract_id=agreement_id, transfers=transfers)
    return HostingRun(agreement_id, through, tuple(statements), written.transfers)
