"""The move to AI: the terms of converting part of a mining site to AI compute, and the cash
flows of the conversion on one set of price paths. See ``docs/conversion.md``.

Per MW converted and per day ``d`` (day 1 is the day after the as-of date), against the site
as it is (all mining):

* mining given up, from the decision on: ``max(PH/s per MW × hashprice × (1 − pool fee)
  − 24 × power price − other mining cost per day, 0)`` — a miner switches off on a day it
  would lose money, so the margin given up is never negative;
* AI margin, from the decision + the build time on: GPU-hour revenue − 24 × power price
  − AI operating cost per day. Under a lease the tenant pays for every GPU-hour reserved,
  ``GPUs per MW × 24 × lease price``, for the lease's term, and the GPUs sell on the market
  after it; on the market they sell ``GPUs per MW × 24 × utilisation × max(GPU-hour price, 0)``;
* the capital cost per MW at the decision; if no tenant is landed (probability
  ``1 − p``) the site keeps mining and only the development cost is spent.

Each decision counts ``life_years`` of the converted capacity from its decision date, so a
later decision loses no years, it only starts later. The yearly totals (days 365 (y−1) + 1 …
365 y) are the cash flows of year y, discounted at the end of the year.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hashmarket.errors import DataError
from hashmarket.units import HOURS_PER_DAY, TH_PER_PH

FloatArray = npt.NDArray[np.float64]
W_PER_MW = 1e6
DAYS_PER_YEAR = 365

# Chance of landing an AI tenant by the size of what is converted: rough industry estimates
# (not from a primary source; domain.md has none), used only when the site file gives none.
TENANT_PROBABILITY_LARGE = 0.65  # over 50 MW
TENANT_PROBABILITY_MEDIUM = 0.45  # 10–50 MW
TENANT_PROBABILITY_SMALL = 0.20  # under 10 MW
LARGE_SITE_MW = 50.0
SMALL_SITE_MW = 10.0


def tenant_probability(converted_mw: float) -> float:
    """Chance of landing an AI tenant for ``converted_mw``: 65 % over 50 MW, 45 % from 10 to
    50 MW (both included), 20 % under 10 MW."""
    if not (math.isfinite(converted_mw) and converted_mw > 0):
        raise DataError(
            "site_field",
            location=None,
            field="converted_mw",
            problem=f"must be > 0, got {converted_mw}",
        )
    if converted_mw > LARGE_SITE_MW:
        return TENANT_PROBABILITY_LARGE
    if converted_mw >= SMALL_SITE_MW:
        return TENANT_PROBABILITY_MEDIUM
    return TENANT_PROBABILITY_SMALL


@dataclass(frozen=True, slots=True)
class MiningTerms:
    """The site's mining today: fleet efficiency, pool fee and other cost per MW-day."""

    efficiency_j_per_th: float
    pool_fee_fraction: float = 0.0
    other_cost_usd_per_mw_day: float = 0.0

    @property
    def hashrate_phs_per_mw(self) -> float:
        """1 MW at e J/TH runs 10⁶ / e TH/s = 1000 / e PH/s."""
        return W_PER_MW / self.efficiency_j_per_th / TH_PER_PH


@dataclass(frozen=True, slots=True)
class LeaseTerms:
    """A tenant's lease of the converted GPUs: a fixed price for every GPU-hour, a term."""

    price_usd_per_gpu_hour: float
    term_years: float


@dataclass(frozen=True, slots=True)
class AiTerms:
    """The AI side: GPUs per MW at the wall, the index they sell on (model, term), the share
    of GPU-hours sold on the market, operating cost, and a lease (``None``: the market)."""

    gpus_per_mw: float
    utilisation: float
    opex_usd_per_mw_year: float = 0.0
    gpu_model: str = "H100"
    index_term: str = "on-demand"
    lease: LeaseTerms | None = None


@dataclass(frozen=True, slots=True)
class ConversionTerms:
    """What is converted and what it costs: the share of the site's MW, capital per MW, the
    build time, the development cost lost if no tenant is landed, and the tenant
    probability (``None``: by size, :func:`tenant_probability`)."""

    fraction: float
    capex_usd_per_mw: float
    build_days: int
    development_cost_usd_per_mw: float = 0.0
    tenant_probability: float | None = None


@dataclass(frozen=True, slots=True)
class ValuationTerms:
    """Years counted after each decision, the yearly discount rate, the last yearly decision
    date (0: now or never), and the Monte Carlo paths and seed."""

    life_years: int
    discount_rate_per_year: float
    decision_years: int = 0
    n_paths: int = 2000
    seed: int = 0


@dataclass(frozen=True, slots=True)
class ConversionSite:
    name: str
    capacity_mw: float
    power_price_usd_per_mwh: float
    mining: MiningTerms
    ai: AiTerms
    conversion: ConversionTerms
    valuation: ValuationTerms

    @property
    def converted_mw(self) -> float:
        return self.capacity_mw * self.conversion.fraction

    @property
    def probability(self) -> float:
        given = self.conversion.tenant_probability
        return tenant_probability(self.converted_mw) if given is None else given

    @property
    def horizon_days(self) -> int:
        return (self.valuation.decision_years + self.valuation.life_years) * DAYS_PER_YEAR


