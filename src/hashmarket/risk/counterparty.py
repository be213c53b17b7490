"""Counterparty credit risk of OTC forwards and swaps: the exposure profile on the scenarios,
the counterparty's default probability, the credit charge (CVA), and the margin that reduces it.

**Exposure.** ``V(t)`` is the netting set's value to us on a path on day ``t``: every
contract's mark (what is still to come, discounted to t) from the revaluation engine
(``pricing.revaluation.mark_profile``), summed — contracts with one counterparty under one
agreement net. On each exposure date (the month ends to the last contract day):

* ``EE(t) = E[max(V(t), 0)]`` — what the counterparty owes us if it defaults then, on average;
* ``PFE_q(t)`` — the q quantile of ``max(V(t), 0)`` (95 % and 99 %).

**Default.** A flat hazard rate ``λ``: from a CDS-like spread ``s``, ``λ = s / (1 − R)`` (the
spread pays for the expected loss); from a one-year default probability ``p``,
``λ = −ln(1 − p)``. Survival to ``t`` years is ``S(t) = e^{−λt}``.

**CVA** = ``(1 − R) Σ_i EE(t_i) · DF(t_i) · (S(t_{i−1}) − S(t_i))``, ``t_0`` today, ``DF`` the
USD discount factor: the expected loss, date by date, from a default in each interval at the
exposure at its end. Its Monte Carlo error is the standard error of the same sum path by path.

**Margin.** Under a collateral agreement the counterparty posts what it owes above a threshold
``H``, once the amount reaches the minimum transfer ``MTA``: collateral held
``C(s) = V(s) − H`` if ``V(s) − H ≥ MTA``, else 0 (one-way: we post nothing; the MTA taken as
a second threshold, each call sized afresh). A default is noticed and closed out only after
the margin period of risk: the collateral we hold then was set on the day ``t − MPOR``, so the
collateralised exposure is ``max(V(t) − C(t − MPOR), 0)`` (before day 1, ``C`` is set on the
value today). CVA is reported with and without margin.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.errors import RiskError
from hashmarket.models import NetworkModel
from hashmarket.pricing import Market
from hashmarket.pricing.revaluation import mark_profile
from hashmarket.risk.portfolio import Portfolio
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
PFE_LEVELS = (0.95, 0.99)


def _bad(name: str, problem: str) -> RiskError:
    return RiskError("risk_field", field=name, problem=problem)


@dataclass(frozen=True)
class Counterparty:
    """A counterparty's default intensity (flat) and the recovery on what it owes."""

    name: str
    hazard_per_year: float
    recovery: float = 0.4
    source: str = "hazard"  # how λ was given: "cds_spread", "annual_pd" or "hazard"

    def __post_init__(self) -> None:
        if not 0 <= self.recovery < 1:
            raise _bad("recovery", f"{self.recovery} must be in [0, 1)")
        if not (math.isfinite(self.hazard_per_year) and self.hazard_per_year >= 0):
            raise _bad("hazard_per_year", f"{self.hazard_per_year} must not be negative")

    @classmethod
    def from_spread(cls, name: str, *, spread_bps: float, recovery: float = 0.4) -> Counterparty:
        """``λ = s / (1 − R)``."""
        if not (math.isfinite(spread_bps) and spread_bps >= 0):
            raise _bad("cds_spread_bps", f"{spread_bps} must not be negative")
        if not 0 <= recovery < 1:
            raise _bad("recovery", f"{recovery} must be in [0, 1)")
        return cls(name, spread_bps / 10_000 / (1 - recovery), recovery, "cds_spread")

    @classmethod
    def from_annual_pd(cls, name: str, *, annual_pd: float, recovery: float = 0.4) -> Counterparty:
        """``λ = −ln(1 − p)``: the flat intensity with that probability of default in a year."""
        if not 0 <= annual_pd < 1:
            raise _bad("annual_default_probability", f"{annual_pd} must be in [0, 1)")
        return cls(name, -math.log1p(-annual_pd), recovery, "annual_pd")

    def survival(self, years: npt.ArrayLike) -> FloatArray:
        return np.exp(-self.hazard_per_year * np.asarray(years, dtype=np.float64))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hazard_per_year": self.hazard_per_year,
            "recovery": self.recovery,
            "from": self.source,
            "one_year_default_probability": float(1 - self.survival(1.0)),
        }


