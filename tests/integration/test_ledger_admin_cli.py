"""``hashmarket ledger keygen | checkpoint | verify --checkpoint | backup | restore | grant``."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from hashmarket.cli.app import main
from hashmarket.ledger import Account, Ledger, Transfer, idempotency, journal
from hashmarket.ledger.migrations import _sqlite_append_only
from tests.conftest import PG_ENV, STORES, UrlFactory, open_ledger
from tests.integration.test_ledger_cli import Cli, Done, ok_json, refused

ALICE, BOB = 10, 11


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``main()`` in this process with the arguments given (as in test_ledger_cli)."""
    monkeypatch.setenv("COLUMNS", "160")

    def run(*args: str, data_dir: Path) -> Done:
        monkeypatch.setenv("HASHMARKET_DATA_DIR", str(data_dir))
        monkeypatch.setattr(sys, "argv", ["hashmarket", *args])
        capsys.readouterr()
        code: int | str | None = 0
        try:
            main()
        except SystemExit as stop:
            code = stop.code
        out, err = capsys.readouterr()
        return Done(code if isinstance(code, int) else 1, out, err)

    return run


def populate(url: str, first_id: int = 1) -> None:
    with Ledger.open(url) as ledger:
        ledger.create_accounts([Account(ALICE, "BTC"), Account(BOB, "BTC")])
        ledger.create_transfers(
            [
                Transfer(first_id, 1, ALICE, 5_000),
                Transfer(first_id + 1, ALICE, BOB, 1_000, code=3),
                Transfer(first_id + 2, BOB, ALICE, 10),
            ]
        )


def rewrite_and_rechain(url: str, seq: int) -> None:
    """What an attacker with the database's password can do: change a row (here its code,
    which moves no balance), recompute every hash after it and the head, and put the guards
    back exactly as they were. Every unkeyed check passes afterwards."""
    with Ledger.open(url) as ledger:
        store = ledger._store
        store.begin_write()
        sqlite = store.dialect == "sqlite"
        if sqlite:
            store.execute("DROP TRIGGER journal_no_update")
        else:
            store.execute("ALTER TABLE journal DISABLE TRIGGER USER")
        store.execute("UPDATE journal SET code = code + 1 WHERE seq = ?", (seq,))
        previous = journal.GENESIS_HASH
        for row in list(store.stream_journal()):
            previous = journal.row_hash(previous, row)
            store.execute("UPDATE journal SET hash = ? WHERE seq = ?", (previous, row[0]))
        store.execute("UPDATE ledger_head SET hash = ?", (previous,))
        if sqlite:
            store.execute(_sqlite_append_only("journal")[0])
        else:
            store.execute("ALTER TABLE journal ENABLE TRIGGER USER")
        store.commit()


@pytest.mark.parametrize("kind", STORES)
def test_a_signed_checkpoint_catches_a_rechained_history(
    kind: str, new_url: UrlFactory, cli: Cli, tmp_path: Path
):
    url = new_url(kind)
    open_ledger(url).close()
    populate(url)
    key = tmp_path / "ledger-key.pem"
    keygen = cli("ledger", "keygen", "--out", str(key), data_dir=tmp_path)
    assert keygen.returncode == 0, keygen.stderr
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    public = (tmp_path / "ledger-key.pem.pub").read_text().strip()
    assert len(public) == 64

    out = tmp_path / "checkpoint.json"
    made = ok_json(cli, "ledger", "checkpoint", "--key", str(key), "--out", str(out),
                   "--db", url, data_dir=tmp_path)  # fmt: skip
    saved = json.loads(out.read_text())
    assert (saved["seq"], saved["public_key"]) == (3, public)
    assert set(saved) == {
        "format", "seq", "head_hash", "registry_seq", "registry_hash", "state_hash",
        "timestamp_ns", "time", "public_key", "signature",
    }  # fmt: skip
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert made["file_sha256"] == digest
    assert (tmp_path / "checkpoint.json.sha256").read_text() == f"{digest}  checkpoint.json\n"

    check = ("ledger", "verify", "--checkpoint", str(out), "--public-key", f"{key}.pub")
    assert ok_json(cli, *check, "--db", url, data_dir=tmp_path)["checkpoint"]["ok"]
    populate_more(url)  # the ledger moves on: the checkpoint still holds
    assert ok_json(cli, *check, "--db", url, data_dir=tmp_path)["ok"]

    rewrite_and_rechain(url, seq=2)
    assert ok_json(cli, "ledger", "verify", "--db", url, data_dir=tmp_path)["ok"]  # unkeyed: fooled
    line = refused(cli, *check, "--db", url, data_dir=tmp_path, code=70)
    assert line.startswith("hashmarket: error: ledger invariant broken: checkpoint: journal seq 3")
    assert line.endswith("(history was rewritten)")


