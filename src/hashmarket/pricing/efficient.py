"""Monte Carlo methods ``pseudo`` and ``sobol``: simulate what the payoff reads, with
control variates (see ``MonteCarloConfig.method``).

The fields a payoff reads are found by calling its ``cashflows`` once on a one-path probe
whose field mapping records every name looked up. A payoff that reads only the BTC price
gets the price alone, stepped exactly between its fixing dates; any other gets the network
model day by day with only its fields kept on its window's days. Each path's present value
is the same function the ``plain`` method uses (``pathvalue.present_values``); the controls
and the estimator are in :mod:`hashmarket.pricing.controls`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from hashmarket.errors import PricingError
from hashmarket.instruments import Fixings, Instrument
from hashmarket.models import (
    FIELDS,
    SOBOL_MAX_DIMENSION,
    NetworkModel,
    PathChunk,
    ReducedPaths,
    antithetic_pair_means,
)
from hashmarket.pricing.controls import ControlPlan, build_plan, fit_hashprice
from hashmarket.pricing.market import Market
from hashmarket.pricing.pathvalue import present_values, pricing_model, uses_btc_numeraire
from hashmarket.pricing.result import MonteCarloConfig, PricingResult, Progress
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PILOT_PATHS = 2048  # paths of the pilot run that fits the hashprice proxy
PILOT_FIRST_PATH = 2048 * 2**30  # its streams: far from any run's own paths
FIRST_BATCH_PATHS = 16_384  # a target-error run starts with this many paths
# The fixing fields the network model simulates.
NETWORK_FIXINGS = frozenset(
    {
        "price_usd",
        "difficulty",
        "height",
        "block_count",
        "subsidy_btc",
        "fee_btc_per_block",
        "hashprice_btc_per_ph_day",
        "hashprice_usd_per_ph_day",
    }
)
SAMPLES_PER_CONTROL = 20  # fewer independent samples per control: keep only the core ones
SHOCK_CONTROLS = ("shocks_", "arrivals_", "price_x_")  # the many; the rest are the core
HASHPRICE_FIELDS = frozenset({"hashprice_usd_per_ph_day", "hashprice_btc_per_ph_day"})


class _Recording(dict[str, FloatArray]):
    """A field mapping that remembers which names were looked up."""

    def __init__(self, values: dict[str, FloatArray]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> FloatArray:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)


def fields_read(
    instrument: Instrument, market: Market, first: dt.date, last: dt.date
) -> frozenset[str]:
    """The simulated fields ``instrument.cashflows`` reads, from one call on a one-path
    probe at the state's values over ``first … last``; every field if the probe fails."""
    start = min(first, market.asof)
    dates = np.datetime64(start.isoformat(), "D") + np.arange((last - start).days + 1)
    state = market.state
    level = {
        "price_usd": state.price_usd,
        "difficulty": state.difficulty,
        "height": float(state.height),
        "block_count": state.expected_blocks_per_day,
        "subsidy_btc": state.subsidy_btc,
        "fee_btc_per_block": state.fee_btc_per_block,
        "hashprice_btc_per_ph_day": state.hashprice_btc_per_ph_day,
        "hashprice_usd_per_ph_day": state.hashprice_usd_per_ph_day,
    }
    probe = Fixings(dates=dates, values={k: np.full((1, len(dates)), v) for k, v in level.items()})
    recording = _Recording(dict(probe.values))
    object.__setattr__(probe, "values", recording)
    try:
        instrument.cashflows(probe)
    except Exception:  # any failure: simulate every field, as plain does
        return frozenset(level)
    return frozenset(recording.read & set(level))


