"""Compute contracts: a GPU lease with an uptime guarantee, and a cash-settled forward on the
GPU-hour index.

Both follow the package's one-payoff rule: ``cashflows(fixings) -> amounts[paths, periods]``,
what the holder receives at the end of each UTC day, called with simulated paths to price and
with the one realized path to settle. They read the same :class:`Fixings` as every other
instrument (consecutive days, one array ``[paths, days]`` per field), through two fields:

==============================  ============================================================
``gpu_price_usd_per_gpu_hour``  the GPU-hour index fixing of the contract's model and term
``delivered_gpu_hours``         GPU-hours the lessor actually delivered that day (a lease)
==============================  ============================================================

* :class:`ComputeLease` — ``gpus`` GPUs of a model for ``hours`` hours from ``start`` at a
  fixed price per GPU-hour. Each UTC day the lessee pays for the GPU-hours contracted that day;
  if the lessor delivered less than ``refund_threshold_fraction`` of them, the lessee is
  refunded pro rata for the whole shortfall — the rental markets' rule (Virtual Mining refunds
  "the paid amount minus what the delivered average would have cost" once delivery is 8 %
  short). A lease is also an asset: ``asset_code`` and ``units`` (one unit = one GPU for the
  lease's term) let it be issued, transferred and pledged on the ledger like any other.
* :class:`ComputeForward` — fixed price per GPU-hour against the GPU-hour index over a period,
  cash-settled in USD, daily (each day's fixing) or once on the period's average.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from hashmarket.errors import SpecError
from hashmarket.index import Term, canonical_model
from hashmarket.instruments.fixings import Fixings, to_day
from hashmarket.instruments.terms import (
    FloatArray,
    SettlementCurrency,
    Side,
    coerce_enum,
    require_at_most,
    require_date,
    require_int,
    require_order,
    require_positive,
    set_field,
)

if TYPE_CHECKING:
    from hashmarket.index import GpuFixing

HOURS_PER_DAY = 24
SECONDS_PER_HOUR = 3600


# --------------------------------------------------------------------------------------------
# Fixings
# --------------------------------------------------------------------------------------------


def fixings_from_gpu_index(fixings: Sequence[GpuFixing], *, gpu_model: str, term: str) -> Fixings:
    """The realized path from published daily GPU-hour index fixings of one model and term
    (others are ignored); days between the first and the last without a fixing are NaN, so a
    contract that needs them refuses to settle."""
    chosen = [f for f in fixings if f.gpu_model == gpu_model and f.term == term]
    if not chosen:
        raise ValueError(f"no {gpu_model} {term} fixings given")
    for f in chosen:
        if f.period_start != f.period_end:
            raise ValueError(f"a {f.period_start}…{f.period_end} fixing is not a daily one")
    first = min(f.period_start for f in chosen)
    last = max(f.period_start for f in chosen)
    dates = np.arange(to_day(first), to_day(last) + 1)
    prices = np.full(len(dates), math.nan)
    for f in chosen:
        prices[int((to_day(f.period_start) - dates[0]).astype(int))] = float(f.value)
    return Fixings(dates=dates, values={"gpu_price_usd_per_gpu_hour": prices})


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------


class ForwardSettlement(enum.StrEnum):
    DAILY = "daily"  # each day: (fixing − fixed) × GPU-hours of the day
    AVERAGE = "average"  # once, at the end: (mean fixing − fixed) × GPU-hours of the period


@dataclass(frozen=True)
class ComputeForward:
    """Fixed ``fixed_price_usd_per_gpu_hour`` against the GPU-hour index of ``gpu_model`` and
    ``term`` from ``start`` to ``end`` (inclusive), on ``gpus`` GPUs × ``hours_per_day``.

    The buyer (``side`` buy) receives ``(fixing − fixed) × gpus × hours_per_day`` for each
    day — a buyer locks in the price of compute it will rent; the seller the negative.
    """

    type_name: ClassVar[str] = "compute_forward"

    gpu_model: str
    gpus: float
    fixed_price_usd_per_gpu_hour: float
    start: dt.date
    end: dt.date
    term: str = "on-demand"
    hours_per_day: float = HOURS_PER_DAY
    settlement: ForwardSettlement = ForwardSettlement.DAILY
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        if not isinstance(self.gpu_model, str) or not self.gpu_model.strip():
            raise SpecError(
                "spec_bad_type", field="gpu_model", value=self.gpu_model, expected="a GPU model"
            )
        set_field(self, "gpu_model", canonical_model(self.gpu_model))
        set_field(self, "term", coerce_enum(Term, "term", self.term).value)
        require_positive("gpus", self.gpus)
        require_positive("fixed_price_usd_per_gpu_hour", self.fixed_price_usd_per_gpu_hour)
        require_positive("hours_per_day", self.hours_per_day)
        require_at_most("hours_per_day", self.hours_per_day, HOURS_PER_DAY, "at most 24")
        require_order(
            "end", require_date("end", self.end), "start", require_date("start", self.start)
        )
        set_field(self, "settlement", coerce_enum(ForwardSettlement, "settlement", self.settlement))
        set_field(self, "side", coerce_enum(Side, "side", self.side))

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def gpu_hours_per_day(self) -> float:
        return self.gpus * self.hours_per_day

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def cashflows(self, fixings: Fixings) -> FloatArray:
        cols, fix = fixings.window(
            "gpu_price_usd_per_gpu_hour", self.start, self.end, instrument=self.type_name
        )
        out = fixings.zeros()
        scale = self.side.sign * self.gpu_hours_per_day
        if self.settlement is ForwardSettlement.DAILY:
            out[:, cols] = scale * (fix - self.fixed_price_usd_per_gpu_hour)
        else:
            mean = fix.mean(axis=1)
            out[:, cols.stop - 1] = scale * (mean - self.fixed_price_usd_per_gpu_hour) * self.days
        return out


# --------------------------------------------------------------------------------------------
# Lease
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeLease:
    """``gpus`` GPUs of ``gpu_model`` for ``hours`` hours from ``start`` (a whole UTC hour) at
    ``price_usd_per_gpu_hour``, with ``sla_uptime_fraction`` guaranteed.

    Each UTC day the lessee (``side`` buy) pays ``price × contracted GPU-hours of the day``;
    when the day's delivered share is below ``refund_threshold_fraction`` (default: the SLA),
    it is refunded ``price × (contracted − delivered)``, pro rata for the whole shortfall.
    Delivery above the contract earns the lessor nothing extra.
    """

    type_name: ClassVar[str] = "compute_lease"
    unit_scale: ClassVar[int] = 0  # ledger units are whole GPUs

    gpu_model: str
    gpus: int
    start: dt.datetime
    hours: int
    price_usd_per_gpu_hour: float
    sla_uptime_fraction: float = 0.99
    refund_threshold_fraction: float | None = None
    side: Side = Side.BUY

    def __post_init__(self) -> None:
        if not isinstance(self.gpu_model, str) or not self.gpu_model.strip():
            raise SpecError(
                "spec_bad_type", field="gpu_model", value=self.gpu_model, expected="a GPU model"
            )
        set_field(self, "gpu_model", canonical_model(self.gpu_model))
        if require_int("gpus", self.gpus) <= 0:
            raise SpecError("spec_not_positive", field="gpus", value=self.gpus)
        if require_int("hours", self.hours) <= 0:
            raise SpecError("spec_not_positive", field="hours", value=self.hours)
        start = self.start
        if (
            not isinstance(start, dt.datetime)
            or start.utcoffset() != dt.timedelta(0)
            or (start.minute, start.second, start.microsecond) != (0, 0, 0)
        ):
            raise SpecError(
                "spec_bad_type",
                field="start",
                value=str(start),
                expected="a UTC datetime on a whole hour",
            )
        require_positive("price_usd_per_gpu_hour", self.price_usd_per_gpu_hour)
        require_positive("sla_uptime_fraction", self.sla_uptime_fraction)
        require_at_most("sla_uptime_fraction", self.sla_uptime_fraction, 1.0, "at most 1")
        threshold = self.refund_threshold_fraction
        if threshold is None:
            set_field(self, "refund_threshold_fraction", self.sla_uptime_fraction)
        else:
            require_positive("refund_threshold_fraction", threshold)
            require_at_most(
                "refund_threshold_fraction", threshold, self.sla_uptime_fraction, "at most the SLA"
            )
        set_field(self, "side", coerce_enum(Side, "side", self.side))

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    @property
    def end(self) -> dt.datetime:
        """The first hour after the lease."""
        return self.start + dt.timedelta(hours=self.hours)

    @property
    def first_day(self) -> dt.date:
        return self.start.date()

    @property
    def last_day(self) -> dt.date:
        return (self.end - dt.timedelta(hours=1)).date()

    @property
    def contracted_gpu_hours(self) -> int:
        return self.gpus * self.hours

    @property
    def notional_usd(self) -> float:
        return self.contracted_gpu_hours * self.price_usd_per_gpu_hour

    def contracted_gpu_hours_by_day(self) -> FloatArray:
        """GPU-hours contracted on each UTC day from ``first_day`` to ``last_day``."""
        days = (self.last_day - self.first_day).days + 1
        begin = int(self.start.timestamp()) // SECONDS_PER_HOUR
        first_hour_of_day = (
            int(dt.datetime.combine(self.first_day, dt.time(), dt.UTC).timestamp())
            // SECONDS_PER_HOUR
        )
        hours = np.zeros(days)
        offsets = (begin + np.arange(self.hours) - first_hour_of_day) // HOURS_PER_DAY
        np.add.at(hours, offsets, 1.0)
        return hours * self.gpus

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.first_day, self.last_day

    def refunds_usd(self, delivered_gpu_hours: npt.ArrayLike) -> FloatArray:
        """Refund per day for the delivered GPU-hours ``[paths, days]`` (or ``[days]``)."""
        contracted = self.contracted_gpu_hours_by_day()
        delivered = np.clip(np.asarray(delivered_gpu_hours, dtype=np.float64), 0.0, contracted)
        threshold = self.refund_threshold_fraction
        assert threshold is not None
        # A small tolerance: delivery measured at exactly the threshold is not a shortfall.
        short = delivered < threshold * contracted * (1 - 1e-12)
        return np.where(short, (contracted - delivered) * self.price_usd_per_gpu_hour, 0.0)

    def cashflows(self, fixings: Fixings) -> FloatArray:
        cols, delivered = fixings.window(
            "delivered_gpu_hours", self.first_day, self.last_day, instrument=self.type_name
        )
        out = fixings.zeros()
        paid = self.contracted_gpu_hours_by_day() * self.price_usd_per_gpu_hour
        out[:, cols] = self.side.sign * (self.refunds_usd(delivered) - paid)
        return out

    # ---- the lease as a ledger asset -------------------------------------------------------

    def terms(self) -> dict[str, Any]:
        """The terms as plain JSON values (what ``asset_code`` hashes)."""
        return {
            "type": self.type_name,
            "gpu_model": self.gpu_model,
            "gpus": self.gpus,
            "start": self.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hours": self.hours,
            "price_usd_per_gpu_hour": self.price_usd_per_gpu_hour,
            "sla_uptime_fraction": self.sla_uptime_fraction,
            "refund_threshold_fraction": self.refund_threshold_fraction,
        }

    @property
    def asset_code(self) -> str:
        """A ledger asset code naming exactly these terms: ``GL`` + 14 hex digits of their
        SHA-256 (the ledger's codes are at most 16 characters)."""
        canonical = json.dumps(self.terms(), sort_keys=True, separators=(",", ":"))
        return "GL" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:14].upper()

    @property
    def units(self) -> int:
        """Ledger units of the lease: one per GPU, each the right to that GPU for the term
        (scale 0, so a lease splits into whole GPUs, as rental markets resell them)."""
        return self.gpus


def daily_delivery(
    lease: ComputeLease, uptime_by_day: npt.ArrayLike
) -> tuple[list[dt.date], FloatArray]:
    """Delivered GPU-hours per day from a delivered share per day (e.g. monitoring's uptime),
    with the lease's days: a convenience for building settlement fixings."""
    contracted = lease.contracted_gpu_hours_by_day()
    share = np.asarray(uptime_by_day, dtype=np.float64)
    if share.shape[-1] != len(contracted):
        raise ValueError(f"expected {len(contracted)} days of uptime, got {share.shape[-1]}")
    days = [lease.first_day + dt.timedelta(days=i) for i in range(len(contracted))]
    return days, share * contracted
