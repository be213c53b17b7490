"""Daily fixings: the published index values that settlements use, with proof of their inputs.

A fixing states its value at the contract tick (Luxor's NDF ticks: 0.00000001 BTC and
$0.01 per PH/s per day), the methodology version, and a SHA-256 of the exact inputs it was
computed from, so a settlement can show which numbers it used and anyone can recompute them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from hashmarket.errors import DataError
from hashmarket.index.hashprice import Method, hashprice_table

if TYPE_CHECKING:
    from hashmarket.chain import NetworkHistory

METHODOLOGY_VERSION = "1.0"
TICK = {"btc": Decimal("0.00000001"), "usd": Decimal("0.01")}
INPUT_FIELDS = ("difficulty", "block_count", "subsidy_btc", "fees_btc", "price_usd")


@dataclass(frozen=True, slots=True)
class Fixing:
    """One published value of the hashprice index for one UTC day."""

    date: dt.date
    value: Decimal
    unit: str  # "PH/s/day"
    currency: str  # "btc" or "usd"
    method: str
    methodology_version: str
    fees_included: bool
    inputs: dict[str, Any]
    inputs_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "value": str(self.value),
            "unit": self.unit,
            "currency": self.currency,
            "method": self.method,
            "methodology_version": self.methodology_version,
            "fees_included": self.fees_included,
            "inputs": self.inputs,
            "inputs_sha256": self.inputs_sha256,
        }


def inputs_digest(inputs: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a fixing's inputs (sorted keys, ``repr`` floats)."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _input_value(value: float) -> float | int | None:
    if math.isnan(value):
        return None
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def fixings(
    history: NetworkHistory,
    *,
    currency: str = "usd",
    method: Method = Method.FPPS,
) -> list[Fixing]:
    """Fixings for every day of ``history`` on which the index has a value in ``currency``."""
    table = hashprice_table(history, method=method)
    column = f"hashprice_{currency}_per_ph_day"
    provenance = history.provenance
    out: list[Fixing] = []
    for date, row in table.iterrows():
        value = row[column]
        if math.isnan(value):
            continue
        inputs: dict[str, Any] = {"date": date.date().isoformat(), "method": method.value}
        for name in INPUT_FIELDS:
            if name == "price_usd" and currency != "usd":
                continue
            inputs[name] = _input_value(history.frame.at[date, name])
            inputs[f"{name}_source"] = provenance.at[date, name]
        out.append(
            Fixing(
                date=date.date(),
                value=Decimal(repr(value)).quantize(TICK[currency], rounding=ROUND_HALF_EVEN),
                unit="PH/s/day",
                currency=currency,
                method=method.value,
                methodology_version=METHODOLOGY_VERSION,
                fees_included=bool(row["fees_included"]),
                inputs=inputs,
                inputs_sha256=inputs_digest(inputs),
            )
        )
    return out


def day_fixings(history: NetworkHistory, day: dt.date) -> tuple[Fixing, Fixing]:
    """The FPPS fixings of one day in BTC and in USD, as token payouts and settlements use
    them; refused when the day lacks a hashprice or a BTC price."""
    if not history.first_date <= day <= history.last_date:
        raise DataError("no_fixing", day=day, problem="the network history has no such day")
    one_day = history.between(day, day)
    btc = fixings(one_day, currency="btc")
    usd = fixings(one_day, currency="usd")
    if not btc or not usd:
        missing = "a hashprice" if not btc else "a BTC price"
        raise DataError("no_fixing", day=day, problem=f"the day lacks {missing}")
    return btc[0], usd[0]
