"""``hashmarket market …`` as a user runs it: orders fill, a delivery pays the seller, the book,
tape and bars show it, and a bad value is one line naming it, with nothing logged or reserved."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hashmarket.ledger import Ledger
from hashmarket.market import exchange_accounts
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


def test_a_futures_margin_call_answered_then_the_final_settlement(
    cli: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Two traders take opposite sides of a listed future, the day's mark calls the long for
    margin, the long adds collateral from its USD account, and the final mark pays each
    account its collateral; the margin account holds exactly the sum of the collateral."""

    def run(*args: str) -> str:
        done = cli(*args, data_dir=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def positions() -> dict[int, dict[str, object]]:
        found = json.loads(run("market", "positions", "--format", "json"))
        return {p["account_id"]: p for p in found}

    def usd(account: int) -> int:
        with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
            return ledger.account(account).balance

    market = "HPF-2026-12"
    run("ledger", "init")
    for account, name in ((30, "long"), (40, "short")):
        run("ledger", "account", str(account), "--asset", "USD", "--name", name)
        run("ledger", "transfer", "--from", "2", "--to", str(account), "--amount", "1000000")
    run("market", "place", market, "sell", "2", "--price", "5000", "--account", "40", "--at", AT)
    run("market", "place", market, "buy", "2", "--price", "5000", "--account", "30", "--at", AT)
    # Each posts 2 × 50,000 of initial margin; the long pays the taker fee (2 × 100 cents),
    # the short the maker fee (2 × 50).
    assert (usd(30), usd(40)) == (1_000_000 - 100_200, 1_000_000 - 100_100)
    # Down 600 cents a PH/s a day: the long loses 600 × 2 × 30 = 36,000; 64,000 is under the
    # maintenance margin of 80,000.
    run("market", "mark", market, "--price", "4400", "--at", "2026-12-02T00:00:00Z")
    held = positions()
    assert (held[30]["collateral_cents"], held[30]["margin_call"]) == (64_000, True)
    assert (held[40]["collateral_cents"], held[40]["margin_call"]) == (136_000, False)

    before = usd(30)
    done = cli("market", "add-margin", market, "--account", "40", "--amount-cents", "0",
               "--at", "2026-12-02T01:00:00Z", data_dir=tmp_path)  # fmt: skip
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert "'amount_cents'" in line, line
    done = cli("market", "add-margin", market, "--account", "30", "--amount-cents", "9000000",
               "--at", "2026-12-02T01:00:00Z", data_dir=tmp_path)  # fmt: skip
    assert done.returncode != 0 and "cannot reserve 9000000" in done.stderr
    assert usd(30) == before and positions()[30]["collateral_cents"] == 64_000

    add = ["market", "add-margin", market, "--account", "30", "--amount-cents", "16000"]
    added = json.loads(run(*add, "--at", "2026-12-02T01:00:00Z", "--format", "json"))
    assert (added[0]["collateral_cents"], added[0]["margin_call"]) == (80_000, False)
    assert usd(30) == before - 16_000
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        margin = ledger.account(exchange_accounts().margin_usd).balance
        assert margin == 80_000 + 136_000  # exactly the collateral held

    run("market", "mark", market, "--price", "4400", "--final", "--at", "2026-12-31T00:00:00Z")
    assert positions() == {}
    assert (usd(30), usd(40)) == (1_000_000 - 200 - 36_000, 1_000_000 - 100 + 36_000)
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        assert ledger.account(exchange_accounts().margin_usd).balance == 0
        assert ledger.verify().ok
