"""The engines, in one table keyed by (instrument type, engine name), and the one entry point
:func:`price`.

Products never look at models; an engine is chosen by the instrument's type and a name
(``"mc"`` for Monte Carlo, which prices every instrument, ``"analytic"`` where a closed form
exists). Each entry also declares what its engine prices on — the model type and the market
type — and :func:`price` refuses anything else by name before an engine runs:

========================  ==========================  ===================================
instruments               model                       market
========================  ==========================  ===================================
the network contracts     ``NetworkModel``            ``Market`` (network state, curves)
compute forward / lease   ``GpuPriceModel`` (OU)      ``ComputeMarket`` (GPU-hour spot)
regional power contracts  ``RegionalModel``           ``RegionalMarket`` (network, power)
========================  ==========================  ===================================

The table is built here, once, from the engines' modules; adding an engine is adding a row.
A row may also value its instrument on scenario paths at a future day (``on_paths``: the
closed form at each path's state), which revaluation at a horizon asks for through
:func:`closed_form_on_paths`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar, overload

import numpy.typing as npt

from hashmarket.errors import PricingError
from hashmarket.instruments import (
    INSTRUMENT_TYPES,
    REGIONAL_INSTRUMENTS,
    ComputeForward,
    ComputeLease,
    EuropeanOption,
    Instrument,
    RegionalInstrument,
)
from hashmarket.models import GpuPriceModel, NetworkModel, RegionalModel
from hashmarket.pricing.analytic import (
    FloatArray,
    black_scholes_applies,
    black_scholes_engine,
    black_scholes_on_paths,
)
from hashmarket.pricing.compute import (
    ComputeMarket,
    analytic_forward,
    analytic_lease,
    monte_carlo_forward,
    monte_carlo_lease,
)
from hashmarket.pricing.greeks import bump_greeks
from hashmarket.pricing.market import Market
from hashmarket.pricing.montecarlo import monte_carlo_price
from hashmarket.pricing.regional import RegionalMarket, monte_carlo_regional
from hashmarket.pricing.result import MonteCarloConfig, PricingResult, Progress

I_contra = TypeVar("I_contra", contravariant=True)
Model_contra = TypeVar("Model_contra", contravariant=True)
Market_contra = TypeVar("Market_contra", contravariant=True)
I = TypeVar("I")  # noqa: E741 - the instrument type, as in the protocol's parameters
ModelT = TypeVar("ModelT")
MarketT = TypeVar("MarketT")


class Pricer(Protocol[I_contra, Model_contra, Market_contra]):
    """An engine: the value of an instrument under a model and market data."""

    def __call__(
        self,
        instrument: I_contra,
        *,
        market: Market_contra,
        model: Model_contra,
        config: MonteCarloConfig,
        progress: Progress | None = None,
    ) -> PricingResult: ...


class PathPricer(Protocol[I_contra]):
    """A closed form on paths: the position's value at each path's BTC price, ``expiry_years``
    before the contract's last fixing, at the given vol and zero rates."""

    def __call__(
        self,
        instrument: I_contra,
        *,
        spot_usd: npt.ArrayLike,
        expiry_years: float,
        vol: float,
        usd_rate: float,
        btc_rate: float,
    ) -> FloatArray: ...


@dataclass(frozen=True)
class OnPaths(Generic[I]):
    """A row's closed form on scenario paths, and when it holds (the instrument's terms and
    the model: a day-h value in closed form needs more than the price today does)."""

    applies: Callable[[I, NetworkModel], bool]
    value: PathPricer[I]


@dataclass(frozen=True)
class Inputs(Generic[ModelT, MarketT]):
    """What a family of engines prices on: a model type and a market-data type.
    ``bumps``: whether the network bumps (spot, vol, hashrate, rate) apply to them."""

    name: str
    model_type: type[ModelT]
    market_type: type[MarketT]
    bumps: bool = False

    def describe(self) -> str:
        return f"model {self.model_type.__name__} and market {self.market_type.__name__}"


NETWORK = Inputs("network", NetworkModel, Market, bumps=True)
COMPUTE = Inputs("compute", GpuPriceModel, ComputeMarket)
REGIONAL = Inputs("regional", RegionalModel, RegionalMarket)


@dataclass(frozen=True)
class Engine(Generic[I, ModelT, MarketT]):
    """One row of the table: an engine for one instrument type, and what it prices on."""

    instrument_type: type[I]
    name: str
    inputs: Inputs[ModelT, MarketT]
    pricer: Pricer[I, ModelT, MarketT]
    on_paths: OnPaths[I] | None = None


