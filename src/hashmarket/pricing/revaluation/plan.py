"""The plan of a revaluation: which contract is valued how, and the discounting, fixed before
any path is seen (see :mod:`hashmarket.pricing.revaluation`)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from hashmarket.errors import RiskError
from hashmarket.instruments import Fixings, Instrument, SettlementCurrency
from hashmarket.models import NetworkModel
from hashmarket.pricing.market import Market, with_past
from hashmarket.pricing.registry import PathPricer, closed_form_on_paths
from hashmarket.pricing.revaluation.probe import (
    AffineForm,
    DateArray,
    FloatArray,
    Prober,
    day_index,
)
from hashmarket.units import DAYS_PER_YEAR_ACT365

Progress = Callable[[int, int], None]

N_FEATURES = 14
NONLINEAR_RCOND = 1e-6
N_LINEAR = 8  # the features of the conditional forwards (see ``features``)
# BTC/USD evolves on its own in the model, so its conditional forward needs only the day-h
# price: a narrower basis leaves no room for spurious weights on network variables.
FIELD_BASIS: dict[str, tuple[int, ...]] = {"price_usd": (0, 1)}
# A contract whose payoff reads only BTC/USD is marked on the price's features alone: a
# constant, the day-h price, its square and the mean price over days 1 … h.
PRICE_BASIS = (0, 1, 8, 10)


class Position(Protocol):
    """What the plan reads from a position: its contract (``None`` for spot BTC), how many,
    and its kind's name."""

    @property
    def instrument(self) -> Instrument | None: ...

    @property
    def quantity(self) -> float: ...

    @property
    def kind(self) -> enum.StrEnum: ...


class Book(Protocol):
    """The positions to revalue and their names (a risk ``Portfolio`` is one)."""

    @property
    def positions(self) -> Sequence[Position]: ...

    @property
    def names(self) -> tuple[str, ...]: ...


class PathSource(Protocol):
    """What the valuation reads from a chunk of paths (a ``ScenarioSet`` has it)."""

    @property
    def dates(self) -> DateArray: ...

    @property
    def data(self) -> Mapping[str, FloatArray]: ...


# ---- the plan: how each unique contract is valued ------------------------------------------


@dataclass(frozen=True)
class ContractPlan:
    """A unique contract of the portfolio and how it is valued."""

    instrument: Instrument
    method: str  # "affine", "regression", "analytic", "expired"
    first: dt.date
    last: dt.date
    btc: bool
    affine: AffineForm | None = None
    basis: tuple[int, ...] | None = None  # the features of its regression mark (None: all)
    closed_form: PathPricer[Any] | None = None  # the registry's value on paths ("analytic")


@dataclass(frozen=True)
class RevaluationPlan:
    """Everything fixed before any path is seen: dates, discounting, each contract's method."""

    asof: dt.date
    horizon_days: int
    last_day: int  # days simulated after asof
    past: Fixings | None
    contracts: tuple[ContractPlan, ...]
    position_contract: tuple[int, ...]  # per position: index into contracts, −1 for spot
    quantities: FloatArray
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    affine_fields: tuple[str, ...]
    btc_affine_fields: tuple[str, ...]  # the affine fields a BTC-settled contract reads
    spot_usd: float
    df_usd_h: FloatArray  # [last_day + 1]: discount from h to day d (1 for d <= h)
    df_btc_h: FloatArray
    df_usd_0: FloatArray  # discount from today to day d
    df_btc_0: FloatArray
    vol_per_year: float
    usd_rate: float
    btc_rate: float
    price_drift_per_year: float  # the paths' BTC/USD drift: E[S_t | day h] = S_h e^{μ(t − h)}

    @property
    def dates(self) -> DateArray:
        return np.datetime64(self.asof, "D") + np.arange(self.last_day + 1)

    def btc_weights(
        self, price_usd: FloatArray, days: npt.NDArray[np.int64], day: int, price_day: FloatArray
    ) -> FloatArray:
        """``S_t / E[S_t | day]`` on ``days`` ``[paths, len(days)]``, from the paths' BTC/USD
        ``price_usd`` on those days and ``price_day`` on ``day``: the change from the measure
        the paths are simulated in to BTC as the numeraire (mean one), the pricing engine's
        rule (``pricing.pathvalue``) with the paths' own drift for the forward."""
        years = (np.asarray(days, dtype=np.float64) - day) / DAYS_PER_YEAR_ACT365
        forward = price_day[:, None] * np.exp(self.price_drift_per_year * years)[None, :]
        return np.asarray(price_usd / forward, dtype=np.float64)

    @property
    def needs_regression(self) -> bool:
        return self.last_day > self.horizon_days and any(
            c.method in ("affine", "regression")
            and day_index(self.asof, c.last) > self.horizon_days
            for c in self.contracts
        )


@dataclass(frozen=True)
class ContractJob:
    """Choosing the method of a run of unique contracts (``(instrument, first, last)``): a
    pure function of its fields, so runs of contracts can be planned anywhere (a task on a
    cluster) and their plans put back in order."""

    contracts: tuple[tuple[Any, dt.date, dt.date], ...]
    base: Fixings
    discount: Mapping[str, FloatArray]
    model: NetworkModel
    asof: dt.date

    def __call__(self) -> list[ContractPlan]:
        prober = Prober(self.base, self.asof)
        return [_method(c, prober, self.discount, self.model, self.asof) for c in self.contracts]


