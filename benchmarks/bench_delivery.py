"""Proof of delivery: share verification in process and over TCP, heartbeat verification.

Targets: at least 50,000 shares/s verified in process; at least 20,000 shares/s end to end
over TCP with 100 connected miners; at least 10,000 heartbeats/s verified.

* **In process**: a subscribed, authorized session answers ``mining.submit`` (hex parsing,
  job lookup, ntime and duplicate checks, coinbase, merkle root, header, double SHA-256,
  target, metering). Jobs carry a 12-step merkle branch (a block of 2,049–4,096
  transactions, as on mainnet); every share has its own extranonce2, so each one builds its
  coinbase and its 13 merkle hashes, as shares do at real difficulties. Baseline in the same
  run: bare ``hashlib`` double SHA-256 of one 80-byte header.
* **Over TCP**: the endpoint runs in its own process; a client process opens 100 miner
  connections, subscribes and authorizes each, precomputes its shares (valid: the share
  difficulty is 2⁻⁴⁸, so every hash meets the target and no CPU time goes into mining), then
  sends them all, pipelined, and waits for every reply. Throughput = shares ÷ time from the
  first send to the last reply, as the client sees it.
* **Heartbeats**: :func:`~hashmarket.delivery.sla.sla_report` over one lease's heartbeats
  (signature, lease, device, term, lateness and replay checks, the uptime tallies). Baseline:
  bare Ed25519 ``verify`` of the same messages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import multiprocessing as mp
import statistics
import time
from fractions import Fraction
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.timing import median_seconds
from hashmarket.delivery.contract import HashpowerContract
from hashmarket.delivery.heartbeats import GpuReading, NodeAgent
from hashmarket.delivery.jobs import JobFactory
from hashmarket.delivery.server import StratumEndpoint
from hashmarket.delivery.sla import GpuLease, LeaseBlock, sla_report
from hashmarket.delivery.stratum import ContractEndpoint

SHARES_IN_PROCESS = 50_000
MINERS = 100
SHARES_PER_MINER = 2_000
HEARTBEATS = 20_000
ALL_PASS = Fraction(1, 2**48)  # target capped at 2²⁵⁶ − 1: every hash is a share
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOW_S = int(START.timestamp()) + 60


def _contract() -> HashpowerContract:
    return HashpowerContract(
        contract_id="bench",
        buyer_account_id=1,
        seller_account_id=2,
        price_sats_per_ph_day=5_000_000,
        hashrate_ths=1_000,
        budget_sats=10**15,
        start=START,
        end=START + dt.timedelta(days=30),
        pending_transfer_id=1,
        interval_s=3_600,
    )


def _factory(depth: int) -> JobFactory:
    """Jobs whose merkle branch has ``depth`` steps (a block of 2**depth transactions)."""
    others = tuple(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1, 2**depth))
    return JobFactory(
        "bench", prevhash=bytes(32), height=900_000, nbits=0x17023774, other_txids=others
    )


def _endpoint(depth: int = 12) -> ContractEndpoint:
    endpoint = ContractEndpoint(_contract(), difficulty=ALL_PASS, now_s=lambda: NOW_S)
    endpoint.publish(_factory(depth).job(NOW_S))
    return endpoint


def _share_params(job_id: str, ntime: int, first: int, count: int) -> list[list[Any]]:
    return [
        ["bench.rig", job_id, f"{first + i:08x}", f"{ntime:08x}", f"{i & 0xFFFF:08x}"]
        for i in range(count)
    ]


def bench_in_process(depth: int) -> None:
    endpoint = _endpoint(depth)
    job = endpoint.current
    assert job is not None and len(job.merkle_branch) == depth
    batches = [
        _share_params(job.job_id, job.ntime, r * SHARES_IN_PROCESS, SHARES_IN_PROCESS)
        for r in range(8)
    ]

    def run() -> None:
        session = endpoint.session()
        session.handle_line(b'{"id":1,"method":"mining.subscribe","params":[]}')
        session.handle_line(b'{"id":2,"method":"mining.authorize","params":["bench.rig","x"]}')
        submit = session.submit
        for i, params in enumerate(batches.pop()):
            submit(i, params)
        assert session.accepted == SHARES_IN_PROCESS, session.rejected

    header = bytes(80)
    sha = hashlib.sha256

    def baseline() -> None:
        for _ in range(SHARES_IN_PROCESS):
            sha(sha(header).digest()).digest()

    rates, base_rates = [], []
    for _ in range(5):  # interleaved, so background load hits both alike
        rates.append(SHARES_IN_PROCESS / median_seconds(run, repeat=1, warmup=0))
        base_rates.append(SHARES_IN_PROCESS / median_seconds(baseline, repeat=1, warmup=0))
    rate, base = statistics.median(rates), statistics.median(base_rates)
    print(
        f"in process, merkle branch of {depth:2d}: {rate:,.0f} shares/s verified "
        f"(runs {min(rates):,.0f}–{max(rates):,.0f}); bare double SHA-256 of 80 bytes "
        f"{base:,.0f}/s; one share costs {base / rate:.1f} header hashes"
    )


def _serve(port_queue: Any, stop: Any) -> None:
    async def main() -> None:
        server = StratumEndpoint(_endpoint())
        port_queue.put(await server.start("127.0.0.1", 0))
        while not stop.is_set():
            await asyncio.sleep(0.05)
        port_queue.put(server.endpoint.meter.shares_total)
        await server.stop()

    asyncio.run(main())


async def _miner(port: int, index: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
    writer.write(
        b'{"id":1,"method":"mining.subscribe","params":[]}\n'
        b'{"id":2,"method":"mining.authorize","params":["bench.rig","x"]}\n'
    )
    job = None
    while job is None:
        msg = json.loads(await reader.readline())
        if msg.get("method") == "mining.notify":
            job = msg["params"]
    lines = [
        json.dumps({"id": 10 + i, "method": "mining.submit", "params": p})
        for i, p in enumerate(_share_params(job[0], int(job[7], 16), 0, SHARES_PER_MINER))
    ]
    return reader, writer, ("\n".join(lines) + "\n").encode()


async def _drain(reader: asyncio.StreamReader) -> int:
    replies = accepted = 0
    while replies < SHARES_PER_MINER:
        chunk = await reader.read(2**20)
        if not chunk:
            raise ConnectionError("the endpoint closed a miner's connection")
        replies += chunk.count(b"\n")
        accepted += chunk.count(b'"result":true')
    return accepted


async def _clients(port: int) -> tuple[float, int]:
    miners = [await _miner(port, i) for i in range(MINERS)]
    start = time.perf_counter()
    for _, writer, payload in miners:
        writer.write(payload)
    accepted = sum(await asyncio.gather(*(_drain(r) for r, _, _ in miners)))
    elapsed = time.perf_counter() - start
    for _, writer, _ in miners:
        writer.close()
    return elapsed, accepted


def bench_tcp() -> None:
    ctx = mp.get_context("spawn")
    rates = []
    for _ in range(3):
        port_queue, stop = ctx.Queue(), ctx.Event()
        proc = ctx.Process(target=_serve, args=(port_queue, stop))
        proc.start()
        port = port_queue.get(timeout=60)
        elapsed, accepted = asyncio.run(_clients(port))
        stop.set()
        port_queue.get(timeout=60)
        proc.join(timeout=60)
        total = MINERS * SHARES_PER_MINER
        assert accepted == total, (accepted, total)
        rates.append(total / elapsed)
    print(
        f"over TCP, {MINERS} miners × {SHARES_PER_MINER:,} pipelined shares: "
        f"{statistics.median(rates):,.0f} shares/s (runs {min(rates):,.0f}–{max(rates):,.0f}), "
        "every reply checked"
    )


def bench_heartbeats() -> None:
    from concurrent.futures import ProcessPoolExecutor

    from hashmarket.delivery.parallel import default_processes, verify_many

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    agent = NodeAgent(key, lease_id="bench", block_id="b0")
    devices = [f"GPU-{i:02d}" for i in range(8)]
    start_minute = NOW_S // 60
    minutes = HEARTBEATS // len(devices)
    beats = []
    for m in range(start_minute, start_minute + minutes):
        for hb in agent.beat(m, {d: GpuReading(9_000, 650) for d in devices}):
            beats.append(hb.received(m * 60 + 61))
    lease = GpuLease(
        lease_id="bench",
        buyer_account_id=1,
        seller_account_id=2,
        blocks=(LeaseBlock("b0", agent.public_key_hex, tuple(devices)),),
        start_minute=start_minute,
        end_minute=start_minute + minutes,
        price_cents_per_gpu_hour=250,
    )
    public = key.public_key()
    messages = [(hb.signature, hb.heartbeat.message()) for hb in beats]

    def run() -> None:
        report = sla_report(lease, beats)
        assert report.blocks[0].up_minutes == len(beats)

    def baseline() -> None:
        for signature, message in messages:
            public.verify(signature, message)

    workers = default_processes()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(abs, range(workers * 4)))  # start the workers before timing

        def parallel() -> None:
            report = sla_report(lease, beats, executor=pool)
            assert report.blocks[0].up_minutes == len(beats)

        raw = public.public_bytes_raw()
        items = [(raw, signature, message) for signature, message in messages]

        def bare_parallel() -> None:
            assert all(verify_many(items, executor=pool))

        # Interleaved, so load changes on the shared machine hit all three alike.
        rates: dict[str, list[float]] = {"base": [], "one": [], "many": [], "bare_many": []}
        contenders = (
            ("base", baseline),
            ("one", run),
            ("many", parallel),
            ("bare_many", bare_parallel),
        )
        for _, fn in contenders:
            fn()  # warm up
        for _ in range(3):
            for name, fn in contenders:
                rates[name].append(len(beats) / median_seconds(fn, repeat=1, warmup=0))
    base, rate, many, bare_many = (
        statistics.median(rates[k]) for k in ("base", "one", "many", "bare_many")
    )
    print(
        f"heartbeats: {rate:,.0f}/s verified into an SLA report in one process "
        f"({len(beats):,}); {many:,.0f}/s over {workers} worker processes "
        f"(runs {min(rates['many']):,.0f}–{max(rates['many']):,.0f}); "
        f"bare Ed25519 verify {base:,.0f}/s in one process, {bare_many:,.0f}/s over "
        f"{workers} processes (report = {rate / base:.0%}, parallel report = "
        f"{many / base:.2f}× of the one-process bare verify)"
    )


def main() -> None:
    for depth in (0, 6, 12):
        bench_in_process(depth)
    bench_tcp()
    bench_heartbeats()