class _Sums:
    """Running sums for the control-variate estimator, per randomization."""

    def __init__(self, k: int, replicates: int, core: IntArray) -> None:
        self.core = core  # the controls kept when samples are too few for all of them
        self.count = np.zeros(replicates)
        self.sum_y = np.zeros(replicates)
        self.sum_x = np.zeros((replicates, k))
        self.syy = 0.0
        self.sxy = np.zeros(k)
        self.sxx = np.zeros((k, k))
        self.shift: float | None = None

    def add(self, y: FloatArray, x: FloatArray, replicates: IntArray) -> None:
        if self.shift is None:
            self.shift = float(y.mean())
        yc = y - self.shift
        size = len(self.count)
        self.count += np.bincount(replicates, minlength=size)
        self.sum_y += np.bincount(replicates, weights=yc, minlength=size)
        for r in np.unique(replicates):
            self.sum_x[r] += x[replicates == r].sum(axis=0)
        self.syy += float(yc @ yc)
        self.sxy += x.T @ yc
        self.sxx += x.T @ x

    def columns(self, m: float) -> IntArray:
        """The controls ``m`` samples can carry: all, the core ones, or none. A regression on
        too many controls for its samples fits the noise and understates the error."""
        every = np.arange(self.sxy.shape[0])
        for cols in (every, self.core):
            if m >= SAMPLES_PER_CONTROL * len(cols):
                return cols
        return every[:0]

    def estimate(self, sobol: bool) -> tuple[float, float, float, int]:
        """(value, standard error, variance ratio of plain to controlled samples, controls
        used)."""
        m = float(self.count.sum())
        y_bar = self.sum_y.sum() / m
        cols = self.columns(m)
        sum_x = self.sum_x[:, cols]
        x_bar = sum_x.sum(axis=0) / m
        var_y = (self.syy - m * y_bar * y_bar) / (m - 1)
        beta = np.zeros(len(cols))
        var_adj = var_y
        if len(cols):
            sxx = self.sxx[np.ix_(cols, cols)]
            cxx = (sxx - m * np.outer(x_bar, x_bar)) / (m - 1)
            cxy = (self.sxy[cols] - m * x_bar * y_bar) / (m - 1)
            scale = np.sqrt(np.maximum(np.diag(cxx), 0.0))
            scale[scale == 0] = 1.0
            solved, *_ = np.linalg.lstsq(cxx / np.outer(scale, scale), cxy / scale, rcond=1e-12)
            beta = solved / scale
            residual = max(var_y - 2 * beta @ cxy + beta @ cxx @ beta, 0.0)
            # Degrees of freedom: k coefficients were fitted on the same samples.
            var_adj = residual * (m - 1) / max(m - len(cols) - 1, 1.0)
        shift = self.shift or 0.0
        means = (self.sum_y - sum_x @ beta) / self.count + shift
        ratio = var_y / var_adj if var_adj > 0 else math.inf
        if sobol:
            error = float(means.std(ddof=1) / math.sqrt(len(means)))
            return float(means.mean()), error, ratio, len(cols)
        return float(means[0]), math.sqrt(var_adj / m), ratio, len(cols)


def _nearest_power_of_two(n: int) -> int:
    """Sobol points keep their balance in runs of 2^m: the power of two nearest ``n``."""
    return 1 << max(0, round(math.log2(max(n, 1))))


class _Run:
    def __init__(
        self,
        instrument: Instrument,
        market: Market,
        model: NetworkModel,
        config: MonteCarloConfig,
        *,
        read: frozenset[str] | None = None,
    ) -> None:
        self.instrument = instrument
        self.market = market
        self.config = config
        asof = market.asof
        first, last = instrument.fixing_window(asof=asof, height=market.state.height)
        self.first, self.last = first, last
        horizon = (last - asof).days
        self.model, self.drift = pricing_model(
            model, market, config, horizon / DAYS_PER_YEAR_ACT365
        )
        self.read = fields_read(instrument, market, first, last) if read is None else read
        network = not self.read <= {"price_usd"}
        record_from = 0 if market.past_fixings is not None else max((first - asof).days, 0)
        controls = config.control_variates
        simulated = {"price_usd"} | (set(self.read) if network else set())
        if network and controls and self.read & HASHPRICE_FIELDS:
            simulated.add("hashprice_btc_per_ph_day")
        self.paths = ReducedPaths(
            model=self.model,
            state=market.state,
            record_from=record_from,
            last_day=horizon,
            fields=tuple(f for f in FIELDS if f in simulated),
            network=network,
            sampler="sobol" if config.method == "sobol" else "pseudo",
            seed=config.seed,
            antithetic=config.antithetic and config.method == "pseudo",
            stream_paths=config.stream_paths,
        )
        dimension = self.paths.factors * (horizon if network else len(self.paths.step_days))
        if config.method == "sobol" and dimension > SOBOL_MAX_DIMENSION:
            raise PricingError(
                "mc_config",
                problem=f"a Sobol sequence has at most {SOBOL_MAX_DIMENSION:,} dimensions and "
                f"this contract needs {dimension:,} ({horizon:,} days of the network model); "
                "use method 'pseudo'",
            )
        self.btc_numeraire = uses_btc_numeraire(instrument, config.measure)
        days = np.arange(max((first - asof).days, 1), horizon + 1, dtype=np.int64)
        self.plan: ControlPlan | None = None
        if controls:
            cols = days - record_from
            fit = None
            if network and self.read & HASHPRICE_FIELDS:
                pilot = dataclasses.replace(self.paths, antithetic=False)
                chunks = list(pilot.pseudo(PILOT_PATHS, first_path=PILOT_FIRST_PATH))
                fit = fit_hashprice(chunks, cols, days, self.paths.segments)
            self.plan = build_plan(
                instrument,
                model=self.model,
                state=market.state,
                days=days,
                cols=cols,
                segments=self.paths.segments,
                network=network,
                hashprice_fit=fit,
                fields_read=self.read,
            )

    def samples(self, chunk: PathChunk) -> tuple[FloatArray, FloatArray, IntArray]:
        fixings = Fixings(dates=chunk.dates, values=chunk.data)
        y = present_values(
            self.instrument,
            fixings,
            market=self.market,
            model=self.model,
            btc_numeraire=self.btc_numeraire,
        )
        if self.plan is None:
            x = np.zeros((len(y), 0))
        else:
            x = self.plan.values(chunk) - self.plan.means
        if self.paths.antithetic:
            pairs = antithetic_pair_means(y, chunk.block_sizes)
            return (
                pairs,
                antithetic_pair_means(x, chunk.block_sizes),
                np.zeros(len(pairs), dtype=np.int64),
            )
        return y, x, chunk.replicates

    def run(self, n_paths: int, progress: Progress | None) -> tuple[_Sums, int, int]:
        """Sums over about ``n_paths`` paths; (sums, paths, paths per randomization)."""
        k = 0 if self.plan is None else len(self.plan.names)
        if self.config.method == "sobol":
            replicates = self.config.randomizations
            per = _nearest_power_of_two(math.ceil(n_paths / replicates))
            chunks = self.paths.sobol(per, replicates)
            total = per * replicates
        else:
            replicates, total = 1, n_paths + (n_paths % 2 if self.paths.antithetic else 0)
            per = total
            chunks = self.paths.pseudo(total)
        core = np.zeros(0, dtype=np.int64)
        if self.plan is not None:
            core = np.asarray(
                [
                    i
                    for i, name in enumerate(self.plan.names)
                    if not name.startswith(SHOCK_CONTROLS)
                ],
                dtype=np.int64,
            )
        sums = _Sums(k, replicates, core)
        done = 0
        for chunk in chunks:
            y, x, ids = self.samples(chunk)
            sums.add(y, x, ids)
            done += chunk.n_paths
            if progress is not None:
                progress(done, total)
        return sums, total, per


