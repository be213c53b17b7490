"""Every position of a portfolio valued on every scenario path at a horizon.

The P&L of a position over ``h`` days on a path is ``u_h · V_h − u_0 · V_0``:

* ``V_h`` = the cash flows it pays on days 1 … h of the path (at face) + its mark-to-market on
  day h (what is still to come, discounted to h). ``u`` converts to USD: 1 for USD positions,
  the day's BTC price for BTC positions (BTC received is held to the horizon).
* ``V_0`` = its value today: the mean over paths of every cash flow after today, discounted to
  today (the Monte Carlo price on the same paths; at zero drift and rates the pricing measure).

Cash flows always come from the instrument's own ``cashflows(fixings)`` — the payoff that
pricing and settlement use. The mark-to-market on day h is a conditional expectation given the
path so far, estimated three ways:

* **analytic** where the pricing layer has a closed form: a European option on BTC/USD under
  GBM is Black–Scholes at the path's price on day h;
* **affine** instruments (forwards, futures, swaps on a fixed quantity: cash flows affine in
  the fixings) are detected by probing ``cashflows`` — a base path, one bump per fixing the
  contract reads, and two random paths that must be predicted exactly. Their value is then a
  linear functional of the fixings, so only the conditional forward of each fixing is needed:
  ``E[F_t | day h] ≈ X_h · γ_t``, one least-squares regression per field and day on features
  ``X_h`` of the path's state (below), shared by every affine position;
* **regression** for every other contract (options on averages, tokens, notes, loans): the
  path's own discounted future cash flows regressed on ``X_h`` (Longstaff–Schwartz style).

``X_h`` has 14 columns: a constant and polynomial terms in the standardized log BTC price,
difficulty, hashrate and fee on day h and the log averages of price and hashprice over days
1 … h (standardized with the first chunk's mean and spread). Cross-products are accumulated
chunk by chunk (``XᵀX``, ``XᵀF``, ``XᵀY``), so memory is ``paths × (features + realized
fixings + non-affine contracts)``, not ``paths × days``.

The result, :class:`PnLModel`, stores each position's P&L in factor form —
``P&L = (Z · w + c + NL) · u − u_0 V_0`` with ``Z`` the realized fixings, features and price
per path — from which the total, any block of positions or any subset of paths is a product.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from hashmarket.errors import PricingError, RiskError
from hashmarket.instruments.fixings import FIXING_FIELDS, Fixings
from hashmarket.instruments.loans import Loan, loan_life
from hashmarket.instruments.options import EuropeanOption
from hashmarket.instruments.terms import SettlementCurrency, Underlying
from hashmarket.models.network import NetworkModel
from hashmarket.models.price import GBM
from hashmarket.models.scenarios import ScenarioConfig, Scenarios
from hashmarket.pricing.analytic import black_scholes_price
from hashmarket.pricing.market import Market
from hashmarket.risk.portfolio import Portfolio
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
DateArray = npt.NDArray[np.datetime64]
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
AFFINE_RTOL = 1e-8
_PROBE_SEED = 20_240_420  # fixed: the affinity probe is deterministic
CHECK_LEVELS = (-2.0, -1.0, -0.35, 0.35, 1.0, 2.0)  # log levels of the probe's check paths


class PathSource(Protocol):
    """What the valuation reads from a chunk of paths (a ``ScenarioSet`` has it)."""

    @property
    def dates(self) -> DateArray: ...

    @property
    def data(self) -> Mapping[str, FloatArray]: ...


# ---- the plan: how each unique contract is valued ------------------------------------------


@dataclass(frozen=True)
class AffineForm:
    """``value = const + Σ g[field][d] · F[field][d]`` over days d ≥ 1 from the as-of date,
    for the weights of one valuation (realized at face to h, discounted after h), and the same
    with weights discounted to today (``g0``, ``const0``)."""

    fields: tuple[str, ...]
    first_day: int
    last_day: int
    g_h: FloatArray  # [fields, last_day - first_day + 1]
    const_h: float
    g_0: FloatArray
    const_0: float


@dataclass(frozen=True)
class _Contract:
    """A unique contract of the portfolio and how it is valued."""

    instrument: Any
    method: str  # "affine", "regression", "analytic", "expired"
    first: dt.date
    last: dt.date
    btc: bool
    affine: AffineForm | None = None
    basis: tuple[int, ...] | None = None  # the features of its regression mark (None: all)


@dataclass(frozen=True)
class ValuationSetup:
    """Everything fixed before any path is seen: dates, discounting, each contract's method."""

    asof: dt.date
    horizon_days: int
    last_day: int  # days simulated after asof
    past: Fixings | None
    contracts: tuple[_Contract, ...]
    position_contract: tuple[int, ...]  # per position: index into contracts, −1 for spot
    quantities: FloatArray
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    affine_fields: tuple[str, ...]
    spot_usd: float
    df_usd_h: FloatArray  # [last_day + 1]: discount from h to day d (1 for d <= h)
    df_btc_h: FloatArray
    df_usd_0: FloatArray  # discount from today to day d
    df_btc_0: FloatArray
    vol_per_year: float
    usd_rate: float
    btc_rate: float

    @property
    def dates(self) -> DateArray:
        return np.datetime64(self.asof, "D") + np.arange(self.last_day + 1)

    @property
    def needs_regression(self) -> bool:
        return self.last_day > self.horizon_days and any(
            c.method in ("affine", "regression") and _day(self.asof, c.last) > self.horizon_days
            for c in self.contracts
        )


