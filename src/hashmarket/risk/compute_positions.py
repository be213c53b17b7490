"""Compute forwards and leases in a portfolio: the AI-compute factor beside hashprice and BTC.

The network positions are revalued as always (``pricing.revaluation``); the compute positions
on GPU-hour price paths to the same horizon, one path per network path, whose shock is the
AI-compute factor correlated with that path's BTC and hashprice moves
(``pricing.revaluation.compute``). Every GPU-hour index (model, term) a position reads gets
its model and spot from the index fixings of the quotes (``pricing.compute_setup``) and its
correlations from the overlap of those fixings with the network history
(``models.correlation_from_history``); all indices share one factor. The network paths are
regenerated from the same seed and configuration as the revaluation's, so they are the same
paths (their BTC prices on day h are checked against the revaluation's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from hashmarket.chain import NetworkHistory
from hashmarket.errors import RiskError
from hashmarket.index import QuoteTable
from hashmarket.instruments import ComputeForward, ComputeLease
from hashmarket.models import (
    FactorCorrelation,
    NetworkModel,
    NetworkState,
    ScenarioConfig,
    Scenarios,
    correlation_from_history,
)
from hashmarket.pricing import (
    ComputeMarket,
    ComputeSetup,
    Market,
    compute_index_of,
    compute_setup,
)
from hashmarket.pricing.revaluation import (
    FittedMarks,
    PnLModel,
    RevaluationPlan,
    compute_factor,
    compute_only_pnl,
    gpu_horizon_paths,
    horizon_values,
    monte_carlo_pnl,
    with_positions,
)
from hashmarket.risk.portfolio import Portfolio, Position
from hashmarket.risk.var import RiskResult, portfolio_risk

FloatArray = npt.NDArray[np.float64]
Progress = Callable[[int, int], None]
COMPUTE_METHOD = (
    "compute forwards and leases revalued on GPU-hour price paths to the horizon (the GPU "
    "model from the index fixings), one per network path, whose shock is the AI-compute "
    "factor correlated with the path's BTC and hashprice moves; Monte Carlo only: held out of "
    "the historical and stress passes"
)
SEED_GPU = 7_919  # a sub-stream of the run's seed for the GPU factor


@dataclass(frozen=True)
class GpuFactor:
    """One GPU-hour index a book's compute positions read: its model, spot and correlations."""

    setup: ComputeSetup
    correlation: FactorCorrelation
    shrunk: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpu_model": self.setup.gpu_model,
            "term": self.setup.term,
            "spot_usd_per_gpu_hour": self.setup.market.gpu_price_usd_per_gpu_hour,
            "spot_date": self.setup.spot_date.isoformat(),
            "model": self.setup.to_dict()["model"],
            "correlation": self.correlation.to_dict(),
            "correlation_shrunk": self.shrunk,
            "notes": list(self.setup.notes),
        }


def is_compute(position: Position) -> bool:
    return isinstance(position.instrument, ComputeForward | ComputeLease)


def split_compute(portfolio: Portfolio) -> tuple[Portfolio | None, tuple[Position, ...]]:
    """The portfolio without its compute positions (``None`` if nothing is left), and them."""
    compute = tuple(p for p in portfolio.positions if is_compute(p))
    rest = tuple(p for p in portfolio.positions if not is_compute(p))
    return (Portfolio(portfolio.name, rest) if rest else None), compute


def gpu_factors(
    positions: Sequence[Position],
    *,
    history: NetworkHistory,
    quotes: QuoteTable,
    market: Market,
    quotes_name: str = "the bundled GPU-hour quotes",
) -> dict[tuple[str, str], GpuFactor]:
    """The model, spot and correlations of every GPU-hour index the positions read."""
    out: dict[tuple[str, str], GpuFactor] = {}
    for position in positions:
        assert isinstance(position.instrument, ComputeForward | ComputeLease)
        key = compute_index_of(position.instrument)
        if key in out:
            continue
        setup = compute_setup(
            quotes, gpu_model=key[0], term=key[1], asof=market.asof, source=quotes_name
        )
        correlation = correlation_from_history(
            history, quotes, gpu_model=key[0], term=key[1], asof=market.asof
        )
        out[key] = GpuFactor(setup, correlation)
    return out


