"""The Monte Carlo pass of a revaluation: cash flows per path and the fits of the marks; the
assembly of the P&L is in :mod:`.book` (see :mod:`hashmarket.pricing.revaluation`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from hashmarket.instruments import Fixings
from hashmarket.models import NetworkModel, ScenarioConfig, Scenarios
from hashmarket.pricing.market import Market
from hashmarket.pricing.revaluation.book import (
    _assemble,
    _nonaffine,
    _PathParts,
)
from hashmarket.pricing.revaluation.marks import (
    FeatureScaling,
    FittedMarks,
    PnLModel,
    _raw_state,
    _scaling,
    features,
    outside_fit,
)
from hashmarket.pricing.revaluation.path import path_fixings
from hashmarket.pricing.revaluation.plan import (
    FIELD_BASIS,
    N_FEATURES,
    N_LINEAR,
    NONLINEAR_RCOND,
    Book,
    ContractPlan,
    PathSource,
    Progress,
    RevaluationPlan,
    plan_valuation,
)
from hashmarket.pricing.revaluation.probe import FloatArray, day_index
from hashmarket.units import DAYS_PER_YEAR_ACT365


@runtime_checkable
class EndsOnPaths(Protocol):
    """A contract that can end before its last fixing on some paths (a liquidated loan):
    its cash flows and, per path, the column after which it pays nothing more (−1: never)."""

    def cashflows_and_end(self, fixings: Fixings) -> tuple[FloatArray, npt.NDArray[np.int64]]: ...


@dataclass
class _Accumulator:
    xtx: FloatArray
    xtf: dict[str, FloatArray]
    sum_f: dict[str, FloatArray]
    xtf_btc: dict[str, FloatArray]  # the same, each fixing weighted by S_t / E[S_t | h]
    sum_f_btc: dict[str, FloatArray]  # … by S_t / E[S_t]
    xty: dict[int, FloatArray]
    own_xtx: dict[int, FloatArray]  # contracts that can end before h: fit on live paths only
    sum_v0: dict[int, float]
    n: int = 0


@dataclass(frozen=True)
class _Flows:
    """A contract's pathwise cash flows: paid on days 1 … h (at face), after h (discounted
    to h), after today (discounted to today), and whether it is still alive on day h."""

    realized: FloatArray
    future: FloatArray
    today: FloatArray
    alive: npt.NDArray[np.bool_]


def _analytic_value(
    setup: RevaluationPlan, contract: ContractPlan, price: FloatArray, day: int
) -> FloatArray:
    """The registry's closed form of a contract on day ``day`` at the BTC price ``price``."""
    assert contract.closed_form is not None
    return contract.closed_form(
        contract.instrument,
        spot_usd=price,
        expiry_years=(day_index(setup.asof, contract.last) - day) / DAYS_PER_YEAR_ACT365,
        vol=setup.vol_per_year,
        usd_rate=setup.usd_rate,
        btc_rate=setup.btc_rate,
    )


def _parts(setup: RevaluationPlan, source: PathSource) -> tuple[_PathParts, Fixings]:
    h = setup.horizon_days
    data = source.data
    raw = _raw_state(data, h)
    realized = (
        np.concatenate([data[name][:, 1 : h + 1] for name in setup.affine_fields], axis=1)
        if setup.affine_fields
        else np.zeros((raw.shape[0], 0))
    )
    parts = _PathParts(
        raw=raw,
        realized=np.asarray(realized, dtype=np.float64),
        price_h=np.asarray(data["price_usd"][:, h], dtype=np.float64),
        nl_realized={},
        nl_future={},
        nl_alive={},
    )
    return parts, path_fixings(source, past=setup.past, asof=setup.asof)