def populate_more(url: str) -> None:
    with Ledger.open(url) as ledger:
        ledger.create_account(Account(12, "BTC"))
        ledger.transfer(Transfer(50, ALICE, 12, 7))


def test_an_altered_or_foreign_checkpoint_is_refused(cli: Cli, tmp_path: Path):
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    open_ledger(url).close()
    populate(url)
    for name in ("a.pem", "b.pem"):
        assert (
            cli("ledger", "keygen", "--out", str(tmp_path / name), data_dir=tmp_path).returncode
            == 0
        )
    out = tmp_path / "cp.json"
    ok_json(cli, "ledger", "checkpoint", "--key", str(tmp_path / "a.pem"), "--out", str(out),
            "--db", url, data_dir=tmp_path)  # fmt: skip
    other = str(tmp_path / "b.pem.pub")
    line = refused(cli, "ledger", "verify", "--checkpoint", str(out), "--public-key", other,
                   "--db", url, data_dir=tmp_path, code=70)  # fmt: skip
    assert "checkpoint: signed by key" in line and "not by the trusted key" in line
    forged = json.loads(out.read_text())
    forged["seq"] = 1
    out.write_text(json.dumps(forged))
    line = refused(cli, "ledger", "verify", "--checkpoint", str(out), "--db", url,
                   data_dir=tmp_path, code=70)  # fmt: skip
    assert line.endswith("the signature does not match its contents (the file was altered)")
    assert "already exists" in refused(
        cli, "ledger", "keygen", "--out", str(tmp_path / "a.pem"), data_dir=tmp_path, code=2
    )


def test_backup_and_restore_keep_the_state_hash(cli: Cli, tmp_path: Path):
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    open_ledger(url).close()
    populate(url)
    source = ok_json(cli, "ledger", "verify", "--db", url, data_dir=tmp_path)
    backup = tmp_path / "backups" / "ledger-backup.sqlite"
    backup.parent.mkdir()
    made = ok_json(cli, "ledger", "backup", "--out", str(backup), "--db", url, data_dir=tmp_path)
    assert (made["ok"], made["state_hash"]) == (True, source["state_hash"])
    populate_more(url)  # the source moves on; the backup does not
    restored = tmp_path / "restored.sqlite"
    back = ok_json(cli, "ledger", "restore", str(backup), "--to", str(restored), data_dir=tmp_path)
    assert (back["ok"], back["head_seq"], back["state_hash"]) == (True, 3, source["state_hash"])
    again = ok_json(cli, "ledger", "verify", "--db", f"sqlite:///{restored}", data_dir=tmp_path)
    assert again["state_hash"] == source["state_hash"]
    with Ledger.open(f"sqlite:///{restored}") as ledger:  # a working ledger
        ledger.transfer(Transfer(99, ALICE, BOB, 1))
        assert ledger.verify().ok
    assert "already exists" in refused(
        cli, "ledger", "restore", str(backup), "--to", str(restored), data_dir=tmp_path, code=2
    )
    assert "no directory" in refused(
        cli, "ledger", "backup", "--out", str(tmp_path / "nowhere" / "b.sqlite"), "--db", url,
        data_dir=tmp_path, code=2,
    )  # fmt: skip
    not_a_ledger = tmp_path / "notes.txt"
    not_a_ledger.write_text("hello")
    line = refused(cli, "ledger", "restore", str(not_a_ledger), "--to", str(tmp_path / "x.sqlite"),
                   data_dir=tmp_path, code=69)  # fmt: skip
    assert "cannot open the ledger" in line
    assert not (tmp_path / "x.sqlite").exists()


