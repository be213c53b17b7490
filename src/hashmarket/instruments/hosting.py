"""Hosting (co-mining): a site runs a client's machines for a power price and a revenue share.

One day's statement (:meth:`Hosting.statement`), on the day's published fixings, by the
hashrate token's rule (:meth:`TokenTerms.daily_amounts`) for the fleet's TH/s::

    hashrate_ths     = machines × hashrate_ths_per_machine
    kwh              = efficiency J/TH × hashrate_ths × 24 ÷ 1000   (the reserved power: the
                       whole day, whatever the uptime, as the token rule charges it)
    mined_sats       = floor(hashprice BTC/PH/day × hashrate_ths ÷ 1000 × uptime × 1e8)
    site_share_sats  = floor(mined_sats × revenue_share)      (the site never takes more)
    client_sats      = mined_sats − site_share_sats           (the site pays it to the client)
    power_cents      = kwh × power_price_usd_per_kwh × 100, rounded half up
                                                              (the client pays it to the site)
    client_net_usd   = client_sats ÷ 1e8 × BTC price − power_cents ÷ 100

The client's cash flows (:meth:`Hosting.cashflows`, USD) are ``client_net_usd`` per day: the
statement itself on one path, the same formula in floats on simulated paths.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

import numpy as np

from hashmarket.errors import SpecError
from hashmarket.instruments.fixings import Fixings
from hashmarket.instruments.terms import (
    FloatArray,
    SettlementCurrency,
    require_date,
    require_int,
    require_order,
    set_field,
)
from hashmarket.instruments.tokens import TokenTerms
from hashmarket.money import DECIMAL, Rounding, exact, round_minor
from hashmarket.units import (
    CENTS_PER_USD,
    HOURS_PER_DAY,
    SATS_PER_BTC,
    TH_PER_PH,
    WATTS_PER_KILOWATT,
)

# The power bill is rounded to the nearest cent (half up), as a utility bill is.
POWER_ROUNDING = Rounding.HALF_UP


def set_decimal_terms(obj: object, bounds: dict[str, tuple[bool, bool]]) -> None:
    """Check and store numeric terms as exact Decimals; ``bounds`` maps each field to
    (must be positive, must be at most 1). Errors name the field and its value."""
    for name, (positive, at_most_one) in bounds.items():
        raw = getattr(obj, name)
        try:
            value = exact(raw)
        except ValueError:
            raise SpecError("spec_bad_type", field=name, value=raw, expected="a number") from None
        if value < 0 or (positive and value == 0):
            raise SpecError(
                "spec_not_positive" if positive else "spec_negative", field=name, value=raw
            )
        if at_most_one and value > 1:
            raise SpecError("spec_out_of_range", field=name, value=raw, bound="at most 1")
        set_field(obj, name, value)


@dataclass(frozen=True, slots=True)
class HostingStatement:
    """One day of a hosting agreement: exact figures, and the integers the ledger moves."""

    day: dt.date
    hashrate_ths: Decimal
    kwh: Decimal
    hashprice_btc_per_ph_day: Decimal
    price_usd: Decimal
    mined_sats: int
    site_share_sats: int
    client_sats: int
    power_cents: int
    site_power_cost_usd: Decimal | None

    @property
    def client_net_usd(self) -> Decimal:
        with decimal.localcontext(DECIMAL):
            return (
                self.client_sats * self.price_usd / SATS_PER_BTC
                - Decimal(self.power_cents) / CENTS_PER_USD
            )

    @property
    def site_margin_usd(self) -> Decimal | None:
        """Revenue share at the day's price plus the power charge less the site's own power
        cost (``None`` without that cost)."""
        if self.site_power_cost_usd is None:
            return None
        with decimal.localcontext(DECIMAL):
            share = self.site_share_sats * self.price_usd / SATS_PER_BTC
            return share + Decimal(self.power_cents) / CENTS_PER_USD - self.site_power_cost_usd

    def to_dict(self) -> dict[str, object]:
        return {
            "day": self.day.isoformat(),
            "hashrate_ths": self.hashrate_ths,
            "kwh": self.kwh,
            "hashprice_btc_per_ph_day": self.hashprice_btc_per_ph_day,
            "price_usd": self.price_usd,
            "mined_sats": self.mined_sats,
            "site_share_sats": self.site_share_sats,
            "client_sats": self.client_sats,
            "power_cents": self.power_cents,
            "client_net_usd": self.client_net_usd,
            "site_power_cost_usd": self.site_power_cost_usd,
            "site_margin_usd": self.site_margin_usd,
        }


@dataclass(frozen=True, slots=True)
class HostingPaths:
    """The daily statement's figures on many paths ``[paths, days]`` (floats)."""

    kwh: float  # per day
    price_usd: FloatArray
    mined_sats: FloatArray
    site_share_sats: FloatArray
    power_usd: float  # the day's bill, whole cents

    @property
    def client_sats(self) -> FloatArray:
        return self.mined_sats - self.site_share_sats

    @property
    def client_net_usd(self) -> FloatArray:
        return np.asarray(self.client_sats / SATS_PER_BTC * self.price_usd - self.power_usd)

    def site_margin_usd(self, site_power_cost_usd_per_kwh: float) -> FloatArray:
        share_usd = self.site_share_sats / SATS_PER_BTC * self.price_usd
        return np.asarray(share_usd + self.power_usd - self.kwh * site_power_cost_usd_per_kwh)


