"""Value at risk and expected shortfall of a P&L sample, with per-position figures.

For ``n`` scenarios and confidence α, the tail is the ``k = ⌈n (1 − α)⌉`` worst outcomes. VaR
is the smallest loss in that tail and ES the mean loss over it, so ES ≥ VaR always, both as
positive numbers for a loss. The VaR interval is distribution-free: the order statistics
whose ranks are ``n (1 − α) ± 1.96 √(n α (1 − α))`` bracket the true quantile with about 95 %
probability. ES's standard error is the tail's spread over √k.

Per position: its own (standalone) VaR and ES, and its contribution to the portfolio's ES —
minus its mean P&L over the portfolio's tail scenarios (Euler allocation: the contributions
add up to the portfolio ES exactly).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.errors import RiskError
from hashmarket.pricing.revaluation import DistributedPnL, PnLModel

FloatArray = npt.NDArray[np.float64]
Z_95 = 1.959963984540054
POSITION_BLOCK = 256


def _check_confidence(confidence: float) -> None:
    if not 0.5 <= confidence < 1.0:
        raise RiskError(
            "risk_option", name="--confidence", problem=f"{confidence} must be in [0.5, 1)"
        )


def tail_count(n: int, confidence: float) -> int:
    return max(1, math.ceil(n * (1.0 - confidence) - 1e-9))


@dataclass(frozen=True)
class VarEstimate:
    """VaR and ES at one confidence level (USD, positive = loss)."""

    confidence: float
    var_usd: float
    es_usd: float
    var_low_usd: float
    var_high_usd: float
    es_std_error_usd: float
    tail_scenarios: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "confidence": self.confidence,
            "var_usd": self.var_usd,
            "es_usd": self.es_usd,
            "var_95ci_usd": [self.var_low_usd, self.var_high_usd],
            "es_std_error_usd": self.es_std_error_usd,
            "tail_scenarios": self.tail_scenarios,
        }


def var_es(pnl_usd: npt.ArrayLike, confidence: float) -> VarEstimate:
    """VaR and ES of the P&L sample at ``confidence`` (module docstring)."""
    _check_confidence(confidence)
    losses = -np.asarray(pnl_usd, dtype=np.float64)
    n = len(losses)
    if n < 2 or not np.isfinite(losses).all():
        raise RiskError("risk_option", name="pnl", problem="needs at least two finite scenarios")
    k = tail_count(n, confidence)
    ordered = np.sort(losses)
    tail = ordered[n - k :]
    half = Z_95 * math.sqrt(n * confidence * (1.0 - confidence))
    lo_rank = int(np.clip(math.floor(n * confidence - half), 0, n - 1))
    hi_rank = int(np.clip(math.ceil(n * confidence + half), 0, n - 1))
    spread = float(tail.std(ddof=1)) if k > 1 else 0.0
    return VarEstimate(
        confidence=confidence,
        var_usd=float(tail[0]),
        es_usd=float(tail.mean()),
        var_low_usd=float(ordered[lo_rank]),
        var_high_usd=float(ordered[hi_rank]),
        es_std_error_usd=spread / math.sqrt(k),
        tail_scenarios=k,
    )


def tail_rows(pnl_usd: FloatArray, confidence: float) -> npt.NDArray[np.int64]:
    """Indices of the ``k`` worst scenarios (the ES tail)."""
    k = tail_count(len(pnl_usd), confidence)
    return np.asarray(np.argpartition(pnl_usd, k - 1)[:k], dtype=np.int64)


@dataclass(frozen=True)
class PositionRisk:
    """One position's value today and its P&L statistics at the horizon (USD)."""

    name: str
    kind: str
    value0_usd: float
    mean_pnl_usd: float
    std_pnl_usd: float
    var_usd: float
    es_usd: float
    es_contribution_usd: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "value0_usd": self.value0_usd,
            "mean_pnl_usd": self.mean_pnl_usd,
            "std_pnl_usd": self.std_pnl_usd,
            "var_usd": self.var_usd,
            "es_usd": self.es_usd,
            "es_contribution_usd": self.es_contribution_usd,
        }


