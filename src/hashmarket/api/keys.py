"""API keys with roles, stored only as salted hashes, and the service's own small database.

A key reads ``hm_<key id>_<secret>``. The secret is 32 random bytes, so a salted SHA-256 is
enough to make a stolen table useless (no dictionary to try); the key id lets a request find
its row without scanning. Keys are revoked, never deleted, so an audit can see who held what.

Every authenticated request looks its key up, so a server process keeps each key's row in
memory for ``key_cache_ttl_s`` seconds (default :data:`KEY_CACHE_TTL_S`) and reads it through
one long-lived connection per thread. The secret is still checked against the salted digest
on every request. Revoking a key through a process's :class:`ServiceStore` drops it from that
process's cache at once; a revocation made by another process (``hashmarket keys revoke``
while the server runs) reaches a server within ``key_cache_ttl_s``, when its cached row
expires and is read again. Ids with no row are never cached.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hashmarket.api import key_store
from hashmarket.errors import UsageError

SERVICE_DB_FILE_NAME = "service.sqlite"
KEY_PREFIX = "hm"
KEY_CACHE_TTL_S = 2.0  # how stale a server's view of a key may be after another process changed it
KEY_CACHE_MAX = 10_000  # rows cached at most; past this the cache starts again empty
NOT_CACHED = object()  # what authenticate_cached answers when only the store can tell


class Role(enum.StrEnum):
    ADMIN = "admin"
    ISSUER = "issuer"
    TRADER = "trader"
    VIEWER = "viewer"


class Permission(enum.StrEnum):
    READ = "read"  # balances, history, holders, analytics
    TRANSFER = "transfer"  # move funds out of an account the key may use
    MANAGE_ACCOUNTS = "manage_accounts"  # open accounts
    ISSUE = "issue"  # token series: issue, mint, burn, distribute
    SETTLE = "settle"  # settlement runs


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.ISSUER: frozenset(
        {Permission.READ, Permission.TRANSFER, Permission.MANAGE_ACCOUNTS, Permission.ISSUE}
    ),
    Role.TRADER: frozenset({Permission.READ, Permission.TRANSFER}),
    Role.VIEWER: frozenset({Permission.READ}),
}


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What a key may do: its role and, for a holder's key, the one account it may use."""

    key_id: str
    role: Role
    account: str | None
    label: str
    created_at: str
    revoked_at: str | None = None

    def allows(self, permission: Permission) -> bool:
        return self.revoked_at is None and permission in ROLE_PERMISSIONS[self.role]

    def may_use_account(self, account: str) -> bool:
        """A key bound to an account sees and moves only that account."""
        return self.account is None or self.account == account


def account_id_for_key(account: str, ledger_url: str) -> str:
    """The account id a key is bound to: an id as given, a name resolved in the ledger.

    A key compares its account with the ids in requests, so a name is turned into its id
    once, here; a name no account has is refused rather than stored as a key that could
    never use anything.
    """
    if account.isascii() and account.isdigit():
        return str(int(account))
    from hashmarket.errors import LedgerError
    from hashmarket.ledger import Ledger

    try:
        with Ledger.open(ledger_url) as ledger:
            found = ledger.account(account)
    except LedgerError as error:
        raise UsageError(
            "bad_option",
            option="--account",
            problem=f"cannot bind the key to {account!r}: {error}",
        ) from error
    return str(found.id)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(salt_hex: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt_hex) + secret.encode("utf-8")).hexdigest()


