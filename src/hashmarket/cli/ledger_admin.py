"""``hashmarket ledger verify | keygen | checkpoint | backup | restore | grant``: keeping a
ledger honest and safe. Registered on the ``ledger`` group by :mod:`hashmarket.cli.ledger`."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import typer

from hashmarket.cli.common import (
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    emit_json,
)
from hashmarket.cli.ledger_options import DB_OPTION, ledger_url, opened
from hashmarket.errors import LedgerInvariantError, UsageError
from hashmarket.ledger import Ledger


def _checkpoints() -> ModuleType:
    """The checkpoint module, imported when used: it loads ``cryptography``, which the other
    ledger commands do not need."""
    from hashmarket.ledger import checkpoint

    return checkpoint


def verify_command(
    checkpoint: Path | None = typer.Option(
        None,
        "--checkpoint",
        help="Also check this signed checkpoint: its signature, and that the ledger's rows at "
        "its seq still have the hashes it signed (catches a rewritten, re-chained history).",
    ),
    public_key: Path | None = typer.Option(
        None,
        "--public-key",
        help="With --checkpoint: the key it must be signed with (the .pub file of keygen).",
    ),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Check every invariant: hash chains, balances = fold of the journal, Σ per asset = 0, no
    limit broken, registered rows unchanged, the schema's guards in place. Exits 70 when
    something is wrong."""
    cp = _checkpoints()
    signed = cp.read(checkpoint) if checkpoint is not None else None
    trusted = cp.load_public_key(public_key) if public_key is not None else None
    if trusted is not None and signed is None:
        raise UsageError("bad_option", option="--public-key", problem="needs --checkpoint")
    with opened(db, data_dir) as ledger:
        report = ledger.verify()
        state = ledger.state_hash()
        against = cp.check(ledger, signed, trusted_key=trusted) if signed is not None else []
    problems = [*report.problems, *against]
    record: dict[str, Any] = {
        "ok": not problems,
        "journal_rows": report.entries,
        "accounts": report.accounts,
        "assets": report.assets,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "state_hash": state,
        "problems": problems,
    }
    if signed is not None:
        record["checkpoint"] = {"seq": signed.seq, "time": signed.time, "ok": not against}
    if fmt is OutputFormat.JSON:
        emit_json(record)
    else:
        out = console()
        status = "[green]ok[/green]" if not problems else "[red]BROKEN[/red]"
        out.print(
            f"{status}: {report.entries:,} journal rows, {report.accounts:,} accounts, "
            f"{report.assets} assets; head {report.head_hash[:16]}…; state {state[:16]}…"
        )
        if signed is not None and not against:
            out.print(f"checkpoint of seq {signed.seq} ({signed.time}): signature and hashes ok")
        for problem in problems:
            out.print(f"  - {problem}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise LedgerInvariantError("ledger_invariant", detail=problems[0] + more)


def keygen_command(
    out: Path = typer.Option(..., "--out", help="Private key file to create (PEM, mode 600)."),
) -> None:
    """Create an Ed25519 signing key for checkpoints; its public key goes to OUT.pub. Keep the
    private key off the database's machine."""
    public = _checkpoints().generate_key(out)
    console().print(f"private key {out}, public key {out}.pub: {public}")


def checkpoint_command(
    key: Path = typer.Option(..., "--key", help="Ed25519 private key (from ledger keygen)."),
    out: Path = typer.Option(..., "--out", help="Checkpoint file to write (JSON)."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Sign the journal's head, the registry's head and the state hash. Keep the file
    elsewhere; `ots stamp OUT` timestamps it on Bitcoin (its SHA-256 is in OUT.sha256)."""
    cp = _checkpoints()
    private = cp.load_private_key(key)
    with opened(db, data_dir) as ledger:
        report = ledger.verify()
        report.raise_if_broken()  # never sign a ledger that does not verify
        signed = cp.create(ledger, private)
    digest = cp.write(signed, out)
    if fmt is OutputFormat.JSON:
        emit_json({**signed.to_dict(), "file": str(out), "file_sha256": digest})
    else:
        console().print(
            f"checkpoint of journal seq {signed.seq} (head {signed.head_hash[:16]}…) signed by "
            f"{signed.public_key[:16]}… → {out}; SHA-256 {digest} in {out}.sha256"
        )


def backup_command(
    out: Path = typer.Option(..., "--out", help="Backup file to create (a SQLite database)."),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Copy a SQLite ledger while it runs (SQLite's online backup), then verify the copy.
    PostgreSQL: use pg_dump (see docs/ledger.md)."""
    _new_file(out, "--out")
    with opened(db, data_dir) as ledger:
        ledger.backup(out)
    _report_copy(out, "backup", fmt)


def restore_command(
    backup: Path = typer.Argument(..., help="A file written by ledger backup."),
    to: Path = typer.Option(..., "--to", help="Path of the restored ledger (must not exist)."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Restore a backup to a new SQLite file and verify it; point --db (or
    HASHMARKET_LEDGER_URL) at the new file to use it."""
    from hashmarket.ledger import copy_database

    _new_file(to, "--to")
    if not backup.is_file():
        raise UsageError("bad_option", option="BACKUP", problem=f"{backup} is not a file")
    copy_database(backup, to)
    _report_copy(to, "restored", fmt)


def _new_file(path: Path, option: str) -> None:
    if path.exists():
        raise UsageError("bad_option", option=option, problem=f"{path} already exists")
    if not path.parent.is_dir():
        raise UsageError("bad_option", option=option, problem=f"no directory {path.parent}")


def _report_copy(path: Path, what: str, fmt: OutputFormat) -> None:
    with Ledger.open(f"sqlite:///{path.resolve()}") as copy:
        report = copy.verify()
        state = copy.state_hash()
    record = {
        what: str(path),
        "ok": report.ok,
        "head_seq": report.head_seq,
        "state_hash": state,
        "problems": list(report.problems),
    }
    if fmt is OutputFormat.JSON:
        emit_json(record)
    else:
        status = "ok" if report.ok else "BROKEN"
        console().print(
            f"{what} {path}: {status}, journal seq {report.head_seq}, state {state[:16]}…"
        )
    report.raise_if_broken()


def grant_command(
    role: str = typer.Argument(..., help="An existing PostgreSQL role for the service."),
    print_only: bool = typer.Option(
        False, "--print", help="Print the statements instead of running them."
    ),
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """PostgreSQL: let ROLE read and append to the ledger and update only its head and cached
    balances, never UPDATE or DELETE journal rows. Run with the tables' owner as --db."""
    url = ledger_url(db, data_dir)
    if print_only:
        from hashmarket.ledger import parse_url, service_role_sql

        schema = parse_url(url).schema or "public"
        for statement in service_role_sql(role, schema):
            typer.echo(f"{statement};")
        return
    with Ledger.open(url) as ledger:
        statements = ledger.grant_service_role(role)
    console().print(f"role {role}: {len(statements)} statements applied")
