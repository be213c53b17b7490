"""The three bases of ``hashmarket miner payback``: the index history, the deterministic
projection and the stochastic network model. Each returns the fields it adds to the report."""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from hashmarket.cli.common import parse_date
from hashmarket.errors import UsageError
from hashmarket.operations import (
    Costs,
    Fleet,
    Projection,
    monthly_growth_from_log_rate,
    payback_on_path,
    payback_on_scenarios,
    project,
)

if TYPE_CHECKING:
    from hashmarket.chain import NetworkHistory
    from hashmarket.models import Calibration


class PaybackBasis(enum.StrEnum):
    PROJECTION = "projection"
    HISTORY = "history"
    SCENARIOS = "scenarios"


@dataclass(frozen=True)
class PaybackOutcome:
    """Report fields of one basis, the notes under the table and the daily path (CSV)."""

    record: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    path: pd.DataFrame | None = None


def capex_from_options(machine_price: float | None, capex: float | None, fleet: Fleet) -> float:
    if (machine_price is None) == (capex is None):
        raise UsageError(
            "bad_option",
            option="--capex-usd",
            problem="give exactly one of --capex-usd and --machine-price-usd",
        )
    value = capex if capex is not None else machine_price * fleet.machines  # type: ignore[operator]
    if not (math.isfinite(value) and value >= 0):
        raise UsageError("bad_option", option="--capex-usd", problem="must be >= 0")
    return float(value)


def _payback_fields(days: float | None, on: dt.date | None, horizon: int) -> dict[str, Any]:
    return {
        "horizon_days": horizon,
        "payback_days": None if days is None else int(days),
        "paid_back_on": None if on is None else on.isoformat(),
        "paid_back": days is not None,
    }


def payback_on_history(
    fleet: Fleet,
    costs: Costs,
    *,
    capex_usd: float,
    index: pd.Series,
    start: str | None,
    horizon: int,
    curtail: bool,
) -> PaybackOutcome:
    """Payback on the published index from ``start`` for at most ``horizon`` days."""
    lo = parse_date(start, "--start")
    if lo is None:
        raise UsageError("bad_option", option="--start", problem="needed with --on history")
    series = index.loc[pd.Timestamp(lo) :].dropna()
    series = series.head(horizon)
    if series.empty:
        raise UsageError("unknown_date_range", start=lo, end="the last day")
    result = payback_on_path(
        fleet, costs, capex_usd=capex_usd, hashprice_usd_per_ph_day=series, curtail=curtail
    )
    record = _payback_fields(result.days, result.paid_back_on, result.horizon_days)
    record["margin_over_horizon_usd"] = result.margin_over_horizon_usd
    note = f"On the index from {series.index[0].date()} to {series.index[-1].date()}."
    return PaybackOutcome(record=record, notes=[note], path=result.margin)


