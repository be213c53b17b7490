"""The ledger: accounts, transfers (pending → post / void / expire), linked batches.

``Ledger.open(url)`` gives the same behaviour on SQLite and PostgreSQL. Every write runs in one
database transaction through a :class:`LedgerWriter`: the writer takes the store's writer lock,
expires reservations whose timeout has passed on the ledger clock, applies requests with the
rules in :mod:`hashmarket.ledger.engine`, chains the new journal rows onto the head hash and
commits once. Nothing of a refused request is ever written, and a write that applied no
request rolls back entirely, so a refused command leaves the ledger byte for byte as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hashmarket.errors import (
    AccountRefusedError,
    LedgerError,
    LedgerInvariantError,
    LedgerUnavailableError,
    TransferRefusedError,
)
from hashmarket.ledger import journal
from hashmarket.ledger.clock import Clock, SystemClock, ns_to_datetime
from hashmarket.ledger.engine import (
    AFLAGS,
    ASSET,
    CP,
    CPO,
    D_CR,
    D_DR,
    DP,
    DPO,
    LAST,
    TransferEngine,
    check_request,
    draft_of,
    is_linked,
)
from hashmarket.ledger.migrations import LATEST, MIGRATIONS
from hashmarket.ledger.model import (
    ACCOUNT_FLAGS_ALL,
    ASSET_CODE,
    CODE_MAX,
    INT64_MAX,
    NAME_LENGTH_MAX,
    SCALE_MAX,
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
from hashmarket.ledger.store import (
    FanOutRow,
    Head,
    PlainRow,
    Store,
    parse_url,
)
from hashmarket.ledger.verify import VerifyReport, state_hash, verify

A = CreateAccountResult
_RESOLVE = int(TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING)
_REVERSAL = int(TransferFlags.REVERSAL)
_LINKED = int(TransferFlags.LINKED)
_DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CMNED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
_ISSUER = int(AccountFlags.ISSUER)
_ISSUER_FLAGS = _ISSUER | _CMNED
_ACCOUNT_FLAGS = int(ACCOUNT_FLAGS_ALL)
_IMPORTED_ACCOUNT = int(AccountFlags.IMPORTED)
_IMPORTED = int(TransferFlags.IMPORTED)
_PENDING = int(TransferFlags.PENDING)
ACCOUNT_CACHE_MAX = 200_000
FAN_OUT_CHUNK = 50_000  # transfers checked, chained and written at a time (bounds memory)
_NAME = re.compile(r"^[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$")


@dataclass(frozen=True, slots=True)
class AssetInfo:
    code: str
    scale: int
    issuer_account_id: int


def open_store(url: str, *, create: bool) -> Store:
    parsed = parse_url(url)
    if parsed.dialect == "sqlite":
        from hashmarket.ledger.store_sqlite import SQLiteStore

        return SQLiteStore(parsed, create=create)
    from hashmarket.ledger.store_postgres import PostgresStore

    return PostgresStore(parsed, create=create)


def migrate(store: Store, *, create: bool, now_ns: int) -> int:
    """Bring the schema to :data:`LATEST`; return the version found before."""
    store.begin_migration()
    try:
        found = store.schema_version()
        if found == 0 and not create:
            raise LedgerUnavailableError("ledger_not_found", url=store.url.original)
        if found > LATEST:
            raise LedgerUnavailableError(
                "schema_too_new", url=store.url.original, found=found, known=LATEST
            )
        for step in MIGRATIONS[found:]:
            store.apply_migration(
                step.version, step.name, step.statements(store.dialect), now_ns=now_ns
            )
        store.commit()
        return found
    except BaseException:
        store.rollback()
        raise


def valid_name(name: object) -> bool:
    """1-128 printable characters, not all digits (so a CLI argument is an id or a name)."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= NAME_LENGTH_MAX
        and not name.isdigit()
        and _NAME.match(name) is not None
    )