def _day(asof: dt.date, day: dt.date) -> int:
    return (day - asof).days


def plan_valuation(
    portfolio: Portfolio,
    *,
    market: Market,
    model: NetworkModel,
    horizon_days: int,
) -> ValuationSetup:
    """Decide how every unique contract of ``portfolio`` is valued (module docstring)."""
    if horizon_days < 1:
        raise RiskError("risk_option", name="--horizon-days", problem="must be at least 1")
    state = market.state
    asof = state.asof
    unique: dict[Any, int] = {}
    raw: list[tuple[Any, dt.date, dt.date]] = []
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
    last_day = max([horizon_days] + [_day(asof, last) for _, _, last in raw])
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
    gbm = isinstance(model.price, GBM)
    prober = Prober(base, asof)
    contracts = []
    for instrument, first, last in raw:
        btc = instrument.currency is SettlementCurrency.BTC
        if _day(asof, last) < 1:
            contracts.append(_Contract(instrument, "expired", first, last, btc))
            continue
        if (
            gbm
            and isinstance(instrument, EuropeanOption)
            and instrument.underlying is Underlying.BTC_USD
        ):
            contracts.append(_Contract(instrument, "analytic", first, last, btc))
            continue
        form, read = prober.affine_form(
            instrument,
            first=first,
            last=last,
            weights_h=discount["df_btc_h" if btc else "df_usd_h"],
            weights_0=discount["df_btc_0" if btc else "df_usd_0"],
        )
        if form is not None:
            contracts.append(_Contract(instrument, "affine", first, last, btc, form))
            continue
        basis = PRICE_BASIS if read is not None and read <= {"price_usd"} else None
        contracts.append(_Contract(instrument, "regression", first, last, btc, None, basis))
    fields = sorted({f for c in contracts if c.affine for f in c.affine.fields})
    past = market.past_fixings
    return ValuationSetup(
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
        spot_usd=state.price_usd,
        vol_per_year=model.price.vol_per_year,
        usd_rate=usd_rate,
        btc_rate=btc_rate,
        df_usd_h=discount["df_usd_h"],
        df_btc_h=discount["df_btc_h"],
        df_usd_0=discount["df_usd_0"],
        df_btc_0=discount["df_btc_0"],
    )


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
    return _with_past(future, market.past_fixings, state.asof)


def _with_past(simulated: Fixings, past: Fixings | None, asof: dt.date) -> Fixings:
    """Realized fixings before the as-of date, then the paths from it on."""
    if past is None or past.first_date >= asof:
        return simulated
    if past.last_date < asof - dt.timedelta(days=1):
        raise RiskError(
            "risk_history",
            problem=f"the realized fixings end on {past.last_date}, before {asof}",
        )
    head = past.between(past.first_date, asof - dt.timedelta(days=1))
    return head.concat(simulated)


class _RecordingFixings(Fixings):
    """Fixings that note which fields a payoff reads (through ``window``)."""

    def record(self) -> set[str]:
        seen: set[str] = set()
        object.__setattr__(self, "_seen", seen)
        return seen

    def window(
        self, name: str, start: dt.date, end: dt.date, *, instrument: str
    ) -> tuple[slice, FloatArray]:
        seen = getattr(self, "_seen", None)
        if seen is not None:
            seen.add(name)
        return super().window(name, start, end, instrument=instrument)


@dataclass(frozen=True)
class _ProbePaths:
    """The probe of one window and set of fields: row 0 the base path, then one row per
    (field, day after the as-of date) bumped by ``step``, then the check paths."""

    fixings: Fixings
    fields: tuple[str, ...]
    cols: npt.NDArray[np.int64]  # the window's columns after the as-of date
    steps: dict[str, FloatArray]
    moves: dict[str, FloatArray]  # check rows' moves in units of the step [checks, cols]

    @property
    def n_bumps(self) -> int:
        return len(self.fields) * len(self.cols)


