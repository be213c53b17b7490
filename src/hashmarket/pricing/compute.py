"""Engines for compute contracts under the mean-reverting GPU-hour price model: they price on
a :class:`~hashmarket.models.gpu.GpuPriceModel` and a :class:`ComputeMarket` (the pricing
registry's ``COMPUTE`` inputs).

* ``analytic`` — under Ornstein–Uhlenbeck the value is linear in the expected fixings, so
  ``value = Σ_days DF(t) · side · GPU-hours · (θ + (P₀ − θ)e^{−κt} − K)`` (the average-settled
  forward pays once, on the period's mean, with the realized part of the period known).
* ``mc`` — simulate the price paths, build :class:`Fixings` (realized days first), call
  the contract's own ``cashflows`` — the function settlement calls — and discount. It exists to
  check the closed form and for payoffs without one.

A lease is valued as its holder holds it: each day the GPU-hours delivered, worth that day's
index price, less what the contract makes the holder pay (the price, net of SLA refunds). There
is no model of delivery, so the engines take it as contracted — no refund is due — and say so in
the diagnostics; the value is then a daily forward on the lease's GPU-hours at its price.

Every engine follows the conventions: amounts paid on or before the valuation date are not
counted; every result carries ``std_error``, ``n_paths`` and ``seed``. A contract whose last
fixing is on or before the valuation date is refused in one line, as the network engines
refuse it (it settles on its realized fixings, it is not priced).

The Monte Carlo engine simulates the plain way only (pseudo-random OU steps, antithetic if
asked) and refuses the ``pseudo`` and ``sobol`` methods by name rather than ignore them: the
cash flows of these contracts are linear in the simulated prices, so the ``analytic`` engine
already values them exactly and a variance-reduced simulation would only reproduce it.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.errors import PricingError
from hashmarket.instruments import ComputeForward, ComputeLease, Fixings, ForwardSettlement, to_day
from hashmarket.models import GpuPriceModel
from hashmarket.pricing.discount import DiscountCurve, FlatRate
from hashmarket.pricing.result import MonteCarloConfig, PricingResult, Progress
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


def _refuse_expired(
    instrument: ComputeForward | ComputeLease, asof: dt.date, last: dt.date
) -> None:
    if last <= asof:
        raise PricingError("expired", instrument=instrument.type_name, asof=asof, last=last)


def _refuse_method(instrument: ComputeForward | ComputeLease, config: MonteCarloConfig) -> None:
    if config.method != "plain":
        raise PricingError(
            "mc_config",
            problem=f"method {config.method!r} is not available for {instrument.type_name} "
            "(compute contracts are simulated with method 'plain'; their 'analytic' engine "
            "is exact)",
        )


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
    first: FloatArray = values[0]
    return first


def _diagnostics(market: ComputeMarket, model: GpuPriceModel, future_days: int) -> dict[str, Any]:
    return {
        "asof": market.asof.isoformat(),
        "spot_usd_per_gpu_hour": market.gpu_price_usd_per_gpu_hour,
        "future_days": future_days,
        "model": {
            "mean_usd_per_gpu_hour": model.mean_usd_per_gpu_hour,
            "reversion_per_year": model.reversion_per_year,
            "vol_usd_per_year": model.vol_usd_per_year,
        },
    }


def analytic_forward(
    instrument: ComputeForward,
    *,
    market: ComputeMarket,
    model: GpuPriceModel,
    config: MonteCarloConfig,
    progress: Progress | None = None,
) -> PricingResult:
    """Closed-form value and spot delta of a compute forward under the OU model."""
    fwd = instrument
    _refuse_expired(fwd, market.asof, fwd.end)
    asof_day = to_day(market.asof)
    dates = _window_dates(fwd)
    future = dates > asof_day
    spot = market.gpu_price_usd_per_gpu_hour
    t = market.years_to(dates[future])
    expected = model.expected_price(spot, t)
    sensitivity = model.spot_sensitivity(t)
    scale = fwd.side.sign * fwd.gpu_hours_per_day
    k = fwd.fixed_price_usd_per_gpu_hour
    diagnostics = _diagnostics(market, model, int(future.sum()))
    if fwd.settlement is ForwardSettlement.DAILY:
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
    return _closed_form(value, delta, diagnostics)


def _closed_form(value: float, delta: float, diagnostics: dict[str, Any]) -> PricingResult:
    return PricingResult(
        value=value,
        std_error=0.0,
        n_paths=0,
        seed=None,
        currency="usd",
        engine="analytic",
        greeks={"delta_usd_per_usd_per_gpu_hour": delta},
        diagnostics=diagnostics,
    )


def _simulated_values(
    market: ComputeMarket,
    model: GpuPriceModel,
    config: MonteCarloConfig,
    *,
    days: int,
    path_values: Callable[[FloatArray], FloatArray],
) -> tuple[FloatArray, int]:
    """Per-sample present values (antithetic pairs averaged) and the paths simulated:
    ``path_values`` turns simulated prices ``[paths, days + 1]`` (column 0 the spot) into each
    path's present value. A target error adds seeded batches until it is met."""
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
        pv = path_values(paths)
        if config.antithetic:
            half = n // 2
            pv = (pv[:half] + pv[half:]) / 2.0
        return np.asarray(pv, dtype=np.float64)

    def even(n: int) -> int:
        return n + (n % 2 if config.antithetic else 0)

    if config.n_paths is not None:
        total = even(config.n_paths)
        return batch(0, total), total
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
    return samples, total