def _contract_flows(
    setup: RevaluationPlan, contract: ContractPlan, fixings: Fixings, price_h: FloatArray
) -> _Flows:
    """The contract's cash flows on every path of ``fixings`` (see :class:`_Flows`).

    A BTC amount paid after the horizon (after today) is valued with BTC as the numeraire,
    as the pricing engine values it: weighted by ``S_t / E[S_t | day h]`` (``S_t / E[S_t]``),
    so its value in BTC is ``E[D_usd X_t S_t] / S_h`` and in USD at ``S_h`` what the same
    BTC is worth in USD. What is paid by day h is held to the horizon at face."""
    lo = max(contract.first, fixings.first_date)
    hi = min(contract.last, fixings.last_date)
    window = fixings.between(lo, hi)
    days = day_index(setup.asof, window.first_date) + np.arange(window.n_periods)
    h = setup.horizon_days
    n = fixings.n_paths
    alive = np.ones(n, dtype=bool)
    if isinstance(contract.instrument, EndsOnPaths):
        # A contract that has ended by day h on a path (a loan whose collateral was sold)
        # has nothing more to pay, whatever the day-h state: its mark is fitted on, and
        # given to, the paths where it is alive.
        amounts, end = contract.instrument.cashflows_and_end(window)
        alive = ~((end >= 0) & (days[0] + end <= h))
    else:
        amounts = np.broadcast_to(contract.instrument.cashflows(window), (n, window.n_periods))
    clip = np.clip(days, 0, setup.last_day)
    df_h = setup.df_btc_h if contract.btc else setup.df_usd_h
    df_0 = setup.df_btc_0 if contract.btc else setup.df_usd_0
    real = (days >= 1) & (days <= h)
    fut = days > h
    paid = days >= 1
    future, today = amounts[:, fut], amounts[:, paid]
    if contract.btc:
        price = np.broadcast_to(window.values["price_usd"], (n, window.n_periods))
        spot = np.full(n, setup.spot_usd)
        future = future * setup.btc_weights(price[:, fut], days[fut], h, price_h)
        today = today * setup.btc_weights(price[:, paid], days[paid], 0, spot)
    return _Flows(
        realized=np.asarray(amounts[:, real].sum(axis=1), dtype=np.float64),
        future=np.asarray(future @ df_h[clip[fut]], dtype=np.float64),
        today=np.asarray(today @ df_0[clip[paid]], dtype=np.float64),
        alive=alive,
    )


def _fill_nonaffine(
    setup: RevaluationPlan, parts: _PathParts, fixings: Fixings
) -> dict[int, _Flows]:
    """Path values of the contracts without an affine form: realized flows, and the future
    part (analytic mark, or the path's own future flows — replaced by the regression mark
    when the P&L is assembled)."""
    h = setup.horizon_days
    flows = {}
    n = len(parts.raw)
    for i in _nonaffine(setup):
        contract = setup.contracts[i]
        if contract.method == "analytic" and day_index(setup.asof, contract.last) > h:
            # Pays only on its last fixing, after h: nothing realized, the mark is the closed
            # form.
            zeros = np.zeros(n)
            flows[i] = _Flows(zeros, zeros, zeros, np.ones(n, dtype=bool))
            parts.nl_realized[i] = zeros
            parts.nl_alive[i] = flows[i].alive
            parts.nl_future[i] = _analytic_value(setup, contract, parts.price_h, h)
            continue
        f = _contract_flows(setup, contract, fixings, parts.price_h)
        flows[i] = f
        parts.nl_realized[i] = f.realized
        parts.nl_alive[i] = f.alive
        # Paid by day h (analytic), nothing after; else the path's own future flows.
        parts.nl_future[i] = np.zeros(n) if contract.method == "analytic" else f.future
    return flows


@dataclass
class ChunkFit:
    """What one chunk contributes to the fit: its partial sums, the largest standardized state
    it saw, the feature scaling used (the first chunk's), and the per-path pieces the P&L needs.
    Partial sums of chunks are added in chunk order (:func:`add_fit`), so the fit is the same
    wherever the chunks were valued."""

    acc: _Accumulator
    bounds: FloatArray
    scaling: FeatureScaling
    parts: _PathParts


def _regressed(setup: RevaluationPlan) -> tuple[list[int], list[int]]:
    regressed = [i for i in _nonaffine(setup) if setup.contracts[i].method == "regression"]
    ending = [i for i in regressed if isinstance(setup.contracts[i].instrument, EndsOnPaths)]
    return regressed, ending


