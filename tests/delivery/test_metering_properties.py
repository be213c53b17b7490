"""Metering pays exactly: whatever the shares and intervals, the total paid is the delivered
work, counted in whole TH·s, times the price, rounded down once, capped at the budget (the
exchange's rule, ``hashmarket.money.hashpower_value_sats``), and no interval pays a negative
amount or more than its work is worth plus the carried remainder."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from hashmarket.delivery import Meter
from hashmarket.delivery.contract import HASHES_PER_PH_DAY
from tests.delivery.endpoint import contract

DIFFICULTIES = [Fraction(1, 2**20), Fraction(1), Fraction(3), Fraction(2**16), Fraction(2**32)]

intervals = st.lists(
    st.lists(st.tuples(st.sampled_from(DIFFICULTIES), st.integers(0, 5_000)), max_size=4),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(
    intervals=intervals,
    price=st.integers(1, 10**10),
    budget=st.integers(1, 10**9),
)
def test_paid_total_is_the_value_rounded_down_once(
    intervals: list[list[tuple[Fraction, int]]], price: int, budget: int
) -> None:
    terms = contract("prop", price_sats_per_ph_day=price, budget_sats=budget)
    meter = Meter(terms, interval_start_s=terms.start_s)
    work = Fraction(0)
    paid = 0
    for i, shares in enumerate(intervals):
        for difficulty, count in shares:
            meter.credit(difficulty, count)
            work += difficulty * count * 2**32
        record = meter.close(terms.start_s + 600 * (i + 1))
        assert record.paid_sats >= 0
        paid += record.paid_sats
        value = work * price / HASHES_PER_PH_DAY
        counted_ths_s = math.floor(work / 10**12)
        assert paid == record.paid_total_sats == min(price * counted_ths_s // 86_400_000, budget)
        # What the uncounted part (under one TH·s) and the rounding leave unpaid:
        assert paid == budget or 0 <= value - paid < 1 + Fraction(price, 86_400_000)
        assert record.budget_left_sats == budget - paid
        if paid < budget:  # the carried remainder: exact to 50 significant digits
            assert abs(Fraction(record.remainder_sats) - (value - paid)) < Fraction(1, 10**30)
    assert meter.work_total_hashes == work
