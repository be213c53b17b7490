"""The Merkle sum tree of holder balances and its inclusion proofs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import pytest

from hashmarket.ledger.reserves import (
    InclusionProof,
    Root,
    Step,
    context_digest,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_proof,
)

DAY = dt.date(2025, 1, 10)


def test_three_leaves_by_hand():
    ctx = context_digest("HT1", DAY)
    assert ctx == hashlib.sha256(b"hashmarket reserves v1\x00HT1\x002025-01-10").digest()
    a, b, c = leaf_hash(ctx, 1, 5), leaf_hash(ctx, 2, 7), leaf_hash(ctx, 9, 3)
    assert (
        a
        == hashlib.sha256(b"\x00" + ctx + (1).to_bytes(8, "big") + (5).to_bytes(16, "big")).digest()
    )
    # Level 1: (a, b) hashed together, c carried up; level 2: the root.
    ab = node_hash(a, 5, b, 7)
    root = merkle_root("HT1", DAY, [(1, 5), (2, 7), (9, 3)])
    assert root == Root(node_hash(ab, 12, c, 3), 15, 3)


def test_empty_tree():
    root = merkle_root("HT1", DAY, [])
    assert root == Root(hashlib.sha256(b"\x02" + context_digest("HT1", DAY)).digest(), 0, 0)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17])
def test_every_leaf_has_a_valid_proof(size: int):
    leaves = [(10 + 3 * i, (i * 37) % 11) for i in range(size)]
    root = merkle_root("HT1", DAY, leaves)
    assert root.total == sum(b for _, b in leaves)
    for account_id, balance in leaves:
        proof = inclusion_proof("HT1", DAY, leaves, account_id)
        assert proof.balance == balance
        assert proof.root == root
        assert verify_proof(proof, root=root)


def test_tampered_proofs_fail():
    leaves = [(i, i * 10) for i in range(1, 12)]
    proof = inclusion_proof("HT1", DAY, leaves, 6)
    assert verify_proof(proof)
    first = proof.path[0]
    bad = [
        dataclasses.replace(proof, balance=proof.balance + 1),
        dataclasses.replace(proof, account_id=7),
        dataclasses.replace(proof, day=DAY + dt.timedelta(days=1)),
        dataclasses.replace(proof, series="HT2"),
        dataclasses.replace(
            proof, path=(Step(first.side, first.hash, first.total + 1), *proof.path[1:])
        ),
        dataclasses.replace(
            proof,
            path=(
                Step("left" if first.side == "right" else "right", first.hash, first.total),
                *proof.path[1:],
            ),
        ),
        dataclasses.replace(proof, root=Root(proof.root.hash, proof.root.total - 1, 11)),
    ]
    for tampered in bad:
        assert not verify_proof(tampered), tampered
    # A published root that differs from the proof's is a failure too.
    assert not verify_proof(proof, root=Root(bytes(32), proof.root.total, 11))


def test_negative_sums_are_refused_even_when_the_hashes_agree():
    # A dishonest tree: a negative sibling (two's complement in 16 bytes) hides 50 of
    # Alice's 60, and the root is hashed consistently with it.
    ctx = context_digest("HT1", DAY)
    alice = leaf_hash(ctx, 1, 60)
    minus_50 = (2**128 - 50).to_bytes(16, "big")
    hidden = hashlib.sha256(b"\x00" + ctx + (2).to_bytes(8, "big") + minus_50).digest()
    root_hash = hashlib.sha256(
        b"\x01" + alice + (60).to_bytes(16, "big") + hidden + minus_50
    ).digest()
    forged = InclusionProof(
        series="HT1",
        day=DAY,
        account_id=1,
        balance=60,
        leaf_index=0,
        path=(Step("right", hidden, -50),),
        root=Root(root_hash, 10, 2),
    )
    assert verify_proof(forged) is False


def test_proof_json_round_trip():
    leaves = [(i, i) for i in range(1, 6)]
    proof = inclusion_proof("HT1", DAY, leaves, 4)
    text = json.dumps(proof.to_dict())
    again = InclusionProof.from_dict(json.loads(text))
    assert again == proof
    assert verify_proof(again)


def test_leaves_must_be_sorted_distinct_and_non_negative():
    for leaves in ([(2, 1), (1, 1)], [(1, 1), (1, 2)], [(1, -1)], [(1, 1.5)]):
        with pytest.raises(ValueError, match=r"leaves|balance"):
            merkle_root("HT1", DAY, leaves)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        inclusion_proof("HT1", DAY, [(1, 1)], 2)
