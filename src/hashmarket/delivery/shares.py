"""Stratum V1 jobs and shares: the block header a share commits to, built and hashed exactly.

Byte orders, field by field (Stratum V1 as every pool and ASIC firmware speaks it):

* ``prevhash`` in ``mining.notify`` is the previous block hash *as it sits in the header*
  (internal byte order, the reverse of the hex explorers print) with every 4-byte word
  byte-swapped. Undoing the word swap gives the header's 32 bytes.
* ``version``, ``nbits`` and ``ntime`` in ``mining.notify``, and ``ntime``, ``nonce`` and
  ``version_bits`` in ``mining.submit``, are 8 hex digits of a 32-bit integer written
  big-endian; the header stores each little-endian.
* ``coinb1``, ``coinb2``, ``extranonce1`` and ``extranonce2`` are raw bytes in hex. The coinbase
  transaction is ``coinb1 + extranonce1 + extranonce2 + coinb2``; its txid is the double SHA-256
  of those bytes (internal order, not reversed).
* ``merkle_branch`` entries are hashes in internal order. The root starts as the coinbase
  txid and each step is ``root = dsha256(root + branch)`` (the coinbase is always the leftmost
  leaf); the result goes into the header as it is.
* The header is ``version ‖ prevhash ‖ merkle_root ‖ ntime ‖ nbits ‖ nonce`` (80 bytes); its
  double SHA-256 read as a little-endian 256-bit integer is compared with the target.

A share of difficulty ``d`` has target ``⌊T₁ / d⌋`` where ``T₁ = 0xffff × 2²⁰⁸`` is the
difficulty-1 target (nBits ``1d00ffff``, Core's proof-of-work limit), and is worth ``d × 2³²``
hashes of work: the expected number of hashes per share, the convention pools pay by.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from fractions import Fraction

from hashmarket.chain import POW_LIMIT
from hashmarket.units import TWO_POW_32

DIFF1_TARGET = POW_LIMIT  # 0x00000000ffff0000…0000
MAX_TARGET = (1 << 256) - 1
VERSION_ROLLING_MASK = 0x1FFFE000  # BIP 320: the bits a miner may roll
NTIME_ROLL_MAX_S = 7_200  # Bitcoin refuses a header more than two hours in the future

_HEADER = struct.Struct("<I32s32sIII")
_sha256 = hashlib.sha256


def dsha256(data: bytes) -> bytes:
    """SHA-256 of SHA-256 of ``data``: Bitcoin's hash for headers and transactions."""
    return _sha256(_sha256(data).digest()).digest()


def swap_words(data: bytes) -> bytes:
    """Reverse the bytes of every 4-byte word (Stratum's ``prevhash`` encoding, both ways)."""
    if len(data) % 4:
        raise ValueError(f"{len(data)} bytes is not a whole number of 4-byte words")
    return b"".join(data[i : i + 4][::-1] for i in range(0, len(data), 4))


def difficulty_target(difficulty: Fraction | int) -> int:
    """The share target of a Stratum difficulty: ``⌊T₁ / d⌋``, at most 2²⁵⁶ − 1."""
    d = Fraction(difficulty)
    if d <= 0:
        raise ValueError(f"a share difficulty must be positive, got {difficulty!r}")
    return min(MAX_TARGET, DIFF1_TARGET * d.denominator // d.numerator)


def share_work_hashes(difficulty: Fraction | int) -> Fraction:
    """Hashes of work one share of ``difficulty`` stands for: ``d × 2³²``."""
    return Fraction(difficulty) * TWO_POW_32


def merkle_root(coinbase_txid: bytes, branch: tuple[bytes, ...]) -> bytes:
    """The header's merkle root from the coinbase txid and the branch (internal order)."""
    root = coinbase_txid
    for step in branch:
        root = _sha256(_sha256(root + step).digest()).digest()
    return root


def merkle_branch(txids: list[bytes]) -> tuple[bytes, ...]:
    """The branch a pool sends for the leftmost leaf of the tree over ``txids`` (internal
    order, coinbase first), Bitcoin's tree: an odd level duplicates its last hash."""
    branch: list[bytes] = []
    level = list(txids)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        branch.append(level[1])
        level = [dsha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return tuple(branch)


def header_bytes(
    *, version: int, prevhash: bytes, merkle_root: bytes, ntime: int, nbits: int, nonce: int
) -> bytes:
    """The 80-byte header (``prevhash`` and ``merkle_root`` in internal order)."""
    return _HEADER.pack(version, prevhash, merkle_root, ntime, nbits, nonce)


def hash_value(header: bytes) -> int:
    """A header's double SHA-256 as the integer compared with targets (little-endian)."""
    return int.from_bytes(dsha256(header), "little")


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of work, as ``mining.notify`` sends it (fields in header byte order)."""

    job_id: str
    prevhash: bytes  # 32 bytes, internal order (as in the header)
    coinb1: bytes
    coinb2: bytes
    merkle_branch: tuple[bytes, ...]
    version: int
    nbits: int
    ntime: int
    clean_jobs: bool = True

    def notify_params(self) -> list[object]:
        """The ``mining.notify`` parameters in Stratum's wire encoding."""
        return [
            self.job_id,
            swap_words(self.prevhash).hex(),
            self.coinb1.hex(),
            self.coinb2.hex(),
            [b.hex() for b in self.merkle_branch],
            f"{self.version:08x}",
            f"{self.nbits:08x}",
            f"{self.ntime:08x}",
            self.clean_jobs,
        ]

    @classmethod
    def from_notify(cls, params: list[object]) -> Job:
        """A job from ``mining.notify`` parameters (what a miner receives)."""
        job_id, prevhash, coinb1, coinb2, branch, version, nbits, ntime, clean = params
        assert isinstance(branch, list)
        return cls(
            job_id=str(job_id),
            prevhash=swap_words(bytes.fromhex(str(prevhash))),
            coinb1=bytes.fromhex(str(coinb1)),
            coinb2=bytes.fromhex(str(coinb2)),
            merkle_branch=tuple(bytes.fromhex(str(b)) for b in branch),
            version=int(str(version), 16),
            nbits=int(str(nbits), 16),
            ntime=int(str(ntime), 16),
            clean_jobs=bool(clean),
        )

    def header(
        self, extranonce1: bytes, extranonce2: bytes, *, ntime: int, nonce: int, version: int
    ) -> bytes:
        """The header a share with these fields commits to."""
        coinbase = self.coinb1 + extranonce1 + extranonce2 + self.coinb2
        root = merkle_root(dsha256(coinbase), self.merkle_branch)
        return _HEADER.pack(version, self.prevhash, root, ntime, self.nbits, nonce)

    def rolled_version(self, version_bits: int, mask: int) -> int:
        """BIP 310: the job's version with the miner's bits inside ``mask``."""
        return (self.version & ~mask) | (version_bits & mask)


def share_hash(
    job: Job,
    extranonce1: bytes,
    extranonce2: bytes,
    *,
    ntime: int,
    nonce: int,
    version: int | None = None,
) -> int:
    """The hash value of a share (compare with :func:`difficulty_target`)."""
    header = job.header(
        extranonce1,
        extranonce2,
        ntime=ntime,
        nonce=nonce,
        version=job.version if version is None else version,
    )
    return hash_value(header)
