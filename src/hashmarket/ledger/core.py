"""The ledger: accounts, transfers (pending → post / void / expire), linked batches.

``Ledger.open(url)`` gives the same behaviour on SQLite and PostgreSQL. Every write runs in one
database transaction through a :class:`LedgerWriter` (:mod:`.writer`): the writer takes the
store's writer lock, expires reservations whose timeout has passed on the ledger clock,
applies requests with the rules in :mod:`hashmarket.ledger.engine`, chains the new journal
rows onto the head hash and commits once. Nothing of a refused request is ever written, and a
write that applied no request rolls back entirely, so a refused command leaves the ledger byte
for byte as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hashmarket.errors import (
    AccountRefusedError,
    LedgerError,
    LedgerUnavailableError,
    TransferRefusedError,
)
from hashmarket.ledger import journal
from hashmarket.ledger.clock import Clock, SystemClock
from hashmarket.ledger.migrations import LATEST, MIGRATIONS
from hashmarket.ledger.model import (
    INT64_MAX,
    Account,
    AccountBalance,
    AccountFlags,
    Asset,
    JournalEntry,
    Transfer,
)
from hashmarket.ledger.results import CreateAccountResult, CreateAssetResult, CreateTransferResult
from hashmarket.ledger.store import Head, Store, parse_url
from hashmarket.ledger.verify import VerifyReport, state_hash, verify
from hashmarket.ledger.writer import LedgerWriter, import_refused

ACCOUNT_CACHE_MAX = 200_000


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
        for step in (m for m in MIGRATIONS if m.version > found):
            store.apply_migration(
                step.version, step.name, step.statements(store.dialect), now_ns=now_ns
            )
        store.commit()
        return found
    except BaseException:
        store.rollback()
        raise


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
