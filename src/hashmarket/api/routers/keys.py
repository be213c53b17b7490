"""Authenticated: what the calling key is."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from hashmarket.api.keys import ROLE_PERMISSIONS, ApiKey
from hashmarket.api.security import current_key

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
