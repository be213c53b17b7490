"""Consensus arithmetic against Bitcoin Core's rules and the real epoch table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hashmarket.chain.consensus import (
    POW_LIMIT,
    POW_LIMIT_BITS,
    TARGET_TIMESPAN_S,
    bits_to_difficulty,
    bits_to_target,
    block_subsidy_sats,
    block_subsidy_sats_array,
    difficulty_to_hashrate_hs,
    halving_height,
    next_bits,
    next_halving_height,
    target_to_bits,
)
from hashmarket.chain.sources.bundled import load_epochs
from hashmarket.errors import ConsensusError


@pytest.mark.parametrize(
    ("height", "subsidy_sats"),
    [
        (0, 5_000_000_000),
        (209_999, 5_000_000_000),
        (210_000, 2_500_000_000),
        (839_999, 625_000_000),
        (840_000, 312_500_000),
        (1_050_000, 156_250_000),
        (6_929_999, 1),  # 50 BTC >> 32 = 1.16 sats, truncated
        (6_930_000, 0),
        (64 * 210_000, 0),  # Core's >= 64 guard
    ],
)
def test_subsidy_at_consensus_heights(height: int, subsidy_sats: int) -> None:
    assert block_subsidy_sats(height) == subsidy_sats


def test_vectorized_subsidy_matches_scalar() -> None:
    heights = np.array([0, 209_999, 210_000, 840_000, 6_929_999, 6_930_000, 64 * 210_000 + 5])
    assert block_subsidy_sats_array(heights).tolist() == [
        block_subsidy_sats(int(h)) for h in heights
    ]


def test_total_supply_is_just_under_21_million() -> None:
    total_sats = sum(block_subsidy_sats(halving_height(n)) * 210_000 for n in range(34))
    assert total_sats == 2_099_999_997_690_000


def test_halving_heights() -> None:
    assert halving_height(4) == 840_000
    assert next_halving_height(0) == 210_000
    assert next_halving_height(839_999) == 840_000
    assert next_halving_height(840_000) == 1_050_000


@pytest.mark.parametrize("bad", [-1, 1.5, True, "7"])
def test_bad_heights_are_refused(bad: object) -> None:
    with pytest.raises(ConsensusError):
        block_subsidy_sats(bad)  # type: ignore[arg-type]


def test_genesis_bits_are_the_pow_limit_at_difficulty_one() -> None:
    assert bits_to_target(POW_LIMIT_BITS) == POW_LIMIT
    assert bits_to_difficulty(POW_LIMIT_BITS) == 1.0
    assert target_to_bits(POW_LIMIT) == POW_LIMIT_BITS


def test_compact_encoding_edge_cases() -> None:
    # The mantissa's sign bit forces an extra byte: 0x80 << 8*0 encodes as 0x02008000.
    assert target_to_bits(0x80) == 0x02008000
    assert bits_to_target(0x02008000) == 0x80
    with pytest.raises(ConsensusError):
        bits_to_target(0x04923456)  # negative
    with pytest.raises(ConsensusError):
        bits_to_target(0x01003456)  # zero after truncation


def test_bits_difficulty_round_trip_on_every_real_epoch() -> None:
    epochs = load_epochs()
    for bits, difficulty in zip(epochs.bits, epochs.difficulty, strict=True):
        target = bits_to_target(int(bits))
        assert target_to_bits(target) == bits
        assert bits_to_difficulty(int(bits)) == pytest.approx(difficulty, rel=1e-12)


@given(st.integers(min_value=1, max_value=POW_LIMIT))
def test_compact_round_trip_loses_only_low_bytes(target: int) -> None:
    decoded = bits_to_target(target_to_bits(target))
    assert decoded <= target
    # Three bytes of mantissa keep at least 15 significant bits.
    assert target - decoded < max(1, target >> 15)


def test_retarget_clamps_both_ways() -> None:
    bits = 0x1B0404CB
    target = bits_to_target(bits)
    fast = next_bits(bits, 0, 1)  # blocks "instantly": at most 4x harder
    assert bits_to_target(fast) == bits_to_target(
        target_to_bits(target * (TARGET_TIMESPAN_S // 4) // TARGET_TIMESPAN_S)
    )
    slow = next_bits(bits, 0, 100 * TARGET_TIMESPAN_S)  # very slow: at most 4x easier
    assert bits_to_target(slow) == bits_to_target(target_to_bits(target * 4))
    on_time = next_bits(bits, 0, TARGET_TIMESPAN_S)
    assert on_time == bits


def test_retarget_never_goes_above_the_pow_limit() -> None:
    assert next_bits(POW_LIMIT_BITS, 0, 10 * TARGET_TIMESPAN_S) == POW_LIMIT_BITS


def test_next_bits_reproduces_the_real_retargets() -> None:
    """From each epoch's first-block time to the next epoch's first-block time (one interval more
    than Core measures, and timestamps are not monotonic) the prediction is close."""
    epochs = load_epochs()
    errors = []
    for e in epochs.spans():
        predicted = next_bits(
            int(epochs.bits[e]), int(epochs.start_time_s[e]), int(epochs.start_time_s[e + 1])
        )
        actual = float(epochs.difficulty[e + 1])
        errors.append(abs(bits_to_difficulty(predicted) / actual - 1))
    errors_arr = np.array(errors)
    # Epochs 0..435 from the epoch table; 438 and 462 from the headers.
    assert len(errors_arr) == 438
    assert errors_arr.max() < 0.005
    assert np.mean(errors_arr < 0.002) >= 0.97


def test_difficulty_to_hashrate() -> None:
    # 100 T difficulty at 600 s: 100e12 * 2^32 / 600 ≈ 715.8 EH/s
    assert difficulty_to_hashrate_hs(100e12) == pytest.approx(715.8e18, rel=1e-4)
    assert difficulty_to_hashrate_hs(1.0, block_interval_s=1) == 2**32
