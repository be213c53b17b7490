"""Valuation as of a date: calibrate, build the market, price.

The one workflow behind ``hashmarket price``, ``hashmarket curve`` and the HTTP API: a
contract that has already started settles its past days on the realized fixings, the rest on
simulated ones. Network contracts are valued from the network history (:func:`value_instrument`);
compute contracts from the GPU-hour index fixings of quotes (:func:`compute_setup`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hashmarket.chain import NetworkHistory
from hashmarket.errors import ModelError, PricingError
from hashmarket.index import GpuFixing, QuoteTable, Term, gpu_fixings
from hashmarket.instruments import (
    ComputeForward,
    ComputeLease,
    Fixings,
    Instrument,
    SettlementCurrency,
    fixings_from_gpu_index,
)
from hashmarket.models import MIN_OBSERVATIONS, Calibration, GpuPriceModel, calibrate
from hashmarket.models import calibrate_gpu_fixings as fit_gpu_fixings
from hashmarket.pricing.compute import ComputeMarket
from hashmarket.pricing.curves import HashpriceCurve, hashprice_curve
from hashmarket.pricing.discount import FlatRate
from hashmarket.pricing.market import Market
from hashmarket.pricing.registry import price
from hashmarket.pricing.result import MonteCarloConfig, PricingResult, Progress
from hashmarket.units import DAYS_PER_YEAR_ACT365

# Used when the quotes have too few consecutive daily fixings to calibrate the GPU model: a
# half-life of half a year for the pull to the long-run mean (GPU rental prices fell by about
# half over 2025 in the bundled figures, i.e. they move on a scale of months, not days).
ASSUMED_HALF_LIFE_DAYS = 182.5
# ... and, with a single fixing (no change to measure), a volatility of half the spot a year.
ASSUMED_VOL_FRACTION_PER_YEAR = 0.5


@dataclass(frozen=True, slots=True)
class ValuationSetup:
    """How the models are calibrated and discounted for a valuation."""

    asof: dt.date | None = None  # default: the last day with a price and network data
    price_model: Literal["gbm", "merton"] = "gbm"
    vol_estimator: Literal["full", "ewma"] = "full"
    usd_rate: float = 0.0  # flat, continuously compounded
    btc_rate: float = 0.0


def calibrated(history: NetworkHistory, setup: ValuationSetup) -> Calibration:
    return calibrate(
        history, asof=setup.asof, price_model=setup.price_model, vol_estimator=setup.vol_estimator
    )


def market_for(
    calibration: Calibration, setup: ValuationSetup, *, past_fixings: Fixings | None = None
) -> Market:
    return Market(
        state=calibration.state,
        usd_curve=FlatRate(setup.usd_rate),
        btc_curve=FlatRate(setup.btc_rate),
        past_fixings=past_fixings,
    )


def value_instrument(
    instrument: Instrument,
    *,
    history: NetworkHistory,
    calibration: Calibration,
    setup: ValuationSetup,
    config: MonteCarloConfig,
    engine: str = "mc",
    progress: Progress | None = None,
) -> PricingResult:
    """Value ``instrument`` as of the calibration date; its past days use realized fixings."""
    state = calibration.state
    first, _ = instrument.fixing_window(asof=state.asof, height=state.height)
    past = (
        Fixings.from_history(history, start=first, end=state.asof) if first < state.asof else None
    )
    return price(
        instrument,
        market=market_for(calibration, setup, past_fixings=past),
        model=calibration.model,
        config=config,
        engine=engine,
        progress=progress,
    )


def horizon_days(instrument: Instrument, calibration: Calibration) -> int:
    """Days simulated to value ``instrument`` (for progress reporting)."""
    state = calibration.state
    _, last = instrument.fixing_window(asof=state.asof, height=state.height)
    return max((last - state.asof).days, 0)


def forward_curve(
    *,
    calibration: Calibration,
    setup: ValuationSetup,
    months: int,
    config: MonteCarloConfig,
    currency: SettlementCurrency = SettlementCurrency.USD,
    quotes: Mapping[str, float] | None = None,
    progress: Progress | None = None,
) -> HashpriceCurve:
    """Expected hashprice per calendar month with P5/P50/P95 bands from the calibrated model."""
    return hashprice_curve(
        market=market_for(calibration, setup),
        model=calibration.model,
        months=months,
        config=config,
        currency=currency,
        quotes=dict(quotes) if quotes else None,
        progress=progress,
    )


# ---- compute contracts ---------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeSetup:
    """The GPU-hour model and market data for a compute contract, and where they came from."""

    model: GpuPriceModel
    market: ComputeMarket
    gpu_model: str
    term: str
    source: str  # the quotes' name
    asof_from: Literal["requested", "last fixing"]
    spot_date: dt.date  # the fixing the spot is
    fixings: int  # daily fixings of the model and term on or before the as-of date
    calibrated_on: int  # consecutive daily fixings the model was fitted on; 0 if not fitted
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "asof": self.market.asof.isoformat(),
            "asof_from": self.asof_from,
            "source": self.source,
            "gpu_model": self.gpu_model,
            "term": self.term,
            "spot_usd_per_gpu_hour": self.market.gpu_price_usd_per_gpu_hour,
            "spot_date": self.spot_date.isoformat(),
            "fixings": self.fixings,
            "calibrated_on_fixings": self.calibrated_on,
            "model": {
                "mean_usd_per_gpu_hour": self.model.mean_usd_per_gpu_hour,
                "reversion_per_year": self.model.reversion_per_year,
                "vol_usd_per_year": self.model.vol_usd_per_year,
                "half_life_days": self.model.half_life_days,
            },
            "notes": list(self.notes),
        }


def compute_index_of(instrument: ComputeForward | ComputeLease) -> tuple[str, str]:
    """The GPU-hour index (model, term) a compute contract is valued on: the forward's own;
    a lease rents at a fixed price by the hour, so the on-demand hour it stands in for."""
    if isinstance(instrument, ComputeForward):
        return instrument.gpu_model, instrument.term
    return instrument.gpu_model, Term.ON_DEMAND.value


def compute_setup(
    quotes: QuoteTable,
    *,
    gpu_model: str,
    term: str,
    asof: dt.date | None = None,
    usd_rate: float = 0.0,
    source: str = "the quotes",
) -> ComputeSetup:
    """Model and market for the ``gpu_model``/``term`` index from ``quotes``, as of ``asof``
    (default: the day of the last fixing). Only fixings on or before ``asof`` are used; the
    spot is the last of them.

    With at least ``MIN_OBSERVATIONS`` consecutive daily fixings up to the spot the OU model is
    fitted on them (``models.gpu.calibrate_gpu_fixings``). Otherwise — a sparse sample such as
    the bundled published figures — there is nothing to fit a mean or a reversion speed on, so
    the long-run mean is the spot (no view on the direction), the half-life is
    ``ASSUMED_HALF_LIFE_DAYS``, and the volatility is what the fixings' changes imply
    (√(Σ ΔP² / Σ Δt)), or ``ASSUMED_VOL_FRACTION_PER_YEAR`` × spot with a single fixing. The
    notes say which.
    """
    used = _fixings_to(quotes, gpu_model=gpu_model, term=term, asof=asof, source=source)
    resolved = asof or used[-1].period_start
    spot = used[-1]
    notes: list[str] = []
    if spot.period_start < resolved:
        notes.append(
            f"the spot is the fixing of {spot.period_start}, "
            f"{(resolved - spot.period_start).days} days before the as-of date"
        )
    model, calibrated_on = _gpu_model(used, gpu_model=gpu_model, term=term, notes=notes)
    market = ComputeMarket(
        asof=resolved,
        gpu_price_usd_per_gpu_hour=float(spot.value),
        usd_curve=FlatRate(usd_rate),
        past_fixings=fixings_from_gpu_index(used, gpu_model=gpu_model, term=term),
    )
    return ComputeSetup(
        model=model,
        market=market,
        gpu_model=gpu_model,
        term=term,
        source=source,
        asof_from="requested" if asof is not None else "last fixing",
        spot_date=spot.period_start,
        fixings=len(used),
        calibrated_on=calibrated_on,
        notes=tuple(notes),
    )


def _fixings_to(
    quotes: QuoteTable, *, gpu_model: str, term: str, asof: dt.date | None, source: str
) -> list[GpuFixing]:
    """The index's daily fixings on or before ``asof`` (default: all of them), in date order;
    a ``no_gpu_fixing`` error when there are none."""
    chosen = sorted(
        (
            f
            for f in gpu_fixings(quotes)
            if f.gpu_model == gpu_model and f.term == term and f.period_start == f.period_end
        ),
        key=lambda f: f.period_start,
    )
    if not chosen:
        raise PricingError("no_gpu_fixing", gpu_model=gpu_model, term=term, source=source, when="")
    resolved = asof or chosen[-1].period_start
    used = [f for f in chosen if f.period_start <= resolved]
    if not used:
        raise PricingError(
            "no_gpu_fixing",
            gpu_model=gpu_model,
            term=term,
            source=source,
            when=f" on or before {resolved} (the first is of {chosen[0].period_start})",
        )
    return used


def _gpu_model(
    used: list[GpuFixing], *, gpu_model: str, term: str, notes: list[str]
) -> tuple[GpuPriceModel, int]:
    """The OU model fitted on the consecutive daily fixings that end at the spot, or assumed
    where they are too few (said in ``notes``); and how many fixings it was fitted on."""
    run = [used[-1]]
    for earlier in reversed(used[:-1]):
        if (run[-1].period_start - earlier.period_start).days != 1:
            break
        run.append(earlier)
    if len(run) >= MIN_OBSERVATIONS:
        try:
            return fit_gpu_fixings(run, gpu_model=gpu_model, term=term).model, len(run)
        except ModelError as error:
            notes.append(f"the model could not be fitted ({error}); assumed parameters instead")
    notes.append(
        f"{len(used)} {gpu_model} {term} fixing(s), {len(run)} consecutive: too few to fit "
        f"the model (needs {MIN_OBSERVATIONS} consecutive daily fixings); assumed: mean = "
        f"the spot, half-life {ASSUMED_HALF_LIFE_DAYS:g} days, volatility "
        + (
            "from the fixings' changes"
            if len(used) > 1
            else f"{ASSUMED_VOL_FRACTION_PER_YEAR:.0%} of the spot a year"
        )
    )
    return _assumed_model(used), 0


def _assumed_model(used: list[GpuFixing]) -> GpuPriceModel:
    spot = float(used[-1].value)
    if len(used) > 1:
        squares = sum((float(b.value) - float(a.value)) ** 2 for a, b in itertools.pairwise(used))
        years = (used[-1].period_start - used[0].period_start).days / DAYS_PER_YEAR_ACT365
        vol = math.sqrt(squares / years)
    else:
        vol = ASSUMED_VOL_FRACTION_PER_YEAR * spot
    return GpuPriceModel(
        mean_usd_per_gpu_hour=spot,
        reversion_per_year=math.log(2.0) / (ASSUMED_HALF_LIFE_DAYS / DAYS_PER_YEAR_ACT365),
        vol_usd_per_year=vol,
    )
