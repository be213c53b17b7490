"""A book's mark on every scenario path at several future days: the values a counterparty
exposure profile is made of (``risk/counterparty.py``).

On day ``h`` the revaluation values a position as what it has paid on days 1 … h (at face)
plus its mark (what is still to come, discounted to h); the exposure to a counterparty on day
h is the mark alone — what it paid by then has been paid. So for each day ``h`` asked:

    ``mark_h = V_h − paid_h``

in USD on every path (BTC amounts at the path's day-h price, as the revaluation converts
them), with ``V_h`` the revaluation's value on day h (``position_pnl + value0``) and
``paid_h`` the position's own cash flows on days 1 … h on that path. One scenario pass serves
every day: each chunk of paths is fitted and valued once per day, so the days share their
paths (day 0 is the value today, the same on every path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hashmarket.errors import RiskError
from hashmarket.models import NetworkModel, ScenarioConfig, Scenarios
from hashmarket.pricing.market import Market
from hashmarket.pricing.revaluation.book import _assemble, _PathParts
from hashmarket.pricing.revaluation.engine import (
    _contract_flows,
    _parts,
    add_fit,
    empty_fit,
    fit_chunk,
    fitted_marks,
)
from hashmarket.pricing.revaluation.marks import FeatureScaling
from hashmarket.pricing.revaluation.plan import (
    Book,
    PathSource,
    Progress,
    RevaluationPlan,
    plan_valuation,
)
from hashmarket.pricing.revaluation.probe import FloatArray


@dataclass(frozen=True)
class MarkProfile:
    """Marks in USD ``[paths, days]`` of each position (``marks[position]``), on the days
    ``days`` after the as-of date; ``value0_usd`` per position; the paths' seed."""

    days: tuple[int, ...]
    names: tuple[str, ...]
    marks_usd: tuple[FloatArray, ...]
    value0_usd: FloatArray
    n_paths: int
    seed: int

    @property
    def total_usd(self) -> FloatArray:
        """The netted mark of the whole book ``[paths, days]``."""
        return np.asarray(np.sum(self.marks_usd, axis=0), dtype=np.float64)


def _paid_by(setup: RevaluationPlan, chunk: PathSource) -> FloatArray:
    """What each position paid on days 1 … h of each path of ``chunk`` ``[paths, positions]``
    (in USD: BTC at the path's day-h price)."""
    parts, fixings = _parts(setup, chunk)
    out = np.zeros((len(parts.raw), len(setup.position_contract)))
    for j, c in enumerate(setup.position_contract):
        contract = setup.contracts[c]
        paid = _contract_flows(setup, contract, fixings, parts.price_h).realized
        out[:, j] = paid * setup.quantities[j] * (parts.price_h if contract.btc else 1.0)
    return out


def mark_profile(
    book: Book,
    *,
    market: Market,
    model: NetworkModel,
    days: Sequence[int],
    n_paths: int,
    seed: int,
    workers: int = 1,
    progress: Progress | None = None,
) -> MarkProfile:
    """Every position's mark on each of ``days`` (≥ 1) on the same ``n_paths`` paths (module
    docstring). Positions must be contracts (spot BTC has no counterparty)."""
    if any(p.instrument is None for p in book.positions):
        raise RiskError("risk_option", name="positions", problem="only contracts have exposure")
    if not days or min(days) < 1:
        raise RiskError("risk_option", name="days", problem=f"{list(days)}: each must be ≥ 1")
    setups = [plan_valuation(book, market=market, model=model, horizon_days=d) for d in days]
    last_day = max(s.last_day for s in setups)
    config = ScenarioConfig(n_paths=n_paths, seed=seed, workers=workers)
    scenarios = Scenarios(model, market.state, last_day, config)
    accs = [empty_fit(s) for s in setups]
    scalings: list[FeatureScaling | None] = [None] * len(setups)
    bounds: list[FloatArray | None] = [None] * len(setups)
    parts: list[list[_PathParts]] = [[] for _ in setups]
    paid: list[list[FloatArray]] = [[] for _ in setups]
    for chunk in scenarios.chunks(progress, reuse_buffers=True):
        for k, setup in enumerate(setups):
            fit = fit_chunk(setup, chunk, scalings[k])
            scalings[k] = fit.scaling
            seen = bounds[k]
            bounds[k] = fit.bounds if seen is None else np.maximum(seen, fit.bounds)
            add_fit(accs[k], fit.acc)
            parts[k].append(fit.parts)
            paid[k].append(_paid_by(setup, chunk))
    marks = []
    value0 = np.zeros(len(book.positions))
    for k, setup in enumerate(setups):
        scaling, bound = scalings[k], bounds[k]
        assert scaling is not None and bound is not None
        fitted = fitted_marks(setup, accs[k], scaling, bound, seed)
        pnl = _assemble(setup, fitted, parts[k], source="exposure", seed=seed, notes=())
        value_h = pnl.position_pnl() + pnl.value0_usd[None, :]
        marks.append(value_h - np.concatenate(paid[k]))
        value0 = pnl.value0_usd
    by_position = tuple(
        np.stack([m[:, j] for m in marks], axis=1) for j in range(len(book.positions))
    )
    return MarkProfile(
        days=tuple(days),
        names=tuple(book.names),
        marks_usd=by_position,
        value0_usd=np.asarray(value0, dtype=np.float64),
        n_paths=n_paths,
        seed=seed,
    )
