"""The lending reference rate's daily fixings and their fallback waterfall (see
:mod:`hashmarket.index.lending_rate` for the method and ``docs/lending-rate.md``).

Fixings are published on business days (Monday to Friday, UTC; no holiday calendar). The
window of business day D with ``k`` business days is every trade date after the ``k``-th
business day before D, up to D: with k = 1 Monday's window holds the weekend's trades.

A fixing can lean on the previous one (levels 3 and 4), so the chain always starts at the
first business day of the data, whatever range is asked for: the fixing of a day is the same
in every query that contains it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from hashmarket.index.fixings import inputs_digest
from hashmarket.index.lending_rate import (
    LENDING_METHODOLOGY_VERSION,
    LendingCurrency,
    LendingFixing,
    LendingMethodology,
    LendingTransaction,
    Tenor,
    ineligibility,
    tenor_of,
    to_tick,
    trimmed_statistics,
)

TENORS = tuple(Tenor)
SATURDAY = 5


def is_business_day(day: dt.date) -> bool:
    return day.weekday() < SATURDAY


def business_days_before(day: dt.date, n: int) -> dt.date:
    """The ``n``-th business day before ``day``."""
    while n > 0:
        day -= dt.timedelta(days=1)
        n -= is_business_day(day)
    return day


def business_days(first: dt.date, last: dt.date) -> list[dt.date]:
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    return [d for d in days if is_business_day(d)]


def adjacent_tenors(tenor: Tenor) -> list[Tenor]:
    """The neighbours of ``tenor``, the shorter one first."""
    i = TENORS.index(tenor)
    return [TENORS[j] for j in (i - 1, i + 1) if 0 <= j < len(TENORS)]


class _Chain:
    """The running state of one currency's fixings: eligible transactions by tenor and trade
    date, and every fixing published so far by tenor and date."""

    def __init__(
        self,
        currency: LendingCurrency,
        transactions: Iterable[LendingTransaction],
        methodology: LendingMethodology,
    ) -> None:
        self.currency = currency
        self.methodology = methodology
        self.parameters = methodology.parameters(currency)
        self.by_day: dict[Tenor, dict[dt.date, list[LendingTransaction]]] = {
            t: defaultdict(list) for t in TENORS
        }
        for t in transactions:
            tenor = tenor_of(t.days)
            if t.currency is currency and tenor is not None and not ineligibility(t, methodology):
                self.by_day[tenor][t.start].append(t)
        self.published: dict[Tenor, dict[dt.date, LendingFixing]] = {t: {} for t in TENORS}
        self.latest: dict[Tenor, LendingFixing] = {}

    @property
    def first_trade(self) -> dt.date | None:
        days = [d for tenor in TENORS for d in self.by_day[tenor]]
        return min(days) if days else None

    def _base(self, day: dt.date, tenor: Tenor, level: int) -> dict[str, Any]:
        return {
            "currency": self.currency.value,
            "tenor": tenor.value,
            "date": day.isoformat(),
            "level": level,
            "methodology_version": LENDING_METHODOLOGY_VERSION,
            "parameters": self.parameters,
        }

    def from_data(self, day: dt.date, tenor: Tenor) -> LendingFixing | None:
        """Level 1 (the day's window) or 2 (the widened window), if either has enough."""
        m = self.methodology
        for level, k in ((1, 1), (2, m.window_days)):
            first = business_days_before(day, k) + dt.timedelta(days=1)
            chosen = [
                t
                for offset in range((day - first).days + 1)
                for t in self.by_day[tenor].get(first + dt.timedelta(days=offset), ())
            ]
            volume = sum(t.amount_minor for t in chosen)
            if len(chosen) >= m.min_count and volume >= m.min_volume_minor[self.currency]:
                return self._computed(day, tenor, level, first, chosen)
        return None

    def _computed(
        self,
        day: dt.date,
        tenor: Tenor,
        level: int,
        first: dt.date,
        chosen: Sequence[LendingTransaction],
    ) -> LendingFixing:
        stats = trimmed_statistics(
            ((t.rate_per_year, t.amount_minor) for t in chosen), self.methodology.trim
        )
        ordered = sorted(chosen, key=lambda t: (t.rate_per_year, t.transaction_id))
        inputs = self._base(day, tenor, level)
        inputs["window"] = [first.isoformat(), day.isoformat()]
        inputs["transactions"] = [t.canonical() for t in ordered]
        return LendingFixing(
            date=day,
            currency=self.currency,
            tenor=tenor,
            rate_per_year=to_tick(stats.median),
            level=level,
            methodology_version=LENDING_METHODOLOGY_VERSION,
            n_transactions=len(chosen),
            volume_minor=sum(t.amount_minor for t in chosen),
            trimmed_mean_per_year=stats.trimmed_mean,
            lower_rate_per_year=stats.lower,
            upper_rate_per_year=stats.upper,
            window_first=first,
            window_last=day,
            inputs=inputs,
            inputs_sha256=inputs_digest(inputs),
        )

    def fallback(
        self, day: dt.date, tenor: Tenor, today: dict[Tenor, LendingFixing]
    ) -> LendingFixing | None:
        """Level 3 (the previous fixing plus an adjacent tenor's change) or 4 (republished);
        None before the tenor's first fixing."""
        previous = self.latest.get(tenor)
        if previous is None:
            return None
        cited = {
            "date": previous.date.isoformat(),
            "rate_per_year": str(previous.rate_per_year),
            "inputs_sha256": previous.inputs_sha256,
        }
        for neighbour in adjacent_tenors(tenor):
            now = today.get(neighbour)
            then = self.published[neighbour].get(previous.date)
            if now is None or then is None:
                continue
            change = now.rate_per_year - then.rate_per_year
            inputs = self._base(day, tenor, 3)
            inputs["previous"] = cited
            inputs["adjacent"] = {
                "tenor": neighbour.value,
                "date": day.isoformat(),
                "rate_per_year": str(now.rate_per_year),
                "inputs_sha256": now.inputs_sha256,
                "previous_rate_per_year": str(then.rate_per_year),
                "previous_inputs_sha256": then.inputs_sha256,
            }
            return self._carried(day, tenor, 3, previous.rate_per_year + change, inputs)
        inputs = self._base(day, tenor, 4)
        inputs["previous"] = cited
        return self._carried(day, tenor, 4, previous.rate_per_year, inputs)

    def _carried(
        self, day: dt.date, tenor: Tenor, level: int, rate: Any, inputs: dict[str, Any]
    ) -> LendingFixing:
        return LendingFixing(
            date=day,
            currency=self.currency,
            tenor=tenor,
            rate_per_year=to_tick(rate),
            level=level,
            methodology_version=LENDING_METHODOLOGY_VERSION,
            n_transactions=0,
            volume_minor=0,
            trimmed_mean_per_year=None,
            lower_rate_per_year=None,
            upper_rate_per_year=None,
            window_first=None,
            window_last=None,
            inputs=inputs,
            inputs_sha256=inputs_digest(inputs),
        )

    def publish_day(self, day: dt.date) -> None:
        computed = {t: f for t in TENORS if (f := self.from_data(day, t)) is not None}
        out = dict(computed)
        for tenor in TENORS:
            if tenor not in computed and (f := self.fallback(day, tenor, computed)) is not None:
                out[tenor] = f
        for tenor, fixing in out.items():
            self.published[tenor][day] = fixing
            self.latest[tenor] = fixing


def lending_fixings(
    transactions: Iterable[LendingTransaction],
    *,
    currency: LendingCurrency,
    start: dt.date | None = None,
    end: dt.date | None = None,
    tenors: Sequence[Tenor] = TENORS,
    methodology: LendingMethodology | None = None,
) -> list[LendingFixing]:
    """The fixings of ``currency`` for ``tenors`` on every business day from ``start`` to
    ``end`` (default: the first and last trade dates of the data), by date then tenor.

    A tenor has no fixing before its first one computed from data (nothing to carry)."""
    chain = _Chain(LendingCurrency(currency), transactions, methodology or LendingMethodology())
    first_trade = chain.first_trade
    if first_trade is None:
        return []
    last = end or max(d for tenor in TENORS for d in chain.by_day[tenor])
    for day in business_days(first_trade, last):
        chain.publish_day(day)
    wanted = set(tenors)
    return [
        chain.published[tenor][day]
        for day in business_days(max(first_trade, start or first_trade), last)
        for tenor in TENORS
        if tenor in wanted and day in chain.published[tenor]
    ]
