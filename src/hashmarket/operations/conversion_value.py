"""The conversion valued over joint scenarios of hashprice and the GPU-hour price: the NPV
and IRR distributions, the value of waiting, and the break-even AI price. See
``docs/conversion.md``.

Paths: hashprice from the calibrated network model (difficulty retargets, halvings, the BTC
price), the GPU-hour price from the mean-reverting GPU model started at the index's spot.
Their daily shocks are joined through the correlation of the AI-compute factor with
hashprice (``models.compute_factor``): the GPU shock of a day is ``ρ z + √(1 − ρ²) ξ`` with
``z`` the path's standardised daily log change of hashprice and ``ξ`` independent.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq

from hashmarket.models import (
    FactorCorrelation,
    GpuPriceModel,
    NetworkModel,
    NetworkState,
    ScenarioConfig,
    Scenarios,
)
from hashmarket.operations.conversion import (
    DAYS_PER_YEAR,
    ConversionSite,
    ai_market_margin_usd_per_mw_day,
    cumulative,
    decision_cashflows,
    mining_margin_usd_per_mw_day,
)
from hashmarket.pricing import StoppingResult, discount_factors, irr, npv, optimal_stopping

FloatArray = npt.NDArray[np.float64]
SEED_GPU = 1  # sub-streams of the site's seed: GPU shocks, tenant draws
SEED_TENANT = 2


@dataclass(frozen=True)
class ConversionPaths:
    """Daily prices ``[paths, days + 1]`` (column 0: the as-of day) on the same path index."""

    asof: dt.date
    hashprice_usd_per_ph_day: FloatArray
    gpu_price_usd_per_gpu_hour: FloatArray
    correlation: FactorCorrelation

    @property
    def n_paths(self) -> int:
        return int(self.hashprice_usd_per_ph_day.shape[0])


def correlated_shocks(
    hashprice_usd_per_ph_day: FloatArray, rho: float, rng: np.random.Generator
) -> FloatArray:
    """Standard normal shocks ``[paths, days]`` with correlation ``rho`` to the standardised
    daily log changes of ``hashprice_usd_per_ph_day`` ``[paths, days + 1]``."""
    independent = rng.standard_normal(
        (hashprice_usd_per_ph_day.shape[0], hashprice_usd_per_ph_day.shape[1] - 1)
    )
    if rho == 0.0:
        return independent
    with np.errstate(divide="ignore", invalid="ignore"):
        changes = np.diff(np.log(hashprice_usd_per_ph_day), axis=1)
    changes = np.where(np.isfinite(changes), changes, 0.0)
    spread = changes.std()
    z = (changes - changes.mean()) / spread if spread > 0 else np.zeros_like(changes)
    return np.asarray(rho * z + math.sqrt(1.0 - rho * rho) * independent, dtype=np.float64)


def joint_paths(
    site: ConversionSite,
    *,
    network_model: NetworkModel,
    state: NetworkState,
    gpu_model: GpuPriceModel,
    gpu_spot_usd_per_gpu_hour: float,
    correlation: FactorCorrelation,
) -> ConversionPaths:
    """Hashprice and GPU-hour price paths over the site's horizon, seeded by the site."""
    v = site.valuation
    scenarios = Scenarios(
        network_model,
        state,
        site.horizon_days,
        ScenarioConfig(n_paths=v.n_paths, seed=v.seed, fields=("hashprice_usd_per_ph_day",)),
    )
    hashprice = np.asarray(scenarios.materialize().hashprice_usd_per_ph_day, dtype=np.float64)
    rng = np.random.default_rng([v.seed, SEED_GPU])
    shocks = correlated_shocks(hashprice, correlation.gpu_hashprice, rng)
    gpu = gpu_model.simulate(
        gpu_spot_usd_per_gpu_hour,
        days=site.horizon_days,
        n_paths=v.n_paths,
        rng=rng,
        shocks=shocks,
    )
    return ConversionPaths(state.asof, hashprice, gpu, correlation)