class Prober:
    """Finds affine forms by probing ``cashflows`` (module docstring). The probe paths move
    every fixing field and are built once per window, shared by every contract over that
    window; they record which fields a payoff reads, so each contract costs one
    ``cashflows`` call, and only the bumps of the fields it reads are used."""

    def __init__(self, base: Fixings, asof: dt.date) -> None:
        self.base = base
        self.asof = asof
        self._first, self._last = base.first_date, base.last_date
        self._probes: dict[tuple[dt.date, dt.date], _ProbePaths] = {}

    def probe(self, first: dt.date, last: dt.date) -> _ProbePaths | None:
        lo, hi = max(first, self._first), min(last, self._last)
        if hi < lo:
            return None
        if (lo, hi) not in self._probes:
            self._probes[lo, hi] = self._build(self.base.between(lo, hi))
        return self._probes[lo, hi]

    def _build(self, window: Fixings) -> _ProbePaths:
        fields = tuple(sorted(window.values))
        offset = _day(self.asof, window.first_date)
        cols = np.arange(max(1, offset) - offset, window.n_periods)
        n_bumps = len(fields) * len(cols)
        n_probe = 1 + n_bumps + len(CHECK_LEVELS)
        rng = np.random.default_rng(_PROBE_SEED)
        values: dict[str, FloatArray] = {}
        steps: dict[str, FloatArray] = {}
        moves: dict[str, FloatArray] = {}
        for i, name in enumerate(fields):
            base_row = window.values[name][0]
            rows = np.tile(base_row, (n_probe, 1))
            step = np.where(np.abs(base_row) > 0, np.abs(base_row), 1.0)
            bumped = 1 + i * len(cols) + np.arange(len(cols))
            rows[bumped, cols] += step[cols]
            # Check paths moved on every day, by a lot and each way (a level from e^-2 to e^2
            # of the base, with day-to-day noise): an affine payoff is predicted exactly by
            # its bumps; an option, a ratio or a product is not, unless its strike is far
            # outside that range.
            for r, level in enumerate(CHECK_LEVELS):
                noise = rng.normal(0.0, 0.3, len(cols))
                rows[1 + n_bumps + r, cols] = base_row[cols] * np.exp(level + noise)
            moves[name] = (rows[1 + n_bumps :, cols] - base_row[None, cols]) / step[None, cols]
            steps[name] = step
            values[name] = rows
        return _ProbePaths(
            fixings=_RecordingFixings(dates=window.dates, values=values),
            fields=fields,
            cols=cols,
            steps=steps,
            moves=moves,
        )

    def affine_form(
        self,
        instrument: Any,
        *,
        first: dt.date,
        last: dt.date,
        weights_h: FloatArray,
        weights_0: FloatArray,
    ) -> tuple[AffineForm | None, frozenset[str] | None]:
        """The contract's affine form (or ``None``), and the fields its payoff reads."""
        probe = self.probe(first, last)
        if probe is None:
            return None, None
        recording = probe.fixings
        assert isinstance(recording, _RecordingFixings)
        seen = recording.record()
        try:
            with np.errstate(all="ignore"):
                cf = np.asarray(instrument.cashflows(recording), dtype=np.float64)
        except (PricingError, RiskError, ValueError, ZeroDivisionError):
            return None, frozenset(seen) or None
        finally:
            object.__setattr__(recording, "_seen", None)
        read = frozenset(seen)
        window = recording
        if window.last_date <= self.asof or not read or "height" in read:
            return None, read
        if not np.isfinite(cf).all():
            return None, read
        fields = tuple(f for f in probe.fields if f in read)
        cols, n_cols = probe.cols, len(probe.cols)
        position = {f: i for i, f in enumerate(probe.fields)}
        deltas = {
            f: cf[1 + position[f] * n_cols : 1 + (position[f] + 1) * n_cols] - cf[0] for f in fields
        }
        predicted = np.repeat(cf[:1], len(CHECK_LEVELS), axis=0)
        for name in fields:
            predicted += probe.moves[name] @ deltas[name]
        scale = float(np.abs(cf).max()) + 1e-12
        actual = cf[1 + probe.n_bumps :]
        if float(np.abs(actual - predicted).max()) > AFFINE_RTOL * scale:
            return None, read
        days = _day(self.asof, window.first_date) + np.arange(window.n_periods)
        paying = days >= 1
        w_h = np.where(paying, weights_h[np.clip(days, 0, len(weights_h) - 1)], 0.0)
        w_0 = np.where(paying, weights_0[np.clip(days, 0, len(weights_0) - 1)], 0.0)
        g_h = np.zeros((len(fields), n_cols))
        g_0 = np.zeros((len(fields), n_cols))
        const_h = float(cf[0] @ w_h)
        const_0 = float(cf[0] @ w_0)
        for i, name in enumerate(fields):
            per_unit = deltas[name] / probe.steps[name][cols][:, None]  # d cash flow / d fixing
            g_h[i] = per_unit @ w_h
            g_0[i] = per_unit @ w_0
            base_future = window.values[name][0][cols]
            const_h -= float(g_h[i] @ base_future)
            const_0 -= float(g_0[i] @ base_future)
        form = AffineForm(
            fields=fields,
            first_day=int(days[cols[0]]),
            last_day=int(days[-1]),
            g_h=g_h,
            const_h=const_h,
            g_0=g_0,
            const_0=const_0,
        )
        return form, read


