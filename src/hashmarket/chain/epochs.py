"""The table of difficulty epochs (every 2016 blocks): start height, start time, bits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hashmarket.chain.consensus import RETARGET_INTERVAL_BLOCKS, block_subsidy_sats
from hashmarket.units import SATS_PER_BTC


@dataclass(frozen=True)
class EpochTable:
    """Epochs in height order. ``start_time_s`` is the first block's header time in Unix
    seconds, ``-1`` where unknown; ``difficulty`` is the consensus difficulty of ``bits``."""

    epoch: npt.NDArray[np.int64]
    start_height: npt.NDArray[np.int64]
    start_time_s: npt.NDArray[np.int64]
    bits: npt.NDArray[np.int64]
    difficulty: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.epoch)

    def timed(self) -> EpochTable:
        """Only the leading run of epochs whose start time is known."""
        unknown = np.flatnonzero(self.start_time_s < 0)
        end = int(unknown[0]) if len(unknown) else len(self)
        return EpochTable(
            self.epoch[:end],
            self.start_height[:end],
            self.start_time_s[:end],
            self.bits[:end],
            self.difficulty[:end],
        )

    def in_force_at(self, moments_s: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Row of the epoch in force at each moment, or -1 where it cannot be known.

        An epoch is provably in force from its start until the next epoch's start; the last
        epoch with a known start has no known end, so moments after it are unknown too.
        """
        timed = self.timed()
        row = np.searchsorted(timed.start_time_s, moments_s, side="right") - 1
        known = (row >= 0) & (row < len(timed) - 1)
        return np.where(known, row, -1)

    def subsidy_btc_between(self, first_row: int, last_row: int) -> float | None:
        """Block subsidy if it is the same for every height from epoch ``first_row``'s start to
        epoch ``last_row``'s end; ``None`` when a halving falls inside that range."""
        low = int(self.start_height[first_row])
        high = int(self.start_height[last_row]) + RETARGET_INTERVAL_BLOCKS - 1
        low_sats, high_sats = block_subsidy_sats(low), block_subsidy_sats(high)
        return low_sats / SATS_PER_BTC if low_sats == high_sats else None
