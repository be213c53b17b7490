"""The journal's row layout and its hash chain.

Each row's hash is ``SHA-256(previous hash ‖ body)``, where the body is the row's thirteen
integer fields packed big-endian as signed 64-bit values (104 bytes; a ledger-assigned id
counts as ``-seq``, absent pending/reverses ids as 0); the first row chains from 32 zero
bytes. Changing, removing or reordering any row changes every hash after it, so the head hash
stored in ``ledger_head`` commits to the whole history; ``verify()`` recomputes it.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any

from hashmarket.ledger.model import JournalEntry, TransferFlags

GENESIS_HASH = bytes(32)
BODY = struct.Struct(">13q")

# Column order of journal rows, in the database and in the tuples the stores exchange.
COLUMNS = (
    "seq",
    "id",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "flags",
    "pending_id",
    "reverses_id",
    "timeout_s",
    "code",
    "timestamp_ns",
    "expires_at_ns",
    "debit_prev_seq",
    "credit_prev_seq",
    "hash",
)
(
    SEQ,
    ID,
    DEBIT,
    CREDIT,
    AMOUNT,
    FLAGS,
    PENDING_ID,
    REVERSES_ID,
    TIMEOUT_S,
    CODE,
    TIMESTAMP,
    EXPIRES_AT,
    DEBIT_PREV,
    CREDIT_PREV,
    HASH,
) = range(len(COLUMNS))

# (seq, id | None, debit, credit, amount, flags, pending_id | None, reverses_id | None,
#  timeout_s, code, timestamp_ns, expires_at_ns | None, debit_prev_seq, credit_prev_seq, hash);
# stores may hand back memoryview for the hash.
Row = Sequence[Any]


def body(
    seq: int,
    entry_id: int,
    debit_account_id: int,
    credit_account_id: int,
    amount: int,
    flags: int,
    pending_id: int,
    reverses_id: int,
    timeout_s: int,
    code: int,
    timestamp_ns: int,
    debit_prev_seq: int,
    credit_prev_seq: int,
) -> bytes:
    """The canonical bytes of a row (absent pending/reverses ids are 0)."""
    return BODY.pack(
        seq,
        entry_id,
        debit_account_id,
        credit_account_id,
        amount,
        flags,
        pending_id,
        reverses_id,
        timeout_s,
        code,
        timestamp_ns,
        debit_prev_seq,
        credit_prev_seq,
    )


def entry_id(row: Row) -> int:
    """A row's id: the client's, or ``-seq`` for rows the ledger wrote (stored as NULL)."""
    stored = row[ID]
    return -row[SEQ] if stored is None else int(stored)


def row_hash(previous: bytes, row: Row) -> bytes:
    """The hash a stored row must carry, given the hash of the row before it."""
    return hashlib.sha256(
        previous
        + body(
            row[SEQ],
            entry_id(row),
            row[DEBIT],
            row[CREDIT],
            row[AMOUNT],
            row[FLAGS],
            row[PENDING_ID] or 0,
            row[REVERSES_ID] or 0,
            row[TIMEOUT_S],
            row[CODE],
            row[TIMESTAMP],
            row[DEBIT_PREV],
            row[CREDIT_PREV],
        )
    ).digest()


def to_entry(row: Row) -> JournalEntry:
    return JournalEntry(
        seq=row[SEQ],
        id=entry_id(row),
        debit_account_id=row[DEBIT],
        credit_account_id=row[CREDIT],
        amount=row[AMOUNT],
        flags=TransferFlags(row[FLAGS]),
        pending_id=row[PENDING_ID] or 0,
        reverses_id=row[REVERSES_ID] or 0,
        timeout_s=row[TIMEOUT_S],
        code=row[CODE],
        timestamp_ns=row[TIMESTAMP],
        debit_prev_seq=row[DEBIT_PREV],
        credit_prev_seq=row[CREDIT_PREV],
        hash=bytes(row[HASH]),
    )
