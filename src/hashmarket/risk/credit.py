"""Lending analysis: haircuts and LTV levels from VaR, and a loan's life over scenarios.

The loan itself — its terms and the path engine behind its cash flows — is an instrument,
:mod:`hashmarket.instruments.loans`; this module says how much to lend against what, and reads
the probabilities off many paths.

* **Haircuts and LTV levels from VaR.** The collateral's daily volatility σ is the
  RiskMetrics EWMA (λ = 0.94 by default) of its daily log changes over a window ending on the
  as-of date: BTC/USD closes for BTC, the USD hashprice index for tokens and forwards (their
  value is a stream of hashprice). A haircut over ``h`` days at confidence α is
  ``H = q_α · σ · √h`` (square-root-of-time scaling, capped at 1), where ``q_α`` is the normal
  quantile, or a fat-tailed one: Student-t with ν degrees of freedom scaled to unit variance,
  ``t_ν⁻¹(α) · √((ν − 2)/ν)``, or Cornish–Fisher with the window's skewness and excess
  kurtosis of losses. Each LTV level is ``1 − H − liquidation cost`` with the haircut over its
  own horizon: the initial LTV over the longest (30 days by default: the collateral must
  survive a month of adverse moves with nobody acting), the margin-call LTV over the time a
  borrower has to cure plus the time to sell (14 days), the liquidation LTV over the time to
  sell alone (3 days). ``docs/risk.md`` has the numbers these defaults give.
* **A loan's life over scenarios** (:func:`summarize`): the probabilities of a margin call and
  of liquidation, the expected loss and its 99 % quantile, and the LTV bands, from
  :func:`hashmarket.instruments.loans.loan_life` on every path.

The collateral's value is a run rate that ignores future difficulty growth
(:mod:`hashmarket.instruments.loans`); the haircut has to absorb it.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hashmarket.chain import NetworkHistory
from hashmarket.errors import RiskError
from hashmarket.index import hashprice_table
from hashmarket.instruments import CollateralKind, Loan, LoanPaths
from hashmarket.models import ewma_vol_per_year
from hashmarket.units import DAYS_PER_YEAR_ACT365


class TailModel(enum.StrEnum):
    NORMAL = "normal"
    STUDENT_T = "student_t"
    CORNISH_FISHER = "cornish_fisher"


def _bad(field_name: str, problem: str) -> RiskError:
    return RiskError("risk_field", field=field_name, problem=problem)


# ---- haircuts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HaircutPolicy:
    """How haircuts are made: confidence, the horizon of each LTV level, tail model, EWMA."""

    confidence: float = 0.99
    initial_horizon_days: float = 30.0
    margin_call_horizon_days: float = 14.0
    liquidation_horizon_days: float = 3.0
    liquidation_cost: float = 0.02
    tail: TailModel = TailModel.NORMAL
    dof: float = 4.0
    ewma_lambda: float = 0.94
    window_days: int = 365

    def __post_init__(self) -> None:
        object.__setattr__(self, "tail", TailModel(self.tail))
        if not 0.5 < self.confidence < 1.0:
            raise _bad("confidence", f"{self.confidence} must be between 0.5 and 1")
        if not 0 < self.liquidation_horizon_days <= self.margin_call_horizon_days:
            raise _bad(
                "liquidation_horizon_days",
                "must be positive and at most margin_call_horizon_days",
            )
        if self.initial_horizon_days < self.margin_call_horizon_days:
            raise _bad("initial_horizon_days", "must be at least margin_call_horizon_days")
        if not 0 <= self.liquidation_cost < 1:
            raise _bad("liquidation_cost", f"{self.liquidation_cost} must be in [0, 1)")
        if not self.dof > 2:
            raise _bad("dof", f"{self.dof} must be greater than 2 (finite variance)")
        if not 0 < self.ewma_lambda < 1:
            raise _bad("ewma_lambda", f"{self.ewma_lambda} must be between 0 and 1")
        if self.window_days < 30:
            raise _bad("window_days", f"{self.window_days} must be at least 30")


def tail_quantile(
    confidence: float,
    *,
    tail: TailModel = TailModel.NORMAL,
    dof: float = 4.0,
    skewness: float = 0.0,
    excess_kurtosis: float = 0.0,
) -> float:
    """The loss quantile, in standard deviations, of a unit-variance distribution.

    Student-t is scaled to unit variance (a t_ν has variance ν/(ν − 2)), so σ keeps meaning
    the standard deviation and only the shape changes. Cornish–Fisher corrects the normal
    quantile with the skewness and excess kurtosis of losses.
    """
    z = float(stats.norm.ppf(confidence))
    if tail is TailModel.STUDENT_T:
        return float(stats.t.ppf(confidence, dof)) * math.sqrt((dof - 2.0) / dof)
    if tail is TailModel.CORNISH_FISHER:
        s, k = skewness, excess_kurtosis
        return (
            z
            + (z * z - 1.0) * s / 6.0
            + (z**3 - 3.0 * z) * k / 24.0
            - (2.0 * z**3 - 5.0 * z) * s * s / 36.0
        )
    return z


def haircut(*, sigma_daily: float, horizon_days: float, quantile: float) -> float:
    """``H = q · σ_daily · √h``, capped at 1 (a haircut cannot take more than everything)."""
    return min(quantile * sigma_daily * math.sqrt(horizon_days), 1.0)


@dataclass(frozen=True)
class VolatilityEstimate:
    """The EWMA volatility of a collateral's daily log changes, and the window it came from."""

    series: str
    start: dt.date
    end: dt.date
    observations: int
    sigma_daily: float
    ewma_lambda: float
    loss_skewness: float
    loss_excess_kurtosis: float

    @property
    def sigma_per_year(self) -> float:
        return self.sigma_daily * math.sqrt(DAYS_PER_YEAR_ACT365)

    def to_dict(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "window_start": self.start.isoformat(),
            "window_end": self.end.isoformat(),
            "observations": self.observations,
            "sigma_daily": self.sigma_daily,
            "sigma_per_year": self.sigma_per_year,
            "ewma_lambda": self.ewma_lambda,
            "loss_skewness": self.loss_skewness,
            "loss_excess_kurtosis": self.loss_excess_kurtosis,
        }


