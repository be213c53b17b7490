"""Miner hedging: revenue and cost month by month, and the cheapest hedge that covers costs.

**The miner.** A fleet of ``hashrate_phs`` PH/s at ``efficiency_j_per_th`` J/TH earns, each
day, ``hashrate × uptime × (1 − pool fee) × hashprice`` (USD, production sold daily) and pays
for power ``W/TH × TH × 24 h × $/kWh × uptime``; ``fixed_costs_usd_per_month`` (wages,
hosting, rent) are paid whatever happens. The months are the ``horizon_months`` calendar
months after the as-of date. Revenue comes from the scenario engine; the power price is fixed.

**Hedges** (all from ``hashmarket.instruments``, one per month), valued by pricing on the same
paths (``pricing/onpaths.py``: the paths' mean of their own cash flows, and par prices):

* ``hashprice_forward`` — sell ``ratio`` of the fleet's effective PH/s forward at the month's
  fair hashprice (the paths' mean) less a dealer spread;
* ``btc_swap`` — sell the BTC that ``ratio`` of the fleet produces at the month's fair average
  price less the spread (``BtcPriceSwap`` on production: price hedged, difficulty not);
* ``btc_put`` — buy puts on the month's average BTC price for ``ratio`` of the expected
  production, strike ``k × spot``, premium = fair value × (1 + markup), paid in the month;
* ``collar`` — the same put financed by a call sold at the highest strike (on a grid from
  spot to 3 × spot) whose marked-down value still pays for the marked-up put, so the pair
  costs nothing; when no call does (an at-the-money put), the call at spot finances what it
  can (both legs on the month's average).

**The planner** scans ratios 0, 0.05 … 1 (and strikes, for puts and collars) and keeps, among
the hedges whose every month has net cash ≥ 0 with probability ≥ ``target`` (default 95 %) on
the fitted paths, the one that gives up the least expected revenue: ``−E[hedge payoff −
premium]`` over the horizon. If no hedge reaches the target, the one with the highest
coverage is shown and the plan says so. The **rule of thumb** — sell forward the share of
output that pays for power and wages (cash costs ÷ expected revenue, typically 1/3 to 1/2) —
is evaluated beside it. The planner and the evaluation are in ``risk/hedge_plan.py``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.errors import RiskError
from hashmarket.instruments import (
    FIXING_FIELDS,
    AsianOption,
    BtcPriceSwap,
    Collar,
    Fixings,
    HashpriceForward,
    Instrument,
    OptionType,
    Side,
    Underlying,
    month_periods,
)
from hashmarket.models import NetworkModel, NetworkState, ScenarioConfig, Scenarios
from hashmarket.pricing import cashflows_by_period, mean_value, par_price
from hashmarket.units import electricity_kwh_per_day, phs_to_ths

FloatArray = npt.NDArray[np.float64]
Progress = Callable[[int, int], None]
RATIOS = tuple(round(0.05 * i, 2) for i in range(21))
PUT_MONEYNESS = (0.7, 0.8, 0.9, 1.0)
CALL_GRID = tuple(round(1.0 + 0.05 * i, 2) for i in range(41))  # × spot, 1.0 … 3.0
RULE_OF_THUMB_RANGE = (1 / 3, 1 / 2)
DEFAULT_HORIZON_MONTHS = 12
MAX_MONTHS = 120  # ten years of monthly hedges: longer than any ASIC's economic life
BTC = Underlying.BTC_USD
SIMULATED = ("price_usd", "hashprice_usd_per_ph_day", "hashprice_btc_per_ph_day")
HedgeInstrument = HashpriceForward | BtcPriceSwap | AsianOption | Collar


def _bad(name: str, problem: str) -> RiskError:
    return RiskError("risk_field", field=name, problem=problem)


@dataclass(frozen=True)
class MinerProfile:
    """A miner's fleet, costs and treasury (see the module docstring)."""

    name: str
    hashrate_phs: float
    efficiency_j_per_th: float
    power_usd_per_kwh: float
    fixed_costs_usd_per_month: float
    btc_held: float = 0.0
    horizon_months: int | None = None  # None: the machines' remaining life, else 12
    uptime: float = 1.0
    pool_fee: float = 0.0
    # What decides the hedge (``risk/hedge_choice.py``): the machines' cost and purchase date
    # (what they have earned back since is read from the index), or the capital not yet
    # recovered, given directly; and when they retire (end of life or obsolescence).
    machine_cost_usd: float = 0.0
    purchase_date: dt.date | None = None
    unrecovered_capital_usd: float | None = None
    end_of_life: dt.date | None = None

    def __post_init__(self) -> None:
        for name in ("hashrate_phs", "efficiency_j_per_th"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise _bad(name, f"{value} must be greater than zero")
        for name in ("power_usd_per_kwh", "fixed_costs_usd_per_month", "btc_held"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise _bad(name, f"{value} must not be negative")
        if not 0 < self.uptime <= 1:
            raise _bad("uptime", f"{self.uptime} must be in (0, 1]")
        if not 0 <= self.pool_fee < 1:
            raise _bad("pool_fee", f"{self.pool_fee} must be in [0, 1)")
        if self.horizon_months is not None and not 1 <= self.horizon_months <= MAX_MONTHS:
            raise _bad("horizon_months", f"{self.horizon_months} must be 1 to {MAX_MONTHS}")
        for name in ("machine_cost_usd", "unrecovered_capital_usd"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise _bad(name, f"{value} must not be negative")
        if self.machine_cost_usd > 0 and self.purchase_date is None:
            raise _bad("purchase_date", "missing: machine_cost_usd is recovered from that day on")
        if self.purchase_date and self.end_of_life and self.end_of_life <= self.purchase_date:
            raise _bad("end_of_life", f"{self.end_of_life} is not after the purchase date")

    @property
    def knows_capital(self) -> bool:
        """Whether the profile says how much of the machines' capital is still at risk."""
        return self.unrecovered_capital_usd is not None or self.purchase_date is not None

    def horizon_for(self, asof: dt.date) -> int:
        """Months hedged: ``horizon_months`` if given, else the calendar months after
        ``asof`` up to the one the machines retire in (included), else 12."""
        if self.horizon_months is not None:
            return self.horizon_months
        if self.end_of_life is None:
            return DEFAULT_HORIZON_MONTHS
        first = (asof.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        months = (self.end_of_life.year - first.year) * 12 + self.end_of_life.month - first.month
        if months < 0:
            raise _bad("end_of_life", f"{self.end_of_life}: the machines retire before {first}")
        if months + 1 > MAX_MONTHS:
            raise _bad(
                "end_of_life",
                f"{self.end_of_life} is {months + 1} months away; at most {MAX_MONTHS} are "
                "hedged: give horizon_months",
            )
        return months + 1

    @property
    def effective_phs(self) -> float:
        """Hashrate that earns revenue: uptime and the pool fee taken off."""
        return self.hashrate_phs * self.uptime * (1.0 - self.pool_fee)

    @property
    def power_usd_per_day(self) -> float:
        kwh = electricity_kwh_per_day(self.efficiency_j_per_th, phs_to_ths(self.hashrate_phs))
        return kwh * self.power_usd_per_kwh * self.uptime

    def months(self, asof: dt.date) -> list[tuple[dt.date, dt.date]]:
        """The calendar months after ``asof`` the plan covers."""
        count = self.horizon_for(asof)
        start = (asof.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        periods = month_periods(start, start + dt.timedelta(days=31 * count))
        return periods[:count]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hashrate_phs": self.hashrate_phs,
            "efficiency_j_per_th": self.efficiency_j_per_th,
            "power_usd_per_kwh": self.power_usd_per_kwh,
            "fixed_costs_usd_per_month": self.fixed_costs_usd_per_month,
            "btc_held": self.btc_held,
            "horizon_months": self.horizon_months,
            "uptime": self.uptime,
            "pool_fee": self.pool_fee,
            "power_usd_per_day": self.power_usd_per_day,
            "machine_cost_usd": self.machine_cost_usd,
            "purchase_date": None if self.purchase_date is None else str(self.purchase_date),
            "unrecovered_capital_usd": self.unrecovered_capital_usd,
            "end_of_life": None if self.end_of_life is None else str(self.end_of_life),
        }


@dataclass(frozen=True)
class HedgePricing:
    """How a dealer quotes: forwards and swaps at fair less ``forward_spread`` (a fraction of
    the price), options at fair value × (1 ± ``option_markup``) (the miner pays more for what
    it buys and gets less for what it sells)."""

    forward_spread: float = 0.02
    option_markup: float = 0.10

    def __post_init__(self) -> None:
        if not 0 <= self.forward_spread < 1:
            raise _bad("forward_spread", f"{self.forward_spread} must be in [0, 1)")
        if not 0 <= self.option_markup < 1:
            raise _bad("option_markup", f"{self.option_markup} must be in [0, 1)")


# ---- the miner's months on paths -----------------------------------------------------------


@dataclass(frozen=True)
class MinerPaths:
    """Monthly figures on every path (USD): revenue ``[paths, months]``, deterministic cash
    costs ``[months]``, and the fixings the hedges settle on."""

    months: tuple[tuple[dt.date, dt.date], ...]
    revenue_usd: FloatArray
    costs_usd: FloatArray
    fixings: Fixings
    price_usd_end: FloatArray  # BTC price at each month's end [paths, months]

    @property
    def net_usd(self) -> FloatArray:
        return np.asarray(self.revenue_usd - self.costs_usd[None, :], dtype=np.float64)

    @property
    def n_paths(self) -> int:
        return int(self.revenue_usd.shape[0])


def simulate_miner(
    profile: MinerProfile,
    *,
    model: NetworkModel,
    state: NetworkState,
    n_paths: int,
    seed: int,
    workers: int = 1,
    progress: Progress | None = None,
) -> MinerPaths:
    """Simulate the network over the profile's months and tally the miner's revenue."""
    months = profile.months(state.asof)
    days = (months[-1][1] - state.asof).days
    config = ScenarioConfig(n_paths=n_paths, seed=seed, workers=workers, fields=SIMULATED)
    scenarios = Scenarios(model, state, days, config)
    chunks = [
        {k: np.array(v, copy=True) for k, v in chunk.data.items() if k in FIXING_FIELDS}
        for chunk in scenarios.chunks(progress, reuse_buffers=True)
    ]
    fixings = Fixings(
        dates=scenarios.dates,
        values={k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]},
    )
    hp = fixings.values["hashprice_usd_per_ph_day"]
    price = fixings.values["price_usd"]
    revenue = np.empty((n_paths, len(months)))
    costs = np.empty(len(months))
    end_price = np.empty((n_paths, len(months)))
    for m, (first, last) in enumerate(months):
        lo, hi = fixings.index_of(first), fixings.index_of(last)
        revenue[:, m] = profile.effective_phs * hp[:, lo : hi + 1].sum(axis=1)
        days_in = hi - lo + 1
        costs[m] = profile.power_usd_per_day * days_in + profile.fixed_costs_usd_per_month
        end_price[:, m] = price[:, hi]
    return MinerPaths(
        months=tuple(months),
        revenue_usd=revenue,
        costs_usd=costs,
        fixings=fixings,
        price_usd_end=end_price,
    )


def monthly_payoff(instruments: Sequence[Instrument], paths: MinerPaths) -> FloatArray:
    """The instruments' cash flows on the miner's paths, summed by month ``[paths, M]``."""
    return cashflows_by_period(instruments, paths.fixings, paths.months)


# ---- candidates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitHedge:
    """A hedge of one family at ratio 1: its instruments (one per month), monthly payoff on
    the fitted paths including premiums, and the fixed premium per month (USD)."""

    family: str
    description: str
    put_moneyness: float | None
    instruments: tuple[HedgeInstrument, ...]
    payoff_usd: FloatArray  # [paths, months], premium included
    premium_usd: FloatArray  # [months], paid by the miner (negative: received)
    call_moneyness: tuple[float, ...] = ()

    def scaled(self, ratio: float) -> tuple[HedgeInstrument, ...]:
        """The instruments at ``ratio`` (none at 0: a contract of zero size does not exist)."""
        if ratio <= 0:
            return ()
        return tuple(_scale(i, ratio) for i in self.instruments)


def _scale(instrument: HedgeInstrument, ratio: float) -> HedgeInstrument:
    from dataclasses import replace

    if isinstance(instrument, HashpriceForward):
        return replace(instrument, notional_phs=instrument.notional_phs * ratio)
    if isinstance(instrument, BtcPriceSwap):
        assert instrument.production_phs is not None
        return replace(instrument, production_phs=instrument.production_phs * ratio)
    return replace(instrument, quantity=instrument.quantity * ratio)


def _fair_value(instrument: Instrument, paths: MinerPaths) -> float:
    """What pricing says the instrument is worth on the miner's own paths."""
    return mean_value(instrument, paths.fixings, paths.months)


def unit_hedges(
    profile: MinerProfile, paths: MinerPaths, *, pricing: HedgePricing, spot_usd: float
) -> list[UnitHedge]:
    """Every family at ratio 1 (puts and collars at each strike), quoted on ``paths``."""
    phs = profile.effective_phs
    fixings = paths.fixings
    hpb = fixings.values["hashprice_btc_per_ph_day"]
    forwards, swaps = [], []
    production_btc = []
    for first, last in paths.months:
        lo, hi = fixings.index_of(first), fixings.index_of(last)
        fair_hp = par_price(fixings, "hashprice_usd_per_ph_day", first, last)
        forwards.append(
            HashpriceForward(
                notional_phs=phs,
                fixed_price_per_ph_day=round(fair_hp * (1 - pricing.forward_spread), 2),
                start=first,
                end=last,
                side=Side.SELL,
            )
        )
        produced = phs * hpb[:, lo : hi + 1].sum(axis=1)
        production_btc.append(float(produced.mean()))
        fair_price = par_price(fixings, "price_usd", first, last, quantity=produced)
        swaps.append(
            BtcPriceSwap(
                fixed_price_usd=round(fair_price * (1 - pricing.forward_spread), 2),
                start=first,
                end=last,
                production_phs=phs,
                side=Side.SELL,
            )
        )
    zero = np.zeros(len(paths.months))
    out = [
        UnitHedge(
            "hashprice_forward",
            "sell hashprice forward (USD/PH/s/day) at fair less spread",
            None,
            tuple(forwards),
            monthly_payoff(forwards, paths),
            zero,
        ),
        UnitHedge(
            "btc_swap",
            "sell the production's BTC at a fixed price (monthly average)",
            None,
            tuple(swaps),
            monthly_payoff(swaps, paths),
            zero,
        ),
    ]
    out.extend(_option_hedges(paths, production_btc, pricing=pricing, spot_usd=spot_usd))
    return out


def _option_hedges(
    paths: MinerPaths, production_btc: list[float], *, pricing: HedgePricing, spot_usd: float
) -> list[UnitHedge]:
    markup = pricing.option_markup
    calls: list[list[tuple[float, float]]] = []  # per month: (moneyness, fair value)
    for m, (first, last) in enumerate(paths.months):
        row = []
        for k in CALL_GRID:
            call = AsianOption(BTC, OptionType.CALL, round(k * spot_usd, 2), first, last, 1.0)
            row.append((k, _fair_value(call, paths) * production_btc[m]))
        calls.append(row)
    out = []
    for k_put in PUT_MONEYNESS:
        puts, premiums = [], []
        collars, collar_premiums, call_ks = [], [], []
        for m, (first, last) in enumerate(paths.months):
            strike = round(k_put * spot_usd, 2)
            put = AsianOption(BTC, OptionType.PUT, strike, first, last, production_btc[m])
            fair_put = _fair_value(put, paths)
            puts.append(put)
            premiums.append(fair_put * (1 + markup))
            # The cheapest call strike whose (marked-down) value pays for the (marked-up) put.
            k_call, call_value = next(
                (
                    (k, v)
                    for k, v in reversed(calls[m])
                    if v * (1 - markup) >= fair_put * (1 + markup)
                ),
                calls[m][0],
            )
            collars.append(
                Collar(
                    BTC,
                    strike,
                    round(max(k_call, k_put) * spot_usd, 2),
                    first,
                    last,
                    production_btc[m],
                )
            )
            collar_premiums.append(fair_put * (1 + markup) - call_value * (1 - markup))
            call_ks.append(k_call)
        put_premium = np.array(premiums)
        out.append(
            UnitHedge(
                "btc_put",
                f"buy puts on the monthly average BTC price, strike {k_put:.0%} of spot",
                k_put,
                tuple(puts),
                monthly_payoff(puts, paths) - put_premium[None, :],
                put_premium,
            )
        )
        collar_premium = np.array(collar_premiums)
        out.append(
            UnitHedge(
                "collar",
                f"buy puts at {k_put:.0%} of spot, sell calls to pay for them (monthly average)",
                k_put,
                tuple(collars),
                monthly_payoff(collars, paths) - collar_premium[None, :],
                collar_premium,
                tuple(call_ks),
            )
        )
    return out
