"""``hashmarket delivery …``: the endpoint as a process, its report, and heartbeat checks."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hashmarket.cli.app import app
from hashmarket.delivery import HashpowerContract, NodeAgent
from hashmarket.delivery.heartbeats import GpuReading
from hashmarket.errors import DataError, DeliveryError
from hashmarket.ledger import Account, Asset, Ledger, Transfer
from tests.delivery.miner import CpuMiner
from tests.delivery.test_heartbeats import NODE_A, START_MINUTE

runner = CliRunner()


def write_contract(path: Path, **changes: object) -> HashpowerContract:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    terms = HashpowerContract(
        **{  # type: ignore[arg-type]
            "contract_id": "cli1",
            "buyer_account_id": 10,
            "seller_account_id": 11,
            "price_sats_per_ph_day": 5_000_000_000,  # dear, so a CPU's work is worth sats
            "hashrate_ths": Fraction(1, 1_000_000),
            "budget_sats": 100_000,
            "start": now - dt.timedelta(hours=1),
            "end": now + dt.timedelta(days=1),
            "pending_transfer_id": 77,
            "interval_s": 1,
            **changes,
        }
    )
    path.write_text(json.dumps(terms.to_dict()))
    return terms


def test_stratum_process_meters_a_miner_and_pays_on_the_ledger(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/ledger.sqlite"
    with Ledger.open(db, create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1)
        ledger.create_accounts([Account(10, "BTC"), Account(11, "BTC")])
        ledger.transfer(Transfer(1, 1, 10, 1_000_000))
    write_contract(tmp_path / "c.json")
    command = [sys.executable, "-m", "hashmarket", "delivery", "stratum", str(tmp_path / "c.json")]
    command += ["--port", "0", "--difficulty", "1/1048576", "--db", db, "--reserve"]
    command += ["--duration", "60", "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("stratum+tcp://127.0.0.1:"), first + proc.stderr.read()  # type: ignore[union-attr]
        port = int(first.rsplit(":", 1)[1].split()[0])
        miner = CpuMiner("127.0.0.1", port, "cli1.rig").connect()
        shares = miner.mine(2**17)
        assert all(r["result"] is True for r in miner.submit_all(shares))
        miner.close()
        time.sleep(1.5)  # at least one interval closes on the endpoint's schedule
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    log = tmp_path / "delivery" / "cli1.jsonl"
    assert f"delivery log: {log}" in out
    result = runner.invoke(
        app,
        [
            "delivery",
            "report",
            "cli1",
            "--data-dir",
            str(tmp_path),
            "--db",
            db,
            "--check-ledger",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["shares_accepted"] == len(shares)
    assert Fraction(report["work_hashes"]) == len(shares) * 4096
    # 5e9 sats per PH·day: one sat per 17,280,000 hashes, paid rounded down.
    assert report["paid_sats"] == len(shares) * 4096 // 17_280_000 == report["ledger_paid_sats"]
    with Ledger.open(db) as ledger:
        assert ledger.account(11).credits_posted == report["paid_sats"]
        assert ledger.account(10).debits_pending == 100_000 - report["paid_sats"]


def test_report_of_a_missing_contract_is_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["delivery", "report", "nope", "--data-dir", str(tmp_path)])
    assert isinstance(result.exception, DataError)
    assert result.exception.exit_code == 65
    assert str(result.exception).endswith("nope.jsonl: file not found")


def test_verify_heartbeats_prints_uptime_and_refunds(tmp_path: Path) -> None:
    agent = NodeAgent(NODE_A, lease_id="L9", block_id="A")
    lines = []
    for minute in range(START_MINUTE, START_MINUTE + 60):
        if minute % 20 == 0:
            continue  # 3 of 60 minutes missing: 95 % uptime
        (hb,) = agent.beat(minute, {"gpu-0": GpuReading(9_000, 700)})
        lines.append(hb.received(minute * 60 + 61).to_line())
    (tmp_path / "hb.jsonl").write_text("\n".join(lines) + "\n")
    lease = {
        "lease_id": "L9",
        "buyer_account_id": 20,
        "seller_account_id": 21,
        "blocks": [
            {"block_id": "A", "node_public_key": agent.public_key_hex, "device_ids": ["gpu-0"]}
        ],
        "start_minute": START_MINUTE,
        "end_minute": START_MINUTE + 60,
        "price_cents_per_gpu_hour": 300,
    }
    (tmp_path / "lease.yaml").write_text(json.dumps(lease))
    args = ["delivery", "verify-heartbeats", str(tmp_path / "hb.jsonl"), "--lease"]
    result = runner.invoke(app, [*args, str(tmp_path / "lease.yaml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    (block,) = out["blocks"]
    assert block["uptime"] == pytest.approx(57 / 60)
    assert block["refund_cents"] == 30  # 95 % is below 99 %, not below 95 %: 10 % of 300 ¢
    assert block["load_rate"] == pytest.approx(0.9)
    lease["blocks"][0]["node_public_key"] = "abcd"  # type: ignore[index]
    (tmp_path / "lease.yaml").write_text(json.dumps(lease))
    result = runner.invoke(app, [*args, str(tmp_path / "lease.yaml")])
    assert isinstance(result.exception, DeliveryError)
    assert result.exception.exit_code == 65
    assert str(result.exception).endswith(
        "lease.yaml: lease 'L9': blocks[A].node_public_key: "
        "an Ed25519 public key is 32 bytes, got 2"
    )


def open_exchange_contract(db: str, *, budget_sats: int = 100_000) -> int:
    """An exchange on ``db`` with one contract running from now for a day: 100 TH/s bought
    by 10 from 11 at 86,400,000 sats per PH/s per day (one sat per TH·s)."""
    from hashmarket.market import (
        Exchange,
        PlaceOrder,
        RegisterHashrate,
        Side,
        open_exchange_accounts,
    )

    now_ns = time.time_ns()
    with Ledger.open(db, create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1)
        ledger.create_asset(Asset("USD", 2), issuer_account_id=2)
        ledger.create_accounts([Account(10, "BTC"), Account(11, "BTC")])
        ledger.transfer(Transfer(1, 1, 10, 1_000_000))
        exchange = Exchange.open(ledger, accounts=open_exchange_accounts(ledger))
        exchange.submit(RegisterHashrate(now_ns, 11, 100))
        exchange.submit(PlaceOrder(now_ns, 11, "HASHPOWER", Side.SELL, 100, 86_400_000))
        exchange.submit(
            PlaceOrder(
                now_ns,
                10,
                "HASHPOWER",
                Side.BUY,
                100,
                86_400_000,
                budget_sats=budget_sats,
                duration_s=86_400,
            )
        )
        (contract_id,) = exchange.engine.contracts
    return contract_id


def test_the_hooks_of_an_exchange_contract_log_and_pay_through_the_exchange(
    tmp_path: Path,
) -> None:
    from hashmarket.cli.delivery import market_hooks
    from hashmarket.delivery.report import read_delivery
    from hashmarket.market import Exchange, TransferContract, open_exchange_accounts

    db = f"sqlite:///{tmp_path}/ledger.sqlite"
    contract_id = open_exchange_contract(db)
    log_path = tmp_path / "hp-1.jsonl"
    with Ledger.open(db) as ledger:
        ledger.create_accounts([Account(12, "BTC")])
        ledger.transfer(Transfer(2, 1, 12, 1_000_000))
        exchange = Exchange.open(ledger, accounts=open_exchange_accounts(ledger))
        start_s = exchange.engine.contracts[contract_id].start_ns // 10**9
        hooks = market_hooks(exchange, contract_id, log_path, now_s=start_s)
        hooks.meter.credit(Fraction(2**16), 10)  # 10 × 2⁴⁸ hashes: 2,814 whole TH·s
        hooks.on_interval(hooks.meter.close(start_s + 600))
        assert exchange.engine.contracts[contract_id].paid_sats == 2_814
        # 2,814 sats and the taker's 6-sat fee from 10's reservation; 11 receives less 3.
        assert (ledger.account(10).balance, ledger.account(11).balance) == (
            1_000_000 - 2_820,
            2_814 - 3,
        )
        # Handed over by another process on the same ledger: the next interval sees it.
        other = Exchange.open(ledger, accounts=exchange.accounts)
        other.submit(TransferContract((start_s + 600) * 10**9, contract_id, 10, 12))
        hooks.meter.credit(Fraction(2**16), 10)  # 5,629 TH·s in all: 2,815 more
        hooks.on_interval(hooks.meter.close(start_s + 1_200))
        assert ledger.account(12).debits_pending == 100_000 - 2_820 - 2_815 - 6
        read = read_delivery(log_path)
        assert [(h.account_id, h.from_interval) for h in read.holders] == [(10, 0), (12, 1)]
        # A restart resumes from the log: next interval 2, nothing reported twice.
        again = market_hooks(exchange, contract_id, log_path, now_s=start_s + 1_200)
        assert again.meter.index == 2 and again.payer.reported_ths_s == 5_629
        assert again.holder_log.holder.account_id == 12


def test_stratum_runs_an_exchange_contracts_endpoint(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/ledger.sqlite"
    contract_id = open_exchange_contract(db)
    command = [sys.executable, "-m", "hashmarket", "delivery", "stratum"]
    command += ["--market-contract", str(contract_id), "--db", db, "--port", "0"]
    command += ["--difficulty", "1/1048576", "--duration", "60", "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("stratum+tcp://127.0.0.1:"), first + proc.stderr.read()  # type: ignore[union-attr]
        assert first.rstrip().endswith(f"for contract hp-{contract_id}")
        port = int(first.rsplit(":", 1)[1].split()[0])
        miner = CpuMiner("127.0.0.1", port, f"hp-{contract_id}.rig").connect()
        shares = miner.mine(2**15)
        assert all(r["result"] is True for r in miner.submit_all(shares))
        miner.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    log = tmp_path / "delivery" / f"hp-{contract_id}.jsonl"
    assert f"delivery log: {log}" in out
    result = runner.invoke(
        app,
        [
            "delivery",
            "report",
            f"hp-{contract_id}",
            "--data-dir",
            str(tmp_path),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    # The work of a CPU is far under one TH·s: metered and logged, nothing reported to pay.
    assert report["shares_accepted"] == len(shares) and report["buyer_account_id"] == 10
    assert (
        Fraction(report["work_hashes"]) == len(shares) * 4096 and report["budget_sats"] == 100_000
    )


def test_stratum_refuses_an_unclear_or_unknown_exchange_contract(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/ledger.sqlite"
    open_exchange_contract(db)
    write_contract(tmp_path / "c.json")
    base = ["delivery", "stratum", "--db", db, "--data-dir", str(tmp_path)]
    cases = {
        "give a contract file or --market-contract ID": [*base],
        "give a contract file or --market-contract ID ": [
            *base,
            str(tmp_path / "c.json"),
            "--market-contract",
            "1",
        ],
        "already reserved by the exchange": [*base, "--market-contract", "1", "--reserve"],
        "the exchange has no running contract with this id": [*base, "--market-contract", "7"],
    }
    for message, args in cases.items():
        result = runner.invoke(app, args)
        assert result.exit_code != 0 and message.strip() in str(result.exception), result.output
    assert not (tmp_path / "delivery" / "hp-7.jsonl").exists()
