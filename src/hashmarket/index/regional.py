"""The regional mining-margin index: hashprice less the cost of power in a region, per PH/s per
day, for a reference machine efficiency. See ``docs/regional.md``.

    power cost (USD/PH/s/day) = efficiency (J/TH) × 1,000 TH/PH × 24 h ÷ 1,000 W/kW × USD/kWh
                              = efficiency × 24 × price_usd_per_kwh
    margin (USD/PH/s/day)     = hashprice_usd_per_ph_day − power cost

(20 J/TH at 0.05 USD/kWh: 1 PH/s draws 20 kW, 480 kWh a day, 24 USD.) A fixing takes the
day's published USD hashprice fixing (``index.fixings``, at its $0.01 tick) and the region's
power price for the day from an imported series, computes the margin exactly in decimal, and
rounds it half to even to $0.01. It states the methodology version, its inputs (the hashprice
fixing and that fixing's input hash, the power price with the file, line and file digest it
came from, the efficiency) and the SHA-256 of their canonical JSON, as hashprice fixings do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hashmarket.errors import DataError, UsageError
from hashmarket.index.fixings import TICK, fixings, inputs_digest
from hashmarket.units import HOURS_PER_DAY, TH_PER_PH, WATTS_PER_KILOWATT

if TYPE_CHECKING:
    from hashmarket.chain import NetworkHistory
    from hashmarket.index.power_prices import PowerPrices

FloatArray = npt.NDArray[np.float64]

REGIONAL_METHODOLOGY_VERSION = "1.0"
REFERENCE_EFFICIENCY_J_PER_TH = 20.0
# kWh a day that 1 PH/s draws per J/TH of efficiency: 1,000 TH/PH × 24 h ÷ 1,000 W/kW = 24.
KWH_PER_PH_DAY_PER_J_PER_TH = TH_PER_PH * HOURS_PER_DAY / WATTS_PER_KILOWATT


def power_cost_usd_per_ph_day(
    *, efficiency_j_per_th: npt.ArrayLike, price_usd_per_kwh: npt.ArrayLike
) -> FloatArray:
    """What the power for 1 PH/s costs per day: ``efficiency × 24 × price``."""
    eff = np.asarray(efficiency_j_per_th, dtype=np.float64)
    return eff * KWH_PER_PH_DAY_PER_J_PER_TH * np.asarray(price_usd_per_kwh, dtype=np.float64)


def regional_margin_usd_per_ph_day(
    *,
    hashprice_usd_per_ph_day: npt.ArrayLike,
    efficiency_j_per_th: npt.ArrayLike,
    price_usd_per_kwh: npt.ArrayLike,
) -> FloatArray:
    """The regional margin: hashprice less the power cost (vectorized, for simulated paths)."""
    cost = power_cost_usd_per_ph_day(
        efficiency_j_per_th=efficiency_j_per_th, price_usd_per_kwh=price_usd_per_kwh
    )
    return np.asarray(hashprice_usd_per_ph_day, dtype=np.float64) - cost


def check_efficiency(efficiency_j_per_th: float) -> float:
    if not (isinstance(efficiency_j_per_th, int | float) and 0 < efficiency_j_per_th < 1000):
        raise UsageError(
            "bad_option",
            option="efficiency_j_per_th",
            problem=f"{efficiency_j_per_th!r} is not an efficiency in J/TH (0 < e < 1000)",
        )
    return float(efficiency_j_per_th)


@dataclass(frozen=True, slots=True)
class RegionalFixing:
    """One published value of the regional margin index: one UTC day, one region."""

    date: dt.date
    region: str
    value: Decimal  # USD per PH/s per day, at the $0.01 tick
    efficiency_j_per_th: float
    hashprice_usd_per_ph_day: Decimal  # the day's published hashprice fixing
    power_price_usd_per_kwh: Decimal
    power_cost_usd_per_ph_day: Decimal  # exact
    methodology_version: str
    inputs: dict[str, Any]
    inputs_sha256: str
    unit: str = "PH/s/day"
    currency: str = "usd"

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "region": self.region,
            "value": str(self.value),
            "unit": self.unit,
            "currency": self.currency,
            "efficiency_j_per_th": self.efficiency_j_per_th,
            "hashprice_usd_per_ph_day": str(self.hashprice_usd_per_ph_day),
            "power_price_usd_per_kwh": str(self.power_price_usd_per_kwh),
            "power_cost_usd_per_ph_day": str(self.power_cost_usd_per_ph_day),
            "methodology_version": self.methodology_version,
            "inputs": self.inputs,
            "inputs_sha256": self.inputs_sha256,
        }


def regional_fixing(
    *,
    day: dt.date,
    region: str,
    hashprice: Any,  # index.fixings.Fixing in USD
    price_usd_per_kwh: Decimal,
    efficiency_j_per_th: float,
    power_source: dict[str, Any],
) -> RegionalFixing:
    """The fixing of one day and region from its two published inputs (exact decimals)."""
    eff = Decimal(repr(float(efficiency_j_per_th)))
    cost = eff * Decimal(KWH_PER_PH_DAY_PER_J_PER_TH) * price_usd_per_kwh
    margin = (hashprice.value - cost).quantize(TICK["usd"], rounding=ROUND_HALF_EVEN)
    inputs: dict[str, Any] = {
        "index": "regional-margin",
        "date": day.isoformat(),
        "region": region,
        "efficiency_j_per_th": float(efficiency_j_per_th),
        "hashprice_usd_per_ph_day": str(hashprice.value),
        "hashprice_inputs_sha256": hashprice.inputs_sha256,
        "hashprice_methodology_version": hashprice.methodology_version,
        "power_price_usd_per_kwh": str(price_usd_per_kwh),
        "power_source": power_source,
    }
    return RegionalFixing(
        date=day,
        region=region,
        value=margin,
        efficiency_j_per_th=float(efficiency_j_per_th),
        hashprice_usd_per_ph_day=hashprice.value,
        power_price_usd_per_kwh=price_usd_per_kwh,
        power_cost_usd_per_ph_day=cost,
        methodology_version=REGIONAL_METHODOLOGY_VERSION,
        inputs=inputs,
        inputs_sha256=inputs_digest(inputs),
    )


def regional_fixings(
    history: NetworkHistory,
    prices: PowerPrices,
    *,
    efficiency_j_per_th: float = REFERENCE_EFFICIENCY_J_PER_TH,
    regions: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[RegionalFixing]:
    """Fixings for every day and region that has both a power price and a published USD
    hashprice fixing, by date then region. Days with a power price and no hashprice fixing
    (beyond the network data) are left out, as the hashprice index leaves out its own."""
    check_efficiency(efficiency_j_per_th)
    chosen = list(regions) if regions else list(prices.regions)
    series = {region: prices.series(region) for region in chosen}
    days = sorted({d for s in series.values() for d in s})
    if start is not None:
        days = [d for d in days if d >= start]
    if end is not None:
        days = [d for d in days if d <= end]
    if not days:
        raise DataError("regional_no_days", region=", ".join(chosen), path=prices.path)
    first = max(days[0], history.first_date)
    last = min(days[-1], history.last_date)
    if first > last:
        return []
    hashprice = {f.date: f for f in fixings(history.between(first, last), currency="usd")}
    out: list[RegionalFixing] = []
    for day in days:
        published = hashprice.get(day)
        if published is None:
            continue
        for region in chosen:
            price = series[region].get(day)
            if price is None:
                continue
            source = {
                "file_sha256": prices.sha256,
                "line": prices.lines[region][day],
            }
            out.append(
                regional_fixing(
                    day=day,
                    region=region,
                    hashprice=published,
                    price_usd_per_kwh=price,
                    efficiency_j_per_th=efficiency_j_per_th,
                    power_source=source,
                )
            )
    return out
