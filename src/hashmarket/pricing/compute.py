"""Engines for the compute forward under the mean-reverting GPU-hour price model.

Registered in the pricing registry as ``(ComputeForward, "analytic")`` and
``(ComputeForward, "mc")`` when this module is imported; :func:`price_compute` is the typed
entry point that goes through the same registry.

* ``analytic`` — under Ornstein–Uhlenbeck the forward is linear in the expected fixings, so
  ``value = Σ_days DF(t) · side · GPU-hours · (θ + (P₀ − θ)e^{−κt} − K)`` (the average-settled
  forward pays once, on the period's mean, with the realized part of the period known).
* ``mc`` — simulate the price paths, build :class:`Fixings` (realized days first), call
  the contract's own ``cashflows`` — the function settlement calls — and discount. It exists to
  check the closed form and for payoffs without one.

Both follow the engine conventions: amounts paid on or before the valuation date are not
counted; every result carries ``std_error``, ``n_paths`` and ``seed``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from hashmarket.errors import PricingError
from hashmarket.instruments.compute import ComputeForward, ForwardSettlement
from hashmarket.instruments.fixings import Fixings, to_day
from hashmarket.models.gpu import GpuPriceModel
from hashmarket.pricing.discount import DiscountCurve, FlatRate
from hashmarket.pricing.registry import price, register
from hashmarket.pricing.result import MonteCarloConfig, PricingResult
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
FIRST_BATCH_PATHS = 4096
MAX_BATCHES = 6


@dataclass(frozen=True)
class ComputeMarket:
    """Market data for compute contracts as of the end of ``asof``: the GPU-hour index level
    (the spot the model starts from), the USD curve, and realized fixings before ``asof`` for
    contracts that have already started."""

    asof: dt.date
    gpu_price_usd_per_gpu_hour: float
    usd_curve: DiscountCurve = field(default_factory=FlatRate)
    past_fixings: Fixings | None = None

    def __post_init__(self) -> None:
        spot = self.gpu_price_usd_per_gpu_hour
        if not (math.isfinite(spot) and spot > 0):
            raise PricingError(
                "engine_model",
                engine="compute",
                instrument="compute_forward",
                needs=f"a positive GPU-hour price, got {spot!r}",
            )

    def years_to(self, dates: np.ndarray) -> FloatArray:
        days = (dates.astype("datetime64[D]") - to_day(self.asof)).astype(np.float64)
        return np.maximum(days, 0.0) / DAYS_PER_YEAR_ACT365

    def discount_factors(self, dates: np.ndarray) -> FloatArray:
        return self.usd_curve.discount_factor(self.years_to(dates))


def _window_dates(fwd: ComputeForward) -> np.ndarray:
    return np.arange(to_day(fwd.start), to_day(fwd.end) + 1)


def _realized(fwd: ComputeForward, market: ComputeMarket, upto: dt.date) -> FloatArray:
    """Fixings of the contract's days from its start to ``upto`` (from the market data)."""
    past = market.past_fixings
    if past is None:
        raise PricingError(
            "missing_fixings",
            instrument=fwd.type_name,
            field="gpu_price_usd_per_gpu_hour",
            start=fwd.start,
            end=upto,
            problem="the contract has started: give the realized fixings (past_fixings)",
        )
    _, values = past.window("gpu_price_usd_per_gpu_hour", fwd.start, upto, instrument=fwd.type_name)
    return values[0]


def _check(instrument: Any, model: Any, market: Any, engine: str) -> None:
    if not isinstance(instrument, ComputeForward):
        raise PricingError(
            "engine_model",
            engine=engine,
            instrument=type(instrument).__name__,
            needs="a compute forward",
        )
    if not isinstance(model, GpuPriceModel) or not isinstance(market, ComputeMarket):
        raise PricingError(
            "engine_model",
            engine=engine,
            instrument=instrument.type_name,
            needs="a GpuPriceModel and a ComputeMarket",
        )


@register(ComputeForward, "analytic")
def analytic_forward(
    instrument: ComputeForward,
    *,
    market: ComputeMarket,
    model: GpuPriceModel,
    config: MonteCarloConfig,
    progress: object | None = None,
) -> PricingResult:
    """Closed-form value and spot delta of a compute forward under the OU model."""
    _check(instrument, model, market, "analytic")
    fwd = instrument
    asof_day = to_day(market.asof)
    dates = _window_dates(fwd)
    future = dates > asof_day
    spot = market.gpu_price_usd_per_gpu_hour
    t = market.years_to(dates[future])
    expected = model.expected_price(spot, t)
    sensitivity = model.spot_sensitivity(t)
    scale = fwd.side.sign * fwd.gpu_hours_per_day
    k = fwd.fixed_price_usd_per_gpu_hour
    diagnostics: dict[str, Any] = {
        "asof": market.asof.isoformat(),
        "spot_usd_per_gpu_hour": spot,
        "future_days": int(future.sum()),
        "model": {
            "mean_usd_per_gpu_hour": model.mean_usd_per_gpu_hour,
            "reversion_per_year": model.reversion_per_year,
            "vol_usd_per_year": model.vol_usd_per_year,
        },
    }
    if not future.any():
        value, delta, fair = 0.0, 0.0, math.nan
        diagnostics["note"] = (
            f"every fixing ({fwd.start} to {fwd.end}) is on or before {market.asof}"
        )
    elif fwd.settlement is ForwardSettlement.DAILY:
        df = market.discount_factors(dates[future])
        value = float(scale * (df * (expected - k)).sum())
        delta = float(scale * (df * sensitivity).sum())
        fair = float((df * expected).sum() / df.sum())
    else:
        # Days of the period up to the as-of day are known: the realized fixings before it,
        # and the spot (the as-of day's own fixing).
        known = 0.0
        if fwd.start < market.asof:
            known = float(_realized(fwd, market, market.asof - dt.timedelta(days=1)).sum())
        if fwd.start <= market.asof:
            known += spot
        df_end = float(market.discount_factors(dates[-1:])[0])
        total = known + float(expected.sum())
        value = scale * df_end * (total - k * fwd.days)
        delta = float(scale * df_end * sensitivity.sum())
        fair = total / fwd.days
    diagnostics["fair_fixed_price_usd_per_gpu_hour"] = fair
    return PricingResult(
        value=value,
        std_error=0.0,
        n_paths=0,
        seed=None,
        currency=fwd.currency.value,
        engine="analytic",
        greeks={"delta_usd_per_usd_per_gpu_hour": delta},
        diagnostics=diagnostics,
    )


