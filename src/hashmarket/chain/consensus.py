"""Bitcoin consensus arithmetic, exactly as Bitcoin Core computes it.

Sources (quoted in the project's domain reference): ``src/kernel/chainparams.cpp`` for the
mainnet parameters, ``GetBlockSubsidy`` in ``src/validation.cpp`` for the subsidy, and
``GetNextWorkRequired`` / ``CalculateNextWorkRequired`` in ``src/pow.cpp`` for the retarget.
Everything here is integer arithmetic except the two functions that return a difficulty or a
hashrate, which are floats by definition.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hashmarket.errors import ConsensusError
from hashmarket.units import SECONDS_PER_DAY, TWO_POW_32

HALVING_INTERVAL_BLOCKS = 210_000
RETARGET_INTERVAL_BLOCKS = 2016
TARGET_SPACING_S = 600
TARGET_TIMESPAN_S = 14 * 24 * 60 * 60  # 1,209,600 s = 2016 × 600 s
INITIAL_SUBSIDY_SATS = 50 * 100_000_000
POW_LIMIT_BITS = 0x1D00FFFF
POW_LIMIT = 0x00000000FFFF << 208  # 0x00000000ffff0000…0000, the target at difficulty 1
# The subsidy is 50 BTC >> halvings; after 33 halvings the shift leaves 0 satoshis.
SUBSIDY_END_HEIGHT = 33 * HALVING_INTERVAL_BLOCKS  # 6,930,000
# A block's timestamp must exceed the median of the previous 11 blocks' timestamps, so at most
# six blocks can share a second: no UTC day can hold more blocks than this.
MAX_BLOCKS_PER_DAY = 6 * SECONDS_PER_DAY


def _check_height(height: int) -> None:
    if isinstance(height, bool) or not isinstance(height, int | np.integer) or height < 0:
        raise ConsensusError("bad_height", value=height)


def block_subsidy_sats(height: int) -> int:
    """New coins a block at ``height`` may create: 50 BTC right-shifted once per halving."""
    _check_height(height)
    halvings = int(height) // HALVING_INTERVAL_BLOCKS
    if halvings >= 64:  # Core's guard: a shift by 64 or more is undefined in C++
        return 0
    return INITIAL_SUBSIDY_SATS >> halvings


def subsidy_sats_sum(first_height: int, block_count: int) -> int:
    """Total subsidy of ``block_count`` consecutive blocks from ``first_height``: each halving
    era they reach contributes its own subsidy times the blocks that fall in it."""
    _check_height(first_height)
    total, height, end = 0, int(first_height), int(first_height) + int(block_count)
    while height < end:
        era_end = min(next_halving_height(height), end)
        total += block_subsidy_sats(height) * (era_end - height)
        height = era_end
    return total


def block_subsidy_sats_array(heights: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Vectorized :func:`block_subsidy_sats` for simulated heights (same integer rule)."""
    halvings = np.asarray(heights, dtype=np.int64) // HALVING_INTERVAL_BLOCKS
    shifted = np.right_shift(np.int64(INITIAL_SUBSIDY_SATS), np.minimum(halvings, 63))
    return np.where(halvings >= 64, np.int64(0), shifted).astype(np.int64)


def halving_height(n: int) -> int:
    """Height of the first block of the ``n``-th halving (n = 1 is 210,000)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConsensusError("bad_height", value=n)
    return n * HALVING_INTERVAL_BLOCKS


def next_halving_height(height: int) -> int:
    """The first halving height strictly above ``height``."""
    _check_height(height)
    return (int(height) // HALVING_INTERVAL_BLOCKS + 1) * HALVING_INTERVAL_BLOCKS


def epoch_of(height: int) -> int:
    """Difficulty epoch (retarget period) that contains ``height``."""
    _check_height(height)
    return int(height) // RETARGET_INTERVAL_BLOCKS


def bits_to_target(bits: int) -> int:
    """Expand a compact target (nBits) as ``arith_uint256::SetCompact`` does.

    Refuses the encodings Core treats as invalid for proof of work: negative, zero or
    overflowing targets.
    """
    if not 0 <= bits <= 0xFFFFFFFF:
        raise ConsensusError("bad_target", value=hex(bits) if isinstance(bits, int) else bits)
    size = bits >> 24
    word = bits & 0x007FFFFF
    target = word >> 8 * (3 - size) if size <= 3 else word << 8 * (size - 3)
    negative = word != 0 and (bits & 0x00800000) != 0
    if negative or target == 0 or target > (1 << 256) - 1:
        raise ConsensusError("bad_target", value=f"{bits:08x}")
    return target


def target_to_bits(target: int) -> int:
    """Compress a target to nBits as ``arith_uint256::GetCompact`` does (truncating)."""
    if not 0 < target < (1 << 256):
        raise ConsensusError("bad_target", value=target)
    size = (target.bit_length() + 7) // 8
    compact = target << 8 * (3 - size) if size <= 3 else target >> 8 * (size - 3)
    # The mantissa's top bit is a sign bit in this encoding: move a byte up instead.
    if compact & 0x00800000:
        compact >>= 8
        size += 1
    return compact | (size << 24)


def bits_to_difficulty(bits: int) -> float:
    """Difficulty of a compact target: the difficulty-1 target divided by this target."""
    return POW_LIMIT / bits_to_target(bits)


def difficulty_to_target(difficulty: float) -> int:
    """The target whose difficulty is ``difficulty`` (inverse of :func:`bits_to_difficulty`)."""
    if not difficulty > 0:
        raise ConsensusError("bad_target", value=difficulty)
    return min(POW_LIMIT, int(POW_LIMIT / difficulty))


def difficulty_to_hashrate_hs(
    difficulty: float, block_interval_s: float = TARGET_SPACING_S
) -> float:
    """Hashrate that finds one block per ``block_interval_s`` at this difficulty: D·2³²/interval.

    The exact expected work per block is D·2²⁵⁶/(T₁+1) = D·4,295,032,833, 0.0015 % above D·2³²;
    the 2³² convention is what pools, Core's RPCs and every published index use, so we use it too.
    """
    return difficulty * TWO_POW_32 / block_interval_s


def retarget_timespan_s(first_block_time: int, last_block_time: int) -> int:
    """The clamped timespan Core feeds into the retarget (¼× to 4× the two-week target)."""
    actual = int(last_block_time) - int(first_block_time)
    return min(max(actual, TARGET_TIMESPAN_S // 4), TARGET_TIMESPAN_S * 4)


def next_bits(prev_bits: int, first_block_time: int, last_block_time: int) -> int:
    """nBits of the next epoch from the previous one and its first and last block times.

    ``first_block_time`` is the time of the epoch's first block and ``last_block_time`` that of
    its last (2016th) block, so the measured span covers 2015 intervals: Core's off-by-one,
    kept because consensus depends on it.
    """
    timespan_s = retarget_timespan_s(first_block_time, last_block_time)
    new_target = bits_to_target(prev_bits) * timespan_s // TARGET_TIMESPAN_S
    return target_to_bits(min(new_target, POW_LIMIT))
