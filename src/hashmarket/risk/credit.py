"""Lending against BTC, hashrate tokens or a deliverable hashrate forward.

Three pieces, all pure:

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
* **A loan's life on paths** (:func:`loan_life`): day by day, the lender's claim (principal
  accrued at a simple rate, or for a forward the upfront payment less the output delivered so
  far) against the collateral's value. A margin call opens when LTV reaches the margin-call
  level; ``cure_days`` later a borrower who cures tops the collateral up to the initial LTV.
  Liquidation starts when LTV reaches the liquidation level (or a call is not cured); a path
  that reaches it with no call open is called on the same day, so every liquidated path has
  been margin-called (P(liquidation) ≤ P(margin call)); the
  collateral is sold ``liquidation_days`` later at that day's value less the liquidation
  cost; the lender recovers at most its claim and the borrower gets any surplus.
* **The lender's cash flows** (:meth:`Loan.cashflows`) are that engine's output, so a loan sits
  in a portfolio like any instrument (one payoff, two uses).

Collateral values: BTC at the day's close; a hashrate token at its current daily pool
(``HashrateToken.pool_sats``, whole sats and never negative, × price) times the days left in
its term; a forward's remaining output at the day's USD hashprice times the days left to deliver.
Both run-rate values ignore future difficulty growth, which the haircut has to absorb.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import RiskError
from hashmarket.index.hashprice import hashprice_table
from hashmarket.instruments.fixings import Fixings, to_date
from hashmarket.instruments.terms import SettlementCurrency
from hashmarket.instruments.tokens import HashrateToken
from hashmarket.models.calibrate import ewma_vol_per_year
from hashmarket.money import Rounding
from hashmarket.units import DAYS_PER_YEAR_ACT365, SATS_PER_BTC

FloatArray = npt.NDArray[np.float64]


class CollateralKind(enum.StrEnum):
    BTC = "btc"
    TOKEN = "token"
    HASHRATE_FORWARD = "hashrate_forward"


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


# ---- loan terms ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Collateral:
    """What secures a loan: ``quantity`` BTC, tokens (each ``token``), or for a deliverable
    hashrate forward the PH/s delivered every day."""

    kind: CollateralKind
    quantity: float
    token: HashrateToken | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CollateralKind(self.kind))
        if not (self.quantity > 0 and math.isfinite(self.quantity)):
            raise _bad("collateral.quantity", f"{self.quantity} must be greater than zero")
        if (self.kind is CollateralKind.TOKEN) != (self.token is not None):
            raise _bad("collateral.token", "token collateral needs the token's terms (only it)")

    @property
    def unit(self) -> str:
        return {"btc": "BTC", "token": "tokens", "hashrate_forward": "PH/s"}[self.kind.value]


@dataclass(frozen=True)
class LoanRounding:
    """How a loan's amounts become the ledger's minor units, by who bears the rounding."""

    # The principal disbursed and the lender's recovery claim at a sale: to the nearest unit.
    principal: Rounding = Rounding.HALF_UP
    # What the borrower pledges, tops up, posts as margin or repays: up, so the lender is
    # never short by rounding.
    owed: Rounding = Rounding.UP
    # What is delivered (a forward's output) or paid by a sale's buyer: down, never more
    # than there is.
    proceeds: Rounding = Rounding.DOWN


@dataclass(frozen=True)
class Loan:
    """A USD loan secured by collateral, seen from the lender (instrument-like: it has a
    ``cashflows`` and can sit in a portfolio).

    For a deliverable hashrate forward (Luxor style, built by :func:`deliverable_forward`)
    ``principal_usd`` is the upfront payment, ``rate_per_year`` is 0 (the discount is in the
    price and the margin) and the loan is repaid by the output delivered every day from
    ``start`` to ``maturity``: ``collateral.quantity`` PH/s × the day's hashprice. Its margin
    calls are met in cash.
    """

    type_name: ClassVar[str] = "loan"

    loan_id: str
    principal_usd: float
    rate_per_year: float
    start: dt.date
    maturity: dt.date
    collateral: Collateral
    initial_ltv: float
    margin_call_ltv: float
    liquidation_ltv: float
    liquidation_cost: float = 0.02
    liquidation_days: int = 1
    cure_days: int = 2
    borrower_cures: bool = True
    rounding: LoanRounding = LoanRounding()

    def __post_init__(self) -> None:
        if not self.loan_id or not isinstance(self.loan_id, str):
            raise _bad("loan_id", "must be a non-empty string")
        if not (self.principal_usd > 0 and math.isfinite(self.principal_usd)):
            raise _bad("principal_usd", f"{self.principal_usd} must be greater than zero")
        if not (math.isfinite(self.rate_per_year) and self.rate_per_year >= 0):
            raise _bad("rate_per_year", f"{self.rate_per_year} must not be negative")
        if self.maturity <= self.start:
            raise _bad("maturity", f"{self.maturity} must be after start {self.start}")
        if not 0 < self.initial_ltv < self.margin_call_ltv < self.liquidation_ltv < 1:
            raise _bad(
                "ltv",
                "need 0 < initial_ltv < margin_call_ltv < liquidation_ltv < 1, got "
                f"{self.initial_ltv:.4f}, {self.margin_call_ltv:.4f}, {self.liquidation_ltv:.4f}",
            )
        if not 0 <= self.liquidation_cost < 1:
            raise _bad("liquidation_cost", f"{self.liquidation_cost} must be in [0, 1)")
        if self.liquidation_days < 0 or self.cure_days < 0:
            raise _bad("liquidation_days", "liquidation_days and cure_days must be >= 0")

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    @property
    def is_forward(self) -> bool:
        return self.collateral.kind is CollateralKind.HASHRATE_FORWARD

    @property
    def term_days(self) -> int:
        return (self.maturity - self.start).days

    def claim_usd(self, day: dt.date) -> float:
        """Principal with simple interest accrued to ``day`` (the bullet repayment at maturity)."""
        days = max(0, (min(day, self.maturity) - self.start).days)
        return self.principal_usd * (1.0 + self.rate_per_year * days / DAYS_PER_YEAR_ACT365)

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        # A loan's past is its current state (collateral held now, interest accrued), not a
        # replay: the window starts at the valuation date.
        last = self.maturity + dt.timedelta(days=self.liquidation_days + self.cure_days)
        return max(self.start, asof), last

    def cashflows(self, fixings: Fixings) -> FloatArray:
        """The lender's USD cash flows per day: −principal on ``start`` (if covered), the
        output delivered (forward), the repayment at maturity or the liquidation recovery."""
        return loan_life(self, fixings).lender_cash_usd


def deliverable_forward(
    *,
    loan_id: str,
    hashrate_phs: float,
    price_usd_per_ph_day: float,
    start: dt.date,
    maturity: dt.date,
    margin: float = 0.18,
    levels: LtvLevels | None = None,
    **terms: Any,
) -> Loan:
    """A Luxor-style deliverable forward as a loan: upfront = price × PH/s × days × (1 − margin),
    repaid by ``hashrate_phs`` of output every day. Without ``levels`` the initial LTV is
    1 − margin, a call comes when half the margin is gone (1 − margin/2) and liquidation when
    three quarters are (1 − margin/4): 82 %, 91 % and 95.5 % for Luxor's 18 %."""
    if not 0 < margin < 1:
        raise _bad("margin", f"{margin} must be between 0 and 1")
    days = (maturity - start).days + 1
    upfront = price_usd_per_ph_day * hashrate_phs * days * (1.0 - margin)
    if levels is None:
        initial, call, liquidation = 1.0 - margin, 1.0 - margin / 2, 1.0 - margin / 4
    else:
        initial, call, liquidation = (
            levels.initial_ltv,
            levels.margin_call_ltv,
            levels.liquidation_ltv,
        )
    return Loan(
        loan_id=loan_id,
        principal_usd=upfront,
        rate_per_year=0.0,
        start=start,
        maturity=maturity,
        collateral=Collateral(CollateralKind.HASHRATE_FORWARD, hashrate_phs),
        initial_ltv=initial,
        margin_call_ltv=call,
        liquidation_ltv=liquidation,
        **terms,
    )


