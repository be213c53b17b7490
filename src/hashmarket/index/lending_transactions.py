"""Lending transaction files: reading them strictly, and the imported files of a data directory.

A file is CSV with this header (any column order)::

    transaction_id,currency,start_date,maturity_date,amount,rate_per_year,lender,borrower,lender_owner,borrower_owner

* ``transaction_id`` — unique within the file and among every file imported before, and not
  starting ``ledger:`` (the ledger's own loans are named so);
* ``currency`` — ``usd`` (dollars lent against BTC) or ``btc`` (bitcoin lent);
* ``start_date``, ``maturity_date`` — ``YYYY-MM-DD``, the start from 2009-01-03 (Bitcoin's
  genesis) to 2099-12-31, maturity after start;
* ``amount`` — what is lent, in dollars (at most 2 decimals) or BTC (at most 8), above zero;
* ``rate_per_year`` — the simple annual rate as a fraction (``0.0525`` is 5.25 %), above −1
  and at most 2 (a percentage typed as ``5.25`` is refused);
* ``lender``, ``borrower``, ``lender_owner``, ``borrower_owner`` — may be blank; when both
  owners are given and equal the loan is not at arm's length and does not count.

Reading is all or nothing: the first bad row is refused with ``file:line: column: value`` and
nothing is returned (or stored, by :func:`import_transactions`).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

from hashmarket.errors import DataError, Location
from hashmarket.index.lending_rate import LendingCurrency, LendingTransaction

LENDING_COLUMNS = (
    "transaction_id",
    "currency",
    "start_date",
    "maturity_date",
    "amount",
    "rate_per_year",
    "lender",
    "borrower",
    "lender_owner",
    "borrower_owner",
)
OPTIONAL = frozenset({"lender", "borrower", "lender_owner", "borrower_owner"})
RATE_LOW, RATE_HIGH = Decimal(-1), Decimal(2)
IMPORT_DIR = Path("lending") / "transactions"
# No crypto loan predates Bitcoin's genesis block; the upper bound keeps a typo (9026) from
# stretching the chain of daily fixings over millennia.
LENDING_FIRST_DATE, LENDING_LAST_DATE = dt.date(2009, 1, 3), dt.date(2099, 12, 31)
LEDGER_PREFIX = "ledger:"  # the ids of the ledger's loans (hashmarket.ledger.lending_book)


def _bad(where: Location, problem: str) -> DataError:
    return DataError("lending_row", location=where, problem=problem)


def _date(raw: str, where: Location) -> dt.date:
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise DataError("bad_date", location=where) from None


def _decimal(raw: str, where: Location) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise DataError("bad_number", location=where) from None
    if not value.is_finite():
        raise DataError("not_finite", location=where)
    return value


def _amount_minor(raw: str, currency: LendingCurrency, where: Location) -> int:
    value = _decimal(raw, where)
    if value <= 0:
        raise DataError("not_positive", location=where)
    minor = value.scaleb(currency.scale)
    if minor != minor.to_integral_value():
        unit = "cents" if currency is LendingCurrency.USD else "sats"
        raise _bad(where, f"more decimals than {currency.value} has (whole {unit})")
    return int(minor)


def _row(cells: dict[str, str], name: str, line: int) -> LendingTransaction:
    def at(column: str) -> Location:
        return Location(name, line, column, cells[column])

    for column in LENDING_COLUMNS:
        if column not in OPTIONAL and not cells[column].strip():
            raise DataError("blank_value", location=at(column))
    if cells["transaction_id"].startswith(LEDGER_PREFIX):
        raise _bad(at("transaction_id"), f"{LEDGER_PREFIX!r} names the ledger's own loans")
    try:
        currency = LendingCurrency(cells["currency"].strip().lower())
    except ValueError:
        raise _bad(at("currency"), "expected usd or btc") from None
    start = _date(cells["start_date"], at("start_date"))
    if not LENDING_FIRST_DATE <= start <= LENDING_LAST_DATE:
        raise _bad(
            at("start_date"), f"must be between {LENDING_FIRST_DATE} and {LENDING_LAST_DATE}"
        )
    maturity = _date(cells["maturity_date"], at("maturity_date"))
    if maturity <= start:
        raise _bad(at("maturity_date"), f"must be after start_date {start}")
    rate = _decimal(cells["rate_per_year"], at("rate_per_year"))
    if not RATE_LOW < rate <= RATE_HIGH:
        raise _bad(
            at("rate_per_year"),
            f"must be a fraction per year above {RATE_LOW} and at most {RATE_HIGH} "
            "(0.0525 is 5.25 %)",
        )
    return LendingTransaction(
        transaction_id=cells["transaction_id"].strip(),
        currency=currency,
        start=start,
        maturity=maturity,
        amount_minor=_amount_minor(cells["amount"], currency, at("amount")),
        rate_per_year=rate,
        lender=cells["lender"].strip(),
        borrower=cells["borrower"].strip(),
        lender_owner=cells["lender_owner"].strip(),
        borrower_owner=cells["borrower_owner"].strip(),
        source=name,
    )


def _header(header: list[str] | None, name: str) -> list[str]:
    if header is None:
        raise DataError("csv_empty", location=Location(name))
    expected = ", ".join(LENDING_COLUMNS)
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise DataError("csv_duplicate_column", location=Location(name, 1), column=column)
        if column not in LENDING_COLUMNS:
            where = Location(name, 1)
            raise DataError("csv_extra_column", location=where, column=column, expected=expected)
        seen.add(column)
    for column in LENDING_COLUMNS:
        if column not in seen:
            where = Location(name, 1)
            raise DataError("csv_missing_column", location=where, column=column, expected=expected)
    return header


def read_transactions(
    path: Path | str, *, display_name: str | None = None
) -> list[LendingTransaction]:
    """Every row of a transactions file, or a :class:`DataError` for its first bad row."""
    name = display_name or str(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = _header(next(reader, None), name)
            out: list[LendingTransaction] = []
            first_line: dict[str, int] = {}
            for line, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    where = Location(name, line)
                    raise DataError(
                        "csv_field_count", location=where, found=len(row), expected=len(header)
                    )
                t = _row(dict(zip(header, row, strict=True)), name, line)
                if t.transaction_id in first_line:
                    where = Location(name, line, "transaction_id", t.transaction_id)
                    first = first_line[t.transaction_id]
                    raise DataError(
                        "duplicate_key", location=where, name="transaction_id", first_line=first
                    )
                first_line[t.transaction_id] = line
                out.append(t)
    except FileNotFoundError:
        raise DataError("file_not_found", location=Location(name)) from None
    except UnicodeDecodeError as exc:
        raise DataError("not_utf8", location=Location(name), detail=exc.reason) from None
    except OSError as exc:
        raise DataError("file_unreadable", location=Location(name), detail=exc) from None
    return out


def imported_files(data_dir: Path) -> list[Path]:
    folder = data_dir / IMPORT_DIR
    return sorted(folder.glob("*.csv")) if folder.is_dir() else []


def imported_transactions(data_dir: Path) -> list[LendingTransaction]:
    """Every transaction of the files imported into ``data_dir``."""
    out: list[LendingTransaction] = []
    for path in imported_files(data_dir):
        out.extend(read_transactions(path, display_name=path.name))
    return out


def import_transactions(path: Path, data_dir: Path) -> tuple[Path, int, bool]:
    """Validate ``path`` and store a copy under ``data_dir`` (named by its SHA-256).

    Returns the stored file, its row count and whether it was new. A bad file, or one whose
    transaction ids were imported before in another file, is refused and nothing is stored."""
    rows = read_transactions(path, display_name=str(path))
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    target = data_dir / IMPORT_DIR / f"{digest[:16]}.csv"
    if target.exists():
        return target, len(rows), False
    known = {t.transaction_id: t.source for t in imported_transactions(data_dir)}
    for line, t in enumerate(rows, start=2):
        if t.transaction_id in known:
            where = Location(str(path), line, "transaction_id", t.transaction_id)
            raise DataError(
                "lending_row",
                location=where,
                problem=(f"already imported in {known[t.transaction_id]}"),
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(content)
    os.replace(partial, target)  # appears whole or not at all
    return target, len(rows), True
