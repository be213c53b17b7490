"""Long computations on a real server on 127.0.0.1: they leave the service free for other
requests, take turns, and a request whose client leaves while it waits is never computed."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.compute import ComputeGate

# A 12-month curve on 20,000 paths: a few seconds of Monte Carlo on one core.
LONG_CURVE = "/api/v1/curve/hashprice?months=12&paths=20000&seed=1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ComputeGate]]:
    """A server allowing one computation at a time, and its gate."""
    data_dir: Path = tmp_path_factory.mktemp("compute")
    app = create_app(ServiceConfig(data_dir=data_dir, max_computations=1))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app.state.compute_gate
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()
        return int(response.status)


def wait_until(condition: object, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def test_a_computation_leaves_the_service_free_and_a_client_who_leaves_is_dropped(
    served: tuple[str, ComputeGate],
) -> None:
    url, gate = served
    # Load the history and calibrate once, so the long request below is all Monte Carlo.
    assert get(f"{url}/api/v1/curve/hashprice?months=1&paths=100") == 200
    assert (gate.started, gate.waiting, gate.dropped, gate.free) == (1, 0, 0, 1)

    statuses: list[int] = []
    long = threading.Thread(target=lambda: statuses.append(get(url + LONG_CURVE)))
    long.start()
    wait_until(lambda: gate.started == 2, "the long curve has its turn")

    # Other routes are answered while the curve is being computed.
    assert get(f"{url}/api/v1/index/hashprice?last=1") == 200
    assert get(f"{url}/api/v1/miner/models") == 200
    assert long.is_alive() and gate.free == 0

    # A second computation waits for its turn; its client gives up before it comes.
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as client:
        client.sendall(f"GET {LONG_CURVE} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        wait_until(lambda: gate.waiting == 1, "the second request waits")
    wait_until(lambda: gate.dropped == 1, "the second request is dropped")
    assert long.is_alive(), "the long curve ended too soon to show the queue"

    long.join(timeout=120)
    assert statuses == [200]
    # The dropped request never started, and its turn was not kept.
    assert (gate.started, gate.waiting, gate.dropped, gate.free) == (2, 0, 1, 1)
