"""The book side of a revaluation: every position's weights on the path factors, the factors
of simulated paths, and their product, the P&L model (see :mod:`hashmarket.pricing.revaluation`).

The Monte Carlo pass (:mod:`.engine`) produces per-path pieces (:class:`_PathParts`) and the
fitted marks; this module turns them into a :class:`PnLModel`, in process or chunk by chunk on
a cluster (:mod:`.distributed`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hashmarket.pricing.revaluation.marks import FittedMarks, PnLModel, features
from hashmarket.pricing.revaluation.plan import N_FEATURES, N_LINEAR, RevaluationPlan
from hashmarket.pricing.revaluation.probe import AffineForm, FloatArray, day_index


@dataclass
class _PathParts:
    """Per-path pieces of one chunk."""

    raw: FloatArray
    realized: FloatArray  # [paths, h × affine fields]
    price_h: FloatArray
    nl_realized: dict[int, FloatArray]
    nl_future: dict[int, FloatArray]  # discounted to h, for the regression or analytic marks
    nl_alive: dict[int, npt.NDArray[np.bool_]]


def _nonaffine(setup: RevaluationPlan) -> list[int]:
    return [i for i, c in enumerate(setup.contracts) if c.method in ("regression", "analytic")]


@dataclass(frozen=True)
class BookWeights:
    """The path-independent half of a :class:`PnLModel`: every position's weights on the
    factors, constant, currency, value today and column of non-affine values."""

    w: FloatArray
    const: FloatArray
    btc: npt.NDArray[np.bool_]
    value0_usd: FloatArray
    nl_col: npt.NDArray[np.int64]


@dataclass(frozen=True)
class PathFactors:
    """The per-path half of a :class:`PnLModel` for some paths: the factors ``z``, the
    non-affine contracts' values ``nl`` and the BTC price on day h."""

    z: FloatArray
    nl: FloatArray
    price_h: FloatArray


def path_factors(
    setup: RevaluationPlan, fitted: FittedMarks, parts_list: list[_PathParts]
) -> PathFactors:
    """The factors of the paths in ``parts_list`` (row by row: the factors of a run of chunks
    are those of each chunk, stacked)."""
    h = setup.horizon_days
    raw = np.concatenate([p.raw for p in parts_list])
    realized = np.concatenate([p.realized for p in parts_list])
    price_h = np.concatenate([p.price_h for p in parts_list])
    n = len(raw)
    x = features(raw, fitted.scaling) if fitted.scaling is not None else np.zeros((n, N_FEATURES))
    z = np.concatenate([realized, x, price_h[:, None]], axis=1)
    nonaffine = _nonaffine(setup)
    nl = np.zeros((n, len(nonaffine)))
    for k, c in enumerate(nonaffine):
        realized_c = np.concatenate([p.nl_realized[c] for p in parts_list])
        future_c = np.concatenate([p.nl_future[c] for p in parts_list])
        if setup.contracts[c].method == "regression" and c in fitted.beta:
            # The regression mark replaces the path's own future flows (which would be
            # hindsight), on the paths where the contract is still alive; analytic marks are
            # the closed form at the path's price on day h.
            alive_c = np.concatenate([p.nl_alive[c] for p in parts_list])
            live = day_index(setup.asof, setup.contracts[c].last) > h
            future_c = np.where(alive_c, x @ fitted.beta[c], 0.0) if live else np.zeros(n)
        nl[:, k] = realized_c + future_c
    return PathFactors(z=z, nl=nl, price_h=price_h)


def book_weights(setup: RevaluationPlan, fitted: FittedMarks) -> BookWeights:
    """Every position's weights on the factors (see :class:`BookWeights`)."""
    h = setup.horizon_days
    n_real = h * len(setup.affine_fields)
    n_pos = len(setup.names)
    w = np.zeros((n_real + N_FEATURES + 1, n_pos))
    const = np.zeros(n_pos)
    btc = np.zeros(n_pos, dtype=bool)
    value0_usd = np.zeros(n_pos)
    nl_index = {c: k for k, c in enumerate(_nonaffine(setup))}
    nl_col = np.full(n_pos, -1, dtype=np.int64)
    field_offset = {name: i * h for i, name in enumerate(setup.affine_fields)}
    for j, c in enumerate(setup.position_contract):
        q = setup.quantities[j]
        if c < 0:  # spot BTC: its value on day h is its price
            w[-1, j] = q
            value0_usd[j] = q * setup.spot_usd
            continue
        contract = setup.contracts[c]
        btc[j] = contract.btc
        value0 = fitted.value0[c] * q
        value0_usd[j] = value0 * (setup.spot_usd if contract.btc else 1.0)
        if contract.method == "affine":
            assert contract.affine is not None
            const[j] = contract.affine.const_h * q
            gamma = fitted.gamma_btc if contract.btc else fitted.gamma
            _affine_weights(w[:, j], contract.affine, q, gamma, field_offset, n_real, h)
        elif contract.method in ("regression", "analytic"):
            nl_col[j] = nl_index[c]
    return BookWeights(w=w, const=const, btc=btc, value0_usd=value0_usd, nl_col=nl_col)


def pnl_model(
    setup: RevaluationPlan,
    weights: BookWeights,
    factors: PathFactors,
    *,
    source: str,
    seed: int | None,
    notes: tuple[str, ...],
) -> PnLModel:
    return PnLModel(
        names=setup.names,
        kinds=setup.kinds,
        quantities=setup.quantities,
        btc=weights.btc,
        value0_usd=weights.value0_usd,
        z=factors.z,
        w=weights.w,
        const=weights.const,
        nl=factors.nl,
        nl_col=weights.nl_col,
        price_h_usd=factors.price_h,
        horizon_days=setup.horizon_days,
        asof=setup.asof,
        source=source,
        n_paths=len(factors.z),
        seed=seed,
        notes=notes,
    )


def _assemble(
    setup: RevaluationPlan,
    fitted: FittedMarks,
    parts_list: list[_PathParts],
    *,
    source: str,
    seed: int | None,
    notes: tuple[str, ...],
) -> PnLModel:
    factors = path_factors(setup, fitted, parts_list)
    weights = book_weights(setup, fitted)
    return pnl_model(setup, weights, factors, source=source, seed=seed, notes=notes)


def _affine_weights(
    w: FloatArray,
    form: AffineForm,
    q: float,
    gamma_by_field: Mapping[str, FloatArray],
    field_offset: Mapping[str, int],
    n_real: int,
    h: int,
) -> None:
    """Add a position's weights on the factors ``Z``: realized fixings at face for days up to
    h, the conditional forwards' features for the days after (in place, into ``w``)."""
    for k, name in enumerate(form.fields):
        days = np.arange(form.first_day, form.last_day + 1)
        g = form.g_h[k] * q
        in_real = days <= h
        w[field_offset[name] + days[in_real] - 1] += g[in_real]
        if (~in_real).any():
            gamma = gamma_by_field[name]
            w[n_real : n_real + N_LINEAR] += gamma[:, days[~in_real] - h - 1] @ g[~in_real]