def payback_on_projection(
    fleet: Fleet,
    costs: Costs,
    *,
    capex_usd: float,
    calibration: Calibration,
    horizon: int,
    difficulty_growth: float | None,
    price_growth: float,
    power_growth: float,
    curtail: bool,
) -> PaybackOutcome:
    """Payback on the deterministic projection (difficulty growth, halvings by height)."""
    growth = (
        monthly_growth_from_log_rate(calibration.report.hashrate_growth_per_year)
        if difficulty_growth is None
        else difficulty_growth
    )
    projection = Projection.from_state(
        calibration.state,
        difficulty_growth_per_month=growth,
        price_growth_per_year=price_growth,
        power_price_growth_per_year=power_growth,
    )
    frame = project(projection, days=horizon)
    result = payback_on_path(
        fleet,
        costs,
        capex_usd=capex_usd,
        hashprice_usd_per_ph_day=frame["hashprice_usd_per_ph_day"],
        power_price_factor=frame["power_price_factor"].to_numpy(),
        curtail=curtail,
    )
    path = result.margin.join(frame[["height", "subsidy_btc", "difficulty", "price_usd"]])
    record = _payback_fields(result.days, result.paid_back_on, result.horizon_days)
    record["margin_over_horizon_usd"] = result.margin_over_horizon_usd
    halving = frame.index[frame["subsidy_btc"].diff() < 0]
    negative = result.margin.index[result.margin["margin_usd"] < 0]
    off = result.margin.index[~result.margin["running"].to_numpy(dtype=bool)]
    record.update(
        {
            "margin_negative_from": (negative[0].date().isoformat() if len(negative) else None),
            "switched_off_from": off[0].date().isoformat() if len(off) else None,
            "asof": projection.asof.isoformat(),
            "difficulty_growth_per_month": growth,
            "btc_price_growth_per_year": price_growth,
            "power_price_growth_per_year": power_growth,
            "start_hashprice_usd_per_ph_day": float(frame["hashprice_usd_per_ph_day"].iloc[0]),
            "halving_date": halving[0].date().isoformat() if len(halving) else None,
        }
    )
    note = (
        f"Deterministic projection from {projection.asof}: difficulty "
        f"{growth:+.2%} a month, BTC {price_growth:+.1%} a year at "
        f"{projection.price_usd:,.0f} USD, fees {projection.fee_btc_per_block:.4f} "
        "BTC/block, subsidy by height (halvings included)."
    )
    return PaybackOutcome(record=record, notes=[note], path=path)


def payback_on_model(
    fleet: Fleet,
    costs: Costs,
    *,
    capex_usd: float,
    calibration: Calibration,
    horizon: int,
    paths: int,
    seed: int,
    curtail: bool,
) -> PaybackOutcome:
    """Distribution of payback days over paths of the calibrated stochastic network model."""
    from hashmarket.models import ScenarioConfig, Scenarios

    if paths <= 0:
        raise UsageError("bad_option", option="--paths", problem="must be > 0")
    scenarios = Scenarios(
        model=calibration.model,
        state=calibration.state,
        days=horizon,
        config=ScenarioConfig(n_paths=paths, seed=seed),
    )
    dist = payback_on_scenarios(
        fleet,
        costs,
        capex_usd=capex_usd,
        scenarios=scenarios.chunks(reuse_buffers=True),
        curtail=curtail,
    )
    record = {
        "asof": calibration.state.asof.isoformat(),
        "horizon_days": horizon,
        "paths": paths,
        "seed": seed,
        "probability_paid_back": dist.probability_paid_back,
        "payback_days_p10": dist.quantile_days(0.10),
        "payback_days_p50": dist.quantile_days(0.50),
        "payback_days_p90": dist.quantile_days(0.90),
    }
    note = (
        f"{paths} paths of the calibrated network model from {calibration.state.asof} "
        f"(seed {seed}); quantiles count unpaid paths as later than the horizon."
    )
    return PaybackOutcome(record=record, notes=[note])


def payback_on_models(
    basis: PaybackBasis,
    fleet: Fleet,
    costs: Costs,
    *,
    capex_usd: float,
    history: NetworkHistory,
    asof: dt.date,
    horizon: int,
    difficulty_growth: float | None,
    price_growth: float,
    power_growth: float,
    paths: int,
    seed: int,
    curtail: bool,
) -> PaybackOutcome:
    """Payback on the models calibrated as of ``asof``: the deterministic projection or the
    stochastic scenarios."""
    from hashmarket.models import calibrate

    calibration = calibrate(history, asof=asof)
    if basis is PaybackBasis.PROJECTION:
        return payback_on_projection(
            fleet,
            costs,
            capex_usd=capex_usd,
            calibration=calibration,
            horizon=horizon,
            difficulty_growth=difficulty_growth,
            price_growth=price_growth,
            power_growth=power_growth,
            curtail=curtail,
        )
    return payback_on_model(
        fleet,
        costs,
        capex_usd=capex_usd,
        calibration=calibration,
        horizon=horizon,
        paths=paths,
        seed=seed,
        curtail=curtail,
    )
