"""A cloud hashrate contract on the ledger: the up-front purchase, the daily payouts and the
shut-off.

* **purchase** (:func:`purchase_cloud`) — the buyer pays the up-front price (USD cents or sats) to
  the provider;
* **payouts** (:func:`pay_cloud`) — for every day of the term with a published fixing through
  ``through``, the provider's BTC account pays the buyer's the day's net output in sats: the
  contract's own payoff on the published path (:func:`hashmarket.instruments.cloud_life`,
  the hashrate token's rule, whole sats rounded down), so pricing and payment agree. A day
  whose output does not exceed its fee pays nothing and moves nothing;
* **shut-off** — when the published path shuts the contract off, the run that sees it writes
  the shut-off's record account (``cloud <id> shut off <day>``) with the payouts; no later
  day is paid, by this run or any other, whatever the fixings do next.

Each day's payout has the id derived from (contract, day), so a run pays only days never paid
and re-running pays nothing twice; a run's payouts and record are one linked write, all or
nothing (a provider short of sats is refused and nothing is paid).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from hashmarket.errors import FinanceError
from hashmarket.instruments import CloudHashrate, Fixings, cloud_life
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.mining.common import (
    CODE_CLOUD_PAYOUT,
    CODE_CLOUD_PURCHASE,
    CODE_CLOUD_SHUTOFF,
    event_id,
    read_record,
    record_account,
    require_assets,
    write,
)
from hashmarket.ledger.model import Transfer
from hashmarket.money import Rounding, to_minor
from hashmarket.units import SATS_PER_BTC

PRODUCT = "cloud"
# The up-front price in cents: the terms' USD to the nearest cent (a price is quoted in cents).
PRICE_ROUNDING = Rounding.HALF_UP


@dataclass(frozen=True, slots=True)
class CloudAccounts:
    """The accounts a cloud contract moves money between: BTC payouts from the provider to
    the buyer, and the up-front price (USD or BTC, the terms' currency) the other way."""

    provider_btc: int
    buyer_btc: int
    buyer_payment: int
    provider_payment: int


@dataclass(frozen=True, slots=True)
class CloudDay:
    day: dt.date
    output_sats: int
    transfer_id: int | None  # None: nothing paid that day


@dataclass(frozen=True, slots=True)
class CloudPayout:
    """A payout run: every day of the term fixed through ``through``, what each paid, the
    total paid so far, what this run wrote, and the shut-off day if there is one."""

    contract_id: str
    through: dt.date
    days: tuple[CloudDay, ...]
    shutoff_day: dt.date | None
    paid_sats: int
    new_transfers: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract_id": self.contract_id,
            "through": self.through.isoformat(),
            "shutoff_day": None if self.shutoff_day is None else self.shutoff_day.isoformat(),
            "paid_sats": self.paid_sats,
            "new_transfers": self.new_transfers,
            "days": [
                {"day": d.day.isoformat(), "output_sats": d.output_sats, "paid": d.transfer_id}
                for d in self.days
            ],
        }


def purchase_id(contract_id: str) -> int:
    return event_id(PRODUCT, contract_id, "purchase")


def price_minor(contract: CloudHashrate, ledger: Ledger) -> tuple[int, str]:
    """The up-front price in minor units and its asset (``BTC`` sats or ``USD`` cents)."""
    if contract.price_sats is not None:
        return contract.price_sats, "BTC"
    assert contract.price_usd is not None
    return to_minor(contract.price_usd, ledger.asset("USD").scale, PRICE_ROUNDING), "USD"


def _check_accounts(
    ledger: Ledger, contract_id: str, contract: CloudHashrate, accounts: CloudAccounts
) -> None:
    asset = "BTC" if contract.price_sats is not None else "USD"
    require_assets(
        ledger,
        product=PRODUCT,
        contract_id=contract_id,
        accounts={
            "provider's BTC": (accounts.provider_btc, "BTC"),
            "buyer's BTC": (accounts.buyer_btc, "BTC"),
            "buyer's payment": (accounts.buyer_payment, asset),
            "provider's payment": (accounts.provider_payment, asset),
        },
    )