@register(ComputeForward, "mc")
def monte_carlo_forward(
    instrument: ComputeForward,
    *,
    market: ComputeMarket,
    model: GpuPriceModel,
    config: MonteCarloConfig,
    progress: object | None = None,
) -> PricingResult:
    """Monte Carlo value: simulated fixings through the contract's own ``cashflows``."""
    _check(instrument, model, market, "mc")
    started = time.perf_counter()
    fwd = instrument
    if fwd.end <= market.asof:
        return PricingResult(0.0, 0.0, 0, config.seed, fwd.currency.value, "mc")
    days = (fwd.end - market.asof).days
    asof_day = to_day(market.asof)
    sim_dates = asof_day + np.arange(days + 1)
    past = None
    if fwd.start < market.asof:
        # Realized days of the window before the as-of day (whose fixing is the spot).
        past = Fixings.from_arrays(
            np.arange(to_day(fwd.start), asof_day),
            gpu_price_usd_per_gpu_hour=_realized(fwd, market, market.asof - dt.timedelta(days=1)),
        )
    future = sim_dates > asof_day
    discount = market.discount_factors(sim_dates[future])
    seeds = np.random.SeedSequence(config.seed).spawn(MAX_BATCHES)

    def batch(i: int, n: int) -> FloatArray:
        rng = np.random.default_rng(seeds[i])
        paths = model.simulate(
            market.gpu_price_usd_per_gpu_hour,
            days=days,
            n_paths=n,
            rng=rng,
            antithetic=config.antithetic,
        )
        fixings = Fixings(dates=sim_dates, values={"gpu_price_usd_per_gpu_hour": paths})
        if past is not None:
            fixings = past.concat(fixings)
        amounts = fwd.cashflows(fixings)
        pv = amounts[:, -days:] @ discount
        if config.antithetic:
            half = n // 2
            pv = (pv[:half] + pv[half:]) / 2.0
        return np.asarray(pv, dtype=np.float64)

    def even(n: int) -> int:
        return n + (n % 2 if config.antithetic else 0)

    if config.n_paths is not None:
        total = even(config.n_paths)
        samples = batch(0, total)
    else:
        assert config.target_std_error is not None
        total = even(min(FIRST_BATCH_PATHS, config.max_paths))
        samples = batch(0, total)
        for i in range(1, MAX_BATCHES):
            error = float(samples.std(ddof=1) / math.sqrt(len(samples)))
            if error <= config.target_std_error or total >= config.max_paths:
                break
            wanted = math.ceil(total * (error / config.target_std_error) ** 2 * 1.1)
            extra = even(min(wanted, config.max_paths) - total)
            if extra <= 0:
                break
            samples = np.concatenate([samples, batch(i, extra)])
            total += extra
    value = float(samples.mean())
    error = float(samples.std(ddof=1) / math.sqrt(len(samples))) if len(samples) > 1 else math.nan
    greeks: dict[str, float] = {}
    if config.greeks:
        # Pathwise: every simulated price moves by e^{−κt} per unit of spot, as E[P_t] does.
        greeks = dict(analytic_forward(fwd, market=market, model=model, config=config).greeks)
    return PricingResult(
        value=value,
        std_error=error,
        n_paths=total,
        seed=config.seed,
        currency=fwd.currency.value,
        engine="mc",
        greeks=greeks,
        diagnostics={
            "asof": market.asof.isoformat(),
            "horizon_days": days,
            "antithetic": config.antithetic,
            "independent_samples": len(samples),
            "elapsed_s": time.perf_counter() - started,
        },
    )


def price_compute(
    instrument: ComputeForward,
    *,
    market: ComputeMarket,
    model: GpuPriceModel,
    config: MonteCarloConfig | None = None,
    engine: str = "analytic",
) -> PricingResult:
    """Price a compute contract through the pricing registry (typed for compute inputs)."""
    return price(
        cast(Any, instrument),
        market=cast(Any, market),
        model=cast(Any, model),
        config=config,
        engine=engine,
    )
