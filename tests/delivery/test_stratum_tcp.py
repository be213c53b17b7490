"""The Stratum endpoint over TCP: a real CPU miner is metered, a cheating one is not paid."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest

from hashmarket.delivery import JobFactory
from hashmarket.delivery.stratum import STALE
from tests.delivery.endpoint import RunningEndpoint, contract
from tests.delivery.miner import CpuMiner

# 1 in 4,096 hashes is a share: a CPU miner finds hundreds in a second.
EASY = Fraction(1, 2**20)
PREVHASH = bytes.fromhex("6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000")


def factory(contract_id: str, txs: int = 5) -> JobFactory:
    others = tuple(bytes([i]) * 32 for i in range(1, txs))
    return JobFactory(
        contract_id, prevhash=PREVHASH, height=900_000, nbits=0x17023774, other_txids=others
    )


JOBS: dict[str, JobFactory] = {}


@pytest.fixture
def endpoint() -> Iterator[RunningEndpoint]:
    running = RunningEndpoint(contract("c1"), difficulty=EASY)
    JOBS["c1"] = factory("c1")
    running.publish(JOBS["c1"].job(running.clock.now))
    yield running
    running.stop()


def test_metered_work_matches_the_hashes_tried_within_poisson_error(
    endpoint: RunningEndpoint,
) -> None:
    miner = CpuMiner("127.0.0.1", endpoint.port, "c1.rig1").connect()
    shares = miner.mine(2**20)
    replies = miner.submit_all(shares)
    assert all(r["result"] is True and r["error"] is None for r in replies)
    endpoint.clock.now += 60  # the miner's work is metered over a one-minute interval
    record = endpoint.close_interval()
    miner.close()
    n = len(shares)
    assert record.shares_accepted == n > 100
    assert record.work_hashes == n * 4096
    # E[work] = hashes × P(hash ≤ target) × 2³²/… = hashes × 0xffff/0x10000; sd = √n shares.
    expected = miner.hashes_tried * Fraction(0xFFFF, 0x10000)
    assert abs(record.work_hashes - expected) <= 4 * math.sqrt(n) * 4096
    # The record's own standard error is that Poisson error, as a speed over the interval.
    seconds = record.end_s - record.start_s
    assert seconds == 60
    assert record.delivered_hashrate_std_error_ths == pytest.approx(
        math.sqrt(n) * 4096 / 1e12 / seconds
    )
    # Paid exactly what the metered work is worth, rounded down, the rest carried.
    value = record.work_hashes * 5_000_000 / Fraction(8_640 * 10**16)
    assert record.paid_sats == math.floor(value)
    assert float(record.remainder_sats) == pytest.approx(float(value - math.floor(value)))


def test_version_rolling_shares_verify(endpoint: RunningEndpoint) -> None:
    miner = CpuMiner("127.0.0.1", endpoint.port, "c1.asic", version_rolling=True).connect()
    assert miner.version_mask == 0x1FFFE000
    shares = miner.mine(2**15, version_bits=0x00AB6000 & miner.version_mask)
    assert shares and all(s[5] == "00ab6000" for s in shares)
    assert all(r["result"] is True for r in miner.submit_all(shares))
    # Bits outside the mask are refused.
    bad = [*shares[0][:5], "00000001"]
    (reply,) = miner.submit_all([bad])
    assert reply["error"][0] == 20
    miner.close()


def test_cheating_miner_is_caught_and_unpaid(endpoint: RunningEndpoint) -> None:
    honest = CpuMiner("127.0.0.1", endpoint.port, "c1.honest").connect()
    cheat = CpuMiner("127.0.0.1", endpoint.port, "c1.cheat").connect()
    good = cheat.mine(2**15)
    assert len(good) >= 3
    user, job_id, en2, ntime, nonce = good[0]
    # A nonce that is not a share: the next nonce after a share almost surely misses.
    misses = [
        s
        for s in ([user, job_id, en2, ntime, f"{int(g[4], 16) + 1:08x}"] for g in good)
        if s[4] not in {x[4] for x in good}
    ]
    attempts = {
        "low_difficulty": misses[0],
        "bad_ntime_low": [user, job_id, en2, f"{int(ntime, 16) - 1:08x}", nonce],
        "bad_ntime_high": [user, job_id, en2, f"{int(ntime, 16) + 7201:08x}", nonce],
        "malformed_nonce": [user, job_id, en2, ntime, "xyz"],
        "short_extranonce2": [user, job_id, "00", ntime, nonce],
        "other_contract_job": [user, "c2:1", en2, ntime, nonce],
        "other_worker": ["c2.rig", job_id, en2, ntime, nonce],
    }
    replies = cheat.submit_all([good[0], good[0], *attempts.values()])
    codes = [r["error"][0] if r["error"] else 0 for r in replies]
    assert codes == [0, 22, 23, 20, 20, 20, 20, 21, 24]
    # The same share under the honest miner's extranonce1 is a different header: not a share.
    (stolen,) = honest.submit_all([["c1.honest", job_id, en2, ntime, nonce]])
    assert stolen["error"][0] == 23
    # A clean job makes the old one stale.
    endpoint.publish(JOBS["c1"].job(endpoint.clock.now + 30))
    (stale,) = cheat.submit_all([good[1]])
    assert stale["error"] == [STALE, "job not found", None]
    record = endpoint.close_interval()
    assert record.shares_accepted == 1
    assert record.work_hashes == 4096
    assert record.shares_rejected == {
        "duplicate": 1,
        "low_difficulty": 2,
        "other": 4,
        "job_not_found": 2,
        "unauthorized": 1,
    }
    honest.close()
    cheat.close()


def raw_lines(port: int, lines: list[str]) -> list[dict[str, Any]]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall("".join(line + "\n" for line in lines).encode())
        data = b""
        while data.count(b"\n") < len(lines):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return [json.loads(x) for x in data.splitlines()]


def test_submit_before_subscribe_or_authorize_is_refused(endpoint: RunningEndpoint) -> None:
    submit = json.dumps(
        {"id": 1, "method": "mining.submit", "params": ["c1.x", "c1:1", *["00000000"] * 3]}
    )
    (reply,) = raw_lines(endpoint.port, [submit])
    assert reply["error"] == [25, "not subscribed", None]
    subscribe = '{"id": 0, "method": "mining.subscribe", "params": []}'
    bad_user = '{"id": 2, "method": "mining.authorize", "params": ["c2.rig", "x"]}'
    replies = raw_lines(endpoint.port, [subscribe, bad_user, submit, "not json"])
    assert [r["error"][0] if r["error"] else 0 for r in replies] == [0, 24, 24, 20]


def test_contract_over_budget_accepts_no_more_work() -> None:
    # 12 sats of budget at 5,000,000 sats per PH·day buys 12 × 8.64e19 / 5e6 hashes.
    running = RunningEndpoint(contract("c3", budget_sats=12), difficulty=Fraction(2**16))
    try:
        running.publish(factory("c3").job(running.clock.now))
        core = running.core
        core.meter.credit(Fraction(2**16))  # 2.8e14 hashes: worth 16.3 sats, capped at 12
        record = running.close_interval()
        assert (record.paid_sats, record.budget_left_sats) == (12, 0)
        assert core.ended
        miner = CpuMiner("127.0.0.1", running.port, "c3.rig").connect()
        assert miner.job is not None
        ntime = f"{miner.job.ntime:08x}"
        (reply,) = miner.submit_all([["c3.rig", "c3:1", "00000000", ntime, "00000000"]])
        assert reply["error"] == [20, "contract ended", None]
        miner.close()
    finally:
        running.stop()


def test_the_interval_closes_early_when_the_open_work_spends_the_budget() -> None:
    # interval_s is an hour; the budget (12 sats) is spent by one share of difficulty 2¹⁶.
    running = RunningEndpoint(contract("c4", budget_sats=12), difficulty=Fraction(2**16))
    try:
        running.call(lambda: running.core.meter.credit(Fraction(2**16)))
        assert running.run(asyncio.wait_for(running.server.done.wait(), timeout=10)) is True
        (record,) = running.server.records
        assert (record.paid_sats, record.budget_left_sats) == (12, 0)
        assert running.core.ended
    finally:
        running.stop()


def test_a_refused_payment_stops_the_endpoint_and_is_raised() -> None:
    from hashmarket.errors import TransferRefusedError

    def refuse(record: object) -> None:
        raise TransferRefusedError("transfer_refused", result_code="x", transfer_id=1, reason="r")

    running = RunningEndpoint(contract("c5", interval_s=1), difficulty=EASY, on_interval=refuse)
    running.publish(factory("c5").job(running.clock.now))
    miner = CpuMiner("127.0.0.1", running.port, "c5.rig").connect()
    assert running.run(asyncio.wait_for(running.server.done.wait(), timeout=10)) is True
    assert isinstance(running.server.failure, TransferRefusedError)
    with pytest.raises(ConnectionError):  # the endpoint hung up on its miners
        miner.call("mining.submit", ["c5.rig", "c5:1", "00000000", "00000000", "00000000"])
    with pytest.raises(TransferRefusedError):
        running.stop()
    running.loop.call_soon_threadsafe(running.loop.stop)


def test_a_share_for_another_contracts_job_is_not_paid(endpoint: RunningEndpoint) -> None:
    other = RunningEndpoint(contract("c2"), difficulty=EASY)
    try:
        other.publish(factory("c2").job(other.clock.now))
        elsewhere = CpuMiner("127.0.0.1", other.port, "c2.rig").connect()
        share = elsewhere.mine(2**15)[0]  # a real share of contract c2's job
        here = CpuMiner("127.0.0.1", endpoint.port, "c1.rig").connect()
        (as_c2,) = here.submit_all([share])
        (as_c1,) = here.submit_all([["c1.rig", *share[1:]]])
        assert as_c2["error"][0] == 24  # c2's worker is not authorized on c1
        assert as_c1["error"] == [STALE, "job not found", None]
        assert endpoint.close_interval().work_hashes == 0
        (accepted,) = elsewhere.submit_all([share])
        assert accepted["result"] is True  # where it belongs, it pays
        here.close()
        elsewhere.close()
    finally:
        other.stop()
