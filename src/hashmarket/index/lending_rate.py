"""The crypto lending reference rate: one daily fixing per currency and tenor. See
``docs/lending-rate.md``.

Two rates are fixed: ``usd`` (USD lent against BTC collateral, amounts in cents) and ``btc``
(BTC lent, amounts in sats), each for four tenors (overnight, one week, one month, three
months). The method follows the benchmark rates that replaced interbank offered rates (SOFR's
volume-weighted median, €STR's volume trimming):

1. **eligibility** — a transaction counts for a tenor when its days to maturity fall in the
   tenor's bucket, its amount is at least the currency's minimum size, and it is at arm's
   length (the lender's owner is not the borrower's, where the data names owners);
2. **the rate** — of the eligible transactions in the window, sorted by rate, the bottom and
   top ``trim`` of the volume are cut away (the transaction on a cut split pro rata) and the
   fixing is the volume-weighted median of what is left, at a 0.00001 (0.1 bp) tick. The
   trimmed mean and the rates at the two cuts are published beside it;
3. **the waterfall** — level 1: the business day's own window (trades since the previous
   business day) has enough eligible transactions and volume; level 2: the window widened to
   the last ``window_days`` business days does; level 3: the previous fixing plus the change
   of an adjacent tenor's fixing computed from data (level 1 or 2) over the same days;
   level 4: the previous fixing republished.

Every fixing carries its level, the methodology version and the SHA-256 of the canonical JSON
of its inputs (the eligible transactions, or the fixings it was carried from, and the
parameters), as hashprice fixings do (``hashmarket.index.fixings.inputs_digest``), so anyone
can recompute it. Everything here is exact: volumes are integers of minor units and rates are
decimals, so a fixing does not depend on float rounding.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

from hashmarket.errors import UsageError

LENDING_METHODOLOGY_VERSION = "1.0"
RATE_TICK = Decimal("0.00001")  # a fraction per year: 0.1 basis point


class LendingCurrency(enum.StrEnum):
    """What is lent: US dollars (against BTC collateral) or bitcoin."""

    USD = "usd"
    BTC = "btc"

    @property
    def scale(self) -> int:
        """Decimal places of the minor unit: cents, sats."""
        return 2 if self is LendingCurrency.USD else 8


class Tenor(enum.StrEnum):
    """A fixing's tenor, shortest first (the order adjacent tenors are looked up in)."""

    ON = "on"
    W1 = "1w"
    M1 = "1m"
    M3 = "3m"


# Days from start to maturity, inclusive bounds. Overnight reaches 4 days so that a loan over
# a weekend and a holiday still counts; the others allow a few days either side of the
# calendar period for settlement conventions.
TENOR_DAYS: dict[Tenor, tuple[int, int]] = {
    Tenor.ON: (1, 4),
    Tenor.W1: (5, 10),
    Tenor.M1: (25, 35),
    Tenor.M3: (80, 100),
}

LEVEL_NAMES = {
    1: "computed",
    2: "widened window",
    3: "carried with adjacent tenor",
    4: "republished",
}


@dataclass(frozen=True, slots=True)
class LendingTransaction:
    """One loan as a rate source: ``amount_minor`` in the currency's minor unit (cents or
    sats), ``rate_per_year`` a simple annual rate as a decimal fraction (0.0525 is 5.25 %)."""

    transaction_id: str
    currency: LendingCurrency
    start: dt.date
    maturity: dt.date
    amount_minor: int
    rate_per_year: Decimal
    lender: str = ""
    borrower: str = ""
    lender_owner: str = ""  # blank: the data does not say
    borrower_owner: str = ""
    source: str = ""

    @property
    def days(self) -> int:
        return (self.maturity - self.start).days

    def canonical(self) -> list[Any]:
        """What the input hash covers: enough to recompute the fixing."""
        return [
            self.transaction_id,
            self.start.isoformat(),
            self.maturity.isoformat(),
            self.amount_minor,
            str(self.rate_per_year),
        ]


@dataclass(frozen=True)
class LendingMethodology:
    """The parameters of the rate; part of every fixing's hashed inputs."""

    trim: Decimal = Decimal("0.25")  # cut from each end of the volume
    min_amount_minor: dict[LendingCurrency, int] = field(
        default_factory=lambda: {
            LendingCurrency.USD: 1_000_000,  # $10,000.00
            LendingCurrency.BTC: 10_000_000,  # 0.1 BTC
        }
    )
    min_count: int = 5
    min_volume_minor: dict[LendingCurrency, int] = field(
        default_factory=lambda: {
            LendingCurrency.USD: 100_000_000,  # $1,000,000.00
            LendingCurrency.BTC: 2_500_000_000,  # 25 BTC
        }
    )
    window_days: int = 5  # business days of the widened window (level 2)

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.trim < Decimal("0.5"):
            raise UsageError("bad_option", option="trim", problem="must be in [0, 0.5)")
        if self.min_count < 1 or self.window_days < 2:
            raise UsageError(
                "bad_option", option="min_count", problem="needs min_count >= 1, window_days >= 2"
            )

    def parameters(self, currency: LendingCurrency) -> dict[str, Any]:
        return {
            "trim": str(self.trim),
            "min_amount_minor": self.min_amount_minor[currency],
            "min_count": self.min_count,
            "min_volume_minor": self.min_volume_minor[currency],
            "window_business_days": self.window_days,
            "tenor_days": {t.value: list(TENOR_DAYS[t]) for t in Tenor},
            "rate_tick": str(RATE_TICK),
        }


