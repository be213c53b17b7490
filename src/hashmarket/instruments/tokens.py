"""Hashrate tokens: a token backed by X TH/s pays its day's net mining reward, in whole sats.

One rule, used both to price a token and to pay it (the ledger's daily distribution calls
:meth:`TokenTerms.daily_amounts`), for a hashrate of ``hashrate_ths`` TH/s on day D::

    gross_sats      = hashprice BTC/PH/day × hashrate_ths ÷ 1000 × uptime × 1e8
    electricity_usd = W/TH × hashrate_ths × $/kWh × 24 ÷ 1000
    service_fee_usd = $/TH/day × hashrate_ths
    cost_sats       = (electricity_usd + service_fee_usd) × (1 − maintenance_discount)
                      ÷ BTC price × 1e8
    pool_sats       = floor(gross − cost) when positive, else 0

Electricity is charged on the whole day whatever the uptime: the reserved power is paid
whether or not the machines hash. A day whose costs exceed its reward pays nothing (the
holder never owes); the excess is the day's shortfall. ``maintenance_discount`` (a fraction
of both fees waived, GoMining's discount) is 0 unless the terms say otherwise, which is what
the ledger pays today.

The arithmetic is Decimal (a fixed 50-digit context, :data:`hashmarket.money.DECIMAL`) on
the day's fixings read exactly, and the pool is rounded down through :mod:`hashmarket.money`.
:meth:`HashrateToken.cashflows` on one path (a realized history, or published fixings) runs
exactly that; on many simulated paths it runs the same formula on float arrays, since
Decimal per path-day would make Monte Carlo pricing slow, and floors each day to whole sats.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from hashmarket.errors import SpecError
from hashmarket.instruments.fixings import Fixings
from hashmarket.instruments.terms import (
    FloatArray,
    SettlementCurrency,
    require_date,
    require_order,
    set_field,
)
from hashmarket.money import DECIMAL, Rounding, exact, round_minor
from hashmarket.units import HOURS_PER_DAY, SATS_PER_BTC, TH_PER_PH, WATTS_PER_KILOWATT

# The holder is never paid more than the fleet earned: the pool is the net rounded down.
POOL_ROUNDING = Rounding.DOWN


@dataclass(frozen=True, slots=True)
class DailyAmounts:
    """One day's economics for a hashrate, exact (Decimal) except the integer pool."""

    hashrate_ths: Decimal
    gross_sats: Decimal
    electricity_usd: Decimal
    service_fee_usd: Decimal
    cost_sats: Decimal
    pool_sats: int
    dust_sats: Decimal
    shortfall_sats: Decimal


def _gross_and_costs(
    *,
    hashrate_ths: Any,
    hashprice_btc_per_ph_day: Any,
    price_usd: Any,
    uptime: Any,
    efficiency_w_per_th: Any,
    power_price_usd_per_kwh: Any,
    service_fee_usd_per_th_day: Any,
    maintenance_discount: Any,
) -> tuple[Any, Any, Any, Any]:
    """``(gross_sats, electricity_usd, service_fee_usd, cost_sats)``: the formula, written
    once for Decimal scalars (under :data:`DECIMAL`) and float arrays alike."""
    gross = hashprice_btc_per_ph_day * (hashrate_ths / TH_PER_PH) * uptime * SATS_PER_BTC
    kwh = efficiency_w_per_th * hashrate_ths * HOURS_PER_DAY / WATTS_PER_KILOWATT
    electricity_usd = kwh * power_price_usd_per_kwh
    fee_usd = service_fee_usd_per_th_day * hashrate_ths
    costs_usd = electricity_usd + fee_usd
    if maintenance_discount:
        costs_usd = costs_usd * (1 - maintenance_discount)
    return gross, electricity_usd, fee_usd, costs_usd / price_usd * SATS_PER_BTC


@dataclass(frozen=True, kw_only=True)
class TokenTerms:
    """What a token is backed by and what its fleet costs: the one set of field names the
    instrument spec (``hashrate_token``) and the ledger's token series share."""

    ths_per_token: Decimal
    efficiency_w_per_th: Decimal
    power_price_usd_per_kwh: Decimal
    service_fee_usd_per_th_day: Decimal = Decimal(0)
    maintenance_discount: Decimal = Decimal(0)

    @property
    def terms(self) -> TokenTerms:
        """These terms alone (of a token spec or a ledger series)."""
        return TokenTerms(**{f.name: getattr(self, f.name) for f in fields(TokenTerms)})

    def daily_amounts(
        self,
        *,
        hashrate_ths: Decimal,
        hashprice_btc_per_ph_day: Decimal,
        price_usd: Decimal,
        uptime: Decimal,
        rounding: Rounding = POOL_ROUNDING,
    ) -> DailyAmounts:
        """The day's pool, in whole sats, for ``hashrate_ths`` TH/s of these terms (see the
        module docstring); ``rounding`` turns the exact net into the pool."""
        with decimal.localcontext(DECIMAL):
            gross, electricity_usd, fee_usd, cost = _gross_and_costs(
                hashrate_ths=hashrate_ths,
                hashprice_btc_per_ph_day=hashprice_btc_per_ph_day,
                price_usd=price_usd,
                uptime=uptime,
                efficiency_w_per_th=self.efficiency_w_per_th,
                power_price_usd_per_kwh=self.power_price_usd_per_kwh,
                service_fee_usd_per_th_day=self.service_fee_usd_per_th_day,
                maintenance_discount=self.maintenance_discount,
            )
            net = gross - cost
            if net > 0:
                pool = round_minor(net, rounding)
                dust, shortfall = net - Decimal(pool), Decimal(0)
            else:
                pool, dust, shortfall = 0, Decimal(0), -net
        assert 0 <= dust < 1 and pool >= 0 and shortfall >= 0
        return DailyAmounts(
            hashrate_ths=hashrate_ths,
            gross_sats=gross,
            electricity_usd=electricity_usd,
            service_fee_usd=fee_usd,
            cost_sats=cost,
            pool_sats=pool,
            dust_sats=dust,
            shortfall_sats=shortfall,
        )


