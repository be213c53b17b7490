"""The as-of date: the one "now" every layer values, prices and reports from.

By default it is the last day with a *complete* index value — the FPPS hashprice with fees
included and a BTC price, i.e. a fixing a contract could settle on. Days whose value is
subsidy-only (no fee data) are used only when asked for (``allow_subsidy_only``). A requested
date is accepted if it is such a day; a later one is refused with the last day the data
supports. The day need not end an unbroken run: a day after a gap in the history is as
verifiable as any other, and the estimators behind a valuation use consecutive days only
(returns, fee changes, historical scenarios) or skip missing values (the hashprice level),
so a gap shortens their samples without bridging it.

The resolver is pure: the caller passes the history and ``today`` (the CLI and the HTTP API
read the clock at their edge, see :mod:`hashmarket.today`), so the same inputs always give
the same answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hashmarket.errors import DataError
from hashmarket.index.hashprice import Method, hashprice_table

if TYPE_CHECKING:
    from hashmarket.chain import NetworkHistory

# The history fields the index value depends on, in the order the coverage lists them.
COVERAGE_FIELDS = ("difficulty", "fees_btc", "block_count", "price_usd")
LABELS = {
    "difficulty": "difficulty",
    "fees_btc": "fees",
    "block_count": "blocks",
    "price_usd": "price",
}
STALE_AFTER_DAYS = 7
SYNC_HINT = "run `hashmarket data sync`"


@dataclass(frozen=True, slots=True)
class FieldCoverage:
    """First and last day on which the history has a value of ``field``."""

    field: str
    first: dt.date | None
    last: dt.date | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "first": None if self.first is None else self.first.isoformat(),
            "last": None if self.last is None else self.last.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class AsOf:
    """The resolved as-of date and what the data behind it covers.

    ``complete`` says the day's index value includes fees (and has a price);
    ``last_complete`` is the last such day in the history; ``staleness_days`` is
    ``today − date`` (``None`` when no ``today`` was given).
    """

    date: dt.date
    complete: bool
    last_complete: dt.date | None
    coverage: tuple[FieldCoverage, ...]
    today: dt.date | None = None
    staleness_days: int | None = None

    @property
    def stale(self) -> bool:
        return self.staleness_days is not None and self.staleness_days > STALE_AFTER_DAYS

    def coverage_of(self, name: str) -> FieldCoverage:
        return next(c for c in self.coverage if c.field == name)

    def describe(self) -> str:
        """One line: the date, whether its index value is complete, and the data's reach."""
        kind = "complete index: fees and price" if self.complete else "subsidy-only index"
        reach = ", ".join(
            f"{LABELS[c.field]} to {c.last.isoformat() if c.last else 'none'}"
            for c in self.coverage
        )
        return f"as of {self.date} ({kind}); data: {reach}"

    def stale_warning(self) -> str | None:
        """The one line shown when the data is older than :data:`STALE_AFTER_DAYS` days."""
        if not self.stale:
            return None
        return f"data as of {self.date} ({self.staleness_days} days old): {SYNC_HINT}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "asof": self.date.isoformat(),
            "complete": self.complete,
            "last_complete": None if self.last_complete is None else self.last_complete.isoformat(),
            "coverage": {c.field: c.to_dict() for c in self.coverage},
            "today": None if self.today is None else self.today.isoformat(),
            "staleness_days": self.staleness_days,
            "stale": self.stale,
            "summary": self.describe(),
            "warning": self.stale_warning(),
        }


def field_coverage(history: NetworkHistory) -> tuple[FieldCoverage, ...]:
    out = []
    for name in COVERAGE_FIELDS:
        days = history.dates[history.frame[name].notna().to_numpy()]
        out.append(
            FieldCoverage(
                field=name,
                first=days[0].date() if len(days) else None,
                last=days[-1].date() if len(days) else None,
            )
        )
    return tuple(out)


def _last(days: pd.DatetimeIndex) -> dt.date | None:
    return days[-1].date() if len(days) else None


def resolve_asof(
    history: NetworkHistory,
    *,
    requested: dt.date | None = None,
    today: dt.date | None = None,
    allow_subsidy_only: bool = False,
    table: pd.DataFrame | None = None,
) -> AsOf:
    """The as-of date for ``history`` (see the module docstring).

    ``table`` may pass the FPPS :func:`hashprice_table` of ``history`` when the caller has it.
    Refused (:class:`DataError` ``asof_unsupported``) when no day qualifies, when ``requested``
    is later than the last day that does, or when ``requested`` itself lacks what it needs.
    """
    if table is None:
        table = hashprice_table(history, method=Method.FPPS)
    valued = table["hashprice_usd_per_ph_day"].notna().to_numpy()
    complete = valued & table["fees_included"].to_numpy(dtype=bool)
    supported = valued if allow_subsidy_only else complete
    index = pd.DatetimeIndex(table.index)
    last_complete = _last(index[complete])
    last_supported = _last(index[supported])
    wanted = "an index value with a price" if allow_subsidy_only else "a complete index value"
    if last_supported is None:
        raise DataError(
            "asof_unsupported",
            asof=requested or "latest",
            problem=f"no day of the history has {wanted}",
        )
    if requested is None:
        date = last_supported
    else:
        date = requested
        if requested > last_supported:
            problem = f"the data supports days up to {last_supported}"
            if not allow_subsidy_only:
                last_valued = _last(index[valued])
                if last_valued is not None and last_valued > last_supported:
                    problem += (
                        f" (subsidy-only values, without fees, run to {last_valued}: "
                        "--allow-subsidy-only uses them)"
                    )
            raise DataError("asof_unsupported", asof=requested, problem=problem)
        row = int(np.searchsorted(index.to_numpy(), np.datetime64(requested, "ns")))
        if row >= len(index) or index[row].date() != requested or not supported[row]:
            earlier = _last(index[: max(row, 0)][supported[: max(row, 0)]])
            problem = f"the day has no {wanted.removeprefix('an ').removeprefix('a ')}"
            if earlier is not None:
                problem += f"; the last earlier day with one is {earlier}"
            raise DataError("asof_unsupported", asof=requested, problem=problem)
    staleness = None if today is None else (today - date).days
    return AsOf(
        date=date,
        complete=bool(complete[index.get_loc(pd.Timestamp(date))]),
        last_complete=last_complete,
        coverage=field_coverage(history),
        today=today,
        staleness_days=staleness,
    )
