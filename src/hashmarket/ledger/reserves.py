"""Proof of reserves: a Merkle sum tree of holder balances.

Every node carries a hash and the sum of the balances below it. A leaf commits to a holder's
account id and balance; an inner node commits to both children's hashes *and* sums, so the
root's sum is the total the issuer owes, and a holder's inclusion proof shows that their
balance is counted in it. A verifier also checks that every sum on the path is non-negative:
without that, an issuer could offset a holder's balance with a negative sibling and publish a
smaller total.

Construction (version 1):

* ``context = SHA-256("hashmarket reserves v1" ‖ 0 ‖ series ‖ 0 ‖ YYYY-MM-DD)`` binds a tree
  to one series and one day, so a proof cannot be replayed against another publication;
* leaf: ``SHA-256(0x00 ‖ context ‖ account_id (8 bytes) ‖ balance (16 bytes))``, leaves in
  account-id order;
* node: ``SHA-256(0x01 ‖ left hash ‖ left sum (16 bytes) ‖ right hash ‖ right sum)``;
* a level with an odd count carries its last node up unchanged (no duplication);
* no holders: the root is ``SHA-256(0x02 ‖ context)`` with sum 0.

All integers are big-endian and unsigned; the domain bytes 0x00/0x01/0x02 keep leaves, nodes
and the empty root apart.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

VERSION = 1
_LEAF, _NODE, _EMPTY = b"\x00", b"\x01", b"\x02"
_SUM_BYTES = 16


def context_digest(series: str, day: dt.date) -> bytes:
    text = f"hashmarket reserves v{VERSION}\x00{series}\x00{day.isoformat()}"
    return hashlib.sha256(text.encode("utf-8")).digest()


def leaf_hash(context: bytes, account_id: int, balance: int) -> bytes:
    return hashlib.sha256(
        _LEAF + context + account_id.to_bytes(8, "big") + balance.to_bytes(_SUM_BYTES, "big")
    ).digest()


def node_hash(left: bytes, left_sum: int, right: bytes, right_sum: int) -> bytes:
    return hashlib.sha256(
        _NODE
        + left
        + left_sum.to_bytes(_SUM_BYTES, "big")
        + right
        + right_sum.to_bytes(_SUM_BYTES, "big")
    ).digest()


@dataclass(frozen=True, slots=True)
class Root:
    hash: bytes
    total: int
    leaf_count: int


@dataclass(frozen=True, slots=True)
class Step:
    """One sibling on the path from a leaf to the root."""

    side: str  # "left" or "right": where the sibling sits
    hash: bytes
    total: int


@dataclass(frozen=True, slots=True)
class InclusionProof:
    series: str
    day: dt.date
    account_id: int
    balance: int
    leaf_index: int
    path: tuple[Step, ...]
    root: Root

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "series": self.series,
            "day": self.day.isoformat(),
            "account_id": self.account_id,
            "balance_units": self.balance,
            "leaf_index": self.leaf_index,
            "path": [{"side": s.side, "hash": s.hash.hex(), "total": s.total} for s in self.path],
            "root": {
                "hash": self.root.hash.hex(),
                "total": self.root.total,
                "leaf_count": self.root.leaf_count,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InclusionProof:
        """Parse a proof file's JSON; raises ``ValueError`` (or ``KeyError``/``TypeError``)
        on anything malformed."""
        if data.get("version") != VERSION:
            raise ValueError(f"unknown proof version {data.get('version')!r}")
        path = tuple(
            Step(side=str(s["side"]), hash=bytes.fromhex(s["hash"]), total=_int(s["total"]))
            for s in data["path"]
        )
        root = data["root"]
        return cls(
            series=str(data["series"]),
            day=dt.date.fromisoformat(data["day"]),
            account_id=_int(data["account_id"]),
            balance=_int(data["balance_units"]),
            leaf_index=_int(data["leaf_index"]),
            path=path,
            root=Root(bytes.fromhex(root["hash"]), _int(root["total"]), _int(root["leaf_count"])),
        )


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _check_leaves(leaves: Sequence[tuple[int, int]]) -> None:
    previous = -1
    for account_id, balance in leaves:
        if type(account_id) is not int or account_id <= previous:
            raise ValueError("leaves must be in strictly increasing account-id order")
        if type(balance) is not int or not 0 <= balance < 2**63:
            raise ValueError(f"account {account_id}: balance must be an int in 0 … 2**63 - 1")
        previous = account_id
    if sum(balance for _, balance in leaves) >= 2**64:
        raise ValueError("the balances sum to 2**64 or more")


# The same bytes as leaf_hash/node_hash, packed in one call: a sum below 2**64 in 16 bytes
# big-endian is 8 zero bytes then 8 bytes of value (every sum here is part of a supply that
# fits 64 bits; _check_leaves refuses anything larger).
_LEAF_BODY = struct.Struct(">Q8xQ")
_NODE_BODY = struct.Struct(">c32s8xQ32s8xQ")


def _leaf_level(context: bytes, leaves: Sequence[tuple[int, int]]) -> list[tuple[bytes, int]]:
    sha256, pack = hashlib.sha256, _LEAF_BODY.pack
    prefix = _LEAF + context
    return [(sha256(prefix + pack(a, b)).digest(), b) for a, b in leaves]


def _up(level: list[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    sha256, pack = hashlib.sha256, _NODE_BODY.pack
    out: list[tuple[bytes, int]] = []
    append = out.append
    for i in range(0, len(level) - 1, 2):
        lh, ls = level[i]
        rh, rs = level[i + 1]
        append((sha256(pack(_NODE, lh, ls, rh, rs)).digest(), ls + rs))
    if len(level) % 2:
        append(level[-1])
    return out


def merkle_root(series: str, day: dt.date, leaves: Sequence[tuple[int, int]]) -> Root:
    """The root over ``(account_id, balance)`` leaves in increasing account-id order."""
    _check_leaves(leaves)
    context = context_digest(series, day)
    if not leaves:
        return Root(hashlib.sha256(_EMPTY + context).digest(), 0, 0)
    level = _leaf_level(context, leaves)
    while len(level) > 1:
        level = _up(level)
    return Root(level[0][0], level[0][1], len(leaves))


def inclusion_proof(
    series: str, day: dt.date, leaves: Sequence[tuple[int, int]], account_id: int
) -> InclusionProof:
    """The proof that ``account_id``'s leaf is in the tree over ``leaves``."""
    _check_leaves(leaves)
    index = bisect.bisect_left(leaves, account_id, key=lambda leaf: leaf[0])
    if index == len(leaves) or leaves[index][0] != account_id:
        raise KeyError(account_id)
    context = context_digest(series, day)
    level = _leaf_level(context, leaves)
    path: list[Step] = []
    position = index
    while len(level) > 1:
        sibling = position ^ 1
        if sibling < len(level):
            side = "left" if sibling < position else "right"
            path.append(Step(side, level[sibling][0], level[sibling][1]))
        level = _up(level)
        position //= 2
    root = Root(level[0][0], level[0][1], len(leaves))
    return InclusionProof(
        series=series,
        day=day,
        account_id=account_id,
        balance=leaves[index][1],
        leaf_index=index,
        path=tuple(path),
        root=root,
    )


def verify_proof(proof: InclusionProof, *, root: Root | None = None) -> bool:
    """Recompute the root from the leaf and its path; check every sum is non-negative and the
    result equals the proof's root (and ``root``, the published one, when given)."""
    if proof.balance < 0 or any(step.total < 0 for step in proof.path):
        return False
    if not 0 <= proof.leaf_index < proof.root.leaf_count:
        return False
    context = context_digest(proof.series, proof.day)
    current = leaf_hash(context, proof.account_id, proof.balance)
    total = proof.balance
    for step in proof.path:
        if step.side == "left":
            current = node_hash(step.hash, step.total, current, total)
        elif step.side == "right":
            current = node_hash(current, total, step.hash, step.total)
        else:
            return False
        total += step.total
    if (current, total) != (proof.root.hash, proof.root.total):
        return False
    return root is None or root == proof.root
