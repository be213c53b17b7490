"""Named, reproducible stress scenarios and the P&L of every position under each.

A scenario is a deterministic path of daily factor changes applied to today's state (the same
construction as a historical scenario, ``historical.apply_changes``), held flat after its
horizon. A position's value at the horizon on a path is what it paid on days 1 … H plus what
the path still pays after H, discounted to H ("shock and hold"), or the pricing registry's
closed form at the day-H price where it has one (``pricing.revaluation.path``). The stress P&L of a
position is its value on the stressed path minus its value on the base path (no change: the
state held flat), so it isolates the shock.

The catalogue (:func:`standard_scenarios`):

* ``halving`` — the subsidy halves tomorrow; price, difficulty and fees unchanged; 30 days.
* ``difficulty_up_20pct_1m`` — difficulty +20 % in a month: two retargets of ×√1.2 on days
  14 and 28; 30 days.
* ``btc_down_50pct`` — BTC/USD −50 % overnight, held; over the risk horizon.
* ``fee_spike`` — fees per block ×10 for 7 days, then back; 14 days.
* ``replay_2021_hashrate_drop`` — the daily changes of 2021-05-13 … 2021-07-14 (China's
  mining ban: hashrate about −50 %, difficulty −28 % on 3 July, BTC about −35 %) replayed
  from today's state, block counts included; 63 days.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.chain import NetworkHistory
from hashmarket.errors import PricingError, RiskError
from hashmarket.instruments import Instrument
from hashmarket.models import NetworkModel
from hashmarket.pricing import Market
from hashmarket.pricing.revaluation import path_fixings, value_on_path
from hashmarket.risk.historical import HistoricalChunk, apply_changes, change_table
from hashmarket.risk.portfolio import Portfolio

FloatArray = npt.NDArray[np.float64]
REPLAY_2021 = (dt.date(2021, 5, 13), dt.date(2021, 7, 14))


@dataclass(frozen=True)
class StressScenario:
    """Daily changes over ``horizon_days`` (arrays of that length)."""

    name: str
    description: str
    horizon_days: int
    log_price: FloatArray
    log_difficulty: FloatArray
    log_fee: FloatArray
    log_subsidy: FloatArray
    blocks: FloatArray  # NaN: 144

    def __post_init__(self) -> None:
        for name in ("log_price", "log_difficulty", "log_fee", "log_subsidy", "blocks"):
            if len(getattr(self, name)) != self.horizon_days:
                raise ValueError(f"{name} must have one value per day of the horizon")

    @classmethod
    def shocks(
        cls,
        name: str,
        description: str,
        horizon_days: int,
        *,
        price: dict[int, float] | None = None,
        difficulty: dict[int, float] | None = None,
        fee: dict[int, float] | None = None,
        subsidy: dict[int, float] | None = None,
    ) -> StressScenario:
        """A scenario from multiplicative jumps on given days (1-based): ``{day: factor}``."""

        def logs(jumps: dict[int, float] | None) -> FloatArray:
            out = np.zeros(horizon_days)
            for day, factor in (jumps or {}).items():
                out[day - 1] += math.log(factor)
            return out

        return cls(
            name=name,
            description=description,
            horizon_days=horizon_days,
            log_price=logs(price),
            log_difficulty=logs(difficulty),
            log_fee=logs(fee),
            log_subsidy=logs(subsidy),
            blocks=np.full(horizon_days, math.nan),
        )

    def path(self, market: Market, last_day: int) -> HistoricalChunk:
        return apply_changes(
            market.state,
            log_price=self.log_price[None, :],
            log_difficulty=self.log_difficulty[None, :],
            log_fee=self.log_fee[None, :],
            blocks=self.blocks[None, :],
            log_subsidy=self.log_subsidy[None, :],
            last_day=last_day,
        )

    def base(self) -> StressScenario:
        """The same horizon with nothing moving."""
        zeros = np.zeros(self.horizon_days)
        return StressScenario(
            name="base",
            description="today's state held flat",
            horizon_days=self.horizon_days,
            log_price=zeros,
            log_difficulty=zeros,
            log_fee=zeros,
            log_subsidy=zeros,
            blocks=np.full(self.horizon_days, math.nan),
        )


def replay(
    history: NetworkHistory, *, name: str, description: str, start: dt.date, end: dt.date
) -> StressScenario:
    """The daily changes of ``start … end`` (inclusive) from the history."""
    table = change_table(history, asof=end, start=start, end=end)
    expected = (end - start).days + 1
    if len(table) != expected:
        raise RiskError(
            "risk_history",
            problem=f"{name}: {len(table)} of the {expected} days {start} to {end} have data",
        )
    return StressScenario(
        name=name,
        description=description,
        horizon_days=len(table),
        log_price=table.log_price,
        log_difficulty=table.log_difficulty,
        log_fee=table.log_fee,
        log_subsidy=np.zeros(len(table)),
        blocks=table.blocks,
    )


def standard_scenarios(
    history: NetworkHistory | None, *, horizon_days: int = 10
) -> tuple[StressScenario, ...]:
    """The named catalogue (module docstring); the replay needs the history."""
    out = [
        StressScenario.shocks(
            "halving",
            "subsidy halves tomorrow; price, difficulty and fees unchanged; 30 days",
            30,
            subsidy={1: 0.5},
        ),
        StressScenario.shocks(
            "difficulty_up_20pct_1m",
            "difficulty +20% in a month (x sqrt(1.2) at the retargets of days 14 and 28); 30 days",
            30,
            difficulty={14: math.sqrt(1.2), 28: math.sqrt(1.2)},
        ),
        StressScenario.shocks(
            "btc_down_50pct",
            f"BTC/USD -50% overnight, held; {horizon_days} days",
            horizon_days,
            price={1: 0.5},
        ),
        StressScenario.shocks(
            "fee_spike",
            "fees per block x10 for 7 days, then back; 14 days",
            14,
            fee={1: 10.0, 8: 0.1},
        ),
    ]
    if history is not None:
        start, end = REPLAY_2021
        out.append(
            replay(
                history,
                name="replay_2021_hashrate_drop",
                description=(
                    f"daily changes of {start} to {end} (China's mining ban) replayed from "
                    "today's state, block counts included"
                ),
                start=start,
                end=end,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class StressResult:
    """One scenario's P&L per position and in total (USD), with the factor moves."""

    scenario: StressScenario
    names: tuple[str, ...]
    pnl_usd: FloatArray
    factors: dict[str, float]

    @property
    def total_usd(self) -> float:
        return float(self.pnl_usd.sum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "description": self.scenario.description,
            "horizon_days": self.scenario.horizon_days,
            "factor_changes": self.factors,
            "total_pnl_usd": self.total_usd,
            "positions": [
                {"name": n, "pnl_usd": float(v)}
                for n, v in zip(self.names, self.pnl_usd, strict=True)
            ],
        }