@dataclass
class _KeyCache:
    """Key rows read from one service database, shared by every store on it in a process,
    so that a revocation through any of them is seen by all at once."""

    # key id -> (when read, its secret row); rows are tuples, never changed in place.
    rows: dict[str, tuple[float, tuple[Any, ...]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_CACHES: dict[Path, _KeyCache] = {}
_CACHES_LOCK = threading.Lock()


def _cache_for(path: Path) -> _KeyCache:
    with _CACHES_LOCK:
        return _CACHES.setdefault(path.resolve(), _KeyCache())


def _parse(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a token shaped ``hm_<key id>_<secret>``."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    return parts[1], parts[2]


def _verified(key_id: str, row: tuple[Any, ...] | None, secret: str) -> ApiKey | None:
    """The key of ``row`` if it exists, is not revoked and ``secret`` is its secret."""
    if row is None or row[6] is not None:
        return None
    if not hmac.compare_digest(_digest(row[0], secret), row[1]):
        return None
    return ApiKey(key_id, Role(row[2]), row[3], row[4], row[5], row[6])


class ServiceStore:
    """API keys in ``<data dir>/service.sqlite`` (idempotency records live in the ledger's
    database, :mod:`hashmarket.ledger.idempotency`, where every server process sees them)."""

    def __init__(
        self,
        path: Path,
        *,
        key_cache_ttl_s: float = KEY_CACHE_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.key_cache_ttl_s = key_cache_ttl_s
        self._monotonic = monotonic
        path.parent.mkdir(parents=True, exist_ok=True)
        self._cache = _cache_for(path)
        self._readers = threading.local()
        with self._connect() as db:
            key_store.create_schema(db)

    @classmethod
    def in_data_dir(
        cls, data_dir: Path, *, key_cache_ttl_s: float = KEY_CACHE_TTL_S
    ) -> ServiceStore:
        return cls(data_dir / SERVICE_DB_FILE_NAME, key_cache_ttl_s=key_cache_ttl_s)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    # --- keys -----------------------------------------------------------------------------
    def create_key(
        self, role: Role, *, account: str | None = None, label: str = ""
    ) -> tuple[ApiKey, str]:
        """A new key; the returned secret is shown once and never stored.

        ``account`` binds the key to one account by its id (digits): requests compare it with
        the ids in paths and bodies. Resolve a name first (:func:`account_id_for_key`).
        """
        if account is not None and not (account.isascii() and account.isdigit()):
            raise UsageError(
                "bad_option",
                option="--account",
                problem=f"{account!r} is not an account id (resolve a name to its id first)",
            )
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt_hex = secrets.token_hex(16)
        key = ApiKey(
            key_id=key_id, role=Role(role), account=account, label=label, created_at=_now()
        )
        with self._connect() as db:
            key_store.insert_key(
                db,
                key_id=key_id,
                salt_hex=salt_hex,
                secret_sha256_hex=_digest(salt_hex, secret),
                role=key.role.value,
                account=account,
                label=label,
                created_at=key.created_at,
            )
        return key, f"{KEY_PREFIX}_{key_id}_{secret}"

    def authenticate(self, token: str) -> ApiKey | None:
        """The key a token belongs to, if the token is valid and not revoked (its row from
        the cache while fresh, else from the database)."""
        parsed = _parse(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        row = self._cached_row(key_id)
        if row is None:
            row = self._read_row(key_id)
        return _verified(key_id, row, secret)

    def authenticate_cached(self, token: str) -> ApiKey | object | None:
        """:meth:`authenticate` without touching the database: :data:`NOT_CACHED` when the
        key's row is not cached fresh (then call :meth:`authenticate`, off the event loop)."""
        parsed = _parse(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        row = self._cached_row(key_id)
        return NOT_CACHED if row is None else _verified(key_id, row, secret)

    def forget(self, key_id: str) -> None:
        """Drop a key's cached row (for every store on this database in this process): its
        next request reads the database."""
        with self._cache.lock:
            self._cache.rows.pop(key_id, None)

    def _cached_row(self, key_id: str) -> tuple[Any, ...] | None:
        with self._cache.lock:
            cached = self._cache.rows.get(key_id)
        if cached is None or self._monotonic() - cached[0] >= self.key_cache_ttl_s:
            return None
        return cached[1]

    def _read_row(self, key_id: str) -> tuple[Any, ...] | None:
        read_at = self._monotonic()
        row = key_store.secret_row(self._reader(), key_id)
        if row is not None:
            with self._cache.lock:
                if len(self._cache.rows) >= KEY_CACHE_MAX:
                    self._cache.rows.clear()
                self._cache.rows[key_id] = (read_at, row)
        return row

    def _reader(self) -> sqlite3.Connection:
        """This thread's connection for reading keys, opened once (WAL: each read in
        autocommit sees the last committed state)."""
        db: sqlite3.Connection | None = getattr(self._readers, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._readers.db = db
        return db

    def revoke_key(self, key_id: str) -> ApiKey:
        with self._connect() as db:
            key_store.revoke(db, key_id, _now())
        self.forget(key_id)  # committed: this process refuses the key from its next request
        for key in self.list_keys():
            if key.key_id == key_id:
                return key
        raise UsageError("bad_option", option="key id", problem=f"no key {key_id!r}")

    def list_keys(self) -> list[ApiKey]:
        with self._connect() as db:
            rows = key_store.key_rows(db)
        return [ApiKey(r[0], Role(r[1]), r[2], r[3], r[4], r[5]) for r in rows]