COMPUTE_INSTRUMENTS: tuple[type[Any], ...] = (ComputeForward, ComputeLease)
# Every other spec type is a contract on the Bitcoin network, priced by simulating it.
NETWORK_INSTRUMENTS: tuple[type[Any], ...] = tuple(
    cls
    for cls in INSTRUMENT_TYPES.values()
    if cls not in COMPUTE_INSTRUMENTS and cls not in REGIONAL_INSTRUMENTS
)


def _table() -> Mapping[tuple[type[Any], str], Engine[Any, Any, Any]]:
    rows: list[Engine[Any, Any, Any]] = [
        *(Engine(cls, "mc", NETWORK, monte_carlo_price) for cls in NETWORK_INSTRUMENTS),
        Engine(
            EuropeanOption,
            "analytic",
            NETWORK,
            black_scholes_engine,
            OnPaths(black_scholes_applies, black_scholes_on_paths),
        ),
        Engine(ComputeForward, "mc", COMPUTE, monte_carlo_forward),
        Engine(ComputeForward, "analytic", COMPUTE, analytic_forward),
        Engine(ComputeLease, "mc", COMPUTE, monte_carlo_lease),
        Engine(ComputeLease, "analytic", COMPUTE, analytic_lease),
        *(Engine(cls, "mc", REGIONAL, monte_carlo_regional) for cls in REGIONAL_INSTRUMENTS),
    ]
    table = {(row.instrument_type, row.name): row for row in rows}
    if len(table) != len(rows):
        raise RuntimeError("two pricing engines share an (instrument type, engine name)")
    return MappingProxyType(table)


ENGINES = _table()


def engines_for(instrument_type: type[Any]) -> list[str]:
    return sorted(name for (cls, name) in ENGINES if cls is instrument_type)


def engine_for(instrument_type: type[Any], engine: str = "mc") -> Engine[Any, Any, Any]:
    """The table's row for ``instrument_type`` and ``engine``, or a ``no_engine`` error."""
    row = ENGINES.get((instrument_type, engine))
    if row is None:
        raise PricingError(
            "no_engine",
            engine=engine,
            instrument=getattr(instrument_type, "type_name", instrument_type.__name__),
            known=", ".join(engines_for(instrument_type)) or "none",
        )
    return row


def closed_form_on_paths(instrument: Instrument, model: NetworkModel) -> PathPricer[Any] | None:
    """The analytic engine's value on paths for ``instrument`` under ``model``, or ``None``
    where the table has none (then the paths' own cash flows value it)."""
    row = ENGINES.get((type(instrument), "analytic"))
    if row is None or row.on_paths is None or not row.on_paths.applies(instrument, model):
        return None
    return row.on_paths.value


@overload
def price(
    instrument: ComputeForward | ComputeLease,
    *,
    market: ComputeMarket,
    model: GpuPriceModel,
    config: MonteCarloConfig | None = None,
    engine: str = "mc",
    progress: Progress | None = None,
) -> PricingResult: ...


@overload
def price(
    instrument: RegionalInstrument,
    *,
    market: RegionalMarket,
    model: RegionalModel,
    config: MonteCarloConfig | None = None,
    engine: str = "mc",
    progress: Progress | None = None,
) -> PricingResult: ...


@overload
def price(
    instrument: Instrument,
    *,
    market: Market,
    model: NetworkModel,
    config: MonteCarloConfig | None = None,
    engine: str = "mc",
    progress: Progress | None = None,
) -> PricingResult: ...


def price(
    instrument: Instrument,
    *,
    market: Market | ComputeMarket | RegionalMarket,
    model: NetworkModel | GpuPriceModel | RegionalModel,
    config: MonteCarloConfig | None = None,
    engine: str = "mc",
    progress: Progress | None = None,
) -> PricingResult:
    """Value ``instrument`` with ``engine``; with ``config.greeks`` add bumped Greeks where
    the engine gives none. The model and market must be the types the engine declares."""
    config = config or MonteCarloConfig()
    row = engine_for(type(instrument), engine)
    inputs = row.inputs
    if not (isinstance(model, inputs.model_type) and isinstance(market, inputs.market_type)):
        raise PricingError(
            "engine_model",
            engine=engine,
            instrument=instrument.type_name,
            needs=f"{inputs.describe()}, got model {type(model).__name__} "
            f"and market {type(market).__name__}",
        )
    result = row.pricer(instrument, market=market, model=model, config=config, progress=progress)
    if config.greeks and not result.greeks and inputs.bumps:
        assert isinstance(market, Market) and isinstance(model, NetworkModel)

        def reprice(m: Market, mdl: NetworkModel, fixed: MonteCarloConfig) -> float:
            return row.pricer(instrument, market=m, model=mdl, config=fixed).value

        greeks = bump_greeks(
            market=market, model=model, config=config, base=result, reprice=reprice
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
