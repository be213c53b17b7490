"""The ledger's rules: apply a batch of transfer requests to the state loaded for it.

Everything here is plain Python over dicts, so the rules are the same whichever store holds
the rows. A request is checked completely before anything is changed, so a refused request
leaves no trace; a linked chain keeps an undo log of its earlier members, so a refusal later in
the chain rolls them back. The engine produces *draft* rows; the writer gives them their
sequence numbers, timestamps and hashes and hands them to the store.

Limits follow TigerBeetle: an account with ``DEBITS_MUST_NOT_EXCEED_CREDITS`` refuses a debit
when ``debits_pending + debits_posted + amount > credits_posted`` — pending debits count, so
limits are checked when funds are reserved and posting or voiding can never break them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hashmarket.ledger import journal
from hashmarket.ledger.model import (
    CLIENT_TRANSFER_FLAGS,
    CODE_MAX,
    INT64_MAX,
    NS_PER_S,
    AccountFlags,
    Transfer,
    TransferFlags,
)
from hashmarket.ledger.results import CreateTransferResult as R

# Mutable account state during a write: [asset, flags, dp, dpo, cp, cpo, last_seq]. The
# engine moves the four counters; last_seq is the writer's, set as rows get their seq.
ASSET, AFLAGS, DP, DPO, CP, CPO, LAST = range(7)
# Draft rows (and the view of stored rows the rules need): id 0 = "the ledger assigns -seq".
D_ID, D_DR, D_CR, D_AMOUNT, D_FLAGS, D_PID, D_RID, D_TIMEOUT, D_CODE = range(9)
Draft = tuple[int, int, int, int, int, int, int, int, int]

_CLIENT = int(CLIENT_TRANSFER_FLAGS)
_LINKED = int(TransferFlags.LINKED)
_PENDING = int(TransferFlags.PENDING)
_POST = int(TransferFlags.POST_PENDING)
_VOID = int(TransferFlags.VOID_PENDING)
_REVERSAL = int(TransferFlags.REVERSAL)
_EXPIRY = int(TransferFlags.EXPIRY)
_IMPORTED = int(TransferFlags.IMPORTED)
_RESOLVE = _POST | _VOID
_KIND = _PENDING | _POST | _VOID | _REVERSAL
_WILDCARD = _POST | _VOID | _REVERSAL  # kinds whose accounts/amount may be 0 = "as implied"
_NOT_REVERSIBLE = _PENDING | _VOID | _EXPIRY
_DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CMNED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
_TIMEOUT_MAX_S = INT64_MAX // NS_PER_S


def draft_of(row: Sequence[Any]) -> Draft:
    """The rule-relevant fields of a stored journal row, in draft layout."""
    return (
        journal.entry_id(row),
        row[journal.DEBIT],
        row[journal.CREDIT],
        row[journal.AMOUNT],
        row[journal.FLAGS] & ~_IMPORTED,  # how a row was written, not what it does
        row[journal.PENDING_ID] or 0,
        row[journal.REVERSES_ID] or 0,
        row[journal.TIMEOUT_S],
        row[journal.CODE],
    )


def _flags_of(t: Transfer) -> int | None:
    flags = t.flags
    if type(flags) is int:
        return flags
    if not isinstance(flags, int) or isinstance(flags, bool):
        return None
    return int(flags)


def is_linked(t: Transfer) -> bool:
    flags = _flags_of(t)
    return flags is not None and bool(flags & _LINKED)


def check_request(t: Transfer, *, ledger_ids: bool = False) -> R | None:
    """Checks that need no state, in precedence order; ``None`` when the request is well formed.

    With ``ledger_ids`` the id must be 0 and the ledger assigns one (see ``create_transfers``);
    such transfers are plain ones.
    """
    tid = t.id
    flags = _flags_of(t)
    if ledger_ids:
        if type(tid) is not int or tid != 0:
            return R.ID_MUST_BE_POSITIVE
    elif type(tid) is not int or not 0 < tid <= INT64_MAX:
        return R.ID_MUST_BE_POSITIVE
    if flags is None or flags < 0 or flags & ~_CLIENT:
        return R.FLAGS_INVALID
    kind = flags & _KIND
    if kind & (kind - 1):
        return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    if ledger_ids and kind:
        # A ledger id (-seq) cannot be named by a later post, void or reversal.
        return R.FLAGS_INVALID
    wildcard = kind & _WILDCARD
    dr, cr = t.debit_account_id, t.credit_account_id
    if type(dr) is not int or dr < 0 or dr > INT64_MAX or (dr == 0 and not wildcard):
        return R.DEBIT_ACCOUNT_ID_INVALID
    if type(cr) is not int or cr < 0 or cr > INT64_MAX or (cr == 0 and not wildcard):
        return R.CREDIT_ACCOUNT_ID_INVALID
    if dr != 0 and dr == cr:
        return R.ACCOUNTS_MUST_BE_DIFFERENT
    pid, rid = t.pending_id, t.reverses_id
    if kind & _RESOLVE:
        if type(pid) is not int or not 0 < pid <= INT64_MAX:
            return R.PENDING_ID_REQUIRED
        if pid == tid:
            return R.PENDING_ID_MUST_BE_DIFFERENT
    elif type(pid) is not int or pid != 0:
        return R.PENDING_ID_MUST_BE_ZERO
    if kind & _REVERSAL:
        if type(rid) is not int or not 0 < rid <= INT64_MAX:
            return R.REVERSES_ID_REQUIRED
    elif type(rid) is not int or rid != 0:
        return R.REVERSES_ID_MUST_BE_ZERO
    timeout = t.timeout_s
    if type(timeout) is not int or not 0 <= timeout <= _TIMEOUT_MAX_S:
        return R.TIMEOUT_INVALID
    if timeout and not kind & _PENDING:
        return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
    amount = t.amount
    if type(amount) is not int:
        return R.AMOUNT_MUST_BE_INTEGER
    if amount < 0 or (amount == 0 and not wildcard):
        return R.AMOUNT_MUST_BE_POSITIVE
    if amount > INT64_MAX:
        return R.AMOUNT_TOO_LARGE
    code = t.code
    if type(code) is not int or not 0 <= code <= CODE_MAX:
        return R.CODE_INVALID
    return None


class TransferEngine:
    """Applies requests to loaded state; collects draft rows and touched accounts.

    ``entries`` maps transfer id → draft view (stored rows and rows drafted in this batch),
    ``resolved`` maps pending id → flags of the row that resolved it, ``reversed`` holds ids
    already reversed, ``accounts`` maps account id → mutable state (see ``ASSET``…``CPO``).
    """

    def __init__(
        self,
        *,
        now_ns: int,
        entries: dict[int, Draft],
        resolved: dict[int, int],
        reversed_ids: set[int],
        accounts: dict[int, list[Any]],
    ) -> None:
        self.now_ns = now_ns
        self.entries = entries
        self.resolved = resolved
        self.reversed = reversed_ids
        self.accounts = accounts
        self.drafts: list[Draft] = []
        self.touched: set[int] = set()
        self.applied = 0  # requests that produced a row
        # Undo log of the linked chain being applied (None outside a chain).
        self._undo: dict[int, tuple[int, int, int, int]] | None = None
        self._added_entries: list[int] = []
        self._added_resolved: list[int] = []
        self._added_reversed: list[int] = []

    # -- batches and chains -----------------------------------------------------------------

    def run(
        self,
        transfers: Sequence[Transfer],
        checks: Sequence[R | None],
        linked: Sequence[bool],
    ) -> list[R]:
        """One code per request. ``linked[k]`` says transfer k carries the LINKED flag."""
        n = len(transfers)
        results: list[R] = [R.OK] * n
        i = 0
        while i < n:
            end = i
            while end < n and linked[end]:
                end += 1
            if end == i:  # a lone transfer: refused without a trace, or applied
                results[i] = self._apply(transfers[i], checks[i])
                i += 1
                continue
            if end == n:  # the last transfer is LINKED: the chain never closes
                for k in range(i, n):
                    results[k] = R.LINKED_EVENT_CHAIN_OPEN
                break
            self._run_chain(transfers, checks, i, end, results)
            i = end + 1
        return results

    def _run_chain(
        self,
        transfers: Sequence[Transfer],
        checks: Sequence[R | None],
        first: int,
        last: int,
        results: list[R],
    ) -> None:
        mark = (len(self.drafts), self.applied)
        self._undo = {}
        self._added_entries, self._added_resolved, self._added_reversed = [], [], []
        try:
            for k in range(first, last + 1):
                code = self._apply(transfers[k], checks[k])
                if code is not R.OK:
                    self._roll_back(*mark)
                    for j in range(first, last + 1):
                        results[j] = R.LINKED_EVENT_FAILED
                    results[k] = code
                    return
        finally:
            self._undo = None

    def _roll_back(self, drafts_len: int, applied: int) -> None:
        assert self._undo is not None
        for account_id, (dp, dpo, cp, cpo) in self._undo.items():
            state = self.accounts[account_id]
            state[DP], state[DPO], state[CP], state[CPO] = dp, dpo, cp, cpo
        for tid in self._added_entries:
            del self.entries[tid]
        for pid in self._added_resolved:
            del self.resolved[pid]
        for rid in self._added_reversed:
            self.reversed.discard(rid)
        del self.drafts[drafts_len:]
        self.applied = applied

    def _remember(self, account_id: int, state: list[Any]) -> None:
        if self._undo is not None and account_id not in self._undo:
            self._undo[account_id] = (state[DP], state[DPO], state[CP], state[CPO])

    def _record(self, draft: Draft) -> None:
        self.drafts.append(draft)
        self.applied += 1
        tid = draft[D_ID]
        if tid:
            self.entries[tid] = draft
            if self._undo is not None:
                self._added_entries.append(tid)

    # -- one request ------------------------------------------------------------------------

    def _apply(self, t: Transfer, check: R | None) -> R:
        if check is not None:
            return check
        flags = t.flags if type(t.flags) is int else int(t.flags)
        kind = flags & _KIND
        ref = None
        if kind & _RESOLVE:
            ref = self.entries.get(t.pending_id)
        elif kind & _REVERSAL:
            ref = self.entries.get(t.reverses_id)
        if t.id:
            existing = self.entries.get(t.id)
            if existing is not None:
                return self._compare(t, flags, existing, ref)
        if kind & _RESOLVE:
            return self._resolve(t, flags, ref)
        if kind & _REVERSAL:
            return self._reverse(t, flags, ref)
        return self._move(
            t.id, t.debit_account_id, t.credit_account_id, t.amount, flags, 0, t.timeout_s, t.code
        )

    def _compare(self, t: Transfer, flags: int, e: Draft, ref: Draft | None) -> R:
        """A request whose id exists: ``ok`` if it is the same transfer, else which field
        differs (fields the request left at 0 are compared as the ledger filled them in)."""
        dr, cr, amount, code = t.debit_account_id, t.credit_account_id, t.amount, t.code
        if ref is not None and flags & _RESOLVE:
            dr, cr, amount, code = dr or ref[D_DR], cr or ref[D_CR], amount or ref[D_AMOUNT], code
            code = code or ref[D_CODE]
        elif ref is not None and flags & _REVERSAL:
            dr, cr, amount = dr or ref[D_CR], cr or ref[D_DR], amount or ref[D_AMOUNT]
        if flags != e[D_FLAGS]:
            return R.EXISTS_WITH_DIFFERENT_FLAGS
        if t.pending_id != e[D_PID]:
            return R.EXISTS_WITH_DIFFERENT_PENDING_ID
        if t.reverses_id != e[D_RID]:
            return R.EXISTS_WITH_DIFFERENT_REVERSES_ID
        if t.timeout_s != e[D_TIMEOUT]:
            return R.EXISTS_WITH_DIFFERENT_TIMEOUT
        if dr != e[D_DR]:
            return R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
        if cr != e[D_CR]:
            return R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
        if amount != e[D_AMOUNT]:
            return R.EXISTS_WITH_DIFFERENT_AMOUNT
        if code != e[D_CODE]:
            return R.EXISTS_WITH_DIFFERENT_CODE
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
    ) -> R:
        """A plain, pending or reversing movement between two accounts."""
        dr = self.accounts.get(dr_id)
        if dr is None:
            return R.DEBIT_ACCOUNT_NOT_FOUND
        cr = self.accounts.get(cr_id)
        if cr is None:
            return R.CREDIT_ACCOUNT_NOT_FOUND
        if dr[ASSET] != cr[ASSET]:
            return R.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET
        pending = flags & _PENDING
        if pending:
            if dr[DP] + amount > INT64_MAX:
                return R.OVERFLOWS_DEBITS_PENDING
            if cr[CP] + amount > INT64_MAX:
                return R.OVERFLOWS_CREDITS_PENDING
        else:
            if dr[DPO] + amount > INT64_MAX:
                return R.OVERFLOWS_DEBITS_POSTED
            if cr[CPO] + amount > INT64_MAX:
                return R.OVERFLOWS_CREDITS_POSTED
        debits = dr[DP] + dr[DPO] + amount
        credits = cr[CP] + cr[CPO] + amount
        if debits > INT64_MAX:
            return R.OVERFLOWS_DEBITS
        if credits > INT64_MAX:
            return R.OVERFLOWS_CREDITS
        if timeout_s and self.now_ns + (timeout_s + 1) * NS_PER_S > INT64_MAX:
            return R.OVERFLOWS_TIMEOUT
        if dr[AFLAGS] & _DMNEC and debits > dr[CPO]:
            return R.EXCEEDS_CREDITS
        if cr[AFLAGS] & _CMNED and credits > cr[DPO]:
            return R.EXCEEDS_DEBITS
        if self._undo is not None:
            self._remember(dr_id, dr)
            self._remember(cr_id, cr)
        if pending:
            dr[DP] += amount
            cr[CP] += amount
        else:
            dr[DPO] += amount
            cr[CPO] += amount
        touched = self.touched
        touched.add(dr_id)
        touched.add(cr_id)
        draft = (tid, dr_id, cr_id, amount, flags, 0, reverses_id, timeout_s, code)
        self.drafts.append(draft)
        self.applied += 1
        if tid:
            self.entries[tid] = draft
            if self._undo is not None:
                self._added_entries.append(tid)
        return R.OK

    def _resolve(self, t: Transfer, flags: int, p: Draft | None) -> R:
        """Post or void a reservation, at most once."""
        if p is None:
            return R.PENDING_TRANSFER_NOT_FOUND
        if not p[D_FLAGS] & _PENDING:
            return R.PENDING_TRANSFER_NOT_PENDING
        if t.debit_account_id and t.debit_account_id != p[D_DR]:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID
        if t.credit_account_id and t.credit_account_id != p[D_CR]:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID
        state = self.resolved.get(t.pending_id)
        if state is not None:
            if state & _POST:
                return R.PENDING_TRANSFER_ALREADY_POSTED
            if state & _VOID:
                return R.PENDING_TRANSFER_ALREADY_VOIDED
            return R.PENDING_TRANSFER_EXPIRED
        reserved = p[D_AMOUNT]
        post = flags & _POST
        if post:
            amount = t.amount or reserved
            if amount > reserved:
                return R.EXCEEDS_PENDING_TRANSFER_AMOUNT
        else:
            if t.amount and t.amount != reserved:
                return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
            amount = reserved
        self._release(t.pending_id, p, amount if post else 0, flags & _RESOLVE)
        self._record(
            (t.id, p[D_DR], p[D_CR], amount, flags, t.pending_id, 0, 0, t.code or p[D_CODE])
        )
        return R.OK

    def _release(self, pending_id: int, p: Draft, posted: int, resolution: int) -> None:
        """Release a reservation and post ``posted`` of it (0 for a void or an expiry)."""
        dr, cr = self.accounts[p[D_DR]], self.accounts[p[D_CR]]
        reserved = p[D_AMOUNT]
        assert dr[DP] >= reserved and cr[CP] >= reserved, "a reservation outlived its counters"
        if self._undo is not None:
            self._remember(p[D_DR], dr)
            self._remember(p[D_CR], cr)
        dr[DP] -= reserved
        cr[CP] -= reserved
        # Cannot overflow: the reservation already counted in debits_pending + debits_posted.
        dr[DPO] += posted
        cr[CPO] += posted
        self.touched.add(p[D_DR])
        self.touched.add(p[D_CR])
        self.resolved[pending_id] = resolution
        if self._undo is not None:
            self._added_resolved.append(pending_id)

    def _reverse(self, t: Transfer, flags: int, o: Draft | None) -> R:
        """Move a posted transfer's amount back, once."""
        if o is None:
            return R.REVERSED_TRANSFER_NOT_FOUND
        if o[D_FLAGS] & _NOT_REVERSIBLE:
            return R.TRANSFER_NOT_REVERSIBLE
        if t.reverses_id in self.reversed:
            return R.TRANSFER_ALREADY_REVERSED
        dr_id = t.debit_account_id or o[D_CR]
        cr_id = t.credit_account_id or o[D_DR]
        if dr_id != o[D_CR] or cr_id != o[D_DR]:
            return R.REVERSAL_MUST_SWAP_ACCOUNTS
        amount = t.amount or o[D_AMOUNT]
        if amount != o[D_AMOUNT]:
            return R.REVERSAL_HAS_DIFFERENT_AMOUNT
        code = self._move(t.id, dr_id, cr_id, amount, flags, t.reverses_id, 0, t.code)
        if code is R.OK:
            self.reversed.add(t.reverses_id)
            if self._undo is not None:
                self._added_reversed.append(t.reverses_id)
        return code

    def expire(self, pending_rows: Sequence[Sequence[Any]]) -> None:
        """Journal the expiry of reservations whose timeout has passed on the ledger clock."""
        for row in pending_rows:
            p = draft_of(row)
            pid = p[D_ID]
            if pid in self.resolved:
                continue
            self._release(pid, p, 0, _EXPIRY)
            self._record((0, p[D_DR], p[D_CR], p[D_AMOUNT], _EXPIRY, pid, 0, 0, p[D_CODE]))
