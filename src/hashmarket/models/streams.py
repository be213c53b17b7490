"""Random streams keyed by block of paths, so results do not depend on how paths are chunked.

Paths are numbered 0 … n−1 and grouped in blocks of ``stream_paths``. Block ``b`` draws from
its own generators, seeded by ``SeedSequence(seed, spawn_key=(b, purpose))``. A chunk is a
run of whole blocks, and a block consumes its streams in the same order wherever it sits, so
the same seed gives the same path ``p`` whatever the chunk size or the number of threads.

Each block has one stream per purpose — the Gaussian shocks, the price jumps, the block
arrivals — so that a draw whose count depends on the state (Poisson variates are sampled by
rejection, and only retargeting paths draw a second count) never shifts the Gaussian shocks.
That keeps common random numbers exact across bumped repricings: moving the volatility
changes every path's price by the bump alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

NORMALS, JUMPS, ARRIVALS = 0, 1, 2


@dataclass(frozen=True, slots=True)
class PathBlock:
    """Paths ``start … start + size − 1`` of a chunk (offsets within the chunk) and their
    random streams: Gaussian shocks, price jumps and block arrivals."""

    start: int
    size: int
    normals: np.random.Generator
    jumps: np.random.Generator
    arrivals: np.random.Generator

    @property
    def stop(self) -> int:
        return self.start + self.size


def block_rng(seed: int, block_index: int, purpose: int = NORMALS) -> np.random.Generator:
    """The generator of block ``block_index`` for ``seed`` and ``purpose`` (PCG64)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(block_index, purpose))
    return np.random.Generator(np.random.PCG64(sequence))


def chunk_blocks(*, seed: int, first_path: int, n_paths: int, stream_paths: int) -> list[PathBlock]:
    """The blocks covering paths ``first_path … first_path + n_paths − 1``.

    ``first_path`` must sit on a block boundary; the last block may be short (it is the last
    block of the whole run, so every chunking produces the same short block).
    """
    if first_path % stream_paths:
        raise ValueError("a chunk must start on a block boundary")
    blocks = []
    for offset in range(0, n_paths, stream_paths):
        index = (first_path + offset) // stream_paths
        size = min(stream_paths, n_paths - offset)
        blocks.append(
            PathBlock(
                start=offset,
                size=size,
                normals=block_rng(seed, index, NORMALS),
                jumps=block_rng(seed, index, JUMPS),
                arrivals=block_rng(seed, index, ARRIVALS),
            )
        )
    return blocks


def standard_normals(
    blocks: Sequence[PathBlock], n_factors: int, n_paths: int, *, antithetic: bool
) -> FloatArray:
    """Standard normals ``[n_factors, n_paths]``, each block from its own stream.

    With ``antithetic`` the second half of every block is the negative of its first half, so
    path ``start + i`` and path ``start + size/2 + i`` form a pair.
    """
    z = np.empty((n_factors, n_paths))
    for block in blocks:
        if antithetic:
            half = block.size // 2
            draw = block.normals.standard_normal((n_factors, half))
            z[:, block.start : block.start + half] = draw
            np.negative(draw, out=z[:, block.start + half : block.stop])
        else:
            z[:, block.start : block.stop] = block.normals.standard_normal((n_factors, block.size))
    return z


def antithetic_pair_means(values: FloatArray, block_sizes: Sequence[int]) -> FloatArray:
    """Average each antithetic pair of a per-path vector laid out as :func:`standard_normals`
    lays out its blocks; the pair means are the independent samples for a standard error."""
    out = []
    start = 0
    for size in block_sizes:
        half = size // 2
        out.append(0.5 * (values[start : start + half] + values[start + half : start + size]))
        start += size
    return np.concatenate(out) if out else np.empty(0)
