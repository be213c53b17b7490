"""Hashrate token economics: a token backed by X TH/s pays its daily net mining reward.

Daily net reward of a token of ``hashrate_ths`` TH/s, in BTC (GoMining's published rule,
with the maintenance discount applied to both fees)::

    FPPS reward  = hashrate_ths / 1000 × hashprice_btc_per_ph_day × uptime
    electricity  = W/TH × TH × $/kWh × 24 / 1000   (USD; ``units.electricity_kwh_per_day``)
    service fee  = service_fee_usd_per_th_day × TH   (USD)
    net (BTC)    = FPPS reward − (electricity + service fee) × (1 − discount) / BTC price

Electricity is charged on the whole day whatever the uptime, as the published formula does.
A day may be negative (fees above the reward): the holder then owes it, unless
``pause_when_unprofitable`` is set, in which case the machine is off that day and the net is 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from hashmarket.instruments.fixings import Fixings
from hashmarket.instruments.terms import (
    FloatArray,
    SettlementCurrency,
    require_at_most,
    require_date,
    require_non_negative,
    require_order,
    require_positive,
)
from hashmarket.units import electricity_kwh_per_day, ths_to_phs


def daily_net_reward_btc(
    *,
    hashrate_ths: float,
    hashprice_btc_per_ph_day: npt.ArrayLike,
    price_usd: npt.ArrayLike,
    efficiency_w_per_th: float,
    electricity_usd_per_kwh: float,
    uptime: float = 1.0,
    service_fee_usd_per_th_day: float = 0.0,
    discount: float = 0.0,
) -> FloatArray:
    """Net BTC a token of ``hashrate_ths`` earns on each day (arrays broadcast)."""
    reward_btc = ths_to_phs(hashrate_ths) * np.asarray(hashprice_btc_per_ph_day, float) * uptime
    electricity_usd = (
        electricity_kwh_per_day(efficiency_w_per_th, hashrate_ths) * electricity_usd_per_kwh
    )
    service_usd = service_fee_usd_per_th_day * hashrate_ths
    fees_btc = (electricity_usd + service_usd) * (1.0 - discount) / np.asarray(price_usd, float)
    return np.asarray(reward_btc - fees_btc, dtype=np.float64)


@dataclass(frozen=True)
class HashrateToken:
    """A token of ``hashrate_ths`` TH/s paying its daily net reward (BTC) from ``start`` to
    ``end``; its value is the discounted sum of those rewards."""

    type_name: ClassVar[str] = "hashrate_token"

    hashrate_ths: float
    start: dt.date
    end: dt.date
    efficiency_w_per_th: float
    electricity_usd_per_kwh: float
    uptime: float = 1.0
    service_fee_usd_per_th_day: float = 0.0
    discount: float = 0.0
    pause_when_unprofitable: bool = False

    def __post_init__(self) -> None:
        require_positive("hashrate_ths", self.hashrate_ths)
        require_order(
            "end", require_date("end", self.end), "start", require_date("start", self.start)
        )
        require_non_negative("efficiency_w_per_th", self.efficiency_w_per_th)
        require_non_negative("electricity_usd_per_kwh", self.electricity_usd_per_kwh)
        require_non_negative("uptime", self.uptime)
        require_at_most("uptime", self.uptime, 1.0, "at most 1")
        require_non_negative("service_fee_usd_per_th_day", self.service_fee_usd_per_th_day)
        require_non_negative("discount", self.discount)
        require_at_most("discount", self.discount, 1.0, "at most 1")

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.BTC

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def cashflows(self, fixings: Fixings) -> FloatArray:
        days = fixings.overlap(self.start, self.end)
        if days is None:
            return fixings.zeros()
        # Every day pays on its own fixings: the covered days pay, the others come later.
        cols, hp = fixings.window("hashprice_btc_per_ph_day", *days, instrument=self.type_name)
        _, price = fixings.window("price_usd", *days, instrument=self.type_name)
        net = daily_net_reward_btc(
            hashrate_ths=self.hashrate_ths,
            hashprice_btc_per_ph_day=hp,
            price_usd=price,
            efficiency_w_per_th=self.efficiency_w_per_th,
            electricity_usd_per_kwh=self.electricity_usd_per_kwh,
            uptime=self.uptime,
            service_fee_usd_per_th_day=self.service_fee_usd_per_th_day,
            discount=self.discount,
        )
        if self.pause_when_unprofitable:
            net = np.maximum(net, 0.0)
        out = np.zeros((net.shape[0], fixings.n_periods))
        out[:, cols] = net
        return out