def ewma_volatility(
    values: pd.Series,
    *,
    asof: dt.date,
    window_days: int,
    ewma_lambda: float,
    series: str,
    same_regime: pd.Series | None = None,
) -> VolatilityEstimate:
    """EWMA σ of daily log changes of ``values`` (positive, daily index) in the ``window_days``
    ending on the last value on or before ``asof``. Changes across a gap are not used, nor,
    with ``same_regime``, changes between days whose regime flag differs (e.g. the hashprice
    with and without fee data)."""
    known = values.loc[: pd.Timestamp(asof)].dropna()
    known = known[known > 0]
    if known.empty:
        raise RiskError("risk_history", problem=f"no {series} on or before {asof}")
    end = known.index[-1]
    window = known.loc[end - pd.Timedelta(days=window_days) :]
    logs = np.log(window.to_numpy(dtype=np.float64))
    consecutive = np.diff(window.index.to_numpy()) == np.timedelta64(1, "D")
    if same_regime is not None:
        regime = same_regime.reindex(window.index).to_numpy()
        consecutive &= regime[1:] == regime[:-1]
    returns = np.diff(logs)[consecutive]
    if len(returns) < 20:
        raise RiskError(
            "risk_history",
            problem=f"{len(returns)} daily changes of {series} in the window ending {end.date()}",
        )
    sigma_daily = ewma_vol_per_year(returns, decay=ewma_lambda) / math.sqrt(DAYS_PER_YEAR_ACT365)
    losses = -returns
    return VolatilityEstimate(
        series=series,
        start=window.index[0].date(),
        end=end.date(),
        observations=len(returns),
        sigma_daily=sigma_daily,
        ewma_lambda=ewma_lambda,
        loss_skewness=float(stats.skew(losses)),
        loss_excess_kurtosis=float(stats.kurtosis(losses)),
    )


def collateral_volatility(
    history: NetworkHistory, *, kind: CollateralKind, asof: dt.date, policy: HaircutPolicy
) -> VolatilityEstimate:
    """σ of the series that drives the collateral's value (see the module docstring)."""
    if kind is CollateralKind.BTC:
        return ewma_volatility(
            history.frame["price_usd"],
            asof=asof,
            window_days=policy.window_days,
            ewma_lambda=policy.ewma_lambda,
            series="BTC/USD daily close",
        )
    table = hashprice_table(history.between(None, asof))
    return ewma_volatility(
        table["hashprice_usd_per_ph_day"],
        asof=asof,
        window_days=policy.window_days,
        ewma_lambda=policy.ewma_lambda,
        series="hashprice index, USD per PH/s per day",
        same_regime=table["fees_included"],
    )


@dataclass(frozen=True)
class LtvLevels:
    """Initial, margin-call and liquidation LTV with the haircuts behind them."""

    initial_ltv: float
    margin_call_ltv: float
    liquidation_ltv: float
    initial_haircut: float
    margin_call_haircut: float
    liquidation_haircut: float
    quantile: float
    sigma_daily: float
    policy: HaircutPolicy
    volatility: VolatilityEstimate | None = None

    def to_dict(self) -> dict[str, Any]:
        p = self.policy
        return {
            "initial_ltv": self.initial_ltv,
            "margin_call_ltv": self.margin_call_ltv,
            "liquidation_ltv": self.liquidation_ltv,
            "initial_haircut": self.initial_haircut,
            "margin_call_haircut": self.margin_call_haircut,
            "liquidation_haircut": self.liquidation_haircut,
            "quantile": self.quantile,
            "sigma_daily": self.sigma_daily,
            "confidence": p.confidence,
            "tail": p.tail.value,
            "dof": p.dof if p.tail is TailModel.STUDENT_T else None,
            "horizons_days": {
                "initial": p.initial_horizon_days,
                "margin_call": p.margin_call_horizon_days,
                "liquidation": p.liquidation_horizon_days,
            },
            "liquidation_cost": p.liquidation_cost,
            "volatility": None if self.volatility is None else self.volatility.to_dict(),
        }