class LedgerWriter:
    """One write transaction. Obtain it from :meth:`Ledger.transaction`."""

    def __init__(
        self,
        store: Store,
        head: Head,
        now_ns: int,
        *,
        account_cache: dict[int, list[Any]] | None = None,
        at_ns: int | None = None,
    ) -> None:
        self.store = store
        # Account states known to be current (see Ledger.transaction); the engine mutates
        # these lists in place, so the owner must drop the cache if the write rolls back.
        self._cache = account_cache if account_cache is not None else {}
        self._seq = head.seq
        self._hash = head.hash
        self._ts = head.timestamp_ns
        self._expired_through = head.expired_through_ns
        # The ledger clock never runs backwards, whatever the wall clock does.
        self.now_ns = max(now_ns, head.timestamp_ns + 1)
        self.applied = 0  # requests applied (transfers, accounts, assets); expiries not counted
        # An import stamps its rows from `at_ns` upward instead of from the clock, and flags
        # its accounts and transfers IMPORTED (see Ledger.transaction).
        self.at_ns = at_ns
        self._floor = self.now_ns if at_ns is None else at_ns
        self._stamped = at_ns is None  # an import checks its first stamp against the head
        self._account_mark = 0 if at_ns is None else _IMPORTED_ACCOUNT
        self._transfer_mark = 0 if at_ns is None else _IMPORTED

    @property
    def head(self) -> Head:
        return Head(self._seq, self._hash, self._ts, self._expired_through)

    @property
    def imported(self) -> bool:
        """Whether this write is an import (back-dated; see :meth:`Ledger.transaction`)."""
        return self.at_ns is not None

    def tick(self) -> int:
        """The next ledger-clock timestamp (strictly increasing across all rows)."""
        self._check_stamp()
        self._ts = self._ts + 1 if self._ts >= self._floor else self._floor
        return self._ts

    def _check_stamp(self) -> None:
        """An import's first row must come after every row already written: imports load
        history in order, and none can go before an event the ledger has recorded."""
        if self._stamped:
            return
        assert self.at_ns is not None
        if self._ts >= self.at_ns:
            raise import_refused(self.at_ns, "must_not_regress", last_ns=self._ts)
        self._stamped = True

    # -- transfers --------------------------------------------------------------------------

    def expire_due(self) -> int:
        """Journal an expiry for each reservation whose timeout is at or before now."""
        # An import expires what fell due by its own timestamp; later expiries come later.
        through = self._floor
        due = self.store.due_pendings(self._expired_through, through)
        if due:
            ids = {r[journal.DEBIT] for r in due} | {r[journal.CREDIT] for r in due}
            resolved = dict(self.store.resolutions([r[journal.ID] for r in due]))
            engine = TransferEngine(
                now_ns=self.now_ns,
                entries={},
                resolved=resolved,
                reversed_ids=set(),
                accounts=self._load_accounts(ids),
            )
            engine.expire(due)
            self._flush(engine)
        self._expired_through = max(self._expired_through, through)
        return len(due)

    def create_transfers(
        self, transfers: Iterable[Transfer], *, ledger_ids: bool = False
    ) -> list[CreateTransferResult]:
        """Apply a batch; one result per request, in order (see :mod:`.results`).

        ``ledger_ids=True`` is for callers whose exactly-once guarantee is held elsewhere in
        the same transaction (a token distribution's record): every request carries id 0 and
        the ledger assigns ``-seq``, from the negative id space clients cannot use.
        """
        batch = list(transfers)
        checks = [check_request(t, ledger_ids=ledger_ids) for t in batch]
        if self.imported or any(isinstance(t.flags, int) and t.flags & _IMPORTED for t in batch):
            self._import_checks(batch, checks, ledger_ids=ledger_ids)
        linked = [
            bool(t.flags & _LINKED) if check is None else is_linked(t)
            for t, check in zip(batch, checks, strict=True)
        ]
        engine = self._engine_for(batch, checks)
        codes = engine.run(batch, checks, linked)
        self._flush(engine)
        self.applied += engine.applied
        return codes

    def _import_checks(
        self,
        batch: list[Transfer],
        checks: list[CreateTransferResult | None],
        *,
        ledger_ids: bool,
    ) -> None:
        """The IMPORTED flag: set by an import on every row it writes, so a client may send
        it only inside one (where it is taken off the request and put back on the row)."""
        for k, t in enumerate(batch):
            flags = t.flags
            if isinstance(flags, bool) or not isinstance(flags, int):
                continue
            if flags & _IMPORTED:
                if not self.imported:
                    checks[k] = CreateTransferResult.IMPORTED_EVENT_NOT_EXPECTED
                    continue
                batch[k] = t = dataclasses.replace(t, flags=TransferFlags(flags & ~_IMPORTED))
                checks[k] = check_request(t, ledger_ids=ledger_ids)
            if self.imported and checks[k] is None and flags & _PENDING and t.timeout_s:
                checks[k] = CreateTransferResult.IMPORTED_EVENT_TIMEOUT_MUST_BE_ZERO

    def create_fan_out(
        self, debit_account_id: int, credits: Sequence[tuple[int, int]], *, code: int = 0
    ) -> tuple[CreateTransferResult, int]:
        """Many plain transfers out of one account, as one linked chain with ledger ids.

        Same rows, balances and answer as ``create_transfers([Transfer(0, debit_account_id,
        credit, amount, LINKED, code=code) …, the last without LINKED], ledger_ids=True)``
        for each ``(credit, amount)``, but without loading every credited account into
        Python: a reward paid to a million holders is a few bulk statements. Returns
        ``(ok, -1)``, or the first refused transfer's code and index; a refusal applies nothing.

        The fast path runs only when it can show every transfer passes: each account's rules
        are checked on its total (every rule is monotone in the running sum, so the total
        passing means every prefix passes), the debit account's against its cached state and
        the credited accounts' against their rows, read in bulk under the writer lock.
        Otherwise the engine itself decides, transfer by transfer.
        """
        if not credits:
            return CreateTransferResult.OK, -1
        bound = self._fan_out_fast(debit_account_id, credits, code)
        if bound < 0:
            return CreateTransferResult.OK, -1
        # The first refusal is at or before `bound`: the engine need only replay that prefix
        # (as a chain closed there, which it rolls back when it refuses) to name it.
        prefix = credits[: bound + 1]
        linked, alone = TransferFlags.LINKED, TransferFlags.NONE
        codes = self.create_transfers(
            (
                Transfer(
                    0, debit_account_id, credit, amount, linked if i < bound else alone, code=code
                )
                for i, (credit, amount) in enumerate(prefix)
            ),
            ledger_ids=True,
        )
        for index, result in enumerate(codes):
            if result not in (CreateTransferResult.OK, CreateTransferResult.LINKED_EVENT_FAILED):
                return result, index
        # The fast path's checks are the engine's; a prefix it could not pass must fail here.
        raise LedgerInvariantError(
            "ledger_invariant", detail=f"fan-out checks and the engine disagree at {bound}"
        )

    def _fan_out_fast(
        self, debit_account_id: int, credits: Sequence[tuple[int, int]], code: int
    ) -> int:
        """Apply the fan-out chunk by chunk (bounded memory) and return -1; or apply nothing
        and return the index of the first transfer these checks could not pass."""
        if type(debit_account_id) is not int or not 0 < debit_account_id <= INT64_MAX:
            return 0
        if type(code) is not int or not 0 <= code <= CODE_MAX:
            return 0
        total = 0
        for index, (credit, amount) in enumerate(credits):
            if type(credit) is not int or not 0 < credit <= INT64_MAX:
                return index
            if credit == debit_account_id or type(amount) is not int:
                return index
            if not 0 < amount <= INT64_MAX:
                return index
            total += amount
        debit = self._load_accounts([debit_account_id]).get(debit_account_id)
        if debit is None:
            return 0
        if not self._debit_passes(debit, total):
            running = 0
            for index, (_, amount) in enumerate(credits):
                running += amount
                if not self._debit_passes(debit, running):
                    return index
        store = self.store
        saved = (self._seq, self._hash, self._ts, debit[LAST])
        store.savepoint("fan_out")
        for start in range(0, len(credits), FAN_OUT_CHUNK):
            part = credits[start : start + FAN_OUT_CHUNK]
            closes = start + FAN_OUT_CHUNK >= len(credits)
            refused = self._fan_out_chunk(debit_account_id, debit, part, code, closes)
            if refused >= 0:
                store.rollback_to("fan_out")
                self._seq, self._hash, self._ts, debit[LAST] = saved
                return start + refused
        store.release("fan_out")
        # Credited balances changed in SQL only: cached copies of them are stale now.
        self._cache.clear()
        debit[DPO] += total
        store.update_balances(
            [(debit[DP], debit[DPO], debit[CP], debit[CPO], debit[LAST], debit_account_id)]
        )
        self.applied += len(credits)
        return -1

    @staticmethod
    def _debit_passes(debit: list[Any], amount: int) -> bool:
        """The debit side of a plain transfer of ``amount`` (engine._move's rules)."""
        debits = debit[DP] + debit[DPO] + amount
        if debit[DPO] + amount > INT64_MAX or debits > INT64_MAX:
            return False
        return not (debit[AFLAGS] & _DMNEC and debits > debit[CPO])

    @staticmethod
    def _credit_passes(state: Sequence[Any] | None, asset: str, amount: int) -> bool:
        """The credit side of a plain transfer of ``amount`` (engine._move's rules)."""
        if state is None or state[ASSET] != asset:
            return False
        credits_posted = state[CPO] + amount
        if credits_posted > INT64_MAX or state[CP] + credits_posted > INT64_MAX:
            return False
        return not (state[AFLAGS] & _CMNED and state[CP] + credits_posted > state[DPO])

    def _fan_out_chunk(
        self,
        debit_account_id: int,
        debit: list[Any],
        part: Sequence[tuple[int, int]],
        code: int,
        closes_chain: bool,
    ) -> int:
        """Check the credit side of ``part`` on each account's total within it (every rule
        is monotone in the running sum), then write it and return -1; or write nothing and
        return the index in ``part`` of the first transfer that fails."""
        first_seq = self._seq + 1
        sums: dict[int, int] = dict(part)
        if len(sums) == len(part):  # distinct accounts, the usual payout list
            last_after = dict(zip(sums, range(first_seq, first_seq + len(part)), strict=True))
        else:
            sums, last_after = {}, {}
            for k, (credit, amount) in enumerate(part, start=first_seq):
                sums[credit] = sums.get(credit, 0) + amount
                last_after[credit] = k  # the seq this account's last credit here will get
        store = self.store
        asset = debit[ASSET]
        rows = store.account_states(list(sums))
        credited: list[tuple[int, int, int]] = []
        last_before: dict[int, int] = {}
        for account_id, row_asset, flags, _dp, dpo, cp, cpo, last in rows:
            credits_posted = cpo + sums[account_id]
            if (
                row_asset != asset
                or credits_posted > INT64_MAX
                or cp + credits_posted > INT64_MAX
                or (flags & _CMNED and cp + credits_posted > dpo)
            ):
                break
            credited.append((account_id, credits_posted, last_after[account_id]))
            last_before[account_id] = last
        if len(credited) != len(sums):
            return self._first_refused_credit(part, asset, rows)
        del rows, sums, last_after
        if store.credit_many(credited) != len(credited):
            raise LedgerInvariantError(
                "ledger_invariant", detail="a checked credit did not find its balances row"
            )
        store.insert_fan_out_rows(
            debit_account_id,
            code,
            self._chain_plain(debit_account_id, debit, last_before, part, code, closes_chain),
        )
        return -1

    def _first_refused_credit(
        self, part: Sequence[tuple[int, int]], asset: str, rows: Sequence[tuple[Any, ...]]
    ) -> int:
        """The index in ``part`` of the first credit the engine's rules refuse."""
        states = {r[0]: r[1:] for r in rows}
        running: dict[int, int] = {}
        for index, (credit, amount) in enumerate(part):
            running[credit] = running.get(credit, 0) + amount
            if not self._credit_passes(states.get(credit), asset, running[credit]):
                return index
        raise AssertionError("an account failing on its total fails on some prefix")

    def _chain_plain(
        self,
        debit_account_id: int,
        debit: list[Any],
        last_seq: dict[int, int],
        credits: Sequence[tuple[int, int]],
        code: int,
        closes_chain: bool,
    ) -> list[FanOutRow]:
        """Chain ledger-id plain rows (all LINKED but the chain's last): the same hashes and
        pointers as :meth:`_chain`, in the layout of ``Store.insert_fan_out_rows``.
        ``last_seq`` maps each credited account to its newest row and is advanced here."""
        if credits:
            self._check_stamp()
        seq, previous, ts, now = self._seq, self._hash, self._ts, self._floor
        sha256, pack = hashlib.sha256, journal.BODY.pack
        mark = self._transfer_mark
        linked = int(TransferFlags.LINKED) | mark
        final = len(credits) - 1 if closes_chain else -1
        dr_prev = debit[LAST]
        rows: list[FanOutRow] = []
        append = rows.append
        for k, (credit, amount) in enumerate(credits):
            seq += 1
            ts = ts + 1 if ts >= now else now
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
        self._seq, self._hash, self._ts = seq, previous, ts
        return rows

    def _engine_for(
        self, batch: Sequence[Transfer], checks: Sequence[CreateTransferResult | None]
    ) -> TransferEngine:
        """Load exactly the state the batch can touch: its ids, the reservations and transfers
        it names, whether those were resolved or reversed, and every account involved."""
        ids: set[int] = set()
        pending_refs: set[int] = set()
        reversal_refs: set[int] = set()
        account_ids: set[int] = set()
        for t, check in zip(batch, checks, strict=True):
            if check is not None:
                continue
            if t.id:
                ids.add(t.id)
            flags = t.flags
            if flags & _RESOLVE:
                pending_refs.add(t.pending_id)
            elif flags & _REVERSAL:
                reversal_refs.add(t.reverses_id)
            account_ids.add(t.debit_account_id)
            account_ids.add(t.credit_account_id)
        wanted = ids | pending_refs | reversal_refs
        entries = {}
        if wanted:
            entries = {r[journal.ID]: draft_of(r) for r in self.store.entries_by_id(list(wanted))}
        for ref in pending_refs | reversal_refs:
            found = entries.get(ref)
            if found is not None:
                account_ids.add(found[D_DR])
                account_ids.add(found[D_CR])
        account_ids.discard(0)
        resolved = dict(self.store.resolutions(list(pending_refs))) if pending_refs else {}
        reversed_ids = self.store.reversed_ids(list(reversal_refs)) if reversal_refs else set()
        return TransferEngine(
            now_ns=self.now_ns,
            entries=entries,
            resolved=resolved,
            reversed_ids=reversed_ids,
            accounts=self._load_accounts(account_ids),
        )

    def _load_accounts(self, ids: Iterable[int]) -> dict[int, list[Any]]:
        cache = self._cache
        found: dict[int, list[Any]] = {}
        missing: list[int] = []
        for account_id in ids:
            state = cache.get(account_id)
            if state is None:
                missing.append(account_id)
            else:
                found[account_id] = state
        if missing:
            for r in self.store.account_states(missing):
                state = [r[1], r[2], r[3], r[4], r[5], r[6], r[7]]
                found[r[0]] = cache[r[0]] = state
        return found

    def _flush(self, engine: TransferEngine) -> None:
        """Give the drafts their place in the chain, then write rows and balances."""
        drafts = engine.drafts
        if drafts:
            plain, full = self._chain(drafts, engine.accounts)
            if plain:
                self.store.insert_plain_rows(plain)
            if full:
                self.store.insert_journal(full)
        if engine.touched:
            accounts = engine.accounts
            self.store.update_balances(
                [
                    (a[DP], a[DPO], a[CP], a[CPO], a[LAST], account_id)
                    for account_id in sorted(engine.touched)
                    for a in (accounts[account_id],)
                ]
            )

    def _chain(
        self, drafts: Sequence[tuple[int, ...]], accounts: dict[int, list[Any]]
    ) -> tuple[list[PlainRow], list[journal.Row]]:
        """Give drafts their seq, timestamp, history pointers and hash, in order. Plain
        transfers come back in the narrow layout, the others in the full one."""
        if drafts:
            self._check_stamp()
        seq, previous, ts, now = self._seq, self._hash, self._ts, self._floor
        sha256, pack = hashlib.sha256, journal.BODY.pack
        mark = self._transfer_mark
        ns = 1_000_000_000
        plain: list[PlainRow] = []
        full: list[journal.Row] = []
        for tid, dr, cr, amount, flags, pid, rid, timeout_s, code in drafts:
            seq += 1
            ts = ts + 1 if ts >= now else now
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
                    ts + timeout_s * ns if timeout_s else None,
                    dr_prev,
                    cr_prev,
                    previous,
                )
            )
        self._seq, self._hash, self._ts = seq, previous, ts
        return plain, full

    # -- accounts and assets ----------------------------------------------------------------

    def create_accounts(self, accounts: Iterable[Account]) -> list[CreateAccountResult]:
        batch = list(accounts)
        refused: dict[int, CreateAccountResult] = {}
        for k, account in enumerate(batch):
            flags = account.flags
            if isinstance(flags, int) and not isinstance(flags, bool) and flags & _IMPORTED_ACCOUNT:
                if not self.imported:
                    refused[k] = A.IMPORTED_EVENT_NOT_EXPECTED
                flags = AccountFlags(int(flags) & ~_IMPORTED_ACCOUNT)
                batch[k] = dataclasses.replace(account, flags=flags)
        assets = {code for code, _, _ in self.store.assets()}
        ids = [a.id for a in batch if type(a.id) is int and 0 < a.id <= INT64_MAX]
        existing = {r[0]: r for r in self.store.accounts_by_id(ids)} if ids else {}
        names_taken: dict[str, int] = {}
        for name in {a.name for a in batch if valid_name(a.name)}:
            assert name is not None
            owner = self.store.account_id_by_name(name)
            if owner is not None:
                names_taken[name] = owner
        results: list[CreateAccountResult] = []
        rows: list[tuple[Any, ...]] = []
        for k, account in enumerate(batch):
            code = refused.get(k) or self._check_account(account, assets, existing, names_taken)
            if code is None:
                row = (
                    account.id,
                    account.asset,
                    int(account.flags) | self._account_mark,
                    account.code,
                    account.name,
                    self.tick(),
                )
                rows.append(row)
                existing[account.id] = row
                if account.name is not None:
                    names_taken[account.name] = account.id
                code = A.OK
            results.append(code)
        if rows:
            self.store.insert_accounts(rows)
            self.applied += len(rows)
        return results

    @staticmethod
    def _check_account(
        account: Account,
        assets: set[str],
        existing: dict[int, tuple[Any, ...]],
        names_taken: dict[str, int],
    ) -> CreateAccountResult | None:
        """``None`` for a new account to insert, else the result code (``ok`` for a replay)."""
        if type(account.id) is not int or not 0 < account.id <= INT64_MAX:
            return A.ID_MUST_BE_POSITIVE
        flags = account.flags
        if not isinstance(flags, int) or isinstance(flags, bool) or int(flags) & ~_ACCOUNT_FLAGS:
            return A.FLAGS_INVALID
        if flags & _DMNEC and flags & _CMNED:
            return A.FLAGS_ARE_MUTUALLY_EXCLUSIVE
        if type(account.code) is not int or not 0 <= account.code <= CODE_MAX:
            return A.CODE_INVALID
        if account.name is not None and not valid_name(account.name):
            return A.NAME_INVALID
        if account.asset not in assets:
            return A.ASSET_NOT_FOUND
        if flags & _ISSUER:
            return A.ISSUER_MUST_BE_CREATED_WITH_ASSET
        if not flags & _DMNEC:
            return A.NON_ISSUER_MUST_LIMIT_DEBITS
        found = existing.get(account.id)
        if found is not None:
            if found[1] != account.asset:
                return A.EXISTS_WITH_DIFFERENT_ASSET
            if found[2] & ~_IMPORTED_ACCOUNT != int(flags):
                return A.EXISTS_WITH_DIFFERENT_FLAGS
            if found[3] != account.code:
                return A.EXISTS_WITH_DIFFERENT_CODE
            if found[4] != account.name:
                return A.EXISTS_WITH_DIFFERENT_NAME
            return A.OK
        if account.name is not None and account.name in names_taken:
            return A.NAME_ALREADY_USED
        return None

    def create_asset(
        self, asset: Asset, *, issuer_account_id: int, name: str | None = None, code: int = 0
    ) -> CreateAssetResult:
        """Create an asset with its issuer account (flags ``ISSUER`` and
        ``CREDITS_MUST_NOT_EXCEED_DEBITS``: its balance is minus the supply, never above 0)."""
        if not isinstance(asset.code, str) or not ASSET_CODE.match(asset.code):
            return CreateAssetResult.ASSET_CODE_INVALID
        if type(asset.scale) is not int or not 0 <= asset.scale <= SCALE_MAX:
            return CreateAssetResult.SCALE_INVALID
        if (
            type(issuer_account_id) is not int
            or not 0 < issuer_account_id <= INT64_MAX
            or (name is not None and not valid_name(name))
            or type(code) is not int
            or not 0 <= code <= CODE_MAX
        ):
            return CreateAssetResult.ISSUER_ACCOUNT_INVALID
        found = self.store.asset(asset.code)
        if found is not None:
            scale, issuer = found
            if scale != asset.scale:
                return CreateAssetResult.EXISTS_WITH_DIFFERENT_SCALE
            if issuer != issuer_account_id:
                return CreateAssetResult.EXISTS_WITH_DIFFERENT_ISSUER
            return CreateAssetResult.OK
        if self.store.accounts_by_id([issuer_account_id]):
            return CreateAssetResult.ISSUER_ACCOUNT_ID_ALREADY_USED
        if name is not None and self.store.account_id_by_name(name) is not None:
            return CreateAssetResult.NAME_ALREADY_USED
        ts = self.tick()
        self.store.insert_asset(asset.code, asset.scale, issuer_account_id, ts)
        issuer_flags = _ISSUER_FLAGS | self._account_mark
        self.store.insert_accounts(
            [(issuer_account_id, asset.code, issuer_flags, code, name, self.tick())]
        )
        self.applied += 1
        return CreateAssetResult.OK