# ---- a loan's life on paths ----------------------------------------------------------------


@dataclass(frozen=True)
class LoanEvent:
    """Something that happened to a loan on one path: ``units`` of collateral (top-up, sale),
    ``usd`` of cash (disbursement, delivery, top-up in cash, recovery, repayment, surplus)."""

    day: dt.date
    kind: str
    units: float = 0.0
    usd: float = 0.0
    ltv: float = math.nan


@dataclass(frozen=True)
class LoanPaths:
    """A loan's life on every path of some fixings (arrays ``[paths]`` or ``[paths, days]``)."""

    dates: npt.NDArray[np.datetime64]
    ltv: FloatArray
    lender_cash_usd: FloatArray
    margin_called: npt.NDArray[np.bool_]
    margin_calls: npt.NDArray[np.int64]
    liquidated: npt.NDArray[np.bool_]
    liquidation_day: npt.NDArray[np.int64]
    loss_usd: FloatArray
    top_up_units: FloatArray
    top_up_usd: FloatArray
    events: tuple[tuple[LoanEvent, ...], ...] | None = None

    @property
    def n_paths(self) -> int:
        return len(self.loss_usd)

    @property
    def lender_pnl_usd(self) -> FloatArray:
        """Undiscounted sum of the lender's cash flows (with the disbursement, if covered)."""
        return np.asarray(self.lender_cash_usd.sum(axis=1), dtype=np.float64)