def efficient_price(
    instrument: Instrument,
    *,
    market: Market,
    model: NetworkModel,
    config: MonteCarloConfig,
    progress: Progress | None = None,
) -> PricingResult:
    """Price ``instrument`` with ``config.method`` ``pseudo`` or ``sobol``."""
    # The linear algebra here is small (tens of controls): BLAS threads only contend, and on
    # a busy machine they make a millisecond product take a tenth of a second.
    with threadpool_limits(limits=1, user_api="blas"):
        return _efficient_price(instrument, market, model, config, progress)


def _estimate(
    run: _Run, config: MonteCarloConfig, progress: Progress | None
) -> tuple[float, float, float, int, int, int]:
    """(value, standard error, variance ratio, controls used, paths, paths per
    randomization)."""
    sobol = config.method == "sobol"
    if config.n_paths is not None:
        sums, total, per = run.run(config.n_paths, progress)
        return (*sums.estimate(sobol), total, per)
    assert config.target_std_error is not None
    sums, total, per = run.run(min(FIRST_BATCH_PATHS, config.max_paths), progress)
    value, error, ratio, used = sums.estimate(sobol)
    if error > config.target_std_error and total < config.max_paths:
        wanted = math.ceil(total * (error / config.target_std_error) ** 2 * 1.1)
        sums, total, per = run.run(min(wanted, config.max_paths), progress)
        value, error, ratio, used = sums.estimate(sobol)
    return value, error, ratio, used, total, per


def _efficient_price(
    instrument: Instrument,
    market: Market,
    model: NetworkModel,
    config: MonteCarloConfig,
    progress: Progress | None,
) -> PricingResult:
    started = time.perf_counter()
    sobol = config.method == "sobol"
    run = _Run(instrument, market, model, config)
    try:
        value, error, ratio, used, total, per = _estimate(run, config, progress)
    except PricingError as problem:
        # A payoff may read a field only on some paths (a branch the probe's flat path
        # did not take): then simulate every field the network gives, as plain does.
        missing = problem.fields.get("field") if problem.key == "missing_fixings" else None
        if missing not in NETWORK_FIXINGS or missing in run.paths.fields:
            raise
        run = _Run(instrument, market, model, config, read=NETWORK_FIXINGS)
        value, error, ratio, used, total, per = _estimate(run, config, progress)
    elapsed = time.perf_counter() - started
    paths = run.paths
    diagnostics: dict[str, Any] = {
        "method": config.method,
        "asof": market.asof.isoformat(),
        "fixing_window": [run.first.isoformat(), run.last.isoformat()],
        "horizon_days": paths.last_day,
        "measure": config.measure,
        "numeraire": "btc" if run.btc_numeraire else instrument.currency.value,
        "btc_usd_drift_per_year": run.drift,
        "simulated": "network, daily" if paths.network else "BTC price, exact steps",
        "fields": list(paths.fields),
        "recorded_days": int(paths.last_day - paths.record_from + 1),
        "price_steps": int(paths.last_day if paths.network else len(paths.step_days)),
        "block_arrivals": model.block_arrivals.value,
        "antithetic": paths.antithetic,
        "control_variates": used,
        "variance_ratio": ratio,
        "elapsed_s": elapsed,
    }
    if sobol:
        diagnostics["randomizations"] = config.randomizations
        diagnostics["paths_per_randomization"] = per
    if config.target_std_error is not None:
        diagnostics["target_std_error"] = config.target_std_error
        diagnostics["target_met"] = bool(error <= config.target_std_error)
    return PricingResult(
        value=value,
        std_error=error,
        n_paths=total,
        seed=config.seed,
        currency=instrument.currency.value,
        engine="mc",
        diagnostics=diagnostics,
    )
