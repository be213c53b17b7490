"""Options on BTC/USD and on the hashprice index: European, Asian (average) and collars.

``quantity`` is in units of the underlying: BTC for ``btc_usd``, PH/s·days for the hashprice
underlyings (a month of 10 PH/s is 300). Payoffs are in the underlying's currency (USD for
``btc_usd`` and ``hashprice_usd``, BTC for ``hashprice_btc``) and paid on the last fixing day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hashmarket.errors import SpecError
from hashmarket.instruments.fixings import Fixings
from hashmarket.instruments.terms import (
    FloatArray,
    OptionType,
    SettlementCurrency,
    Side,
    Underlying,
    coerce_enum,
    require_date,
    require_non_negative,
    require_order,
    require_positive,
    set_field,
)


def vanilla_payoff(
    underlying_value: FloatArray, strike: float, option_type: OptionType
) -> FloatArray:
    """max(S − K, 0) for a call, max(K − S, 0) for a put."""
    if option_type is OptionType.CALL:
        return np.maximum(underlying_value - strike, 0.0)
    return np.maximum(strike - underlying_value, 0.0)


@dataclass(frozen=True)
class EuropeanOption:
    """Pays ``quantity × max(±(S − strike), 0)`` on ``expiry``, S the fixing that day."""

    type_name: ClassVar[str] = "european_option"

    underlying: Underlying
    option_type: OptionType
    strike: float
    expiry: dt.date
    quantity: float
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        set_field(self, "underlying", coerce_enum(Underlying, "underlying", self.underlying))
        set_field(self, "option_type", coerce_enum(OptionType, "option_type", self.option_type))
        require_non_negative("strike", self.strike)
        require_date("expiry", self.expiry)
        require_positive("quantity", self.quantity)
        set_field(self, "side", coerce_enum(Side, "side", self.side))

    @property
    def currency(self) -> SettlementCurrency:
        return self.underlying.currency

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.expiry, self.expiry

    def cashflows(self, fixings: Fixings) -> FloatArray:
        out = fixings.zeros()
        if not fixings.covers(self.expiry):
            return out
        cols, s = fixings.window(
            self.underlying.fixing, self.expiry, self.expiry, instrument=self.type_name
        )
        payoff = vanilla_payoff(s[:, 0], self.strike, self.option_type)
        out[:, cols.start] = self.side.sign * self.quantity * payoff
        return out


@dataclass(frozen=True)
class AsianOption:
    """Pays ``quantity × max(±(A − strike), 0)`` on ``averaging_end``, A the arithmetic mean of
    the daily fixings from ``averaging_start`` to ``averaging_end`` (a month, typically).
    With one fixing day it is the European option on that day."""

    type_name: ClassVar[str] = "asian_option"

    underlying: Underlying
    option_type: OptionType
    strike: float
    averaging_start: dt.date
    averaging_end: dt.date
    quantity: float
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        set_field(self, "underlying", coerce_enum(Underlying, "underlying", self.underlying))
        set_field(self, "option_type", coerce_enum(OptionType, "option_type", self.option_type))
        require_non_negative("strike", self.strike)
        start = require_date("averaging_start", self.averaging_start)
        require_order(
            "averaging_end",
            require_date("averaging_end", self.averaging_end),
            "averaging_start",
            start,
        )
        require_positive("quantity", self.quantity)
        set_field(self, "side", coerce_enum(Side, "side", self.side))

    @property
    def currency(self) -> SettlementCurrency:
        return self.underlying.currency

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.averaging_start, self.averaging_end

    def cashflows(self, fixings: Fixings) -> FloatArray:
        if not fixings.covers(self.averaging_end):
            return fixings.zeros()  # pays on the last averaging day
        cols, s = fixings.window(
            self.underlying.fixing,
            self.averaging_start,
            self.averaging_end,
            instrument=self.type_name,
        )
        out = fixings.zeros()
        payoff = vanilla_payoff(s.mean(axis=1), self.strike, self.option_type)
        out[:, cols.stop - 1] = self.side.sign * self.quantity * payoff
        return out


@dataclass(frozen=True)
class Collar:
    """A long put at ``put_strike`` and a short call at ``call_strike`` on the same average
    (``averaging_start == averaging_end`` makes both European): a floor paid for by a cap.
    ``side = sell`` is the reverse (short put, long call)."""

    type_name: ClassVar[str] = "collar"

    underlying: Underlying
    put_strike: float
    call_strike: float
    averaging_start: dt.date
    averaging_end: dt.date
    quantity: float
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        set_field(self, "underlying", coerce_enum(Underlying, "underlying", self.underlying))
        require_non_negative("put_strike", self.put_strike)
        require_non_negative("call_strike", self.call_strike)
        if self.call_strike < self.put_strike:
            raise SpecError(
                "spec_out_of_range",
                field="call_strike",
                value=self.call_strike,
                bound=f"at least put_strike ({self.put_strike})",
            )
        start = require_date("averaging_start", self.averaging_start)
        require_order(
            "averaging_end",
            require_date("averaging_end", self.averaging_end),
            "averaging_start",
            start,
        )
        require_positive("quantity", self.quantity)
        set_field(self, "side", coerce_enum(Side, "side", self.side))

    @property
    def currency(self) -> SettlementCurrency:
        return self.underlying.currency

    def legs(self) -> tuple[AsianOption, AsianOption]:
        """The long put and the short call (for the holder's side)."""
        other = Side.SELL if self.side is Side.BUY else Side.BUY
        put = AsianOption(
            underlying=self.underlying,
            option_type=OptionType.PUT,
            strike=self.put_strike,
            averaging_start=self.averaging_start,
            averaging_end=self.averaging_end,
            quantity=self.quantity,
            side=self.side,
        )
        call = AsianOption(
            underlying=self.underlying,
            option_type=OptionType.CALL,
            strike=self.call_strike,
            averaging_start=self.averaging_start,
            averaging_end=self.averaging_end,
            quantity=self.quantity,
            side=other,
        )
        return put, call

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.averaging_start, self.averaging_end

    def cashflows(self, fixings: Fixings) -> FloatArray:
        if not fixings.covers(self.averaging_end):
            return fixings.zeros()  # pays on the last averaging day
        cols, s = fixings.window(
            self.underlying.fixing,
            self.averaging_start,
            self.averaging_end,
            instrument=self.type_name,
        )
        average = s.mean(axis=1)
        # The holder is paid below the floor and pays above the cap; between, nothing moves.
        payoff = np.maximum(self.put_strike - average, 0.0) - np.maximum(
            average - self.call_strike, 0.0
        )
        out = fixings.zeros()
        out[:, cols.stop - 1] = self.side.sign * self.quantity * payoff
        return out
