"""Giving new journal rows their place in the chain.

Each row gets the next seq, a ledger-clock timestamp (one nanosecond after the last, or the
clock's ``now`` if that is later), the seq of each account's previous row (its history
pointers, advanced here in the account states) and its hash: SHA-256 of the previous row's
hash and its own body (:data:`hashmarket.ledger.journal.BODY`). A :data:`Tip` is where the
chain stands: the last seq, its hash and the last timestamp handed out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from hashmarket.ledger import journal
from hashmarket.ledger.engine import LAST
from hashmarket.ledger.model import NS_PER_S, TransferFlags
from hashmarket.ledger.store import FanOutRow, PlainRow

Tip = tuple[int, bytes, int]  # seq, hash, timestamp_ns


def chain_rows(
    drafts: Sequence[tuple[int, ...]],
    accounts: dict[int, list[Any]],
    tip: Tip,
    *,
    now_ns: int,
    mark: int,
) -> tuple[list[PlainRow], list[journal.Row], Tip]:
    """Chain the engine's drafts in order (``mark``: flags every row carries). Plain
    transfers come back in the narrow layout, the others in the full one."""
    seq, previous, ts = tip
    sha256, pack = hashlib.sha256, journal.BODY.pack
    plain: list[PlainRow] = []
    full: list[journal.Row] = []
    for tid, dr, cr, amount, flags, pid, rid, timeout_s, code in drafts:
        seq += 1
        ts = ts + 1 if ts >= now_ns else now_ns
        flags |= mark
        debit, credit = accounts[dr], accounts[cr]
        dr_prev, cr_prev = debit[LAST], credit[LAST]
        debit[LAST] = credit[LAST] = seq
        previous = sha256(
            previous
            + pack(
                seq,
                tid or -seq,
                dr,
                cr,
                amount,
                flags,
                pid,
                rid,
                timeout_s,
                code,
                ts,
                dr_prev,
                cr_prev,
            )
        ).digest()
        if not (pid or rid or timeout_s):
            plain.append(
                (seq, tid or None, dr, cr, amount, flags, code, ts, dr_prev, cr_prev, previous)
            )
            continue
        full.append(
            (
                seq,
                tid or None,
                dr,
                cr,
                amount,
                flags,
                pid or None,
                rid or None,
                timeout_s,
                code,
                ts,
                ts + timeout_s * NS_PER_S if timeout_s else None,
                dr_prev,
                cr_prev,
                previous,
            )
        )
    return plain, full, (seq, previous, ts)


def chain_fan_out(
    debit_account_id: int,
    debit: list[Any],
    last_seq: dict[int, int],
    credits: Sequence[tuple[int, int]],
    code: int,
    tip: Tip,
    *,
    closes_chain: bool,
    now_ns: int,
    mark: int,
) -> tuple[list[FanOutRow], Tip]:
    """Chain ledger-id plain rows (all LINKED but the chain's last): the same hashes and
    pointers as :func:`chain_rows`, in the layout of ``Store.insert_fan_out_rows``.
    ``last_seq`` maps each credited account to its newest row and is advanced here."""
    seq, previous, ts = tip
    sha256, pack = hashlib.sha256, journal.BODY.pack
    linked = int(TransferFlags.LINKED) | mark
    final = len(credits) - 1 if closes_chain else -1
    dr_prev = debit[LAST]
    rows: list[FanOutRow] = []
    append = rows.append
    for k, (credit, amount) in enumerate(credits):
        seq += 1
        ts = ts + 1 if ts >= now_ns else now_ns
        flags = mark if k == final else linked
        cr_prev = last_seq[credit]
        last_seq[credit] = seq
        body = pack(
            seq, -seq, debit_account_id, credit, amount, flags, 0, 0, 0, code, ts, dr_prev,
            cr_prev,
        )  # fmt: skip
        previous = sha256(previous + body).digest()
        append((seq, credit, amount, flags, ts, dr_prev, cr_prev, previous))
        dr_prev = seq
    debit[LAST] = dr_prev
    return rows, (seq, previous, ts)