def _mc_result(
    samples: FloatArray,
    total: int,
    *,
    config: MonteCarloConfig,
    greeks: dict[str, float],
    diagnostics: dict[str, Any],
    started: float,
) -> PricingResult:
    value = float(samples.mean())
    error = float(samples.std(ddof=1) / math.sqrt(len(samples))) if len(samples) > 1 else math.nan
    return PricingResult(
        value=value,
        std_error=error,
        n_paths=total,
        seed=config.seed,
        currency="usd",
        engine="mc",
        greeks=greeks,
        diagnostics={
            **diagnostics,
            "antithetic": config.antithetic,
            "independent_samples": len(samples),
            "elapsed_s": time.perf_counter() - started,
        },
    )


def monte_carlo_forward(
    instrument: ComputeForward,
    *,
    market: ComputeMarket,
    model: GpuPriceModel,
    config: MonteCarloConfig,
    progress: Progress | None = None,
) -> PricingResult:
    """Monte Carlo value: simulated fixings through the contract's own ``cashflows``."""
    started = time.perf_counter()
    fwd = instrument
    _refuse_expired(fwd, market.asof, fwd.end)
    _refuse_method(fwd, config)
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

    def path_values(paths: FloatArray) -> FloatArray:
        fixings = Fixings(dates=sim_dates, values={"gpu_price_usd_per_gpu_hour": paths})
        if past is not None:
            fixings = past.concat(fixings)
        amounts = fwd.cashflows(fixings)
        return np.asarray(amounts[:, -days:] @ discount, dtype=np.float64)

    samples, total = _simulated_values(market, model, config, days=days, path_values=path_values)
    greeks: dict[str, float] = {}
    if config.greeks:
        # Pathwise: every simulated price moves by e^{−κt} per unit of spot, as E[P_t] does.
        greeks = dict(analytic_forward(fwd, market=market, model=model, config=config).greeks)
    return _mc_result(
        samples,
        total,
        config=config,
        greeks=greeks,
        diagnostics={"asof": market.asof.isoformat(), "horizon_days": days},
        started=started,
    )


# ---- lease ----------------------------------------------------------------------------------

DELIVERY_NOTE = "delivery taken as contracted (no model of uptime): no SLA refund is valued"


def _lease_days(lease: ComputeLease) -> np.ndarray:
    return np.arange(to_day(lease.first_day), to_day(lease.last_day) + 1)


def analytic_lease(
    instrument: ComputeLease,
    *,
    market: ComputeMarket,
    model: GpuPriceModel,
    config: MonteCarloConfig,
    progress: Progress | None = None,
) -> PricingResult:
    """Closed-form value and spot delta of a lease with full delivery: each future day's
    contracted GPU-hours × (E[P_t] − price), discounted, from the holder's side."""
    lease = instrument
    _refuse_expired(lease, market.asof, lease.last_day)
    dates = _lease_days(lease)
    future = dates > to_day(market.asof)
    hours = lease.contracted_gpu_hours_by_day()[future]
    t = market.years_to(dates[future])
    df = market.discount_factors(dates[future])
    expected = model.expected_price(market.gpu_price_usd_per_gpu_hour, t)
    sign = lease.side.sign
    weights = df * hours
    value = float(sign * (weights * (expected - lease.price_usd_per_gpu_hour)).sum())
    delta = float(sign * (weights * model.spot_sensitivity(t)).sum())
    diagnostics = _diagnostics(market, model, int(future.sum()))
    diagnostics["delivery"] = DELIVERY_NOTE
    diagnostics["fair_price_usd_per_gpu_hour"] = (
        float((weights * expected).sum() / weights.sum()) if weights.sum() > 0 else math.nan
    )
    return _closed_form(value, delta, diagnostics)


def monte_carlo_lease(
    instrument: ComputeLease,
    *,
    market: ComputeMarket,
    model: GpuPriceModel,
    config: MonteCarloConfig,
    progress: Progress | None = None,
) -> PricingResult:
    """Monte Carlo value of a lease with full delivery: per path, the discounted market value
    of each future day's delivered GPU-hours plus the contract's own ``cashflows`` (payments,
    refunds) on simulated fixings."""
    started = time.perf_counter()
    lease = instrument
    _refuse_expired(lease, market.asof, lease.last_day)
    _refuse_method(lease, config)
    days = (lease.last_day - market.asof).days
    asof_day = to_day(market.asof)
    lease_days = _lease_days(lease)
    # Fixings from the earlier of the lease's first day and the as-of day to its last day.
    # Days up to the as-of day pay nothing that is counted, so they hold the spot.
    first = min(lease_days[0], asof_day)
    dates = np.arange(first, lease_days[-1] + 1)
    lead = int((asof_day - first).astype(int))
    delivered = np.zeros(len(dates))
    delivered[int((lease_days[0] - first).astype(int)) :] = lease.contracted_gpu_hours_by_day()
    future = dates > asof_day
    discount = market.discount_factors(dates[future])
    sign = lease.side.sign

    def path_values(paths: FloatArray) -> FloatArray:
        prices = np.concatenate(
            [np.full((len(paths), lead), market.gpu_price_usd_per_gpu_hour), paths], axis=1
        )
        fixings = Fixings(
            dates=dates,
            values={"gpu_price_usd_per_gpu_hour": prices, "delivered_gpu_hours": delivered},
        )
        amounts = lease.cashflows(fixings) + sign * prices * delivered
        return np.asarray(amounts[:, future] @ discount, dtype=np.float64)

    samples, total = _simulated_values(market, model, config, days=days, path_values=path_values)
    greeks: dict[str, float] = {}
    if config.greeks:
        greeks = dict(analytic_lease(lease, market=market, model=model, config=config).greeks)
    return _mc_result(
        samples,
        total,
        config=config,
        greeks=greeks,
        diagnostics={
            "asof": market.asof.isoformat(),
            "horizon_days": days,
            "delivery": DELIVERY_NOTE,
        },
        started=started,
    )
