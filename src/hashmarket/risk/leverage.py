"""Leveraged BTC exposure from 1.1× to 3× ("Triple"): liquidation price, funding, P&L.

A holder puts up ``equity_usd``; the platform lends ``(L − 1) · equity`` USD and buys
``Q = L · equity / S₀`` BTC, held as collateral. The debt accrues the funding rate (simple,
ACT/365). The position is liquidated on the first day its equity falls to the maintenance
margin of its value::

    Q S − D_t ≤ m · Q S   ⇔   S ≤ S_liq(t) = D_t / (Q (1 − m)),   D_t = D₀ (1 + r t / 365)

so ``S_liq(0) = S₀ (L − 1) / (L (1 − m))``: 3× with m = 5 % liquidates after a 29.8 % fall.
At liquidation the BTC is sold at that day's close less a fee; the holder keeps what is left
after the debt (never less than 0: a shortfall is the platform's loss, reported apart).
Leverage outside [1.1, 3] is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.errors import RiskError
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
MIN_LEVERAGE = 1.1
MAX_LEVERAGE = 3.0


@dataclass(frozen=True)
class LeveragedBtc:
    """A leveraged long BTC position's terms (see the module docstring)."""

    name: str
    equity_usd: float
    leverage: float
    funding_rate_per_year: float = 0.10
    maintenance_margin: float = 0.05
    liquidation_fee: float = 0.01

    def __post_init__(self) -> None:
        if not (math.isfinite(self.leverage) and MIN_LEVERAGE <= self.leverage <= MAX_LEVERAGE):
            raise RiskError(
                "leverage_out_of_range",
                field="leverage",
                value=self.leverage,
                low=MIN_LEVERAGE,
                high=MAX_LEVERAGE,
            )
        if not (self.equity_usd > 0 and math.isfinite(self.equity_usd)):
            raise RiskError(
                "risk_field", field="equity_usd", problem=f"{self.equity_usd} must be positive"
            )
        if not (math.isfinite(self.funding_rate_per_year) and self.funding_rate_per_year >= 0):
            raise RiskError(
                "risk_field", field="funding_rate_per_year", problem="must not be negative"
            )
        for name in ("maintenance_margin", "liquidation_fee"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise RiskError("risk_field", field=name, problem=f"{value} must be in [0, 1)")

    @property
    def debt_usd(self) -> float:
        return (self.leverage - 1.0) * self.equity_usd

    def btc_quantity(self, *, spot_usd: float) -> float:
        return self.leverage * self.equity_usd / spot_usd

    def debt_after(self, days: npt.ArrayLike) -> FloatArray:
        """Debt with funding accrued for ``days``."""
        t = np.asarray(days, dtype=np.float64)
        return np.asarray(
            self.debt_usd * (1.0 + self.funding_rate_per_year * t / DAYS_PER_YEAR_ACT365),
            dtype=np.float64,
        )

    def funding_cost_usd(self, days: float) -> float:
        return self.debt_usd * self.funding_rate_per_year * days / DAYS_PER_YEAR_ACT365

    def liquidation_price_usd(self, *, spot_usd: float, days: npt.ArrayLike = 0.0) -> FloatArray:
        """BTC/USD at or below which the position is liquidated after ``days``."""
        quantity = self.btc_quantity(spot_usd=spot_usd)
        return np.asarray(
            self.debt_after(days) / (quantity * (1.0 - self.maintenance_margin)),
            dtype=np.float64,
        )


@dataclass(frozen=True)
class LeverageOutcome:
    """The position over price paths ``[paths, days + 1]`` (column 0 the entry day)."""

    position: LeveragedBtc
    spot_usd: float
    days: int
    pnl_usd: FloatArray
    liquidated: npt.NDArray[np.bool_]
    liquidation_day: npt.NDArray[np.int64]
    platform_shortfall_usd: FloatArray

    def summary(self) -> dict[str, Any]:
        p = self.position
        pnl = self.pnl_usd
        return {
            "name": p.name,
            "leverage": p.leverage,
            "equity_usd": p.equity_usd,
            "btc_quantity": p.btc_quantity(spot_usd=self.spot_usd),
            "debt_usd": p.debt_usd,
            "spot_usd": self.spot_usd,
            "liquidation_price_usd_now": float(p.liquidation_price_usd(spot_usd=self.spot_usd)),
            "liquidation_price_usd_at_horizon": float(
                p.liquidation_price_usd(spot_usd=self.spot_usd, days=self.days)
            ),
            "funding_cost_usd": p.funding_cost_usd(self.days),
            "horizon_days": self.days,
            "n_paths": len(pnl),
            "probability_liquidation": float(self.liquidated.mean()),
            "expected_pnl_usd": float(pnl.mean()),
            "pnl_p5_usd": float(np.quantile(pnl, 0.05)),
            "pnl_p50_usd": float(np.quantile(pnl, 0.50)),
            "pnl_p95_usd": float(np.quantile(pnl, 0.95)),
            "expected_platform_shortfall_usd": float(self.platform_shortfall_usd.mean()),
        }


def simulate_leverage(position: LeveragedBtc, *, price_usd: FloatArray) -> LeverageOutcome:
    """Run the position over daily closes ``price_usd [paths, days + 1]``."""
    prices = np.atleast_2d(np.asarray(price_usd, dtype=np.float64))
    n, columns = prices.shape
    days = columns - 1
    if days < 1:
        raise RiskError("risk_option", name="horizon", problem="needs at least one day")
    spot = float(prices[0, 0])
    quantity = position.btc_quantity(spot_usd=spot)
    t = np.arange(columns, dtype=np.float64)
    debt = position.debt_after(t)
    barrier = position.liquidation_price_usd(spot_usd=spot, days=t)
    hit = prices[:, 1:] <= barrier[None, 1:]
    liquidated = np.asarray(hit.any(axis=1), dtype=bool)
    day = np.where(liquidated, np.argmax(hit, axis=1) + 1, -1).astype(np.int64)
    rows = np.arange(n)
    end = np.where(liquidated, day, days)
    close = prices[rows, end]
    gross = quantity * close * np.where(liquidated, 1.0 - position.liquidation_fee, 1.0)
    equity = gross - debt[end]
    shortfall = np.maximum(-equity, 0.0)
    pnl = np.maximum(equity, 0.0) - position.equity_usd
    return LeverageOutcome(
        position=position,
        spot_usd=spot,
        days=days,
        pnl_usd=np.asarray(pnl, dtype=np.float64),
        liquidated=liquidated,
        liquidation_day=day,
        platform_shortfall_usd=np.asarray(shortfall, dtype=np.float64),
    )
