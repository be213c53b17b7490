"""Ed25519 signature checks of many heartbeats at once, spread over processes.

One heartbeat's check is one Ed25519 verification, done in OpenSSL while holding the GIL, so
threads add nothing; a collector that receives a heartbeat per GPU per minute from thousands
of GPUs verifies them in batches, one process per core. Each worker gets whole chunks of
``(public key, signature, message)`` as bytes (keys are loaded once per worker and chunk) and
answers one bool per item, in order. The result is the same as checking one by one
(:func:`~hashmarket.delivery.heartbeats.verify_signature`): only where the work runs differs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hashmarket.delivery.heartbeats import SIGNATURE_BYTES

# (raw 32-byte public key, 64-byte signature, signed message)
Item = tuple[bytes, bytes, bytes]
CHUNKS_PER_WORKER = 4  # a few chunks each, so a slow worker does not hold the batch back


def verify_chunk(items: Sequence[Item]) -> list[bool]:
    """Check each item's signature (a worker's task; also the one-process path)."""
    keys: dict[bytes, Ed25519PublicKey | None] = {}
    out: list[bool] = []
    for raw_key, signature, message in items:
        if raw_key in keys:
            key = keys[raw_key]
        else:
            try:
                key = Ed25519PublicKey.from_public_bytes(raw_key)
            except ValueError:
                key = None
            keys[raw_key] = key
        if key is None or len(signature) != SIGNATURE_BYTES:
            out.append(False)
            continue
        try:
            key.verify(signature, message)
        except InvalidSignature:
            out.append(False)
        else:
            out.append(True)
    return out


def default_processes() -> int:
    """One worker per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def verify_many(
    items: Sequence[Item], *, executor: Executor | None = None, processes: int | None = None
) -> list[bool]:
    """Whether each item's signature verifies, checked in parallel: on ``executor`` if given
    (a long-lived pool, as a collector keeps one), else on a pool of ``processes`` workers
    made for this call (default: one per core). One process checks in place."""
    workers = processes or default_processes()
    if executor is None and workers <= 1:
        return verify_chunk(items)
    size = max(1, -(-len(items) // (workers * CHUNKS_PER_WORKER)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    if executor is not None:
        return [ok for part in executor.map(verify_chunk, chunks) for ok in part]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [ok for part in pool.map(verify_chunk, chunks) for ok in part]
