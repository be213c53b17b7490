"""Signed heartbeats: one per GPU per minute, from the node that serves a lease's block.

A :class:`NodeAgent` runs on the seller's node with its Ed25519 key. Every minute it reads each
GPU (utilisation and power draw; in production from NVML / ``nvidia-smi``, passed in as
readings so the agent has no clock and no driver of its own) and signs one
:class:`Heartbeat` per device: the lease, the block (the group of GPUs a lease rents
together), the device's identity (its GPU UUID), the Unix minute, utilisation in basis
points and power in watts. The buyer may counter-sign what it received (:func:`countersign`),
which makes the heartbeat a receipt both sides hold.

What is signed is :meth:`Heartbeat.message`: a fixed domain tag then the fields as canonical
JSON (sorted keys, no spaces), so a signature can never be replayed as a signature of anything
else, including a heartbeat of another lease, block, device or minute. The buyer signs the
same message followed by the node's 64-byte signature.

A heartbeat file has one JSON object per line: ``heartbeat`` (the fields), ``signature`` and,
optionally, ``buyer_signature`` (hex), and ``received_at_s``, the Unix second the collector
received it (not signed: it is the collector's observation, and lateness is judged on it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hashmarket.errors import DataError, Location

DOMAIN = b"hashmarket heartbeat v1\n"
_quote = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str (ASCII-safe)
BASIS_POINTS = 10_000
# The last Unix minute a datetime can name (9999-12-31 23:59 UTC): a minute past it is no
# moment at all, and every sum of minutes a lease or report makes stays far inside int64.
MINUTE_MAX = 4_223_371_679
# No one GPU draws a megawatt; the bound keeps a report's energy sum (W × 60 s per minute,
# over every heartbeat) inside int64 however many heartbeats it reads.
POWER_W_MAX = 1_000_000
SIGNATURE_BYTES = 64


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One GPU's minute, as the node attests it."""

    lease_id: str
    block_id: str
    device_id: str
    minute: int  # Unix time // 60: the minute [60·minute, 60·minute + 60) UTC
    utilisation_bp: int  # 0 … 10,000 basis points of the GPU's compute
    power_w: int

    def __post_init__(self) -> None:
        for name in ("lease_id", "block_id", "device_id"):
            value = getattr(self, name)
            if type(value) is not str or not value or not value.isprintable():
                raise ValueError(f"{name} must be non-empty printable text, got {value!r}")
        for name in ("minute", "utilisation_bp", "power_w"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        for name, bound in (
            ("minute", MINUTE_MAX),
            ("utilisation_bp", BASIS_POINTS),
            ("power_w", POWER_W_MAX),
        ):
            value = getattr(self, name)
            if value > bound:
                raise ValueError(f"{name} must be at most {bound}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "lease_id": self.lease_id,
            "block_id": self.block_id,
            "device_id": self.device_id,
            "minute": self.minute,
            "utilisation_bp": self.utilisation_bp,
            "power_w": self.power_w,
        }

    def message(self) -> bytes:
        """The bytes the node signs: ``json.dumps(self.to_dict(), sort_keys=True,
        separators=(",", ":"))`` after the domain tag, written out by hand because verifying
        a day of a large lease's heartbeats builds millions of them (the test suite checks
        the two agree)."""
        return (
            b'%s{"block_id":%s,"device_id":%s,"lease_id":%s,'
            b'"minute":%d,"power_w":%d,"utilisation_bp":%d}'
            % (
                DOMAIN,
                _quote(self.block_id).encode(),
                _quote(self.device_id).encode(),
                _quote(self.lease_id).encode(),
                self.minute,
                self.power_w,
                self.utilisation_bp,
            )
        )


@dataclass(frozen=True, slots=True)
class SignedHeartbeat:
    heartbeat: Heartbeat
    signature: bytes
    buyer_signature: bytes | None = None
    received_at_s: int | None = None

    def to_line(self) -> str:
        row: dict[str, Any] = {
            "heartbeat": self.heartbeat.to_dict(),
            "signature": self.signature.hex(),
        }
        if self.buyer_signature is not None:
            row["buyer_signature"] = self.buyer_signature.hex()
        if self.received_at_s is not None:
            row["received_at_s"] = self.received_at_s
        return json.dumps(row, sort_keys=True)

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> SignedHeartbeat:
        fields = row["heartbeat"]
        if not isinstance(fields, dict):
            raise ValueError("heartbeat must be an object")
        buyer = row.get("buyer_signature")
        received = row.get("received_at_s")
        if received is not None and (type(received) is not int or received < 0):
            raise ValueError(f"received_at_s must be a Unix second, got {received!r}")
        return cls(
            heartbeat=Heartbeat(**fields),
            signature=bytes.fromhex(str(row["signature"])),
            buyer_signature=None if buyer is None else bytes.fromhex(str(buyer)),
            received_at_s=received,
        )

    def received(self, at_s: int) -> SignedHeartbeat:
        """The same heartbeat stamped with the collector's receipt time."""
        return SignedHeartbeat(self.heartbeat, self.signature, self.buyer_signature, at_s)


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def load_public_key(text: str) -> Ed25519PublicKey:
    """A raw 32-byte Ed25519 public key written in hex."""
    raw = bytes.fromhex(text)
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_signature(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True, slots=True)
class GpuReading:
    """What the node read from one GPU for a minute."""

    utilisation_bp: int
    power_w: int


class NodeAgent:
    """Signs the heartbeats of one block of a lease."""

    def __init__(self, key: Ed25519PrivateKey, *, lease_id: str, block_id: str) -> None:
        self._key = key
        self.lease_id = lease_id
        self.block_id = block_id

    @property
    def public_key_hex(self) -> str:
        return public_key_hex(self._key)

    def sign(self, heartbeat: Heartbeat) -> SignedHeartbeat:
        return SignedHeartbeat(heartbeat, self._key.sign(heartbeat.message()))

    def beat(self, minute: int, readings: Mapping[str, GpuReading]) -> list[SignedHeartbeat]:
        """One signed heartbeat per device read this minute (device id → reading)."""
        return [
            self.sign(
                Heartbeat(
                    lease_id=self.lease_id,
                    block_id=self.block_id,
                    device_id=device_id,
                    minute=minute,
                    utilisation_bp=reading.utilisation_bp,
                    power_w=reading.power_w,
                )
            )
            for device_id, reading in sorted(readings.items())
        ]


def countersign(key: Ed25519PrivateKey, signed: SignedHeartbeat) -> SignedHeartbeat:
    """The buyer's signature over the heartbeat and the node's signature of it."""
    buyer = key.sign(signed.heartbeat.message() + signed.signature)
    return SignedHeartbeat(signed.heartbeat, signed.signature, buyer, signed.received_at_s)


def read_heartbeats(path: Path) -> Iterator[SignedHeartbeat]:
    """The heartbeats of a file; a malformed line is a DataError naming file and line."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError("file_not_found", location=Location(str(path))) from exc
    except OSError as exc:
        raise DataError("file_unreadable", location=Location(str(path)), detail=exc) from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield SignedHeartbeat.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(
                    "heartbeat_file", location=Location(str(path), number), problem=str(exc)
                ) from exc
