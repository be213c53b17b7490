"""Options every ``hashmarket ledger …`` command shares: where the ledger is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from hashmarket.cli.common import resolve_data_dir
from hashmarket.ledger import Ledger

LEDGER_FILE_NAME = "ledger.sqlite"
DB_OPTION = typer.Option(
    None,
    "--db",
    envvar="HASHMARKET_LEDGER_URL",
    help="Ledger URL: sqlite:///PATH or postgresql://… (default: <data dir>/ledger.sqlite).",
)


def ledger_url(db: str | None, data_dir: Path | None) -> str:
    if db:
        return db
    return f"sqlite:///{resolve_data_dir(data_dir) / LEDGER_FILE_NAME}"


@contextmanager
def opened(db: str | None, data_dir: Path | None, *, create: bool = False) -> Iterator[Ledger]:
    with Ledger.open(ledger_url(db, data_dir), create=create) as ledger:
        yield ledger
