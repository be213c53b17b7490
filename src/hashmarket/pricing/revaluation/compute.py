"""Compute contracts (GPU-hour forwards and leases) revalued on GPU-price scenarios beside the
network's, and joined to a book's P&L.

The AI-compute factor is one standard normal ``Z`` per path: the GPU-hour price's shock over
the horizon. It is correlated with the path's BTC and hashprice moves through the estimated
correlations ``ρ`` (``models.compute_factor``): with ``x`` the standardised log changes of BTC
and hashprice to the horizon on each path, ``C`` their correlation across paths,
``β = C⁻¹ρ`` and ``Z = βᵀx + √(1 − βᵀCβ) ε`` — so ``corr(Z, x) = ρ``. With ``ρ = 0`` (the
usual case: the GPU-hour history is too short) ``Z = ε``.

The daily GPU price to the horizon is the OU model's exact transition with daily shocks ``η``
drawn given ``Z``: the price at the horizon is ``E[P_h] + σ_h Z`` with ``σ_h² = Σ w_d²`` the OU
variance, and ``η = ξ − w (wᵀξ − σ_h Z) / σ_h²`` (``ξ`` independent normals, ``w_d`` the weight
of day d's shock in ``P_h``) is again independent standard normal with ``wᵀη = σ_h Z``.

A contract's value on day h is what it paid on days 1 … h (at face) plus, for later days, its
cash flows on the expected fixings given the path, ``E[P_t | P_h] = θ + (P_h − θ) e^{−κ(t−h)}``,
discounted to h: exact, because these cash flows are affine in the fixings (a lease is valued
as its holder holds it, each day's GPU-hours at the index less the price, as the pricing
engines value it). Its value today is the same on the expected fixings from the spot — the
analytic engine's value.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from hashmarket.errors import PricingError
from hashmarket.instruments import ComputeForward, ComputeLease, Fixings, to_day
from hashmarket.models import GpuPriceModel
from hashmarket.pricing.compute import ComputeMarket
from hashmarket.pricing.revaluation.marks import PnLModel
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
GPU_FIELD = "gpu_price_usd_per_gpu_hour"
# A correlation vector inconsistent with the drivers' own correlation (βᵀCβ > 1) is shrunk
# to just inside the feasible set.
MAX_EXPLAINED = 0.999


def _standardised(values: FloatArray) -> FloatArray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def compute_factor(
    drivers: FloatArray, rho: FloatArray, rng: np.random.Generator
) -> tuple[FloatArray, bool]:
    """``Z`` per path from the drivers ``[paths, k]`` (log changes to the horizon) and the
    target correlations ``rho [k]`` (module docstring); and whether ``rho`` had to be shrunk."""
    n = drivers.shape[0]
    eps = np.asarray(rng.standard_normal(n), dtype=np.float64)
    if not np.any(rho):
        return eps, False
    x = np.column_stack([_standardised(drivers[:, j]) for j in range(drivers.shape[1])])
    c = np.atleast_2d(np.corrcoef(x, rowvar=False)) if n > 2 else np.eye(x.shape[1])
    c = np.where(np.isfinite(c), c, 0.0)
    beta = np.linalg.pinv(c) @ rho
    explained = float(beta @ c @ beta)
    shrunk = explained > MAX_EXPLAINED
    if shrunk:
        beta *= math.sqrt(MAX_EXPLAINED / explained)
        explained = MAX_EXPLAINED
    z = x @ beta + math.sqrt(max(1.0 - explained, 0.0)) * eps
    return np.asarray(z, dtype=np.float64), shrunk


def gpu_horizon_paths(
    model: GpuPriceModel,
    spot_usd_per_gpu_hour: float,
    *,
    horizon_days: int,
    factor: FloatArray,
    rng: np.random.Generator,
) -> FloatArray:
    """Daily GPU-hour prices ``[paths, horizon + 1]`` whose shock to the horizon is ``factor``
    (module docstring)."""
    n = len(factor)
    decay = math.exp(-model.reversion_per_year / DAYS_PER_YEAR_ACT365)
    step_sd = math.sqrt(float(model.variance(1.0 / DAYS_PER_YEAR_ACT365)))
    w = step_sd * decay ** np.arange(horizon_days - 1, -1, -1, dtype=np.float64)
    total = float(w @ w)
    xi = rng.standard_normal((n, horizon_days))
    if total > 0:
        sigma_h = math.sqrt(total)
        xi = xi - np.outer(xi @ w - sigma_h * factor, w) / total
    return model.simulate(spot_usd_per_gpu_hour, days=horizon_days, n_paths=n, rng=rng, shocks=xi)


def _amounts(
    instrument: ComputeForward | ComputeLease, dates: npt.NDArray[np.datetime64], prices: FloatArray
) -> FloatArray:
    """The contract's cash flows per day on ``prices [paths, dates]``; a lease's delivered
    GPU-hours counted at the index, as the holder holds them (full delivery)."""
    if isinstance(instrument, ComputeForward):
        return instrument.cashflows(Fixings(dates=dates, values={GPU_FIELD: prices}))
    delivered = np.zeros(len(dates))
    first = int((to_day(instrument.first_day) - dates[0]).astype(int))
    delivered[first:] = instrument.contracted_gpu_hours_by_day()
    fixings = Fixings(dates=dates, values={GPU_FIELD: prices, "delivered_gpu_hours": delivered})
    return np.asarray(
        instrument.cashflows(fixings) + instrument.side.sign * prices * delivered, dtype=np.float64
    )


def _window(
    instrument: ComputeForward | ComputeLease, market: ComputeMarket
) -> tuple[npt.NDArray[np.datetime64], FloatArray]:
    """Dates from the earlier of the contract's first day and the as-of day to its last day,
    and the realized fixings of the days before the as-of day (NaN-free)."""
    first = instrument.first_day if isinstance(instrument, ComputeLease) else instrument.start
    last = instrument.last_day if isinstance(instrument, ComputeLease) else instrument.end
    if last <= market.asof:
        raise PricingError("expired", instrument=instrument.type_name, asof=market.asof, last=last)
    start = min(first, market.asof)
    dates = np.arange(to_day(start), to_day(last) + 1)
    lead = (market.asof - start).days
    past = np.full(lead, market.gpu_price_usd_per_gpu_hour)
    if lead and isinstance(instrument, ComputeForward):
        # An average already under way needs its realized days; a lease's past days pay
        # nothing that is counted.
        if market.past_fixings is None:
            raise PricingError(
                "missing_fixings",
                instrument=instrument.type_name,
                field=GPU_FIELD,
                start=start,
                end=market.asof - dt.timedelta(days=1),
                problem="the contract has started: give the realized fixings (past_fixings)",
            )
        _, values = market.past_fixings.window(
            GPU_FIELD, start, market.asof - dt.timedelta(days=1), instrument=instrument.type_name
        )
        past = values[0]
    return dates, past


def horizon_values(
    instrument: ComputeForward | ComputeLease,
    *,
    market: ComputeMarket,
    model: GpuPriceModel,
    gpu_paths: FloatArray,
) -> tuple[float, FloatArray]:
    """The contract's value today and on day h of each path (module docstring), per unit;
    ``gpu_paths [paths, h + 1]`` start at the market's spot."""
    h = gpu_paths.shape[1] - 1
    dates, past = _window(instrument, market)
    lead = len(past)
    offset = np.arange(len(dates)) - lead  # days after the as-of day
    theta, kappa = model.mean_usd_per_gpu_hour, model.reversion_per_year
    spot = market.gpu_price_usd_per_gpu_hour
    future = offset >= 1
    years = np.maximum(offset, 0) / DAYS_PER_YEAR_ACT365
    df0 = market.usd_curve.discount_factor(years)
    expected0 = theta + (spot - theta) * np.exp(-kappa * years)
    prices0 = np.concatenate([past, expected0[lead:]])[None, :]
    value0 = float((_amounts(instrument, dates, prices0)[0] * df0)[future].sum())
    n = gpu_paths.shape[0]
    simulated = np.clip(offset, 0, h)
    after = np.maximum(offset - h, 0) / DAYS_PER_YEAR_ACT365
    p_h = gpu_paths[:, h : h + 1]
    conditional = theta + (p_h - theta) * np.exp(-kappa * after)[None, :]
    prices = np.where(offset[None, :] > h, conditional, gpu_paths[:, simulated])
    prices[:, :lead] = past
    amounts = _amounts(instrument, dates, np.asarray(prices, dtype=np.float64))
    weights = np.where(offset > h, market.usd_curve.discount_factor(after), 1.0) * future
    return value0, np.asarray(amounts @ weights, dtype=np.float64).reshape(n)