def fit_chunk(
    setup: RevaluationPlan, chunk: PathSource, scaling: FeatureScaling | None
) -> ChunkFit:
    """One chunk's part of the Monte Carlo pass; ``scaling`` ``None`` for the first chunk,
    whose state variables then set it."""
    h = setup.horizon_days
    regressed, ending = _regressed(setup)
    parts, fixings = _parts(setup, chunk)
    if scaling is None:
        scaling = _scaling(parts.raw)
    x = features(parts.raw, scaling)
    data = chunk.data
    acc = _Accumulator(
        xtx=x.T @ x,
        xtf={
            f: x[:, :N_LINEAR].T @ data[f][:, h + 1 : setup.last_day + 1]
            for f in setup.affine_fields
        },
        sum_f={f: data[f][:, 1 : setup.last_day + 1].sum(axis=0) for f in setup.affine_fields},
        xtf_btc={f: np.zeros((N_LINEAR, setup.last_day - h)) for f in setup.btc_affine_fields},
        sum_f_btc={f: np.zeros(setup.last_day) for f in setup.btc_affine_fields},
        xty={},
        own_xtx={},
        sum_v0={},
        n=len(x),
    )
    _accumulate_btc(setup, acc, x, data)
    flows = _fill_nonaffine(setup, parts, fixings)
    for i in regressed:
        f = flows[i]
        acc.sum_v0[i] = float(f.today.sum())
        if i in ending:
            live = x[f.alive]
            acc.own_xtx[i] = live.T @ live
            acc.xty[i] = live.T @ f.future[f.alive]
        else:
            acc.xty[i] = x.T @ f.future
    bounds = np.abs((parts.raw - scaling.mean) / scaling.std).max(axis=0)
    return ChunkFit(acc=acc, bounds=bounds, scaling=scaling, parts=_compact(parts))


def empty_fit(setup: RevaluationPlan) -> _Accumulator:
    """Zero sums, to which the chunks' partial sums are added in chunk order."""
    t_last = setup.last_day
    regressed, ending = _regressed(setup)
    return _Accumulator(
        xtx=np.zeros((N_FEATURES, N_FEATURES)),
        xtf={f: np.zeros((N_LINEAR, t_last - setup.horizon_days)) for f in setup.affine_fields},
        sum_f={f: np.zeros(t_last) for f in setup.affine_fields},
        xtf_btc={
            f: np.zeros((N_LINEAR, t_last - setup.horizon_days)) for f in setup.btc_affine_fields
        },
        sum_f_btc={f: np.zeros(t_last) for f in setup.btc_affine_fields},
        xty={i: np.zeros(N_FEATURES) for i in regressed},
        own_xtx={i: np.zeros((N_FEATURES, N_FEATURES)) for i in ending},
        sum_v0=dict.fromkeys(regressed, 0.0),
    )


def add_fit(acc: _Accumulator, part: _Accumulator) -> None:
    """Add one chunk's partial sums into ``acc`` (in place)."""
    acc.xtx += part.xtx
    acc.n += part.n
    for name in acc.xtf:
        acc.xtf[name] += part.xtf[name]
        acc.sum_f[name] += part.sum_f[name]
    for name in acc.xtf_btc:
        acc.xtf_btc[name] += part.xtf_btc[name]
        acc.sum_f_btc[name] += part.sum_f_btc[name]
    for i in acc.xty:
        acc.xty[i] += part.xty[i]
        acc.sum_v0[i] += part.sum_v0[i]
    for i in acc.own_xtx:
        acc.own_xtx[i] += part.own_xtx[i]


