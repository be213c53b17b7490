"""Rows of the ``api_keys`` table in the service's own SQLite database, behind named
functions. :class:`hashmarket.api.keys.ServiceStore` opens the connection and turns rows into
keys; a key's secret never reaches this module, only its salt and salted digest.
"""

from __future__ import annotations

import sqlite3
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    salt_hex TEXT NOT NULL,
    secret_sha256_hex TEXT NOT NULL,
    role TEXT NOT NULL,
    account TEXT,
    label TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


def create_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def insert_key(
    db: sqlite3.Connection,
    *,
    key_id: str,
    salt_hex: str,
    secret_sha256_hex: str,
    role: str,
    account: str | None,
    label: str,
    created_at: str,
) -> None:
    db.execute(
        "INSERT INTO api_keys (key_id, salt_hex, secret_sha256_hex, role, account, label,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (key_id, salt_hex, secret_sha256_hex, role, account, label, created_at),
    )


def secret_row(db: sqlite3.Connection, key_id: str) -> tuple[Any, ...] | None:
    """(salt_hex, secret_sha256_hex, role, account, label, created_at, revoked_at) of a key."""
    row: tuple[Any, ...] | None = db.execute(
        "SELECT salt_hex, secret_sha256_hex, role, account, label, created_at, revoked_at"
        " FROM api_keys WHERE key_id = ?",
        (key_id,),
    ).fetchone()
    return row


def revoke(db: sqlite3.Connection, key_id: str, revoked_at: str) -> None:
    """Mark a key revoked; a key already revoked keeps its first revocation time."""
    db.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
        (revoked_at, key_id),
    )


def key_rows(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """(key_id, role, account, label, created_at, revoked_at) of every key, oldest first."""
    return db.execute(
        "SELECT key_id, role, account, label, created_at, revoked_at FROM api_keys"
        " ORDER BY created_at, key_id"
    ).fetchall()