def with_positions(
    pnl: PnLModel,
    *,
    names: tuple[str, ...],
    kinds: tuple[str, ...],
    quantities: FloatArray,
    value0_usd: FloatArray,
    values_h_usd: FloatArray,
    notes: tuple[str, ...] = (),
) -> PnLModel:
    """``pnl`` with positions appended whose per-unit values on day h are ``values_h_usd
    [paths, positions]`` (USD): as columns of path values beside the non-affine contracts',
    so totals, tails and per-position figures treat them like every other position."""
    k = len(names)
    nl_col = np.concatenate([pnl.nl_col, pnl.nl.shape[1] + np.arange(k, dtype=np.int64)])
    return replace(
        pnl,
        names=pnl.names + names,
        kinds=pnl.kinds + kinds,
        quantities=np.concatenate([pnl.quantities, quantities]),
        btc=np.concatenate([pnl.btc, np.zeros(k, dtype=bool)]),
        value0_usd=np.concatenate([pnl.value0_usd, value0_usd]),
        w=np.concatenate([pnl.w, np.zeros((pnl.w.shape[0], k))], axis=1),
        const=np.concatenate([pnl.const, np.zeros(k)]),
        nl=np.concatenate([pnl.nl, values_h_usd], axis=1),
        nl_col=nl_col,
        notes=pnl.notes + notes,
    )


def compute_only_pnl(
    *,
    names: tuple[str, ...],
    kinds: tuple[str, ...],
    quantities: FloatArray,
    value0_usd: FloatArray,
    values_h_usd: FloatArray,
    price_h_usd: FloatArray,
    horizon_days: int,
    asof: dt.date,
    seed: int | None,
    notes: tuple[str, ...] = (),
) -> PnLModel:
    """A :class:`PnLModel` of compute positions alone (a book with nothing on the network)."""
    n = values_h_usd.shape[0]
    empty = PnLModel(
        names=(),
        kinds=(),
        quantities=np.zeros(0),
        btc=np.zeros(0, dtype=bool),
        value0_usd=np.zeros(0),
        z=np.zeros((n, 0)),
        w=np.zeros((0, 0)),
        const=np.zeros(0),
        nl=np.zeros((n, 0)),
        nl_col=np.zeros(0, dtype=np.int64),
        price_h_usd=price_h_usd,
        horizon_days=horizon_days,
        asof=asof,
        source="monte_carlo",
        n_paths=n,
        seed=seed,
    )
    return with_positions(
        empty,
        names=names,
        kinds=kinds,
        quantities=quantities,
        value0_usd=value0_usd,
        values_h_usd=values_h_usd,
        notes=notes,
    )