@pytest.mark.postgresql
def test_postgresql_backup_points_to_pg_dump(cli: Cli, new_url: UrlFactory, tmp_path: Path):
    url = new_url("postgresql")
    open_ledger(url).close()
    line = refused(cli, "ledger", "backup", "--out", str(tmp_path / "b.sqlite"), "--db", url,
                   data_dir=tmp_path, code=69)  # fmt: skip
    assert "pg_dump" in line


def _as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.split("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


@pytest.mark.postgresql
def test_the_service_role_appends_but_cannot_rewrite(cli: Cli, new_url: UrlFactory, tmp_path: Path):
    import psycopg

    url = new_url("postgresql")
    open_ledger(url).close()
    populate(url)
    role = f"svc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(os.environ[PG_ENV], autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        printed = cli("ledger", "grant", role, "--print", "--db", url, data_dir=tmp_path)
        assert "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA" in printed.stdout
        assert cli("ledger", "grant", role, "--db", url, data_dir=tmp_path).returncode == 0
        service_url = _as_role(url, role)
        # Normal work as the service, opening the ledger as `hashmarket serve` does.
        with Ledger.open(service_url, create=True) as ledger:
            ledger.create_account(Account(13, "BTC"))
            ledger.transfer(Transfer(60, ALICE, 13, 25))
            assert ledger.account(13).balance == 25
            assert ledger.verify().ok
            # The HTTP service's request claims: claimed, completed, and released on failure.
            won = idempotency.claim(ledger, "k1", "key-a", "0" * 64, lease_ns=10**9)
            assert won.outcome is idempotency.Outcome.CLAIMED
            response = idempotency.StoredResponse(201, "application/json", b"{}")
            assert won.token is not None
            assert idempotency.complete(ledger, "k1", "key-a", won.token, response)
            failed = idempotency.claim(ledger, "k1", "key-b", "0" * 64, lease_ns=10**9)
            assert failed.token is not None and won.token is not None
            idempotency.release(ledger, "k1", "key-b", failed.token)
            store = ledger._store
            for sql in (
                "UPDATE journal SET amount = 1",
                "DELETE FROM journal",
                "UPDATE accounts SET flags = 0",
                "DROP TRIGGER journal_append_only ON journal",
                "UPDATE registry_log SET hash = hash",
            ):
                store.begin_write()
                with pytest.raises(psycopg.Error) as refused_sql:
                    store.execute(sql)
                store.rollback()
                assert isinstance(refused_sql.value, psycopg.errors.InsufficientPrivilege), (
                    refused_sql.value
                )
    finally:
        with psycopg.connect(os.environ[PG_ENV], autocommit=True) as admin:
            schema = dict(p.split("=") for p in urlsplit(url).query.split("&"))["schema"]
            admin.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM {role}')
            admin.execute(f'REVOKE ALL ON SCHEMA "{schema}" FROM {role}')
            admin.execute(f"DROP ROLE {role}")


def test_grant_is_refused_on_sqlite(cli: Cli, tmp_path: Path):
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    open_ledger(url).close()
    line = refused(cli, "ledger", "grant", "svc", "--db", url, data_dir=tmp_path, code=2)
    assert "roles are a PostgreSQL ledger's" in line
