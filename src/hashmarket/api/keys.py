"""API keys with roles, stored only as salted hashes, and the service's own small database.

A key reads ``hm_<key id>_<secret>``. The secret is 32 random bytes, so a salted SHA-256 is
enough to make a stolen table useless (no dictionary to try); the key id lets a request find
its row without scanning. Keys are revoked, never deleted, so an audit can see who held what.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hashmarket.api import key_store
from hashmarket.errors import UsageError

SERVICE_DB_FILE_NAME = "service.sqlite"
KEY_PREFIX = "hm"


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


class ServiceStore:
    """API keys in ``<data dir>/service.sqlite`` (idempotency records live in the ledger's
    database, :mod:`hashmarket.ledger.idempotency`, where every server process sees them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            key_store.create_schema(db)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> ServiceStore:
        return cls(data_dir / SERVICE_DB_FILE_NAME)

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
        """The key a token belongs to, if the token is valid and not revoked."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        _, key_id, secret = parts
        with self._connect() as db:
            row = key_store.secret_row(db, key_id)
        if row is None or row[6] is not None:
            return None
        if not hmac.compare_digest(_digest(row[0], secret), row[1]):
            return None
        return ApiKey(key_id, Role(row[2]), row[3], row[4], row[5], row[6])

    def revoke_key(self, key_id: str) -> ApiKey:
        with self._connect() as db:
            key_store.revoke(db, key_id, _now())
        for key in self.list_keys():
            if key.key_id == key_id:
                return key
        raise UsageError("bad_option", option="key id", problem=f"no key {key_id!r}")

    def list_keys(self) -> list[ApiKey]:
        with self._connect() as db:
            rows = key_store.key_rows(db)
        return [ApiKey(r[0], Role(r[1]), r[2], r[3], r[4], r[5]) for r in rows]
