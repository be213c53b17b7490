"""Cloud hashrate, hosting and machine leases on the scenario paths of the pricing engine.

The registry's Monte Carlo engine values each of these contracts by its own ``cashflows``
(``hashmarket price SPEC``). The questions a buyer or a lessor asks need more than the mean,
so :func:`scenario_paths` draws the very paths that engine draws (same model under the same
measure, same seed, same antithetic pairs, the realized fixings before the as-of date joined
in front) and the functions below read the contract's life off them:

* :func:`cloud_valuation` — the buyer's expected PV of the net daily outputs (the fair
  up-front price), against the price paid; the flat break-even hashprice; the probability of a
  shut-off before the term ends and the expected shut-off day;
* :func:`lease_risk` — the lessor's probability of default, expected loss and loss quantiles.

The PV per path is :func:`hashmarket.pricing.pathvalue.present_values`, the function the
engine averages, so ``fair value`` here equals ``price(...)`` on the same configuration.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.chain import NetworkHistory
from hashmarket.errors import PricingError
from hashmarket.instruments import (
    CloudHashrate,
    Fixings,
    Instrument,
    MachineLease,
    cloud_life,
    flat_breakeven_hashprice_btc_per_ph_day,
    lease_life,
    upfront_price_btc,
)
from hashmarket.models import Calibration, NetworkModel, ScenarioConfig, Scenarios
from hashmarket.pricing.market import Market, with_past
from hashmarket.pricing.pathvalue import present_values, pricing_model, uses_btc_numeraire
from hashmarket.pricing.result import MonteCarloConfig
from hashmarket.pricing.valuation import ValuationSetup, market_for
from hashmarket.units import DAYS_PER_YEAR_ACT365, SATS_PER_BTC

FloatArray = npt.NDArray[np.float64]
# What these contracts read: a whole path set is held at once, so only these are kept (the
# network is simulated the same way whatever is kept: the paths are the engine's).
PATH_FIELDS = ("price_usd", "hashprice_usd_per_ph_day", "hashprice_btc_per_ph_day")


@dataclass(frozen=True)
class ScenarioPaths:
    """A contract's fixings on the engine's paths and each path's PV (its currency)."""

    fixings: Fixings  # realized days before the as-of date, then the simulated ones
    present_values: FloatArray  # [paths]
    samples: FloatArray  # independent samples of the PV (antithetic pair means)
    model: NetworkModel  # the model the paths were simulated under (the measure's)

    @property
    def value(self) -> float:
        return float(self.samples.mean())

    @property
    def std_error(self) -> float:
        n = len(self.samples)
        return float(self.samples.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan


def scenario_paths(
    instrument: Instrument, *, market: Market, model: NetworkModel, config: MonteCarloConfig
) -> ScenarioPaths:
    """The Monte Carlo engine's paths for ``instrument`` (plain method), in one piece."""
    asof = market.asof
    _, last = instrument.fixing_window(asof=asof, height=market.state.height)
    if last <= asof:
        raise PricingError("expired", instrument=instrument.type_name, asof=asof, last=last)
    if config.n_paths is None:
        raise PricingError("mc_config", problem="give n_paths for a scenario analysis")
    days = (last - asof).days
    sim_model, _ = pricing_model(model, market, config, days / DAYS_PER_YEAR_ACT365)
    n = config.n_paths + (config.n_paths % 2 if config.antithetic else 0)
    scenarios = Scenarios(
        sim_model,
        market.state,
        days,
        ScenarioConfig(
            n_paths=n,
            seed=config.seed,
            antithetic=config.antithetic,
            chunk_paths=config.chunk_paths,
            stream_paths=config.stream_paths,
            workers=config.workers,
            fields=PATH_FIELDS,
        ),
    ).materialize()
    simulated = Fixings.from_scenarios(scenarios)
    pv = present_values(
        instrument,
        simulated,
        market=market,
        model=sim_model,
        btc_numeraire=uses_btc_numeraire(instrument, config.measure),
    )
    fixings = with_past(simulated, market.past_fixings, asof, instrument=instrument.type_name)
    return ScenarioPaths(fixings, pv, scenarios.pair_means(pv), sim_model)


def market_with_past(
    instrument: Instrument,
    *,
    history: NetworkHistory,
    calibration: Calibration,
    setup: ValuationSetup,
) -> Market:
    """The market :func:`hashmarket.pricing.value_instrument` prices on: a contract that has
    started carries its realized fixings from its first day to the as-of date."""
    state = calibration.state
    first, _ = instrument.fixing_window(asof=state.asof, height=state.height)
    past = (
        Fixings.from_history(history, start=first, end=state.asof) if first < state.asof else None
    )
    return market_for(calibration, setup, past_fixings=past)


def _quantiles(values: FloatArray, levels: tuple[float, ...]) -> dict[str, float]:
    q = np.quantile(values, levels)
    return {f"p{round(level * 100):g}": float(v) for level, v in zip(levels, q, strict=True)}


@dataclass(frozen=True)
class CloudValuation:
    """What a cloud hashrate contract is worth to its buyer, from ``asof``."""

    asof: dt.date
    spot_usd: float
    fair_value_btc: float  # expected PV of the net outputs still to come (BTC numeraire)
    std_error_btc: float
    price_btc: float  # the up-front price in BTC (a USD price at the spot)
    breakeven_hashprice_btc_per_ph_day: float
    shutoff_probability: float
    expected_shutoff_day: float | None  # days after start, on the paths that shut off
    output_quantiles_btc: dict[str, float]  # undiscounted total output per path
    payback_probability: float  # P(total output ≥ the price)
    n_paths: int
    seed: int

    @property
    def buyer_npv_btc(self) -> float:
        return self.fair_value_btc - self.price_btc

    def to_dict(self) -> dict[str, Any]:
        sats = SATS_PER_BTC
        return {
            "asof": self.asof.isoformat(),
            "spot_usd": self.spot_usd,
            "fair_upfront_sats": self.fair_value_btc * sats,
            "fair_upfront_usd": self.fair_value_btc * self.spot_usd,
            "std_error_sats": self.std_error_btc * sats,
            "price_sats": self.price_btc * sats,
            "price_usd": self.price_btc * self.spot_usd,
            "buyer_npv_sats": self.buyer_npv_btc * sats,
            "buyer_npv_usd": self.buyer_npv_btc * self.spot_usd,
            "breakeven_hashprice_btc_per_ph_day": self.breakeven_hashprice_btc_per_ph_day,
            "shutoff_probability": self.shutoff_probability,
            "expected_shutoff_day": self.expected_shutoff_day,
            "payback_probability": self.payback_probability,
            "total_output_sats_quantiles": {
                k: v * sats for k, v in self.output_quantiles_btc.items()
            },
            "n_paths": self.n_paths,
            "seed": self.seed,
        }


def cloud_valuation(
    contract: CloudHashrate, *, market: Market, model: NetworkModel, config: MonteCarloConfig
) -> CloudValuation:
    """The buyer's side of ``contract`` over the engine's scenarios (see the module)."""
    paths = scenario_paths(contract, market=market, model=model, config=config)
    life = cloud_life(contract, paths.fixings)
    shut_day = life.shutoff_days_after_start(contract, paths.fixings)
    # A shut-off on the term's last day ends nothing early.
    early = (shut_day >= 0) & (shut_day < contract.term_days - 1)
    total = life.output_btc.sum(axis=1)
    spot = market.state.price_usd
    price = upfront_price_btc(contract, spot_usd=spot)
    return CloudValuation(
        asof=market.asof,
        spot_usd=spot,
        fair_value_btc=paths.value,
        std_error_btc=paths.std_error,
        price_btc=price,
        breakeven_hashprice_btc_per_ph_day=flat_breakeven_hashprice_btc_per_ph_day(
            contract, price_usd=spot
        ),
        shutoff_probability=float(early.mean()),
        expected_shutoff_day=float(shut_day[early].mean()) if early.any() else None,
        output_quantiles_btc=_quantiles(total, (0.05, 0.5, 0.95)),
        payback_probability=float((total >= price).mean()),
        n_paths=len(paths.present_values),
        seed=config.seed,
    )


@dataclass(frozen=True)
class LeaseRisk:
    """The lessor's credit risk on a machine lease over scenarios (USD)."""

    asof: dt.date
    financed_usd: float
    value_usd: float  # the lessor's expected PV of its cash flows (the engine's value)
    std_error_usd: float
    default_probability: float
    expected_default_month: float | None
    expected_loss_usd: float
    expected_ead_usd: float  # on the defaulted paths
    loss_given_default: float | None  # E[loss | default] ÷ E[EAD | default]
    loss_quantiles_usd: dict[str, float]
    n_paths: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "asof": self.asof.isoformat(),
            "financed_usd": self.financed_usd,
            "lessor_value_usd": self.value_usd,
            "std_error_usd": self.std_error_usd,
            "default_probability": self.default_probability,
            "expected_default_month": self.expected_default_month,
            "expected_loss_usd": self.expected_loss_usd,
            "expected_ead_usd": self.expected_ead_usd,
            "loss_given_default": self.loss_given_default,
            "loss_quantiles_usd": self.loss_quantiles_usd,
            "n_paths": self.n_paths,
            "seed": self.seed,
        }


def lease_risk(
    lease: MachineLease, *, market: Market, model: NetworkModel, config: MonteCarloConfig
) -> LeaseRisk:
    """Default, exposure, recovery and loss of ``lease`` over the engine's scenarios."""
    paths = scenario_paths(lease, market=market, model=model, config=config)
    life = lease_life(lease, paths.fixings)
    defaulted = life.default_month > 0
    ead = float(life.ead_usd[defaulted].mean()) if defaulted.any() else 0.0
    loss = float(life.loss_usd[defaulted].mean()) if defaulted.any() else 0.0
    return LeaseRisk(
        asof=market.asof,
        financed_usd=lease.financed_cents / 100,
        value_usd=paths.value,
        std_error_usd=paths.std_error,
        default_probability=float(defaulted.mean()),
        expected_default_month=(
            float(life.default_month[defaulted].mean()) if defaulted.any() else None
        ),
        expected_loss_usd=float(life.loss_usd.mean()),
        expected_ead_usd=ead,
        loss_given_default=loss / ead if ead > 0 else None,
        loss_quantiles_usd=_quantiles(life.loss_usd, (0.5, 0.95, 0.99)),
        n_paths=len(paths.present_values),
        seed=config.seed,
    )
