"""Compute contracts as collateral: a running hashpower contract or the unused part of a GPU
block, marked from the exchange and the GPU-hour index, lent against with haircuts.

It lives with the exchange because the marks are the exchange's own (its book's mid, its
last trades); the haircut rule is the lending module's (:mod:`hashmarket.risk.credit`), which
sits to the exchange's left.

**A hashpower contract** is the right to the rest of its hashing, prepaid from its reserved
budget. Its holder gets back, at the end, whatever of the budget is not spent. So its value
at a mark price ``m`` (sats per PH/s per day) is

```text
remaining_ths_s = min(hashrate × seconds left, what the budget left buys at the contract price)
value_sats      = budget left − cost(remaining_ths_s at the contract price)
                              + worth(remaining_ths_s at m)
```

with cost and worth by the one hashpower money rule (:func:`hashmarket.money.hashpower_value_sats`,
rounded down). A contract bought below the market is worth more than its budget, one bought
above it less. Fees are left out: they are the exchange's, not the asset's. The mark is the
hashpower book's mid when both sides quote, else its last trade (:func:`hashpower_mark`).

**A GPU block** is paid in full at the trade; what is left of it is its GPU-hours not yet
begun, worth the GPU-hour index's fixing for its model (USD per GPU-hour, in cents) or, when
none is given, the exchange's last trade price for the model.

**Haircut**: the lending module's (:func:`hashmarket.risk.credit.ltv_levels`): ``1 − q·σ·√h −
liquidation cost``, with σ the daily volatility of what drives the mark — the hashprice index
for hashpower, the GPU-hour fixings of the model for GPU time
(:func:`gpu_index_volatility`). Lendable is the value times the initial LTV, rounded down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from hashmarket.errors import RiskError
from hashmarket.index import GpuFixing
from hashmarket.market.data import depth
from hashmarket.market.engine import MatchingEngine
from hashmarket.market.gpu import GpuTrade
from hashmarket.market.hashpower import HashpowerContract
from hashmarket.market.products import HASHPOWER
from hashmarket.money import THS_S_PER_PH_DAY, hashpower_value_sats
from hashmarket.risk import (
    HaircutPolicy,
    LtvLevels,
    VolatilityEstimate,
    ewma_volatility,
    ltv_levels,
)
from hashmarket.units import CENTS_PER_USD, NS_PER_S


@dataclass(frozen=True, slots=True)
class Mark:
    """A price to value a contract at, and where it came from."""

    price: int  # sats per PH/s per day (hashpower) or cents per GPU-hour (GPU)
    source: str  # "mid", "last trade", "GPU-hour index YYYY-MM-DD"


@dataclass(frozen=True, slots=True)
class CollateralValue:
    """A contract's value as collateral and what can be lent against it."""

    contract: str
    asset: str  # "BTC" (sats) or "USD" (cents)
    value_minor: int
    mark: Mark
    remaining: str  # what is left of the contract, for people
    levels: LtvLevels | None = None

    @property
    def lendable_minor(self) -> int:
        """Value × initial LTV, rounded down (never lend a fraction more)."""
        if self.levels is None:
            return 0
        exact = Decimal(self.value_minor) * Decimal(repr(self.levels.initial_ltv))
        return int(exact)

    def with_levels(self, levels: LtvLevels) -> CollateralValue:
        return CollateralValue(
            self.contract, self.asset, self.value_minor, self.mark, self.remaining, levels
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "asset": self.asset,
            "value_minor": self.value_minor,
            "mark_price": self.mark.price,
            "mark_source": self.mark.source,
            "remaining": self.remaining,
            "lendable_minor": self.lendable_minor,
            "levels": None if self.levels is None else self.levels.to_dict(),
        }


def _refuse(problem: str) -> RiskError:
    return RiskError("risk_option", name="collateral", problem=problem)


