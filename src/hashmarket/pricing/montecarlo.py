"""The Monte Carlo engine: simulate the network, apply the instrument's payoff, discount.

For every chunk of paths the engine builds ``Fixings`` from the simulated paths (preceded by
the market's realized fixings for a contract that has already started), calls
``instrument.cashflows`` — the same function settlement calls — and discounts the amounts
paid after the valuation date. Per-path present values are reduced to antithetic pair means
when pairs are used, and the price is their mean with its standard error.
"""

from __future__ import annotations

import math
import time

import numpy as np
import numpy.typing as npt

from hashmarket.errors import PricingError
from hashmarket.instruments import FIXING_FIELDS, Fixings, Instrument
from hashmarket.models import (
    FIELDS,
    NetworkModel,
    ScenarioConfig,
    Scenarios,
    ScenarioSet,
    backend_for,
)
from hashmarket.pricing.efficient import efficient_price
from hashmarket.pricing.market import Market
from hashmarket.pricing.pathvalue import present_values, uses_btc_numeraire
from hashmarket.pricing.pathvalue import pricing_model as pricing_model  # re-exported
from hashmarket.pricing.result import MonteCarloConfig, PricingResult, Progress
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]

SIMULATED_FIXINGS = tuple(f for f in FIELDS if f in FIXING_FIELDS)
FIRST_BATCH_BLOCKS = 8  # a target-error run starts with this many stream blocks
MAX_BATCHES = 5


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


class _Run:
    """One pricing run: fixed instrument, market, model and horizon; batches of paths."""

    def __init__(
        self,
        instrument: Instrument,
        market: Market,
        model: NetworkModel,
        config: MonteCarloConfig,
        days: int,
        progress: Progress | None,
    ) -> None:
        self.instrument = instrument
        self.market = market
        self.model = model
        self.config = config
        self.days = days
        self.progress = progress
        self.btc_numeraire = uses_btc_numeraire(instrument, config.measure)

    def present_values(self, chunk: ScenarioSet) -> FloatArray:
        return present_values(
            self.instrument,
            Fixings.from_scenarios(chunk),
            market=self.market,
            model=self.model,
            btc_numeraire=self.btc_numeraire,
        )

    def batch(self, first_path: int, n_paths: int, total_hint: int, done: int) -> FloatArray:
        cfg = self.config
        scenarios = Scenarios(
            self.model,
            self.market.state,
            self.days,
            ScenarioConfig(
                n_paths=n_paths,
                seed=cfg.seed,
                antithetic=cfg.antithetic,
                chunk_paths=cfg.chunk_paths,
                stream_paths=cfg.stream_paths,
                workers=cfg.workers,
                fields=SIMULATED_FIXINGS,
            ),
            first_path=first_path,
        )

        def report(paths_done: int, _total: int) -> None:
            if self.progress is not None:
                self.progress(done + paths_done, max(total_hint, done + paths_done))

        backend = backend_for(cfg.scheduler)
        return np.concatenate(backend.map_chunks(scenarios, self.samples, progress=report))

    def samples(self, chunk: ScenarioSet) -> FloatArray:
        """The chunk's independent samples (antithetic pair means, or per-path values)."""
        return chunk.pair_means(self.present_values(chunk))

    def __getstate__(self) -> dict[str, object]:
        # A run is shipped to cluster workers without the caller's progress callback.
        return {**self.__dict__, "progress": None}


def _mean_and_error(samples: FloatArray) -> tuple[float, float]:
    mean = float(samples.mean())
    if len(samples) < 2:
        return mean, math.nan
    return mean, float(samples.std(ddof=1) / math.sqrt(len(samples)))


def monte_carlo_price(
    instrument: Instrument,
    *,
    market: Market,
    model: NetworkModel,
    config: MonteCarloConfig,
    progress: Progress | None = None,
) -> PricingResult:
    """Price ``instrument`` by simulating ``model`` from ``market.state``."""
    started = time.perf_counter()
    asof = market.asof
    first, last = instrument.fixing_window(asof=asof, height=market.state.height)
    currency = instrument.currency.value
    if last <= asof:
        raise PricingError("expired", instrument=instrument.type_name, asof=asof, last=last)
    if config.method != "plain":
        return efficient_price(
            instrument, market=market, model=model, config=config, progress=progress
        )
    days = (last - asof).days
    sim_model, drift = pricing_model(model, market, config, days / DAYS_PER_YEAR_ACT365)
    run = _Run(instrument, market, sim_model, config, days, progress)
    stream = config.stream_paths
    if config.n_paths is not None:
        n = config.n_paths + (config.n_paths % 2 if config.antithetic else 0)
        samples = run.batch(0, n, n, 0)
        total = n
    else:
        assert config.target_std_error is not None
        total = min(_round_up(FIRST_BATCH_BLOCKS * stream, stream), config.max_paths)
        total += total % 2 if config.antithetic else 0
        samples = run.batch(0, total, total, 0)
        for _ in range(MAX_BATCHES - 1):
            _, error = _mean_and_error(samples)
            if not error > config.target_std_error or total >= config.max_paths:
                break
            wanted = math.ceil(total * (error / config.target_std_error) ** 2 * 1.1)
            target_total = min(_round_up(wanted, stream), config.max_paths)
            target_total += target_total % 2 if config.antithetic else 0
            extra = target_total - total
            if extra <= 0:
                break
            samples = np.concatenate([samples, run.batch(total, extra, target_total, total)])
            total = target_total
    value, error = _mean_and_error(samples)
    elapsed = time.perf_counter() - started
    diagnostics = {
        "method": "plain",
        "asof": asof.isoformat(),
        "fixing_window": [first.isoformat(), last.isoformat()],
        "horizon_days": days,
        "measure": config.measure,
        "numeraire": "btc" if run.btc_numeraire else instrument.currency.value,
        "btc_usd_drift_per_year": drift,
        "block_arrivals": model.block_arrivals.value,
        "antithetic": config.antithetic,
        "independent_samples": len(samples),
        "elapsed_s": elapsed,
        "path_days_per_s": total * days / elapsed if elapsed > 0 else math.nan,
    }
    if config.target_std_error is not None:
        diagnostics["target_std_error"] = config.target_std_error
        diagnostics["target_met"] = bool(error <= config.target_std_error)
    return PricingResult(
        value=value,
        std_error=error,
        n_paths=total,
        seed=config.seed,
        currency=currency,
        engine="mc",
        diagnostics=diagnostics,
    )
