"""A JSON-RPC server that answers like Bitcoin Core, over real HTTP, for the sync tests.

Its chain is built on the real epoch starts of the bundled epoch table: every block whose
height is a multiple of 2016 has its real hash, header time and bits. Blocks between two
epoch starts are synthesised: times interpolated between the two real start times, the
epoch's real bits, and a made-up hash that depends on the branch, so that a reorganisation
can replace the last blocks with others.

What it reproduces of Core: basic authentication with an empty HTTP 401 on a wrong
password; JSON-RPC 2.0 replies (errors in an HTTP 200 body) and legacy 1.0 replies (errors
with HTTP 500, or 404 for an unknown method); batches; error codes -8 (height out of range,
bad statistic), -5 (block not found), -32601 (unknown method); ``getblockchaininfo`` with
``initialblockdownload``; ``getblockstats`` with a list of statistics.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from hashmarket.chain.consensus import RETARGET_INTERVAL_BLOCKS, bits_to_difficulty
from hashmarket.chain.consensus import block_subsidy_sats as consensus_subsidy
from hashmarket.chain.sources.bundled import bundled_path
from tests.integration.loopback import LoopbackServer

SUPPORTED_STATS = {"height", "time", "subsidy", "totalfee", "blockhash", "txs", "avgfee"}


@dataclass(frozen=True)
class FakeBlock:
    height: int
    block_hash: str
    time_s: int
    bits: int
    totalfee_sats: int
    real: bool  # an epoch start copied from the bundled epoch table


def real_epoch_starts() -> dict[int, tuple[str, int, int]]:
    """height -> (hash, time_s, bits) for every epoch start with a known header."""
    import csv
    import datetime as dt

    out: dict[int, tuple[str, int, int]] = {}
    with open(bundled_path("btc_epochs.csv"), newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if not row["start_time_utc"]:
                continue
            moment = dt.datetime.strptime(row["start_time_utc"], "%Y-%m-%dT%H:%M:%SZ")
            time_s = int(moment.replace(tzinfo=dt.UTC).timestamp())
            out[int(row["start_height"])] = (row["start_block_hash"], time_s, int(row["bits"], 16))
    return out


def synthetic_hash(branch: str, height: int) -> str:
    return hashlib.sha256(f"hashmarket-test:{branch}:{height}".encode()).hexdigest()


def synthetic_fee_sats(branch: str, height: int) -> int:
    digest = hashlib.sha256(f"fee:{branch}:{height}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100_000_000  # up to 1 BTC


def build_block(height: int, branch: str, epochs: dict[int, tuple[str, int, int]]) -> FakeBlock:
    start = height - height % RETARGET_INTERVAL_BLOCKS
    start_hash, start_time_s, bits = epochs[start]
    if height == start:
        return FakeBlock(
            height, start_hash, start_time_s, bits, synthetic_fee_sats("real", height), True
        )
    following = epochs.get(start + RETARGET_INTERVAL_BLOCKS)
    span_s = following[1] - start_time_s if following else 600 * RETARGET_INTERVAL_BLOCKS
    time_s = start_time_s + span_s * (height - start) // RETARGET_INTERVAL_BLOCKS
    return FakeBlock(
        height,
        synthetic_hash(branch, height),
        time_s,
        bits,
        synthetic_fee_sats(branch, height),
        False,
    )


class FakeChain:
    """Blocks ``first``..``tip`` on a branch; ``reorg`` swaps the last blocks for another branch."""

    def __init__(self, first: int, tip: int, *, branch: str = "a") -> None:
        self.epochs = real_epoch_starts()
        self.first = first
        self.blocks = [build_block(h, branch, self.epochs) for h in range(first, tip + 1)]

    @property
    def tip(self) -> int:
        return self.blocks[-1].height

    def block(self, height: int) -> FakeBlock:
        return self.blocks[height - self.first]

    def extend(self, count: int, *, branch: str = "a") -> None:
        for h in range(self.tip + 1, self.tip + 1 + count):
            self.blocks.append(build_block(h, branch, self.epochs))

    def reorg(self, depth: int, *, new_tip: int, branch: str) -> None:
        """Replace the last ``depth`` blocks and grow to ``new_tip`` on ``branch``."""
        fork = self.tip - depth
        self.blocks = self.blocks[: fork - self.first + 1]
        self.extend(new_tip - fork, branch=branch)
        for b in self.blocks[fork - self.first + 1 :]:
            assert not b.real, "a test reorg must not replace a real epoch start"


class FakeNode(LoopbackServer):
    """A Core-like RPC server on 127.0.0.1 (an OS-chosen port), served from a thread."""

    def __init__(
        self, chain: FakeChain, *, user: str = "alice", password: str = "s3cret", name: str = "main"
    ) -> None:
        self.chain = chain
        self.user = user
        self.password = password
        self.chain_name = name
        self.initial_block_download = False
        self.headers_ahead = 0
        self.drop_after_stats: int | None = None  # drop connections once this many stats served
        self.legacy_replies = False  # answer every request in the JSON-RPC 1.0 style
        # (stats served, depth, new tip, branch): reorganise once that many stats are served
        self.reorg_after_stats: tuple[int, int, int, str] | None = None
        self.stats_served = 0
        self.calls: Counter[str] = Counter()
        self.http_requests = 0
        self.lock = threading.Lock()
        super().__init__(_handler(self))

    def reset_counts(self) -> None:
        with self.lock:
            self.calls.clear()
            self.http_requests = 0

    # -- the RPC methods -------------------------------------------------------------------

    def dispatch(self, method: str, params: list[Any]) -> Any:
        with self.lock:
            self.calls[method] += 1
        handler = getattr(self, f"rpc_{method}", None)
        if handler is None:
            raise RpcFaultError(-32601, "Method not found")
        return handler(*params)

    def rpc_getblockchaininfo(self) -> dict[str, Any]:
        tip = self.chain.block(self.chain.tip)
        return {
            "chain": self.chain_name,
            "blocks": tip.height,
            "headers": tip.height + self.headers_ahead,
            "bestblockhash": tip.block_hash,
            "difficulty": bits_to_difficulty(tip.bits),
            "time": tip.time_s,
            "mediantime": tip.time_s - 3000,
            "verificationprogress": 0.5 if self.initial_block_download else 0.9999,
            "initialblockdownload": self.initial_block_download,
            "chainwork": "00" * 32,
            "size_on_disk": 1,
            "pruned": False,
            "warnings": [],
        }

    def rpc_getblockhash(self, height: Any) -> str:
        if not isinstance(height, int):
            raise RpcFaultError(-3, "JSON value of type string is not of expected type number")
        if not self.chain.first <= height <= self.chain.tip:
            raise RpcFaultError(-8, "Block height out of range")
        return self.chain.block(height).block_hash

    def _find(self, hash_or_height: Any) -> FakeBlock:
        if isinstance(hash_or_height, int):
            if not self.chain.first <= hash_or_height <= self.chain.tip:
                raise RpcFaultError(
                    -8, f"Target block height {hash_or_height} after current tip {self.chain.tip}"
                )
            return self.chain.block(hash_or_height)
        for b in self.chain.blocks:
            if b.block_hash == hash_or_height:
                return b
        raise RpcFaultError(-5, "Block not found")

    def rpc_getblockheader(self, block_hash: str, verbose: bool = True) -> dict[str, Any]:
        if not isinstance(block_hash, str) or len(block_hash) != 64:
            raise RpcFaultError(-8, "blockhash must be of length 64")
        b = self._find(block_hash)
        header: dict[str, Any] = {
            "hash": b.block_hash,
            "confirmations": self.chain.tip - b.height + 1,
            "height": b.height,
            "version": 0x20000000,
            "versionHex": "20000000",
            "merkleroot": hashlib.sha256(b.block_hash.encode()).hexdigest(),
            "time": b.time_s,
            "mediantime": b.time_s - 3000,
            "nonce": 0,
            "bits": f"{b.bits:08x}",
            "difficulty": bits_to_difficulty(b.bits),
            "chainwork": "00" * 32,
            "nTx": 1,
        }
        if b.height > self.chain.first:
            header["previousblockhash"] = self.chain.block(b.height - 1).block_hash
        if b.height < self.chain.tip:
            header["nextblockhash"] = self.chain.block(b.height + 1).block_hash
        return header

    def rpc_getblockstats(
        self, hash_or_height: Any, stats: list[str] | None = None
    ) -> dict[str, Any]:
        b = self._find(hash_or_height)
        wanted = SUPPORTED_STATS if stats is None else set(stats)
        for name in wanted:
            if name not in SUPPORTED_STATS:
                raise RpcFaultError(-8, f"Invalid selected statistic '{name}'")
        every = {
            "height": b.height,
            "time": b.time_s,
            "subsidy": consensus_subsidy(b.height),
            "totalfee": b.totalfee_sats,
            "blockhash": b.block_hash,
            "txs": 1,
            "avgfee": 0,
        }
        return {k: v for k, v in every.items() if k in wanted}


class RpcFaultError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _handler(node: FakeNode) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{node.user}:{node.password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Core's HTTP server does
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            with node.lock:
                node.http_requests += 1
            if self.headers.get("Authorization") != expected:
                # Core: HTTP 401, an empty body, and a WWW-Authenticate header.
                self._send(401, b"", {"WWW-Authenticate": 'Basic realm="jsonrpc"'})
                return
            try:
                request = json.loads(raw)
            except json.JSONDecodeError:
                self._send(
                    500,
                    json.dumps(
                        {
                            "result": None,
                            "error": {"code": -32700, "message": "Parse error"},
                            "id": None,
                        }
                    ).encode(),
                )
                return
            batch = isinstance(request, list)
            requests = request if batch else [request]
            if self._should_drop(requests):
                # A node that dies mid-request: close the socket without a reply.
                self.close_connection = True
                return
            replies = [self._reply(r) for r in requests]
            if node.drop_after_stats is None:
                self._maybe_reorg(requests)
            if batch:
                self._send(200, json.dumps([body for _, body in replies]).encode())
            else:
                status, body = replies[0]
                self._send(status, json.dumps(body).encode())

        def _should_drop(self, requests: list[dict[str, Any]]) -> bool:
            with node.lock:
                if node.drop_after_stats is None:
                    return False
                stats = sum(1 for r in requests if r.get("method") == "getblockstats")
                if node.stats_served + stats > node.drop_after_stats:
                    return True
                node.stats_served += stats
                return False

        def _maybe_reorg(self, requests: list[dict[str, Any]]) -> None:
            with node.lock:
                node.stats_served += sum(1 for r in requests if r.get("method") == "getblockstats")
                plan = node.reorg_after_stats
                if plan is not None and node.stats_served >= plan[0]:
                    node.reorg_after_stats = None
                    node.chain.reorg(plan[1], new_tip=plan[2], branch=plan[3])

        def _reply(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            version2 = request.get("jsonrpc") == "2.0" and not node.legacy_replies
            rid = request.get("id")
            try:
                result = node.dispatch(request.get("method", ""), list(request.get("params") or []))
            except RpcFaultError as fault:
                error = {"code": fault.code, "message": fault.message}
                if version2:
                    return 200, {"jsonrpc": "2.0", "error": error, "id": rid}
                return (404 if fault.code == -32601 else 500), {
                    "result": None,
                    "error": error,
                    "id": rid,
                }
            if version2:
                return 200, {"jsonrpc": "2.0", "result": result, "id": rid}
            return 200, {"result": result, "error": None, "id": rid}

    return Handler
