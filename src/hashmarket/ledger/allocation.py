"""Exact pro-rata allocation of an integer amount: the largest-remainder rule.

Each holder first gets ``floor(total × weight / Σ weights)``. The units left over (fewer than
the number of holders with a non-zero remainder) go one each to the holders with the largest
remainders ``total × weight mod Σ weights``; equal remainders go to the smaller key (account
id) first. So the shares add up to ``total`` exactly, every share is within one unit of the
exact quotient, a zero weight gets nothing, and the result depends only on the (key, weight)
pairs, not on their order.

All arithmetic is on integers. NumPy does it when every product fits in 64 bits (a daily
distribution of up to ~9.2e18 / total_sats token units); otherwise Python's big integers do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_INT64_MAX = 2**63 - 1


def allocate(total: int, weights: Sequence[tuple[int, int]]) -> list[int]:
    """Shares of ``total`` for ``(key, weight)`` pairs, in input order (see module doc).

    Keys must be distinct integers; weights and ``total`` non-negative integers. A positive
    total needs a positive total weight.
    """
    if type(total) is not int or total < 0:
        raise ValueError(f"total must be a non-negative int, got {total!r}")
    n = len(weights)
    weight_sum = 0
    for key, weight in weights:
        if type(key) is not int or type(weight) is not int or weight < 0:
            raise ValueError(f"weights are (int key, int weight >= 0) pairs, got {(key, weight)!r}")
        weight_sum += weight
    if len({key for key, _ in weights}) != n:
        raise ValueError("keys must be distinct")
    if weight_sum == 0:
        if total:
            raise ValueError("cannot allocate a positive total over zero weights")
        return [0] * n
    if n == 0:
        return []
    largest = max(weight for _, weight in weights)
    if total * largest <= _INT64_MAX and weight_sum <= _INT64_MAX:
        shares = _allocate_int64(total, weights, weight_sum)
    else:
        shares = _allocate_python(total, weights, weight_sum)
    assert sum(shares) == total, "largest remainder must hand out the total exactly"
    return shares


def _allocate_int64(total: int, weights: Sequence[tuple[int, int]], weight_sum: int) -> list[int]:
    keys = np.fromiter((k for k, _ in weights), dtype=np.int64, count=len(weights))
    w = np.fromiter((v for _, v in weights), dtype=np.int64, count=len(weights))
    product = w * np.int64(total)  # no overflow: checked by the caller
    shares = product // np.int64(weight_sum)
    remainders = product % np.int64(weight_sum)
    left = total - int(shares.sum())
    if left:
        # lexsort sorts by the last key first: remainder descending, then account id.
        order = np.lexsort((keys, -remainders))
        shares[order[:left]] += 1
    return [int(x) for x in shares]


def _allocate_python(total: int, weights: Sequence[tuple[int, int]], weight_sum: int) -> list[int]:
    shares: list[int] = []
    remainders: list[tuple[int, int, int]] = []
    for index, (key, weight) in enumerate(weights):
        share, remainder = divmod(total * weight, weight_sum)
        shares.append(share)
        remainders.append((-remainder, key, index))
    left = total - sum(shares)
    remainders.sort()
    for _, _, index in remainders[:left]:
        shares[index] += 1
    return shares
