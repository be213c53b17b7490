"""``hashmarket ledger …`` and ``hashmarket tokens …`` run as a user runs them: a subprocess,
its exit code, one line on stderr when refused, and a ledger left as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hashmarket.cli.app import main
from hashmarket.ledger import Ledger
from hashmarket.ledger.reserves import Root
from tests.conftest import UrlFactory, open_token_ledger


def hashmarket(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """A real process: used where the process boundary itself is what is tested."""
    return subprocess.run(
        [sys.executable, "-m", "hashmarket", *args],
        capture_output=True,
        text=True,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "160",
            "HOME": str(data_dir),
            "HASHMARKET_DATA_DIR": str(data_dir),
        },
    )


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


Cli = Callable[..., Done]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``main()`` in this process, as ``python -m hashmarket`` runs it: the same argument
    parsing, error lines and exit codes, without a second of interpreter start-up per call."""
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


def ok_json(cli: Cli, *args: str, data_dir: Path) -> Any:
    done = cli(*args, "--format", "json", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout, parse_float=Decimal)  # numbers read with their digits


def refused(cli: Cli, *args: str, data_dir: Path, code: int = 1) -> str:
    done = cli(*args, data_dir=data_dir)
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_ledger_commands(cli: Cli, tmp_path: Path):
    init = ok_json(cli, "ledger", "init", data_dir=tmp_path)
    assert init["url"] == f"sqlite:///{tmp_path}/ledger.sqlite"
    assert [a["asset"] for a in init["assets"]] == ["BTC", "USD"]
    assert (
        ok_json(cli, "ledger", "init", data_dir=tmp_path)["assets"] == init["assets"]
    )  # repeatable
    ok_json(cli, "ledger", "account", "10", "--asset", "BTC", "--name", "alice", data_dir=tmp_path)
    ok_json(cli, "ledger", "account", "11", "--asset", "BTC", "--name", "bob", data_dir=tmp_path)
    fund = ("ledger", "transfer", "--from", "btc-issuer", "--to", "alice", "--amount", "5000")
    first = ok_json(cli, *fund, "--id", "1", data_dir=tmp_path)
    assert (first["result"], first["amount_units"], first["seq"]) == ("ok", 5000, 1)
    assert ok_json(cli, *fund, "--id", "1", data_dir=tmp_path)["seq"] == 1  # a retry: applied once

    line = refused(cli,
        "ledger", "transfer", "--from", "btc-issuer", "--to", "alice", "--amount", "6000",
        "--id", "1", data_dir=tmp_path,
    )  # fmt: skip
    assert line.startswith("hashmarket: error: transfer 1 refused: exists_with_different_amount")
    line = refused(cli,
        "ledger", "transfer", "--from", "alice", "--to", "bob", "--amount", "5001", "--id", "2",
        data_dir=tmp_path,
    )  # fmt: skip
    assert line == (
        "hashmarket: error: transfer 2 refused: exceeds_credits "
        "(the debit account would spend more than it holds)"
    )
    ok_json(cli,
        "ledger", "transfer", "--from", "alice", "--to", "bob", "--amount", "800", "--pending",
        "--timeout", "3600", "--id", "3", data_dir=tmp_path,
    )  # fmt: skip
    post = ok_json(
        cli, "ledger", "transfer", "--post", "3", "--amount", "300", "--id", "4", data_dir=tmp_path
    )
    assert (post["kind"], post["amount_units"], post["pending_id"]) == ("post_pending", 300, 3)

    balances = {
        r["name"]: r for r in ok_json(cli, "ledger", "balance", "alice", "bob", data_dir=tmp_path)
    }
    assert balances["alice"]["balance_units"] == 4_700
    alice = balances["alice"]["balance"]  # a JSON number in BTC, exact to the sat
    assert isinstance(alice, Decimal) and str(alice) == "0.00004700"
    assert balances["bob"]["balance_units"] == 300
    assert balances["alice"]["debits_pending_units"] == 0
    history = ok_json(cli, "ledger", "history", "bob", data_dir=tmp_path)
    assert [(e["id"], e["kind"]) for e in history] == [(4, "post_pending"), (3, "pending")]

    report = ok_json(cli, "ledger", "verify", data_dir=tmp_path)
    assert report["ok"] is True and report["journal_rows"] == 3
    # A refused command changed nothing: the state hash is what it was.
    refused(cli, "ledger", "transfer", "--reverse", "1", "--id", "5", data_dir=tmp_path)
    assert ok_json(cli, "ledger", "verify", data_dir=tmp_path)["state_hash"] == report["state_hash"]

    table = cli("ledger", "balance", data_dir=tmp_path)
    assert table.returncode == 0 and "alice" in table.stdout and "4,700" in table.stdout


def test_a_missing_ledger_and_bad_options_are_refused(cli, tmp_path: Path):
    line = refused(cli, "ledger", "balance", data_dir=tmp_path, code=69)
    assert line.startswith("hashmarket: error: no ledger at sqlite:///")
    assert not (tmp_path / "ledger.sqlite").exists()  # reading never creates one
    ok_json(cli, "ledger", "init", data_dir=tmp_path)
    line = refused(
        cli, "ledger", "transfer", "--post", "1", "--void", "1", data_dir=tmp_path, code=2
    )
    assert "give one at most" in line
    assert "no account 'carol'" in refused(cli, "ledger", "history", "carol", data_dir=tmp_path)


