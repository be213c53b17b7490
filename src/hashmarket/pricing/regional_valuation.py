"""The model and market for a regional contract as of a date: the calibrated network model,
and per region the log-OU power model fitted to the imported prices on or before that date,
with its spot and its estimated correlation to hashprice (``docs/regional.md``)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hashmarket.chain import NetworkHistory
from hashmarket.errors import PricingError
from hashmarket.index import PowerPrices, hashprice_table
from hashmarket.instruments import Fixings, RegionalInstrument, power_field, with_margins
from hashmarket.models import Calibration, PowerCalibration, RegionalModel, calibrate_power
from hashmarket.pricing.regional import RegionalMarket
from hashmarket.pricing.valuation import ValuationSetup, market_for


@dataclass(frozen=True)
class RegionalSetup:
    """What a regional contract is priced on, and where it came from."""

    model: RegionalModel
    market: RegionalMarket
    power: tuple[PowerCalibration, ...]
    source: str
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "regions": [c.to_dict() for c in self.power],
            "notes": list(self.notes),
        }


def _hashprice_by_day(history: NetworkHistory, asof: dt.date) -> dict[dt.date, float]:
    column = hashprice_table(history.between(None, asof))["hashprice_usd_per_ph_day"]
    return {d.date(): float(v) for d, v in column.items() if math.isfinite(v)}


def _past(
    instrument: RegionalInstrument,
    history: NetworkHistory,
    prices: PowerPrices,
    first: dt.date,
    asof: dt.date,
) -> Fixings:
    """The realized days ``first … asof``: hashprice from the history, power from the file."""
    network = Fixings.from_history(history, start=first, end=asof)
    days = [first + dt.timedelta(days=i) for i in range((asof - first).days + 1)]
    values = {"hashprice_usd_per_ph_day": network.values["hashprice_usd_per_ph_day"]}
    for region in instrument.regions:
        series = prices.series(region)
        values[power_field(region)] = np.array(
            [float(series[d]) if d in series else math.nan for d in days]
        )
    past = Fixings(dates=network.dates, values=values)
    return with_margins(past, instrument.regions, instrument.efficiency_j_per_th)


def regional_setup(
    instrument: RegionalInstrument,
    *,
    history: NetworkHistory,
    calibration: Calibration,
    setup: ValuationSetup,
    prices: PowerPrices,
    source: str,
) -> RegionalSetup:
    """Fit each of the contract's regions and build the market as of the calibration date."""
    asof = calibration.state.asof
    hashprice = _hashprice_by_day(history, asof)
    fitted = tuple(
        calibrate_power(prices.series(r), region=r, hashprice_usd_per_ph_day=hashprice, asof=asof)
        for r in instrument.regions
    )
    notes = [n for c in fitted for n in c.notes]
    for c in fitted:
        if c.spot_date < asof:
            notes.append(
                f"{c.model.region}: the spot is the price of {c.spot_date}, "
                f"{(asof - c.spot_date).days} days before the as-of date"
            )
    first, _ = instrument.fixing_window(asof=asof, height=calibration.state.height)
    past = _past(instrument, history, prices, first, asof) if first <= asof else None
    if past is not None and any(c.spot_date < asof for c in fitted):
        raise PricingError(
            "regional_power",
            instrument=instrument.type_name,
            problem=f"the contract has started ({first}); the power prices must reach the "
            f"as-of date {asof}",
        )
    market = RegionalMarket(
        network=market_for(calibration, setup),
        power_usd_per_kwh={c.model.region: c.spot_usd_per_kwh for c in fitted},
        past_fixings=past,
    )
    model = RegionalModel(
        network=calibration.model, power={c.model.region: c.model for c in fitted}
    )
    return RegionalSetup(
        model=model, market=market, power=fitted, source=source, notes=tuple(notes)
    )
