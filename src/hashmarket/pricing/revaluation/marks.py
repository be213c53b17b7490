"""Regression features of a path's state on the horizon day, the fitted marks, and the P&L
in factor form (see :mod:`hashmarket.pricing.revaluation`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.pricing.revaluation.probe import FloatArray


@dataclass(frozen=True)
class FeatureScaling:
    mean: FloatArray
    std: FloatArray


def _raw_state(data: Mapping[str, FloatArray], h: int) -> FloatArray:
    """State variables of each path on day h as ratios to day 0: BTC price, inverse
    difficulty, inverse hashrate, BTC hashprice, and the mean price and USD hashprice over
    days 1 … h: ``[paths, 6]``. Ratios (not logs) keep the marks of linear contracts linear
    in them, so they extrapolate sanely to moves larger than the fit saw."""
    price = data["price_usd"]
    hp = data["hashprice_usd_per_ph_day"]
    hp_btc = data["hashprice_btc_per_ph_day"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.column_stack(
            [
                price[:, h] / price[:, 0],
                data["difficulty"][:, 0] / data["difficulty"][:, h],
                data["hashrate_ths"][:, 0] / data["hashrate_ths"][:, h],
                hp_btc[:, h] / hp_btc[:, 0],
                price[:, 1 : h + 1].mean(axis=1) / price[:, 0],
                hp[:, 1 : h + 1].mean(axis=1) / hp[:, 0],
            ]
        )
    return np.asarray(np.nan_to_num(out, nan=1.0, posinf=1.0, neginf=1.0), dtype=np.float64)


def features(raw: FloatArray, scaling: FeatureScaling) -> FloatArray:
    """The regression features from standardized state variables.

    The first :data:`N_LINEAR` describe the network's state on day h — a constant, price,
    inverse difficulty, inverse hashrate, BTC hashprice and the products of price with the
    last three (USD hashprice now and after the next retarget) — and are the basis of the
    conditional forwards (the model is Markov: future fixings depend on the day-h state, not
    on how the path got there). The rest — the averages over days 1 … h and four squares —
    complete the basis of the other contracts' marks, whose payoffs may depend on the path.
    """
    z = (raw - scaling.mean) / scaling.std
    s, d, hr, hpb, a_s, a_h = z.T
    return np.column_stack(
        [
            np.ones(len(z)),
            s,
            d,
            hr,
            hpb,
            s * d,
            s * hr,
            s * hpb,
            a_s,
            a_h,
            s * s,
            hpb * hpb,
            a_h * a_h,
            s * a_h,
        ]
    )


def outside_fit(raw: FloatArray, scaling: FeatureScaling, bounds: FloatArray) -> int:
    """How many paths have a state variable beyond the range seen in the fit."""
    z = np.abs((raw - scaling.mean) / scaling.std)
    return int((z > bounds[None, :]).any(axis=1).sum())


def _scaling(raw: FloatArray) -> FeatureScaling:
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    # A variable that does not move (a deterministic path, or h = 0) stays at zero.
    return FeatureScaling(mean=mean, std=np.where(std > 1e-12, std, np.inf))


# ---- the fitted pricing functions and the P&L model -----------------------------------------


@dataclass(frozen=True)
class FittedMarks:
    """What the Monte Carlo pass learned: feature scaling, conditional forwards of the affine
    fields (``gamma[field]``: features → day), the same with BTC as the numeraire for the
    fields BTC-settled contracts read (``gamma_btc[field]``: ``E[F_t S_t | h] / E[S_t | h]``),
    regression coefficients of the other contracts, and every contract's value today (in its
    currency)."""

    scaling: FeatureScaling | None
    bounds: FloatArray  # largest |standardized state variable| among the fitted paths
    gamma: Mapping[str, FloatArray]
    beta: Mapping[int, FloatArray]
    value0: FloatArray  # per contract
    n_paths: int
    seed: int | None
    gamma_btc: Mapping[str, FloatArray] = field(default_factory=dict)


@dataclass(frozen=True)
class PnLModel:
    """P&L at the horizon of every position on every path, in factor form (module docstring).

    ``z [paths, m]``: realized affine fixings (days 1 … h), the 14 features, the BTC price on
    day h; ``w [m, positions]``; ``const [positions]``; ``nl [paths, k]`` path values of the
    contracts without an affine form (realized flows + regression or analytic mark);
    ``nl_col`` each position's column in it (−1 if none).
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    quantities: FloatArray
    btc: npt.NDArray[np.bool_]
    value0_usd: FloatArray
    z: FloatArray
    w: FloatArray
    const: FloatArray
    nl: FloatArray
    nl_col: npt.NDArray[np.int64]
    price_h_usd: FloatArray
    horizon_days: int
    asof: dt.date
    source: str
    n_paths: int
    seed: int | None
    notes: tuple[str, ...] = ()
    total_usd: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        weights = total_weights(
            self.w, self.const, self.btc, self.nl_col, self.quantities, self.nl.shape[1]
        )
        total = total_pnl(weights, -float(self.value0_usd.sum()), self.z, self.nl, self.price_h_usd)
        object.__setattr__(self, "total_usd", total)

    @property
    def n_positions(self) -> int:
        return len(self.names)

    def position_pnl(
        self, rows: npt.ArrayLike | slice | None = None, columns: slice | None = None
    ) -> FloatArray:
        """P&L ``[len(rows), positions in columns]`` in USD."""
        r: Any = slice(None) if rows is None else rows
        c = slice(None) if columns is None else columns
        value = self.z[r] @ self.w[:, c] + self.const[c]
        cols = self.nl_col[c]
        has = cols >= 0
        if has.any():
            value[:, has] += self.nl[r][:, cols[has]] * self.quantities[c][has]
        btc = self.btc[c]
        if btc.any():
            value[:, btc] *= self.price_h_usd[r][:, None]
        return np.asarray(value - self.value0_usd[c], dtype=np.float64)

    def position_blocks(self, size: int = 512) -> Iterator[tuple[slice, FloatArray]]:
        """P&L of positions ``columns`` as ``[positions, paths]`` (C order: a position's
        scenarios are contiguous, which is what per-position order statistics want)."""
        zt = np.ascontiguousarray(self.z.T)
        for start in range(0, self.n_positions, size):
            c = slice(start, min(start + size, self.n_positions))
            value = self.w[:, c].T @ zt
            value += self.const[c, None]
            cols = self.nl_col[c]
            has = np.flatnonzero(cols >= 0)
            if len(has):
                value[has] += self.nl[:, cols[has]].T * self.quantities[c][has, None]
            btc = np.flatnonzero(self.btc[c])
            if len(btc):
                value[btc] *= self.price_h_usd[None, :]
            value -= self.value0_usd[c, None]
            yield c, value