def _term(field: str, value: Any) -> Decimal:
    """A term as an exact Decimal (a float by its shortest digits: 0.05 is 5/100)."""
    try:
        return exact(value)
    except ValueError:
        raise SpecError("spec_bad_type", field=field, value=value, expected="a number") from None


@dataclass(frozen=True, kw_only=True)
class HashrateToken(TokenTerms):
    """A token of ``ths_per_token`` TH/s paying its day's pool (in BTC, whole sats) from
    ``start`` to ``end``; ``uptime`` is the fraction of each day it is expected to hash. Its
    value is the discounted sum of those pools."""

    type_name: ClassVar[str] = "hashrate_token"
    # Spec fields of earlier versions, with what to write instead.
    retired_fields: ClassVar[Mapping[str, str]] = {
        "hashrate_ths": "renamed 'ths_per_token'",
        "electricity_usd_per_kwh": "renamed 'power_price_usd_per_kwh'",
        "discount": "renamed 'maintenance_discount'",
        "pause_when_unprofitable": "removed: a day whose costs exceed its reward pays 0",
    }

    start: dt.date
    end: dt.date
    uptime: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        require_order(
            "end", require_date("end", self.end), "start", require_date("start", self.start)
        )
        bounds: dict[str, tuple[bool, Decimal | None]] = {  # (must be positive, at most)
            "ths_per_token": (True, None),
            "efficiency_w_per_th": (False, None),
            "power_price_usd_per_kwh": (False, None),
            "service_fee_usd_per_th_day": (False, None),
            "maintenance_discount": (False, Decimal(1)),
            "uptime": (False, Decimal(1)),
        }
        for name, (positive, at_most) in bounds.items():
            value = _term(name, getattr(self, name))
            if positive and value <= 0:
                raise SpecError("spec_not_positive", field=name, value=getattr(self, name))
            if value < 0:
                raise SpecError("spec_negative", field=name, value=getattr(self, name))
            if at_most is not None and value > at_most:
                raise SpecError(
                    "spec_out_of_range", field=name, value=getattr(self, name), bound="at most 1"
                )
            set_field(self, name, value)

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.BTC

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def pool_sats(
        self, *, hashprice_btc_per_ph_day: npt.ArrayLike, price_usd: npt.ArrayLike
    ) -> FloatArray:
        """The day's pool of one token in sats on float fixings (arrays broadcast): the
        formula of :meth:`daily_amounts` in floats, floored to whole sats, never negative."""
        gross, _, _, cost = _gross_and_costs(
            hashrate_ths=float(self.ths_per_token),
            hashprice_btc_per_ph_day=np.asarray(hashprice_btc_per_ph_day, dtype=np.float64),
            price_usd=np.asarray(price_usd, dtype=np.float64),
            uptime=float(self.uptime),
            efficiency_w_per_th=float(self.efficiency_w_per_th),
            power_price_usd_per_kwh=float(self.power_price_usd_per_kwh),
            service_fee_usd_per_th_day=float(self.service_fee_usd_per_th_day),
            maintenance_discount=float(self.maintenance_discount),
        )
        return np.asarray(np.floor(np.maximum(gross - cost, 0.0)), dtype=np.float64)

    def cashflows(self, fixings: Fixings) -> FloatArray:
        days = fixings.overlap(self.start, self.end)
        if days is None:
            return fixings.zeros()
        # Every day pays on its own fixings: the covered days pay, the others come later.
        cols, hp = fixings.window("hashprice_btc_per_ph_day", *days, instrument=self.type_name)
        _, price = fixings.window("price_usd", *days, instrument=self.type_name)
        if hp.shape[0] == 1 and price.shape[0] == 1:
            # One path (realized fixings): exactly what the ledger pays, in Decimal.
            sats = np.array(
                [
                    [
                        self.daily_amounts(
                            hashrate_ths=self.ths_per_token,
                            hashprice_btc_per_ph_day=exact(float(h)),
                            price_usd=exact(float(p)),
                            uptime=self.uptime,
                        ).pool_sats
                        for h, p in zip(hp[0], price[0], strict=True)
                    ]
                ],
                dtype=np.float64,
            )
        else:
            sats = self.pool_sats(hashprice_btc_per_ph_day=hp, price_usd=price)
        out = np.zeros((sats.shape[0], fixings.n_periods))
        out[:, cols] = sats / SATS_PER_BTC
        return out
