"""An exact double-entry ledger on SQLite or PostgreSQL, and hashrate tokens on top of it.

Modelled on TigerBeetle's and Formance's guarantees: integer amounts in each asset's smallest
unit, client-supplied ids with idempotent replay, linked batches that apply entirely or not at
all, two-phase transfers, an append-only hash-chained journal, and invariants that
``Ledger.verify()`` checks rather than assumes.
"""

from hashmarket.ledger.clock import Clock, ManualClock, SystemClock
from hashmarket.ledger.core import AssetInfo, Ledger
from hashmarket.ledger.model import (
    Account,
    AccountBalance,
    AccountFlags,
    Asset,
    JournalEntry,
    Transfer,
    TransferFlags,
)
from hashmarket.ledger.results import (
    CreateAccountResult,
    CreateAssetResult,
    CreateTransferResult,
)
from hashmarket.ledger.store import Head
from hashmarket.ledger.verify import VerifyReport
from hashmarket.ledger.writer import LedgerWriter

__all__ = [
    "Account",
    "AccountBalance",
    "AccountFlags",
    "Asset",
    "AssetInfo",
    "Clock",
    "CreateAccountResult",
    "CreateAssetResult",
    "CreateTransferResult",
    "Head",
    "JournalEntry",
    "Ledger",
    "LedgerWriter",
    "ManualClock",
    "SystemClock",
    "Transfer",
    "TransferFlags",
    "VerifyReport",
]