def affine_form(
    instrument: Any,
    *,
    base: Fixings,
    asof: dt.date,
    first: dt.date,
    last: dt.date,
    weights_h: FloatArray,
    weights_0: FloatArray,
) -> AffineForm | None:
    """The affine form of ``instrument``'s cash flows over days after ``asof``, or ``None`` if
    its cash flows are not affine in the fixings (one contract; see :class:`Prober`)."""
    form, _ = Prober(base, asof).affine_form(
        instrument, first=first, last=last, weights_h=weights_h, weights_0=weights_0
    )
    return form


# ---- features of a path's state on day h ----------------------------------------------------


@dataclass(frozen=True)
class FeatureScaling:
    mean: FloatArray
    std: FloatArray


def _raw_state(data: Mapping[str, FloatArray], h: int) -> FloatArray:
    """State variables of each path on day h as ratios to day 0: BTC price, inverse
    difficulty, inverse hashrate, BTC hashprice, and the mean price and USD hashprice over
    days 1 … h: ``[paths, 6]``. Ratios (not logs) keep the marks of linear contracts linear
    in them, so they extrapolate sanely to moves larger than the fit saw."""
    price = data["price_usd"]
    hp = data["hashprice_usd_per_ph_day"]
    hp_btc = data["hashprice_btc_per_ph_day"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.column_stack(
            [
                price[:, h] / price[:, 0],
                data["difficulty"][:, 0] / data["difficulty"][:, h],
                data["hashrate_ths"][:, 0] / data["hashrate_ths"][:, h],
                hp_btc[:, h] / hp_btc[:, 0],
                price[:, 1 : h + 1].mean(axis=1) / price[:, 0],
                hp[:, 1 : h + 1].mean(axis=1) / hp[:, 0],
            ]
        )
    return np.asarray(np.nan_to_num(out, nan=1.0, posinf=1.0, neginf=1.0), dtype=np.float64)


def features(raw: FloatArray, scaling: FeatureScaling) -> FloatArray:
    """The regression features from standardized state variables.

    The first :data:`N_LINEAR` describe the network's state on day h — a constant, price,
    inverse difficulty, inverse hashrate, BTC hashprice and the products of price with the
    last three (USD hashprice now and after the next retarget) — and are the basis of the
    conditional forwards (the model is Markov: future fixings depend on the day-h state, not
    on how the path got there). The rest — the averages over days 1 … h and four squares —
    complete the basis of the other contracts' marks, whose payoffs may depend on the path.
    """
    z = (raw - scaling.mean) / scaling.std
    s, d, hr, hpb, a_s, a_h = z.T
    return np.column_stack(
        [
            np.ones(len(z)),
            s,
            d,
            hr,
            hpb,
            s * d,
            s * hr,
            s * hpb,
            a_s,
            a_h,
            s * s,
            hpb * hpb,
            a_h * a_h,
            s * a_h,
        ]
    )


def outside_fit(raw: FloatArray, scaling: FeatureScaling, bounds: FloatArray) -> int:
    """How many paths have a state variable beyond the range seen in the fit."""
    z = np.abs((raw - scaling.mean) / scaling.std)
    return int((z > bounds[None, :]).any(axis=1).sum())


def _scaling(raw: FloatArray) -> FeatureScaling:
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    # A variable that does not move (a deterministic path, or h = 0) stays at zero.
    return FeatureScaling(mean=mean, std=np.where(std > 1e-12, std, np.inf))


# ---- the fitted pricing functions and the P&L model -----------------------------------------


@dataclass(frozen=True)
class FittedMarks:
    """What the Monte Carlo pass learned: feature scaling, conditional forwards of the affine
    fields (``gamma[field]``: features → day), regression coefficients of the other contracts,
    and every contract's value today (in its currency)."""

    scaling: FeatureScaling | None
    bounds: FloatArray  # largest |standardized state variable| among the fitted paths
    gamma: Mapping[str, FloatArray]
    beta: Mapping[int, FloatArray]
    value0: FloatArray  # per contract
    n_paths: int
    seed: int | None


@dataclass(frozen=True)
class PnLModel:
    """P&L at the horizon of every position on every path, in factor form (module docstring).

    ``z [paths, m]``: realized affine fixings (days 1 … h), the 14 features, the BTC price on
    day h; ``w [m, positions]``; ``const [positions]``; ``nl [paths, k]`` path values of the
    contracts without an affine form (realized flows + regression or analytic mark);
    ``nl_col`` each position's column in it (−1 if none).
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    quantities: FloatArray
    btc: npt.NDArray[np.bool_]
    value0_usd: FloatArray
    z: FloatArray
    w: FloatArray
    const: FloatArray
    nl: FloatArray
    nl_col: npt.NDArray[np.int64]
    price_h_usd: FloatArray
    horizon_days: int
    asof: dt.date
    source: str
    n_paths: int
    seed: int | None
    notes: tuple[str, ...] = ()
    total_usd: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The total is linear in the factors: sum the weights first (one pass over the
        # paths, whatever the number of positions), then scale the BTC part by the price.
        total = np.full(self.n_paths, -float(self.value0_usd.sum()))
        for btc in (False, True):
            mask = self.btc == btc
            if not mask.any():
                continue
            value = self.z @ self.w[:, mask].sum(axis=1) + float(self.const[mask].sum())
            has = mask & (self.nl_col >= 0)
            if has.any():
                weights = np.zeros(self.nl.shape[1])
                np.add.at(weights, self.nl_col[has], self.quantities[has])
                value += self.nl @ weights
            total += value * self.price_h_usd if btc else value
        object.__setattr__(self, "total_usd", total)

    @property
    def n_positions(self) -> int:
        return len(self.names)

    def position_pnl(
        self, rows: npt.ArrayLike | slice | None = None, columns: slice | None = None
    ) -> FloatArray:
        """P&L ``[len(rows), positions in columns]`` in USD."""
        r: Any = slice(None) if rows is None else rows
        c = slice(None) if columns is None else columns
        value = self.z[r] @ self.w[:, c] + self.const[c]
        cols = self.nl_col[c]
        has = cols >= 0
        if has.any():
            value[:, has] += self.nl[r][:, cols[has]] * self.quantities[c][has]
        btc = self.btc[c]
        if btc.any():
            value[:, btc] *= self.price_h_usd[r][:, None]
        return np.asarray(value - self.value0_usd[c], dtype=np.float64)

    def position_blocks(self, size: int = 512) -> Iterator[tuple[slice, FloatArray]]:
        """P&L of positions ``columns`` as ``[positions, paths]`` (C order: a position's
        scenarios are contiguous, which is what per-position order statistics want)."""
        zt = np.ascontiguousarray(self.z.T)
        for start in range(0, self.n_positions, size):
            c = slice(start, min(start + size, self.n_positions))
            value = self.w[:, c].T @ zt
            value += self.const[c, None]
            cols = self.nl_col[c]
            has = np.flatnonzero(cols >= 0)
            if len(has):
                value[has] += self.nl[:, cols[has]].T * self.quantities[c][has, None]
            btc = np.flatnonzero(self.btc[c])
            if len(btc):
                value[btc] *= self.price_h_usd[None, :]
            value -= self.value0_usd[c, None]
            yield c, value


# ---- the passes over paths -------------------------------------------------------------------


@dataclass
class _Accumulator:
    xtx: FloatArray
    xtf: dict[str, FloatArray]
    sum_f: dict[str, FloatArray]
    xty: dict[int, FloatArray]
    own_xtx: dict[int, FloatArray]  # contracts that can end before h: fit on live paths only
    sum_v0: dict[int, float]
    n: int = 0


@dataclass
class _PathParts:
    """Per-path pieces of one chunk."""

    raw: FloatArray
    realized: FloatArray  # [paths, h × affine fields]
    price_h: FloatArray
    nl_realized: dict[int, FloatArray]
    nl_future: dict[int, FloatArray]  # discounted to h, for the regression or analytic marks
    nl_alive: dict[int, npt.NDArray[np.bool_]]


@dataclass(frozen=True)
class _Flows:
    """A contract's pathwise cash flows: paid on days 1 … h (at face), after h (discounted
    to h), after today (discounted to today), and whether it is still alive on day h."""

    realized: FloatArray
    future: FloatArray
    today: FloatArray
    alive: npt.NDArray[np.bool_]


def _chunk_fixings(setup: ValuationSetup, source: PathSource) -> Fixings:
    values = {k: v for k, v in source.data.items() if k in FIXING_FIELDS}
    return _with_past(Fixings(dates=source.dates, values=values), setup.past, setup.asof)


def _analytic_value(
    setup: ValuationSetup, option: EuropeanOption, price: FloatArray, day: int
) -> FloatArray:
    """Black–Scholes value of a BTC European option on day ``day`` at ``price``."""
    years = (_day(setup.asof, option.expiry) - day) / DAYS_PER_YEAR_ACT365
    value = black_scholes_price(
        spot=price,
        strike=option.strike,
        expiry_years=max(years, 0.0),
        vol=setup.vol_per_year,
        rate=setup.usd_rate,
        dividend_yield=setup.btc_rate,
        is_call=option.option_type.value == "call",
    )
    return np.asarray(option.side.sign * option.quantity * value, dtype=np.float64)


def _parts(setup: ValuationSetup, source: PathSource) -> tuple[_PathParts, Fixings]:
    h = setup.horizon_days
    data = source.data
    raw = _raw_state(data, h)
    realized = (
        np.concatenate([data[name][:, 1 : h + 1] for name in setup.affine_fields], axis=1)
        if setup.affine_fields
        else np.zeros((raw.shape[0], 0))
    )
    parts = _PathParts(
        raw=raw,
        realized=np.asarray(realized, dtype=np.float64),
        price_h=np.asarray(data["price_usd"][:, h], dtype=np.float64),
        nl_realized={},
        nl_future={},
        nl_alive={},
    )
    return parts, _chunk_fixings(setup, source)


def _contract_flows(setup: ValuationSetup, contract: _Contract, fixings: Fixings) -> _Flows:
    """The contract's cash flows on every path of ``fixings`` (see :class:`_Flows`)."""
    lo = max(contract.first, fixings.first_date)
    hi = min(contract.last, fixings.last_date)
    window = fixings.between(lo, hi)
    days = _day(setup.asof, window.first_date) + np.arange(window.n_periods)
    h = setup.horizon_days
    n = fixings.n_paths
    alive = np.ones(n, dtype=bool)
    if isinstance(contract.instrument, Loan):
        # A loan whose collateral was sold by day h has nothing more to pay, whatever the
        # day-h state: its mark is fitted on, and given to, the paths where it is alive.
        life = loan_life(contract.instrument, window)
        amounts = life.lender_cash_usd
        sold = days[np.maximum(life.liquidation_day, 0)] + contract.instrument.liquidation_days
        ended = life.liquidated & (sold <= h)
        alive = ~ended
    else:
        amounts = np.broadcast_to(contract.instrument.cashflows(window), (n, window.n_periods))
    clip = np.clip(days, 0, setup.last_day)
    df_h = setup.df_btc_h if contract.btc else setup.df_usd_h
    df_0 = setup.df_btc_0 if contract.btc else setup.df_usd_0
    real = (days >= 1) & (days <= h)
    fut = days > h
    return _Flows(
        realized=np.asarray(amounts[:, real].sum(axis=1), dtype=np.float64),
        future=np.asarray(amounts[:, fut] @ df_h[clip[fut]], dtype=np.float64),
        today=np.asarray(amounts[:, days >= 1] @ df_0[clip[days >= 1]], dtype=np.float64),
        alive=alive,
    )


