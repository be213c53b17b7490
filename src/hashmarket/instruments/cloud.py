"""Cloud hashrate: a buyer pays up front for X TH/s over a term and receives the daily output.

The day's net output is the hashrate token's rule (:meth:`TokenTerms.daily_amounts`, the one
rule by which a day's published hashprice becomes whole sats after costs), for
``hashrate_ths`` TH/s::

    gross_sats = hashprice BTC/PH/day × hashrate_ths ÷ 1000 × uptime × 1e8
    fee_usd    = fee_usd_per_th_day × hashrate_ths                     (maintenance and power)
               + efficiency_w_per_th × hashrate_ths × 24 ÷ 1000 × power_price_usd_per_kwh
    net_sats   = floor(gross_sats − fee_usd ÷ BTC price × 1e8), or 0 when not positive

The fee is either a flat USD per TH/s per day, or power from efficiency and a power price, or
both. A day whose output does not exceed its fee pays 0 (the buyer never owes).

**Shut-off**: after ``shutoff_days`` consecutive days that pay 0, the contract stops for good
at the end of the last of them; no later day pays, whatever the hashprice does next. This is
the clause cloud-mining contracts commonly state ("if the output stays below the maintenance
fee for N consecutive days the contract terminates"). Days before the first fixing the
payoff is given are not seen, so a contract's fixings should start at its first day (pricing
and the ledger both start there).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from hashmarket.errors import SpecError
from hashmarket.instruments.fixings import Fixings
from hashmarket.instruments.hosting import set_decimal_terms
from hashmarket.instruments.terms import (
    FloatArray,
    SettlementCurrency,
    require_date,
    require_int,
    require_order,
)
from hashmarket.instruments.tokens import HashrateToken
from hashmarket.units import HOURS_PER_DAY, SATS_PER_BTC, TH_PER_PH, WATTS_PER_KILOWATT

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, kw_only=True)
class CloudHashrate:
    """``hashrate_ths`` TH/s from ``start`` to ``end`` (both included), bought up front for
    ``price_usd`` or ``price_sats`` (exactly one); paid each day's net output in BTC."""

    type_name: ClassVar[str] = "cloud_hashrate"

    start: dt.date
    end: dt.date
    hashrate_ths: Decimal
    fee_usd_per_th_day: Decimal = Decimal(0)
    efficiency_w_per_th: Decimal = Decimal(0)
    power_price_usd_per_kwh: Decimal = Decimal(0)
    uptime: Decimal = Decimal(1)
    shutoff_days: int = 3
    price_usd: Decimal | None = None
    price_sats: int | None = None

    def __post_init__(self) -> None:
        require_order(
            "end", require_date("end", self.end), "start", require_date("start", self.start)
        )
        if (self.price_usd is None) == (self.price_sats is None):
            raise SpecError("spec_exclusive", field="price_usd", other="price_sats", value=None)
        if self.price_usd is not None:
            set_decimal_terms(self, {"price_usd": (False, False)})
        if self.price_sats is not None and require_int("price_sats", self.price_sats) < 0:
            raise SpecError("spec_negative", field="price_sats", value=self.price_sats)
        if require_int("shutoff_days", self.shutoff_days) < 1:
            raise SpecError("spec_not_positive", field="shutoff_days", value=self.shutoff_days)
        set_decimal_terms(
            self,
            {
                "hashrate_ths": (True, False),
                "fee_usd_per_th_day": (False, False),
                "efficiency_w_per_th": (False, False),
                "power_price_usd_per_kwh": (False, False),
                "uptime": (False, True),
            },
        )

    @property
    def token(self) -> HashrateToken:
        """The contract's hashrate as a token of ``hashrate_ths`` TH/s: its payoff is the
        day's net output (the one rule shared with hashrate tokens)."""
        return HashrateToken(
            ths_per_token=self.hashrate_ths,
            efficiency_w_per_th=self.efficiency_w_per_th,
            power_price_usd_per_kwh=self.power_price_usd_per_kwh,
            service_fee_usd_per_th_day=self.fee_usd_per_th_day,
            start=self.start,
            end=self.end,
            uptime=self.uptime,
        )

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.BTC

    @property
    def term_days(self) -> int:
        return (self.end - self.start).days + 1

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def cashflows(self, fixings: Fixings) -> FloatArray:
        """The buyer's daily output in BTC (whole sats), zero after the shut-off."""
        return cloud_life(self, fixings).output_btc