@dataclass
class _State:
    """Per-path state of the loan engine (mutable, private to one call)."""

    active: npt.NDArray[np.bool_]
    units: FloatArray
    cash_margin: FloatArray
    delivered: FloatArray
    call_due: npt.NDArray[np.int64]
    sale_due: npt.NDArray[np.int64]
    events: list[list[LoanEvent]] | None = field(default=None)


def collateral_unit_values(loan: Loan, fixings: Fixings, col: int) -> FloatArray:
    """USD value of one unit of collateral at the end of column ``col``, per path."""
    kind = loan.collateral.kind
    day = to_date(fixings.dates[col])
    price = _column(fixings, "price_usd", col)
    if kind is CollateralKind.BTC:
        return price
    if kind is CollateralKind.TOKEN:
        token = loan.collateral.token
        assert token is not None
        remaining = max(0, (token.end - max(day, token.start - dt.timedelta(days=1))).days)
        pool_sats = token.pool_sats(
            hashprice_btc_per_ph_day=_column(fixings, "hashprice_btc_per_ph_day", col),
            price_usd=price,
        )
        return pool_sats / SATS_PER_BTC * price * remaining
    remaining = max(0, (loan.maturity - day).days)
    return _column(fixings, "hashprice_usd_per_ph_day", col) * remaining


def _column(fixings: Fixings, name: str, col: int) -> FloatArray:
    values = fixings.values.get(name)
    if values is None:
        raise RiskError("risk_option", name="fixings", problem=f"a loan needs the {name!r} fixings")
    out = np.broadcast_to(values[:, col], (fixings.n_paths,))
    return np.asarray(out, dtype=np.float64)


