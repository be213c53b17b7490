"""``hashmarket serve`` and ``hashmarket keys …``: the HTTP API and dashboard, and their keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.table import Table

from hashmarket.cli.common import (
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    resolve_data_dir,
)

keys_app = typer.Typer(help="API keys for the HTTP service.", no_args_is_help=True)


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    db: str | None = typer.Option(
        None, "--db", help="Ledger database URL (default sqlite:///<data dir>/ledger.sqlite)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes."),
    auth_failure_burst: float = typer.Option(
        10, "--auth-failure-burst", min=1, help="Failed authentications per address at once."
    ),
    auth_failures_per_minute: float = typer.Option(
        6,
        "--auth-failures-per-minute",
        min=0.001,
        help="Failed authentications per address and minute after the burst (429 beyond).",
    ),
    key_cache_ttl: float = typer.Option(
        2.0,
        "--key-cache-ttl",
        min=0.001,
        help="Seconds a worker caches an API key: how late it sees a revocation made elsewhere.",
    ),
    idempotency_retention: float = typer.Option(
        86_400.0,
        "--idempotency-retention",
        min=301,
        help="Seconds an Idempotency-Key's record is kept (then the key is new again).",
    ),
    ws_compression: bool = typer.Option(
        False,
        "--ws-compression/--no-ws-compression",
        help="Offer per-message deflate on WebSockets (less bandwidth, much more CPU).",
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the web dashboard."""
    import os

    import uvicorn

    directory = resolve_data_dir(data_dir)
    # The factory reads its configuration from the environment so that every worker process
    # builds the same app.
    os.environ["HASHMARKET_DATA_DIR"] = str(directory)
    os.environ["HASHMARKET_COMMERCIAL_ONLY"] = "1" if commercial_only else ""
    if db:
        os.environ["HASHMARKET_DB"] = db
    os.environ["HASHMARKET_AUTH_FAILURE_BURST"] = repr(auth_failure_burst)
    os.environ["HASHMARKET_AUTH_FAILURES_PER_MINUTE"] = repr(auth_failures_per_minute)
    os.environ["HASHMARKET_KEY_CACHE_TTL_S"] = repr(key_cache_ttl)
    os.environ["HASHMARKET_IDEMPOTENCY_RETENTION_S"] = repr(idempotency_retention)
    typer.echo(f"Hashmarket dashboard: http://{host}:{port}/   API docs: http://{host}:{port}/docs")
    uvicorn.run(
        "hashmarket.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,  # a log line per request costs the event loop more than it tells
        # The market feed sends the same frame to every subscriber; deflated, each copy is
        # compressed again in its connection's own context, and orders waited 4-6 times
        # longer while 200 subscribers were fed (BENCHMARKS.md, the exchange over HTTP).
        ws_per_message_deflate=ws_compression,
    )


@keys_app.command("create")
def create_key(
    role: str = typer.Option(..., "--role", help="admin, issuer, trader or viewer."),
    account: str | None = typer.Option(
        None,
        "--account",
        help="Bind the key to one account: its id, or its name (resolved to the id now).",
    ),
    label: str = typer.Option("", "--label", help="A note to recognise the key by."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Ledger that resolves an account name (default sqlite:///<data dir>/ledger.sqlite).",
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Create a key. The secret is printed once; only its salted hash is stored."""
    from hashmarket.api import Role, ServiceStore, account_id_for_key
    from hashmarket.errors import UsageError

    try:
        chosen = Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise UsageError(
            "bad_option", option="--role", problem=f"{role!r} is not one of {roles}"
        ) from None
    directory = resolve_data_dir(data_dir)
    if account is not None:
        ledger_url = (
            db or os.environ.get("HASHMARKET_DB") or f"sqlite:///{directory / 'ledger.sqlite'}"
        )
        account = account_id_for_key(account, ledger_url)
    store = ServiceStore.in_data_dir(directory)
    key, secret = store.create_key(chosen, account=account, label=label)
    if fmt is OutputFormat.JSON:
        typer.echo(
            json.dumps(
                {
                    "key_id": key.key_id,
                    "role": key.role.value,
                    "account": key.account,
                    "key": secret,
                }
            )
        )
    else:
        typer.echo(secret)
        console().print(
            f"[dim]key id {key.key_id}, role {key.role.value}, account {key.account or 'any'}[/dim]"
        )


@keys_app.command("list")
def list_keys(data_dir: Path | None = DATA_DIR_OPTION, fmt: OutputFormat = FORMAT_OPTION) -> None:
    """Keys with their roles and accounts (never their secrets)."""
    from hashmarket.api import ServiceStore

    keys = ServiceStore.in_data_dir(resolve_data_dir(data_dir)).list_keys()
    rows = [
        {
            "key_id": k.key_id,
            "role": k.role.value,
            "account": k.account,
            "label": k.label,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
        }
        for k in keys
    ]
    if fmt is not OutputFormat.TABLE:
        from hashmarket.cli.common import emit_records

        emit_records(rows, fmt)
        return
    table = Table(title="API keys", title_justify="left")
    for name in ("key id", "role", "account", "label", "created", "revoked"):
        table.add_column(name)
    for r in rows:
        table.add_row(*(str(v or "") for v in r.values()))
    console().print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: str = typer.Argument(..., help="The key id shown by `keys list`."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from hashmarket.api import ServiceStore

    key = ServiceStore.in_data_dir(resolve_data_dir(data_dir)).revoke_key(key_id)
    typer.echo(f"revoked {key.key_id} ({key.role.value}) at {key.revoked_at}")
