"""The Monte Carlo revaluation on a Dask cluster, chunked over scenarios and over positions.

The in-process pass (:func:`~hashmarket.pricing.revaluation.engine.fit_and_value`) walks the
scenario chunks once: each adds its cross-products to the fit and keeps its per-path pieces.
Here the same steps run where the chunks are:

0. **Plan, contract run by contract run.** Each unique contract's method is chosen by probing
   its payoff, a pure function of the contract: runs of contracts are probed as tasks and
   their plans put back in order.
1. **Fit, scenario chunk by chunk.** Chunk 0 is valued first (its state variables set the
   feature scaling, as in process); then every other chunk, given that scaling, on whichever
   worker is free. A chunk's simulated arrays (paths × days × fields) never leave its worker:
   only its partial cross-products come back — a few kilobytes — and they are added in chunk
   order, so the fitted marks are bit for bit those of the in-process pass.
2. **Factors and totals, scenario chunk by chunk.** With the marks, each worker turns its
   chunk's pieces into the P&L factors (``z``, non-affine values, the day-h price: a few dozen
   numbers per path) and the book's total P&L per path from the position weights summed once
   on the client. Only the totals (one float per scenario) come back.
3. **Per-position figures, position range by position range.** The factors of every chunk
   are stacked on a worker (paths × factors, not paths × positions) and each task takes a range
   of positions: their P&L on every scenario is built there, block by block, and reduced to
   per-position figures (mean, spread, standalone VaR/ES, ES contribution over the tail
   scenarios the client names). Only those figures come back.

The positions × scenarios matrix is never formed: a task holds at most a block of positions
on every scenario (``block × n_scenarios`` floats), whatever the size of the book.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from hashmarket.models import (
    DaskBackend,
    NetworkModel,
    ScenarioConfig,
    Scenarios,
    chunk_spans,
    dask_backend,
    simulate_span,
)
from hashmarket.pricing.market import Market
from hashmarket.pricing.revaluation.book import (
    BookWeights,
    PathFactors,
    book_weights,
    path_factors,
)
from hashmarket.pricing.revaluation.engine import (
    ChunkFit,
    add_fit,
    empty_fit,
    fit_chunk,
    fitted_marks,
)
from hashmarket.pricing.revaluation.marks import (
    FeatureScaling,
    FittedMarks,
    PnLModel,
    TotalWeights,
    total_pnl,
    total_weights,
)
from hashmarket.pricing.revaluation.plan import (
    Book,
    ContractJob,
    ContractPlan,
    Progress,
    RevaluationPlan,
    plan_valuation,
)
from hashmarket.pricing.revaluation.probe import FloatArray

if TYPE_CHECKING:
    from distributed import Future

T = TypeVar("T")
POSITION_CHUNK = 4096  # positions per task of the per-position figures


def _plan_on(backend: DaskBackend, size: int | None, job: ContractJob) -> list[ContractPlan]:
    """Probe the contracts in runs of ``size`` (``None``: two runs per worker, as each run
    builds its own probe paths), one task each; plans in order."""
    if size is None:
        size = max(256, -(-len(job.contracts) // (2 * backend.n_workers)))
    runs = [
        dataclasses.replace(job, contracts=job.contracts[i : i + size])
        for i in range(0, len(job.contracts), size)
    ]
    if len(runs) <= 1:
        return job()
    key = backend.key("plan")
    futures = [backend.client.submit(run, key=f"{key}-{i}") for i, run in enumerate(runs)]
    return [plan for part in backend.gather_in_order(futures) for plan in part]


def _for_paths(setup: RevaluationPlan) -> RevaluationPlan:
    """The plan as the path tasks need it: affine contracts are valued through the summed
    weights, so their forms (a row per fixing day each) stay on the client."""
    contracts = tuple(
        dataclasses.replace(c, affine=None) if c.method == "affine" else c for c in setup.contracts
    )
    return dataclasses.replace(setup, contracts=contracts)


def _fit_span(
    scenarios: Scenarios,
    first: int,
    count: int,
    setup: RevaluationPlan,
    scaling: FeatureScaling | None,
) -> ChunkFit:
    return fit_chunk(setup, simulate_span(scenarios, first, count), scaling)


def _scaling_of(fit: ChunkFit) -> FeatureScaling:
    return fit.scaling


def _sums_of(fit: ChunkFit) -> tuple[Any, FloatArray]:
    return fit.acc, fit.bounds


def _factors_of(fit: ChunkFit, setup: RevaluationPlan, fitted: FittedMarks) -> PathFactors:
    return path_factors(setup, fitted, [fit.parts])


def _total_of(factors: PathFactors, weights: TotalWeights, offset: float) -> FloatArray:
    return total_pnl(weights, offset, factors.z, factors.nl, factors.price_h)


def _rows_of(factors: PathFactors, rows: npt.NDArray[np.int64]) -> PathFactors:
    return PathFactors(z=factors.z[rows], nl=factors.nl[rows], price_h=factors.price_h[rows])


def _identity(model: PnLModel) -> PnLModel:
    return model


def _stack(*parts: PathFactors) -> PathFactors:
    return PathFactors(
        z=np.concatenate([p.z for p in parts]),
        nl=np.concatenate([p.nl for p in parts]),
        price_h=np.concatenate([p.price_h for p in parts]),
    )


@dataclass(frozen=True)
class _Range:
    """The path-independent part of a range of positions (shipped with its task)."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    quantities: FloatArray
    weights: BookWeights
    horizon_days: int
    asof: dt.date


