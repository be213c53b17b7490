"""Rows of ``idempotency_records`` (migration 4), behind named functions.

Every function runs inside the caller's records transaction (``Ledger.records``); the
compare-and-set ones return whether their row matched, which is all :mod:`.idempotency`
decides on.
"""

from __future__ import annotations

from typing import Any

from hashmarket.ledger.store import Store


def insert_claim(
    store: Store, scope: str, key: str, request_sha256: str, token: str, now_ns: int
) -> bool:
    """Insert a claim; False if ``(scope, key)`` already has a row."""
    inserted = store.execute(
        "INSERT INTO idempotency_records (scope, idempotency_key, request_sha256,"
        " claim_token, claimed_at_ns) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (scope, key, request_sha256, token, now_ns),
    )
    return inserted == 1


def record(store: Store, scope: str, key: str) -> tuple[Any, ...]:
    """(request_sha256, claim_token, claimed_at_ns, status, content_type, body) of the row."""
    return store.query(
        "SELECT request_sha256, claim_token, claimed_at_ns, status, content_type, body"
        " FROM idempotency_records WHERE scope = ? AND idempotency_key = ?",
        (scope, key),
    )[0]


def take_over(
    store: Store, scope: str, key: str, *, old_token: str, token: str, now_ns: int
) -> bool:
    """Move an unfinished claim from ``old_token`` to ``token``; False if it moved meanwhile."""
    taken = store.execute(
        "UPDATE idempotency_records SET claim_token = ?, claimed_at_ns = ?"
        " WHERE scope = ? AND idempotency_key = ? AND claim_token = ? AND status IS NULL",
        (token, now_ns, scope, key, old_token),
    )
    return taken == 1


def store_response(
    store: Store,
    scope: str,
    key: str,
    token: str,
    *,
    status: int,
    content_type: str,
    body: bytes,
    now_ns: int,
) -> bool:
    """Complete the claim held by ``token``; False if another token holds it now."""
    updated = store.execute(
        "UPDATE idempotency_records SET status = ?, content_type = ?, body = ?,"
        " completed_at_ns = ? WHERE scope = ? AND idempotency_key = ? AND claim_token = ?"
        " AND status IS NULL",
        (status, content_type, body, now_ns, scope, key, token),
    )
    return updated == 1


def delete_claim(store: Store, scope: str, key: str, token: str) -> None:
    """Remove the unfinished claim held by ``token`` (none if it completed or moved)."""
    store.execute(
        "DELETE FROM idempotency_records WHERE scope = ? AND idempotency_key = ?"
        " AND claim_token = ? AND status IS NULL",
        (scope, key, token),
    )


def delete_claimed_before(store: Store, before_ns: int, limit: int) -> int:
    """Delete up to ``limit`` rows claimed before ``before_ns``, oldest first; how many."""
    return store.execute(
        "DELETE FROM idempotency_records WHERE (scope, idempotency_key) IN ("
        " SELECT scope, idempotency_key FROM idempotency_records WHERE claimed_at_ns < ?"
        " ORDER BY claimed_at_ns LIMIT ?)",
        (before_ns, limit),
    )