@dataclass(frozen=True, slots=True)
class LendingFixing:
    """One published value of the lending reference rate."""

    date: dt.date
    currency: LendingCurrency
    tenor: Tenor
    rate_per_year: Decimal  # at RATE_TICK
    level: int
    methodology_version: str
    n_transactions: int
    volume_minor: int
    trimmed_mean_per_year: Decimal | None
    lower_rate_per_year: Decimal | None  # the rate at the lower cut
    upper_rate_per_year: Decimal | None  # the rate at the upper cut
    window_first: dt.date | None  # the trade dates of the window (levels 1 and 2)
    window_last: dt.date | None
    inputs: dict[str, Any]
    inputs_sha256: str

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]

    def to_dict(self) -> dict[str, Any]:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "date": self.date.isoformat(),
            "currency": self.currency.value,
            "tenor": self.tenor.value,
            "rate_per_year": str(self.rate_per_year),
            "level": self.level,
            "level_name": self.level_name,
            "methodology_version": self.methodology_version,
            "n_transactions": self.n_transactions,
            "volume_minor": self.volume_minor,
            "trimmed_mean_per_year": text(self.trimmed_mean_per_year),
            "lower_rate_per_year": text(self.lower_rate_per_year),
            "upper_rate_per_year": text(self.upper_rate_per_year),
            "window_first": None if self.window_first is None else self.window_first.isoformat(),
            "window_last": None if self.window_last is None else self.window_last.isoformat(),
            "inputs": self.inputs,
            "inputs_sha256": self.inputs_sha256,
        }


# ---- eligibility ---------------------------------------------------------------------------


def tenor_of(days: int) -> Tenor | None:
    """The tenor bucket of a loan of ``days`` days to maturity (None: no bucket)."""
    for tenor, (low, high) in TENOR_DAYS.items():
        if low <= days <= high:
            return tenor
    return None


def ineligibility(t: LendingTransaction, methodology: LendingMethodology) -> str | None:
    """Why ``t`` does not count, or None when it does."""
    if tenor_of(t.days) is None:
        return f"{t.days} days to maturity is in no tenor bucket"
    if t.amount_minor < methodology.min_amount_minor[t.currency]:
        return "below the minimum size"
    if t.lender_owner and t.lender_owner == t.borrower_owner:
        return f"not at arm's length (lender and borrower both owned by {t.lender_owner!r})"
    return None


# ---- the volume-weighted trimmed median ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrimmedStatistics:
    """The weighted distribution of one window's rates after trimming."""

    median: Decimal
    trimmed_mean: Decimal
    lower: Decimal
    upper: Decimal


def _quantile(ordered: Sequence[tuple[Decimal, int]], total: int, q: Fraction) -> Decimal:
    """The first rate whose cumulative volume reaches ``q`` of the total."""
    target = q * total
    cumulative = 0
    for rate, volume in ordered:
        cumulative += volume
        if cumulative >= target:
            return rate
    return ordered[-1][0]


def trimmed_statistics(
    rates_and_volumes: Iterable[tuple[Decimal, int]], trim: Decimal
) -> TrimmedStatistics:
    """Volume-weighted trimmed median (and mean) of ``(rate, volume)`` pairs.

    Sorted by rate, with cumulative volumes c₁ < … < cₙ = V, the volume in [t·V, (1−t)·V] is
    kept (a transaction straddling a cut keeps its part inside). The median of what is kept
    is the first rate whose cumulative volume reaches V/2; when it lands exactly on V/2 the
    midpoint of that rate and the next (so equal volumes give the ordinary median). A
    symmetric cut keeps V/2 where it was, so the median is the whole window's weighted
    median: what the cut changes is the mean, which the tails no longer move, and the two
    rates at the cuts, published as the window's range.
    """
    ordered = sorted(rates_and_volumes)
    if not ordered or any(v <= 0 for _, v in ordered):
        raise ValueError("trimmed statistics need transactions with positive volumes")
    total = sum(v for _, v in ordered)
    t = Fraction(trim)
    low, high = t * total, (1 - t) * total
    kept_sum, kept_volume = Fraction(0), Fraction(0)
    cumulative = 0
    median: Decimal | None = None
    for i, (rate, volume) in enumerate(ordered):
        before, cumulative = cumulative, cumulative + volume
        kept = max(Fraction(0), min(Fraction(cumulative), high) - max(Fraction(before), low))
        kept_sum += kept * Fraction(rate)
        kept_volume += kept
        if median is None and 2 * cumulative >= total:
            if 2 * cumulative == total and i + 1 < len(ordered):
                median = (rate + ordered[i + 1][0]) / 2
            else:
                median = rate
    assert median is not None
    mean = kept_sum / kept_volume if kept_volume else Fraction(median)
    return TrimmedStatistics(
        median=median,
        trimmed_mean=to_tick(mean),
        lower=_quantile(ordered, total, t) if t else ordered[0][0],
        upper=_quantile(ordered, total, 1 - t),
    )


def to_tick(value: Decimal | Fraction) -> Decimal:
    """``value`` at the rate tick, half to even, exactly (no intermediate rounding)."""
    if isinstance(value, Decimal):
        return value.quantize(RATE_TICK, rounding=ROUND_HALF_EVEN)
    ticks = round(value / Fraction(RATE_TICK))  # Fraction rounds half to even
    return Decimal(ticks).scaleb(RATE_TICK.as_tuple().exponent)  # type: ignore[arg-type]
