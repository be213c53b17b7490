"""A real CPU miner that speaks Stratum V1 over TCP, for the tests.

It subscribes, authorizes, takes ``mining.set_difficulty`` and ``mining.notify`` from the
wire, builds the header exactly as a pool expects (its own implementation of the byte orders,
from hashlib and struct only, not the endpoint's code), hashes nonces with the SHA-256
midstate of the header's first 64 bytes, and submits what meets the share target. It counts
every hash it tries, so tests can compare the endpoint's metered work with the truth.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

DIFF1 = 0xFFFF << 208


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


@dataclass
class Notify:
    job_id: str
    prevhash: bytes
    coinb1: bytes
    coinb2: bytes
    branch: list[bytes]
    version: int
    nbits: int
    ntime: int

    @classmethod
    def parse(cls, p: list[Any]) -> Notify:
        raw = bytes.fromhex(p[1])
        prev = b"".join(raw[i : i + 4][::-1] for i in range(0, 32, 4))
        return cls(
            p[0],
            prev,
            bytes.fromhex(p[2]),
            bytes.fromhex(p[3]),
            [bytes.fromhex(b) for b in p[4]],
            int(p[5], 16),
            int(p[6], 16),
            int(p[7], 16),
        )


@dataclass
class CpuMiner:
    host: str
    port: int
    username: str
    version_rolling: bool = False
    sock: socket.socket = field(init=False)
    buffer: bytes = b""
    next_id: int = 1
    extranonce1: bytes = b""
    extranonce2_size: int = 0
    difficulty: Fraction = Fraction(1)
    job: Notify | None = None
    version_mask: int = 0
    hashes_tried: int = 0
    pending: dict[int, Any] = field(default_factory=dict)
    replies: dict[int, dict[str, Any]] = field(default_factory=dict)

    def connect(self) -> CpuMiner:
        self.sock = socket.create_connection((self.host, self.port), timeout=10)
        if self.version_rolling:
            r = self.call(
                "mining.configure", [["version-rolling"], {"version-rolling.mask": "ffffffff"}]
            )
            self.version_mask = int(r["result"]["version-rolling.mask"], 16)
        r = self.call("mining.subscribe", ["cpu-miner/1.0"])
        self.extranonce1 = bytes.fromhex(r["result"][1])
        self.extranonce2_size = r["result"][2]
        r = self.call("mining.authorize", [self.username, "x"])
        assert r["result"] is True, r
        while self.job is None:
            self._read_one()
        return self

    def close(self) -> None:
        self.sock.close()

    # -- wire -------------------------------------------------------------------------
    def send(self, method: str, params: list[Any]) -> int:
        msg_id = self.next_id
        self.next_id += 1
        line = json.dumps({"id": msg_id, "method": method, "params": params}) + "\n"
        self.sock.sendall(line.encode())
        return msg_id

    def call(self, method: str, params: list[Any]) -> dict[str, Any]:
        msg_id = self.send(method, params)
        while msg_id not in self.replies:
            self._read_one()
        return self.replies.pop(msg_id)

    def _read_one(self) -> None:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        msg = json.loads(line)
        method = msg.get("method")
        if method == "mining.set_difficulty":
            self.difficulty = Fraction(msg["params"][0])
        elif method == "mining.notify":
            self.job = Notify.parse(msg["params"])
        else:
            self.replies[msg["id"]] = msg

    def wait_replies(self, ids: list[int]) -> list[dict[str, Any]]:
        while any(i not in self.replies for i in ids):
            self._read_one()
        return [self.replies.pop(i) for i in ids]

    # -- mining -----------------------------------------------------------------------
    def header_prefix(self, job: Notify, extranonce2: bytes, ntime: int, version: int) -> bytes:
        coinbase = job.coinb1 + self.extranonce1 + extranonce2 + job.coinb2
        root = _dsha(coinbase)
        for b in job.branch:
            root = _dsha(root + b)
        return struct.pack("<I32s32sII", version, job.prevhash, root, ntime, job.nbits)

    def mine(self, hashes: int, *, extranonce2: int = 0, version_bits: int = 0) -> list[list[Any]]:
        """Try ``hashes`` nonces; return the submit params of every share found."""
        job = self.job
        assert job is not None
        target = min(
            (1 << 256) - 1, DIFF1 * self.difficulty.denominator // self.difficulty.numerator
        )
        en2 = extranonce2.to_bytes(self.extranonce2_size, "big")
        version = (job.version & ~self.version_mask) | (version_bits & self.version_mask)
        prefix = self.header_prefix(job, en2, job.ntime, version)
        mid = hashlib.sha256(prefix[:64])
        tail = prefix[64:]
        shares = []
        pack = struct.Struct("<I").pack
        sha = hashlib.sha256
        for nonce in range(hashes):
            h = mid.copy()
            h.update(tail + pack(nonce))
            value = int.from_bytes(sha(h.digest()).digest(), "little")
            if value <= target:
                params = [self.username, job.job_id, en2.hex(), f"{job.ntime:08x}", f"{nonce:08x}"]
                if self.version_mask:
                    params.append(f"{version_bits & self.version_mask:08x}")
                shares.append(params)
        self.hashes_tried += hashes
        return shares

    def submit_all(self, shares: list[list[Any]]) -> list[dict[str, Any]]:
        ids = [self.send("mining.submit", s) for s in shares]
        return self.wait_replies(ids)
