"""Route dependencies: who is calling, and may they do this to that account.

They are ``async`` although they never wait: FastAPI runs a plain ``def`` dependency in its
thread pool, a thread hop per dependency per request for what is a dictionary lookup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from hashmarket.api.keys import ApiKey, Permission

BEARER = {"WWW-Authenticate": "Bearer"}


async def current_key(request: Request) -> ApiKey:
    key: ApiKey | None = getattr(request.state, "principal", None)
    if key is None:
        if getattr(request.state, "auth_failed", False):
            raise HTTPException(401, "the API key is not valid or has been revoked", headers=BEARER)
        raise HTTPException(
            401, "an API key is required: Authorization: Bearer hm_…", headers=BEARER
        )
    return key


def require(permission: Permission) -> Callable[[Request], Awaitable[ApiKey]]:
    """A dependency that admits keys whose role has ``permission``."""

    async def dependency(request: Request) -> ApiKey:
        key = await current_key(request)
        if not key.allows(permission):
            raise HTTPException(403, f"role {key.role.value!r} may not {permission.value}")
        return key

    dependency.__name__ = f"require_{permission.value}"
    return dependency


def check_account(key: ApiKey, account: str) -> None:
    """403 unless the key may see and move ``account``."""
    if not key.may_use_account(account):
        raise HTTPException(403, f"this key may only use account {key.account!r}, not {account!r}")