def fitted_marks(
    setup: RevaluationPlan,
    acc: _Accumulator,
    scaling: FeatureScaling,
    bounds: FloatArray,
    seed: int | None,
) -> FittedMarks:
    """The marks from the summed cross-products of every chunk."""
    regress = setup.needs_regression
    gamma = _forwards(acc, acc.xtf, regress)
    gamma_btc = _forwards(acc, acc.xtf_btc, regress)
    beta = {
        i: _regression(acc.own_xtx.get(i, acc.xtx), acc.xty[i], acc.n, setup.contracts[i].basis)
        if regress
        else np.zeros(N_FEATURES)
        for i in acc.xty
    }
    mean_f = {name: acc.sum_f[name] / acc.n for name in setup.affine_fields}
    mean_f_btc = {name: acc.sum_f_btc[name] / acc.n for name in setup.btc_affine_fields}
    value0 = _values_today(setup, mean_f, mean_f_btc, acc.sum_v0, acc.n)
    return FittedMarks(
        scaling=scaling,
        bounds=bounds,
        gamma=gamma,
        beta=beta,
        value0=value0,
        n_paths=acc.n,
        seed=seed,
        gamma_btc=gamma_btc,
    )


def fit_and_value(
    setup: RevaluationPlan,
    scenarios: Scenarios,
    *,
    progress: Progress | None = None,
) -> tuple[PnLModel, FittedMarks]:
    """The Monte Carlo pass: fit the marks on ``scenarios`` and value every path."""
    acc = empty_fit(setup)
    scaling: FeatureScaling | None = None
    bounds: FloatArray | None = None
    parts_list: list[_PathParts] = []
    for chunk in scenarios.chunks(progress, reuse_buffers=True):
        fit = fit_chunk(setup, chunk, scaling)
        scaling = fit.scaling
        bounds = fit.bounds if bounds is None else np.maximum(bounds, fit.bounds)
        add_fit(acc, fit.acc)
        parts_list.append(fit.parts)
    assert scaling is not None and bounds is not None
    fitted = fitted_marks(setup, acc, scaling, bounds, scenarios.config.seed)
    model = _assemble(
        setup, fitted, parts_list, source="monte_carlo", seed=scenarios.config.seed, notes=()
    )
    return model, fitted


def _forwards(
    acc: _Accumulator, xtf: Mapping[str, FloatArray], regress: bool
) -> dict[str, FloatArray]:
    """The conditional forwards of each field accumulated in ``xtf`` (empty without a fit)."""
    return {
        name: _conditional_forward(acc.xtx, cross, acc.n, FIELD_BASIS.get(name))
        if regress
        else np.zeros((0, 0))
        for name, cross in xtf.items()
    }


def _accumulate_btc(
    setup: RevaluationPlan, acc: _Accumulator, x: FloatArray, data: Mapping[str, FloatArray]
) -> None:
    """Add a chunk's BTC-numeraire fixings of the fields BTC-settled affine contracts read:
    ``F_t S_t / E[S_t | h]`` for the conditional forwards after h, ``F_t S_t / E[S_t]`` for
    the means today."""
    if not setup.btc_affine_fields:
        return
    h, t_last = setup.horizon_days, setup.last_day
    price = data["price_usd"]
    after_h = np.arange(h + 1, t_last + 1)
    from_1 = np.arange(1, t_last + 1)
    w_h = setup.btc_weights(price[:, h + 1 : t_last + 1], after_h, h, price[:, h])
    w_0 = setup.btc_weights(price[:, 1 : t_last + 1], from_1, 0, np.full(len(x), setup.spot_usd))
    for name in setup.btc_affine_fields:
        values = data[name]
        acc.xtf_btc[name] += x[:, :N_LINEAR].T @ (values[:, h + 1 : t_last + 1] * w_h)
        acc.sum_f_btc[name] += (values[:, 1 : t_last + 1] * w_0).sum(axis=0)


def _conditional_forward(
    xtx: FloatArray, xtf: FloatArray, n: int, basis: tuple[int, ...] | None
) -> FloatArray:
    """Least-squares coefficients ``[N_LINEAR, days]`` of a field's future days on the
    features (only those in ``basis``, the others 0)."""
    keep = np.arange(N_LINEAR) if basis is None else np.array(basis)
    inverse = np.linalg.pinv(xtx[np.ix_(keep, keep)] / n, rcond=1e-10)
    out = np.zeros((N_LINEAR, xtf.shape[1]))
    out[keep] = inverse @ (xtf[keep] / n)
    return out