@dataclass(frozen=True)
class RiskResult:
    """VaR/ES of a portfolio by one method, with the sample it came from."""

    method: str
    asof: dt.date
    horizon_days: int
    n_scenarios: int
    seed: int | None
    value0_usd: float
    mean_pnl_usd: float
    std_pnl_usd: float
    estimates: tuple[VarEstimate, ...]
    positions: tuple[PositionRisk, ...]
    pnl_usd: FloatArray
    window: str | None = None
    notes: tuple[str, ...] = ()

    def estimate(self, confidence: float) -> VarEstimate:
        for e in self.estimates:
            if math.isclose(e.confidence, confidence):
                return e
        raise KeyError(confidence)

    def to_dict(self, *, positions: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "asof": self.asof.isoformat(),
            "horizon_days": self.horizon_days,
            "n_scenarios": self.n_scenarios,
            "seed": self.seed,
            "value0_usd": self.value0_usd,
            "mean_pnl_usd": self.mean_pnl_usd,
            "std_pnl_usd": self.std_pnl_usd,
            "estimates": [e.to_dict() for e in self.estimates],
            "window": self.window,
            "notes": list(self.notes),
        }
        if positions:
            out["positions"] = [p.to_dict() for p in self.positions]
        return out


def position_figures(pnl: PnLModel, *, k: int) -> FloatArray:
    """Per position of ``pnl``: mean, standard deviation, standalone VaR and ES over the ``k``
    worst scenarios — ``[4, positions]``. Positions are taken ``POSITION_BLOCK`` at a time and
    each one's figures depend on its own P&L alone, so the figures of a range of positions
    that starts on a block boundary are those of the whole book there."""
    n_pos = pnl.n_positions
    mean = np.zeros(n_pos)
    std = np.zeros(n_pos)
    var = np.full(n_pos, math.nan)
    es = np.full(n_pos, math.nan)
    for columns, block in pnl.position_blocks(POSITION_BLOCK):
        mean[columns] = block.mean(axis=1)
        std[columns] = block.std(axis=1)
        # Order statistics in float32 (7 significant digits, far below Monte Carlo
        # error) halve the memory traffic of the partition, the costliest step.
        worst = -np.partition(block.astype(np.float32), k - 1, axis=1)[:, :k]
        var[columns] = worst.min(axis=1)
        es[columns] = worst.mean(axis=1, dtype=np.float64)
    return np.stack([mean, std, var, es])


def portfolio_risk(
    pnl: PnLModel | DistributedPnL,
    confidences: Sequence[float],
    *,
    method: str,
    window: str | None = None,
    position_stats: bool = True,
) -> RiskResult:
    """VaR/ES of the total at each confidence; per position (standalone VaR/ES at the first
    confidence, ES contribution at it) when ``position_stats``.

    A :class:`DistributedPnL` is reduced on its cluster: only the total P&L per scenario
    comes back to compute VaR/ES, and the factors of the ``k`` tail scenarios for the ES
    contributions; the per-position figures are computed on the workers, a range of positions
    per task, with the same arithmetic as here — the numbers are the same, bit for bit.
    """
    if not confidences:
        raise RiskError("risk_option", name="--confidence", problem="give at least one level")
    for c in confidences:
        _check_confidence(c)
    total = pnl.total_usd
    estimates = tuple(var_es(total, c) for c in confidences)
    first = confidences[0]
    tail = tail_rows(total, first)
    k = tail_count(pnl.n_paths, first)
    if isinstance(pnl, PnLModel):
        contributions = -pnl.position_pnl(tail).mean(axis=0)
    else:
        contributions = -pnl.on_rows(tail).position_pnl().mean(axis=0)
    n_pos = pnl.n_positions
    mean, std = np.zeros(n_pos), np.zeros(n_pos)
    var, es = np.full(n_pos, math.nan), np.full(n_pos, math.nan)
    if position_stats and isinstance(pnl, PnLModel):
        mean, std, var, es = position_figures(pnl, k=k)
    elif position_stats and isinstance(pnl, DistributedPnL):
        figures = pnl.map_positions(functools.partial(position_figures, k=k), block=POSITION_BLOCK)
        mean, std, var, es = np.concatenate(figures, axis=1)
    positions = tuple(
        PositionRisk(
            name=pnl.names[j],
            kind=pnl.kinds[j],
            value0_usd=float(pnl.value0_usd[j]),
            mean_pnl_usd=float(mean[j]),
            std_pnl_usd=float(std[j]),
            var_usd=float(var[j]),
            es_usd=float(es[j]),
            es_contribution_usd=float(contributions[j]),
        )
        for j in range(pnl.n_positions)
    )
    return RiskResult(
        method=method,
        asof=pnl.asof,
        horizon_days=pnl.horizon_days,
        n_scenarios=pnl.n_paths,
        seed=pnl.seed,
        value0_usd=float(pnl.value0_usd.sum()),
        mean_pnl_usd=float(total.mean()),
        std_pnl_usd=float(total.std(ddof=1)),
        estimates=estimates,
        positions=positions,
        pnl_usd=total,
        window=window,
        notes=pnl.notes,
    )