def _nonaffine(setup: ValuationSetup) -> list[int]:
    return [i for i, c in enumerate(setup.contracts) if c.method in ("regression", "analytic")]


def _fill_nonaffine(
    setup: ValuationSetup, parts: _PathParts, fixings: Fixings
) -> dict[int, _Flows]:
    """Path values of the contracts without an affine form: realized flows, and the future
    part (analytic mark, or the path's own future flows — replaced by the regression mark
    when the P&L is assembled)."""
    h = setup.horizon_days
    flows = {}
    n = len(parts.raw)
    for i in _nonaffine(setup):
        contract = setup.contracts[i]
        if contract.method == "analytic" and _day(setup.asof, contract.instrument.expiry) > h:
            # Pays only at expiry, after h: nothing realized, the mark is the closed form.
            zeros = np.zeros(n)
            flows[i] = _Flows(zeros, zeros, zeros, np.ones(n, dtype=bool))
            parts.nl_realized[i] = zeros
            parts.nl_alive[i] = flows[i].alive
            parts.nl_future[i] = _analytic_value(setup, contract.instrument, parts.price_h, h)
            continue
        f = _contract_flows(setup, contract, fixings)
        flows[i] = f
        parts.nl_realized[i] = f.realized
        parts.nl_alive[i] = f.alive
        if contract.method == "analytic":
            option = contract.instrument
            if _day(setup.asof, option.expiry) > h:
                parts.nl_future[i] = _analytic_value(setup, option, parts.price_h, h)
            else:
                parts.nl_future[i] = np.zeros(len(parts.raw))
        else:
            parts.nl_future[i] = f.future
    return flows


