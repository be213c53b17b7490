"""Money: amounts to integer minor units with a named rounding rule, and derived ids.

Models and pricing work in floats; anything the ledger moves is an integer in the asset's
smallest unit (``10**-scale`` of a USD, a BTC, a token). This module is the one place where
an amount becomes such an integer, and every caller names the rule it rounds by
(:class:`Rounding`), so the rule is part of the terms rather than an accident of the code.

* A float is read as the shortest decimal that round-trips it (``repr``): ``0.1`` is
  ``Decimal("0.1")``, not ``0.1000000000000000055511151231257827…``. Decimal, int and
  decimal strings are taken as they are. NaN and infinities are refused.
* All arithmetic runs in :data:`DECIMAL`, a fixed 50-digit context, so results are exact for
  any amount the ledger can hold and do not depend on the thread's default context.
* :func:`delivered_ths_s` and :func:`hashpower_value_sats` are the one rule by which
  delivered hashpower is paid, by the exchange's contracts and by standalone delivery alike.
* :func:`derived_id` is the one recipe for deterministic ledger ids (transfers, accounts):
  replaying the step that made an id names the same id, so the ledger applies it once.

Importable from every layer, like :mod:`hashmarket.units`.
"""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Iterable
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    InvalidOperation,
)
from fractions import Fraction

from hashmarket.units import HASHES_PER_TH, SECONDS_PER_DAY, TH_PER_PH

__all__ = [
    "DECIMAL",
    "FLOAT_NOISE_MINOR",
    "ID_MAX",
    "Rounding",
    "cumulative_minor",
    "derived_id",
    "divide_minor",
    "exact",
    "exact_decimal",
    "exact_minor",
    "hashpower_value_sats_exact",
    "round_minor",
    "to_minor",
]

# 50 significant digits: a 2**63 minor-unit amount (19 digits) with 18 decimals and room to
# spare, the same on every machine and in every thread.
DECIMAL = Context(prec=50)
# Below this fraction of a minor unit a payoff's float is binary noise, not money:
# ``(95.37 - 90) * 10`` is ``53.69999999999999``.
FLOAT_NOISE_MINOR = Decimal("0.0001")
# Ids are positive signed 64-bit integers (the ledger's id range is 1 … 2**63 - 1).
ID_MAX = 2**63 - 1


class Rounding(enum.StrEnum):
    """How an exact amount becomes a whole number of minor units.

    ``DOWN`` and ``UP`` are towards −∞ and +∞ (floor and ceiling), so a payer rounded ``UP``
    never pays less than the exact amount, whatever its sign. ``HALF_UP`` breaks ties away
    from zero; ``HALF_EVEN`` to the even neighbour. ``CUMULATIVE_HALF_EVEN`` is for a stream
    of amounts (a contract's days): the running exact sum is rounded half to even and each
    amount pays the change in the rounded sum, carrying the remainder (see
    :func:`cumulative_minor`); applied to one amount it is ``HALF_EVEN``.
    """

    DOWN = "down"
    UP = "up"
    HALF_EVEN = "half_even"
    HALF_UP = "half_up"
    CUMULATIVE_HALF_EVEN = "cumulative_half_even"

    @property
    def decimal_mode(self) -> str:
        """The :mod:`decimal` rounding constant this rule rounds each figure with."""
        return _DECIMAL_MODES[self]

    @property
    def cumulative(self) -> bool:
        """Whether the rule rounds a running sum and carries the remainder."""
        return self is Rounding.CUMULATIVE_HALF_EVEN


_DECIMAL_MODES = {
    Rounding.DOWN: ROUND_FLOOR,
    Rounding.UP: ROUND_CEILING,
    Rounding.HALF_EVEN: ROUND_HALF_EVEN,
    Rounding.HALF_UP: ROUND_HALF_UP,
    Rounding.CUMULATIVE_HALF_EVEN: ROUND_HALF_EVEN,
}


def exact(amount: float | int | str | Decimal) -> Decimal:
    """``amount`` as an exact Decimal: a float by its shortest round-trip digits (``repr``),
    anything else as written. Raises :class:`ValueError` for NaN, infinities and text that
    is not a number."""
    if isinstance(amount, bool):
        raise ValueError(f"an amount must be a number, not {amount!r}")
    try:
        # float() first: a NumPy float's repr is not its digits alone.
        value = Decimal(repr(float(amount))) if isinstance(amount, float) else Decimal(amount)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a decimal amount: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"an amount is not finite: {amount!r}")
    return value


def exact_minor(
    amount: float | int | str | Decimal, scale: int, *, noise_minor: Decimal | None = None
) -> Decimal:
    """``amount`` in minor units of ``10**-scale``, exactly (no rounding to a whole unit).

    With ``noise_minor`` the result is snapped (half to even) to that fraction of a minor
    unit, which removes a float's binary noise without moving any real amount."""
    value = exact(amount).scaleb(scale, DECIMAL)
    if noise_minor is not None:
        value = value.quantize(noise_minor, rounding=ROUND_HALF_EVEN, context=DECIMAL)
    return value


def round_minor(amount_minor: Decimal, rounding: Rounding) -> int:
    """An exact amount of minor units rounded to a whole number by ``rounding``."""
    return int(amount_minor.to_integral_value(rounding=rounding.decimal_mode, context=DECIMAL))


def to_minor(amount: float | int | str | Decimal, scale: int, rounding: Rounding) -> int:
    """``amount`` (in whole currency units) as an integer of ``10**-scale`` units, rounded
    by ``rounding``: ``to_minor(0.125, 2, Rounding.HALF_EVEN) == 12``."""
    return round_minor(exact_minor(amount, scale), rounding)


