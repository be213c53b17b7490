"""``hashmarket cloud|hosting|lease …`` as a user runs them: JSON output with the figures
worked out by hand, one-line errors with a non-zero exit, and a ledger left as it was by a
refused command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from hashmarket.cli.app import main
from hashmarket.ledger import Ledger

CLOUD = {
    "type": "cloud_hashrate",
    "start": "2025-01-01",
    "end": "2025-06-30",
    "hashrate_ths": 100,
    "fee_usd_per_th_day": 0.05,
    "price_usd": 150,
}
ACCOUNTS = [
    "--provider-btc",
    "provider-btc",
    "--buyer-btc",
    "buyer-btc",
    "--buyer-pay",
    "buyer-usd",
    "--provider-pay",
    "provider-usd",
]


class Cli:
    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path
    ) -> None:
        self.monkeypatch, self.capsys, self.data_dir = monkeypatch, capsys, data_dir
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.setenv("HASHMARKET_DATA_DIR", str(data_dir))
        monkeypatch.delenv("HASHMARKET_LEDGER_URL", raising=False)

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "argv", ["hashmarket", *args])
        self.capsys.readouterr()
        code: int | str | None = 0
        try:
            main()
        except SystemExit as stop:
            code = stop.code
        out, err = self.capsys.readouterr()
        return (code if isinstance(code, int) else 1), out, err

    def ok(self, *args: str) -> Any:
        code, out, err = self(*args, "--format", "json")
        assert code == 0, err
        return json.loads(out[: out.rindex("}") + 1] if out.lstrip().startswith("{") else out)

    def state_hash(self) -> str:
        with Ledger.open(f"sqlite:///{self.data_dir / 'ledger.sqlite'}") as ledger:
            return ledger.state_hash()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    run = Cli(monkeypatch, capsys, tmp_path / "data")
    run("ledger", "init")
    for account_id, asset, name in (
        ("10", "BTC", "provider-btc"),
        ("11", "BTC", "buyer-btc"),
        ("12", "USD", "buyer-usd"),
        ("13", "USD", "provider-usd"),
    ):
        run("ledger", "account", account_id, "--asset", asset, "--name", name)
    run(
        "ledger", "transfer", "--from", "btc-issuer", "--to", "provider-btc", "--amount", "10000000"
    )
    return run


def test_cloud_buy_and_pay(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "cloud.json"
    spec.write_text(json.dumps(CLOUD))
    # The buyer has no USD yet: the purchase is refused in one line and nothing changes.
    before = cli.state_hash()
    code, _, err = cli("cloud", "buy", str(spec), "--contract-id", "C-1", *ACCOUNTS)
    assert code == 1 and err.startswith("hashmarket: error: cloud 'C-1':")
    assert "exceeds_credits" in err and cli.state_hash() == before
    cli("ledger", "transfer", "--from", "usd-issuer", "--to", "buyer-usd", "--amount", "20000")
    bought = cli.ok("cloud", "buy", str(spec), "--contract-id", "C-1", *ACCOUNTS)
    assert bought == {"contract_id": "C-1", "price_minor": 15_000, "unit": "cents"}
    paid = cli.ok(
        "cloud", "pay", str(spec), "--contract-id", "C-1", *ACCOUNTS, "--through", "2025-01-10"
    )
    assert paid["paid_sats"] == 6_354 and paid["new_transfers"] == 10
    last = paid["days"][-1]  # 10 January: 5,815.4 − 5,276.537 sats → 538
    assert (last["day"], last["output_sats"]) == ("2025-01-10", 538) and last["paid"] > 0
    again = cli.ok(
        "cloud", "pay", str(spec), "--contract-id", "C-1", *ACCOUNTS, "--through", "2025-01-10"
    )
    assert again["new_transfers"] == 0
    shut = cli.ok(
        "cloud", "pay", str(spec), "--contract-id", "C-1", *ACCOUNTS, "--through", "2025-03-31"
    )
    assert shut["shutoff_day"] == "2025-02-28" and shut["paid_sats"] == 37_786


def test_bad_spec_is_one_line_naming_file_and_field(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({**CLOUD, "shutoff_days": 0}))
    code, _, err = cli("cloud", "value", str(spec), "--paths", "100")
    assert code == 65
    assert err.startswith(f"hashmarket: error: {spec}") and "'shutoff_days'" in err
    lease = tmp_path / "lease.json"
    lease.write_text(json.dumps({**CLOUD}))
    code, _, err = cli("lease", "schedule", str(lease))
    assert code == 65 and "machine_lease" in err


def test_lease_schedule_csv(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "lease.json"
    spec.write_text(
        json.dumps(
            {
                "type": "machine_lease",
                "start": "2025-01-31",
                "months": 3,
                "machines": 2,
                "machine_model": "Antminer S21",
                "price_usd_per_machine": 600,
                "down_payment_usd": 200,
                "rate_per_year": 0.12,
                "power_price_usd_per_kwh": 0.05,
                "end_of_life": "2028-12-31",
                "reference_hashprice_usd_per_ph_day": 50,
            }
        )
    )
    code, out, err = cli("lease", "schedule", str(spec), "--format", "csv")
    assert code == 0, err
    assert out.splitlines() == [
        "month,due,payment_cents,interest_cents,principal_cents,balance_cents",
        "1,2025-02-28,34002,1000,33002,66998",
        "2,2025-03-31,34002,670,33332,33666",
        "3,2025-04-30,34003,337,33666,0",
    ]
