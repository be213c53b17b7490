"""Where scenario chunks run: in this process, or on a Dask cluster.

A run of scenarios is a list of chunks, each a run of whole stream blocks with its own random
streams (:mod:`hashmarket.models.streams`), so a chunk's paths are the same wherever it is
simulated. A backend maps a function over the chunks and hands back its results **in chunk
order**; the caller combines them in that order, so every floating-point reduction adds the
same numbers in the same sequence as the in-process loop and the results are bit for bit the
same whatever the number of workers or where each chunk ran.

* :class:`InProcess` — the chunks of :meth:`Scenarios.chunks` (threads, recycled buffers).
* :class:`DaskBackend` — one task per chunk on a ``distributed`` cluster: the worker simulates
  its chunk and applies the function, and only the function's result (an aggregate, a per-path
  summary) travels back; the chunk's scenario arrays never leave the worker.

``scheduler`` names a backend: ``None`` (in process), ``"local"`` (a local cluster of one
single-threaded worker process per core), ``"local:N"`` (N worker processes), or the address
of a running scheduler (``tcp://host:8786``). Dask is imported only when a cluster is used.
One client is kept per name for the life of the process and closed at exit.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from hashmarket.errors import UsageError
from hashmarket.models.scenarios import Progress, Scenarios, ScenarioSet

if TYPE_CHECKING:
    from distributed import Client, Future

T = TypeVar("T")
LOCAL = "local"


class ChunkBackend(Protocol):
    """Runs a function on every chunk of a scenario run, results in chunk order."""

    def map_chunks(
        self,
        scenarios: Scenarios,
        fn: Callable[[ScenarioSet], T],
        *,
        progress: Progress | None = None,
    ) -> list[T]: ...


class InProcess:
    """The chunks simulated here, by ``scenarios.config.workers`` threads.

    Chunk buffers are recycled, so ``fn`` must return arrays it owns (not views of the chunk).
    """

    def map_chunks(
        self,
        scenarios: Scenarios,
        fn: Callable[[ScenarioSet], T],
        *,
        progress: Progress | None = None,
    ) -> list[T]:
        return [fn(chunk) for chunk in scenarios.chunks(progress, reuse_buffers=True)]


IN_PROCESS = InProcess()


def chunk_spans(scenarios: Scenarios) -> list[tuple[int, int]]:
    """``(first path, path count)`` of each chunk of the run, in path order: the same spans the
    in-process loop walks, so per-chunk partial results line up one to one."""
    return scenarios._spans()


def span_run(scenarios: Scenarios, first: int, count: int) -> Scenarios:
    """The one-chunk run of paths ``first … first + count − 1`` of ``scenarios``.

    Paths are keyed by their block index, so these are the very paths the whole run has there.
    """
    stream = scenarios.config.stream_paths
    width = -(-count // stream) * stream
    config = dataclasses.replace(scenarios.config, n_paths=count, chunk_paths=width, workers=1)
    return dataclasses.replace(scenarios, config=config, first_path=first)


def simulate_span(scenarios: Scenarios, first: int, count: int) -> ScenarioSet:
    """Simulate one chunk of ``scenarios`` (what a worker runs)."""
    (chunk,) = span_run(scenarios, first, count).chunks()
    return chunk


def _apply(scenarios: Scenarios, first: int, count: int, fn: Callable[[ScenarioSet], T]) -> T:
    return fn(simulate_span(scenarios, first, count))


class DaskBackend:
    """Chunks as tasks on a ``distributed`` cluster (see the module docstring)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @property
    def n_workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def key(self, name: str) -> str:
        """A task key unique to this call, so repeated runs never share cached results."""
        return f"hashmarket-{name}-{uuid.uuid4().hex}"

    def submit_chunks(
        self, scenarios: Scenarios, fn: Callable[[ScenarioSet], T]
    ) -> list[Future[T]]:
        """One task per chunk, ``fn(chunk)``, left on the workers (futures in chunk order)."""
        run = self.key("chunk")
        return [
            self.client.submit(_apply, scenarios, first, count, fn, key=f"{run}-{i}", pure=False)
            for i, (first, count) in enumerate(chunk_spans(scenarios))
        ]

    def gather_in_order(
        self,
        futures: Sequence[Future[T]],
        *,
        sizes: Sequence[int] | None = None,
        progress: Progress | None = None,
    ) -> list[T]:
        """The futures' results in the order given, reporting progress as they complete."""
        from distributed import as_completed

        index = {f.key: i for i, f in enumerate(futures)}
        out: list[Any] = [None] * len(futures)
        total = sum(sizes) if sizes is not None else len(futures)
        done = 0
        for future in as_completed(futures, loop=self.client.loop):
            i = index[future.key]
            out[i] = future.result()
            done += sizes[i] if sizes is not None else 1
            if progress is not None:
                progress(done, total)
            future.release()
        return out

    def map_chunks(
        self,
        scenarios: Scenarios,
        fn: Callable[[ScenarioSet], T],
        *,
        progress: Progress | None = None,
    ) -> list[T]:
        futures = self.submit_chunks(scenarios, fn)
        sizes = [count for _, count in chunk_spans(scenarios)]
        return self.gather_in_order(futures, sizes=sizes, progress=progress)


