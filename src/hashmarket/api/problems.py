"""Errors as ``application/problem+json`` (RFC 9457): status, title, detail, and where.

Every library error is a :class:`HashmarketError`; here each subclass gets its HTTP status and
the body names the field and value the error carries, as the CLI's one line does.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hashmarket.errors import DataError, HashmarketError, SourceError, UsageError

PROBLEM_JSON = "application/problem+json"

logger = logging.getLogger("hashmarket.api")

# Subclasses not listed map through their nearest listed base (see _status_for).
STATUS_BY_ERROR: dict[type[HashmarketError], int] = {
    UsageError: 400,
    DataError: 422,
    SourceError: 503,
    HashmarketError: 422,
}


class ProblemResponse(JSONResponse):
    """A problem body as ASCII JSON: it may quote what the client sent, and a value that is
    not valid Unicode (a lone surrogate) must come back escaped rather than fail to encode."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":"), default=str).encode()


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return ProblemResponse(body, status_code=status)


class LastResortMiddleware:
    """The outermost layer: an exception nothing else handled becomes a logged 500 problem.

    Starlette's own last resort answers ``text/plain`` and re-raises so the server can log
    it, and the server then closes the connection, so a keep-alive client loses its next
    request too. Here the error is logged, the client gets problem+json, and nothing is
    re-raised: the connection stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:  # the status line is out: nothing can be said any more
                raise
            response = problem(
                500,
                "Internal Server Error",
                "the service failed on this request; the error has been logged",
            )
            await response(scope, receive, send)


def _status_for(error: HashmarketError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
        status = getattr(cls, "http_status", None)
        if isinstance(status, int):
            return status
    return 422


def error_body(error: HashmarketError) -> dict[str, Any]:
    where = error.location
    field = where.column if where is not None else None
    field = field or error.fields.get("field") or error.fields.get("option")
    value = where.value if where is not None else error.fields.get("value")
    return {"code": error.key, "field": field, "value": None if value is None else str(value)}


def problem_for(error: HashmarketError) -> JSONResponse:
    return problem(_status_for(error), type(error).__name__, str(error), **error_body(error))


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(HashmarketError)
    async def hashmarket_error(_: Request, error: HashmarketError) -> JSONResponse:
        return problem_for(error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in e.get("loc", ()) if part != "body"),
                "value": e.get("input"),
                "problem": e.get("msg"),
            }
            for e in error.errors()
        ]
        first = errors[0] if errors else {"field": None, "value": None, "problem": "invalid"}
        detail = f"{first['field']}: {first['problem']}"
        return problem(
            422,
            "Invalid request",
            detail,
            field=first["field"],
            value=None if first["value"] is None else str(first["value"])[:200],
            errors=[
                {**e, "value": None if e["value"] is None else str(e["value"])[:200]}
                for e in errors
            ],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(
            error.status_code, "Error"
        )
        response = problem(error.status_code, title, str(error.detail))
        if error.headers:
            response.headers.update(error.headers)
        return response