def divide_minor(numerator: int, denominator: int, rounding: Rounding) -> int:
    """``numerator ÷ denominator`` (integers, e.g. a notional × a rate in parts per million
    over a million) as a whole number of minor units, rounded by ``rounding``, in integer
    arithmetic: exact for integers of any size. ``CUMULATIVE_HALF_EVEN`` applied to one
    quotient is ``HALF_EVEN``. Raises :class:`ZeroDivisionError` for a zero denominator."""
    if denominator == 0:
        raise ZeroDivisionError(f"{numerator} / 0 is not an amount")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    quotient, remainder = divmod(numerator, denominator)  # floor, 0 <= remainder < denominator
    if remainder == 0 or rounding is Rounding.DOWN:
        return quotient
    if rounding is Rounding.UP:
        return quotient + 1
    twice = 2 * remainder
    if twice != denominator:
        return quotient + (twice > denominator)
    # A tie: quotient + ½ exactly.
    if rounding is Rounding.HALF_UP:
        return quotient + (quotient >= 0)  # away from zero
    return quotient + (quotient % 2)  # to the even neighbour


def exact_decimal(value: Fraction) -> Decimal:
    """An exact quotient as a :data:`DECIMAL` figure: exact when it has at most 50
    significant digits, else rounded half to even at the 50th (far below a minor unit for
    any amount the ledger holds). For reporting what a rounding left over, never for an
    amount booked."""
    return DECIMAL.divide(Decimal(value.numerator), Decimal(value.denominator))


def cumulative_minor(
    amounts: Iterable[float | int | str | Decimal],
    scale: int,
    *,
    carried: Decimal = Decimal(0),
    rounding: Rounding = Rounding.CUMULATIVE_HALF_EVEN,
    noise_minor: Decimal | None = FLOAT_NOISE_MINOR,
) -> tuple[int, Decimal]:
    """A stream of amounts rounded once as a whole: ``(rounded, remainder)``.

    ``carried`` is the exact running sum, in minor units, of the amounts before these. Each
    amount is read exactly (snapped to ``noise_minor``), added to the running sum, and the
    sum is rounded by ``rounding``. ``remainder`` is exact − rounded; for the half-even rules
    it is at most half a unit either way. The caller pays the difference between this
    rounded sum and the previous one, so the total paid is always the whole stream rounded
    once and nothing is dropped.
    """
    total = carried
    for amount in amounts:
        total = DECIMAL.add(total, exact_minor(amount, scale, noise_minor=noise_minor))
    rounded = round_minor(total, rounding)
    return rounded, DECIMAL.subtract(total, Decimal(rounded))


# A PH/s for a day is 1,000 TH/s × 86,400 s of hashing.
THS_S_PER_PH_DAY = TH_PER_PH * SECONDS_PER_DAY  # 86,400,000
HASHES_PER_THS_S = HASHES_PER_TH  # a TH·s is 10¹² hashes


def delivered_ths_s(work_hashes: Fraction | int) -> int:
    """A running total of delivered work in whole TH·s (10¹² hashes), rounded down: the unit
    in which delivered hashpower is counted for payment. What is under one TH·s is not lost:
    the next total counts it, because the rule is applied to running totals only."""
    return math.floor(Fraction(work_hashes) / HASHES_PER_THS_S)


def hashpower_value_sats_exact(price_sats_per_ph_day: int, work_hashes: Fraction | int) -> Fraction:
    """What ``work_hashes`` of delivered work is worth at ``price_sats_per_ph_day``, in sats,
    exactly (unrounded; 1 PH/s for a day is 8.64 × 10¹⁹ hashes)."""
    return Fraction(work_hashes) * price_sats_per_ph_day / (THS_S_PER_PH_DAY * HASHES_PER_THS_S)


def hashpower_value_sats(
    price_sats_per_ph_day: int, delivered_ths_s: int, rounding: Rounding = Rounding.DOWN
) -> int:
    """What ``delivered_ths_s`` of hashing is worth at ``price_sats_per_ph_day``, in whole
    sats: ``price × delivered ÷ 86,400,000`` rounded by ``rounding`` (``DOWN`` by default,
    which never pays a fraction of a sat for work not yet delivered). Applied to a contract's
    running total, so the sum of its payments is the whole delivery's value rounded once."""
    amount = price_sats_per_ph_day * delivered_ths_s
    if rounding is Rounding.DOWN and amount >= 0:
        return amount // THS_S_PER_PH_DAY
    exact_sats = DECIMAL.divide(Decimal(amount), Decimal(THS_S_PER_PH_DAY))
    return round_minor(exact_sats, rounding)


def derived_id(domain: str, *parts: str | int, separator: str = "\x00") -> int:
    """A positive 63-bit id: the first 8 bytes of SHA-256 of ``domain`` and ``parts``
    joined by ``separator``, masked to 63 bits (0 becomes 1).

    Deterministic, so running the same step again names the same transfer or account and
    the ledger applies it at most once. ``domain`` keeps ids of different uses apart; use a
    separator that cannot occur in a part, or ``("ab", "c")`` and ``("a", "bc")`` collide
    with an empty one. A clash with an id chosen otherwise is refused by the ledger, not
    merged."""
    message = separator.join((domain, *(str(p) for p in parts)))
    digest = hashlib.sha256(message.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ID_MAX or 1