@dataclass(frozen=True)
class TotalWeights:
    """The whole book's weights on the factors, summed over positions: the USD positions'
    and the BTC positions' (``None`` where there are none) — what a path's total P&L needs."""

    usd: tuple[FloatArray, float, FloatArray | None] | None
    btc: tuple[FloatArray, float, FloatArray | None] | None


def total_weights(
    w: FloatArray,
    const: FloatArray,
    btc: npt.NDArray[np.bool_],
    nl_col: npt.NDArray[np.int64],
    quantities: FloatArray,
    n_nl: int,
) -> TotalWeights:
    """Sum the positions' weights (see :class:`TotalWeights`); ``n_nl`` columns of
    non-affine values."""
    sums: list[tuple[FloatArray, float, FloatArray | None] | None] = []
    for in_btc in (False, True):
        mask = btc == in_btc
        if not mask.any():
            sums.append(None)
            continue
        has = mask & (nl_col >= 0)
        nl_weights = None
        if has.any():
            nl_weights = np.zeros(n_nl)
            np.add.at(nl_weights, nl_col[has], quantities[has])
        sums.append((w[:, mask].sum(axis=1), float(const[mask].sum()), nl_weights))
    return TotalWeights(usd=sums[0], btc=sums[1])


def total_pnl(
    weights: TotalWeights, offset: float, z: FloatArray, nl: FloatArray, price_h: FloatArray
) -> FloatArray:
    """Total P&L of the book on each path of the factors (``offset``: minus its value today).

    The total is linear in the factors: the weights are summed first (one pass over the
    paths, whatever the number of positions), then the BTC part is scaled by the price. Each
    path's total depends on that path's factors alone, so totals of chunks of paths, stacked,
    are the total of the run.
    """
    total = np.full(len(z), offset)
    for sums, in_btc in ((weights.usd, False), (weights.btc, True)):
        if sums is None:
            continue
        w_sum, const_sum, nl_weights = sums
        value = z @ w_sum + const_sum
        if nl_weights is not None:
            value += nl @ nl_weights
        total += value * price_h if in_btc else value
    return total


# ---- the passes over paths -------------------------------------------------------------------
