"""Authenticated: what the calling key is; an admin key revokes keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from hashmarket.api.keys import ROLE_PERMISSIONS, ApiKey, Role
from hashmarket.api.security import current_key
from hashmarket.api.state import ServiceState, service

router = APIRouter(prefix="/api/v1", tags=["keys"])


@router.get("/keys/me", summary="The calling key's role, account and permissions")
def whoami(key: ApiKey = Depends(current_key)) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "role": key.role.value,
        "account": key.account,
        "label": key.label,
        "permissions": sorted(p.value for p in ROLE_PERMISSIONS[key.role]),
    }


@router.delete("/keys/{key_id}", summary="Revoke a key (admin)")
def revoke_key(
    key_id: str, key: ApiKey = Depends(current_key), state: ServiceState = Depends(service)
) -> dict[str, Any]:
    """This process refuses the key from its next request; other server processes within
    their key cache's time to live (``hashmarket serve --key-cache-ttl``)."""
    if key.role is not Role.ADMIN:
        raise HTTPException(403, f"role {key.role.value!r} may not revoke keys")
    revoked = state.store.revoke_key(key_id)
    return {"key_id": revoked.key_id, "role": revoked.role.value, "revoked_at": revoked.revoked_at}