def fit_and_value(
    setup: ValuationSetup,
    scenarios: Scenarios,
    *,
    progress: Progress | None = None,
) -> tuple[PnLModel, FittedMarks]:
    """The Monte Carlo pass: fit the marks on ``scenarios`` and value every path."""
    acc: _Accumulator | None = None
    scaling: FeatureScaling | None = None
    bounds: FloatArray | None = None
    parts_list: list[_PathParts] = []
    h = setup.horizon_days
    t_last = setup.last_day
    regressed = [i for i in _nonaffine(setup) if setup.contracts[i].method == "regression"]
    loans = [i for i in regressed if isinstance(setup.contracts[i].instrument, Loan)]
    for chunk in scenarios.chunks(progress, reuse_buffers=True):
        parts, fixings = _parts(setup, chunk)
        if scaling is None:
            scaling = _scaling(parts.raw)
        x = features(parts.raw, scaling)
        seen = np.abs((parts.raw - scaling.mean) / scaling.std).max(axis=0)
        bounds = seen if bounds is None else np.maximum(bounds, seen)
        if acc is None:
            acc = _Accumulator(
                xtx=np.zeros((N_FEATURES, N_FEATURES)),
                xtf={f: np.zeros((N_LINEAR, t_last - h)) for f in setup.affine_fields},
                sum_f={f: np.zeros(t_last) for f in setup.affine_fields},
                xty={i: np.zeros(N_FEATURES) for i in regressed},
                own_xtx={i: np.zeros((N_FEATURES, N_FEATURES)) for i in loans},
                sum_v0=dict.fromkeys(regressed, 0.0),
            )
        acc.xtx += x.T @ x
        acc.n += len(x)
        for name in setup.affine_fields:
            values = chunk.data[name]
            acc.xtf[name] += x[:, :N_LINEAR].T @ values[:, h + 1 : t_last + 1]
            acc.sum_f[name] += values[:, 1 : t_last + 1].sum(axis=0)
        flows = _fill_nonaffine(setup, parts, fixings)
        for i in regressed:
            f = flows[i]
            acc.sum_v0[i] += float(f.today.sum())
            if i in acc.own_xtx:
                live = x[f.alive]
                acc.own_xtx[i] += live.T @ live
                acc.xty[i] += live.T @ f.future[f.alive]
            else:
                acc.xty[i] += x.T @ f.future
        parts_list.append(_compact(parts))
    assert acc is not None and scaling is not None and bounds is not None
    regress = setup.needs_regression
    gamma = {
        name: _conditional_forward(acc.xtx, acc.xtf[name], acc.n, FIELD_BASIS.get(name))
        if regress
        else np.zeros((0, 0))
        for name in setup.affine_fields
    }
    beta = {
        i: _regression(acc.own_xtx.get(i, acc.xtx), acc.xty[i], acc.n, setup.contracts[i].basis)
        if regress
        else np.zeros(N_FEATURES)
        for i in regressed
    }
    mean_f = {name: acc.sum_f[name] / acc.n for name in setup.affine_fields}
    value0 = _values_today(setup, mean_f, acc.sum_v0, acc.n)
    fitted = FittedMarks(
        scaling=scaling,
        bounds=bounds,
        gamma=gamma,
        beta=beta,
        value0=value0,
        n_paths=acc.n,
        seed=scenarios.config.seed,
    )
    model = _assemble(
        setup, fitted, parts_list, source="monte_carlo", seed=scenarios.config.seed, notes=()
    )
    return model, fitted


