"""Ledger values as plain records: the one shape the CLI's JSON and the HTTP API return."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hashmarket.ledger.clock import ns_to_datetime
from hashmarket.ledger.model import AccountBalance, JournalEntry


def scaled(units: int, scale: int) -> str:
    """Smallest units as a decimal amount of the asset: 150000 sats -> 0.00150000."""
    return f"{Decimal(units).scaleb(-scale):.{scale}f}"


def account_record(account: AccountBalance, scale: int) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "asset": account.asset,
        "flags": account.flags.name if account.flags.name else str(int(account.flags)),
        "balance_units": account.balance,
        "balance": scaled(account.balance, scale),
        "available_units": account.available,
        "debits_pending_units": account.debits_pending,
        "credits_pending_units": account.credits_pending,
        "debits_posted_units": account.debits_posted,
        "credits_posted_units": account.credits_posted,
    }


def entry_record(entry: JournalEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "id": entry.id,
        "kind": entry.kind,
        "debit_account_id": entry.debit_account_id,
        "credit_account_id": entry.credit_account_id,
        "amount_units": entry.amount,
        "pending_id": entry.pending_id or None,
        "reverses_id": entry.reverses_id or None,
        "timeout_s": entry.timeout_s,
        "code": entry.code,
        "timestamp": ns_to_datetime(entry.timestamp_ns).isoformat(),
        "hash": entry.hash.hex(),
    }
