"""Quasi-random Gaussian inputs: scrambled Sobol points laid out by a Brownian bridge.

A Sobol sequence fills the unit cube evenly in its first coordinates far better than in its
last ones. A Brownian bridge spends those first coordinates on what matters most for a path
functional: the value at the last date, then the midpoint, then the quarter points, and so
on; the fine detail of the path comes last. With several factors the levels are interleaved
(every factor's terminal value first), so no factor is left with only the poor coordinates.

Scrambling (Owen's nested uniform scrambling, as ``scipy.stats.qmc.Sobol`` does it) makes
each randomization an unbiased estimate; the error of a quasi-Monte Carlo price is then read
from the spread of independent randomizations, not from the paths of one of them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri
from scipy.stats import qmc

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SOBOL_MAX_DIMENSION = 21_201  # what scipy's direction numbers cover
SCRAMBLE = 3  # the stream purpose of a randomization's scrambling (after normals, jumps, arrivals)


@dataclass(frozen=True)
class BridgeSchedule:
    """The construction order of a Brownian bridge on ``times`` (increasing, after 0).

    Step ``k`` sets ``W[index[k]]`` from ``W[left[k]]`` and ``W[right[k]]`` (index −1 is
    time 0, where W is 0; a right of −1 means none: the first step sets the last time from 0)
    as ``left_weight · W[left] + right_weight · W[right] + scale · z_k``.
    """

    times: FloatArray
    index: IntArray
    left: IntArray
    right: IntArray
    left_weight: FloatArray
    right_weight: FloatArray
    scale: FloatArray

    @classmethod
    def build(cls, times: npt.ArrayLike) -> BridgeSchedule:
        t = np.asarray(times, dtype=np.float64)
        m = len(t)
        if m == 0 or t[0] <= 0 or (np.diff(t) <= 0).any():
            raise ValueError("bridge times must be positive and increasing")
        rows: list[tuple[int, int, int, float, float, float]] = [
            (m - 1, -1, -1, 0.0, 0.0, float(np.sqrt(t[-1])))
        ]
        # Breadth first: every interval of one level is split before the next level starts.
        level = [(-1, m - 1)]
        while level:
            nxt = []
            for lo, hi in level:
                if hi - lo < 2:
                    continue
                mid = (lo + hi) // 2
                t_lo = 0.0 if lo < 0 else float(t[lo])
                t_mid, t_hi = float(t[mid]), float(t[hi])
                span = t_hi - t_lo
                rows.append(
                    (
                        mid,
                        lo,
                        hi,
                        (t_hi - t_mid) / span,
                        (t_mid - t_lo) / span,
                        float(np.sqrt((t_mid - t_lo) * (t_hi - t_mid) / span)),
                    )
                )
                nxt += [(lo, mid), (mid, hi)]
            level = nxt
        cols = list(zip(*rows, strict=True))
        return cls(
            times=t,
            index=np.asarray(cols[0], dtype=np.int64),
            left=np.asarray(cols[1], dtype=np.int64),
            right=np.asarray(cols[2], dtype=np.int64),
            left_weight=np.asarray(cols[3]),
            right_weight=np.asarray(cols[4]),
            scale=np.asarray(cols[5]),
        )

    def __len__(self) -> int:
        return len(self.times)

    def paths(self, z: FloatArray) -> FloatArray:
        """W at ``times`` ``[steps, paths]`` from standard normals ``z [steps, paths]`` taken in
        bridge order (row 0 sets the last time, row 1 the middle one, …)."""
        w = np.empty_like(z)
        for k in range(len(self.index)):
            value = z[k] * self.scale[k]
            lo, hi = self.left[k], self.right[k]
            if lo >= 0:
                value += self.left_weight[k] * w[lo]
            if hi >= 0:
                value += self.right_weight[k] * w[hi]
            w[self.index[k]] = value
        return w


def scrambled_sobol(dimension: int, *, seed: int, randomization: int) -> qmc.Sobol:
    """The ``randomization``-th independent scrambling of a ``dimension``-dimensional Sobol
    sequence for ``seed``."""
    if not 0 < dimension <= SOBOL_MAX_DIMENSION:
        raise ValueError(f"a Sobol sequence has 1 to {SOBOL_MAX_DIMENSION} dimensions")
    sequence = np.random.SeedSequence(seed, spawn_key=(randomization, SCRAMBLE))
    return qmc.Sobol(dimension, scramble=True, seed=np.random.Generator(np.random.PCG64(sequence)))


def sobol_normals(engine: qmc.Sobol, n: int) -> FloatArray:
    """The next ``n`` points of ``engine`` as standard normals ``[dimension, n]``."""
    with warnings.catch_warnings():
        # Balance holds for the run of 2^m points; chunks of it are the same points.
        warnings.simplefilter("ignore", UserWarning)
        u = engine.random(n)
    np.clip(u, 1e-16, 1.0 - 1e-16, out=u)
    return np.asarray(ndtri(u.T), dtype=np.float64)


def bridge_normals(
    engine: qmc.Sobol, n: int, schedule: BridgeSchedule, factors: int
) -> list[FloatArray]:
    """Per factor, Brownian increments divided by the square root of their step, i.e.
    standard normals ``[steps, n]`` in time order, from the next ``n`` Sobol points. The
    coordinates are spent level by level of the bridge, every factor's level k before any
    factor's level k + 1."""
    z = sobol_normals(engine, n)
    out = []
    steps = np.diff(np.concatenate([[0.0], schedule.times]))
    for f in range(factors):
        w = schedule.paths(z[f::factors])
        increments = np.diff(w, axis=0, prepend=0.0)
        out.append(increments / np.sqrt(steps)[:, None])
    return out
