"""One write transaction of the ledger: the :class:`LedgerWriter` and its steps.

The writer holds the journal's tip while the transaction is open: it expires what fell due,
loads exactly the state a batch can touch, lets :mod:`hashmarket.ledger.engine` decide each
request, gives the resulting rows their place in the chain (:mod:`.chaining`) and writes rows
and balances through the store. :class:`hashmarket.ledger.core.Ledger` opens, commits and
rolls back; the writer never does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from hashmarket.errors import LedgerError, LedgerInvariantError
from hashmarket.ledger import journal
from hashmarket.ledger.chaining import chain_fan_out, chain_rows
from hashmarket.ledger.clock import ns_to_datetime
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
from hashmarket.ledger.model import (
    ACCOUNT_FLAGS_ALL,
    ASSET_CODE,
    CODE_MAX,
    INT64_MAX,
    SCALE_MAX,
    Account,
    AccountFlags,
    Asset,
    Transfer,
    TransferFlags,
    valid_name,
)
from hashmarket.ledger.results import CreateAccountResult, CreateAssetResult, CreateTransferResult
from hashmarket.ledger.store import Head, Store

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
FAN_OUT_CHUNK = 50_000  # transfers checked, chained and written at a time (bounds memory)


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
        if part:
            self._check_stamp()
        rows, (self._seq, self._hash, self._ts) = chain_fan_out(
            debit_account_id,
            debit,
            last_before,
            part,
            code,
            (self._seq, self._hash, self._ts),
            closes_chain=closes_chain,
            now_ns=self._floor,
            mark=self._transfer_mark,
        )
        store.insert_fan_out_rows(debit_account_id, code, rows)
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
            self._check_stamp()
            plain, full, (self._seq, self._hash, self._ts) = chain_rows(
                drafts,
                engine.accounts,
                (self._seq, self._hash, self._ts),
                now_ns=self._floor,
                mark=self._transfer_mark,
            )
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
