"""What every instrument shares: enums of terms, validation, and the ``Instrument`` protocol.

The ``amounts`` convention, for every instrument: ``cashflows(fixings)`` returns an array
``[paths, periods]`` aligned with ``fixings.dates``; ``amounts[p, t]`` is what the holder
(the buyer, the long, the note or token holder) receives at the end of day ``t`` on path
``p`` — negative when the holder pays — in ``instrument.currency`` (USD or BTC, in units, not
cents or sats). The counterparty receives the negative. Days the contract does not pay on are
zero.

Coverage: a payment whose day lies outside ``fixings.dates`` is simply not in the array (so
settlement can run day by day on the fixings published so far, and a contract's later
payments appear once their days are fixed). A payment whose day *is* covered needs every
fixing it depends on: if one is outside the fixings or missing (NaN), the instrument refuses
with a ``PricingError`` naming the field and the day rather than pay on a guess.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from hashmarket.errors import SpecError
from hashmarket.instruments.fixings import Fixings

FloatArray = npt.NDArray[np.float64]
E = TypeVar("E", bound=enum.Enum)


class SettlementCurrency(enum.StrEnum):
    USD = "usd"
    BTC = "btc"


class Side(enum.StrEnum):
    """The holder's side: ``buy`` receives the payoff, ``sell`` pays it."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> float:
        return 1.0 if self is Side.BUY else -1.0


class OptionType(enum.StrEnum):
    CALL = "call"
    PUT = "put"


class Underlying(enum.StrEnum):
    """What an option is written on, the fixing that gives its value, and its currency."""

    BTC_USD = "btc_usd"
    HASHPRICE_USD = "hashprice_usd"
    HASHPRICE_BTC = "hashprice_btc"

    @property
    def fixing(self) -> str:
        return {
            "btc_usd": "price_usd",
            "hashprice_usd": "hashprice_usd_per_ph_day",
            "hashprice_btc": "hashprice_btc_per_ph_day",
        }[self.value]

    @property
    def currency(self) -> SettlementCurrency:
        return (
            SettlementCurrency.BTC if self is Underlying.HASHPRICE_BTC else SettlementCurrency.USD
        )


class Instrument(Protocol):
    """Terms only; no market data, no model. See the module docstring for ``amounts``."""

    type_name: ClassVar[str]

    @property
    def currency(self) -> SettlementCurrency: ...

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        """First and last day whose fixings the payoff reads (``height`` is the chain tip at
        ``asof``; only contracts that mature at a block height use it)."""
        ...

    def cashflows(self, fixings: Fixings) -> FloatArray: ...


# ---- validation: every failure names the field and its value -------------------------------


def coerce_enum(cls: type[E], field: str, value: Any, *, error: str = "spec_unknown_choice") -> E:
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        known = ", ".join(repr(m.value) for m in cls)
        raise SpecError(error, field=field, value=value, known=known) from None


def coerce_currency(field: str, value: Any) -> SettlementCurrency:
    return coerce_enum(SettlementCurrency, field, value, error="spec_unknown_currency")


def require_number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError("spec_bad_type", field=field, value=value, expected="a finite number")
    return float(value)


def require_positive(field: str, value: Any) -> None:
    if require_number(field, value) <= 0:
        raise SpecError("spec_not_positive", field=field, value=value)


def require_non_negative(field: str, value: Any) -> None:
    if require_number(field, value) < 0:
        raise SpecError("spec_negative", field=field, value=value)


def require_at_most(field: str, value: Any, bound: float, text: str) -> None:
    if require_number(field, value) > bound:
        raise SpecError("spec_out_of_range", field=field, value=value, bound=text)


def require_date(field: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise SpecError("spec_bad_type", field=field, value=value, expected="a date (YYYY-MM-DD)")
    return value


def require_order(field: str, value: dt.date, other: str, other_value: dt.date) -> None:
    """``value`` (field ``field``) must not be before ``other_value`` (field ``other``)."""
    if value < other_value:
        raise SpecError(
            "spec_order",
            field=field,
            value=value.isoformat(),
            other=other,
            other_value=other_value.isoformat(),
        )


def require_int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise SpecError("spec_bad_type", field=field, value=value, expected="a whole number")
    return int(value)


def set_field(obj: object, name: str, value: Any) -> None:
    """Store a coerced value on a frozen dataclass during ``__post_init__``."""
    object.__setattr__(obj, name, value)


def daily_dates(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def month_periods(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Calendar-month periods covering ``start … end`` (the first and last may be partial)."""
    out = []
    cursor = start
    while cursor <= end:
        nxt = (cursor.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        period_end = min(end, nxt - dt.timedelta(days=1))
        out.append((cursor, period_end))
        cursor = nxt
    return out
