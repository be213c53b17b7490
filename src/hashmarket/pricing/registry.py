"""Engines by (instrument type, engine name), and the one entry point :func:`price`.

Products never look at models; an engine is chosen by the instrument's type and a name
(``"mc"`` for Monte Carlo, which prices every instrument, ``"analytic"`` where a closed form
exists). Register a new engine with ``@register(InstrumentType, "name")``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from hashmarket.errors import PricingError
from hashmarket.instruments.options import EuropeanOption
from hashmarket.instruments.spec import INSTRUMENT_TYPES
from hashmarket.instruments.terms import Instrument, OptionType, Underlying
from hashmarket.models.network import NetworkModel
from hashmarket.models.price import GBM, MertonJumpDiffusion
from hashmarket.pricing.analytic import black_scholes_greeks, merton_price
from hashmarket.pricing.discount import DAYS_PER_YEAR
from hashmarket.pricing.market import Market
from hashmarket.pricing.montecarlo import Progress, monte_carlo_price
from hashmarket.pricing.result import MonteCarloConfig, PricingResult


class Pricer(Protocol):
    def __call__(
        self,
        instrument: Any,
        *,
        market: Market,
        model: NetworkModel,
        config: MonteCarloConfig,
        progress: Progress | None = None,
    ) -> PricingResult: ...


_ENGINES: dict[tuple[type[Any], str], Pricer] = {}
P = TypeVar("P", bound=Callable[..., PricingResult])


def register(instrument_type: type[Any], engine: str) -> Callable[[P], P]:
    def decorate(fn: P) -> P:
        _ENGINES[(instrument_type, engine)] = fn
        return fn

    return decorate


def engines_for(instrument_type: type[Any]) -> list[str]:
    return sorted(name for (cls, name) in _ENGINES if cls is instrument_type)


def price(
    instrument: Instrument,
    *,
    market: Market,
    model: NetworkModel,
    config: MonteCarloConfig | None = None,
    engine: str = "mc",
    progress: Progress | None = None,
) -> PricingResult:
    """Value ``instrument`` with ``engine``; with ``config.greeks`` add bumped Greeks."""
    config = config or MonteCarloConfig()
    pricer = _ENGINES.get((type(instrument), engine))
    if pricer is None:
        raise PricingError(
            "no_engine",
            engine=engine,
            instrument=instrument.type_name,
            known=", ".join(engines_for(type(instrument))) or "none",
        )
    result = pricer(instrument, market=market, model=model, config=config, progress=progress)
    if config.greeks and not result.greeks:
        from hashmarket.pricing.greeks import bump_greeks

        greeks = bump_greeks(
            instrument, market=market, model=model, config=config, base=result, engine=engine
        )
        result = PricingResult(
            value=result.value,
            std_error=result.std_error,
            n_paths=result.n_paths,
            seed=result.seed,
            currency=result.currency,
            engine=result.engine,
            greeks=greeks,
            diagnostics=result.diagnostics,
        )
    return result


def _monte_carlo(
    instrument: Any,
    *,
    market: Market,
    model: NetworkModel,
    config: MonteCarloConfig,
    progress: Progress | None = None,
) -> PricingResult:
    return monte_carlo_price(
        instrument, market=market, model=model, config=config, progress=progress
    )


for _cls in INSTRUMENT_TYPES.values():
    register(_cls, "mc")(_monte_carlo)


@register(EuropeanOption, "analytic")
def black_scholes_engine(
    instrument: EuropeanOption,
    *,
    market: Market,
    model: NetworkModel,
    config: MonteCarloConfig,
    progress: Progress | None = None,
) -> PricingResult:
    """Black–Scholes (GBM) or Merton's series (jumps) for a European option on BTC/USD, with
    r the USD zero rate and BTC's lending rate as the yield, both to expiry. Under
    ``measure = model`` the model's drift replaces r − q in the forward."""
    if instrument.underlying is not Underlying.BTC_USD:
        raise PricingError(
            "engine_model",
            engine="analytic",
            instrument=instrument.type_name,
            needs="a btc_usd underlying (hashprice has no closed form under the network model)",
        )
    years = (instrument.expiry - market.asof).days / DAYS_PER_YEAR
    if years <= 0:
        return PricingResult(0.0, 0.0, 0, None, instrument.currency.value, "analytic")
    r = market.usd_curve.zero_rate(years)
    q = market.btc_curve.zero_rate(years)
    if config.measure == "model":
        q = r - model.price.drift_per_year
    is_call = instrument.option_type is OptionType.CALL
    scale = instrument.side.sign * instrument.quantity
    spot = market.state.price_usd
    greeks: dict[str, float] = {}
    price_model = model.price
    if isinstance(price_model, MertonJumpDiffusion) and price_model.has_jumps:
        value = merton_price(
            spot=spot,
            strike=instrument.strike,
            expiry_years=years,
            vol=price_model.vol_per_year,
            jumps_per_year=price_model.jumps_per_year,
            jump_mean_log=price_model.jump_mean_log,
            jump_std_log=price_model.jump_std_log,
            rate=r,
            dividend_yield=q,
            is_call=is_call,
        )
        method = "merton"
    elif isinstance(price_model, GBM | MertonJumpDiffusion):
        g = black_scholes_greeks(
            spot=spot,
            strike=instrument.strike,
            expiry_years=years,
            vol=price_model.vol_per_year,
            rate=r,
            dividend_yield=q,
            is_call=is_call,
        )
        value = float(g.price)
        greeks = {
            "delta_per_usd": scale * float(g.delta),
            "gamma_per_usd2": scale * float(g.gamma),
            "vega_per_vol_point": scale * float(g.vega) / 100,
            "rho_per_bp": scale * float(g.rho) * 1e-4,
        }
        method = "black_scholes"
    else:
        raise PricingError(
            "engine_model",
            engine="analytic",
            instrument=instrument.type_name,
            needs="GBM or Merton",
        )
    return PricingResult(
        value=scale * value,
        std_error=0.0,
        n_paths=0,
        seed=None,
        currency=instrument.currency.value,
        engine="analytic",
        greeks=greeks,
        diagnostics={
            "method": method,
            "expiry_years": years,
            "usd_rate": r,
            "btc_rate": q,
            "vol_per_year": price_model.vol_per_year,
            "spot_usd": spot,
            "forward_usd": spot * math.exp((r - q) * years),
        },
    )


# The bundled engines register themselves on import; importing them here (last, once the
# registry is defined) means any use of the registry sees them.
from hashmarket.pricing import compute as _compute  # noqa: E402, F401