@dataclass(frozen=True)
class CollateralAgreement:
    """Threshold, minimum transfer amount (USD) and margin period of risk (days)."""

    threshold_usd: float = 0.0
    minimum_transfer_usd: float = 0.0
    mpor_days: int = 10

    def __post_init__(self) -> None:
        for name in ("threshold_usd", "minimum_transfer_usd"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise _bad(name, f"{value} must not be negative")
        if type(self.mpor_days) is not int or not 0 <= self.mpor_days <= 90:
            raise _bad("mpor_days", f"{self.mpor_days} must be a whole number of days, 0 to 90")

    def held_usd(self, value_usd: FloatArray) -> FloatArray:
        """Collateral held against ``value_usd`` (module docstring)."""
        call = np.asarray(value_usd, dtype=np.float64) - self.threshold_usd
        return np.where((call > 0) & (call >= self.minimum_transfer_usd), call, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold_usd": self.threshold_usd,
            "minimum_transfer_usd": self.minimum_transfer_usd,
            "mpor_days": self.mpor_days,
        }


def exposure_dates(asof: dt.date, last: dt.date) -> list[dt.date]:
    """The month ends after ``asof`` up to ``last``, and ``last`` itself."""
    out = []
    year, month = asof.year, asof.month
    while True:
        end = dt.date(year, month, calendar.monthrange(year, month)[1])
        if end > last:
            break
        if end > asof:
            out.append(end)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    if last > asof and (not out or out[-1] != last):
        out.append(last)
    return out


def cva_usd(
    ee_usd: npt.ArrayLike,
    discount: npt.ArrayLike,
    survival: npt.ArrayLike,
    recovery: float,
) -> float:
    """``(1 − R) Σ EE(t_i) DF(t_i) (S(t_{i−1}) − S(t_i))`` with ``S(t_0) = 1``."""
    s = np.concatenate([[1.0], np.asarray(survival, dtype=np.float64)])
    ee, df = np.asarray(ee_usd, dtype=np.float64), np.asarray(discount, dtype=np.float64)
    return float((1 - recovery) * np.sum(ee * df * (s[:-1] - s[1:])))


@dataclass(frozen=True)
class ExposureProfile:
    """Exposure per date, with and without margin, and the CVA (see the module docstring)."""

    dates: tuple[dt.date, ...]
    ee_usd: FloatArray
    ee_std_error_usd: FloatArray
    pfe_usd: dict[float, FloatArray]
    ee_collateralised_usd: FloatArray
    pfe_collateralised_usd: dict[float, FloatArray]
    discount: FloatArray
    survival: FloatArray
    cva_usd: float
    cva_std_error_usd: float
    cva_collateralised_usd: float
    cva_collateralised_std_error_usd: float

    def rows(self) -> list[dict[str, Any]]:
        s_prev = np.concatenate([[1.0], self.survival[:-1]])
        return [
            {
                "date": str(d),
                "ee_usd": float(self.ee_usd[i]),
                "ee_std_error_usd": float(self.ee_std_error_usd[i]),
                **{f"pfe_{q:.0%}_usd": float(self.pfe_usd[q][i]) for q in PFE_LEVELS},
                "ee_collateralised_usd": float(self.ee_collateralised_usd[i]),
                **{
                    f"pfe_{q:.0%}_collateralised_usd": float(self.pfe_collateralised_usd[q][i])
                    for q in PFE_LEVELS
                },
                "discount_factor": float(self.discount[i]),
                "default_probability": float(s_prev[i] - self.survival[i]),
            }
            for i, d in enumerate(self.dates)
        ]


def profile_from_values(
    dates: Sequence[dt.date],
    values_usd: FloatArray,
    lagged_usd: FloatArray,
    *,
    years: FloatArray,
    discount: FloatArray,
    counterparty: Counterparty,
    collateral: CollateralAgreement | None,
) -> ExposureProfile:
    """The profile from the netted values ``[paths, dates]`` and the values ``MPOR`` days
    earlier (``lagged_usd``, what the collateral held was set on)."""
    survival = counterparty.survival(years)
    exposure = np.maximum(values_usd, 0.0)
    held = collateral.held_usd(lagged_usd) if collateral else np.zeros_like(values_usd)
    covered = np.maximum(values_usd - held, 0.0)
    weights = (
        (1 - counterparty.recovery) * discount * (np.concatenate([[1.0], survival[:-1]]) - survival)
    )
    n = len(values_usd)

    def charge(e: FloatArray) -> tuple[float, float]:
        per_path = e @ weights
        return float(per_path.mean()), float(per_path.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0

    cva, cva_se = charge(exposure)
    cva_c, cva_c_se = charge(covered)
    return ExposureProfile(
        dates=tuple(dates),
        ee_usd=exposure.mean(axis=0),
        ee_std_error_usd=exposure.std(axis=0, ddof=1) / math.sqrt(n)
        if n > 1
        else np.zeros(exposure.shape[1]),
        pfe_usd={q: np.quantile(exposure, q, axis=0) for q in PFE_LEVELS},
        ee_collateralised_usd=covered.mean(axis=0),
        pfe_collateralised_usd={q: np.quantile(covered, q, axis=0) for q in PFE_LEVELS},
        discount=discount,
        survival=survival,
        cva_usd=cva,
        cva_std_error_usd=cva_se,
        cva_collateralised_usd=cva_c,
        cva_collateralised_std_error_usd=cva_c_se,
    )


@dataclass(frozen=True)
class CounterpartyReport:
    name: str
    asof: dt.date
    counterparty: Counterparty
    collateral: CollateralAgreement | None
    positions: tuple[str, ...]
    value0_usd: float
    profile: ExposureProfile
    n_paths: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        p = self.profile
        return {
            "name": self.name,
            "asof": str(self.asof),
            "counterparty": self.counterparty.to_dict(),
            "collateral": None if self.collateral is None else self.collateral.to_dict(),
            "positions": list(self.positions),
            "value_today_usd": self.value0_usd,
            "cva_usd": p.cva_usd,
            "cva_std_error_usd": p.cva_std_error_usd,
            "cva_with_margin_usd": p.cva_collateralised_usd,
            "cva_with_margin_std_error_usd": p.cva_collateralised_std_error_usd,
            "profile": p.rows(),
            "n_paths": self.n_paths,
            "seed": self.seed,
        }


def counterparty_report(
    name: str,
    netting_set: Portfolio,
    *,
    counterparty: Counterparty,
    collateral: CollateralAgreement | None,
    market: Market,
    model: NetworkModel,
    n_paths: int,
    seed: int,
    workers: int = 1,
) -> CounterpartyReport:
    """The exposure profile and CVA of ``netting_set`` against ``counterparty`` (module
    docstring), on ``n_paths`` scenarios of ``model`` from ``market``."""
    asof = market.asof
    lasts = [
        p.instrument.fixing_window(asof=asof, height=market.state.height)[1]
        for p in netting_set.positions
        if p.instrument is not None
    ]
    dates = exposure_dates(asof, max(lasts)) if lasts else []
    if not dates:
        raise RiskError("risk_option", name="positions", problem=f"nothing is left after {asof}")
    days = [(d - asof).days for d in dates]
    mpor = collateral.mpor_days if collateral else 0
    lagged = sorted({d - mpor for d in days if d - mpor >= 1})
    profile = mark_profile(
        netting_set,
        market=market,
        model=model,
        days=sorted(set(days) | set(lagged)),
        n_paths=n_paths,
        seed=seed,
        workers=workers,
    )
    total = profile.total_usd
    column = {d: i for i, d in enumerate(profile.days)}
    value0 = float(profile.value0_usd.sum())
    values = total[:, [column[d] for d in days]]
    before = np.stack(
        [total[:, column[d - mpor]] if d - mpor >= 1 else np.full(n_paths, value0) for d in days],
        axis=1,
    )
    years = np.array(days, dtype=np.float64) / DAYS_PER_YEAR_ACT365
    result = profile_from_values(
        dates,
        values,
        before,
        years=years,
        discount=market.usd_curve.discount_factor(years),
        counterparty=counterparty,
        collateral=collateral,
    )
    return CounterpartyReport(
        name=name,
        asof=asof,
        counterparty=counterparty,
        collateral=collateral,
        positions=tuple(netting_set.names),
        value0_usd=value0,
        profile=result,
        n_paths=n_paths,
        seed=seed,
    )
