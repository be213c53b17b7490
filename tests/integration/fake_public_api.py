"""HTTP servers on loopback that replay the mempool and Bitstamp APIs from response files.

``MempoolServer`` serves the blocks of ``tests/fixtures/mempool/blocks.json`` (the shape of
``GET /api/v1/blocks/{height}``) up to a tip the test moves, pages of 15 descending as the
mempool backend cuts them (fewer when asked above the tip), the tip as plain text, and the
hash at a height (404 "Block not found" above the tip). ``reorg()`` switches the last blocks
to the branch of ``reorg.json``. ``BitstampServer`` serves the candles of
``tests/fixtures/bitstamp/ohlc_btcusd_86400.json`` from ``start``, at most ``limit``.

Both can be told to misbehave on the next requests whose path starts with a prefix: answer
with a status and headers (429 with Retry-After, 500), send a truncated body, or wait before
answering (longer than the client's timeout).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.integration.loopback import LoopbackServer

FIXTURES = Path(__file__).parent.parent / "fixtures"
GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
PAGE_BLOCKS = 15


def load_blocks(name: str) -> list[dict[str, Any]]:
    """Blocks of a fixture file, ascending by height."""
    blocks = json.loads((FIXTURES / "mempool" / name).read_text())
    return sorted(blocks, key=lambda b: b["height"])


def load_candles() -> dict[str, Any]:
    return json.loads((FIXTURES / "bitstamp" / "ohlc_btcusd_86400.json").read_text())


@dataclass
class Fault:
    """What to do instead of answering normally, once."""

    prefix: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    truncate: bool = False  # send the real body cut in half (with a matching Content-Length)
    delay_s: float = 0.0  # wait this long, then answer normally


class FakeServer(LoopbackServer):
    """A loopback HTTP server replaying API replies; subclasses route GETs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.requests: list[str] = []  # every request's path and query, in arrival order
        self.user_agents: set[str] = set()
        super().__init__(_handler(self))

    def fail(self, prefix: str, **how: Any) -> None:
        with self.lock:
            self.faults.append(Fault(prefix, **how))

    def paths(self, prefix: str = "") -> list[str]:
        with self.lock:
            return [p for p in self.requests if p.startswith(prefix)]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if path.startswith(fault.prefix):
                    return self.faults.pop(i)
        return None

    def route(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        raise NotImplementedError


class MempoolServer(FakeServer):
    def __init__(self, *, tip: int | None = None) -> None:
        super().__init__()
        self.blocks = load_blocks("blocks.json")
        self.first = self.blocks[0]["height"]
        self.tip = self.blocks[-1]["height"] if tip is None else tip

    def chain(self) -> list[dict[str, Any]]:
        """The blocks served now, ascending."""
        return [b for b in self.blocks if b["height"] <= self.tip]

    def reorg(self) -> None:
        """Replace the last three blocks with the other branch, which is two blocks longer."""
        branch = load_blocks("reorg.json")
        with self.lock:
            self.blocks = [b for b in self.blocks if b["height"] < branch[0]["height"]] + branch
            self.tip = branch[-1]["height"]

    def _at(self, height: int) -> dict[str, Any] | None:
        if not self.first <= height <= self.tip:
            return None
        return self.blocks[height - self.first]

    def route(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        text = "text/plain"
        if path == "/api/blocks/tip/height":
            return 200, text, str(self.tip).encode()
        if path == "/api/blocks/tip/hash":
            return 200, text, str(self._at(self.tip)["id"]).encode()  # type: ignore[index]
        if path.startswith("/api/block-height/"):
            height = int(path.rsplit("/", 1)[1])
            if height == 0:
                return 200, text, GENESIS_HASH.encode()
            block = self._at(height)
            if block is None:
                return 404, text, b"Block not found"
            return 200, text, str(block["id"]).encode()
        if path.startswith("/api/v1/blocks/"):
            height = min(int(path.rsplit("/", 1)[1]), self.tip)
            limit = PAGE_BLOCKS - max(0, int(path.rsplit("/", 1)[1]) - self.tip)
            page = [b for h in range(height, height - limit, -1) if (b := self._at(h))]
            return 200, "application/json", json.dumps(page).encode()
        return 404, text, b"Not Found"


class BitstampServer(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.reply = load_candles()

    def route(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if path != "/api/v2/ohlc/btcusd/":
            return 404, "application/json", b'{"code": "404", "message": "Not found"}'
        assert query["step"] == ["86400"], query
        start = int(query.get("start", ["0"])[0])
        limit = int(query.get("limit", ["1000"])[0])
        candles = [c for c in self.reply["data"]["ohlc"] if int(c["timestamp"]) >= start]
        body = {"data": {"pair": "BTC/USD", "ohlc": candles[:limit]}}
        return 200, "application/json", json.dumps(body).encode()


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            with server.lock:
                server.requests.append(self.path)
                server.user_agents.add(self.headers.get("User-Agent", ""))
            fault = server.take_fault(parts.path)
            if fault is not None and fault.delay_s:
                time.sleep(fault.delay_s)
            status, kind, body = server.route(parts.path, parse_qs(parts.query))
            headers: dict[str, str] = {}
            if fault is not None and fault.status != 200:
                status, kind, body = fault.status, "text/plain", b"Too many requests or trouble"
                headers = fault.headers
            if fault is not None and fault.truncate:
                body = body[: len(body) // 2]
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)  # unless the client gave up waiting

    return Handler