def plan_valuation(
    portfolio: Book,
    *,
    market: Market,
    model: NetworkModel,
    horizon_days: int,
    run_job: Callable[[ContractJob], list[ContractPlan]] | None = None,
) -> RevaluationPlan:
    """Decide how every unique contract of ``portfolio`` is valued (module docstring);
    ``run_job`` runs the probing (by default here, in one go)."""
    if horizon_days < 1:
        raise RiskError("risk_option", name="--horizon-days", problem="must be at least 1")
    state = market.state
    asof = state.asof
    unique: dict[Instrument, int] = {}
    raw: list[tuple[Instrument, dt.date, dt.date]] = []
    position_contract = []
    for position in portfolio.positions:
        if position.instrument is None:
            position_contract.append(-1)
            continue
        key = position.instrument
        if key not in unique:
            first, last = position.instrument.fixing_window(asof=asof, height=state.height)
            unique[key] = len(raw)
            raw.append((position.instrument, first, last))
        position_contract.append(unique[key])
    last_day = max([horizon_days] + [day_index(asof, last) for _, _, last in raw])
    years = last_day / DAYS_PER_YEAR_ACT365
    usd_rate = market.usd_curve.zero_rate(max(years, 1 / DAYS_PER_YEAR_ACT365))
    btc_rate = market.btc_curve.zero_rate(max(years, 1 / DAYS_PER_YEAR_ACT365))
    days = np.arange(last_day + 1, dtype=np.float64)
    after_h = np.maximum(days - horizon_days, 0.0) / DAYS_PER_YEAR_ACT365
    base = _base_fixings(market, last_day)
    discount = {
        "df_usd_h": market.usd_curve.discount_factor(after_h),
        "df_btc_h": market.btc_curve.discount_factor(after_h),
        "df_usd_0": market.usd_curve.discount_factor(days / DAYS_PER_YEAR_ACT365),
        "df_btc_0": market.btc_curve.discount_factor(days / DAYS_PER_YEAR_ACT365),
    }
    job = ContractJob(tuple(raw), base, discount, model, asof)
    contracts = job() if run_job is None else run_job(job)
    fields = sorted({f for c in contracts if c.affine for f in c.affine.fields})
    btc_fields = sorted({f for c in contracts if c.affine and c.btc for f in c.affine.fields})
    past = market.past_fixings
    return RevaluationPlan(
        asof=asof,
        horizon_days=horizon_days,
        last_day=last_day,
        past=past,
        contracts=tuple(contracts),
        position_contract=tuple(position_contract),
        quantities=np.array([p.quantity for p in portfolio.positions], dtype=np.float64),
        names=portfolio.names,
        kinds=tuple(p.kind.value for p in portfolio.positions),
        affine_fields=tuple(fields),
        btc_affine_fields=tuple(btc_fields),
        spot_usd=state.price_usd,
        vol_per_year=model.price.vol_per_year,
        usd_rate=usd_rate,
        btc_rate=btc_rate,
        price_drift_per_year=model.price.drift_per_year,
        df_usd_h=discount["df_usd_h"],
        df_btc_h=discount["df_btc_h"],
        df_usd_0=discount["df_usd_0"],
        df_btc_0=discount["df_btc_0"],
    )


def _method(
    contract: tuple[Instrument, dt.date, dt.date],
    prober: Prober,
    discount: Mapping[str, FloatArray],
    model: NetworkModel,
    asof: dt.date,
) -> ContractPlan:
    """How one contract is valued: expired, the registry's closed form, affine (probed), or
    regression on the price's features alone when its payoff reads only BTC/USD."""
    instrument, first, last = contract
    btc = instrument.currency is SettlementCurrency.BTC
    if day_index(asof, last) < 1:
        return ContractPlan(instrument, "expired", first, last, btc)
    closed_form = closed_form_on_paths(instrument, model)
    if closed_form is not None:
        return ContractPlan(instrument, "analytic", first, last, btc, closed_form=closed_form)
    form, read = prober.affine_form(
        instrument,
        first=first,
        last=last,
        weights_h=discount["df_btc_h" if btc else "df_usd_h"],
        weights_0=discount["df_btc_0" if btc else "df_usd_0"],
    )
    if form is not None:
        return ContractPlan(instrument, "affine", first, last, btc, form)
    basis = PRICE_BASIS if read is not None and read <= {"price_usd"} else None
    return ContractPlan(instrument, "regression", first, last, btc, None, basis)


def _base_fixings(market: Market, last_day: int) -> Fixings:
    """Today's state held flat over ``last_day`` days, after the realized past (if any)."""
    state = market.state
    n = last_day + 1
    values = {
        "price_usd": np.full(n, state.price_usd),
        "hashprice_usd_per_ph_day": np.full(n, state.hashprice_usd_per_ph_day),
        "hashprice_btc_per_ph_day": np.full(n, state.hashprice_btc_per_ph_day),
        "difficulty": np.full(n, state.difficulty),
        "block_count": np.full(n, state.expected_blocks_per_day),
        "subsidy_btc": np.full(n, state.subsidy_btc),
        "fee_btc_per_block": np.full(n, state.fee_btc_per_block),
        "height": state.height + 144.0 * np.arange(n),
    }
    future = Fixings(dates=np.datetime64(state.asof, "D") + np.arange(n), values=values)
    return with_past(future, market.past_fixings, state.asof, instrument="portfolio")