@dataclass(frozen=True, kw_only=True)
class Hosting:
    """A hosting agreement from ``start`` to ``end``, seen from the client."""

    type_name: ClassVar[str] = "hosting"

    start: dt.date
    end: dt.date
    machines: int
    hashrate_ths_per_machine: Decimal
    efficiency_j_per_th: Decimal
    power_price_usd_per_kwh: Decimal
    revenue_share: Decimal = Decimal(0)
    uptime: Decimal = Decimal(1)
    machine_model: str | None = None

    def __post_init__(self) -> None:
        require_order(
            "end", require_date("end", self.end), "start", require_date("start", self.start)
        )
        if require_int("machines", self.machines) < 1:
            raise SpecError("spec_not_positive", field="machines", value=self.machines)
        set_decimal_terms(
            self,
            {
                "hashrate_ths_per_machine": (True, False),
                "efficiency_j_per_th": (False, False),
                "power_price_usd_per_kwh": (False, False),
                "revenue_share": (False, True),
                "uptime": (False, True),
            },
        )

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    @property
    def hashrate_ths(self) -> Decimal:
        return self.hashrate_ths_per_machine * self.machines

    @property
    def terms(self) -> TokenTerms:
        """The fleet as token terms: gross output and the power bill by the token's rule."""
        return TokenTerms(
            ths_per_token=self.hashrate_ths,
            efficiency_w_per_th=self.efficiency_j_per_th,
            power_price_usd_per_kwh=self.power_price_usd_per_kwh,
        )

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def statement(
        self,
        day: dt.date,
        *,
        hashprice_btc_per_ph_day: Decimal,
        price_usd: Decimal,
        site_power_cost_usd_per_kwh: Decimal | None = None,
    ) -> HostingStatement:
        """Day ``day``'s statement on its fixings (see the module docstring)."""
        amounts = self.terms.daily_amounts(
            hashrate_ths=self.hashrate_ths,
            hashprice_btc_per_ph_day=hashprice_btc_per_ph_day,
            price_usd=price_usd,
            uptime=self.uptime,
        )
        with decimal.localcontext(DECIMAL):
            mined = round_minor(amounts.gross_sats, Rounding.DOWN)
            share = round_minor(mined * self.revenue_share, Rounding.DOWN)
            kwh = self.efficiency_j_per_th * self.hashrate_ths * HOURS_PER_DAY / WATTS_PER_KILOWATT
            cents = round_minor(amounts.electricity_usd * CENTS_PER_USD, POWER_ROUNDING)
            own = None if site_power_cost_usd_per_kwh is None else kwh * site_power_cost_usd_per_kwh
        return HostingStatement(
            day=day,
            hashrate_ths=self.hashrate_ths,
            kwh=kwh,
            hashprice_btc_per_ph_day=hashprice_btc_per_ph_day,
            price_usd=price_usd,
            mined_sats=mined,
            site_share_sats=share,
            client_sats=mined - share,
            power_cents=cents,
            site_power_cost_usd=own,
        )

    def statements(
        self, fixings: Fixings, *, site_power_cost_usd_per_kwh: Decimal | None = None
    ) -> list[HostingStatement]:
        """The statement of every contract day the (one-path) fixings cover."""
        days = fixings.overlap(self.start, self.end)
        if days is None:
            return []
        _, hp = fixings.window("hashprice_btc_per_ph_day", *days, instrument=self.type_name)
        _, price = fixings.window("price_usd", *days, instrument=self.type_name)
        return [
            self.statement(
                days[0] + dt.timedelta(days=i),
                hashprice_btc_per_ph_day=exact(float(h)),
                price_usd=exact(float(p)),
                site_power_cost_usd_per_kwh=site_power_cost_usd_per_kwh,
            )
            for i, (h, p) in enumerate(zip(hp[0], price[0], strict=True))
        ]

    def path_amounts(
        self, *, hashprice_btc_per_ph_day: FloatArray, price_usd: FloatArray
    ) -> HostingPaths:
        """The statement's figures on float fixings (arrays broadcast): the same formula,
        with sats floored and the power bill rounded half up to the cent."""
        ths, uptime = float(self.hashrate_ths), float(self.uptime)
        mined = np.floor(hashprice_btc_per_ph_day * ths / TH_PER_PH * uptime * SATS_PER_BTC)
        share = np.floor(mined * float(self.revenue_share))
        kwh = float(self.efficiency_j_per_th) * ths * HOURS_PER_DAY / WATTS_PER_KILOWATT
        cents = math.floor(kwh * float(self.power_price_usd_per_kwh) * CENTS_PER_USD + 0.5)
        return HostingPaths(
            kwh=kwh,
            price_usd=np.asarray(price_usd, dtype=np.float64),
            mined_sats=mined,
            site_share_sats=share,
            power_usd=cents / CENTS_PER_USD,
        )

    def cashflows(self, fixings: Fixings) -> FloatArray:
        """The client's net USD per day (the statement's ``client_net_usd``)."""
        days = fixings.overlap(self.start, self.end)
        if days is None:
            return fixings.zeros()
        cols, hp = fixings.window("hashprice_btc_per_ph_day", *days, instrument=self.type_name)
        _, price = fixings.window("price_usd", *days, instrument=self.type_name)
        if hp.shape[0] == 1 and price.shape[0] == 1:
            net = np.array([[float(s.client_net_usd) for s in self.statements(fixings)]])
        else:
            net = self.path_amounts(hashprice_btc_per_ph_day=hp, price_usd=price).client_net_usd
        out = np.zeros((net.shape[0], fixings.n_periods))
        out[:, cols] = net
        return out