def import_refused(at_ns: object, problem: str, *, last_ns: int | None = None) -> LedgerError:
    """The refusal of an import at ``at_ns``, with its TigerBeetle-style result code."""
    code = CreateTransferResult(f"imported_event_timestamp_{problem}")
    when = ns_to_datetime(at_ns).isoformat() if type(at_ns) is int and at_ns > 0 else at_ns
    reason = code.reason
    if last_ns is not None and problem == "must_not_regress":
        reason += f"; the last event is at {ns_to_datetime(last_ns).isoformat()}"
    elif last_ns is not None:
        reason += f"; the ledger clock is at {ns_to_datetime(last_ns).isoformat()}"
    return LedgerError("import_refused", result_code=code.value, at=when, reason=reason)


def balance_of(row: Sequence[Any]) -> AccountBalance:
    return AccountBalance(
        id=row[0],
        asset=row[1],
        flags=AccountFlags(row[2]),
        code=row[3],
        name=row[4],
        debits_pending=row[5],
        debits_posted=row[6],
        credits_pending=row[7],
        credits_posted=row[8],
        timestamp_ns=row[9],
        last_seq=row[10],
    )


class Ledger:
    """A double-entry ledger on one store. Thread-safe: one connection behind one lock."""

    def __init__(self, store: Store, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.RLock()
        # Account states as of our last commit, valid while the journal head is still the one
        # we committed: balances change only through journal rows, so if no other process
        # moved the head, no other process changed a balance. Saves re-reading hot accounts.
        self._accounts: dict[int, list[Any]] = {}
        self._accounts_head: tuple[int, bytes] | None = None
        self._writing = False  # a transaction is open (on the thread holding the lock)

    @classmethod
    def open(cls, url: str, *, create: bool = False, clock: Clock | None = None) -> Ledger:
        """Open the ledger at ``url`` (``sqlite:///PATH`` or ``postgresql://…``).

        ``create=True`` creates the database file or schema when it does not exist; either way
        the schema is migrated to the latest version. The clock defaults to wall time.
        """
        clock = clock or SystemClock()
        store = open_store(url, create=create)
        try:
            migrate(store, create=create, now_ns=clock.now_ns())
        except BaseException:
            store.close()
            raise
        return cls(store, clock=clock)

    def close(self) -> None:
        with self._lock:
            self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        return self._store.dialect

    @property
    def clock(self) -> Clock:
        return self._clock

    # -- writing ----------------------------------------------------------------------------

    @contextmanager
    def transaction(self, *, at_ns: int | None = None) -> Iterator[LedgerWriter]:
        """One atomic write. Commits if the block applied at least one request and raised
        nothing; otherwise rolls back, expiries included, so refusals change nothing.

        ``at_ns`` makes the write an **import** (TigerBeetle's ``imported`` flag): its rows
        are stamped from ``at_ns`` upward, one nanosecond apart, instead of from the clock,
        and its accounts and transfers carry the ``IMPORTED`` flag. Imports load history in
        order: ``at_ns`` must be after the ledger's last row (else the first row written
        raises ``imported_event_timestamp_must_not_regress``, so once a live event is
        recorded nothing can be imported before it) and not after the ledger clock
        (``…_must_not_advance``). The journal stays in timestamp order, so every "as of"
        read (holdings at a cut, history) sees imported rows where they belong. A refusal
        anywhere in the block writes nothing: an import applies entirely or not at all.
        """
        if at_ns is not None and (type(at_ns) is not int or not 0 < at_ns <= INT64_MAX):
            raise import_refused(at_ns, "out_of_range")
        with self._lock:
            if self._writing:
                raise RuntimeError("a ledger transaction is already open on this thread")
            store = self._store
            head = store.begin_write()
            if self._accounts_head != (head.seq, head.hash):
                self._accounts.clear()
            self._accounts_head = None  # until this write commits
            self._writing = True
            try:
                writer = LedgerWriter(
                    store, head, self._clock.now_ns(), account_cache=self._accounts, at_ns=at_ns
                )
                if at_ns is not None and at_ns > writer.now_ns:
                    raise import_refused(at_ns, "must_not_advance", last_ns=writer.now_ns)
                writer.expire_due()
                yield writer
                if writer.applied:
                    store.write_head(writer.head)
                    store.commit()
                    self._remember_accounts(writer.head)
                else:
                    store.rollback()
                    self._accounts.clear()
            except BaseException:
                self._accounts.clear()
                store.rollback()
                raise
            finally:
                self._writing = False

    def _remember_accounts(self, head: Head) -> None:
        if len(self._accounts) > ACCOUNT_CACHE_MAX:
            self._accounts.clear()
        self._accounts_head = (head.seq, head.hash)

    def create_transfers(
        self, transfers: Iterable[Transfer], *, at_ns: int | None = None
    ) -> list[CreateTransferResult]:
        """Apply a batch (``at_ns``: as an import, see :meth:`transaction`)."""
        with self.transaction(at_ns=at_ns) as writer:
            return writer.create_transfers(transfers)

    def create_accounts(
        self, accounts: Iterable[Account], *, at_ns: int | None = None
    ) -> list[CreateAccountResult]:
        with self.transaction(at_ns=at_ns) as writer:
            return writer.create_accounts(accounts)

    def create_asset(
        self,
        asset: Asset,
        *,
        issuer_account_id: int,
        name: str | None = None,
        code: int = 0,
        at_ns: int | None = None,
    ) -> CreateAssetResult:
        with self.transaction(at_ns=at_ns) as writer:
            return writer.create_asset(
                asset, issuer_account_id=issuer_account_id, name=name, code=code
            )

    def transfer(self, transfer: Transfer, *, at_ns: int | None = None) -> None:
        """One transfer; raises :class:`TransferRefusedError` with its result code if refused."""
        (result,) = self.create_transfers([transfer], at_ns=at_ns)
        if result is not CreateTransferResult.OK:
            raise TransferRefusedError(
                "transfer_refused",
                result_code=result.value,
                transfer_id=transfer.id,
                reason=result.reason,
            )

    def create_account(self, account: Account, *, at_ns: int | None = None) -> None:
        """One account; raises :class:`AccountRefusedError` with its result code if refused."""
        (result,) = self.create_accounts([account], at_ns=at_ns)
        if result is not CreateAccountResult.OK:
            raise AccountRefusedError(
                "account_refused",
                result_code=result.value,
                account_id=account.id,
                reason=result.reason,
            )

    def expire_pending(self) -> int:
        """Journal the expiry of every reservation due on the ledger clock; return how many."""
        with self._lock:
            store = self._store
            head = store.begin_write()
            self._accounts.clear()
            self._accounts_head = None
            try:
                writer = LedgerWriter(store, head, self._clock.now_ns())
                expired = writer.expire_due()
                store.write_head(writer.head)
                store.commit()
                return expired
            except BaseException:
                store.rollback()
                raise

    # -- reading ----------------------------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[Store]:
        """A read-only view of one consistent state. Inside :meth:`transaction` (same thread)
        it reads the open write transaction, which sees its own changes."""
        with self._lock:
            if self._writing:
                yield self._store
                return
            self._store.begin_read()
            try:
                yield self._store
            finally:
                self._store.rollback()

    def head(self) -> Head:
        with self.snapshot() as store:
            return store.read_head()

    def assets(self) -> list[AssetInfo]:
        with self.snapshot() as store:
            rows = store.assets()
        return [AssetInfo(*r) for r in rows]

    def asset(self, code: str) -> AssetInfo:
        for info in self.assets():
            if info.code == code:
                return info
        raise LedgerError("asset_not_found", asset=code)

    def lookup_accounts(self, ids: Sequence[int]) -> list[AccountBalance]:
        """The accounts that exist among ``ids``, in id order."""
        with self.snapshot() as store:
            rows = store.accounts_by_id(list(ids))
        return sorted((balance_of(r) for r in rows), key=lambda a: a.id)

    def account(self, ref: int | str) -> AccountBalance:
        """An account by id, or by name (a string that is not all digits)."""
        with self.snapshot() as store:
            if isinstance(ref, int) or ref.isdigit():
                found = store.accounts_by_id([int(ref)])
                row = found[0] if found else None
            else:
                row = store.account_by_name(ref)
        if row is None:
            raise LedgerError("account_not_found", account=ref)
        return balance_of(row)

    def accounts(
        self, *, asset: str | None = None, limit: int | None = None
    ) -> list[AccountBalance]:
        with self.snapshot() as store:
            return [balance_of(r) for r in store.accounts(asset=asset, limit=limit)]

    def lookup_transfer(self, transfer_id: int) -> JournalEntry | None:
        """A journal row by id (a negative id is a ledger-assigned ``-seq``)."""
        with self.snapshot() as store:
            row = store.journal_row_by_id(transfer_id)
        return None if row is None else journal.to_entry(row)

    def history(
        self, account_id: int, *, limit: int = 50, before_seq: int | None = None
    ) -> list[JournalEntry]:
        """The account's journal rows, newest first, following each row's pointer to the
        account's previous row. To page, pass the last row's seq as ``before_seq``."""
        out: list[JournalEntry] = []
        with self.snapshot() as store:
            if before_seq is None:
                last = store.last_seq(account_id)
                if last is None:
                    raise LedgerError("account_not_found", account=account_id)
                seq = last
            else:
                start = self._row(store, before_seq)
                seq = 0 if start is None else start.prev_seq_for(account_id)
            while seq and len(out) < limit:
                entry = self._row(store, seq)
                assert entry is not None, f"history pointer to missing row {seq}"
                out.append(entry)
                seq = entry.prev_seq_for(account_id)
        return out

    @staticmethod
    def _row(store: Store, seq: int) -> JournalEntry | None:
        row = store.journal_row(seq)
        return None if row is None else journal.to_entry(row)

    def journal(self, *, after_seq: int = 0) -> Iterator[JournalEntry]:
        """Every journal row in order (streamed)."""
        with self.snapshot() as store:
            for row in store.stream_journal(after_seq=after_seq):
                yield journal.to_entry(row)

    def verify(self) -> VerifyReport:
        """Check every invariant (see :func:`hashmarket.ledger.verify.verify`)."""
        with self.snapshot() as store:
            return verify(store)

    def state_hash(self) -> str:
        """SHA-256 of the whole ledger state; equal on SQLite and PostgreSQL for equal history."""
        with self.snapshot() as store:
            return state_hash(store)
