"""The unit and day-count constants every layer imports: their values are conventions and
consensus facts, and changing one moves published prices."""

from __future__ import annotations

from decimal import Decimal

from hashmarket.chain.consensus import TARGET_SPACING_S
from hashmarket.units import (
    BLOCKS_PER_DAY_TARGET,
    DAYS_PER_JULIAN_MONTH,
    DAYS_PER_JULIAN_YEAR,
    DAYS_PER_YEAR_ACT365,
    SECONDS_PER_DAY,
    TH_PER_PH,
)


def test_day_counts_are_the_named_conventions():
    assert DAYS_PER_YEAR_ACT365 == 365
    assert DAYS_PER_JULIAN_YEAR == 365.25
    # A twelfth of a Julian year is exact in binary, so months compound without drift.
    assert Decimal(DAYS_PER_JULIAN_MONTH) == Decimal("30.4375")


def test_the_nominal_block_rate_is_the_consensus_target():
    assert BLOCKS_PER_DAY_TARGET == SECONDS_PER_DAY / TARGET_SPACING_S == 144
    assert TH_PER_PH == 1_000 and isinstance(TH_PER_PH, int)
