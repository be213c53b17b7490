"""An in-memory reference ledger: the rules written as plainly as possible, to check the real
one against. It shares no code with ``hashmarket.ledger.engine``: state is copied before a
chain and restored on failure, checks are spelled out one by one, and it keeps its own clock
arithmetic, so a bug would have to be made twice, the same way, to go unnoticed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from hashmarket.ledger import Transfer
from hashmarket.ledger.results import CreateTransferResult as R

MAX = 2**63 - 1
NS = 10**9
PENDING, POST, VOID, REVERSAL, LINKED, EXPIRY = 2, 4, 8, 16, 1, 32


@dataclass
class RefAccount:
    asset: str
    limit_debits: bool  # DEBITS_MUST_NOT_EXCEED_CREDITS
    limit_credits: bool  # CREDITS_MUST_NOT_EXCEED_DEBITS
    dp: int = 0
    dpo: int = 0
    cp: int = 0
    cpo: int = 0


@dataclass
class RefTransfer:
    dr: int
    cr: int
    amount: int
    flags: int
    pending_id: int
    reverses_id: int
    timeout_s: int
    code: int
    deadline_ns: int | None = None


@dataclass
class RefLedger:
    accounts: dict[int, RefAccount]
    transfers: dict[int, RefTransfer] = field(default_factory=dict)
    status: dict[int, str] = field(default_factory=dict)  # pending id -> open/posted/…
    reversed: set[int] = field(default_factory=set)
    rows: int = 0
    last_ts: int = 0
    # Pending ids in creation order (ties in expiry are broken by journal order).
    order: list[int] = field(default_factory=list)

    # -- clock ------------------------------------------------------------------------------

    def _stamp(self, now: int) -> int:
        self.last_ts = max(now, self.last_ts + 1)
        self.rows += 1
        return self.last_ts

    def _sweep(self, now: int) -> int:
        due = [
            pid
            for pid in self.order
            if self.status[pid] == "open" and self.transfers[pid].deadline_ns is not None
        ]
        due = [pid for pid in due if self.transfers[pid].deadline_ns <= now]  # type: ignore[operator]
        due.sort(key=lambda pid: (self.transfers[pid].deadline_ns, self.order.index(pid)))
        for pid in due:
            p = self.transfers[pid]
            self.accounts[p.dr].dp -= p.amount
            self.accounts[p.cr].cp -= p.amount
            self.status[pid] = "expired"
            self._stamp(now)
        return len(due)

    def expire_pending(self, clock_ns: int) -> int:
        now = max(clock_ns, self.last_ts + 1)
        return self._sweep(now)

    # -- transfers --------------------------------------------------------------------------

    def create_transfers(self, batch: list[Transfer], clock_ns: int) -> list[R]:
        saved = copy.deepcopy(self)
        now = max(clock_ns, self.last_ts + 1)
        self._sweep(now)
        results: list[R] = [R.OK] * len(batch)
        applied = 0
        i = 0
        while i < len(batch):
            end = i
            while end < len(batch) and _linked(batch[end]):
                end += 1
            if end == len(batch):
                for k in range(i, len(batch)):
                    results[k] = R.LINKED_EVENT_CHAIN_OPEN
                break
            before = copy.deepcopy(self)
            chain_applied = 0
            for k in range(i, end + 1):
                code, wrote = self._one(batch[k], now)
                results[k] = code
                chain_applied += wrote
                if code is not R.OK:
                    if end > i:
                        restored = before
                        self.__dict__.update(copy.deepcopy(restored.__dict__))
                        for j in range(i, end + 1):
                            results[j] = R.LINKED_EVENT_FAILED
                        results[k] = code
                        chain_applied = 0
                    break
            applied += chain_applied
            i = end + 1
        if applied == 0:
            self.__dict__.update(saved.__dict__)
        return results

    def _one(self, t: Transfer, now: int) -> tuple[R, int]:
        code = _static(t)
        if code is not None:
            return code, 0
        flags = int(t.flags)
        ref = None
        if flags & (POST | VOID):
            ref = self.transfers.get(t.pending_id)
        if flags & REVERSAL:
            ref = self.transfers.get(t.reverses_id)
        if t.id in self.transfers:
            return self._same(t, flags, self.transfers[t.id], ref), 0
        if flags & (POST | VOID):
            return self._resolve(t, flags, ref, now)
        if flags & REVERSAL:
            return self._reverse(t, flags, ref, now)
        return self._move(
            t.id,
            t.debit_account_id,
            t.credit_account_id,
            t.amount,
            flags,
            0,
            t.timeout_s,
            t.code,
            now,
        )

    def _same(self, t: Transfer, flags: int, e: RefTransfer, ref: RefTransfer | None) -> R:
        dr, cr, amount, code = t.debit_account_id, t.credit_account_id, t.amount, t.code
        if ref is not None and flags & (POST | VOID):
            dr = dr or ref.dr
            cr = cr or ref.cr
            amount = amount or ref.amount
            code = code or ref.code
        if ref is not None and flags & REVERSAL:
            dr = dr or ref.cr
            cr = cr or ref.dr
            amount = amount or ref.amount
        for differs, result in (
            (flags != e.flags, R.EXISTS_WITH_DIFFERENT_FLAGS),
            (t.pending_id != e.pending_id, R.EXISTS_WITH_DIFFERENT_PENDING_ID),
            (t.reverses_id != e.reverses_id, R.EXISTS_WITH_DIFFERENT_REVERSES_ID),
            (t.timeout_s != e.timeout_s, R.EXISTS_WITH_DIFFERENT_TIMEOUT),
            (dr != e.dr, R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID),
            (cr != e.cr, R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID),
            (amount != e.amount, R.EXISTS_WITH_DIFFERENT_AMOUNT),
            (code != e.code, R.EXISTS_WITH_DIFFERENT_CODE),
        ):
            if differs:
                return result
        return R.OK

    def _move(
        self,
        tid: int,
        dr_id: int,
        cr_id: int,
        amount: int,
        flags: int,
        reverses_id: int,
        timeout_s: int,
        code: int,
        now: int,
    ) -> tuple[R, int]:
        dr = self.accounts.get(dr_id)
        cr = self.accounts.get(cr_id)
        if dr is None:
            return R.DEBIT_ACCOUNT_NOT_FOUND, 0
        if cr is None:
            return R.CREDIT_ACCOUNT_NOT_FOUND, 0
        if dr.asset != cr.asset:
            return R.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET, 0
        pending = bool(flags & PENDING)
        if pending and dr.dp + amount > MAX:
            return R.OVERFLOWS_DEBITS_PENDING, 0
        if pending and cr.cp + amount > MAX:
            return R.OVERFLOWS_CREDITS_PENDING, 0
        if not pending and dr.dpo + amount > MAX:
            return R.OVERFLOWS_DEBITS_POSTED, 0
        if not pending and cr.cpo + amount > MAX:
            return R.OVERFLOWS_CREDITS_POSTED, 0
        if dr.dp + dr.dpo + amount > MAX:
            return R.OVERFLOWS_DEBITS, 0
        if cr.cp + cr.cpo + amount > MAX:
            return R.OVERFLOWS_CREDITS, 0
        if timeout_s and now + (timeout_s + 1) * NS > MAX:
            return R.OVERFLOWS_TIMEOUT, 0
        if dr.limit_debits and dr.dp + dr.dpo + amount > dr.cpo:
            return R.EXCEEDS_CREDITS, 0
        if cr.limit_credits and cr.cp + cr.cpo + amount > cr.dpo:
            return R.EXCEEDS_DEBITS, 0
        if pending:
            dr.dp += amount
            cr.cp += amount
        else:
            dr.dpo += amount
            cr.cpo += amount
        ts = self._stamp(now)
        deadline = ts + timeout_s * NS if pending and timeout_s else None
        self.transfers[tid] = RefTransfer(
            dr_id, cr_id, amount, flags, 0, reverses_id, timeout_s, code, deadline
        )
        if pending:
            self.status[tid] = "open"
            self.order.append(tid)
        return R.OK, 1

    def _resolve(self, t: Transfer, flags: int, p: RefTransfer | None, now: int) -> tuple[R, int]:
        if p is None:
            return R.PENDING_TRANSFER_NOT_FOUND, 0
        if not p.flags & PENDING:
            return R.PENDING_TRANSFER_NOT_PENDING, 0
        if t.debit_account_id and t.debit_account_id != p.dr:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID, 0
        if t.credit_account_id and t.credit_account_id != p.cr:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID, 0
        state = self.status[t.pending_id]
        if state == "posted":
            return R.PENDING_TRANSFER_ALREADY_POSTED, 0
        if state == "voided":
            return R.PENDING_TRANSFER_ALREADY_VOIDED, 0
        if state == "expired":
            return R.PENDING_TRANSFER_EXPIRED, 0
        if flags & POST:
            amount = t.amount or p.amount
            if amount > p.amount:
                return R.EXCEEDS_PENDING_TRANSFER_AMOUNT, 0
        else:
            if t.amount and t.amount != p.amount:
                return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT, 0
            amount = p.amount
        dr, cr = self.accounts[p.dr], self.accounts[p.cr]
        dr.dp -= p.amount
        cr.cp -= p.amount
        if flags & POST:
            dr.dpo += amount
            cr.cpo += amount
        self.status[t.pending_id] = "posted" if flags & POST else "voided"
        self._stamp(now)
        self.transfers[t.id] = RefTransfer(
            p.dr, p.cr, amount, flags, t.pending_id, 0, 0, t.code or p.code
        )
        return R.OK, 1

    def _reverse(self, t: Transfer, flags: int, o: RefTransfer | None, now: int) -> tuple[R, int]:
        if o is None:
            return R.REVERSED_TRANSFER_NOT_FOUND, 0
        if o.flags & (PENDING | VOID | EXPIRY):
            return R.TRANSFER_NOT_REVERSIBLE, 0
        if t.reverses_id in self.reversed:
            return R.TRANSFER_ALREADY_REVERSED, 0
        dr = t.debit_account_id or o.cr
        cr = t.credit_account_id or o.dr
        if (dr, cr) != (o.cr, o.dr):
            return R.REVERSAL_MUST_SWAP_ACCOUNTS, 0
        amount = t.amount or o.amount
        if amount != o.amount:
            return R.REVERSAL_HAS_DIFFERENT_AMOUNT, 0
        code, wrote = self._move(t.id, dr, cr, amount, flags, t.reverses_id, 0, t.code, now)
        if code is R.OK:
            self.reversed.add(t.reverses_id)
        return code, wrote


def _linked(t: Transfer) -> bool:
    return (
        isinstance(t.flags, int) and not isinstance(t.flags, bool) and bool(int(t.flags) & LINKED)
    )


def _is_int(value: Any) -> bool:
    return type(value) is int


def _static(t: Transfer) -> R | None:  # the request checks, in the documented precedence
    if not _is_int(t.id) or not 0 < t.id <= MAX:
        return R.ID_MUST_BE_POSITIVE
    if not isinstance(t.flags, int) or isinstance(t.flags, bool) or int(t.flags) < 0:
        return R.FLAGS_INVALID
    flags = int(t.flags)
    if flags & ~(LINKED | PENDING | POST | VOID | REVERSAL):
        return R.FLAGS_INVALID
    kinds = [k for k in (PENDING, POST, VOID, REVERSAL) if flags & k]
    if len(kinds) > 1:
        return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    wildcard = bool(kinds) and kinds[0] != PENDING
    for value, result in (
        (t.debit_account_id, R.DEBIT_ACCOUNT_ID_INVALID),
        (t.credit_account_id, R.CREDIT_ACCOUNT_ID_INVALID),
    ):
        if not _is_int(value) or value < 0 or value > MAX or (value == 0 and not wildcard):
            return result
    if t.debit_account_id and t.debit_account_id == t.credit_account_id:
        return R.ACCOUNTS_MUST_BE_DIFFERENT
    resolving = bool(flags & (POST | VOID))
    if resolving:
        if not _is_int(t.pending_id) or not 0 < t.pending_id <= MAX:
            return R.PENDING_ID_REQUIRED
        if t.pending_id == t.id:
            return R.PENDING_ID_MUST_BE_DIFFERENT
    elif t.pending_id != 0 or not _is_int(t.pending_id):
        return R.PENDING_ID_MUST_BE_ZERO
    if flags & REVERSAL:
        if not _is_int(t.reverses_id) or not 0 < t.reverses_id <= MAX:
            return R.REVERSES_ID_REQUIRED
    elif t.reverses_id != 0 or not _is_int(t.reverses_id):
        return R.REVERSES_ID_MUST_BE_ZERO
    if not _is_int(t.timeout_s) or not 0 <= t.timeout_s <= MAX // NS:
        return R.TIMEOUT_INVALID
    if t.timeout_s and not flags & PENDING:
        return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
    if not _is_int(t.amount):
        return R.AMOUNT_MUST_BE_INTEGER
    if t.amount < 0 or (t.amount == 0 and not wildcard):
        return R.AMOUNT_MUST_BE_POSITIVE
    if t.amount > MAX:
        return R.AMOUNT_TOO_LARGE
    if not _is_int(t.code) or not 0 <= t.code <= 65535:
        return R.CODE_INVALID
    return None