def _on_range(fn: Callable[[PnLModel], T], factors: PathFactors, part: _Range) -> T:
    w = part.weights
    model = PnLModel(
        names=part.names,
        kinds=part.kinds,
        quantities=part.quantities,
        btc=w.btc,
        value0_usd=w.value0_usd,
        z=factors.z,
        w=w.w,
        const=w.const,
        nl=factors.nl,
        nl_col=w.nl_col,
        price_h_usd=factors.price_h,
        horizon_days=part.horizon_days,
        asof=part.asof,
        source="monte_carlo",
        n_paths=len(factors.z),
        seed=None,
    )
    return fn(model)


@dataclass
class DistributedPnL:
    """A Monte Carlo P&L whose factors stay on the cluster: the total per scenario, the
    positions' weights, and futures of each chunk's factors (see the module docstring)."""

    backend: DaskBackend
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    quantities: FloatArray
    weights: BookWeights
    factors: list[Future[PathFactors]]
    total_usd: FloatArray
    horizon_days: int
    asof: dt.date
    n_paths: int
    seed: int | None
    chunk_sizes: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    position_chunk: int = POSITION_CHUNK

    @property
    def n_positions(self) -> int:
        return len(self.names)

    @property
    def value0_usd(self) -> FloatArray:
        return self.weights.value0_usd

    def map_positions(self, fn: Callable[[PnLModel], T], *, block: int = 1) -> list[T]:
        """``fn`` on the :class:`PnLModel` of each range of about ``position_chunk`` positions
        (every scenario), on the workers; results in position order.

        Ranges start on multiples of ``block``: a function that works through its positions
        ``block`` at a time then multiplies the very matrices it would on the whole book, so
        the BLAS kernels and their rounding are the same.
        """
        client = self.backend.client
        stacked = client.submit(_stack, *self.factors, key=self.backend.key("factors"))
        run = self.backend.key("positions")
        size = max(1, self.position_chunk // block) * block
        futures = []
        for i, start in enumerate(range(0, self.n_positions, size)):
            c = slice(start, min(start + size, self.n_positions))
            w = self.weights
            part = _Range(
                names=self.names[c],
                kinds=self.kinds[c],
                quantities=self.quantities[c],
                weights=BookWeights(
                    w=np.ascontiguousarray(w.w[:, c]),
                    const=w.const[c],
                    btc=w.btc[c],
                    value0_usd=w.value0_usd[c],
                    nl_col=w.nl_col[c],
                ),
                horizon_days=self.horizon_days,
                asof=self.asof,
            )
            futures.append(client.submit(_on_range, fn, stacked, part, key=f"{run}-{i}"))
        out = self.backend.gather_in_order(futures)
        stacked.release()
        return out

    def on_rows(self, rows: npt.NDArray[np.int64]) -> PnLModel:
        """The whole book's P&L model on the scenarios ``rows`` (in that order), their
        factors gathered from the chunks that hold them: a few rows × factors, never rows ×
        positions on a worker."""
        bounds = np.cumsum([0, *self.chunk_sizes])
        chunk_of = np.searchsorted(bounds, rows, side="right") - 1
        client = self.backend.client
        run = self.backend.key("rows")
        wanted = {int(i): rows[chunk_of == i] - bounds[i] for i in np.unique(chunk_of).tolist()}
        futures = [
            client.submit(_rows_of, self.factors[i], local, key=f"{run}-{i}")
            for i, local in wanted.items()
        ]
        picked = dict(zip(wanted, self.backend.gather_in_order(futures), strict=True))
        place = dict.fromkeys(wanted, 0)
        order = []
        for i in chunk_of.tolist():  # each row's place among the rows gathered
            order.append((i, place[i]))
            place[i] += 1
        factors = PathFactors(
            z=np.stack([picked[i].z[j] for i, j in order]),
            nl=np.stack([picked[i].nl[j] for i, j in order]),
            price_h=np.array([picked[i].price_h[j] for i, j in order]),
        )
        part = _Range(
            names=self.names,
            kinds=self.kinds,
            quantities=self.quantities,
            weights=self.weights,
            horizon_days=self.horizon_days,
            asof=self.asof,
        )
        return _on_range(_identity, factors, part)

    def release(self) -> None:
        """Drop the factors held on the workers."""
        for future in self.factors:
            future.release()


def distributed_pnl(
    portfolio: Book,
    *,
    market: Market,
    model: NetworkModel,
    horizon_days: int,
    n_paths: int,
    seed: int,
    scheduler: str,
    chunk_paths: int | None = None,
    progress: Progress | None = None,
    position_chunk: int = POSITION_CHUNK,
    contract_chunk: int | None = None,
) -> tuple[DistributedPnL, FittedMarks, RevaluationPlan]:
    """:func:`~hashmarket.pricing.revaluation.monte_carlo_pnl` on the cluster ``scheduler``
    names: the same numbers, bit for bit (module docstring)."""
    backend = dask_backend(scheduler)
    client = backend.client
    setup = plan_valuation(
        portfolio,
        market=market,
        model=model,
        horizon_days=horizon_days,
        run_job=functools.partial(_plan_on, backend, contract_chunk),
    )
    config = ScenarioConfig(n_paths=n_paths, seed=seed, chunk_paths=chunk_paths)
    scenarios = Scenarios(model, market.state, setup.last_day, config)
    spans = chunk_spans(scenarios)
    (plan,) = client.scatter([_for_paths(setup)], broadcast=True, hash=False)
    run = backend.key("fit")
    first = client.submit(_fit_span, scenarios, *spans[0], plan, None, key=f"{run}-0")
    scaling = client.submit(_scaling_of, first, key=f"{run}-scaling")
    fits = [first] + [
        client.submit(_fit_span, scenarios, a, n, plan, scaling, key=f"{run}-{i}")
        for i, (a, n) in enumerate(spans[1:], start=1)
    ]
    sums = [client.submit(_sums_of, f, key=f"{run}-sums-{i}") for i, f in enumerate(fits)]
    acc = empty_fit(setup)
    bounds = None
    for part, seen in backend.gather_in_order(sums, sizes=[n for _, n in spans], progress=progress):
        add_fit(acc, part)
        bounds = seen if bounds is None else np.maximum(bounds, seen)
    assert bounds is not None
    fitted = fitted_marks(setup, acc, scaling.result(), bounds, seed)
    weights = book_weights(setup, fitted)
    n_nl = sum(1 for c in setup.contracts if c.method in ("regression", "analytic"))
    summed = total_weights(
        weights.w, weights.const, weights.btc, weights.nl_col, setup.quantities, n_nl
    )
    offset = -float(weights.value0_usd.sum())
    factors = [
        client.submit(_factors_of, f, plan, fitted, key=f"{run}-factors-{i}")
        for i, f in enumerate(fits)
    ]
    # The factors hold what the P&L needs; the fits can go once they are made.
    for done in (*fits, *sums, scaling, plan):
        done.release()
    totals = [
        client.submit(_total_of, f, summed, offset, key=f"{run}-total-{i}")
        for i, f in enumerate(factors)
    ]
    total = np.concatenate(backend.gather_in_order(totals))
    pnl = DistributedPnL(
        backend=backend,
        names=setup.names,
        kinds=setup.kinds,
        quantities=setup.quantities,
        weights=weights,
        factors=factors,
        total_usd=total,
        horizon_days=setup.horizon_days,
        asof=setup.asof,
        n_paths=len(total),
        seed=seed,
        chunk_sizes=tuple(n for _, n in spans),
        position_chunk=position_chunk,
    )
    return pnl, fitted, setup
