"""Stratum V1, transport aside: one contract's jobs and each miner's session.

A :class:`ContractEndpoint` holds a contract's live jobs, the shares already accepted for each
job, and its :class:`~hashmarket.delivery.metering.Meter`. A :class:`StratumSession` is one
connected miner: it answers each JSON-RPC request with the reply lines to send back.
:mod:`hashmarket.delivery.server` puts sessions on TCP; tests may drive them directly.

Every share is checked in the order pools use, and refused with Stratum's usual codes:
``25`` not subscribed, ``24`` unauthorized worker, ``21`` job not found (unknown, stale since
a ``clean_jobs`` notify, or another contract's), ``20`` malformed fields, ``ntime`` outside
``[job ntime, job ntime + 2 h]``, version bits outside the negotiated mask, or a contract
whose budget is spent or whose term is over; ``22`` a share already accepted (same job,
extranonce1, extranonce2, ntime, nonce and version); ``23`` a hash above the share target.
Only accepted shares are metered and paid.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from hashmarket.delivery.contract import HashpowerContract
from hashmarket.delivery.metering import Meter
from hashmarket.delivery.shares import (
    NTIME_ROLL_MAX_S,
    VERSION_ROLLING_MASK,
    Job,
    difficulty_target,
)

OTHER, STALE, DUPLICATE, LOW_DIFFICULTY, UNAUTHORIZED, NOT_SUBSCRIBED = 20, 21, 22, 23, 24, 25
ERROR_NAMES = {
    OTHER: "other",
    STALE: "job_not_found",
    DUPLICATE: "duplicate",
    LOW_DIFFICULTY: "low_difficulty",
    UNAUTHORIZED: "unauthorized",
    NOT_SUBSCRIBED: "not_subscribed",
}
EXTRANONCE2_SIZE = 4
_sha256 = hashlib.sha256
_HEADER = struct.Struct("<I32s32sII")  # the header's first 76 bytes; the nonce follows
JOBS_KEPT = 16  # jobs still accepted after newer ones that did not clean them
_TRUE = b'{"id":%s,"result":true,"error":null}\n'


def _reply(msg_id: Any, result: Any) -> bytes:
    return json.dumps({"id": msg_id, "result": result, "error": None}).encode() + b"\n"


def _error(msg_id: Any, code: int, message: str) -> bytes:
    body = {"id": msg_id, "result": None, "error": [code, message, None]}
    return json.dumps(body).encode() + b"\n"


def _notification(method: str, params: list[Any]) -> bytes:
    return json.dumps({"id": None, "method": method, "params": params}).encode() + b"\n"


def _u32(text: object) -> int | None:
    """8 hex digits of a big-endian uint32, or None."""
    if type(text) is not str or len(text) != 8:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == 4 else None


# What makes a share unique within a job: extranonce1, extranonce2, ntime, nonce, version.
ShareKey = tuple[bytes, bytes, int, bytes, int]


@dataclass
class _LiveJob:
    job: Job
    seen: set[ShareKey]  # shares accepted for this job


class ContractEndpoint:
    """A contract's jobs, accepted shares and meter, shared by all its sessions."""

    def __init__(
        self,
        contract: HashpowerContract,
        *,
        difficulty: Fraction | int = 1,
        now_s: Callable[[], int],
        extranonce1_prefix: int = 0,
        meter: Meter | None = None,
    ) -> None:
        self.contract = contract
        self.difficulty = Fraction(difficulty)
        if self.difficulty <= 0 or Fraction(float(self.difficulty)) != self.difficulty:
            # Stratum sends a difficulty as a JSON number: it must survive the trip exactly.
            raise ValueError(f"difficulty {difficulty} is not positive and exact as a float")
        self.now_s = now_s
        self.start_s, self.end_s = contract.start_s, contract.end_s
        self.meter = meter or Meter(contract, interval_start_s=max(now_s(), contract.start_s))
        self.jobs: dict[str, _LiveJob] = {}
        self.current: Job | None = None
        self._extranonce1 = itertools.count(extranonce1_prefix << 24)
        self.sessions: set[StratumSession] = set()
        # Set when whoever pays the contract ended it (the exchange: budget or duration).
        self.ended_elsewhere = False

    @property
    def ended(self) -> bool:
        return (
            self.ended_elsewhere or self.meter.budget_spent or self.now_s() >= self.contract.end_s
        )

    def closed_reason(self) -> str | None:
        """Why no work is accepted now, if it is not."""
        now = self.now_s()
        if now < self.contract.start_s:
            return "contract not started"
        return "contract ended" if self.ended else None

    def publish(self, job: Job) -> list[tuple[StratumSession, bytes]]:
        """Make ``job`` current (a clean job retires every other); return the notify line
        for each authorized session."""
        if job.clean_jobs:
            self.jobs.clear()
        self.jobs[job.job_id] = _LiveJob(job, set())
        while len(self.jobs) > JOBS_KEPT:
            del self.jobs[next(iter(self.jobs))]
        self.current = job
        return [(s, s.notify(job)) for s in self.sessions if s.authorized]

    def session(self) -> StratumSession:
        session = StratumSession(self, next(self._extranonce1).to_bytes(4, "big"))
        self.sessions.add(session)
        return session

    def authorize(self, username: object) -> bool:
        """A worker of this contract: ``CONTRACT_ID`` or ``CONTRACT_ID.WORKER``."""
        if type(username) is not str:
            return False
        cid = self.contract.contract_id
        return username == cid or (username.startswith(cid + ".") and len(username) > len(cid) + 1)


