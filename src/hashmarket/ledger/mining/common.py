"""What cloud hashrate, hosting and machine leases share on the ledger: derived ids, the
published path a booking reads, record accounts, and one all-or-nothing write.

Every booking is a pure function of the contract's terms and the published fixings: it works
out every movement due through a day, with ids derived from the contract id and the event
(:func:`event_id`), and writes those not yet written in one transaction, as one linked chain.
Running it again finds every id already written and changes nothing; a refusal anywhere
(a payer short of funds) writes nothing.

A fact that moves no money — a cloud contract's shut-off, a lease's default — is recorded as a
**record account** (:func:`record_account`): an account that no movement ever uses (it cannot
be overdrawn, and no booking sends it anything), with an id derived from the contract and the
event, a code saying what it records and a name that states it ("cloud C-1 shut off
2025-03-04"). Accounts are immutable and covered by the registry log,
so the fact cannot be changed afterwards, and the ledger needs no new table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from hashmarket.chain import NetworkHistory
from hashmarket.errors import FinanceError
from hashmarket.index import fixings
from hashmarket.instruments import Fixings
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.model import Account, AccountFlags, Transfer, TransferFlags
from hashmarket.ledger.results import CreateAccountResult, CreateTransferResult
from hashmarket.money import derived_id

# Keeps these products' ids apart from every other use of :func:`derived_id`.
ID_DOMAIN = "hashmarket mining finance v1"
# Transfer and account codes (the ledger's user category); tokens use 1-5, settlement 20-23.
CODE_CLOUD_PURCHASE = 30
CODE_CLOUD_PAYOUT = 31
CODE_CLOUD_SHUTOFF = 32
CODE_HOSTING_BTC = 40
CODE_HOSTING_POWER = 41
CODE_LEASE_DOWN_PAYMENT = 50
CODE_LEASE_INSTALMENT = 51
CODE_LEASE_TITLE = 52
CODE_LEASE_DEFAULT = 53
RECORD_FLAGS = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS


def event_id(product: str, contract_id: str, *parts: str | int) -> int:
    """The id of one movement (or record) of a contract: the same event, the same id."""
    return derived_id(ID_DOMAIN, product, contract_id, *parts)


def record_account(
    product: str, contract_id: str, event: str, *, asset: str, code: int, name: str
) -> Account:
    """The record account of ``event`` of a contract (see the module docstring)."""
    return Account(
        event_id(product, contract_id, "record", event), asset, RECORD_FLAGS, code, name[:128]
    )


def read_record(ledger: Ledger, account: Account) -> str | None:
    """The name of a record account if it has been written, else ``None``."""
    found = ledger.lookup_accounts([account.id])
    return found[0].name if found else None


def require_assets(
    ledger: Ledger, *, product: str, contract_id: str, accounts: dict[str, tuple[int, str]]
) -> None:
    """Refuse unless each named account exists and holds its asset: a USD price must not
    be paid in sats, nor a payout land in a USD account."""
    for role, (account_id, asset) in accounts.items():
        found = ledger.lookup_accounts([account_id])
        if not found:
            problem = f"no {role} account {account_id} (open it first, in {asset})"
        elif found[0].asset != asset:
            problem = f"the {role} account {account_id} holds {found[0].asset}, not {asset}"
        else:
            continue
        raise FinanceError("finance_state", product=product, contract=contract_id, problem=problem)


def published_path(history: NetworkHistory, first: dt.date, through: dt.date) -> Fixings:
    """The published FPPS fixings (USD and BTC) of ``first … through`` as one path."""
    window = history.between(first, through)
    return Fixings.from_published(
        usd=fixings(window, currency="usd"), btc=fixings(window, currency="btc")
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Written:
    """How many of a booking's movements this run wrote (the rest were already there)."""

    transfers: int
    records: int


def _written(ledger: Ledger, transfer: Transfer, *, product: str, contract_id: str) -> bool:
    """Whether ``transfer`` is on the ledger already (refused if it is there differently)."""
    entry = ledger.lookup_transfer(transfer.id)
    if entry is None:
        return False
    written = (entry.debit_account_id, entry.credit_account_id, entry.amount, entry.code)
    wanted = (transfer.debit_account_id, transfer.credit_account_id, transfer.amount, transfer.code)
    if written != wanted:
        raise FinanceError(
            "finance_refused",
            product=product,
            contract=contract_id,
            action=f"movement {transfer.id} (now {wanted[2]} from {wanted[0]} to {wanted[1]})",
            result_code="exists_with_different_fields",
            reason=f"written before as {written[2]} from {written[0]} to {written[1]}",
        )
    return True


def write(
    ledger: Ledger,
    *,
    product: str,
    contract_id: str,
    transfers: Sequence[Transfer],
    records: Sequence[Account] = (),
) -> Written:
    """Write the movements and records not yet on the ledger, all or nothing. A movement
    already written must be the same movement (accounts, amount, code): a booking never
    quietly disagrees with what it wrote before (say, on revised fixings)."""
    new = [
        t for t in transfers if not _written(ledger, t, product=product, contract_id=contract_id)
    ]
    fresh = [a for a in records if not ledger.lookup_accounts([a.id])]
    if not new and not fresh:
        return Written(0, 0)
    chain = [
        dataclasses.replace(t, flags=t.flags | TransferFlags.LINKED) if i < len(new) - 1 else t
        for i, t in enumerate(new)
    ]
    with ledger.transaction() as writer:
        for account, opened in zip(fresh, writer.create_accounts(fresh), strict=True):
            if opened is not CreateAccountResult.OK:
                raise FinanceError(
                    "finance_refused",
                    product=product,
                    contract=contract_id,
                    action=f"record {account.name!r}",
                    result_code=opened.value,
                    reason=opened.reason,
                )
        results = writer.create_transfers(chain) if chain else []
        for transfer, result in zip(chain, results, strict=True):
            if result not in (CreateTransferResult.OK, CreateTransferResult.LINKED_EVENT_FAILED):
                raise FinanceError(
                    "finance_refused",
                    product=product,
                    contract=contract_id,
                    action=f"transfer of {transfer.amount} from account "
                    f"{transfer.debit_account_id} to {transfer.credit_account_id}",
                    result_code=result.value,
                    reason=result.reason,
                )
    return Written(len(new), len(fresh))