@dataclass(frozen=True)
class ConversionValuation:
    """What converting is worth, per path and on average (USD, discounted to the as-of day)."""

    site: ConversionSite
    asof: dt.date
    tenant_probability: float
    npv_usd: FloatArray  # convert now, tenant drawn per path
    npv_with_tenant_usd: FloatArray  # convert now, tenant landed
    irr: FloatArray  # per path, tenant landed (NaN: no IRR)
    expected_npv_usd: float  # p × E[NPV | tenant] − (1 − p) × development cost
    expected_npv_std_error_usd: float
    waiting: StoppingResult
    break_even_usd_per_gpu_hour: float
    mining_given_up_usd_per_mw_year: float  # mean over paths and the first life
    ai_market_margin_usd_per_mw_year: float
    correlation: FactorCorrelation

    def quantiles(self, values: FloatArray, qs: tuple[float, ...]) -> dict[str, float]:
        finite = values[np.isfinite(values)]
        if not len(finite):
            return {f"p{round(q * 100)}": math.nan for q in qs}
        return {f"p{round(q * 100)}": float(np.quantile(finite, q)) for q in qs}

    def to_dict(self) -> dict[str, Any]:
        qs = (0.05, 0.25, 0.5, 0.75, 0.95)
        s = self.site
        return {
            "site": s.name,
            "asof": self.asof.isoformat(),
            "capacity_mw": s.capacity_mw,
            "fraction_converted": s.conversion.fraction,
            "converted_mw": s.converted_mw,
            "tenant_probability": self.tenant_probability,
            "contract": "market" if s.ai.lease is None else "lease",
            "n_paths": s.valuation.n_paths,
            "seed": s.valuation.seed,
            "discount_rate_per_year": s.valuation.discount_rate_per_year,
            "life_years": s.valuation.life_years,
            "expected_npv_usd": self.expected_npv_usd,
            "expected_npv_std_error_usd": self.expected_npv_std_error_usd,
            "npv_usd": {"mean": float(self.npv_usd.mean()), **self.quantiles(self.npv_usd, qs)},
            "npv_with_tenant_usd": {
                "mean": float(self.npv_with_tenant_usd.mean()),
                "probability_positive": float((self.npv_with_tenant_usd > 0).mean()),
                **self.quantiles(self.npv_with_tenant_usd, qs),
            },
            "irr_with_tenant": {
                "paths_with_irr": int(np.isfinite(self.irr).sum()),
                **self.quantiles(self.irr, qs),
            },
            "waiting": {
                "decision_years": s.valuation.decision_years,
                "option_value_usd": self.waiting.value_usd,
                "convert_now_usd": self.waiting.act_now_usd,
                "now_or_never_usd": self.waiting.now_or_never_usd,
                "value_of_waiting_usd": self.waiting.waiting_usd,
                "share_converting_by_year": _shares(self.waiting, s.valuation.decision_years),
            },
            "break_even_usd_per_gpu_hour": self.break_even_usd_per_gpu_hour,
            "mining_given_up_usd_per_mw_year": self.mining_given_up_usd_per_mw_year,
            "ai_market_margin_usd_per_mw_year": self.ai_market_margin_usd_per_mw_year,
            "correlation": self.correlation.to_dict(),
        }


def _shares(result: StoppingResult, decision_years: int) -> dict[str, float]:
    out = {str(k): float((result.act_at == k).mean()) for k in range(decision_years + 1)}
    out["never"] = float((result.act_at < 0).mean())
    return out


def _mining_running(site: ConversionSite, paths: ConversionPaths) -> FloatArray:
    """Per MW, the running total over days 1 … horizon of the mining margin given up."""
    return cumulative(
        mining_margin_usd_per_mw_day(paths.hashprice_usd_per_ph_day[:, 1:], site=site)
    )


def _ai_running(
    site: ConversionSite, paths: ConversionPaths, gpu_shift_usd: float = 0.0
) -> FloatArray:
    """Per MW, the running total over days 1 … horizon of the AI market margin."""
    prices = paths.gpu_price_usd_per_gpu_hour[:, 1:]
    if gpu_shift_usd:
        prices = prices + gpu_shift_usd
    return cumulative(ai_market_margin_usd_per_mw_day(prices, site=site))