def _conditional_forward(
    xtx: FloatArray, xtf: FloatArray, n: int, basis: tuple[int, ...] | None
) -> FloatArray:
    """Least-squares coefficients ``[N_LINEAR, days]`` of a field's future days on the
    features (only those in ``basis``, the others 0)."""
    keep = np.arange(N_LINEAR) if basis is None else np.array(basis)
    inverse = np.linalg.pinv(xtx[np.ix_(keep, keep)] / n, rcond=1e-10)
    out = np.zeros((N_LINEAR, xtf.shape[1]))
    out[keep] = inverse @ (xtf[keep] / n)
    return out


def _regression(
    xtx: FloatArray, xty: FloatArray, n: int, basis: tuple[int, ...] | None
) -> FloatArray:
    """Least-squares coefficients ``[N_FEATURES]`` of a contract's discounted future cash
    flows on its basis of features (the others 0). Directions the fit barely saw (relative
    variance below ``NONLINEAR_RCOND``) are dropped rather than extrapolated."""
    keep = np.arange(N_FEATURES) if basis is None else np.array(basis)
    inverse = np.linalg.pinv(xtx[np.ix_(keep, keep)] / n, rcond=NONLINEAR_RCOND)
    out = np.zeros(N_FEATURES)
    out[keep] = inverse @ (xty[keep] / n)
    return out


def _compact(parts: _PathParts) -> _PathParts:
    """Keep only what the P&L needs from a chunk (arrays copied: chunk buffers are reused)."""
    return _PathParts(
        raw=parts.raw.copy(),
        realized=parts.realized.copy(),
        price_h=parts.price_h.copy(),
        nl_realized={k: v.copy() for k, v in parts.nl_realized.items()},
        nl_future={k: v.copy() for k, v in parts.nl_future.items()},
        nl_alive={k: v.copy() for k, v in parts.nl_alive.items()},
    )


def _values_today(
    setup: ValuationSetup,
    mean_f: Mapping[str, FloatArray],
    sum_v0: Mapping[int, float],
    n: int,
) -> FloatArray:
    value0 = np.zeros(len(setup.contracts))
    for i, contract in enumerate(setup.contracts):
        if contract.method == "affine":
            form = contract.affine
            assert form is not None
            total = form.const_0
            for k, name in enumerate(form.fields):
                total += float(form.g_0[k] @ mean_f[name][form.first_day - 1 : form.last_day])
            value0[i] = total
        elif contract.method == "analytic":
            option = contract.instrument
            value0[i] = float(_analytic_value(setup, option, np.array([setup.spot_usd]), 0)[0])
        elif contract.method == "regression":
            value0[i] = sum_v0[i] / n
    return value0