def purchase_cloud(
    ledger: Ledger, contract_id: str, contract: CloudHashrate, accounts: CloudAccounts
) -> int:
    """The buyer pays the up-front price to the provider (once); returns the amount."""
    _check_accounts(ledger, contract_id, contract, accounts)
    amount, _ = price_minor(contract, ledger)
    if amount > 0:
        transfer = Transfer(
            purchase_id(contract_id),
            accounts.buyer_payment,
            accounts.provider_payment,
            amount,
            code=CODE_CLOUD_PURCHASE,
        )
        write(ledger, product=PRODUCT, contract_id=contract_id, transfers=[transfer])
    return amount


def _shutoff_record(contract_id: str, day: dt.date) -> Any:
    return record_account(
        PRODUCT,
        contract_id,
        "shut-off",
        asset="BTC",
        code=CODE_CLOUD_SHUTOFF,
        name=f"cloud {contract_id} shut off {day.isoformat()}",
    )


def recorded_cloud_shutoff(ledger: Ledger, contract_id: str) -> dt.date | None:
    """The shut-off day recorded on the ledger for ``contract_id``, if any."""
    name = read_record(ledger, _shutoff_record(contract_id, dt.date.min))
    return None if name is None else dt.date.fromisoformat(name.rsplit(" ", 1)[1])


def _unpublished(contract_id: str, first: dt.date, last: dt.date) -> FinanceError:
    return FinanceError(
        "finance_state",
        product=PRODUCT,
        contract=contract_id,
        problem=f"needs published fixings from {first} to {last}; none given",
    )


def pay_cloud(
    ledger: Ledger,
    contract_id: str,
    contract: CloudHashrate,
    accounts: CloudAccounts,
    published: Fixings | None,
    *,
    through: dt.date,
) -> CloudPayout:
    """Pay every day of the term from ``contract.start`` to ``through`` not yet paid, from
    ``published`` (the published fixings, one path, covering those days)."""
    _check_accounts(ledger, contract_id, contract, accounts)
    bought = ledger.lookup_transfer(purchase_id(contract_id)) is not None
    if price_minor(contract, ledger)[0] and not bought:
        raise FinanceError(
            "finance_state",
            product=PRODUCT,
            contract=contract_id,
            problem="not bought: book the purchase (the up-front payment) first",
        )
    last = min(through, contract.end)
    if last < contract.start:
        return CloudPayout(contract_id, through, (), None, 0, 0)
    if published is None:
        raise _unpublished(contract_id, contract.start, last)
    try:
        path = published.between(contract.start, last)
        life = cloud_life(contract, path)
    except ValueError as error:
        raise FinanceError(
            "finance_state", product=PRODUCT, contract=contract_id, problem=str(error)
        ) from None
    if path.first_date != contract.start or path.last_date != last:
        raise FinanceError(
            "finance_state",
            product=PRODUCT,
            contract=contract_id,
            problem=f"needs published fixings from {contract.start} to {last}; "
            f"given {path.first_date} to {path.last_date}",
        )
    stop = recorded_cloud_shutoff(ledger, contract_id)
    shut_col = int(life.shutoff_col[0])
    if stop is None and shut_col >= 0:
        stop = path.first_date + dt.timedelta(days=shut_col)
    sats = np.rint(life.output_btc[0] * SATS_PER_BTC).astype(np.int64)
    days, transfers = [], []
    for col, amount in enumerate(sats):
        day = path.first_date + dt.timedelta(days=col)
        paid = int(amount) if stop is None or day <= stop else 0
        tid = event_id(PRODUCT, contract_id, "payout", day.isoformat()) if paid else None
        if tid is not None:
            transfers.append(
                Transfer(
                    tid, accounts.provider_btc, accounts.buyer_btc, paid, code=CODE_CLOUD_PAYOUT
                )
            )
        days.append(CloudDay(day, paid, tid))
    records = [_shutoff_record(contract_id, stop)] if stop is not None else []
    written = write(
        ledger, product=PRODUCT, contract_id=contract_id, transfers=transfers, records=records
    )
    return CloudPayout(
        contract_id,
        through,
        tuple(days),
        stop,
        sum(d.output_sats for d in days),
        written.transfers,
    )