def loan_life(loan: Loan, fixings: Fixings, *, record_events: bool = False) -> LoanPaths:
    """Run ``loan`` over every path of ``fixings`` (see the module docstring for the rules).

    Column 0 of ``fixings`` is the first day looked at; a loan that started before it is
    taken as it stands then (its collateral ``quantity`` and interest accrued to that day).
    """
    n, n_days = fixings.n_paths, fixings.n_periods
    dates = fixings.dates
    day_of = [to_date(d) for d in dates]
    cash = np.zeros((n, n_days))
    ltv = np.full((n, n_days), math.nan)
    state = _State(
        active=np.zeros(n, dtype=bool),
        units=np.full(n, float(loan.collateral.quantity)),
        cash_margin=np.zeros(n),
        delivered=np.zeros(n),
        call_due=np.full(n, -1, dtype=np.int64),
        sale_due=np.full(n, -1, dtype=np.int64),
        events=[[] for _ in range(n)] if record_events else None,
    )
    margin_calls = np.zeros(n, dtype=np.int64)
    liquidation_day = np.full(n, -1, dtype=np.int64)
    loss = np.zeros(n)
    top_units = np.zeros(n)
    top_usd = np.zeros(n)
    started = day_of[0] > loan.start

    def log(mask: npt.NDArray[np.bool_], col: int, kind: str, **amounts: FloatArray) -> None:
        if state.events is None:
            return
        for p in np.flatnonzero(mask):
            values = {k: float(v[p]) for k, v in amounts.items()}
            state.events[p].append(LoanEvent(day_of[col], kind, **values))

    if started:
        state.active[:] = True
    for col in range(n_days):
        day = day_of[col]
        if not started and day == loan.start:
            started = True
            state.active[:] = True
            cash[:, col] -= loan.principal_usd
            everyone = np.ones(n, dtype=bool)
            log(everyone, col, "disbursement", usd=np.full(n, loan.principal_usd))
            log(everyone, col, "pledge", units=state.units.copy())
        if not started:
            continue
        values = collateral_unit_values(loan, fixings, col)
        # A sale that falls due today closes the loan on its path.
        selling = state.sale_due == col
        if selling.any():
            _sell(loan, day, col, selling, values, state, cash, loss, log)
        live = state.active & (state.sale_due < 0)
        if loan.is_forward and loan.start <= day <= loan.maturity:
            delivered = loan.collateral.quantity * _column(fixings, "hashprice_usd_per_ph_day", col)
            delivered = np.where(live, delivered, 0.0)
            cash[:, col] += delivered
            state.delivered += delivered
            btc = loan.collateral.quantity * _column(fixings, "hashprice_btc_per_ph_day", col)
            log(live, col, "delivery", usd=delivered, units=np.where(live, btc, 0.0))
        outstanding = _outstanding(loan, day, state)
        collateral_usd = state.units * values + state.cash_margin
        with np.errstate(divide="ignore", invalid="ignore"):
            today = np.where(collateral_usd > 0, outstanding / collateral_usd, np.inf)
        today = np.where(outstanding <= 0, 0.0, today)
        ltv[:, col] = np.where(live, today, math.nan)
        if day >= loan.maturity:
            _mature(loan, day, col, live, outstanding, state, cash, loss, log)
            continue
        # Liquidation: the level is reached, or a call falls due and is not cured.
        # A call whose cure window ends today: the borrower tops up if the LTV is still at or
        # above the call level; a borrower who does not cure is liquidated instead.
        due = live & (state.call_due == col)
        still_called = due & (today >= loan.margin_call_ltv)
        cured = still_called if loan.borrower_cures else np.zeros(n, dtype=bool)
        failed = np.zeros(n, dtype=bool) if loan.borrower_cures else still_called
        liquidate = live & ((today >= loan.liquidation_ltv) | failed)
        if liquidate.any():
            # The liquidation level lies above the call level: a path that reaches it with
            # no call open has reached the call level too, on the same day (a jump, or a
            # forward-starting loan whose collateral is short at disbursement). The call is
            # made and liquidation starts at once, without a cure window.
            jumped = liquidate & (state.call_due < 0)
            margin_calls += jumped
            log(jumped, col, "margin_call", ltv=today)
            state.sale_due[liquidate] = min(col + loan.liquidation_days, n_days - 1)
            state.call_due[liquidate] = -1
            liquidation_day[liquidate] = col
            log(liquidate, col, "liquidation", ltv=today)
            now = liquidate & (state.sale_due == col)
            if now.any():  # no time to sell (or no days left): sell at today's value
                _sell(loan, day, col, now, values, state, cash, loss, log)
        cured &= ~liquidate
        if cured.any():
            needed = outstanding / loan.initial_ltv - collateral_usd
            needed = np.where(cured, np.maximum(needed, 0.0), 0.0)
            if loan.is_forward:
                state.cash_margin += needed
                top_usd += needed
                log(cured, col, "top_up", usd=needed)
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    units = np.where(values > 0, needed / values, 0.0)
                state.units += units
                top_units += units
                top_usd += needed
                log(cured, col, "top_up", units=units, usd=needed)
        state.call_due[due] = -1
        calling = live & ~liquidate & (state.call_due < 0) & (today >= loan.margin_call_ltv)
        calling &= ~due  # a call just cured is not reopened the same day
        if calling.any():
            state.call_due[calling] = col + loan.cure_days
            margin_calls += calling
            log(calling, col, "margin_call", ltv=today)
    events = None if state.events is None else tuple(tuple(e) for e in state.events)
    return LoanPaths(
        dates=dates,
        ltv=ltv,
        lender_cash_usd=cash,
        margin_called=margin_calls > 0,
        margin_calls=margin_calls,
        liquidated=liquidation_day >= 0,
        liquidation_day=liquidation_day,
        loss_usd=loss,
        top_up_units=top_units,
        top_up_usd=top_usd,
        events=events,
    )