def value_paths(
    setup: ValuationSetup,
    fitted: FittedMarks,
    sources: Iterable[PathSource],
    *,
    source: str,
    notes: tuple[str, ...] = (),
) -> PnLModel:
    """Value paths not used for the fit (historical scenarios, stress paths) with the marks
    fitted on the Monte Carlo paths."""
    parts_list = []
    for chunk in sources:
        parts, fixings = _parts(setup, chunk)
        _fill_nonaffine(setup, parts, fixings)
        parts_list.append(_compact(parts))
    if fitted.scaling is not None and setup.needs_regression:
        raw = np.concatenate([p.raw for p in parts_list])
        outside = outside_fit(raw, fitted.scaling, fitted.bounds)
        if outside:
            notes = (
                *notes,
                f"{outside:,} of {len(raw):,} {source} scenarios move further than any Monte Carlo "
                "path the marks were fitted on: their marks are extrapolated",
            )
    return _assemble(setup, fitted, parts_list, source=source, seed=None, notes=notes)


def _assemble(
    setup: ValuationSetup,
    fitted: FittedMarks,
    parts_list: list[_PathParts],
    *,
    source: str,
    seed: int | None,
    notes: tuple[str, ...],
) -> PnLModel:
    h = setup.horizon_days
    raw = np.concatenate([p.raw for p in parts_list])
    realized = np.concatenate([p.realized for p in parts_list])
    price_h = np.concatenate([p.price_h for p in parts_list])
    n = len(raw)
    x = features(raw, fitted.scaling) if fitted.scaling is not None else np.zeros((n, N_FEATURES))
    z = np.concatenate([realized, x, price_h[:, None]], axis=1)
    n_real = realized.shape[1]
    n_pos = len(setup.names)
    w = np.zeros((z.shape[1], n_pos))
    const = np.zeros(n_pos)
    btc = np.zeros(n_pos, dtype=bool)
    value0_usd = np.zeros(n_pos)
    nonaffine = _nonaffine(setup)
    nl_index = {c: k for k, c in enumerate(nonaffine)}
    nl = np.zeros((n, len(nonaffine)))
    for c, k in nl_index.items():
        realized_c = np.concatenate([p.nl_realized[c] for p in parts_list])
        future_c = np.concatenate([p.nl_future[c] for p in parts_list])
        if setup.contracts[c].method == "regression" and c in fitted.beta:
            # The regression mark replaces the path's own future flows (which would be
            # hindsight), on the paths where the contract is still alive; analytic marks are
            # the closed form at the path's price on day h.
            alive_c = np.concatenate([p.nl_alive[c] for p in parts_list])
            live = _day(setup.asof, setup.contracts[c].last) > h
            future_c = np.where(alive_c, x @ fitted.beta[c], 0.0) if live else np.zeros(n)
        nl[:, k] = realized_c + future_c
    nl_col = np.full(n_pos, -1, dtype=np.int64)
    field_offset = {name: i * h for i, name in enumerate(setup.affine_fields)}
    for j, c in enumerate(setup.position_contract):
        q = setup.quantities[j]
        if c < 0:  # spot BTC: its value on day h is its price
            w[-1, j] = q
            value0_usd[j] = q * setup.spot_usd
            continue
        contract = setup.contracts[c]
        btc[j] = contract.btc
        value0 = fitted.value0[c] * q
        value0_usd[j] = value0 * (setup.spot_usd if contract.btc else 1.0)
        if contract.method == "affine":
            form = contract.affine
            assert form is not None
            const[j] = form.const_h * q
            for k, name in enumerate(form.fields):
                days = np.arange(form.first_day, form.last_day + 1)
                g = form.g_h[k] * q
                in_real = days <= h
                w[field_offset[name] + days[in_real] - 1, j] += g[in_real]
                if (~in_real).any():
                    gamma = fitted.gamma[name]
                    w[n_real : n_real + N_LINEAR, j] += (
                        gamma[:, days[~in_real] - h - 1] @ g[~in_real]
                    )
        elif contract.method in ("regression", "analytic"):
            nl_col[j] = nl_index[c]
    return PnLModel(
        names=setup.names,
        kinds=setup.kinds,
        quantities=setup.quantities,
        btc=btc,
        value0_usd=value0_usd,
        z=z,
        w=w,
        const=const,
        nl=nl,
        nl_col=nl_col,
        price_h_usd=price_h,
        horizon_days=h,
        asof=setup.asof,
        source=source,
        n_paths=n,
        seed=seed,
        notes=notes,
    )


def monte_carlo_pnl(
    portfolio: Portfolio,
    *,
    market: Market,
    model: NetworkModel,
    horizon_days: int,
    n_paths: int,
    seed: int,
    workers: int = 1,
    progress: Progress | None = None,
) -> tuple[PnLModel, FittedMarks, ValuationSetup]:
    """Plan, simulate and value: the P&L distribution at ``horizon_days`` on ``n_paths``."""
    setup = plan_valuation(portfolio, market=market, model=model, horizon_days=horizon_days)
    scenarios = Scenarios(
        model,
        market.state,
        setup.last_day,
        ScenarioConfig(n_paths=n_paths, seed=seed, workers=workers),
    )
    pnl, fitted = fit_and_value(setup, scenarios, progress=progress)
    return pnl, fitted, setup
