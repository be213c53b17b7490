"""``hashmarket settle …`` as a user runs it: exit codes, one-line errors, JSON output, and a
ledger left as it was by a refused command."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hashmarket.cli.app import main
from hashmarket.ledger import Ledger

SPEC = {
    "type": "hashprice_forward",
    "notional_phs": 10,
    "fixed_price_per_ph_day": 77.0,
    "start": "2020-07-01",
    "end": "2020-07-31",
}
# Published USD hashprice fixings of 1-5 July 2020 (bundled data, FPPS, at the $0.01 tick).
FIRST_FIVE = ["78.12", "76.39", "76.00", "75.06", "74.10"]


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


class Cli:
    """``main()`` in this process, with the data directory and argv a user would give."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path
    ) -> None:
        self.monkeypatch, self.capsys, self.data_dir = monkeypatch, capsys, data_dir
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.setenv("HASHMARKET_DATA_DIR", str(data_dir))
        monkeypatch.delenv("HASHMARKET_LEDGER_URL", raising=False)

    def __call__(self, *args: str) -> Done:
        self.monkeypatch.setattr(sys, "argv", ["hashmarket", *args])
        self.capsys.readouterr()
        code: int | str | None = 0
        try:
            main()
        except SystemExit as stop:
            code = stop.code
        out, err = self.capsys.readouterr()
        return Done(code if isinstance(code, int) else 1, out, err)

    def ok(self, *args: str) -> Any:
        done = self(*args, "--format", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def refused(self, *args: str, code: int = 1) -> str:
        done = self(*args)
        assert done.returncode == code, (done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        return lines[0]

    def state_hash(self) -> str:
        with Ledger.open(f"sqlite:///{self.data_dir}/ledger.sqlite") as ledger:
            return ledger.state_hash()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    run = Cli(monkeypatch, capsys, tmp_path)
    run.ok("ledger", "init")
    for account, name, cents in (
        (10, "alice", 2_000_000),
        (11, "bob", 2_000_000),
        (12, "carol", 100),
    ):
        run.ok("ledger", "account", str(account), "--asset", "USD", "--name", name)
        run.ok("ledger", "transfer", "--from", "usd-issuer", "--to", name, "--amount", str(cents))
    (tmp_path / "fwd.json").write_text(json.dumps(SPEC), encoding="utf-8")
    return run


def test_open_run_status_and_events(cli: Cli, tmp_path: Path):
    spec = str(tmp_path / "fwd.json")
    (opened,) = cli.ok(
        "settle", "open", spec, "--buyer", "alice", "--seller", "bob", "--asset", "usd"
    )
    cid = opened["contract_id"]
    assert opened["state"] == "active" and opened["seller_margin_minor"] == 835_450
    # The same command again is the same trade: nothing new is written.
    before = cli.state_hash()
    assert cli.ok("settle", "open", spec, "--buyer", "alice", "--seller", "bob")[0] == opened
    assert cli.state_hash() == before

    (run,) = cli.ok("settle", "run", "--day", "2020-07-05")
    by_hand = sum((Decimal(v) - 77) * 10 * 100 for v in FIRST_FIVE)
    assert run["settled_minor"] == run["moved_minor"] == by_hand == -5_330
    assert run["events"] == ["settle"] and run["through_day"] == "2020-07-05"
    before = cli.state_hash()
    (again,) = cli.ok("settle", "run", "--day", "2020-07-05")
    assert again["events"] == [] and again["moved_minor"] == 0
    assert cli.state_hash() == before

    (status,) = cli.ok("settle", "status")
    assert (status["contract_id"], status["buyer_pnl_minor"]) == (cid, -5_330)
    # Numbers, not strings: 77 USD × 10 PH/s × 31 days at 35 %; a remainder of 0.0000 cents.
    assert (status["notional"], status["margin_rate"], status["remainder_minor"]) == (
        23_870,
        0.35,
        0,
    )
    assert '"notional": 23870.00,' in cli("settle", "status", "--format", "json").stdout
    events = cli.ok("settle", "events", cid)
    assert [e["kind"] for e in events] == ["open", "settle"]
    table = cli("settle", "status")
    assert table.returncode == 0 and cid in table.stdout and "-53.30 USD" in table.stdout

    (done,) = cli.ok("settle", "run", "--day", "2020-07-31", "--contract", cid)
    assert done["state"] == "expired" and done["events"] == ["settle", "expire"]
    # The July fixings add up to 2,456.88 USD/PH/day (tests/integration/test_settlement.py
    # adds them): (2,456.88 − 31 × 77) × 10 PH/s = 698.80 USD to the buyer.
    assert done["settled_minor"] == 69_880
    assert cli.ok("ledger", "balance", "alice")[0]["balance_units"] == 2_000_000 + 69_880
    assert cli.ok("ledger", "balance", "bob")[0]["balance_units"] == 2_000_000 - 69_880
    assert cli("ledger", "verify").returncode == 0


def test_refused_commands_print_one_line_and_change_nothing(cli: Cli, tmp_path: Path):
    spec = str(tmp_path / "fwd.json")
    cli.ok("settle", "open", spec, "--buyer", "alice", "--seller", "bob", "--id", "K1")
    before = cli.state_hash()
    line = cli.refused("settle", "open", spec, "--buyer", "alice", "--seller", "carol")
    assert "the seller (account 12) cannot reserve the initial margin of 8354.50 USD" in line
    assert line.startswith("hashmarket: error: contract 'C-")
    line = cli.refused(
        "settle", "open", spec, "--buyer", "alice", "--seller", "bob", "--asset", "btc"
    )
    assert line.endswith("the instrument pays in USD, so it settles in USD")
    line = cli.refused(
        "settle", "open", spec, "--buyer", "alice", "--seller", "bob", "--margin-rate", "x", code=2
    )
    assert line == "hashmarket: error: --margin-rate: 'x' is not a number"
    (tmp_path / "bad.json").write_text('{"type": "hashprice_forward", "colour": 1}')
    line = cli.refused(
        "settle", "open", str(tmp_path / "bad.json"), "--buyer", "alice", "--seller", "bob", code=65
    )
    assert "bad.json: field 'colour': unknown field" in line
    line = cli.refused("settle", "run", "--day", "2099-01-01")
    assert (
        line
        == "hashmarket: error: 2099-01-01 is not over on the ledger clock (the cut is 2099-01-02)"
    )
    line = cli.refused("settle", "status", "--contract", "NOPE")
    assert line == "hashmarket: error: no contract 'NOPE'"
    line = cli.refused("settle", "run", "--day", "2020-07-40", code=2)
    assert line == "hashmarket: error: --day: '2020-07-40' is not a YYYY-MM-DD date"
    assert cli.state_hash() == before
