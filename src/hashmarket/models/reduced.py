"""Paths of only what a payoff reads: the fields it needs, on the days it fixes.

:class:`Scenarios` simulates every field of the network model on every day. A payoff that
reads only the BTC price needs no network at all, and a BTC price under GBM or Merton can be
stepped exactly from one fixing date to the next: one step from the valuation date to the
start of the fixing window, then one per fixing day. A payoff that reads network fields
still needs daily steps (retargets depend on every day's blocks), but only its fields on its
window's days are kept.

Random inputs come from the same per-block streams as :mod:`hashmarket.models.streams`
(``pseudo``) or from scrambled Sobol points laid out by a Brownian bridge (``sobol``, see
:mod:`hashmarket.models.qmc`); each ``sobol`` randomization is an independent, unbiased
replicate. Every chunk also carries the sums of its Gaussian shocks over fixed segments of
days and the block-arrival surprises (blocks found less blocks expected) over the same
segments: zero-mean quantities the pricing engine uses as control variates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from hashmarket.models.network import (
    BlockArrivals,
    NetworkModel,
    NetworkState,
    _DayStepper,
    _initial_row,
)
from hashmarket.models.qmc import BridgeSchedule, bridge_normals, scrambled_sobol
from hashmarket.models.streams import PathBlock, chunk_blocks, standard_normals
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
DateArray = npt.NDArray[np.datetime64]
Sampler = Literal["pseudo", "sobol"]

SEGMENT_DAYS = 14  # shocks are summed over segments of this many days (about an epoch)
NETWORK_FACTORS = 3  # price, hashrate, fees
CHUNK_BYTES = 24 * 2**20  # Gaussian inputs of one chunk stay below this
ARRIVALS_SEED = 4  # the stream purpose that seeds a randomization's block arrivals and jumps


@dataclass(frozen=True)
class Segments:
    """Days 1 … ``days`` cut into runs of ``SEGMENT_DAYS`` (the last may be shorter):
    ``start[j] … stop[j] − 1`` is segment j."""

    start: npt.NDArray[np.int64]
    stop: npt.NDArray[np.int64]

    @classmethod
    def of(cls, days: int) -> Segments:
        start = np.arange(1, days + 1, SEGMENT_DAYS, dtype=np.int64)
        return cls(start=start, stop=np.minimum(start + SEGMENT_DAYS, days + 1))

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        return self.stop - self.start

    def __len__(self) -> int:
        return len(self.start)

    def overlap_with_first(self, days: int) -> npt.NDArray[np.int64]:
        """How many days of each segment fall within days 1 … ``days``."""
        return np.clip(days + 1 - self.start, 0, self.lengths)


@dataclass(frozen=True)
class PathChunk:
    """One chunk of paths: the recorded fields ``[paths, len(dates)]`` on consecutive
    ``dates``, and the zero-mean shock sums.

    ``shock_sums [paths, factors × segments]`` are the sums of each factor's standard
    normal daily shocks over each segment (factor-major: price, then hashrate, then fees);
    for a price-only run they are the price shocks alone. ``arrival_surprises [paths,
    segments]`` (network runs with Poisson arrivals, else ``None``) sum (N − λ)/√λ over the
    days of each segment, N the day's first Poisson draw and λ its mean. ``replicate`` is
    the Sobol randomization (0 for pseudo-random paths); ``block_sizes`` the antithetic
    layout (see :func:`hashmarket.models.streams.antithetic_pair_means`).
    """

    dates: DateArray
    data: dict[str, FloatArray]
    shock_sums: FloatArray
    arrival_surprises: FloatArray | None
    replicates: npt.NDArray[np.int64]
    block_sizes: tuple[int, ...]

    @property
    def n_paths(self) -> int:
        return sum(self.block_sizes)


@dataclass(frozen=True)
class ReducedPaths:
    """A run over days ``record_from … last_day`` (offsets from ``state.asof``, at least 0
    and 1). ``network`` says whether network fields are needed (else only ``price_usd`` is
    simulated, exactly from date to date). With ``sobol`` the run is ``randomizations``
    replicates of ``paths_per_replicate`` points each."""

    model: NetworkModel
    state: NetworkState
    record_from: int
    last_day: int
    fields: tuple[str, ...]
    network: bool
    sampler: Sampler
    seed: int
    antithetic: bool = False
    stream_paths: int = 2048

    @property
    def dates(self) -> DateArray:
        first = np.datetime64(self.state.asof.isoformat(), "D") + self.record_from
        return first + np.arange(self.last_day - self.record_from + 1)

    @property
    def factors(self) -> int:
        return NETWORK_FACTORS if self.network else 1

    @property
    def segments(self) -> Segments:
        """Segments of the shock sums: of days (network), of price steps (price only)."""
        return Segments.of(self.last_day if self.network else len(self.step_days))

    @property
    def step_days(self) -> npt.NDArray[np.int64]:
        """Price-only runs: the day offsets the price is stepped to (after day 0)."""
        days = np.arange(max(self.record_from, 1), self.last_day + 1, dtype=np.int64)
        return days

    def chunk_paths(self) -> int:
        per_path = 8 * self.factors * (self.last_day if self.network else len(self.step_days))
        size = 256
        while size < 8192 and 2 * size * per_path <= CHUNK_BYTES:
            size *= 2
        return size

    # ---- pseudo-random ---------------------------------------------------------------

    def pseudo(self, n_paths: int, *, first_path: int = 0) -> Iterator[PathChunk]:
        """Paths ``first_path …`` in chunks of whole stream blocks (same numbers whatever
        the chunking)."""
        step = max(self.stream_paths, self.chunk_paths() // self.stream_paths * self.stream_paths)
        for start in range(first_path, first_path + n_paths, step):
            count = min(step, first_path + n_paths - start)
            blocks = chunk_blocks(
                seed=self.seed, first_path=start, n_paths=count, stream_paths=self.stream_paths
            )
            yield self._chunk(blocks, count, None, np.zeros(count, dtype=np.int64))

    # ---- quasi-random ----------------------------------------------------------------

    def sobol(self, paths_per_replicate: int, randomizations: int) -> Iterator[PathChunk]:
        """``randomizations`` independent scramblings of the first ``paths_per_replicate``
        Sobol points (a power of two), in chunks."""
        steps = self.last_day if self.network else len(self.step_days)
        times = (
            np.arange(1, steps + 1, dtype=np.float64)
            if self.network
            else self.step_days.astype(np.float64)
        )
        schedule = BridgeSchedule.build(times)
        size = self.chunk_paths()
        # Small randomizations share a chunk (the day loop's cost is per chunk, not per path);
        # large ones are cut into chunks. Either way each keeps its own points and streams.
        group = max(1, size // paths_per_replicate)
        per_chunk = min(size, paths_per_replicate)
        for first in range(0, randomizations, group):
            members = range(first, min(first + group, randomizations))
            engines = {
                r: scrambled_sobol(self.factors * steps, seed=self.seed, randomization=r)
                for r in members
            }
            for start in range(0, paths_per_replicate, per_chunk):
                count = min(per_chunk, paths_per_replicate - start)
                blocks: list[PathBlock] = []
                parts: list[list[FloatArray]] = []
                for i, r in enumerate(members):
                    (block,) = chunk_blocks(
                        seed=_arrivals_seed(self.seed, r),
                        first_path=start,
                        n_paths=count,
                        stream_paths=per_chunk,
                    )
                    blocks.append(dataclasses.replace(block, start=i * count))
                    parts.append(bridge_normals(engines[r], count, schedule, self.factors))
                z = [np.concatenate([p[f] for p in parts], axis=1) for f in range(self.factors)]
                ids = np.repeat(np.asarray(list(members), dtype=np.int64), count)
                yield self._chunk(blocks, len(ids), z, ids)

    # ---- one chunk -------------------------------------------------------------------

    def _chunk(
        self,
        blocks: Sequence[PathBlock],
        n: int,
        z: list[FloatArray] | None,
        replicates: npt.NDArray[np.int64],
    ) -> PathChunk:
        antithetic = self.antithetic and z is None
        if self.network:
            data, sums, surprises = self._network(blocks, n, z, antithetic)
        else:
            data, sums = self._price(blocks, n, z, antithetic)
            surprises = None
        return PathChunk(
            dates=self.dates,
            data=data,
            shock_sums=sums,
            arrival_surprises=surprises,
            replicates=replicates,
            block_sizes=tuple(b.size for b in blocks),
        )

    def _price(
        self, blocks: Sequence[PathBlock], n: int, z: list[FloatArray] | None, antithetic: bool
    ) -> tuple[dict[str, FloatArray], FloatArray]:
        """BTC/USD stepped exactly to each of ``step_days``: ln S moves by the model's log
        drift and √Δt σ z over each step, plus the compound jumps of the step."""
        price = self.model.price
        days = self.step_days
        dt_years = np.diff(np.concatenate([[0], days])).astype(np.float64) / DAYS_PER_YEAR_ACT365
        if z is None:
            shocks = standard_normals(blocks, len(days), n, antithetic=antithetic)
        else:
            shocks = z[0]
        log_s = np.empty((len(days), n))
        level = np.full(n, math.log(self.state.price_usd))
        drift = price.log_drift_per_year() * dt_years
        scale = price.vol_per_year * np.sqrt(dt_years)
        for k in range(len(days)):
            level = level + drift[k] + scale[k] * shocks[k]
            jumps = _jumps(self.model, blocks, n, float(dt_years[k]), antithetic)
            if jumps is not None:
                level = level + jumps
            log_s[k] = level
        out = np.empty((n, self.last_day - self.record_from + 1))
        offset = 0
        if self.record_from == 0:
            out[:, 0] = self.state.price_usd
            offset = 1
        out[:, offset:] = np.exp(log_s.T)
        segments = self.segments
        sums = np.stack(
            [
                shocks[a:b].sum(axis=0)
                for a, b in zip(segments.start - 1, segments.stop - 1, strict=True)
            ],
            axis=1,
        )
        return {"price_usd": out}, sums

    def _network(
        self, blocks: Sequence[PathBlock], n: int, z: list[FloatArray] | None, antithetic: bool
    ) -> tuple[dict[str, FloatArray], FloatArray, FloatArray | None]:
        stepper = _DayStepper(self.model, self.state, n, blocks, antithetic)
        width = self.last_day - self.record_from + 1
        data = {name: np.empty((width, n)) for name in self.fields}
        if self.record_from == 0:
            for name, values in _initial_row(self.state, n).items():
                if name in data:
                    data[name][0] = values
        segments = self.segments
        sums = np.zeros((NETWORK_FACTORS, len(segments), n))
        poisson = self.model.block_arrivals is BlockArrivals.POISSON
        surprises = np.zeros((len(segments), n)) if poisson else None
        for t in range(1, self.last_day + 1):
            j = (t - 1) // SEGMENT_DAYS
            if z is None:
                day_z = standard_normals(blocks, NETWORK_FACTORS, n, antithetic=antithetic)
            else:
                day_z = np.stack([zf[t - 1] for zf in z])
            day = stepper.step(day_z)
            sums[:, j] += day_z
            if surprises is not None:
                expected = stepper.expected
                surprises[j] += (stepper.first_count - expected) / np.sqrt(expected)
            if t >= self.record_from:
                row = t - self.record_from
                for name in self.fields:
                    data[name][row] = day[name]
        shock_sums = sums.reshape(NETWORK_FACTORS * len(segments), n).T
        return (
            {name: values.T for name, values in data.items()},
            np.ascontiguousarray(shock_sums),
            None if surprises is None else np.ascontiguousarray(surprises.T),
        )


def _arrivals_seed(seed: int, randomization: int) -> int:
    """The seed of a randomization's block-arrival and jump streams."""
    sequence = np.random.SeedSequence(seed, spawn_key=(randomization, ARRIVALS_SEED))
    return int(sequence.generate_state(1, np.uint32)[0])


def _jumps(
    model: NetworkModel, blocks: Sequence[PathBlock], n: int, dt_years: float, antithetic: bool
) -> FloatArray | None:
    if not model.price.has_jumps:
        return None
    out = np.empty(n)
    for block in blocks:
        draw = model.price.jump_log_returns(
            block.jumps, block.size, dt_years, antithetic=antithetic
        )
        assert draw is not None
        out[block.start : block.stop] = draw
    return out


def days_after(asof: dt.date, day: dt.date) -> int:
    return (day - asof).days
