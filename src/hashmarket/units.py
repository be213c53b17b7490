"""Unit constants and conversions.

Every quantity that crosses a module boundary carries its unit in its name
(``hashrate_ths``, ``amount_sats``, ``hashprice_usd_per_ph_day``); this module is the one
place where the factors between those units live.
"""

from __future__ import annotations

import enum
from decimal import Decimal, InvalidOperation

SATS_PER_BTC = 100_000_000
SECONDS_PER_DAY = 86_400
HASHES_PER_TH = 10**12
HASHES_PER_PH = 10**15
HASHES_PER_EH = 10**18
TWO_POW_32 = 2**32
WATTS_PER_KILOWATT = 1_000
HOURS_PER_DAY = 24
TH_PER_PH = HASHES_PER_PH // HASHES_PER_TH  # 1,000
SECONDS_PER_MINUTE = 60
MINUTES_PER_HOUR = 60
SECONDS_PER_HOUR = 3_600
NS_PER_S = 1_000_000_000
NS_PER_MINUTE = SECONDS_PER_MINUTE * NS_PER_S
CENTS_PER_USD = 100

# Day counts, named by convention because a rate or a volatility means nothing without one.
# ACT/365 fixed: year fractions for interest, discounting, volatility and model time steps.
DAYS_PER_YEAR_ACT365 = 365.0
# The Julian year (leap days averaged in): the miner projection compounds its annual and
# monthly growth rates over calendar time with it, a month being a twelfth of it.
DAYS_PER_JULIAN_YEAR = 365.25
DAYS_PER_JULIAN_MONTH = DAYS_PER_JULIAN_YEAR / 12  # 30.4375, exact in binary
# Bitcoin's nominal block rate: 86,400 s a day at the 600 s target spacing.
BLOCKS_PER_DAY_TARGET = 144.0


class HashrateUnit(enum.StrEnum):
    """A unit of hashrate; its value is the lower-case name used on the command line."""

    TH = "th"
    PH = "ph"
    EH = "eh"

    @property
    def hashes_per_s(self) -> int:
        return {"th": HASHES_PER_TH, "ph": HASHES_PER_PH, "eh": HASHES_PER_EH}[self.value]

    def per_ph(self) -> float:
        """How many of this unit make one PH/s (a value per PH times this is per unit)."""
        return self.hashes_per_s / HASHES_PER_PH


class Currency(enum.StrEnum):
    BTC = "btc"
    SATS = "sats"
    USD = "usd"


def ths_to_phs(hashrate_ths: float) -> float:
    return hashrate_ths * HASHES_PER_TH / HASHES_PER_PH


def phs_to_ths(hashrate_phs: float) -> float:
    return hashrate_phs * HASHES_PER_PH / HASHES_PER_TH


def hs_to_ehs(hashrate_hs: float) -> float:
    return hashrate_hs / HASHES_PER_EH


def btc_to_sats_exact(amount_btc: str | Decimal | int) -> int:
    """Convert a BTC amount written in decimal to whole satoshis, refusing sub-satoshi amounts.

    Floats are refused on purpose: 0.1 BTC as a float is not 10,000,000 sats exactly.
    """
    if isinstance(amount_btc, float):
        raise TypeError("BTC amounts must be str, Decimal or int, not float")
    try:
        sats = Decimal(amount_btc) * SATS_PER_BTC
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal BTC amount: {amount_btc!r}") from exc
    if sats != sats.to_integral_value():
        raise ValueError(f"BTC amount {amount_btc!r} is not a whole number of satoshis")
    return int(sats)


def sats_to_btc(amount_sats: int) -> Decimal:
    return Decimal(amount_sats) / SATS_PER_BTC


def electricity_kwh_per_day(efficiency_w_per_th: float, hashrate_ths: float) -> float:
    """Energy a machine of the given efficiency uses in a day: W/TH × TH × 24 h / 1000."""
    return efficiency_w_per_th * hashrate_ths * HOURS_PER_DAY / WATTS_PER_KILOWATT
