"""An exact double-entry ledger on SQLite or PostgreSQL, and hashrate tokens on top of it.

Modelled on TigerBeetle's and Formance's guarantees: integer amounts in each asset's smallest
unit, client-supplied ids with idempotent replay, linked batches that apply entirely or not at
all, two-phase transfers, an append-only hash-chained journal, and invariants that
``Ledger.verify()`` checks rather than assumes.
"""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.ledger.allocation import allocate
    from hashmarket.ledger.clock import (
        Clock,
        ManualClock,
        SystemClock,
        day_start_ns,
        ns_to_datetime,
    )
    from hashmarket.ledger.core import AssetInfo, Ledger
    from hashmarket.ledger.idempotency import Outcome, StoredResponse
    from hashmarket.ledger.lending_book import (
        BookedLoan,
        booked_transactions,
        floating_rates,
        import_loan_book,
        imported_loan_books,
        read_loan_book,
        reference_transactions,
    )
    from hashmarket.ledger.model import (
        INT64_MAX,
        Account,
        AccountBalance,
        AccountFlags,
        Asset,
        JournalEntry,
        Transfer,
        TransferFlags,
    )
    from hashmarket.ledger.records import account_record, entry_record, scaled
    from hashmarket.ledger.reserves import InclusionProof, Root, verify_proof
    from hashmarket.ledger.results import (
        CreateAccountResult,
        CreateAssetResult,
        CreateTransferResult,
    )
    from hashmarket.ledger.roles import service_role_sql
    from hashmarket.ledger.stablecoins import (
        STABLECOINS,
        Stablecoin,
        create_stablecoins,
        par_currency,
    )
    from hashmarket.ledger.store import Head, Store, parse_url
    from hashmarket.ledger.store_sqlite import copy_database
    from hashmarket.ledger.verify import VerifyReport
    from hashmarket.ledger.writer import LedgerWriter

__all__ = [
    "INT64_MAX",
    "STABLECOINS",
    "Account",
    "AccountBalance",
    "AccountFlags",
    "Asset",
    "AssetInfo",
    "BookedLoan",
    "Clock",
    "CreateAccountResult",
    "CreateAssetResult",
    "CreateTransferResult",
    "Head",
    "InclusionProof",
    "JournalEntry",
    "Ledger",
    "LedgerWriter",
    "ManualClock",
    "Outcome",
    "Root",
    "Stablecoin",
    "Store",
    "StoredResponse",
    "SystemClock",
    "Transfer",
    "TransferFlags",
    "VerifyReport",
    "account_record",
    "allocate",
    "booked_transactions",
    "copy_database",
    "create_stablecoins",
    "day_start_ns",
    "entry_record",
    "floating_rates",
    "import_loan_book",
    "imported_loan_books",
    "ns_to_datetime",
    "par_currency",
    "parse_url",
    "read_loan_book",
    "reference_transactions",
    "scaled",
    "service_role_sql",
    "verify_proof",
]

__getattr__, __dir__ = lazy_exports(globals())
