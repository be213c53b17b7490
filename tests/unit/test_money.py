"""The one conversion of amounts to integer minor units, its named rounding rules, and the
one recipe for derived ids."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from hashmarket.money import (
    ID_MAX,
    Rounding,
    cumulative_minor,
    derived_id,
    divide_minor,
    exact,
    exact_decimal,
    exact_minor,
    hashpower_value_sats_exact,
    round_minor,
    to_minor,
)

# -- reading amounts exactly ----------------------------------------------------------------


def test_a_float_is_read_as_its_shortest_decimal():
    assert exact(0.1) == Decimal("0.1")
    assert exact(np.float64(0.1)) == Decimal("0.1")
    assert exact(7) == Decimal(7) and exact("2.50") == Decimal("2.50")
    assert exact_minor(0.1 + 0.2, 8) == Decimal("30000000.000000004")
    assert exact_minor((95.37 - 90.0) * 10, 2, noise_minor=Decimal("0.0001")) == Decimal(5370)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (float("nan"), "not finite"),
        (float("inf"), "not finite"),
        (float("-inf"), "not finite"),
        ("x", "not a decimal amount"),
        (True, "must be a number"),
    ],
)
def test_what_is_not_a_finite_number_is_refused(bad: object, message: str):
    with pytest.raises(ValueError, match=message):
        exact(bad)  # type: ignore[arg-type]


# -- the named rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rule", "minor"),
    [
        (0.125, Rounding.DOWN, 12),
        (0.125, Rounding.UP, 13),
        (0.125, Rounding.HALF_EVEN, 12),
        (0.125, Rounding.HALF_UP, 13),
        (0.125, Rounding.CUMULATIVE_HALF_EVEN, 12),
        (0.135, Rounding.HALF_EVEN, 14),
        # Down and up are floor and ceiling: a payer rounded up never pays less.
        (-0.125, Rounding.DOWN, -13),
        (-0.125, Rounding.UP, -12),
        (-0.125, Rounding.HALF_EVEN, -12),
        (-0.125, Rounding.HALF_UP, -13),
        # 2.675 is 2.67499999999999982236431605997495353221893310546875 as a binary float;
        # read as its decimal 2.675 it is a tie.
        (2.675, Rounding.HALF_UP, 268),
        (2.675, Rounding.HALF_EVEN, 268),
        (2.665, Rounding.HALF_EVEN, 266),
    ],
)
def test_each_rule_rounds_as_named(amount: float, rule: Rounding, minor: int):
    assert to_minor(amount, 2, rule) == minor


def test_a_float_sum_is_not_rounded_up_a_whole_unit_by_its_noise_only_when_asked():
    # 0.1 + 0.2 is 0.30000000000000004: rounding up without a noise snap takes the extra sat.
    assert to_minor(0.1 + 0.2, 8, Rounding.UP) == 30_000_001
    assert to_minor(0.1 + 0.2, 8, Rounding.DOWN) == 30_000_000
    assert to_minor(Decimal("0.3"), 8, Rounding.UP) == 30_000_000


def test_decimal_amounts_round_exactly_at_any_size():
    huge = Decimal("9223372036854775806.5")  # 2**63 - 1.5: beyond a float's 53 bits
    assert round_minor(huge, Rounding.DOWN) == 2**63 - 2
    assert round_minor(huge, Rounding.UP) == 2**63 - 1
    assert round_minor(huge, Rounding.HALF_EVEN) == 2**63 - 2
    assert to_minor(Decimal("1e-18"), 18, Rounding.HALF_EVEN) == 1


def test_rules_name_their_decimal_mode():
    assert Rounding("cumulative_half_even").cumulative
    assert not Rounding.HALF_EVEN.cumulative
    assert Rounding.DOWN.decimal_mode == "ROUND_FLOOR"
    assert Rounding.UP.decimal_mode == "ROUND_CEILING"


# -- the cumulative rule ----------------------------------------------------------------------


def test_amounts_round_half_to_even_on_the_minor_unit():
    assert cumulative_minor([0.125], 2) == (12, Decimal("0.5"))
    assert cumulative_minor([0.135], 2) == (14, Decimal("-0.5"))
    assert cumulative_minor([-0.125], 2) == (-12, Decimal("-0.5"))
    assert cumulative_minor([0.000000015], 8) == (2, Decimal("-0.5"))
    assert cumulative_minor([0.000000025], 8) == (2, Decimal("0.5"))


def test_float_noise_of_a_payoff_is_not_money():
    # (95.37 − 90) × 10 is 53.69999999999999 in binary floating point: $53.70.
    assert (95.37 - 90.0) * 10 != 53.7
    assert cumulative_minor([(95.37 - 90.0) * 10], 2)[0] == 5_370
    # An exact half cent computed with noise still rounds as the half it is.
    half = (78.13 - 78.12) * 2.5
    assert half != 0.025
    assert cumulative_minor([half], 2) == (2, Decimal("0.5"))
    assert cumulative_minor([0.1 + 0.2], 2) == (30, Decimal(0))


def test_the_cumulative_sum_is_rounded_once_and_the_remainder_carried():
    due, remainder = cumulative_minor([0.333, 0.333, 0.333], 2)
    assert (due, remainder) == (100, Decimal("-0.1"))
    # Day by day, carrying the exact cumulative: 33, then 67 (a 34-cent day), then 100.
    carried, paid = Decimal(0), []
    previous = 0
    for amount in (0.333, 0.333, 0.333):
        cumulative, left = cumulative_minor([amount], 2, carried=carried)
        paid.append(cumulative - previous)
        previous, carried = cumulative, cumulative + left
    assert paid == [33, 34, 33] and sum(paid) == due


def test_a_payoff_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError, match="not finite"):
        cumulative_minor([float("nan")], 2)
    with pytest.raises(ValueError, match="not finite"):
        cumulative_minor([float("inf")], 8)


# -- derived ids ----------------------------------------------------------------------------


def test_derived_ids_are_sha256_of_the_domain_and_parts():
    message = "hashmarket/loan/L1/pledge/2"
    digest = hashlib.sha256(message.encode()).digest()
    expected = int.from_bytes(digest[:8], "big") & ID_MAX
    assert derived_id("hashmarket/loan", "L1", "pledge", 2, separator="/") == expected
    # Pinned: these ids are in ledgers already written, so the recipe must never change.
    assert derived_id("hashmarket/loan", "L1", "pledge", 2, separator="/") == (
        5_166_919_972_676_275_666
    )
    assert derived_id("hashmarket settlement v1", "escrow", "USD") == 5_776_102_369_168_061_751


def test_derived_ids_are_deterministic_positive_63_bit_and_distinct():
    ids = {derived_id("d", "K1", "margin", party) for party in ("buyer", "seller")}
    ids |= {derived_id("d", "K2", "margin", "buyer"), derived_id("e", "K1", "margin", "buyer")}
    assert len(ids) == 4
    assert all(0 < i <= ID_MAX for i in ids)
    assert derived_id("d", "K1") == derived_id("d", "K1")
    # Parts are separated: ("ab", "c") and ("a", "bc") are different steps.
    assert derived_id("d", "ab", "c") != derived_id("d", "a", "bc")


def test_hashpower_is_paid_on_whole_ths_of_the_running_total() -> None:
    from fractions import Fraction

    from hashmarket.money import delivered_ths_s, hashpower_value_sats

    # 2⁴⁸ hashes = 281.474976710656 TH·s: 281 counted, the rest carried in the total.
    assert delivered_ths_s(2**48) == 281
    assert delivered_ths_s(Fraction(10**12 - 1)) == 0 and delivered_ths_s(10**12) == 1
    # 45,000 sats per PH/s·day for 1 PH/s over one hour: 3,600,000 TH·s → 1,875 sats exactly.
    assert hashpower_value_sats(45_000, 3_600_000) == 1_875
    # 1 TH·s at 86,400,001 sats per PH/s·day is worth 1.0000000116 sats.
    assert hashpower_value_sats(86_400_001, 1) == 1
    assert hashpower_value_sats(86_400_001, 1, Rounding.UP) == 2
    # 43,200,000 × 1 ÷ 86,400,000 = ½: half-even gives 0, half-up 1.
    assert hashpower_value_sats(43_200_000, 1, Rounding.HALF_EVEN) == 0
    assert hashpower_value_sats(43_200_000, 1, Rounding.HALF_UP) == 1


# (numerator, denominator) -> quotient under DOWN, UP, HALF_EVEN, HALF_UP, worked by hand.
_QUOTIENTS = [
    ((7, 2), (3, 4, 4, 4)),  # 3.5: a tie, 4 is even and away from zero
    ((5, 2), (2, 3, 2, 3)),  # 2.5: a tie, 2 is even
    ((-5, 2), (-3, -2, -2, -3)),  # -2.5: floor -3, ceiling -2, even -2, away from zero -3
    ((-7, 2), (-4, -3, -4, -4)),  # -3.5
    ((5, -2), (-3, -2, -2, -3)),  # the sign of the denominator counts too
    ((10, 3), (3, 4, 3, 3)),  # 3.33…
    ((-10, 3), (-4, -3, -3, -3)),  # -3.33…
    ((20, 3), (6, 7, 7, 7)),  # 6.66…
    ((6, 3), (2, 2, 2, 2)),  # exact: no rule moves it
    ((0, 7), (0, 0, 0, 0)),
    ((1, 1_000_000), (0, 1, 0, 0)),  # a fee of one part per million of one unit
    ((999_999, 1_000_000), (0, 1, 1, 1)),
    ((1, 2), (0, 1, 0, 1)),  # 0.5
    ((-1, 2), (-1, 0, 0, -1)),  # -0.5
    ((2**63 * 3 + 1, 2), (2**62 * 3, 2**62 * 3 + 1, 2**62 * 3, 2**62 * 3 + 1)),  # beyond int64
]


@pytest.mark.parametrize(("fraction", "expected"), _QUOTIENTS)
def test_divide_minor_rounds_an_integer_quotient_as_named(
    fraction: tuple[int, int], expected: tuple[int, int, int, int]
) -> None:
    numerator, denominator = fraction
    rules = (Rounding.DOWN, Rounding.UP, Rounding.HALF_EVEN, Rounding.HALF_UP)
    got = tuple(divide_minor(numerator, denominator, rule) for rule in rules)
    assert got == expected
    # The one-amount reading of the cumulative rule is half to even.
    assert divide_minor(numerator, denominator, Rounding.CUMULATIVE_HALF_EVEN) == expected[2]


def test_divide_minor_agrees_with_decimal_rounding_and_refuses_zero() -> None:
    for numerator in range(-41, 42):
        for denominator in (-8, -3, -2, 1, 2, 3, 8):
            exact_minor_units = Decimal(numerator) / Decimal(denominator)
            for rule in Rounding:
                assert divide_minor(numerator, denominator, rule) == round_minor(
                    exact_minor_units, rule
                ), (numerator, denominator, rule)
    with pytest.raises(ZeroDivisionError):
        divide_minor(1, 0, Rounding.UP)


def test_exact_hashpower_value_and_its_decimal() -> None:
    # 1 PH/s for a day is 8.64e19 hashes: at 50,000 sats per PH-day, half a PH-day is 25,000.
    assert hashpower_value_sats_exact(50_000, 432 * 10**17) == 25_000
    third = hashpower_value_sats_exact(1, 288 * 10**17)  # a third of a PH-day at 1 sat
    assert third == Fraction(1, 3)
    assert exact_decimal(third) == Decimal("0." + "3" * 50)
