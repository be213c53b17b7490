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


def test_time_and_currency_factors_are_exact_integers():
    from hashmarket import money, units
    from hashmarket.ledger import model
    from hashmarket.market import products

    assert units.NS_PER_S == 10**9 and units.NS_PER_MINUTE == 60 * 10**9
    assert units.SECONDS_PER_HOUR == units.SECONDS_PER_MINUTE * units.MINUTES_PER_HOUR == 3_600
    assert units.SECONDS_PER_DAY == units.HOURS_PER_DAY * units.SECONDS_PER_HOUR
    assert units.CENTS_PER_USD == 100
    # The names other layers import are the same factors, not copies that could drift.
    assert model.NS_PER_S is units.NS_PER_S and products.NS_PER_S is units.NS_PER_S
    assert products.S_PER_DAY == units.SECONDS_PER_DAY and products.S_PER_HOUR == 3_600
    assert money.HASHES_PER_THS_S == units.HASHES_PER_TH == 10**12
    assert money.THS_S_PER_PH_DAY == 86_400_000
    for factor in (
        units.NS_PER_S,
        units.NS_PER_MINUTE,
        units.CENTS_PER_USD,
        units.SECONDS_PER_HOUR,
    ):
        assert type(factor) is int