@dataclass(frozen=True)
class CloudLife:
    """A cloud contract on fixings: the output paid each day ``[paths, periods]`` in BTC and,
    per path, the column of the shut-off day (the last day of the run of ``shutoff_days``
    unpaid days), −1 where the contract was not shut off within the fixings."""

    output_btc: FloatArray
    shutoff_col: IntArray

    def shutoff_days_after_start(self, contract: CloudHashrate, fixings: Fixings) -> IntArray:
        """Per path, the shut-off day as days after ``contract.start`` (−1: none)."""
        offset = (fixings.first_date - contract.start).days
        return np.where(self.shutoff_col >= 0, self.shutoff_col + offset, -1).astype(np.int64)


def shutoff_columns(paid: npt.NDArray[np.bool_], run_days: int) -> IntArray:
    """Per row, the first column that ends a run of ``run_days`` consecutive unpaid columns
    (``paid`` False), or −1."""
    run = np.zeros(paid.shape[0], dtype=np.int64)
    found = np.full(paid.shape[0], -1, dtype=np.int64)
    for col in range(paid.shape[1]):
        run = np.where(paid[:, col], 0, run + 1)
        found = np.where((found < 0) & (run >= run_days), col, found)
    return found


def cloud_life(contract: CloudHashrate, fixings: Fixings) -> CloudLife:
    """The contract's daily outputs on ``fixings`` (the token's payoff) with the shut-off."""
    output = contract.token.cashflows(fixings)
    days = fixings.overlap(contract.start, contract.end)
    shut = np.full(output.shape[0], -1, dtype=np.int64)
    if days is None:
        return CloudLife(output, shut)
    lo, hi = fixings.index_of(days[0]), fixings.index_of(days[1])
    found = shutoff_columns(output[:, lo : hi + 1] > 0, contract.shutoff_days)
    shut = np.where(found >= 0, found + lo, -1).astype(np.int64)
    after = np.arange(output.shape[1])[None, :] > shut[:, None]
    output = np.where(after & (shut[:, None] >= 0), 0.0, output)
    return CloudLife(np.asarray(output, dtype=np.float64), shut)


def upfront_price_btc(contract: CloudHashrate, *, spot_usd: float) -> float:
    """The up-front price in BTC: ``price_sats`` ÷ 1e8, or ``price_usd`` at ``spot_usd``."""
    if contract.price_sats is not None:
        return contract.price_sats / SATS_PER_BTC
    assert contract.price_usd is not None
    return float(contract.price_usd) / spot_usd


def flat_breakeven_hashprice_btc_per_ph_day(contract: CloudHashrate, *, price_usd: float) -> float:
    """The constant BTC hashprice at which the term's net outputs repay the up-front price
    (BTC/USD fixed at ``price_usd``, no shut-off, sats not floored): the hashprice h with
    ``term_days × (h × TH/s ÷ 1000 × uptime − fee_usd ÷ price_usd) = price in BTC``."""
    ths = float(contract.hashrate_ths)
    kwh = float(contract.efficiency_w_per_th) * ths * HOURS_PER_DAY / WATTS_PER_KILOWATT
    fee_usd = float(contract.fee_usd_per_th_day) * ths + kwh * float(
        contract.power_price_usd_per_kwh
    )
    per_day_btc = upfront_price_btc(contract, spot_usd=price_usd) / contract.term_days
    return (per_day_btc + fee_usd / price_usd) / (ths / TH_PER_PH * float(contract.uptime))