def run_stress(
    portfolio: Portfolio,
    *,
    market: Market,
    model: NetworkModel,
    scenarios: Sequence[StressScenario],
) -> tuple[StressResult, ...]:
    """Every scenario's P&L for every position (module docstring)."""
    asof = market.asof
    windows = [
        p.instrument.fixing_window(asof=asof, height=market.state.height)[1]
        for p in portfolio.positions
        if p.instrument is not None
    ]
    furthest = max([0] + [(last - asof).days for last in windows])
    results = []
    for scenario in scenarios:
        h = scenario.horizon_days
        last_day = max(h, furthest)
        stressed = scenario.path(market, last_day)
        base = scenario.base().path(market, last_day)
        values = []
        for chunk in (stressed, base):
            fixings = path_fixings(chunk, past=market.past_fixings, asof=asof)
            row = []
            cache: dict[Instrument, float] = {}
            for position in portfolio.positions:
                if position.instrument is None:
                    row.append(position.quantity * float(chunk.data["price_usd"][0, h]))
                    continue
                key = position.instrument
                if key not in cache:
                    try:
                        cache[key] = value_on_path(
                            key, fixings=fixings, market=market, model=model, horizon_days=h
                        )
                    except PricingError as exc:
                        raise RiskError(
                            "risk_option",
                            name=f"stress {scenario.name}, position {position.name}",
                            problem=str(exc),
                        ) from None
                row.append(position.quantity * cache[key])
            values.append(np.array(row))
        factors = {
            name: float(stressed.data[name][0, h] / base.data[name][0, h] - 1.0)
            for name in (
                "price_usd",
                "difficulty",
                "hashrate_ths",
                "fee_btc_per_block",
                "subsidy_btc",
                "hashprice_usd_per_ph_day",
            )
        }
        results.append(
            StressResult(
                scenario=scenario,
                names=portfolio.names,
                pnl_usd=values[0] - values[1],
                factors=factors,
            )
        )
    return tuple(results)
