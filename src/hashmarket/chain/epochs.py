"""The table of difficulty epochs (every 2016 blocks): start height, start time, bits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class EpochTable:
    """Every epoch in height order, one row each. ``start_time_s`` is the first block's header
    time in Unix seconds, ``-1`` where unknown (any epoch may be undated, not only the last
    ones); ``difficulty`` is the consensus difficulty of ``bits``; ``time_source`` names the
    source of each known start time (empty where unknown)."""

    epoch: npt.NDArray[np.int64]
    start_height: npt.NDArray[np.int64]
    start_time_s: npt.NDArray[np.int64]
    bits: npt.NDArray[np.int64]
    difficulty: npt.NDArray[np.float64]
    time_source: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.epoch)

    def dated_rows(self) -> npt.NDArray[np.int64]:
        """Rows whose start time is known, in height (and so time) order."""
        return np.flatnonzero(self.start_time_s >= 0).astype(np.int64)

    def spans(self) -> npt.NDArray[np.int64]:
        """Rows of the epochs whose own start and whose successor's start are both known:
        each is provably in force from ``start_time_s[row]`` to ``start_time_s[row + 1]``."""
        known = self.start_time_s >= 0
        return np.flatnonzero(known[:-1] & known[1:]).astype(np.int64)

    def in_force_at(self, moments_s: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Row of the epoch in force at each moment, or -1 where it cannot be known.

        An epoch is provably in force from its known start until its successor's known start;
        where either is unknown (an undated epoch, or after the last dated one) so is the
        epoch in force.
        """
        dated = self.dated_rows()
        k = np.searchsorted(self.start_time_s[dated], moments_s, side="right") - 1
        row = np.where(k >= 0, dated[np.maximum(k, 0)], -1)
        following = np.minimum(row + 1, len(self) - 1)
        known = (
            (row >= 0)
            & (row + 1 < len(self))
            & (self.start_time_s[following] >= 0)
            & (moments_s < self.start_time_s[following])
        )
        return np.where(known, row, -1)
