"""``hashmarket market …`` as a user runs it: orders fill, a delivery pays the seller, the book,
tape and bars show it, and a bad value is one line naming it, with nothing logged or reserved."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hashmarket.ledger import Ledger
from tests.integration.test_ledger_cli import Cli, cli  # noqa: F401  (the fixture)

AT = "2026-12-01T00:00:00Z"


def _ledger_state(data_dir: Path) -> tuple[int, int, int]:
    """Journal rows, command-log rows and the buyer's pending debits."""
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        with ledger.snapshot() as store:
            (log_rows,) = store.query("SELECT COUNT(*) FROM market_log")[0]
        return ledger.head().seq, log_rows, ledger.account(10).debits_pending


def test_market_flow_and_refusals(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    def run(*args: str) -> str:
        done = cli(*args, data_dir=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("ledger", "init")
    run("ledger", "account", "10", "--asset", "BTC", "--name", "buyer")
    run("ledger", "account", "20", "--asset", "BTC", "--name", "seller")
    run("ledger", "transfer", "--from", "1", "--to", "10", "--amount", "100000")
    run("market", "register", "20", "--hashrate-ths", "1000", "--at", AT)
    sell = ["market", "place", "HASHPOWER", "sell", "500", "--price", "50000", "--account", "20"]
    placed = json.loads(run(*sell, "--at", AT, "--format", "json"))
    assert (placed["order_id"], placed["resting"], placed["trades"]) == (1, 500, [])
    book = json.loads(run("market", "book", "--format", "json"))
    assert book == {"market": "HASHPOWER", "bids": [], "asks": [[50_000, 500]]}

    before = _ledger_state(tmp_path)
    buy = ["market", "place", "HASHPOWER", "buy", "500", "--account", "10", "--budget", "100000"]
    for bad, field, value in (
        (["--price", "50005", "--duration", "86400"], "price", "50005"),  # off the 10-sat tick
        (["--price", "50000", "--duration", "60"], "duration_s", "60"),  # under an hour
    ):
        done = cli(*buy, *bad, "--at", AT, data_dir=tmp_path)
        assert done.returncode != 0
        (line,) = done.stderr.strip().splitlines()
        assert f"'{field}'" in line and value in line, line
    rich = ["market", "place", "HASHPOWER", "buy", "500", "--account", "10", "--budget", "900000"]
    done = cli(*rich, "--price", "50000", "--duration", "86400", "--at", AT, data_dir=tmp_path)
    assert done.returncode != 0 and "cannot reserve 900000" in done.stderr
    assert _ledger_state(tmp_path) == before  # nothing logged, nothing reserved

    out = run(*buy, "--price", "50000", "--duration", "86400", "--at", AT)
    assert "filled 500 in 1 trade(s)" in out
    (contract,) = json.loads(run("market", "contracts", "--format", "json"))
    assert (contract["contract_id"], contract["hashrate_ths"], contract["budget_sats"]) == (
        1,
        500,
        100_000,
    )
    # One hour of 500 TH/s: 1,800,000 TH/s·s pay 50,000 × 1,800,000 ÷ 86,400,000 = 1,041 sats,
    # less the seller's (maker's) fee of 0.1 % rounded up: 2 sats.
    paid = json.loads(
        run(
            "market",
            "report-delivery",
            "1",
            "1800000",
            "--at",
            "2026-12-01T01:00:00Z",
            "--format",
            "json",
        )
    )
    assert paid["paid_sats"] == 1_041
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        assert ledger.account(20).balance == 1_039
        assert ledger.verify().ok

    (trade,) = json.loads(run("market", "trades", "--format", "json"))
    assert (trade["price"], trade["size"], trade["taker_side"]) == (50_000, 500, "buy")
    bars = list(csv.DictReader(io.StringIO(run("market", "bars", "--interval", "1m",
                                               "--format", "csv"))))  # fmt: skip
    assert [(b["start_utc"], b["open"], b["volume"]) for b in bars] == [
        ("2026-12-01T00:00:00+00:00", "50000", "500")
    ]
    assert json.loads(run("market", "orders", "--format", "json")) == []
    done = cli("market", "book", "NOPE", data_dir=tmp_path)
    assert done.returncode != 0 and "'NOPE'" in done.stderr