def _outstanding(loan: Loan, day: dt.date, state: _State) -> FloatArray:
    """The lender's exposure: accrued claim, or for a forward the upfront not yet delivered."""
    if loan.is_forward:
        return np.asarray(loan.principal_usd - state.delivered, dtype=np.float64)
    return np.full(len(state.units), loan.claim_usd(day))


def _sell(
    loan: Loan,
    day: dt.date,
    col: int,
    mask: npt.NDArray[np.bool_],
    values: FloatArray,
    state: _State,
    cash: FloatArray,
    loss: FloatArray,
    log: Any,
) -> None:
    """Sell the collateral of the paths in ``mask`` at today's value less the cost."""
    outstanding = np.maximum(_outstanding(loan, day, state), 0.0)
    proceeds = state.units * values * (1.0 - loan.liquidation_cost) + state.cash_margin
    recovery = np.minimum(outstanding, proceeds)
    cash[:, col] += np.where(mask, recovery, 0.0)
    loss += np.where(mask, outstanding - recovery, 0.0)
    log(
        mask,
        col,
        "sale",
        units=state.units.copy(),
        usd=recovery,
    )
    log(mask, col, "surplus", usd=proceeds - recovery)
    state.active &= ~mask
    state.sale_due[mask] = -1


def _mature(
    loan: Loan,
    day: dt.date,
    col: int,
    live: npt.NDArray[np.bool_],
    outstanding: FloatArray,
    state: _State,
    cash: FloatArray,
    loss: FloatArray,
    log: Any,
) -> None:
    """Maturity: a loan is repaid its claim; a forward has delivered everything it owed, and
    what it delivered short of the upfront is the lender's loss."""
    if loan.is_forward:
        loss += np.where(live, np.maximum(outstanding, 0.0), 0.0)
        log(live, col, "repayment", usd=np.zeros(len(live)))
    else:
        cash[:, col] += np.where(live, outstanding, 0.0)
        log(live, col, "repayment", usd=outstanding)
    log(live, col, "release", units=state.units.copy(), usd=state.cash_margin.copy())
    state.active &= ~live


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