def test_the_same_commands_on_postgresql(cli: Cli, new_url: UrlFactory, tmp_path: Path):
    url = new_url("postgresql")
    assert ok_json(cli, "ledger", "init", "--db", url, data_dir=tmp_path)["url"] == url
    ok_json(cli, "ledger", "account", "10", "--asset", "BTC", "--db", url, data_dir=tmp_path)
    ok_json(cli,
        "ledger", "transfer", "--from", "1", "--to", "10", "--amount", "7", "--id", "9",
        "--db", url, data_dir=tmp_path,
    )  # fmt: skip
    (alice,) = ok_json(cli, "ledger", "balance", "10", "--db", url, data_dir=tmp_path)
    assert alice["balance_units"] == 7
    assert ok_json(cli, "ledger", "verify", "--db", url, data_dir=tmp_path)["ok"] is True


@pytest.fixture
def token_ledger(tmp_path: Path) -> Path:
    open_token_ledger(f"sqlite:///{tmp_path}/ledger.sqlite").close()
    return tmp_path


def test_tokens_commands(cli: Cli, token_ledger: Path):
    data_dir = token_ledger
    holders = ok_json(
        cli, "tokens", "holders", "--series", "HT1", "--day", "2025-01-10", data_dir=data_dir
    )
    assert [(h["token_account_id"], h["balance_units"]) for h in holders] == [
        (201, 600),
        (202, 250),
    ]

    day = ok_json(
        cli, "tokens", "distribute", "--series", "HT1", "--day", "2025-01-10", data_dir=data_dir
    )
    # The bundled 2025-01-10 fixing: 1e15·86,400·(443.75 + 6.9081061)/142 BTC per block over
    # difficulty 109,782,075,475,207.08·2³² (Coin Metrics, fees included) = 0.00058154 BTC/PH/day.
    assert day["hashprice_btc_per_ph_day"] == Decimal("0.00058154")
    assert (day["supply_units"], day["holder_count"]) == (850, 2)
    gross = Decimal("0.00058154") * Decimal("0.85") * 10**8
    assert day["gross_sats"] == gross and day["uptime"] == 1
    assert day["pool_sats"] == int(gross - day["cost_sats"])
    again = ok_json(
        cli, "tokens", "distribute", "--series", "HT1", "--day", "2025-01-10", data_dir=data_dir
    )
    assert again == day
    with Ledger.open(f"sqlite:///{data_dir}/ledger.sqlite") as ledger:
        paid = [ledger.account(p).balance for p in (301, 302)]
    assert sum(paid) == day["pool_sats"]
    assert abs(paid[0] - day["pool_sats"] * 600 / 850) < 1

    proof_file = data_dir / "proof.json"
    done = cli(
        "tokens", "proof", "201", "--series", "HT1", "--day", "2025-01-10",
        "--out", str(proof_file), data_dir=data_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    good = cli(
        "tokens", "verify-proof", str(proof_file), "--root", day["reserves_root"], data_dir=data_dir
    )
    assert good.returncode == 0 and "valid: account 201 holds 600 units" in good.stdout
    wrong_root = Root(bytes(32), 850, 2).hash.hex()
    line = refused(
        cli, "tokens", "verify-proof", str(proof_file), "--root", wrong_root, data_dir=data_dir
    )
    assert line.endswith("is not valid")
    proof = json.loads(proof_file.read_text())
    proof["balance_units"] = 6_000
    proof_file.write_text(json.dumps(proof))
    assert refused(cli, "tokens", "verify-proof", str(proof_file), data_dir=data_dir).endswith(
        "is not valid"
    )

    line = refused(
        cli,
        "tokens",
        "mint",
        "--series",
        "HT1",
        "--to",
        "202",
        "--amount",
        "151",
        data_dir=data_dir,
    )
    assert "mint HT1 refused: exceeds_credits (minting beyond the declared backing" in line
    line = refused(
        cli,
        "tokens",
        "distribute",
        "--series",
        "HT1",
        "--day",
        "2030-01-01",
        data_dir=data_dir,
        code=65,  # a day without data is a data error (EX_DATAERR)
    )
    assert "fixing for 2030-01-01" in line


def test_a_refused_command_in_a_real_process(tmp_path: Path):
    """One line on stderr, exit status 1, nothing on stdout, nothing changed."""
    assert hashmarket("ledger", "init", data_dir=tmp_path).returncode == 0
    done = hashmarket(
        "ledger", "transfer", "--from", "usd-issuer", "--to", "btc-issuer", "--amount", "1",
        "--id", "1", data_dir=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "hashmarket: error: transfer 1 refused: accounts_must_have_the_same_asset "
        "(the two accounts hold different assets)\n"
    )
    with Ledger.open(f"sqlite:///{tmp_path}/ledger.sqlite") as ledger:
        assert ledger.head().seq == 0