def network_drivers(
    model: NetworkModel,
    state: NetworkState,
    *,
    days: int,
    horizon_days: int,
    config: ScenarioConfig,
) -> tuple[FloatArray, FloatArray]:
    """Per path of the run ``config``: the BTC price on day h and the log changes of BTC and
    hashprice from today to day h ``[paths, 2]``."""
    scenarios = Scenarios(model, state, days, config)
    price_h, drivers = [], []
    for chunk in scenarios.chunks():
        price = np.asarray(chunk.price_usd)
        hashprice = np.asarray(chunk.hashprice_usd_per_ph_day)
        price_h.append(price[:, horizon_days])
        with np.errstate(divide="ignore", invalid="ignore"):
            moves = np.column_stack(
                [
                    np.log(price[:, horizon_days] / price[:, 0]),
                    np.log(hashprice[:, horizon_days] / hashprice[:, 0]),
                ]
            )
        drivers.append(np.where(np.isfinite(moves), moves, 0.0))
    return np.concatenate(price_h), np.concatenate(drivers)


def compute_values(
    positions: Sequence[Position],
    factors: dict[tuple[str, str], GpuFactor],
    *,
    market: Market,
    drivers: FloatArray,
    horizon_days: int,
    seed: int,
) -> tuple[FloatArray, FloatArray, dict[tuple[str, str], GpuFactor]]:
    """Per position: today's value (× quantity) and the per-unit values on day h of every path
    ``[paths, positions]``; and the factors, marked where their correlations were shrunk."""
    rng = np.random.default_rng([seed, SEED_GPU])
    paths: dict[tuple[str, str], FloatArray] = {}
    eps_rng_state = rng.bit_generator.state
    for key, factor in sorted(factors.items()):
        # Every index draws the same independent part: one AI-compute factor.
        rng.bit_generator.state = eps_rng_state
        c = factor.correlation
        z, shrunk = compute_factor(drivers, np.array([c.gpu_btc, c.gpu_hashprice]), rng)
        factors[key] = GpuFactor(factor.setup, c, shrunk)
        paths[key] = gpu_horizon_paths(
            factor.setup.model,
            factor.setup.market.gpu_price_usd_per_gpu_hour,
            horizon_days=horizon_days,
            factor=z,
            rng=np.random.default_rng([seed, SEED_GPU, len(paths) + 1]),
        )
    value0 = np.empty(len(positions))
    values_h = np.empty((drivers.shape[0], len(positions)))
    for j, position in enumerate(positions):
        instrument = position.instrument
        assert isinstance(instrument, ComputeForward | ComputeLease)
        key = compute_index_of(instrument)
        setup = factors[key].setup
        compute_market = ComputeMarket(
            asof=market.asof,
            gpu_price_usd_per_gpu_hour=setup.market.gpu_price_usd_per_gpu_hour,
            usd_curve=market.usd_curve,
            past_fixings=setup.market.past_fixings,
        )
        v0, vh = horizon_values(
            instrument, market=compute_market, model=setup.model, gpu_paths=paths[key]
        )
        value0[j] = position.quantity * v0
        values_h[:, j] = vh
    return value0, values_h, factors


