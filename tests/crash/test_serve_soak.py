"""``hashmarket serve --workers 2`` under mixed load while its processes are killed.

Clients send transfers (plain, pending then post or void) and reads from several threads;
meanwhile a chaos thread SIGKILLs one worker process (uvicorn starts another) or the whole
server (which is started again on the same port). Afterwards ``verify()`` must be green and
every transfer the server acknowledged with a 2xx must be in the journal, as acknowledged:
an acknowledgement is a promise that the write is durable (SQLite WAL, ``synchronous=FULL``).

The suite runs a short soak (about 20 s); ``-m slow`` runs three minutes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hashmarket.api.keys import Role, ServiceStore
from hashmarket.ledger import Account, Ledger, Transfer
from tests.conftest import open_ledger

ACCOUNTS = list(range(10, 20))
CLIENT_THREADS = 4
CHAOS_EVERY_S = 3.0
READY_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``python -m hashmarket serve --workers 2`` in its own process group."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.workers_killed = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hashmarket", "serve", "--port", str(self.port),
             "--workers", "2", "--data-dir", str(self.data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/tokens", timeout=2)
                return
            except urllib.error.HTTPError:
                return  # answering (401 without a key): up
            except OSError:
                time.sleep(0.2)
        raise AssertionError("the server did not come up")

    def workers(self) -> list[int]:
        """Worker processes: the server's children started by multiprocessing's spawn."""
        assert self.process is not None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
        return found

    def kill_a_worker(self, rng: random.Random) -> None:
        workers = self.workers()
        if workers:
            os.kill(rng.choice(workers), signal.SIGKILL)
            self.workers_killed += 1

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def restart(self) -> None:
        self.kill()
        self.restarts += 1
        self.start()


@dataclass
class Tally:
    acknowledged: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> response
    open_pendings: list[int] = field(default_factory=list)
    reads: int = 0
    failures: int = 0  # connection errors and 5xx: outcomes unknown to the client
    refusals: int = 0  # 4xx: refused, nothing written
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _call(port: int, secret: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    if body is not None:
        headers["Idempotency-Key"] = f"soak-{body['id']}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def _client(port: int, secret: str, seed: int, stop: threading.Event, tally: Tally) -> None:
    rng = random.Random(seed)
    next_id = seed * 10_000_000
    while not stop.is_set():
        next_id += 1
        choice = rng.random()
        body: dict[str, Any]
        if choice < 0.25:
            path = f"/api/v1/accounts/{rng.choice(ACCOUNTS)}"
            if rng.random() < 0.5 and tally.acknowledged:
                with tally.lock:
                    path = f"/api/v1/transfers/{rng.choice(list(tally.acknowledged))}"
            try:
                status, _ = _call(port, secret, "GET", path)
            except OSError:
                status = 0
            with tally.lock:
                tally.reads += status == 200
            continue
        with tally.lock:
            pending = tally.open_pendings.pop() if choice > 0.75 and tally.open_pendings else None
        if pending is not None:
            kind = "post" if rng.random() < 0.5 else "void"
            body = {"id": next_id, "kind": kind, "pending_id": pending}
        else:
            a, b = rng.sample(ACCOUNTS, 2)
            kind = "pending" if choice > 0.6 else "plain"
            body = {"id": next_id, "kind": kind, "debit_account_id": a, "credit_account_id": b,
                    "amount": rng.randrange(1, 500)}  # fmt: skip
        try:
            status, answer = _call(port, secret, "POST", "/api/v1/transfers", body)
        except OSError:
            status, answer = 0, None
        with tally.lock:
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                tally.acknowledged[next_id] = answer
                if kind == "pending":
                    tally.open_pendings.append(next_id)
            elif 400 <= status < 500:
                tally.refusals += 1
            else:
                tally.failures += 1
        if status == 429 or not 200 <= status < 500:
            time.sleep(0.1)  # rate-limited, or the server is down or restarting: back off


def _chaos(server: Server, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.wait(CHAOS_EVERY_S):
        if rng.random() < 0.7:
            server.kill_a_worker(rng)
        else:
            server.restart()


def soak(tmp_path: Path, duration_s: float) -> tuple[Server, Tally]:
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    with open_ledger(url) as ledger:
        ledger.create_accounts([Account(i, "BTC") for i in ACCOUNTS])
        ledger.create_transfers([Transfer(i, 1, i, 10**9) for i in ACCOUNTS])
    # A key per client: the service limits each key's request rate.
    keys = ServiceStore.in_data_dir(tmp_path)
    secrets = [keys.create_key(Role.ADMIN, label=f"soak {k}")[1] for k in range(CLIENT_THREADS)]
    server = Server(tmp_path, _free_port())
    server.start()
    stop, tally = threading.Event(), Tally()
    threads = [
        threading.Thread(target=_client, args=(server.port, secrets[k], k + 1, stop, tally))
        for k in range(CLIENT_THREADS)
    ]
    threads.append(threading.Thread(target=_chaos, args=(server, stop, 99)))
    try:
        for thread in threads:
            thread.start()
        time.sleep(duration_s)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        server.kill()
    return server, tally


def check_after(tmp_path: Path, server: Server, tally: Tally) -> None:
    print(
        f"soak: {len(tally.acknowledged)} transfers acknowledged, {tally.refusals} refused, "
        f"{tally.failures} unanswered, {tally.reads} reads; {server.workers_killed} workers "
        f"killed, {server.restarts} server restarts; statuses {sorted(tally.statuses.items())}"
    )
    assert server.workers_killed + server.restarts >= 3, "the chaos did not happen"
    assert len(tally.acknowledged) > 50 and tally.reads > 10, tally
    with Ledger.open(f"sqlite:///{tmp_path}/ledger.sqlite") as ledger:
        report = ledger.verify()
        assert report.ok, report.problems
        for transfer_id, answer in tally.acknowledged.items():
            entry = ledger.lookup_transfer(transfer_id)
            assert entry is not None, f"acknowledged transfer {transfer_id} was lost"
            assert (entry.seq, entry.amount) == (answer["seq"], answer["amount_units"])


def test_a_short_soak_with_killed_workers_loses_no_acknowledged_transfer(tmp_path: Path):
    server, tally = soak(tmp_path, duration_s=20)
    check_after(tmp_path, server, tally)


@pytest.mark.slow
def test_a_three_minute_soak_with_killed_workers_and_restarts(tmp_path: Path):
    server, tally = soak(tmp_path, duration_s=180)
    check_after(tmp_path, server, tally)
    assert server.restarts >= 5
