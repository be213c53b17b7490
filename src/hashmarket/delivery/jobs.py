"""Jobs for a contract's miners when no upstream pool supplies them.

In production the endpoint relays the buyer's pool's jobs (see ``docs/delivery.md``); for a
standalone endpoint, tests and benchmarks, :class:`JobFactory` builds real, well-formed jobs:
a version-1 coinbase transaction whose input script starts with the BIP 34 height push and
then leaves room for ``extranonce1 + extranonce2``, one output paying ``payout_script``, and
the merkle branch of the block's other transactions. Job ids carry the contract id, so a
share for one contract's job can never be mistaken for another's.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field

from hashmarket.delivery.shares import Job, merkle_branch
from hashmarket.delivery.stratum import EXTRANONCE2_SIZE

EXTRANONCE1_SIZE = 4
# OP_RETURN "hashmarket": a payout that burns nothing and claims nothing, for synthetic jobs.
DEFAULT_PAYOUT_SCRIPT = bytes.fromhex("6a0a") + b"hashmarket"


def _push_int(value: int) -> bytes:
    """A minimal script push of a non-negative integer (BIP 34's height encoding)."""
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little") if value else b""
    return bytes([len(raw)]) + raw


def coinbase_parts(
    height: int, *, value_sats: int, payout_script: bytes, tag: bytes = b"/hashmarket/"
) -> tuple[bytes, bytes]:
    """``(coinb1, coinb2)`` of a coinbase paying ``value_sats`` to ``payout_script``."""
    script_head = _push_int(height)
    script_len = len(script_head) + EXTRANONCE1_SIZE + EXTRANONCE2_SIZE + len(tag)
    if script_len > 100:
        raise ValueError("coinbase script longer than the 100 bytes consensus allows")
    coinb1 = (
        struct.pack("<I", 1)  # tx version
        + b"\x01"  # one input
        + bytes(32)
        + b"\xff\xff\xff\xff"  # the null outpoint
        + bytes([script_len])
        + script_head
    )
    coinb2 = (
        tag
        + b"\xff\xff\xff\xff"  # sequence
        + b"\x01"  # one output
        + struct.pack("<q", value_sats)
        + bytes([len(payout_script)])
        + payout_script
        + struct.pack("<I", 0)  # lock time
    )
    return coinb1, coinb2


@dataclass
class JobFactory:
    """Well-formed jobs for one contract, numbered from 1."""

    contract_id: str
    prevhash: bytes  # internal order
    height: int
    nbits: int
    version: int = 0x20000000
    payout_script: bytes = DEFAULT_PAYOUT_SCRIPT
    value_sats: int = 312_500_000
    other_txids: tuple[bytes, ...] = ()
    _numbers: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )

    def job(self, ntime: int, *, clean_jobs: bool = True) -> Job:
        coinb1, coinb2 = coinbase_parts(
            self.height, value_sats=self.value_sats, payout_script=self.payout_script
        )
        # The coinbase's own txid is a placeholder for the branch: only its siblings count.
        branch = merkle_branch([bytes(32), *self.other_txids])
        return Job(
            job_id=f"{self.contract_id}:{next(self._numbers):x}",
            prevhash=self.prevhash,
            coinb1=coinb1,
            coinb2=coinb2,
            merkle_branch=branch,
            version=self.version,
            nbits=self.nbits,
            ntime=ntime,
            clean_jobs=clean_jobs,
        )
