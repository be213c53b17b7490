"""The Monte Carlo engine for regional contracts (basis swaps, power forwards, margin locks):
the network scenario engine's hashprice paths, each region's power paths from its log-OU
model with shocks correlated to that path's hashprice (``models.power``), then the contract's
own ``cashflows`` — the function settlement calls — discounted in USD.

It prices on a :class:`~hashmarket.models.RegionalModel` (network model and a power model
per region) and a :class:`RegionalMarket` (the network market and each region's spot power
price): the registry's ``REGIONAL`` inputs. A contract that has started takes its realized
days from ``past_fixings`` (hashprice, power prices and margins up to the valuation date).

The power draws come from their own seeded stream (the run's seed and the chunk), so a seed
reproduces the number bit for bit and the hashprice paths are exactly those the network
contracts see with the same seed. Only the ``plain`` method and a fixed path count are
offered; the rest of the configuration is refused by name rather than ignored.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hashmarket.errors import PricingError
from hashmarket.instruments import (
    Fixings,
    RegionalInstrument,
    power_field,
    with_margins,
)
from hashmarket.models import (
    RegionalModel,
    ScenarioConfig,
    Scenarios,
    ScenarioSet,
    hashprice_shocks,
)
from hashmarket.pricing.market import Market, with_past
from hashmarket.pricing.pathvalue import pricing_model
from hashmarket.pricing.result import MonteCarloConfig, PricingResult, Progress
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
POWER_STREAM = 0x706F776572  # "power": keeps the power draws apart from the network's


@dataclass(frozen=True)
class RegionalMarket:
    """Market data for regional contracts as of the end of ``network.asof``."""

    network: Market
    power_usd_per_kwh: Mapping[str, float]
    past_fixings: Fixings | None = None

    @property
    def asof(self) -> dt.date:
        return self.network.asof


def _check(instrument: RegionalInstrument, market: RegionalMarket, model: RegionalModel) -> None:
    for region in instrument.regions:
        spot = market.power_usd_per_kwh.get(region)
        if region not in model.power or spot is None or not (math.isfinite(spot) and spot > 0):
            raise PricingError(
                "engine_model",
                engine="mc",
                instrument=instrument.type_name,
                needs=f"a power model and a positive spot power price for region {region!r}",
            )


def _refuse(instrument: RegionalInstrument, config: MonteCarloConfig) -> int:
    if config.method != "plain" or config.n_paths is None or config.scheduler is not None:
        raise PricingError(
            "mc_config",
            problem=f"{instrument.type_name} is simulated with method 'plain', a path count "
            "and in process (no target error, no cluster)",
        )
    return config.n_paths + (config.n_paths % 2 if config.antithetic else 0)


def simulated_fixings(
    instrument: RegionalInstrument,
    chunk: ScenarioSet,
    *,
    market: RegionalMarket,
    model: RegionalModel,
    rng: np.random.Generator,
) -> Fixings:
    """A chunk's fixings: its hashprice, each region's simulated power and margin."""
    hashprice = chunk.field("hashprice_usd_per_ph_day")
    shocks = hashprice_shocks(hashprice)
    values = {"hashprice_usd_per_ph_day": hashprice}
    for region in instrument.regions:
        values[power_field(region)] = model.power[region].simulate(
            spot_usd_per_kwh=market.power_usd_per_kwh[region], shocks=shocks, rng=rng
        )
    fixings = Fixings(dates=chunk.dates, values=values)
    return with_margins(fixings, instrument.regions, instrument.efficiency_j_per_th)


def monte_carlo_regional(
    instrument: RegionalInstrument,
    *,
    market: RegionalMarket,
    model: RegionalModel,
    config: MonteCarloConfig,
    progress: Progress | None = None,
) -> PricingResult:
    """Value a regional contract by simulation (see the module docstring)."""
    started = time.perf_counter()
    asof = market.asof
    first, last = instrument.fixing_window(asof=asof, height=market.network.state.height)
    if last <= asof:
        raise PricingError("expired", instrument=instrument.type_name, asof=asof, last=last)
    n_paths = _refuse(instrument, config)
    _check(instrument, market, model)
    days = (last - asof).days
    network, drift = pricing_model(
        model.network, market.network, config, days / DAYS_PER_YEAR_ACT365
    )
    scenarios = Scenarios(
        network,
        market.network.state,
        days,
        ScenarioConfig(
            n_paths=n_paths,
            seed=config.seed,
            antithetic=config.antithetic,
            chunk_paths=config.chunk_paths,
            stream_paths=config.stream_paths,
            fields=("hashprice_usd_per_ph_day",),
        ),
    )
    samples: list[FloatArray] = []
    done = 0
    for index, chunk in enumerate(scenarios.chunks()):
        rng = np.random.default_rng([config.seed, POWER_STREAM, index])
        simulated = simulated_fixings(instrument, chunk, market=market, model=model, rng=rng)
        fixings = with_past(simulated, market.past_fixings, asof, instrument=instrument.type_name)
        amounts = instrument.cashflows(fixings)
        future = fixings.dates > np.datetime64(asof.isoformat(), "D")
        discount = market.network.discount_factors(instrument.currency, fixings.dates[future])
        pv = np.broadcast_to(amounts[:, future] @ discount, (chunk.n_paths,))
        samples.append(chunk.pair_means(np.asarray(pv, dtype=np.float64)))
        done += chunk.n_paths
        if progress is not None:
            progress(done, n_paths)
    values = np.concatenate(samples)
    error = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
    return PricingResult(
        value=float(values.mean()),
        std_error=error,
        n_paths=n_paths,
        seed=config.seed,
        currency=instrument.currency.value,
        engine="mc",
        diagnostics={
            "method": "plain",
            "asof": asof.isoformat(),
            "fixing_window": [first.isoformat(), last.isoformat()],
            "horizon_days": days,
            "measure": config.measure,
            "btc_usd_drift_per_year": drift,
            "antithetic": config.antithetic,
            "independent_samples": len(values),
            "power_models": {r: model.power[r].to_dict() for r in instrument.regions},
            "power_spot_usd_per_kwh": {r: market.power_usd_per_kwh[r] for r in instrument.regions},
            "elapsed_s": time.perf_counter() - started,
        },
    )
