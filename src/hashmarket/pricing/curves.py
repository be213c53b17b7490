"""The hashprice forward curve: expected hashprice per calendar month, with bands.

For each of the next ``months`` calendar months after the valuation date, every simulated
path's average daily hashprice over the month is computed; the curve is their mean (the
forward price of a calendar-month forward, exactly so when rates are zero, otherwise within
the spread of discount factors over a month) and their 5th, 50th and 95th percentiles
(exact quantiles over all paths). The simulation uses the pricing measure (BTC/USD drifting
at r_usd − r_btc) and streams over chunks: memory is paths × months, not paths × days.

Day 0 is the as-of day itself: ``spot`` is its published fixing (the calibrated state carries
it), so the curve starts from the index value the same day's contracts settle on.

In BTC, the forward of a fixing paid in BTC is taken with BTC as the numeraire, as the pricing
engine values BTC amounts (``pricing.pathvalue``). A forward paying ``X_t − K`` BTC on day t is
worth ``E_usd[D_usd(t) (X_t − K) S_t]`` USD; it is worth nothing at

    K = E_usd[D_usd(t) X_t S_t] / E_usd[D_usd(t) S_t] = E_usd[D_usd(t) X_t S_t] / (S_0 D_btc(t))
      = E_usd[X_t S_t / F_t],   F_t = E_usd[S_t] = S_0 D_btc(t) / D_usd(t)

(deterministic rates; ``E[D_usd(t) S_t] = S_0 D_btc(t)`` is a BTC bond). So each path's BTC
hashprice is weighted by ``S_t / F_t`` before the month's mean, not averaged as simulated —
the paths' plain mean, ``E_usd[X_t]``, misses the covariance of the hashprice with the price.
A month's point is the mean over its days of these daily forwards, which is the price of a
zero-strike BTC forward on that month per PH/s-day when rates are zero. Its bands are the
quantiles of the month's average fixing under the measure with density ``S_T / F_T`` (T the
month's last day), under which that average's mean is the point above (``S_t / F_t`` is a
martingale). Under the ``model`` measure the paths are averaged as simulated, as pricing does.

Quoted forwards, if given for some months, shift the curve multiplicatively: each quoted
month's factor is quote / model mean; months between quotes interpolate the log factor
linearly, months outside take the nearest quote's factor; the bands move with the mean.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.errors import UsageError
from hashmarket.instruments import SettlementCurrency
from hashmarket.models import (
    NetworkModel,
    ScenarioConfig,
    Scenarios,
    ScenarioSet,
    backend_for,
    monthly_means,
)
from hashmarket.pricing.market import Market
from hashmarket.pricing.montecarlo import pricing_model
from hashmarket.pricing.pathvalue import forward_usd
from hashmarket.pricing.result import MonteCarloConfig, Progress
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
BANDS = (0.05, 0.50, 0.95)


@dataclass(frozen=True)
class CurvePoint:
    """One calendar month of the curve, in ``currency`` per PH/s per day."""

    month: str
    start: dt.date
    end: dt.date
    mean: float
    std_error: float
    p5: float
    p50: float
    p95: float
    quote: float | None = None
    shift_factor: float = 1.0

    @property
    def shifted_mean(self) -> float:
        return self.mean * self.shift_factor


@dataclass(frozen=True)
class HashpriceCurve:
    asof: dt.date
    currency: str
    points: tuple[CurvePoint, ...]
    n_paths: int
    seed: int
    spot: float
    diagnostics: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shifted(self) -> bool:
        return any(p.quote is not None for p in self.points)

    def to_records(self) -> list[dict[str, Any]]:
        unit = f"{self.currency}_per_ph_day"
        out = []
        for p in self.points:
            f = p.shift_factor
            record: dict[str, Any] = {
                "month": p.month,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                f"mean_{unit}": p.mean * f,
                f"p5_{unit}": p.p5 * f,
                f"p50_{unit}": p.p50 * f,
                f"p95_{unit}": p.p95 * f,
                f"std_error_{unit}": p.std_error * f,
            }
            if self.shifted:
                record[f"model_mean_{unit}"] = p.mean
                record[f"quote_{unit}"] = p.quote
                record["shift_factor"] = f
            out.append(record)
        return out


def next_months(asof: dt.date, months: int) -> list[tuple[dt.date, dt.date]]:
    """The ``months`` calendar months after the one containing ``asof``."""
    out = []
    start = (asof.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    for _ in range(months):
        nxt = (start + dt.timedelta(days=32)).replace(day=1)
        out.append((start, nxt - dt.timedelta(days=1)))
        start = nxt
    return out


def quote_month(key: str, asof: dt.date) -> str:
    """The ``YYYY-MM`` month a quote key names: itself, or ``M+k`` — the k-th calendar month
    after the as-of month (``M+1`` is the curve's first month), so a quote keeps its place on
    the curve whatever the as-of date."""
    text = key.strip()
    if text[:2].upper() == "M+" and text[2:].isdigit() and int(text[2:]) >= 1:
        offset = asof.year * 12 + asof.month - 1 + int(text[2:])
        return f"{offset // 12:04d}-{offset % 12 + 1:02d}"
    try:
        dt.date.fromisoformat(text + "-01")
    except ValueError:
        raise UsageError(
            "bad_option", option="--quote", problem=f"{key!r} is not YYYY-MM or M+k (k >= 1)"
        ) from None
    return text


def shift_factors(means: FloatArray, quotes: list[float | None]) -> FloatArray:
    """Multiplicative factors matching the quoted months, log-interpolated between them."""
    known = [(i, q) for i, q in enumerate(quotes) if q is not None]
    if not known:
        return np.ones(len(means))
    where = np.array([i for i, _ in known], dtype=np.float64)
    logs = np.array([math.log(q / means[i]) for i, q in known])
    ratios: FloatArray = np.exp(np.interp(np.arange(len(means)), where, logs))
    return ratios


def _quotes_by_month(
    quotes: Mapping[str, float] | None, asof: dt.date, labels: list[str]
) -> dict[str, float]:
    """The quoted forward prices by ``YYYY-MM`` month, each checked to be on the curve, once,
    and positive."""
    by_month: dict[str, float] = {}
    for key, value in (quotes or {}).items():
        label = quote_month(key, asof)
        if label not in labels:
            named = label if label == key.strip() else f"{key.strip()} ({label})"
            raise UsageError(
                "bad_option",
                option="--quote",
                problem=f"month {named} is not on the curve as of {asof} "
                f"({labels[0]} to {labels[-1]}, M+1 to M+{len(labels)})",
            )
        if label in by_month:
            raise UsageError("bad_option", option="--quote", problem=f"month {label} quoted twice")
        if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
            raise UsageError("bad_option", option="--quote", problem=f"{key}={value}: not > 0")
        by_month[label] = float(value)
    return by_month


def _curve_scenarios(
    model: NetworkModel,
    market: Market,
    config: MonteCarloConfig,
    days: int,
    fields: tuple[str, ...],
) -> tuple[Scenarios, NetworkModel, float]:
    """The scenarios the curve averages (only ``fields`` simulated), their model, and the BTC
    drift used."""
    sim_model, drift = pricing_model(model, market, config, days / DAYS_PER_YEAR_ACT365)
    n_paths = config.n_paths or config.max_paths
    n_paths += n_paths % 2 if config.antithetic else 0
    scenarios = Scenarios(
        sim_model,
        market.state,
        days,
        ScenarioConfig(
            n_paths=n_paths,
            seed=config.seed,
            antithetic=config.antithetic,
            chunk_paths=config.chunk_paths,
            stream_paths=config.stream_paths,
            workers=config.workers,
            fields=fields,
        ),
    )
    return scenarios, sim_model, drift


def _curve_points(
    averages: FloatArray,
    scenarios: Scenarios,
    config: MonteCarloConfig,
    periods: list[tuple[dt.date, dt.date]],
    labels: list[str],
    by_month: Mapping[str, float],
    numeraire: tuple[FloatArray, FloatArray] | None = None,
) -> tuple[CurvePoint, ...]:
    """One point per month from the paths' monthly averages ``[paths, months]``; with
    ``numeraire`` (the monthly averages of ``X_t S_t / F_t`` and the weights ``S_T / F_T`` of
    each month's last day), the BTC forward and the bands under that measure."""
    if numeraire is None:
        estimates = averages
        bands = np.quantile(averages, BANDS, axis=0)
    else:
        estimates, weights = numeraire
        bands = np.column_stack(
            [_weighted_quantiles(averages[:, j], weights[:, j]) for j in range(len(labels))]
        )
    means = estimates.mean(axis=0)
    errors = _standard_errors(estimates, scenarios, config.antithetic)
    quote_list = [by_month.get(label) for label in labels]
    factors = shift_factors(means, quote_list)
    return tuple(
        CurvePoint(
            month=labels[j],
            start=periods[j][0],
            end=periods[j][1],
            mean=float(means[j]),
            std_error=float(errors[j]),
            p5=float(bands[0, j]),
            p50=float(bands[1, j]),
            p95=float(bands[2, j]),
            quote=quote_list[j],
            shift_factor=float(factors[j]),
        )
        for j in range(len(labels))
    )


def hashprice_curve(
    *,
    market: Market,
    model: NetworkModel,
    months: int = 12,
    config: MonteCarloConfig | None = None,
    currency: SettlementCurrency = SettlementCurrency.USD,
    quotes: Mapping[str, float] | None = None,
    progress: Progress | None = None,
) -> HashpriceCurve:
    """The monthly hashprice curve from ``market.asof`` (see the module docstring).

    ``quotes`` maps ``YYYY-MM`` or ``M+k`` (:func:`quote_month`) to a quoted forward price in
    ``currency`` per PH/s per day.
    """
    config = config or MonteCarloConfig(n_paths=10_000)
    if months <= 0:
        raise UsageError("bad_option", option="--months", problem=f"must be positive, got {months}")
    periods = next_months(market.asof, months)
    labels = [f"{s.year:04d}-{s.month:02d}" for s, _ in periods]
    by_month = _quotes_by_month(quotes, market.asof, labels)
    days = (periods[-1][1] - market.asof).days
    name = f"hashprice_{SettlementCurrency(currency).value}_per_ph_day"
    btc_numeraire = currency == SettlementCurrency.BTC and config.measure == "risk_neutral"
    fields = (name, "price_usd") if btc_numeraire else (name,)
    scenarios, sim_model, drift = _curve_scenarios(model, market, config, days, fields)
    month_keys = [np.datetime64(label, "M") for label in labels]
    ends = np.array([np.datetime64(end, "D") for _, end in periods])

    def summarize(chunk: ScenarioSet) -> FloatArray:
        plain = monthly_means(chunk.field(name), chunk.dates, month_keys)
        if not btc_numeraire:
            return plain
        # S_t / F_t on every day, F_t the paths' forward (pricing.pathvalue.forward_usd).
        elapsed = (chunk.dates - chunk.dates[0]).astype(np.float64)
        weights = chunk.field("price_usd") / forward_usd(market, sim_model, elapsed)
        weighted = monthly_means(chunk.field(name) * weights, chunk.dates, month_keys)
        at_end = weights[:, np.searchsorted(chunk.dates, ends)]
        return np.concatenate([plain, weighted, at_end], axis=1)

    backend = backend_for(config.scheduler)
    parts = backend.map_chunks(scenarios, summarize, progress=progress)
    summaries = np.concatenate(parts, axis=0)  # in path order
    n = len(labels)
    averages = summaries[:, :n]  # [paths, months]
    numeraire = (summaries[:, n : 2 * n], summaries[:, 2 * n :]) if btc_numeraire else None
    spot = (
        market.state.hashprice_usd_per_ph_day
        if currency == SettlementCurrency.USD
        else market.state.hashprice_btc_per_ph_day
    )
    return HashpriceCurve(
        asof=market.asof,
        currency=SettlementCurrency(currency).value,
        points=_curve_points(averages, scenarios, config, periods, labels, by_month, numeraire),
        n_paths=scenarios.config.n_paths,
        seed=config.seed,
        spot=spot,
        diagnostics={
            "measure": config.measure,
            "numeraire": "btc" if btc_numeraire else SettlementCurrency(currency).value,
            "btc_usd_drift_per_year": drift,
            "horizon_days": days,
            "block_arrivals": model.block_arrivals.value,
        },
    )


def _standard_errors(averages: FloatArray, scenarios: Scenarios, antithetic: bool) -> FloatArray:
    """Standard error of each month's mean, from antithetic pair means when pairs are used."""
    if not antithetic:
        return _error_of_mean(averages)
    sizes = _block_sizes(scenarios)
    pairs = []
    start = 0
    for size in sizes:
        half = size // 2
        pairs.append(0.5 * (averages[start : start + half] + averages[start + half : start + size]))
        start += size
    return _error_of_mean(np.concatenate(pairs, axis=0))


def _weighted_quantiles(values: FloatArray, weights: FloatArray) -> FloatArray:
    """The :data:`BANDS` quantiles of ``values`` under probabilities proportional to
    ``weights``: the weighted empirical distribution, each sample at the middle of its mass."""
    order = np.argsort(values)
    mass = weights[order] / weights.sum()
    middle = np.cumsum(mass) - 0.5 * mass
    return np.asarray(np.interp(BANDS, middle, values[order]), dtype=np.float64)


def _error_of_mean(samples: FloatArray) -> FloatArray:
    if len(samples) < 2:
        return np.full(samples.shape[1], math.nan)
    return np.asarray(samples.std(axis=0, ddof=1) / math.sqrt(len(samples)))


def _block_sizes(scenarios: Scenarios) -> list[int]:
    stream = scenarios.config.stream_paths
    n = scenarios.config.n_paths
    return [min(stream, n - s) for s in range(0, n, stream)]
