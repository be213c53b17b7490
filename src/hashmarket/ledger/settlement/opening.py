"""Opening a contract: its terms checked and stored, its initial margins reserved."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from decimal import Decimal, InvalidOperation

from hashmarket.errors import SettlementError
from hashmarket.instruments import AsianOption, EuropeanOption
from hashmarket.ledger import settlement_store as db
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.model import INT64_MAX, Account, AccountFlags, Transfer
from hashmarket.ledger.model import TransferFlags as F
from hashmarket.ledger.results import CreateAccountResult, CreateTransferResult
from hashmarket.ledger.settlement.reading import scale_of, status_of
from hashmarket.ledger.settlement.terms import (
    CODE_MARGIN,
    DEFAULT_MARGIN_RATE,
    GRACE_DAYS_MAX,
    SETTLED_TYPES,
    SETTLEMENT_ROUNDING,
    Contract,
    ContractState,
    ContractStatus,
    EventKind,
    Party,
    canonical_spec,
    escrow_account_id,
    escrow_account_name,
    linked,
    margin_id,
    margin_minor_units,
    notional_of,
)
from hashmarket.ledger.settlement_store import SettlementEvent
from hashmarket.ledger.stablecoins import par_currency
from hashmarket.ledger.store import Store
from hashmarket.ledger.writer import LedgerWriter

# Options pay their holder only: the long side never owes, so it posts no margin.
_LONG_NEVER_PAYS = (EuropeanOption, AsianOption)
_CONTRACT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def _invalid(contract_id: str, field: str, problem: str) -> SettlementError:
    return SettlementError(
        "settle_contract_invalid", contract=contract_id, field=field, problem=problem
    )


def _rate(value: object, contract_id: str) -> Decimal:
    if isinstance(value, bool | float):
        # 0.35 as a float is not 35/100; the rate multiplies money, so it must be exact.
        raise _invalid(contract_id, "margin_rate", "must be a Decimal, an int or a decimal string")
    try:
        rate = Decimal(value) if isinstance(value, int | str | Decimal) else None
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1):
        raise _invalid(contract_id, "margin_rate", f"{value!r} is not a number from 0 to 1")
    return rate


def _resolve_terms(store: Store, contract: Contract) -> db.ContractRow:
    """The row to store for ``contract``, every term checked."""
    cid = contract.contract_id
    if not isinstance(cid, str) or not _CONTRACT_ID.match(cid):
        raise _invalid(
            str(cid), "contract_id", "must be 1-64 letters, digits, '.', '_', ':' or '-'"
        )
    instrument = contract.instrument
    if type(instrument) not in SETTLED_TYPES.values():
        raise SettlementError(
            "settle_unsupported",
            type=getattr(instrument, "type_name", type(instrument).__name__),
            known=", ".join(SETTLED_TYPES),
        )
    asset = contract.asset.upper() if isinstance(contract.asset, str) else ""
    currency = instrument.currency.value.upper()
    # A USD payoff may also settle at par in a USD stablecoin (ledger/stablecoins.py).
    if par_currency(asset) != currency:
        raise _invalid(
            cid,
            "asset",
            f"{contract.asset!r}: the instrument pays in {currency}, so it settles in {currency}",
        )
    found = store.asset(asset)
    if found is None:
        raise _invalid(cid, "asset", f"the ledger has no {asset} asset")
    scale = found[0]
    grace = contract.grace_days
    if type(grace) is not int or not 0 <= grace <= GRACE_DAYS_MAX:
        raise _invalid(cid, "grace_days", f"{grace!r} is not a whole number from 0 to 366")
    if contract.rounding != SETTLEMENT_ROUNDING:
        raise _invalid(
            cid,
            "rounding",
            f"{str(contract.rounding)!r}: contracts settle by {SETTLEMENT_ROUNDING.value}, "
            "the rule whose remainder each event records",
        )
    rate = _rate(
        DEFAULT_MARGIN_RATE[currency] if contract.margin_rate is None else contract.margin_rate,
        cid,
    )
    notional = contract.notional if contract.notional is not None else notional_of(instrument)
    if notional is None:
        raise _invalid(cid, "notional", "must be given: the terms do not fix it")
    if not isinstance(notional, Decimal) or not notional.is_finite() or notional < 0:
        raise _invalid(cid, "notional", f"{notional!r} is not a non-negative Decimal")
    margin = margin_minor_units(notional, rate, scale)
    if margin > INT64_MAX:
        raise _invalid(cid, "notional", "gives a margin beyond the ledger's 2**63 - 1 units")
    # Every settled type has a fixed window (only the epoch-value future's depends on the
    # as-of day and the chain tip, and it is not settled here).
    first, last = instrument.fixing_window(asof=dt.date.min, height=0)
    spec = canonical_spec(instrument)
    row = db.ContractRow(
        contract_id=cid,
        instrument_type=instrument.type_name,
        spec=spec,
        spec_sha256=hashlib.sha256(spec.encode("utf-8")).hexdigest(),
        asset=asset,
        buyer_account_id=contract.buyer_account_id,
        seller_account_id=contract.seller_account_id,
        escrow_account_id=escrow_account_id(asset),
        notional=notional,
        margin_rate=rate,
        buyer_margin_minor=0 if isinstance(instrument, _LONG_NEVER_PAYS) else margin,
        seller_margin_minor=margin,
        grace_days=grace,
        first_day=first,
        last_day=last,
        timestamp_ns=0,
    )
    _check_parties(store, row)
    return row


def _check_parties(store: Store, row: db.ContractRow) -> None:
    cid = row.contract_id
    buyer, seller = row.buyer_account_id, row.seller_account_id
    for field, account_id in (("buyer_account_id", buyer), ("seller_account_id", seller)):
        if type(account_id) is not int or not 0 < account_id <= INT64_MAX:
            raise _invalid(cid, field, f"{account_id!r} is not an account id")
        if account_id == row.escrow_account_id:
            raise _invalid(cid, field, "is the settlement escrow account")
    if buyer == seller:
        raise _invalid(cid, "seller_account_id", "is the buyer: a trade needs two parties")
    found = {r[0]: r for r in store.accounts_by_id([buyer, seller])}
    for field, account_id in (("buyer_account_id", buyer), ("seller_account_id", seller)):
        account = found.get(account_id)
        if account is None:
            raise SettlementError("account_not_found", account=account_id)
        if account[1] != row.asset:
            raise _invalid(cid, field, f"account {account_id} holds {account[1]}, not {row.asset}")
        if account[2] & int(AccountFlags.ISSUER):
            raise _invalid(cid, field, f"account {account_id} is the {row.asset} issuer")


def _same_terms(stored: db.ContractRow, new: db.ContractRow) -> bool:
    return dataclasses.replace(stored, timestamp_ns=0) == new


def open_contract(
    ledger: Ledger, contract: Contract, *, at_ns: int | None = None
) -> ContractStatus:
    """Record the trade and reserve the initial margins (see the module doc).

    Opening the same trade again under the same id changes nothing and returns its state;
    other terms under an existing id are refused. A party that lacks the free funds for its
    margin is refused (:class:`SettlementError` naming it) and nothing is written.
    ``at_ns`` opens it back-dated, as an import (see ``Ledger.transaction``).
    """
    with ledger.transaction(at_ns=at_ns) as w:
        store = w.store
        row = _resolve_terms(store, contract)
        stored = db.load_contract(store, row.contract_id)
        if stored is not None:
            if not _same_terms(stored, row):
                raise SettlementError(
                    "settle_refused",
                    action="opening",
                    contract=row.contract_id,
                    result_code="exists_with_different_terms",
                    reason="a contract with this id has other terms",
                )
            return status_of(store, stored, db.last_event(store, row.contract_id))
        (code,) = w.create_accounts(
            [Account(row.escrow_account_id, row.asset, name=escrow_account_name(row.asset))]
        )
        if code is not CreateAccountResult.OK:
            raise SettlementError(
                "settle_refused",
                action="opening",
                contract=row.contract_id,
                result_code=code.value,
                reason=f"escrow account {row.escrow_account_id}: {code.reason}",
            )
        _reserve_margins(w, row)
        row = dataclasses.replace(row, timestamp_ns=w.tick())
        db.insert_contract(store, row)
        event = SettlementEvent(
            contract_id=row.contract_id,
            seq=1,
            kind=EventKind.OPEN.value,
            run_day=None,
            state=ContractState.ACTIVE.value,
            through_day=None,
            due_minor=0,
            settled_minor=0,
            amount_minor=0,
            remainder_minor=Decimal(0),
            called_party=None,
            deadline_ns=None,
            shortfall_minor=0,
            transfer_id=None,
            fixings_sha256=None,
            timestamp_ns=w.tick(),
        )
        db.insert_event(store, event)
        w.applied += 1
        return status_of(store, row, event)


def _reserve_margins(w: LedgerWriter, row: db.ContractRow) -> None:
    """Both margins as pending transfers into the escrow, one chain; a refusal names the
    party that could not fund its margin."""
    parties = [
        (party, account, amount)
        for party, account, amount in (
            (Party.BUYER, row.buyer_account_id, row.buyer_margin_minor),
            (Party.SELLER, row.seller_account_id, row.seller_margin_minor),
        )
        if amount > 0
    ]
    if not parties:
        return
    batch = [
        Transfer(
            margin_id(row.contract_id, party),
            account,
            row.escrow_account_id,
            amount,
            F.PENDING,
            code=CODE_MARGIN,
        )
        for party, account, amount in parties
    ]
    codes = w.create_transfers(linked(batch))
    for (party, account, amount), code in zip(parties, codes, strict=True):
        if code in (CreateTransferResult.OK, CreateTransferResult.LINKED_EVENT_FAILED):
            continue
        raise SettlementError(
            "settle_margin_refused",
            contract=row.contract_id,
            party=party.value,
            account=account,
            amount=f"{Decimal(amount).scaleb(-scale_of(w.store, row.asset))}",
            asset=row.asset,
            result_code=code.value,
            reason=code.reason,
        )