def mining_margin_usd_per_mw_day(
    hashprice_usd_per_ph_day: npt.ArrayLike, *, site: ConversionSite
) -> FloatArray:
    """What 1 MW of mining earns in a day, net, never below zero (module docstring)."""
    m = site.mining
    revenue = m.hashrate_phs_per_mw * np.asarray(hashprice_usd_per_ph_day, dtype=np.float64)
    cost = HOURS_PER_DAY * site.power_price_usd_per_mwh + m.other_cost_usd_per_mw_day
    return np.maximum(revenue * (1.0 - m.pool_fee_fraction) - cost, 0.0)


def ai_cost_usd_per_mw_day(site: ConversionSite) -> float:
    return (
        HOURS_PER_DAY * site.power_price_usd_per_mwh + site.ai.opex_usd_per_mw_year / DAYS_PER_YEAR
    )


def ai_market_margin_usd_per_mw_day(
    gpu_price_usd_per_gpu_hour: npt.ArrayLike, *, site: ConversionSite
) -> FloatArray:
    """1 MW of GPUs selling on the market for a day, net of power and operating cost."""
    ai = site.ai
    price = np.maximum(np.asarray(gpu_price_usd_per_gpu_hour, dtype=np.float64), 0.0)
    revenue = ai.gpus_per_mw * HOURS_PER_DAY * ai.utilisation * price
    return np.asarray(revenue - ai_cost_usd_per_mw_day(site), dtype=np.float64)


def lease_margin_usd_per_mw_day(site: ConversionSite, lease_price_usd_per_gpu_hour: float) -> float:
    """1 MW of GPUs leased for a day: every GPU-hour paid, net of power and operating cost."""
    revenue = site.ai.gpus_per_mw * HOURS_PER_DAY * lease_price_usd_per_gpu_hour
    return revenue - ai_cost_usd_per_mw_day(site)


def cumulative(daily_usd: FloatArray) -> FloatArray:
    """``[paths, days]`` → running totals ``[paths, days + 1]`` from 0: the sum over days
    ``[a, b)`` is ``c[:, b] − c[:, a]``, so each decision's yearly totals cost O(years), not
    O(days), and no per-decision daily array is made."""
    out = np.zeros((daily_usd.shape[0], daily_usd.shape[1] + 1))
    np.cumsum(daily_usd, axis=1, out=out[:, 1:])
    return out


def year_totals(running_usd: FloatArray | None, start: int, end: int, years: int) -> FloatArray:
    """Per year 1 … years (column 0, today, is zero) the sum over days ``[start, end)`` that
    fall in the year: from running totals ``[paths, days + 1]``, or the count of those days
    (``running_usd`` ``None``, shape ``[years + 1]``)."""
    lo = np.clip(np.arange(years) * DAYS_PER_YEAR, start, max(end, start))
    hi = np.clip(np.arange(1, years + 1) * DAYS_PER_YEAR, start, max(end, start))
    if running_usd is None:
        return np.concatenate([[0.0], (hi - lo).astype(np.float64)])
    totals = running_usd[:, hi] - running_usd[:, lo]
    return np.concatenate([np.zeros((running_usd.shape[0], 1)), totals], axis=1)


def decision_cashflows(
    decision_year: int,
    *,
    site: ConversionSite,
    mining_running_usd: FloatArray,
    ai_market_running_usd: FloatArray,
    lease_price_usd_per_gpu_hour: float | None = None,
) -> FloatArray:
    """Yearly incremental cash flows ``[paths, years + 1]`` (USD, the converted MW) of
    converting ``decision_year`` years from today (0: today) with a tenant landed: capital in
    that column, then AI margin less the mining given up (module docstring). The inputs are
    the running totals (:func:`cumulative`) of the daily margins per MW; a lease's price may
    be overridden by ``lease_price_usd_per_gpu_hour``."""
    years = (mining_running_usd.shape[1] - 1) // DAYS_PER_YEAR
    first = decision_year * DAYS_PER_YEAR  # index of the decision's first day
    last = first + site.valuation.life_years * DAYS_PER_YEAR  # exclusive
    ai_from = min(first + site.conversion.build_days, last)
    market_from = ai_from
    flows = -year_totals(mining_running_usd, first, last, years)
    lease = site.ai.lease
    if lease is not None:
        price = lease.price_usd_per_gpu_hour
        if lease_price_usd_per_gpu_hour is not None:
            price = lease_price_usd_per_gpu_hour
        market_from = min(ai_from + round(lease.term_years * DAYS_PER_YEAR), last)
        leased_days = year_totals(None, ai_from, market_from, years)
        flows += lease_margin_usd_per_mw_day(site, price) * leased_days
    flows += year_totals(ai_market_running_usd, market_from, last, years)
    flows *= site.converted_mw
    flows[:, decision_year] -= site.conversion.capex_usd_per_mw * site.converted_mw
    return flows