def expected_npvs(
    site: ConversionSite,
    paths: ConversionPaths,
    *,
    running: tuple[FloatArray, FloatArray] | None = None,
    lease_price_usd_per_gpu_hour: float | None = None,
    decisions: int | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Per path and decision year k = 0 … K (or the first ``decisions`` of them): the NPV with
    a tenant ``[paths, K + 1]`` and the expected NPV ``p × NPV − (1 − p) × development cost``
    (both discounted to today). ``running``: the running totals of the mining and AI market
    margins, when the caller has them."""
    mining, ai = running or (_mining_running(site, paths), _ai_running(site, paths))
    v = site.valuation
    p = site.probability
    count = v.decision_years + 1 if decisions is None else decisions
    df = discount_factors(v.discount_rate_per_year, v.decision_years + v.life_years)
    dev_usd = site.conversion.development_cost_usd_per_mw * site.converted_mw
    with_tenant = np.empty((paths.n_paths, count))
    for k in range(count):
        flows = decision_cashflows(
            k,
            site=site,
            mining_running_usd=mining,
            ai_market_running_usd=ai,
            lease_price_usd_per_gpu_hour=lease_price_usd_per_gpu_hour,
        )
        with_tenant[:, k] = npv(flows, v.discount_rate_per_year)
    expected = p * with_tenant - (1.0 - p) * dev_usd * df[:count]
    return with_tenant, expected


def break_even_price(
    site: ConversionSite,
    paths: ConversionPaths,
    *,
    running: tuple[FloatArray, FloatArray] | None = None,
) -> float:
    """The GPU-hour price at which the expected NPV of converting now is zero: the lease
    price under a lease, else the level of the GPU-price paths (shifted by price − spot).
    Brent's method on a bracket found by doubling; NaN if there is none. ``running``: the
    running totals of the mining and AI market margins at the paths' own prices."""
    spot = float(paths.gpu_price_usd_per_gpu_hour[0, 0])
    given = running or (_mining_running(site, paths), _ai_running(site, paths))
    mining = given[0]
    # Under a lease only its price moves (the market after it does not); on the market the
    # margin is recomputed at each trial price.
    leased = given[1] if site.ai.lease is not None else None

    def mean_npv(price: float) -> float:
        if leased is not None:
            _, e = expected_npvs(
                site,
                paths,
                running=(mining, leased),
                lease_price_usd_per_gpu_hour=price,
                decisions=1,
            )
        else:
            parts = (mining, _ai_running(site, paths, price - spot))
            _, e = expected_npvs(site, paths, running=parts, decisions=1)
        return float(e[:, 0].mean())

    low, high = 0.0, max(spot, 1.0)
    f_low = mean_npv(low)
    if f_low >= 0:
        return math.nan if f_low > 0 else 0.0
    for _ in range(20):
        if mean_npv(high) > 0:
            return float(brentq(mean_npv, low, high, xtol=1e-9))
        low, high = high, 2.0 * high
    return math.nan


def value_conversion(site: ConversionSite, paths: ConversionPaths) -> ConversionValuation:
    """NPV and IRR distributions, the value of waiting and the break-even AI price."""
    v = site.valuation
    p = site.probability
    mining, ai = _mining_running(site, paths), _ai_running(site, paths)
    with_tenant, expected = expected_npvs(site, paths, running=(mining, ai))
    flows_now = decision_cashflows(
        0, site=site, mining_running_usd=mining, ai_market_running_usd=ai
    )
    rng = np.random.default_rng([v.seed, SEED_TENANT])
    landed = rng.random(paths.n_paths) < p
    dev_usd = site.conversion.development_cost_usd_per_mw * site.converted_mw
    npv_now = np.where(landed, with_tenant[:, 0], -dev_usd)
    decision_days = np.arange(v.decision_years + 1) * DAYS_PER_YEAR
    states = np.stack(
        [
            np.log(np.maximum(paths.hashprice_usd_per_ph_day[:, decision_days], 1e-12)),
            paths.gpu_price_usd_per_gpu_hour[:, decision_days],
        ],
        axis=2,
    )
    life = v.life_years * DAYS_PER_YEAR
    return ConversionValuation(
        site=site,
        asof=paths.asof,
        tenant_probability=p,
        npv_usd=npv_now,
        npv_with_tenant_usd=with_tenant[:, 0],
        irr=irr(flows_now[:, : v.life_years + 1]),
        expected_npv_usd=float(expected[:, 0].mean()),
        expected_npv_std_error_usd=float(expected[:, 0].std(ddof=1) / math.sqrt(paths.n_paths))
        if paths.n_paths > 1
        else 0.0,
        waiting=optimal_stopping(expected, states),
        break_even_usd_per_gpu_hour=break_even_price(site, paths, running=(mining, ai)),
        mining_given_up_usd_per_mw_year=float(mining[:, life].mean() / v.life_years),
        ai_market_margin_usd_per_mw_year=float(ai[:, life].mean() / v.life_years),
        correlation=paths.correlation,
    )