def ltv_levels(
    *,
    sigma_daily: float,
    policy: HaircutPolicy | None = None,
    skewness: float = 0.0,
    excess_kurtosis: float = 0.0,
    volatility: VolatilityEstimate | None = None,
) -> LtvLevels:
    """LTV = 1 − q·σ·√h − liquidation cost for each level's horizon (module docstring)."""
    policy = policy or HaircutPolicy()
    if not (sigma_daily > 0 and math.isfinite(sigma_daily)):
        raise _bad("sigma_daily", f"{sigma_daily} must be a positive number")
    q = tail_quantile(
        policy.confidence,
        tail=policy.tail,
        dof=policy.dof,
        skewness=skewness,
        excess_kurtosis=excess_kurtosis,
    )
    cuts = [
        haircut(sigma_daily=sigma_daily, horizon_days=h, quantile=q)
        for h in (
            policy.initial_horizon_days,
            policy.margin_call_horizon_days,
            policy.liquidation_horizon_days,
        )
    ]
    initial, call, liquidation = (1.0 - h - policy.liquidation_cost for h in cuts)
    if initial <= 0:
        raise RiskError(
            "risk_option",
            name="haircut",
            problem=(
                f"a {cuts[0]:.0%} haircut plus {policy.liquidation_cost:.0%} liquidation cost "
                "leaves nothing to lend against (σ too high for the horizon)"
            ),
        )
    return LtvLevels(
        initial_ltv=initial,
        margin_call_ltv=call,
        liquidation_ltv=liquidation,
        initial_haircut=cuts[0],
        margin_call_haircut=cuts[1],
        liquidation_haircut=cuts[2],
        quantile=q,
        sigma_daily=sigma_daily,
        policy=policy,
        volatility=volatility,
    )


def ltv_levels_from_history(
    history: NetworkHistory, *, kind: CollateralKind, asof: dt.date, policy: HaircutPolicy
) -> LtvLevels:
    vol = collateral_volatility(history, kind=kind, asof=asof, policy=policy)
    return ltv_levels(
        sigma_daily=vol.sigma_daily,
        policy=policy,
        skewness=vol.loss_skewness,
        excess_kurtosis=vol.loss_excess_kurtosis,
        volatility=vol,
    )


# ---- summaries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoanSummary:
    """A loan's life over scenarios, in numbers a credit committee reads."""

    loan_id: str
    n_paths: int
    seed: int | None
    probability_margin_call: float
    probability_liquidation: float
    expected_loss_usd: float
    loss_var_99_usd: float
    expected_lender_pnl_usd: float
    expected_top_up_usd: float
    principal_usd: float
    ltv_days: tuple[str, ...]
    ltv_p5: tuple[float, ...]
    ltv_p50: tuple[float, ...]
    ltv_p95: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "loan_id": self.loan_id,
            "n_paths": self.n_paths,
            "seed": self.seed,
            "probability_margin_call": self.probability_margin_call,
            "probability_liquidation": self.probability_liquidation,
            "expected_loss_usd": self.expected_loss_usd,
            "loss_var_99_usd": self.loss_var_99_usd,
            "expected_lender_pnl_usd": self.expected_lender_pnl_usd,
            "expected_top_up_usd": self.expected_top_up_usd,
            "principal_usd": self.principal_usd,
            "ltv_quantiles": {
                "day": list(self.ltv_days),
                "p5": list(self.ltv_p5),
                "p50": list(self.ltv_p50),
                "p95": list(self.ltv_p95),
            },
        }


def summarize(loan: Loan, paths: LoanPaths, *, seed: int | None = None) -> LoanSummary:
    def quantile(q: float) -> tuple[float, ...]:
        with np.errstate(all="ignore"):
            finite = np.where(np.isfinite(paths.ltv), paths.ltv, np.nan)
            # LTV stays defined until a loan ends; ended paths drop out of the band.
            has = ~np.all(np.isnan(finite), axis=0)
            out = np.full(finite.shape[1], math.nan)
            if has.any():
                out[has] = np.nanquantile(finite[:, has], q, axis=0)
        return tuple(float(v) for v in out)

    return LoanSummary(
        loan_id=loan.loan_id,
        n_paths=paths.n_paths,
        seed=seed,
        probability_margin_call=float(paths.margin_called.mean()),
        probability_liquidation=float(paths.liquidated.mean()),
        expected_loss_usd=float(paths.loss_usd.mean()),
        loss_var_99_usd=float(np.quantile(paths.loss_usd, 0.99)),
        expected_lender_pnl_usd=float(paths.lender_pnl_usd.mean()),
        expected_top_up_usd=float(paths.top_up_usd.mean()),
        principal_usd=loan.principal_usd,
        ltv_days=tuple(str(d) for d in paths.dates),
        ltv_p5=quantile(0.05),
        ltv_p50=quantile(0.50),
        ltv_p95=quantile(0.95),
    )