def monte_carlo_with_compute(
    portfolio: Portfolio,
    *,
    history: NetworkHistory,
    quotes: QuoteTable,
    market: Market,
    model: NetworkModel,
    horizon_days: int,
    n_paths: int,
    seed: int,
    workers: int = 1,
    progress: Progress | None = None,
) -> tuple[PnLModel, Portfolio | None, Any, dict[tuple[str, str], GpuFactor]]:
    """The book's P&L with its compute positions revalued on the AI-compute factor; also the
    network part, its fitted marks and plan (``None`` without network positions) for the
    historical and stress passes, and the GPU factors used."""
    network, compute = split_compute(portfolio)
    factors = gpu_factors(compute, history=history, quotes=quotes, market=market)
    fitted_setup: Any = None
    days = horizon_days
    pnl: PnLModel | None = None
    if network is not None:
        pnl, fitted, setup = monte_carlo_pnl(
            network,
            market=market,
            model=model,
            horizon_days=horizon_days,
            n_paths=n_paths,
            seed=seed,
            workers=workers,
            progress=progress,
        )
        fitted_setup = (fitted, setup)
        days = setup.last_day
    config = ScenarioConfig(
        n_paths=n_paths,
        seed=seed,
        workers=workers,
        fields=("price_usd", "hashprice_usd_per_ph_day"),
    )
    price_h, drivers = network_drivers(
        model, market.state, days=days, horizon_days=horizon_days, config=config
    )
    if pnl is not None and not np.allclose(price_h, pnl.price_h_usd, rtol=1e-12):
        raise RiskError(
            "risk_option",
            name="compute positions",
            problem="the GPU factor's network paths differ from the revaluation's",
        )
    value0, values_h, factors = compute_values(
        compute, factors, market=market, drivers=drivers, horizon_days=horizon_days, seed=seed
    )
    notes = tuple(
        f"AI-compute factor ({key[0]} {key[1]}): {f.correlation.statement}"
        + (" (shrunk to a feasible correlation)" if f.shrunk else "")
        for key, f in sorted(factors.items())
    )
    parts: dict[str, Any] = {
        "names": tuple(p.name for p in compute),
        "kinds": tuple(p.kind.value for p in compute),
        "quantities": np.array([p.quantity for p in compute], dtype=np.float64),
        "value0_usd": value0,
        "values_h_usd": values_h,
        "notes": notes,
    }
    if pnl is None:
        pnl = compute_only_pnl(
            **parts, price_h_usd=price_h, horizon_days=horizon_days, asof=market.asof, seed=seed
        )
    else:
        pnl = with_positions(pnl, **parts)
    return pnl, network, fitted_setup, factors


class ComputeBookRisk(NamedTuple):
    """Monte Carlo VaR/ES of a book with compute positions, and what the historical and
    stress passes need of its network part (``None`` where it has none)."""

    monte_carlo: RiskResult
    fitted: FittedMarks | None
    setup: RevaluationPlan | None
    network: Portfolio | None
    factors: tuple[GpuFactor, ...]


def compute_book_risk(
    portfolio: Portfolio,
    *,
    history: NetworkHistory,
    quotes: QuoteTable,
    market: Market,
    model: NetworkModel,
    confidences: Sequence[float],
    horizon_days: int,
    n_paths: int,
    seed: int,
    workers: int,
    scheduler: str | None,
    progress: Progress | None,
) -> ComputeBookRisk:
    """:func:`monte_carlo_with_compute` reduced to VaR/ES; refused on a Dask cluster."""
    if scheduler is not None:
        raise RiskError(
            "risk_option",
            name="--scheduler",
            problem="a book with compute positions is revalued in process; leave it out",
        )
    pnl, network, fitted_setup, by_index = monte_carlo_with_compute(
        portfolio,
        history=history,
        quotes=quotes,
        market=market,
        model=model,
        horizon_days=horizon_days,
        n_paths=n_paths,
        seed=seed,
        workers=workers,
        progress=progress,
    )
    fitted, setup = fitted_setup if fitted_setup is not None else (None, None)
    return ComputeBookRisk(
        monte_carlo=portfolio_risk(pnl, confidences, method="monte_carlo"),
        fitted=fitted,
        setup=setup,
        network=network,
        factors=tuple(by_index[k] for k in sorted(by_index)),
    )