def _regression(
    xtx: FloatArray, xty: FloatArray, n: int, basis: tuple[int, ...] | None
) -> FloatArray:
    """Least-squares coefficients ``[N_FEATURES]`` of a contract's discounted future cash
    flows on its basis of features (the others 0). Directions the fit barely saw (relative
    variance below ``NONLINEAR_RCOND``) are dropped rather than extrapolated."""
    keep = np.arange(N_FEATURES) if basis is None else np.array(basis)
    inverse = np.linalg.pinv(xtx[np.ix_(keep, keep)] / n, rcond=NONLINEAR_RCOND)
    out = np.zeros(N_FEATURES)
    out[keep] = inverse @ (xty[keep] / n)
    return out


def _compact(parts: _PathParts) -> _PathParts:
    """Keep only what the P&L needs from a chunk (arrays copied: chunk buffers are reused)."""
    return _PathParts(
        raw=parts.raw.copy(),
        realized=parts.realized.copy(),
        price_h=parts.price_h.copy(),
        nl_realized={k: v.copy() for k, v in parts.nl_realized.items()},
        nl_future={k: v.copy() for k, v in parts.nl_future.items()},
        nl_alive={k: v.copy() for k, v in parts.nl_alive.items()},
    )


def _values_today(
    setup: RevaluationPlan,
    mean_f: Mapping[str, FloatArray],
    mean_f_btc: Mapping[str, FloatArray],
    sum_v0: Mapping[int, float],
    n: int,
) -> FloatArray:
    """Every contract's value today in its currency; a BTC-settled affine contract's on the
    fixings' BTC-numeraire means ``E[F_t S_t] / E[S_t]`` (its constant is exact: the weights
    have mean one)."""
    value0 = np.zeros(len(setup.contracts))
    for i, contract in enumerate(setup.contracts):
        if contract.method == "affine":
            form = contract.affine
            assert form is not None
            total = form.const_0
            means = mean_f_btc if contract.btc else mean_f
            for k, name in enumerate(form.fields):
                total += float(form.g_0[k] @ means[name][form.first_day - 1 : form.last_day])
            value0[i] = total
        elif contract.method == "analytic":
            spot = np.array([setup.spot_usd])
            value0[i] = float(_analytic_value(setup, contract, spot, 0)[0])
        elif contract.method == "regression":
            value0[i] = sum_v0[i] / n
    return value0


def value_paths(
    setup: RevaluationPlan,
    fitted: FittedMarks,
    sources: Iterable[PathSource],
    *,
    source: str,
    notes: tuple[str, ...] = (),
) -> PnLModel:
    """Value paths not used for the fit (historical scenarios, stress paths) with the marks
    fitted on the Monte Carlo paths."""
    parts_list = []
    for chunk in sources:
        parts, fixings = _parts(setup, chunk)
        _fill_nonaffine(setup, parts, fixings)
        parts_list.append(_compact(parts))
    if fitted.scaling is not None and setup.needs_regression:
        raw = np.concatenate([p.raw for p in parts_list])
        outside = outside_fit(raw, fitted.scaling, fitted.bounds)
        if outside:
            notes = (
                *notes,
                f"{outside:,} of {len(raw):,} {source} scenarios move further than any Monte Carlo "
                "path the marks were fitted on: their marks are extrapolated",
            )
    return _assemble(setup, fitted, parts_list, source=source, seed=None, notes=notes)


def monte_carlo_pnl(
    portfolio: Book,
    *,
    market: Market,
    model: NetworkModel,
    horizon_days: int,
    n_paths: int,
    seed: int,
    workers: int = 1,
    chunk_paths: int | None = None,
    progress: Progress | None = None,
) -> tuple[PnLModel, FittedMarks, RevaluationPlan]:
    """Plan, simulate and value: the P&L distribution at ``horizon_days`` on ``n_paths``
    (``chunk_paths`` at a time; ``None`` picks a size)."""
    setup = plan_valuation(portfolio, market=market, model=model, horizon_days=horizon_days)
    scenarios = Scenarios(
        model,
        market.state,
        setup.last_day,
        ScenarioConfig(n_paths=n_paths, seed=seed, workers=workers, chunk_paths=chunk_paths),
    )
    pnl, fitted = fit_and_value(setup, scenarios, progress=progress)
    return pnl, fitted, setup
