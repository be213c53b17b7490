"""Loans that float on the lending reference rate (``docs/lending-rate.md``).

A floating loan's rate is the reference rate of one tenor plus a spread, reset every tenor
period from the loan's start: daily (overnight), every 7 days (one week), every calendar month
or every three (the same day of the month as the start, or the month's last day when it is
shorter). Each period's rate is fixed at its start from the latest published fixing on or
before that day; a period that starts after the last published fixing takes the last one
(a flat projection, which its ``fixing_date`` shows). The rate in force is floored at zero:
the borrower never earns interest.

Interest accrues simply (actual/365) on the principal, one period at a time, and each
period's interest is a whole number of cents, rounded half to even with the money module's
exact integer division: ``principal_cents × rate × days ÷ 365``. The loan repays its
principal plus the sum of those integers, so what the ledger books is exactly the schedule.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hashmarket.errors import RiskError
from hashmarket.index import LendingCurrency, LendingFixing, Tenor
from hashmarket.money import Rounding, divide_minor, to_minor
from hashmarket.units import CENTS_PER_USD

DAYS_PER_YEAR = 365  # actual/365, as fixed-rate loans accrue (units.DAYS_PER_YEAR_ACT365)


@dataclass(frozen=True)
class RateReset:
    """One interest period of a floating loan and the fixing it was set from."""

    start: dt.date
    end: dt.date  # exclusive: the next reset, or the maturity
    fixing_date: dt.date
    fixing_rate_per_year: Decimal
    rate_per_year: Decimal  # fixing + spread, floored at 0
    fixing_sha256: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True)
class FloatingRate:
    """The terms of a floating rate: ``tenor`` of the ``currency`` reference rate plus
    ``spread_per_year``. ``resets`` are the periods with the fixings in force, filled from
    published fixings by :func:`with_fixings` (empty until then)."""

    tenor: Tenor
    spread_per_year: Decimal
    currency: LendingCurrency = LendingCurrency.USD
    resets: tuple[RateReset, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tenor", Tenor(self.tenor))
        object.__setattr__(self, "currency", LendingCurrency(self.currency))
        if self.currency is not LendingCurrency.USD:
            raise RiskError(
                "risk_field", field="floating.currency", problem="a USD loan floats on usd"
            )


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months, on the month's last day when shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def reset_periods(start: dt.date, maturity: dt.date, tenor: Tenor) -> list[tuple[dt.date, dt.date]]:
    """The interest periods ``[start, end)`` from ``start`` to ``maturity``."""

    def k_th(k: int) -> dt.date:
        if tenor is Tenor.ON:
            return start + dt.timedelta(days=k)
        if tenor is Tenor.W1:
            return start + dt.timedelta(days=7 * k)
        return add_months(start, k * (1 if tenor is Tenor.M1 else 3))

    out: list[tuple[dt.date, dt.date]] = []
    k = 0
    while (begin := k_th(k)) < maturity:
        out.append((begin, min(k_th(k + 1), maturity)))
        k += 1
    return out


def with_fixings(
    floating: FloatingRate,
    *,
    start: dt.date,
    maturity: dt.date,
    fixings: Sequence[LendingFixing],
) -> FloatingRate:
    """``floating`` with its resets set from ``fixings`` (those of its currency and tenor)."""
    usable = sorted(
        (f for f in fixings if f.currency is floating.currency and f.tenor is floating.tenor),
        key=lambda f: f.date,
    )
    resets = []
    for begin, end in reset_periods(start, maturity, floating.tenor):
        fixing = next((f for f in reversed(usable) if f.date <= begin), None)
        if fixing is None:
            raise RiskError(
                "no_lending_fixing",
                currency=floating.currency.value,
                tenor=floating.tenor.value,
                when=f"on or before {begin} (the reset of the period starting then)",
            )
        rate = max(fixing.rate_per_year + floating.spread_per_year, Decimal(0))
        resets.append(
            RateReset(begin, end, fixing.date, fixing.rate_per_year, rate, fixing.inputs_sha256)
        )
    return replace(floating, resets=tuple(resets))


def period_interest_minor(principal_minor: int, rate_per_year: Decimal, days: int) -> int:
    """``principal_minor × rate × days ÷ 365`` in whole minor units, half to even, exactly."""
    rate = Fraction(rate_per_year)
    return divide_minor(
        principal_minor * days * rate.numerator,
        DAYS_PER_YEAR * rate.denominator,
        Rounding.HALF_EVEN,
    )


def principal_cents(principal_usd: float, rounding: Rounding) -> int:
    return to_minor(principal_usd, 2, rounding)


def interest_schedule(floating: FloatingRate, principal_minor: int) -> list[int]:
    """Each reset period's interest in minor units."""
    if not floating.resets:
        raise RiskError(
            "risk_field",
            field="floating",
            problem="the floating rate has no resets yet (set them from fixings first)",
        )
    return [
        period_interest_minor(principal_minor, r.rate_per_year, r.days) for r in floating.resets
    ]


def floating_claim_usd(
    floating: FloatingRate, principal_usd: float, rounding: Rounding, day: dt.date
) -> float:
    """Principal plus interest accrued to ``day``: whole periods in their exact cents, the
    running period pro rata (a mark; only whole periods are ever paid)."""
    cents = principal_cents(principal_usd, rounding)
    interest = interest_schedule(floating, cents)
    total = Fraction(cents)
    for reset, whole in zip(floating.resets, interest, strict=True):
        if day >= reset.end:
            total += whole
        elif day > reset.start:
            total += Fraction(whole * (day - reset.start).days, reset.days)
    return float(total / CENTS_PER_USD)


def floating_record(
    floating: FloatingRate, principal_usd: float, rounding: Rounding
) -> dict[str, Any]:
    """The floating terms and each period's rate and interest, for reports (rates as
    decimal strings, interest in cents)."""
    interest = interest_schedule(floating, principal_cents(principal_usd, rounding))
    return {
        "currency": floating.currency.value,
        "tenor": floating.tenor.value,
        "spread_per_year": str(floating.spread_per_year),
        "resets": [
            {
                "start": r.start.isoformat(),
                "end": r.end.isoformat(),
                "days": r.days,
                "fixing_date": r.fixing_date.isoformat(),
                "fixing_rate_per_year": str(r.fixing_rate_per_year),
                "fixing_sha256": r.fixing_sha256,
                "rate_per_year": str(r.rate_per_year),
                "interest_cents": cents,
            }
            for r, cents in zip(floating.resets, interest, strict=True)
        ],
    }
