"""Fixings: the named daily arrays every instrument's payoff reads, for many paths or one.

``Fixings`` is the single input of ``instrument.cashflows(fixings)``. It holds consecutive UTC
days (``dates``) and, per field, an array ``[paths, periods]``; one period is one day. The
same type is built two ways, which is what makes pricing and settlement agree:

* **pricing** — :meth:`Fixings.from_scenarios` wraps simulated paths (column 0 is the as-of
  day, whose values are known);
* **settlement** — :meth:`Fixings.from_published` takes the published daily index fixings
  (``index.fixings.Fixing``, one per day and currency) and :meth:`Fixings.from_history` the
  network history itself; both give one path (``paths = 1``).

Fields (units in the names; any may be absent, an instrument says which it needs):

==========================  ===========================================================
``price_usd``               BTC/USD on the day (close)
``hashprice_usd_per_ph_day`` the daily hashprice index in USD per PH/s per day
``hashprice_btc_per_ph_day`` the same in BTC
``difficulty``              mean difficulty of the day's blocks
``block_count``             blocks mined that day
``subsidy_btc``             mean block subsidy of the day's blocks
``fee_btc_per_block``       mean fees per block that day
``height``                  chain tip at the end of the day
==========================  ===========================================================

Regional contracts (``instruments.regional``) add, per region R, ``power_price_usd_per_kwh:R``
and ``regional_margin_usd_per_ph_day:R`` (the regional margin index, ``docs/regional.md``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from hashmarket.errors import PricingError

if TYPE_CHECKING:
    from hashmarket.chain import NetworkHistory
    from hashmarket.index import Fixing

FloatArray = npt.NDArray[np.float64]
DateArray = npt.NDArray[np.datetime64]

FIXING_FIELDS: tuple[str, ...] = (
    "price_usd",
    "hashprice_usd_per_ph_day",
    "hashprice_btc_per_ph_day",
    "difficulty",
    "block_count",
    "subsidy_btc",
    "fee_btc_per_block",
    "height",
    # compute contracts: the GPU-hour index fixing, and GPU-hours delivered under a lease
    "gpu_price_usd_per_gpu_hour",
    "delivered_gpu_hours",
)
# Regional fields name their region after the prefix (``power_price_usd_per_kwh:texas``): a
# region is whatever a power price file calls it, so these cannot be listed in advance.
POWER_FIELD_PREFIX = "power_price_usd_per_kwh:"
MARGIN_FIELD_PREFIX = "regional_margin_usd_per_ph_day:"
REGIONAL_FIELD_PREFIXES = (POWER_FIELD_PREFIX, MARGIN_FIELD_PREFIX)


def is_fixing_field(name: str) -> bool:
    """A listed field, or a regional field with a region after its prefix."""
    if name in FIXING_FIELDS:
        return True
    return any(name.startswith(p) and len(name) > len(p) for p in REGIONAL_FIELD_PREFIXES)


class ScenarioLike(Protocol):
    """What :meth:`Fixings.from_scenarios` reads (a ``models.ScenarioSet`` has it); declared
    here so that instruments do not import models."""

    @property
    def dates(self) -> DateArray: ...

    @property
    def data(self) -> Mapping[str, FloatArray]: ...


def to_day(value: dt.date | np.datetime64 | str) -> np.datetime64:
    """A calendar day as ``datetime64[D]``."""
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    return np.datetime64(text[:10], "D")


def to_date(value: np.datetime64) -> dt.date:
    return dt.date.fromisoformat(str(value.astype("datetime64[D]")))


@dataclass(frozen=True)
class Fixings:
    """Daily fixings over consecutive days; every field is an array ``[paths, len(dates)]``
    (``paths`` may be 1 for a realized history, which broadcasts against many)."""

    dates: DateArray
    values: Mapping[str, FloatArray]

    def __post_init__(self) -> None:
        dates = np.asarray(self.dates, dtype="datetime64[D]")
        if len(dates) == 0:
            raise ValueError("fixings need at least one day")
        if len(dates) > 1 and not (np.diff(dates) == np.timedelta64(1, "D")).all():
            raise ValueError("fixing dates must be consecutive days")
        checked = {}
        for name, array in self.values.items():
            if not is_fixing_field(name):
                raise ValueError(f"unknown fixing field {name!r}; known: {FIXING_FIELDS}")
            arr = np.asarray(array, dtype=np.float64)
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.ndim != 2 or arr.shape[1] != len(dates):
                raise ValueError(f"{name}: expected shape [paths, {len(dates)}], got {arr.shape}")
            checked[name] = arr
        object.__setattr__(self, "dates", dates)
        object.__setattr__(self, "values", checked)

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def from_arrays(cls, dates: Sequence[dt.date] | DateArray, **fields: npt.ArrayLike) -> Fixings:
        values = {k: np.asarray(v, dtype=np.float64) for k, v in fields.items()}
        return cls(dates=np.asarray(dates, dtype="datetime64[D]"), values=values)

    @classmethod
    def from_scenarios(cls, scenarios: ScenarioLike) -> Fixings:
        """Simulated paths (a ``ScenarioSet``): its fields that are fixing fields."""
        values = {k: v for k, v in scenarios.data.items() if k in FIXING_FIELDS}
        return cls(dates=scenarios.dates, values=values)

    @classmethod
    def from_history(
        cls,
        history: NetworkHistory,
        *,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> Fixings:
        """The realized path from the network history, with the index computed by the
        index's own definition (FPPS method). ``height`` is absent: the daily history has
        no tip heights (pass them to :meth:`from_arrays` when an instrument needs them)."""
        from hashmarket.index import hashprice_table

        table = hashprice_table(history.between(start, end))
        frame = history.between(start, end).frame
        with np.errstate(invalid="ignore", divide="ignore"):
            fee = (frame["fees_btc"] / frame["block_count"]).to_numpy()
        values = {
            "price_usd": frame["price_usd"].to_numpy(),
            "hashprice_usd_per_ph_day": table["hashprice_usd_per_ph_day"].to_numpy(),
            "hashprice_btc_per_ph_day": table["hashprice_btc_per_ph_day"].to_numpy(),
            "difficulty": frame["difficulty"].to_numpy(),
            "block_count": frame["block_count"].to_numpy(),
            "subsidy_btc": frame["subsidy_btc"].to_numpy(),
            "fee_btc_per_block": fee,
        }
        dates = frame.index.to_numpy().astype("datetime64[D]")
        return cls(dates=dates, values=values)

    @classmethod
    def from_published(
        cls,
        usd: Sequence[Fixing] = (),
        btc: Sequence[Fixing] = (),
        *,
        heights: Mapping[dt.date, int] | None = None,
    ) -> Fixings:
        """The realized path from published daily fixings (``index.fixings.fixings``).

        ``usd`` and ``btc`` are the USD and BTC fixings (either may be empty); each gives
        its hashprice field, and the inputs recorded in the fixings give ``price_usd``,
        ``difficulty``, ``block_count``, ``subsidy_btc`` and ``fee_btc_per_block``. Days
        between the first and last fixing without one are NaN, so an instrument that needs
        them refuses to settle. ``heights`` (end-of-day tip heights) fills ``height``.
        """
        every = list(usd) + list(btc)
        if not every:
            raise ValueError("no fixings given")
        first = min(f.date for f in every)
        last = max(f.date for f in every)
        if heights:
            first = min(first, *heights.keys())
            last = max(last, *heights.keys())
        dates = np.arange(to_day(first), to_day(last) + 1)
        n = len(dates)
        values: dict[str, FloatArray] = {}

        def put(name: str, day: dt.date, value: object) -> None:
            if value is None:
                return
            values.setdefault(name, np.full(n, math.nan))[(to_day(day) - dates[0]).astype(int)] = (
                float(value)  # type: ignore[arg-type]
            )

        for currency, items in (("usd", usd), ("btc", btc)):
            for fixing in items:
                if fixing.currency != currency:
                    raise ValueError(f"a {fixing.currency} fixing was given as {currency}")
                put(f"hashprice_{currency}_per_ph_day", fixing.date, fixing.value)
                inputs = fixing.inputs
                for name in ("price_usd", "difficulty", "block_count", "subsidy_btc"):
                    put(name, fixing.date, inputs.get(name))
                fees, blocks = inputs.get("fees_btc"), inputs.get("block_count")
                if fees is not None and blocks:
                    put("fee_btc_per_block", fixing.date, float(fees) / float(blocks))
        for day, height in (heights or {}).items():
            put("height", day, height)
        return cls(dates=dates, values=values)

    def concat(self, later: Fixings) -> Fixings:
        """These fixings followed by ``later`` (which starts the day after our last day, or
        overlaps it: overlapping days are taken from ``later``). Fields missing from either
        side are NaN there; a one-path side broadcasts to the other's path count."""
        start = (later.dates[0] - self.dates[0]).astype(int)
        if start < 0 or start > len(self.dates):
            raise ValueError("the later fixings must start within or right after these")
        dates = np.concatenate([self.dates[:start], later.dates])
        paths = max(self.n_paths, later.n_paths)
        values = {}
        for name in set(self.values) | set(later.values):
            head = self.values.get(name, np.full((1, len(self.dates)), math.nan))[:, :start]
            tail = later.values.get(name, np.full((1, len(later.dates)), math.nan))
            values[name] = np.concatenate(
                [
                    np.broadcast_to(head, (paths, head.shape[1])),
                    np.broadcast_to(tail, (paths, tail.shape[1])),
                ],
                axis=1,
            )
        return Fixings(dates=dates, values=values)

    def between(self, start: dt.date, end: dt.date) -> Fixings:
        """The days ``start … end`` that these fixings cover (at least one must be)."""
        lo = max(0, int((to_day(start) - self.dates[0]).astype(int)))
        hi = min(len(self.dates), int((to_day(end) - self.dates[0]).astype(int)) + 1)
        if lo >= hi:
            raise ValueError(f"the fixings do not cover {start} to {end}")
        return Fixings(
            dates=self.dates[lo:hi], values={k: v[:, lo:hi] for k, v in self.values.items()}
        )

    # ---- access ----------------------------------------------------------------------------

    @property
    def n_paths(self) -> int:
        return max((v.shape[0] for v in self.values.values()), default=1)

    @property
    def n_periods(self) -> int:
        return len(self.dates)

    @property
    def first_date(self) -> dt.date:
        return to_date(self.dates[0])

    @property
    def last_date(self) -> dt.date:
        return to_date(self.dates[-1])

    def covers(self, day: dt.date) -> bool:
        """Whether ``day`` is one of these fixings' days (its value may still be NaN)."""
        return bool(self.dates[0] <= to_day(day) <= self.dates[-1])

    def overlap(self, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
        """The days of ``start … end`` these fixings cover, or ``None``."""
        first, last = max(start, self.first_date), min(end, self.last_date)
        return (first, last) if first <= last else None

    def index_of(self, day: dt.date) -> int:
        """Column of ``day`` (which must be covered)."""
        i = int((to_day(day) - self.dates[0]).astype(int))
        if not 0 <= i < len(self.dates):
            raise IndexError(day)
        return i

    def window(
        self, name: str, start: dt.date, end: dt.date, *, instrument: str
    ) -> tuple[slice, FloatArray]:
        """Columns ``start … end`` of field ``name`` (inclusive), refusing days outside the
        fixings and missing values: a payment must not be made on inputs that are not
        there."""
        if name not in self.values:
            raise PricingError(
                "missing_fixings",
                instrument=instrument,
                field=name,
                start=start,
                end=end,
                problem=f"the fixings have no {name!r} (they have {', '.join(self.values)})",
            )
        if to_day(start) < self.dates[0] or to_day(end) > self.dates[-1]:
            raise PricingError(
                "missing_fixings",
                instrument=instrument,
                field=name,
                start=start,
                end=end,
                problem=f"the fixings cover {self.first_date} to {self.last_date}",
            )
        cols = slice(self.index_of(start), self.index_of(end) + 1)
        values = self.values[name][:, cols]
        if np.isnan(values).any():
            missing = np.flatnonzero(np.isnan(values).any(axis=0))
            day = to_date(self.dates[cols.start + int(missing[0])])
            raise PricingError(
                "missing_fixings",
                instrument=instrument,
                field=name,
                start=start,
                end=end,
                problem=f"no value on {day} ({len(missing)} day(s) missing)",
            )
        return cols, values

    def zeros(self) -> FloatArray:
        """An amounts array of this shape: ``[paths, periods]``."""
        return np.zeros((self.n_paths, self.n_periods))
