"""The one splice of realized fixings and simulated paths (``pricing.market.with_past``)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from hashmarket.errors import PricingError
from hashmarket.instruments.fixings import Fixings
from hashmarket.pricing.market import with_past

ASOF = dt.date(2026, 1, 31)


def _days(first: dt.date, blocks: list[float], paths: int = 1) -> Fixings:
    values = np.tile(np.asarray(blocks, dtype=np.float64), (paths, 1))
    return Fixings(
        dates=np.datetime64(first, "D") + np.arange(len(blocks)),
        values={"block_count": values},
    )


# Paths start on the as-of day with the model's expected 144 blocks, then 140 and 150.
SIMULATED = _days(ASOF, [144.0, 140.0, 150.0], paths=2)


def test_the_as_of_day_is_the_realized_record_not_the_models_day_0() -> None:
    past = _days(ASOF - dt.timedelta(days=2), [139.0, 146.0, 151.0])  # 29, 30, 31 January
    spliced = with_past(SIMULATED, past, ASOF, instrument="hashprice_forward")
    assert spliced.first_date == ASOF - dt.timedelta(days=2)
    assert spliced.last_date == ASOF + dt.timedelta(days=2)
    np.testing.assert_array_equal(spliced.values["block_count"], [[139, 146, 151, 140, 150]] * 2)


def test_realized_fixings_to_the_day_before_are_followed_by_the_whole_paths() -> None:
    past = _days(ASOF - dt.timedelta(days=2), [139.0, 146.0])
    spliced = with_past(SIMULATED, past, ASOF, instrument="hashprice_forward")
    np.testing.assert_array_equal(spliced.values["block_count"], [[139, 146, 144, 140, 150]] * 2)
    assert with_past(SIMULATED, None, ASOF, instrument="hashprice_forward") is SIMULATED


def test_a_gap_before_the_as_of_day_is_refused_by_name() -> None:
    past = _days(ASOF - dt.timedelta(days=5), [139.0, 146.0])  # ends 27 January
    with pytest.raises(PricingError, match=r"hashprice_forward needs fixings .* end on 2026-01-27"):
        with_past(SIMULATED, past, ASOF, instrument="hashprice_forward")
