"""Properties of the largest-remainder allocation over random holdings."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashmarket.ledger.allocation import _allocate_int64, _allocate_python, allocate

weights_st = st.integers(min_value=0, max_value=10**6)
totals_st = st.one_of(st.integers(min_value=0, max_value=10**9), st.sampled_from([0, 1, 2, 3]))


@st.composite
def holdings(draw, *, max_size: int = 60):
    keys = draw(
        st.lists(
            st.integers(min_value=1, max_value=10**12), min_size=1, max_size=max_size, unique=True
        )
    )
    weights = draw(st.lists(weights_st, min_size=len(keys), max_size=len(keys)))
    if sum(weights) == 0:
        weights[0] = draw(st.integers(min_value=1, max_value=10**6))
    return list(zip(keys, weights, strict=True))


def check(total: int, pairs: list[tuple[int, int]], shares: list[int]) -> None:
    weight_sum = sum(w for _, w in pairs)
    assert sum(shares) == total
    for (_, weight), share in zip(pairs, shares, strict=True):
        exact = Fraction(total * weight, weight_sum)
        assert abs(share - exact) < 1
        assert share >= 0
        if weight == 0:
            assert share == 0


@settings(max_examples=300, deadline=None)
@given(total=totals_st, pairs=holdings())
def test_shares_sum_exactly_and_each_is_within_one_unit(total, pairs):
    check(total, pairs, allocate(total, pairs))


@settings(max_examples=200, deadline=None)
@given(total=totals_st, pairs=holdings(), data=st.data())
def test_result_does_not_depend_on_input_order(total, pairs, data):
    shuffled = data.draw(st.permutations(pairs))
    by_key = dict(zip([k for k, _ in pairs], allocate(total, pairs), strict=True))
    again = dict(zip([k for k, _ in shuffled], allocate(total, shuffled), strict=True))
    assert by_key == again


@settings(max_examples=200, deadline=None)
@given(total=totals_st, pairs=holdings())
def test_integer_paths_agree(total, pairs):
    weight_sum = sum(w for _, w in pairs)
    assert _allocate_int64(total, pairs, weight_sum) == _allocate_python(total, pairs, weight_sum)


@settings(max_examples=100, deadline=None)
@given(pairs=holdings(), total=st.integers(min_value=10**13, max_value=10**20))
def test_big_integers_take_the_exact_path(pairs, total):
    # total × weight passes 64 bits here: the Python path must still be exact.
    check(total, pairs, allocate(total, pairs))


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    total=st.one_of(st.sampled_from([0, 1, 2, 9_999, 10_000, 10_001]), st.integers(0, 10**9)),
    zeros=st.floats(min_value=0.0, max_value=0.9),
)
def test_ten_thousand_random_holders(seed, total, zeros):
    """10^4 holders with random balances (a share of them zero) and 1-sat-scale totals."""
    rng = np.random.default_rng(seed)
    keys = rng.choice(10**9, size=10_000, replace=False) + 1
    weights = rng.integers(1, 10**6, size=10_000)
    weights[rng.random(10_000) < zeros] = 0
    weights[0] = max(int(weights[0]), 1)
    pairs = [(int(k), int(w)) for k, w in zip(keys, weights, strict=True)]
    shares = allocate(total, pairs)
    check(total, pairs, shares)
    assert sum(1 for s in shares if s) <= min(total, sum(1 for _, w in pairs if w))


def test_one_sat_goes_to_the_largest_holding_then_the_smallest_id():
    assert allocate(1, [(5, 3), (2, 7), (9, 7)]) == [0, 1, 0]
    assert allocate(2, [(5, 3), (2, 7), (9, 7)]) == [0, 1, 1]


def test_ten_thousand_holders_and_one_sat_totals():
    pairs = [(key, 1 + key % 3) for key in range(1, 10_001)]
    for total in (0, 1, 2, 3, 9_999, 10_001):
        shares = allocate(total, pairs)
        check(total, pairs, shares)
    shares = allocate(3, pairs)
    # Weight 3 holders (key % 3 == 2) have the largest remainders; the three smallest ids win.
    assert [k for (k, _), s in zip(pairs, shares, strict=True) if s] == [2, 5, 8]


def test_one_holder_gets_everything_and_zeros_get_nothing():
    assert allocate(12_345, [(7, 1)]) == [12_345]
    assert allocate(10, [(1, 0), (2, 5), (3, 0)]) == [0, 10, 0]
    assert allocate(0, [(1, 0), (2, 0)]) == [0, 0]
    assert allocate(0, []) == []


def test_worked_example():
    # 100 sats over 1:1:1 -> 33.33 each; the left-over sat goes to the smallest id.
    assert allocate(100, [(3, 1), (1, 1), (2, 1)]) == [33, 34, 33]
    # 10 sats over 5:3:2 -> exactly 5, 3, 2.
    assert allocate(10, [(1, 5), (2, 3), (3, 2)]) == [5, 3, 2]


@pytest.mark.parametrize(
    ("total", "pairs"),
    [
        (5, [(1, 0), (2, 0)]),
        (-1, [(1, 1)]),
        (1.0, [(1, 1)]),
        (1, [(1, -1), (2, 3)]),
        (1, [(1, 1), (1, 2)]),
        (1, [(1, 1.5)]),
    ],
)
def test_bad_inputs_are_refused(total, pairs):
    with pytest.raises(ValueError, match=r"total|weight|keys|zero"):
        allocate(total, pairs)
