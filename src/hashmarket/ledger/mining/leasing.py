"""A machine lease on the ledger: down payment, instalments, title transfer or default.

The lease's life on the published path (:func:`hashmarket.instruments.lease_life`, the
function that gives the probabilities over scenarios) decides what is booked through a day:

* **down payment** — lessee USD → lessor USD, on the first run;
* **instalment m** — lessee USD → lessor USD, the schedule's cents, once its due date is
  reached, unless the lease has defaulted on or before it;
* **title** — after the last instalment, the machines (``machines`` units of the machine
  asset, scale 0) go from the lessor's machine account to the lessee's: ownership passes;
* **default** — when the default rule triggers on the published path (the lessee's mining
  margin below the instalment for ``default_months`` consecutive months), the run that sees
  it writes the default's record account (``lease <id> default month <m> <day>``) and books
  no further instalment; the machines stay with the lessor, who repossesses them.

Every movement's id is derived from (lease, event), so re-running books nothing twice; a run
is one linked write, all or nothing (a lessee short of cents is refused; nothing is booked).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from hashmarket.errors import FinanceError
from hashmarket.instruments import Fixings, Instalment, MachineLease, lease_life
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.mining.common import (
    CODE_LEASE_DEFAULT,
    CODE_LEASE_DOWN_PAYMENT,
    CODE_LEASE_INSTALMENT,
    CODE_LEASE_TITLE,
    event_id,
    record_account,
    require_assets,
    write,
)
from hashmarket.ledger.model import Transfer
from hashmarket.money import Rounding, to_minor

PRODUCT = "lease"


@dataclass(frozen=True, slots=True)
class LeaseAccounts:
    lessor_usd: int
    lessee_usd: int
    lessor_machines: int
    lessee_machines: int


@dataclass(frozen=True, slots=True)
class LeaseBooking:
    """What is booked through ``through``: instalments paid, the default or the title."""

    lease_id: str
    through: dt.date
    down_payment_cents: int
    instalments_paid: int
    paid_cents: int
    outstanding_cents: int
    default_month: int | None
    default_day: dt.date | None
    title_transferred: bool
    new_transfers: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "lease_id": self.lease_id,
            "through": self.through.isoformat(),
            "down_payment_cents": self.down_payment_cents,
            "instalments_paid": self.instalments_paid,
            "paid_cents": self.paid_cents,
            "outstanding_cents": self.outstanding_cents,
            "default_month": self.default_month,
            "default_day": None if self.default_day is None else self.default_day.isoformat(),
            "title_transferred": self.title_transferred,
            "new_transfers": self.new_transfers,
        }


def _default_month(lease: MachineLease, published: Fixings | None, through: dt.date) -> int:
    """The default month on the published path through ``through`` (0: none)."""
    if through < lease.start:
        return 0
    if published is None:
        raise FinanceError(
            "finance_state", product=PRODUCT, contract="?", problem="no published fixings given"
        )
    path = published.between(lease.start, min(through, lease.end))
    if path.first_date != lease.start:
        raise FinanceError(
            "finance_state",
            product=PRODUCT,
            contract="?",
            problem=f"needs published fixings from {lease.start}; they start {path.first_date}",
        )
    month = int(lease_life(lease, path).default_month[0])
    # A month counts once its due date is reached, not merely its days fixed.
    return month if month and lease.schedule[month - 1].due <= through else 0


def _movements(
    lease_id: str,
    lease: MachineLease,
    accounts: LeaseAccounts,
    down_cents: int,
    paid: list[Instalment],
    titled: bool,
) -> list[Transfer]:
    """The down payment, the instalments paid and the title transfer, as transfers."""
    transfers = []
    if down_cents:
        transfers.append(
            Transfer(
                event_id(PRODUCT, lease_id, "down-payment"),
                accounts.lessee_usd,
                accounts.lessor_usd,
                down_cents,
                code=CODE_LEASE_DOWN_PAYMENT,
            )
        )
    transfers += [
        Transfer(
            event_id(PRODUCT, lease_id, "instalment", row.month),
            accounts.lessee_usd,
            accounts.lessor_usd,
            row.payment_cents,
            code=CODE_LEASE_INSTALMENT,
        )
        for row in paid
    ]
    if titled:
        transfers.append(
            Transfer(
                event_id(PRODUCT, lease_id, "title"),
                accounts.lessor_machines,
                accounts.lessee_machines,
                lease.machines,
                code=CODE_LEASE_TITLE,
            )
        )
    return transfers


def book_lease(
    ledger: Ledger,
    lease_id: str,
    lease: MachineLease,
    accounts: LeaseAccounts,
    published: Fixings | None,
    *,
    through: dt.date,
) -> LeaseBooking:
    """Book everything due from ``lease.start`` to ``through`` not yet booked."""
    machines = ledger.lookup_accounts([accounts.lessor_machines])
    machine_asset = machines[0].asset if machines else "a machine asset"
    require_assets(
        ledger,
        product=PRODUCT,
        contract_id=lease_id,
        accounts={
            "lessor's USD": (accounts.lessor_usd, "USD"),
            "lessee's USD": (accounts.lessee_usd, "USD"),
            "lessor's machine": (accounts.lessor_machines, machine_asset),
            "lessee's machine": (accounts.lessee_machines, machine_asset),
        },
    )
    if ledger.asset("USD").scale != 2 or ledger.asset(machine_asset).scale != 0:
        raise FinanceError(
            "finance_state",
            product=PRODUCT,
            contract=lease_id,
            problem=f"instalments are in cents and machines whole: USD must have scale 2 "
            f"and {machine_asset} scale 0",
        )
    try:
        default = _default_month(lease, published, through)
    except FinanceError as error:
        raise FinanceError(
            "finance_state", product=PRODUCT, contract=lease_id, problem=error.fields["problem"]
        ) from None
    down = to_minor(lease.down_payment_usd, 2, Rounding.HALF_UP) if through >= lease.start else 0
    paid = [
        row
        for row in lease.schedule
        if row.due <= through and (default == 0 or row.month < default)
    ]
    titled = default == 0 and len(paid) == lease.months
    transfers = _movements(
        lease_id, lease, accounts, down if through >= lease.start else 0, paid, titled
    )
    default_day = lease.schedule[default - 1].due if default else None
    records = []
    if default_day is not None:
        records.append(
            record_account(
                PRODUCT,
                lease_id,
                "default",
                asset=ledger.account(accounts.lessor_usd).asset,
                code=CODE_LEASE_DEFAULT,
                name=f"lease {lease_id} default month {default} {default_day.isoformat()}",
            )
        )
    written = write(
        ledger, product=PRODUCT, contract_id=lease_id, transfers=transfers, records=records
    )
    paid_principal = sum(row.principal_cents for row in paid)
    return LeaseBooking(
        lease_id=lease_id,
        through=through,
        down_payment_cents=down,
        instalments_paid=len(paid),
        paid_cents=sum(row.payment_cents for row in paid),
        outstanding_cents=lease.financed_cents - paid_principal,
        default_month=default or None,
        default_day=default_day,
        title_transferred=titled,
        new_transfers=written.transfers,
    )
