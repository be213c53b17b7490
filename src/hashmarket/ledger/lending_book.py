"""The ledger's loan book as a source of the lending reference rate.

A loan booked by :mod:`hashmarket.ledger.loans` leaves its disbursement on the journal under a
transfer id derived from the loan id (``transfer_id(loan_id, "disbursement")``): that row
proves the loan was made and gives its amount exactly, in the asset's minor units, with the
lender (debit) and borrower (credit) accounts. Its rate and maturity are terms, which the
ledger does not hold; a **loan book** file names them::

    {"loans": [{"loan_id": "miner-btc-2026-02", "currency": "usd", "rate_per_year": "0.09",
                "start": "2026-02-02", "maturity": "2026-03-04",
                "lender_owner": "fund-a", "borrower_owner": "miner-b"}]}

Only the loans of the book whose disbursement is on the ledger become transactions; a loan
not yet booked is left out, and a disbursement in an asset whose scale is not the currency's
(cents for ``usd``, sats for ``btc``) is refused. The book lists fixed-rate loans only: a loan
floating on the reference rate would feed the rate its own value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from hashmarket.errors import DataError
from hashmarket.index import (
    LENDING_FIRST_DATE,
    LENDING_LAST_DATE,
    LendingCurrency,
    LendingTransaction,
    imported_transactions,
    lending_fixings,
)
from hashmarket.instruments import FloatingRate, with_fixings
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.loans import transfer_id
from hashmarket.specfile import read_document

BOOK_FIELDS = (
    "loan_id",
    "currency",
    "rate_per_year",
    "start",
    "maturity",
    "lender_owner",
    "borrower_owner",
)
IMPORT_DIR = Path("lending") / "loan_books"


@dataclass(frozen=True)
class BookedLoan:
    """The terms of one loan of the book (its amount comes from the ledger)."""

    loan_id: str
    currency: LendingCurrency
    rate_per_year: Decimal
    start: dt.date
    maturity: dt.date
    lender_owner: str = ""
    borrower_owner: str = ""


def _field(entry: dict[str, Any], name: str, where: str, path: str) -> Any:
    if name not in entry:
        raise DataError("lending_book", path=path, problem=f"{where}.{name}: missing")
    return entry[name]


def _loan(entry: Any, i: int, path: str) -> BookedLoan:
    where = f"loans[{i}]"

    def bad(name: str, problem: str) -> DataError:
        value = entry.get(name) if isinstance(entry, dict) else entry
        return DataError("lending_book", path=path, problem=f"{where}.{name}: {value!r} {problem}")

    if not isinstance(entry, dict):
        raise DataError("lending_book", path=path, problem=f"{where}: not a mapping")
    unknown = sorted(set(entry) - set(BOOK_FIELDS))
    if unknown:
        raise bad(unknown[0], f"is an unknown field (known: {', '.join(BOOK_FIELDS)})")
    loan_id = _field(entry, "loan_id", where, path)
    if not isinstance(loan_id, str) or not loan_id:
        raise bad("loan_id", "must be a non-empty string")
    try:
        currency = LendingCurrency(str(_field(entry, "currency", where, path)))
    except ValueError:
        raise bad("currency", "must be usd or btc") from None
    raw_rate = _field(entry, "rate_per_year", where, path)
    try:
        if isinstance(raw_rate, bool):
            raise InvalidOperation
        rate = Decimal(repr(raw_rate) if isinstance(raw_rate, float) else str(raw_rate))
    except InvalidOperation:
        rate = Decimal("NaN")
    if not (rate.is_finite() and Decimal(-1) < rate <= Decimal(2)):
        raise bad("rate_per_year", "must be a fraction per year above -1 and at most 2")
    dates = []
    for name in ("start", "maturity"):
        try:
            dates.append(dt.date.fromisoformat(str(_field(entry, name, where, path))))
        except ValueError:
            raise bad(name, "is not a date in YYYY-MM-DD form") from None
    if not LENDING_FIRST_DATE <= dates[0] <= LENDING_LAST_DATE:
        raise bad("start", f"must be between {LENDING_FIRST_DATE} and {LENDING_LAST_DATE}")
    if dates[1] <= dates[0]:
        raise bad("maturity", f"must be after start {dates[0]}")
    owners = [str(entry.get(name, "")) for name in ("lender_owner", "borrower_owner")]
    return BookedLoan(loan_id, currency, rate, dates[0], dates[1], *owners)


def read_loan_book(path: Path | str) -> list[BookedLoan]:
    """The loans of a loan book file (JSON or YAML), or a :class:`DataError` naming the entry
    and field."""
    document, location = read_document(path, what="loan book", error=DataError)
    name = location.file
    if not isinstance(document, dict) or not isinstance(document.get("loans"), list):
        raise DataError("lending_book", path=name, problem='expected {"loans": [...]}')
    loans = [_loan(entry, i, name) for i, entry in enumerate(document["loans"])]
    seen: set[str] = set()
    for i, loan in enumerate(loans):
        if loan.loan_id in seen:
            problem = f"loans[{i}].loan_id: {loan.loan_id!r} appears twice"
            raise DataError("lending_book", path=name, problem=problem)
        seen.add(loan.loan_id)
    return loans


def booked_transactions(ledger: Ledger, book: Sequence[BookedLoan]) -> list[LendingTransaction]:
    """The loans of ``book`` that are booked on ``ledger``, as rate transactions."""
    out: list[LendingTransaction] = []
    for loan in book:
        entry = ledger.lookup_transfer(transfer_id(loan.loan_id, "disbursement"))
        if entry is None:
            continue
        asset = ledger.account(entry.debit_account_id).asset
        scale = ledger.asset(asset).scale
        if scale != loan.currency.scale:
            raise DataError(
                "lending_book",
                path="ledger",
                problem=f"loan {loan.loan_id!r} was disbursed in {asset} (scale {scale}), "
                f"not in {loan.currency.value} (scale {loan.currency.scale})",
            )
        out.append(
            LendingTransaction(
                transaction_id=f"ledger:{loan.loan_id}",
                currency=loan.currency,
                start=loan.start,
                maturity=loan.maturity,
                amount_minor=entry.amount,
                rate_per_year=loan.rate_per_year,
                lender=str(entry.debit_account_id),
                borrower=str(entry.credit_account_id),
                lender_owner=loan.lender_owner,
                borrower_owner=loan.borrower_owner,
                source="ledger",
            )
        )
    return out


def imported_loan_books(data_dir: Path) -> list[BookedLoan]:
    """Every loan of the loan books imported into ``data_dir``."""
    folder = data_dir / IMPORT_DIR
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [loan for path in files for loan in read_loan_book(path)]


def import_loan_book(path: Path, data_dir: Path) -> tuple[Path, int, bool]:
    """Validate a loan book and store a copy under ``data_dir`` (named by its SHA-256);
    a bad book, or one naming a loan an earlier book names, is refused and nothing stored."""
    loans = read_loan_book(path)
    content = path.read_bytes()
    target = data_dir / IMPORT_DIR / f"{hashlib.sha256(content).hexdigest()[:16]}.json"
    if target.exists():
        return target, len(loans), False
    known = {loan.loan_id for loan in imported_loan_books(data_dir)}
    for i, loan in enumerate(loans):
        if loan.loan_id in known:
            problem = f"loans[{i}].loan_id: {loan.loan_id!r} is in a book imported before"
            raise DataError("lending_book", path=str(path), problem=problem)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(content)
    os.replace(partial, target)
    return target, len(loans), True


def reference_transactions(data_dir: Path, ledger: Ledger | None) -> list[LendingTransaction]:
    """Every source of the rate a data directory holds: its imported transaction files and,
    with a ledger, the loans of its imported loan books that are booked there."""
    transactions = imported_transactions(data_dir)
    book = imported_loan_books(data_dir)
    if ledger is not None and book:
        transactions.extend(booked_transactions(ledger, book))
    return transactions


def floating_rates(
    transactions: Sequence[LendingTransaction],
) -> Callable[[FloatingRate, dt.date, dt.date], FloatingRate]:
    """What a floating loan spec asks for (``risk.specs.RatesFor``): its resets from the
    fixings of ``transactions``."""

    def resolve(floating: FloatingRate, start: dt.date, maturity: dt.date) -> FloatingRate:
        fixings = lending_fixings(transactions, currency=floating.currency, tenors=[floating.tenor])
        return with_fixings(floating, start=start, maturity=maturity, fixings=fixings)

    return resolve