_CLIENTS: dict[str, DaskBackend] = {}
_LOCK = threading.Lock()


def parse_scheduler(scheduler: str) -> tuple[str, int | None]:
    """``(address, None)`` for a scheduler address, ``("local", N or None)`` for a local
    cluster; a usage error for anything else."""
    text = scheduler.strip()
    if text == LOCAL:
        return LOCAL, None
    if text.startswith(LOCAL + ":"):
        count = text[len(LOCAL) + 1 :]
        if not count.isdigit() or int(count) <= 0:
            raise UsageError(
                "bad_option",
                option="--scheduler",
                problem=f"{scheduler!r}: local:N needs a positive worker count",
            )
        return LOCAL, int(count)
    if "://" not in text or text.endswith("://"):
        raise UsageError(
            "bad_option",
            option="--scheduler",
            problem=f"{scheduler!r} is not 'local', 'local:N' or a scheduler address "
            "such as tcp://host:8786",
        )
    return text, None


def backend_for(scheduler: str | None) -> ChunkBackend:
    """The backend ``scheduler`` names (module docstring); ``None`` is in process."""
    if scheduler is None:
        return IN_PROCESS
    return dask_backend(scheduler)


def dask_backend(scheduler: str) -> DaskBackend:
    """The (cached) Dask backend of ``scheduler``: a connection to a running scheduler, or a
    local cluster started on first use."""
    address, n_workers = parse_scheduler(scheduler)
    name = address if n_workers is None else f"{address}:{n_workers}"
    with _LOCK:
        backend = _CLIENTS.get(name)
        if backend is not None and backend.client.status == "running":
            return backend
        backend = DaskBackend(_connect(address, n_workers))
        _CLIENTS[name] = backend
        return backend


def _connect(address: str, n_workers: int | None) -> Client:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(
            "bad_option",
            option="--scheduler",
            problem="Dask is not installed; pip install 'hashmarket[dask]'",
        ) from None
    if address != LOCAL:
        try:
            return Client(address, timeout="20s", set_as_default=False)
        except OSError as exc:
            raise UsageError(
                "bad_option", option="--scheduler", problem=f"cannot reach {address}: {exc}"
            ) from None
    cluster = LocalCluster(
        n_workers=n_workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
    )
    return Client(cluster, set_as_default=False)


def _close(backend: DaskBackend) -> None:
    cluster = backend.client.cluster
    backend.client.close()
    if cluster is not None:
        cluster.close()


def close(scheduler: str) -> None:
    """Close the client of ``scheduler`` (and its local cluster, if this process started one)."""
    address, n_workers = parse_scheduler(scheduler)
    name = address if n_workers is None else f"{address}:{n_workers}"
    with _LOCK:
        backend = _CLIENTS.pop(name, None)
    if backend is not None:
        _close(backend)


def close_all() -> None:
    """Close every client (and local cluster) this process opened."""
    with _LOCK:
        backends = list(_CLIENTS.values())
        _CLIENTS.clear()
    for backend in backends:
        _close(backend)


atexit.register(close_all)