def hashpower_mark(engine: MatchingEngine) -> Mark:
    """The hashpower book's mid (rounded down to a sat) if both sides quote, else the last
    hashpower trade's price."""
    book = depth(engine, market=HASHPOWER, levels=1)
    if book.bids and book.asks:
        return Mark((book.bids[0][0] + book.asks[0][0]) // 2, "mid")
    for trade in reversed(engine.trades):
        if trade.market == HASHPOWER:
            return Mark(trade.price, "last trade")
    raise _refuse("the hashpower book has no quotes on both sides and no trade to mark from")


def hashpower_contract_value(
    contract: HashpowerContract, *, mark: Mark, now_ns: int
) -> CollateralValue:
    """A running contract's value to its holder at ``mark`` (module docstring)."""
    seconds_left = max(0, contract.end_ns - max(now_ns, contract.start_ns)) // NS_PER_S
    budget_left = contract.budget_sats - contract.spent_sats
    buys_ths_s = budget_left * THS_S_PER_PH_DAY // contract.price
    remaining = min(contract.hashrate_ths * seconds_left, buys_ths_s)
    cost = hashpower_value_sats(contract.price, remaining)
    worth = hashpower_value_sats(mark.price, remaining)
    return CollateralValue(
        contract=f"hashpower contract {contract.contract_id}",
        asset="BTC",
        value_minor=budget_left - cost + worth,
        mark=mark,
        remaining=f"{remaining:,} TH·s over {seconds_left:,} s, {budget_left:,} sats of budget",
    )


def gpu_mark(
    model: str,
    *,
    fixings: Sequence[GpuFixing] = (),
    engine: MatchingEngine | None = None,
    asof: dt.date | None = None,
) -> Mark:
    """The model's latest GPU-hour index fixing on or before ``asof`` (in cents, rounded
    down), else the exchange's last trade price for the model."""
    known = [f for f in fixings if f.gpu_model == model and (asof is None or f.period_end <= asof)]
    if known:
        latest = max(known, key=lambda f: f.period_end)
        cents = int(latest.value * CENTS_PER_USD)
        return Mark(cents, f"GPU-hour index {latest.period_end.isoformat()}")
    if engine is not None:
        for trade in reversed(engine.gpu.trades):
            if trade.model == model:
                return Mark(trade.price, "last trade")
    raise _refuse(f"no GPU-hour fixing and no exchange trade to mark {model!r} from")


def gpu_block_value(
    trade: GpuTrade, *, mark: Mark, now_s: int, gpus: int | None = None
) -> CollateralValue:
    """The unused part of a GPU block bought in ``trade`` (or ``gpus`` of its GPUs): the whole
    hours of its window not begun at ``now_s``, at ``mark`` cents per GPU-hour."""
    held = trade.gpus if gpus is None else gpus
    if not 0 < held <= trade.gpus:
        raise _refuse(f"{held} GPUs of a block of {trade.gpus}")
    begun = max(now_s, trade.start_s)
    hours_left = max(0, trade.end_s - begun) // 3_600
    return CollateralValue(
        contract=f"GPU block of trade {trade.trade_id} ({trade.model})",
        asset="USD",
        value_minor=held * hours_left * mark.price,
        mark=mark,
        remaining=f"{held} GPUs × {hours_left} h",
    )


def gpu_index_volatility(
    fixings: Sequence[GpuFixing],
    *,
    model: str,
    asof: dt.date,
    policy: HaircutPolicy,
    term: str = "reserved",
) -> VolatilityEstimate:
    """EWMA σ of the daily GPU-hour fixings of ``model`` (the lending module's estimator)."""
    rows = {
        f.period_start: float(f.value) for f in fixings if f.gpu_model == model and f.term == term
    }
    series = pd.Series(rows, dtype="float64").sort_index()
    series.index = pd.to_datetime(series.index)
    return ewma_volatility(
        series,
        asof=asof,
        window_days=policy.window_days,
        ewma_lambda=policy.ewma_lambda,
        series=f"GPU-hour index, {model}, USD per GPU-hour",
    )


def with_haircut(
    value: CollateralValue, *, sigma_daily: float, policy: HaircutPolicy | None = None
) -> CollateralValue:
    """``value`` with the LTV levels of the lending module for a mark of volatility σ."""
    return value.with_levels(ltv_levels(sigma_daily=sigma_daily, policy=policy))
