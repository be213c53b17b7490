"""Seeded, chunked scenario generation and streaming reductions over the chunks.

A :class:`ScenarioSet` holds arrays ``[paths, days + 1]`` of every simulated field for one
chunk of paths; column 0 is the as-of day (the known state), column t the end of day
``asof + t``. :class:`Scenarios` describes a whole run (model, state, horizon, seed, path
count) and produces the chunks one at a time, so memory is bounded by the chunk size whatever
the path count. Reductions (means, quantiles, any per-path summary) consume the chunks as they
come.

Reproducibility: the paths are grouped in blocks of ``stream_paths``, each with its own
random stream (:mod:`hashmarket.models.streams`), and chunks are runs of whole blocks, so the
same seed gives the same numbers for every chunk size and every number of worker threads.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hashmarket.errors import ModelError
from hashmarket.models.network import FIELDS, NetworkModel, NetworkState, simulate_network
from hashmarket.models.streams import antithetic_pair_means, chunk_blocks

FloatArray = npt.NDArray[np.float64]
DateArray = npt.NDArray[np.datetime64]
Progress = Callable[[int, int], None]  # (paths done, paths in total)

DEFAULT_STREAM_PATHS = 2048
# Each field of a chunk is kept below this size. Besides bounding memory, this keeps every
# array under glibc's largest mmap threshold (32 MiB), so freed chunks are reused from the heap
# instead of being returned to the kernel and page-faulted in again (which costs as much as
# the simulation itself for large chunks).
FIELD_BYTES_PER_CHUNK = 16 * 2**20
MAX_CHUNK_PATHS = 65_536


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """How to generate: path count, seed, variance reduction, chunking and threads.

    ``chunk_paths`` must be a multiple of ``stream_paths`` (``None`` picks one that keeps each
    field of a chunk near 16 MiB); ``workers`` threads simulate chunks concurrently (numpy
    releases the GIL in its loops and random fills). Neither changes the numbers.
    """

    n_paths: int
    seed: int = 0
    antithetic: bool = False
    chunk_paths: int | None = None
    stream_paths: int = DEFAULT_STREAM_PATHS
    workers: int = 1
    fields: tuple[str, ...] = FIELDS

    def __post_init__(self) -> None:
        def bad(name: str, value: object, problem: str) -> ModelError:
            return ModelError("model_parameter", name=name, value=value, problem=problem)

        if self.n_paths <= 0:
            raise bad("n_paths", self.n_paths, "must be greater than zero")
        if self.stream_paths <= 0 or (self.antithetic and self.stream_paths % 2):
            raise bad(
                "stream_paths", self.stream_paths, "must be positive (and even if antithetic)"
            )
        if self.antithetic and self.n_paths % 2:
            raise bad("n_paths", self.n_paths, "must be even with antithetic variates")
        if self.chunk_paths is not None and (
            self.chunk_paths <= 0 or self.chunk_paths % self.stream_paths
        ):
            raise bad("chunk_paths", self.chunk_paths, f"must be a multiple of {self.stream_paths}")
        if self.workers <= 0:
            raise bad("workers", self.workers, "must be at least 1")
        unknown = [f for f in self.fields if f not in FIELDS]
        if unknown:
            raise bad("fields", unknown, f"unknown; known fields: {', '.join(FIELDS)}")
        if self.seed < 0:
            raise bad("seed", self.seed, "must not be negative")

    def resolved_chunk_paths(self, days: int) -> int:
        if self.chunk_paths is not None:
            return self.chunk_paths
        per_path = 8 * (days + 1)
        blocks = max(1, FIELD_BYTES_PER_CHUNK // per_path // self.stream_paths)
        return min(blocks * self.stream_paths, max(MAX_CHUNK_PATHS, self.stream_paths))


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class ScenarioSet:
    """One chunk of simulated paths: each field is an array ``[paths, days + 1]``.

    ``first_path`` is the index of the chunk's first path in the whole run; ``block_sizes``
    lists its random-stream blocks (antithetic pairs live inside a block: path i of the first
    half pairs with path i of the second half).
    """

    dates: DateArray
    first_path: int
    seed: int
    antithetic: bool
    block_sizes: tuple[int, ...]
    data: Mapping[str, FloatArray]

    @property
    def n_paths(self) -> int:
        return sum(self.block_sizes)

    @property
    def n_days(self) -> int:
        """Simulated days (the as-of column not counted)."""
        return len(self.dates) - 1

    @property
    def asof(self) -> dt.date:
        return _to_date(self.dates[0])

    def field(self, name: str) -> FloatArray:
        try:
            return self.data[name]
        except KeyError:
            raise ModelError(
                "model_parameter",
                name="fields",
                value=name,
                problem=f"not simulated in this run (simulated: {', '.join(self.data)})",
            ) from None

    @property
    def price_usd(self) -> FloatArray:
        return self.field("price_usd")

    @property
    def hashrate_ths(self) -> FloatArray:
        return self.field("hashrate_ths")

    @property
    def difficulty(self) -> FloatArray:
        return self.field("difficulty")

    @property
    def height(self) -> FloatArray:
        return self.field("height")

    @property
    def block_count(self) -> FloatArray:
        return self.field("block_count")

    @property
    def subsidy_btc(self) -> FloatArray:
        return self.field("subsidy_btc")

    @property
    def fee_btc_per_block(self) -> FloatArray:
        return self.field("fee_btc_per_block")

    @property
    def hashprice_btc_per_ph_day(self) -> FloatArray:
        return self.field("hashprice_btc_per_ph_day")

    @property
    def hashprice_usd_per_ph_day(self) -> FloatArray:
        return self.field("hashprice_usd_per_ph_day")

    def pair_means(self, values: FloatArray) -> FloatArray:
        """Per-path values → independent samples (antithetic pair means, or the values)."""
        if not self.antithetic:
            return values
        return antithetic_pair_means(values, self.block_sizes)


def _to_date(value: np.datetime64) -> dt.date:
    return dt.date.fromisoformat(str(value.astype("datetime64[D]")))


def scenario_dates(asof: dt.date, days: int) -> DateArray:
    return np.datetime64(asof, "D") + np.arange(days + 1)


@dataclass(frozen=True)
class Scenarios:
    """A reproducible scenario run, generated lazily in chunks."""

    model: NetworkModel
    state: NetworkState
    days: int
    config: ScenarioConfig
    first_path: int = 0
    _dates: DateArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.days <= 0:
            raise ModelError("model_parameter", name="days", value=self.days, problem="must be > 0")
        if self.first_path < 0 or self.first_path % self.config.stream_paths:
            raise ModelError(
                "model_parameter",
                name="first_path",
                value=self.first_path,
                problem="must sit on a stream block boundary",
            )
        object.__setattr__(self, "_dates", scenario_dates(self.state.asof, self.days))

    @property
    def dates(self) -> DateArray:
        return self._dates

    def _chunk(
        self, first: int, count: int, buffers: dict[str, FloatArray] | None = None
    ) -> ScenarioSet:
        cfg = self.config
        blocks = chunk_blocks(
            seed=cfg.seed, first_path=first, n_paths=count, stream_paths=cfg.stream_paths
        )
        out = None
        if buffers is not None:
            out = {name: buffers[name][:, :count] for name in cfg.fields}
            if count != next(iter(buffers.values())).shape[1]:
                out = {name: np.ascontiguousarray(v) for name, v in out.items()}
        day_major = simulate_network(
            self.model,
            self.state,
            days=self.days,
            blocks=blocks,
            antithetic=cfg.antithetic,
            fields=cfg.fields,
            out=out,
        )
        return ScenarioSet(
            dates=self._dates,
            first_path=first,
            seed=cfg.seed,
            antithetic=cfg.antithetic,
            block_sizes=tuple(b.size for b in blocks),
            # Stored day-major (each day's row is written contiguously); exposed as
            # [paths, days] views.
            data={name: values.T for name, values in day_major.items()},
        )

    def _spans(self) -> list[tuple[int, int]]:
        chunk = self.config.resolved_chunk_paths(self.days)
        stop = self.first_path + self.config.n_paths
        return [(s, min(chunk, stop - s)) for s in range(self.first_path, stop, chunk)]

    def chunks(
        self, progress: Progress | None = None, *, reuse_buffers: bool = False
    ) -> Iterator[ScenarioSet]:
        """The chunks in path order.

        With several workers, at most ``workers`` chunks are simulated ahead of the consumer,
        so memory stays bounded. With ``reuse_buffers`` the arrays of a chunk are recycled
        once the consumer asks for the next chunk (a streaming contract: keep results, not
        chunks); this spares the allocator and the kernel a fresh multi-megabyte array per
        chunk, which on small machines costs as much as simulating it.
        """
        spans = self._spans()
        total = self.config.n_paths
        workers = min(self.config.workers, len(spans))
        pool: deque[dict[str, FloatArray]] = deque()
        if reuse_buffers:
            width = self.config.resolved_chunk_paths(self.days)
            shape = (self.days + 1, min(width, total))
            for _ in range(workers + 1):
                pool.append({name: np.empty(shape) for name in self.config.fields})

        def take() -> dict[str, FloatArray] | None:
            return pool.popleft() if reuse_buffers else None

        done = 0
        with ThreadPoolExecutor(max_workers=workers) as executor:
            pending: deque[tuple[Future[ScenarioSet], dict[str, FloatArray] | None]] = deque()
            queue = iter(spans)
            for first, count in queue:
                buf = take()
                pending.append((executor.submit(self._chunk, first, count, buf), buf))
                if len(pending) >= workers:
                    break
            while pending:
                future, buf = pending.popleft()
                chunk = future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    nbuf = take()
                    pending.append((executor.submit(self._chunk, *nxt, nbuf), nbuf))
                done += chunk.n_paths
                if progress is not None:
                    progress(done, total)
                yield chunk
                if buf is not None:
                    pool.append(buf)  # the consumer has moved on: recycle

    def materialize(self) -> ScenarioSet:
        """Every path in one ScenarioSet (for path counts that fit in memory)."""
        parts = list(self.chunks())
        data = {
            name: np.concatenate([p.data[name] for p in parts], axis=0) for name in parts[0].data
        }
        sizes = tuple(s for p in parts for s in p.block_sizes)
        return ScenarioSet(
            dates=self._dates,
            first_path=self.first_path,
            seed=self.config.seed,
            antithetic=self.config.antithetic,
            block_sizes=sizes,
            data=data,
        )

    # ---- streaming reductions -------------------------------------------------------------

    def mean(self, name: str, *, progress: Progress | None = None) -> FloatArray:
        """Mean of a field per day ``[days + 1]``, summed chunk by chunk."""
        total = np.zeros(self.days + 1)
        for chunk in self.chunks(progress, reuse_buffers=True):
            total += chunk.field(name).sum(axis=0)
        return total / self.config.n_paths

    def map_paths(
        self, fn: Callable[[ScenarioSet], FloatArray], *, progress: Progress | None = None
    ) -> FloatArray:
        """Apply a per-path summary ``fn(chunk) -> [paths, k]`` and stack the results in path
        order: exact statistics of any path functional in memory ``n_paths × k``."""
        parts = [np.array(fn(c), copy=True) for c in self.chunks(progress, reuse_buffers=True)]
        return np.concatenate(parts, axis=0)

    def quantiles(
        self,
        name: str,
        probabilities: Sequence[float],
        *,
        bins: int = 4096,
        progress: Progress | None = None,
    ) -> FloatArray:
        """Per-day quantiles ``[len(probabilities), days + 1]`` of a positive field, streamed.

        Values are counted in ``bins`` log-spaced bins per day whose range comes from the
        first chunk (widened by a factor e either side) and interpolated within a bin, so a
        quantile is exact to about one bin width (≈ 0.1 % for price-like fields with 4096 bins).
        Values outside the range are counted in the end bins.
        """
        qs = np.asarray(probabilities, dtype=np.float64)
        counts: npt.NDArray[np.int64] | None = None
        lo = hi = 0.0
        n_cols = self.days + 1
        for chunk in self.chunks(progress, reuse_buffers=True):
            logs = np.log(np.maximum(chunk.field(name), np.finfo(np.float64).tiny))
            if counts is None:
                lo, hi = float(logs.min()) - 1.0, float(logs.max()) + 1.0
                if hi - lo < 1e-9:
                    hi = lo + 1e-9
                counts = np.zeros(n_cols * bins, dtype=np.int64)
            width = (hi - lo) / bins
            index = np.clip(((logs - lo) / width).astype(np.int64), 0, bins - 1)
            index += np.arange(n_cols)[None, :] * bins
            counts += np.bincount(index.ravel(), minlength=n_cols * bins)
        assert counts is not None
        return _histogram_quantiles(counts.reshape(n_cols, bins), lo, hi, qs)


def simulate(
    model: NetworkModel,
    state: NetworkState,
    *,
    days: int,
    n_paths: int,
    rng: np.random.Generator,
    antithetic: bool = False,
) -> ScenarioSet:
    """All paths at once, seeded from ``rng`` (which advances by one draw): the model's
    ``simulate(days, n_paths, rng)`` of the design, for path counts that fit in memory.
    Use :class:`Scenarios` with an integer seed to stream large runs."""
    seed = int(rng.integers(0, 2**63 - 1))
    config = ScenarioConfig(n_paths=n_paths, seed=seed, antithetic=antithetic)
    return Scenarios(model, state, days, config).materialize()


def _histogram_quantiles(
    counts: npt.NDArray[np.int64], lo: float, hi: float, qs: FloatArray
) -> FloatArray:
    """Quantiles from per-row histograms on a log grid, linear inside the bin."""
    n_rows, bins = counts.shape
    width = (hi - lo) / bins
    cumulative = np.cumsum(counts, axis=1)
    total = cumulative[:, -1:]
    out = np.empty((len(qs), n_rows))
    for i, q in enumerate(qs):
        target = q * total[:, 0]
        b = np.minimum((cumulative < target[:, None]).sum(axis=1), bins - 1)
        before = np.where(b > 0, cumulative[np.arange(n_rows), b - 1], 0)
        inside = counts[np.arange(n_rows), b]
        frac = np.where(inside > 0, (target - before) / np.maximum(inside, 1), 0.5)
        out[i] = np.exp(lo + (b + np.clip(frac, 0.0, 1.0)) * width)
    return out


def monthly_means(
    values: FloatArray, dates: DateArray, months: Sequence[np.datetime64]
) -> FloatArray:
    """Per-path average of daily ``values [paths, days]`` over each calendar month listed
    (``datetime64[M]``): ``[paths, len(months)]``. Months outside ``dates`` are NaN."""
    month_of_day = dates.astype("datetime64[M]")
    out = np.full((values.shape[0], len(months)), math.nan)
    for j, month in enumerate(months):
        mask = month_of_day == month
        if mask.any():
            out[:, j] = values[:, mask].mean(axis=1)
    return out