class StratumSession:
    """One miner's connection: subscription, authorization, difficulty and version mask."""

    def __init__(self, endpoint: ContractEndpoint, extranonce1: bytes) -> None:
        self.endpoint = endpoint
        self.extranonce1 = extranonce1
        self.subscribed = False
        self.authorized = False
        self.version_mask = 0
        self.last_difficulty: Fraction | None = None
        # Per job, as sent: the difficulty, its target, and the meter's counter for it.
        self.job_difficulty: dict[str, tuple[Fraction, int, list[int]]] = {}
        self.workers: set[str] = set()  # worker names already authorized
        self.accepted = 0
        self.rejected = 0
        # Set by the transport: how to send a line unprompted (a new job), how to hang up.
        self.writer: Callable[[bytes], None] | None = None
        self.closer: Callable[[], None] | None = None

    def close(self) -> None:
        self.endpoint.sessions.discard(self)
        if self.closer is not None:
            closer, self.closer = self.closer, None
            closer()

    def notify(self, job: Job) -> bytes:
        """``mining.set_difficulty`` if it changed, then ``mining.notify``; the job is
        checked against the difficulty it was sent with."""
        difficulty = self.endpoint.difficulty
        out = b""
        if self.last_difficulty != difficulty:
            out = _notification("mining.set_difficulty", [_difficulty_wire(difficulty)])
            self.last_difficulty = difficulty
        if job.clean_jobs:
            self.job_difficulty.clear()
        self.job_difficulty[job.job_id] = (
            difficulty,
            difficulty_target_cached(difficulty),
            self.endpoint.meter.tally(difficulty),
        )
        return out + _notification("mining.notify", job.notify_params())

    def handle_line(self, line: bytes) -> bytes:
        """The reply lines to one request line (empty for a notification)."""
        try:
            msg = json.loads(line)
            method, params, msg_id = msg["method"], msg.get("params", []), msg.get("id")
        except (ValueError, TypeError, KeyError):
            return _error(None, OTHER, "not a JSON-RPC request")
        if type(params) is not list:
            return _error(msg_id, OTHER, "params must be a list")
        if method == "mining.submit":
            return self.submit(msg_id, params)
        if method == "mining.subscribe":
            self.subscribed = True
            subscription = self.extranonce1.hex()
            return _reply(
                msg_id,
                [
                    [["mining.set_difficulty", subscription], ["mining.notify", subscription]],
                    self.extranonce1.hex(),
                    EXTRANONCE2_SIZE,
                ],
            )
        if method == "mining.authorize":
            return self._authorize(msg_id, params)
        if method == "mining.configure":
            return self._configure(msg_id, params)
        if method == "mining.extranonce.subscribe":
            return _reply(msg_id, False)
        return _error(msg_id, OTHER, f"unknown method {method!r}")

    def _authorize(self, msg_id: Any, params: list[Any]) -> bytes:
        if not self.subscribed:
            return _error(msg_id, NOT_SUBSCRIBED, "not subscribed")
        if not params or not self.endpoint.authorize(params[0]):
            return _error(msg_id, UNAUTHORIZED, "unauthorized worker")
        self.authorized = True
        job = self.endpoint.current
        return _reply(msg_id, True) + (b"" if job is None else self.notify(job))

    def _configure(self, msg_id: Any, params: list[Any]) -> bytes:
        """BIP 310: grant version rolling within BIP 320's mask."""
        extensions = params[0] if params and type(params[0]) is list else []
        options = params[1] if len(params) > 1 and type(params[1]) is dict else {}
        result: dict[str, Any] = {}
        if "version-rolling" in extensions:
            asked = _u32(options.get("version-rolling.mask", "ffffffff"))
            self.version_mask = VERSION_ROLLING_MASK & (0xFFFFFFFF if asked is None else asked)
            result["version-rolling"] = True
            result["version-rolling.mask"] = f"{self.version_mask:08x}"
        return _reply(msg_id, result)

    def submit(self, msg_id: Any, params: list[Any]) -> bytes:
        code, message = self._check(params)
        if code:
            self.rejected += 1
            self.endpoint.meter.reject(ERROR_NAMES[code])
            return _error(msg_id, code, message)
        self.accepted += 1
        return _TRUE % (
            str(msg_id).encode() if type(msg_id) is int else json.dumps(msg_id).encode()
        )

    def _check(self, params: list[Any]) -> tuple[int, str]:
        """0 and an accepted, metered share; or the refusal's code and message.

        The hot path of the endpoint: written flat, one pass, no helper calls that are not
        hashing, because every share of every miner comes through here."""
        if not self.subscribed:
            return NOT_SUBSCRIBED, "not subscribed"
        if not self.authorized:
            return UNAUTHORIZED, "unauthorized worker"
        endpoint = self.endpoint
        if not 5 <= len(params) <= 6:
            return OTHER, "mining.submit takes 5 or 6 parameters"
        worker, job_id, extranonce2_hex, ntime_hex, nonce_hex = params[:5]
        if worker not in self.workers:
            if not endpoint.authorize(worker):
                return UNAUTHORIZED, "unauthorized worker"
            self.workers.add(worker)
        live = endpoint.jobs.get(job_id) if type(job_id) is str else None
        sent = self.job_difficulty.get(job_id) if live is not None else None
        if live is None or sent is None:
            return STALE, "job not found"
        now = endpoint.now_s()
        if not endpoint.start_s <= now < endpoint.end_s or endpoint.meter.budget_spent:
            return OTHER, endpoint.closed_reason() or "contract closed"
        try:
            extranonce2 = bytes.fromhex(extranonce2_hex)
            ntime_raw = bytes.fromhex(ntime_hex)
            nonce_raw = bytes.fromhex(nonce_hex)
            bits_raw = bytes.fromhex(params[5]) if len(params) == 6 else None
        except (ValueError, TypeError):
            return OTHER, "malformed share (fields must be hex)"
        if (
            len(extranonce2) != EXTRANONCE2_SIZE
            or len(ntime_raw) != 4
            or len(nonce_raw) != 4
            or (bits_raw is not None and len(bits_raw) != 4)
        ):
            return OTHER, "malformed share (field lengths)"
        job = live.job
        ntime = int.from_bytes(ntime_raw, "big")
        if not job.ntime <= ntime <= job.ntime + NTIME_ROLL_MAX_S:
            return OTHER, "ntime out of range"
        version = job.version
        if bits_raw is not None:
            bits = int.from_bytes(bits_raw, "big")
            if bits & ~self.version_mask:
                return OTHER, "version bits outside the negotiated mask"
            version = (version & ~self.version_mask) | bits
        key = (self.extranonce1, extranonce2, ntime, nonce_raw, version)
        seen = live.seen
        if key in seen:
            return DUPLICATE, "duplicate share"
        _, target, tally = sent
        sha = _sha256
        root = sha(sha(job.coinb1 + self.extranonce1 + extranonce2 + job.coinb2).digest()).digest()
        for step in job.merkle_branch:
            root = sha(sha(root + step).digest()).digest()
        header = _HEADER.pack(version, job.prevhash, root, ntime, job.nbits) + nonce_raw[::-1]
        if int.from_bytes(sha(sha(header).digest()).digest(), "little") > target:
            return LOW_DIFFICULTY, "low difficulty share"
        seen.add(key)
        tally[0] += 1
        return 0, ""


_TARGETS: dict[Fraction, int] = {}


def difficulty_target_cached(difficulty: Fraction) -> int:
    target = _TARGETS.get(difficulty)
    if target is None:
        if len(_TARGETS) > 1024:
            _TARGETS.clear()
        target = _TARGETS[difficulty] = difficulty_target(difficulty)
    return target


def _difficulty_wire(difficulty: Fraction) -> int | float:
    """Stratum sends difficulty as a JSON number: an integer when it is one."""
    return int(difficulty) if difficulty.denominator == 1 else float(difficulty)
