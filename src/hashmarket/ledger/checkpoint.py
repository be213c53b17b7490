"""Signed checkpoints: a history rewritten and re-chained from the first row is still caught.

The journal's and the registry's hash chains are unkeyed: anyone who can write the database
can rewrite a row and recompute every hash after it, and ``verify()`` then finds a perfectly
consistent ledger. A checkpoint closes that gap the way TigerBeetle's and Certificate
Transparency's signed heads do. It records, for one consistent snapshot, the journal's head
(seq and hash), the registry log's head, the state hash and the time, and is signed with an
Ed25519 key kept away from the database. Kept elsewhere (mailed, published, timestamped with
OpenTimestamps), it pins history: :func:`check` verifies the signature and that the ledger's
journal row at the checkpoint's seq, and the registry entry at its registry seq, still carry
the hashes signed, which a rewrite of anything at or before them cannot keep.

The file is JSON; the signature covers the canonical form (sorted keys, no spaces) of every
other field, behind a domain prefix so the key cannot be tricked into signing anything else.
The SHA-256 of the file's bytes is what ``ots stamp FILE`` submits to the OpenTimestamps
calendars; :func:`write` also leaves it beside the file in ``sha256sum`` format.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hashmarket.errors import UsageError
from hashmarket.ledger.clock import ns_to_datetime
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.verify import state_hash

FORMAT = "hashmarket-ledger-checkpoint/1"
_DOMAIN = b"hashmarket ledger checkpoint v1\n"
_FIELDS = (
    "format",
    "seq",
    "head_hash",
    "registry_seq",
    "registry_hash",
    "state_hash",
    "timestamp_ns",
    "time",
    "public_key",
)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    head_hash: str  # hex
    registry_seq: int
    registry_hash: str  # hex
    state_hash: str  # hex
    timestamp_ns: int  # ledger clock when signed
    time: str  # the same instant, ISO 8601 UTC
    public_key: str  # hex, raw 32 bytes
    signature: str  # hex, 64 bytes
    format: str = FORMAT

    def signed_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    def to_dict(self) -> dict[str, Any]:
        return {**self.signed_fields(), "signature": self.signature}


def _message(fields: dict[str, Any]) -> bytes:
    return _DOMAIN + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


# -- keys -------------------------------------------------------------------------------------


def generate_key(path: Path) -> str:
    """Write a new Ed25519 private key (PKCS#8 PEM, readable by its owner only) to ``path``
    and its public key (hex) to ``path.pub``; return the public key. Refuses to overwrite."""
    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists():
            raise UsageError("bad_option", option="--out", problem=f"{target} already exists")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = _public_hex(key.public_key())
    public_path.write_text(public + "\n")
    return public


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise UsageError("bad_option", option="--key", problem=f"{path}: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError("bad_option", option="--key", problem=f"{path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> str:
    """A public key file: the hex line ``ledger keygen`` writes, or a PEM public key."""
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise UsageError("bad_option", option="--public-key", problem=str(error)) from None
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if isinstance(key, Ed25519PublicKey):
            return _public_hex(key)
    elif len(text) == 64 and all(c in "0123456789abcdef" for c in text.lower()):
        return text.lower()
    raise UsageError(
        "bad_option", option="--public-key", problem=f"{path} holds no Ed25519 public key"
    )


def _public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


# -- making and reading checkpoints -------------------------------------------------------------


def create(ledger: Ledger, key: Ed25519PrivateKey) -> Checkpoint:
    """Sign the ledger's heads and state hash, read from one snapshot."""
    now_ns = ledger.clock.now_ns()
    with ledger.snapshot() as store:
        head = store.read_head()
        registry_seq, registry_hash = store.registry_tip()
        state = state_hash(store)
    unsigned = Checkpoint(
        seq=head.seq,
        head_hash=head.hash.hex(),
        registry_seq=registry_seq,
        registry_hash=registry_hash.hex(),
        state_hash=state,
        timestamp_ns=now_ns,
        time=ns_to_datetime(now_ns).isoformat().replace("+00:00", "Z"),
        public_key=_public_hex(key.public_key()),
        signature="",
    )
    signature = key.sign(_message(unsigned.signed_fields())).hex()
    return dataclasses.replace(unsigned, signature=signature)


def write(checkpoint: Checkpoint, path: Path) -> str:
    """Write the checkpoint and ``PATH.sha256`` (its digest, ``sha256sum`` format); return
    the digest in hex: the one ``ots stamp PATH`` timestamps."""
    data = (json.dumps(checkpoint.to_dict(), indent=2) + "\n").encode()
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return digest


def read(path: Path) -> Checkpoint:
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {FORMAT!r}")
        fields = {name: data[name] for name in (*_FIELDS, "signature")}
        for name in ("seq", "registry_seq", "timestamp_ns"):
            if type(fields[name]) is not int or fields[name] < 0:
                raise ValueError(f"{name} is not a non-negative integer")
        return Checkpoint(**fields)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError("bad_option", option="--checkpoint", problem=f"{path}: {error}") from None


# -- checking ------------------------------------------------------------------------------------


def signature_problem(checkpoint: Checkpoint, trusted_key: str | None = None) -> str | None:
    if trusted_key is not None and checkpoint.public_key.lower() != trusted_key:
        return (
            f"checkpoint: signed by key {checkpoint.public_key[:16]}…, not by the trusted key "
            f"{trusted_key[:16]}…"
        )
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(checkpoint.public_key))
        public.verify(bytes.fromhex(checkpoint.signature), _message(checkpoint.signed_fields()))
    except (ValueError, InvalidSignature):
        return "checkpoint: the signature does not match its contents (the file was altered)"
    return None


def check(ledger: Ledger, checkpoint: Checkpoint, *, trusted_key: str | None = None) -> list[str]:
    """Problems found checking ``ledger`` against a checkpoint (none: history up to it is
    the history that was signed)."""
    bad_signature = signature_problem(checkpoint, trusted_key)
    if bad_signature:
        return [bad_signature]
    out: list[str] = []
    with ledger.snapshot() as store:
        head = store.read_head()
        if head.seq < checkpoint.seq:
            out.append(
                f"checkpoint: the journal ends at seq {head.seq}, before the checkpoint's seq "
                f"{checkpoint.seq} (history was cut)"
            )
        elif checkpoint.seq:
            row = store.journal_row(checkpoint.seq)
            found = bytes(row[-1]).hex() if row else "no row"
            if found != checkpoint.head_hash:
                out.append(
                    f"checkpoint: journal seq {checkpoint.seq} has hash {found[:16]}…, the "
                    f"checkpoint signed {checkpoint.head_hash[:16]}… (history was rewritten)"
                )
        if checkpoint.registry_seq:
            entry = store.registry_entry(checkpoint.registry_seq)
            found = bytes(entry[-1]).hex() if entry else "no entry"
            if found != checkpoint.registry_hash:
                out.append(
                    f"checkpoint: registry seq {checkpoint.registry_seq} has hash {found[:16]}…, "
                    f"the checkpoint signed {checkpoint.registry_hash[:16]}… (registered rows "
                    "were rewritten)"
                )
    return out
