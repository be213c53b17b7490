"""The as-of resolver, and the curve's day 0 against the published fixing of that day."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache

import numpy as np
import pandas as pd
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.chain.sources.bundled import load_epochs
from hashmarket.errors import DataError, UsageError
from hashmarket.index.asof import STALE_AFTER_DAYS, resolve_asof
from hashmarket.index.fixings import TICK, day_fixings
from hashmarket.index.hashprice import hashprice_table
from hashmarket.models.calibrate import calibrate, default_asof
from hashmarket.models.scenarios import ScenarioConfig, Scenarios
from hashmarket.pricing.curves import quote_month
from hashmarket.pricing.result import MonteCarloConfig
from hashmarket.pricing.valuation import ValuationSetup, forward_curve

# Days present in the bundled data before and after it is extended: a complete day in July
# 2020 and a retarget day (2023-04-20: epoch 390 began at 09:57 UTC). Days without fee data
# come from the commercial-use history: with every source, fees reach as far as prices.
COMPLETE_DAY = dt.date(2020, 7, 15)
RETARGET_DAY = dt.date(2023, 4, 20)


@cache
def history(*, commercial: bool = False) -> NetworkHistory:
    return NetworkHistory.load(include_noncommercial=not commercial)


@cache
def table(*, commercial: bool = False) -> pd.DataFrame:
    return hashprice_table(history(commercial=commercial))


def complete_mask(*, commercial: bool = False) -> np.ndarray:
    t = table(commercial=commercial)
    return (t["hashprice_usd_per_ph_day"].notna() & t["fees_included"]).to_numpy()


def _gap_day() -> dt.date:
    """The first day of 2022 whose commercial-use index value has no fees (the node statistics
    cover 2021-04-22..2021-09-10 and 2023-02-15..2023-04-20 around it)."""
    t = table(commercial=True)
    gaps = t.index[
        t["hashprice_usd_per_ph_day"].notna().to_numpy() & ~complete_mask(commercial=True)
    ]
    return next(d.date() for d in gaps if d.year == 2022)


def test_default_is_the_last_complete_index_day() -> None:
    asof = resolve_asof(history())
    days = table().index[complete_mask()]
    assert asof.date == days[-1].date() == asof.last_complete
    assert asof.complete
    row = table().loc[pd.Timestamp(asof.date)]
    assert row["fees_included"] and row["price_usd"] > 0
    assert default_asof(history()) == asof.date
    assert asof.staleness_days is None and not asof.stale


def test_subsidy_only_days_only_when_asked_for() -> None:
    valued = table().index[table()["hashprice_usd_per_ph_day"].notna().to_numpy()]
    loose = resolve_asof(history(), allow_subsidy_only=True)
    assert loose.date == valued[-1].date() >= resolve_asof(history()).date
    assert loose.complete == bool(table().at[valued[-1], "fees_included"])


def test_a_later_date_is_refused_naming_the_last_supported_day() -> None:
    last = resolve_asof(history()).date
    with pytest.raises(DataError, match=f"the data supports days up to {last}"):
        resolve_asof(history(), requested=last + dt.timedelta(days=1))
    assert resolve_asof(history(), requested=RETARGET_DAY).date == RETARGET_DAY


def test_a_day_without_fees_is_refused_unless_subsidy_only_is_allowed() -> None:
    t, mask, commercial = (
        table(commercial=True),
        complete_mask(commercial=True),
        history(commercial=True),
    )
    gap = _gap_day()
    assert gap < resolve_asof(commercial).date
    earlier = t.index[mask & (t.index < pd.Timestamp(gap))][-1].date()
    assert earlier == dt.date(2021, 9, 10)  # the last day of the node statistics' 2021 run
    with pytest.raises(DataError, match=f"the last earlier day with one is {earlier}"):
        resolve_asof(commercial, requested=gap)
    loose = resolve_asof(commercial, requested=gap, allow_subsidy_only=True)
    assert loose.date == gap and not loose.complete


def test_staleness_against_today_and_the_warning_line() -> None:
    asof = resolve_asof(history())
    fresh = resolve_asof(history(), today=asof.date + dt.timedelta(days=STALE_AFTER_DAYS))
    assert fresh.staleness_days == STALE_AFTER_DAYS and fresh.stale_warning() is None
    old = resolve_asof(history(), today=asof.date + dt.timedelta(days=40))
    assert old.stale and old.staleness_days == 40
    assert old.stale_warning() == (
        f"data as of {asof.date} (40 days old): run `hashmarket data sync`"
    )


def test_coverage_names_first_and_last_day_per_field() -> None:
    asof = resolve_asof(history())
    expected = history().coverage()
    for field in ("difficulty", "fees_btc", "block_count", "price_usd"):
        c = asof.coverage_of(field)
        assert (c.first, c.last) == (expected.at[field, "first"], expected.at[field, "last"])
    body = asof.to_dict()
    assert body["asof"] == asof.date.isoformat() and set(body["coverage"]) == {
        "difficulty",
        "fees_btc",
        "block_count",
        "price_usd",
    }


@pytest.mark.parametrize("day", [COMPLETE_DAY, RETARGET_DAY, None, "gap"])
def test_curve_day_zero_is_the_fixing_of_the_asof_day(day: dt.date | str | None) -> None:
    """The curve's spot, and row 0 of every simulated path, equal the published fixing of the
    as-of day to the tick: on a complete day, on a retarget day (the state's difficulty is the
    new epoch's, the fixing's the day's) and on a day without fee data (the model's fee state
    is an estimate)."""
    data = history(commercial=day == "gap")
    asof = _gap_day() if day == "gap" else resolve_asof(data).date if day is None else day
    assert isinstance(asof, dt.date)
    calibration = calibrate(data, asof=asof)
    curve = forward_curve(
        calibration=calibration,
        setup=ValuationSetup(asof=asof),
        months=1,
        config=MonteCarloConfig(n_paths=64, seed=1, workers=1),
    )
    btc, usd = day_fixings(data, asof)
    assert Decimal(repr(curve.spot)).quantize(TICK["usd"], rounding=ROUND_HALF_EVEN) == usd.value
    scenarios = Scenarios(
        calibration.model, calibration.state, 3, ScenarioConfig(n_paths=8, seed=2)
    ).materialize()
    day0 = scenarios.field("hashprice_btc_per_ph_day")[:, 0]
    assert {Decimal(repr(float(v))).quantize(TICK["btc"]) for v in day0} == {btc.value}


def _largest_retarget_since_2020() -> tuple[dt.date, int]:
    """The start day and row of the dated epoch since 2020 whose difficulty moved most."""
    epochs = load_epochs()
    rows = epochs.dated_rows()
    since = int(pd.Timestamp("2020-01-01").timestamp())
    rows = rows[(rows > 0) & (epochs.start_time_s[rows] >= since)]
    step = np.abs(np.log(epochs.difficulty[rows] / epochs.difficulty[rows - 1]))
    row = int(rows[np.argmax(step)])
    return pd.Timestamp(int(epochs.start_time_s[row]), unit="s").date(), row


def test_the_fixing_differs_from_the_state_value_where_the_anchor_matters() -> None:
    """On a retarget day the state's own FPPS value (new difficulty) is not the fixing (the
    day's difficulty). The largest retarget since 2020 is 2021-07-03 (epoch 342, −28 %)."""
    day, row = _largest_retarget_since_2020()
    assert day == dt.date(2021, 7, 3)
    state = calibrate(history(), asof=day).state
    assert state.difficulty == float(load_epochs().difficulty[row])
    assert state.difficulty < 0.95 * float(history().frame.at[pd.Timestamp(day), "difficulty"])
    recomputed = state.__class__(
        **{**{f: getattr(state, f) for f in state.__slots__}, "fixing_btc_per_ph_day": None}
    )
    _, usd = day_fixings(history(), day)
    assert abs(recomputed.hashprice_usd_per_ph_day / float(usd.value) - 1) > 0.05
    assert state.hashprice_usd_per_ph_day == pytest.approx(float(usd.value), abs=0.005)


def test_height_stays_inside_an_epoch_whose_end_is_known() -> None:
    """2025-01-11: epoch 436 starts on 2025-01-12 at height 878,976, so the tip at the end of
    the 11th is in epoch 435 and the difficulty is epoch 435's."""
    day = dt.date(2025, 1, 11)
    state = calibrate(history(), asof=day).state
    epochs = load_epochs()
    row = int(np.flatnonzero(epochs.epoch == 435)[0])
    assert 876_960 <= state.height < 878_976
    assert state.difficulty == float(epochs.difficulty[row])


def test_quote_months_absolute_and_relative() -> None:
    asof = dt.date(2023, 4, 20)
    assert quote_month("2023-06", asof) == "2023-06"
    assert quote_month("M+1", asof) == "2023-05"
    assert quote_month("m+9", asof) == "2024-01"
    assert quote_month("M+20", dt.date(2025, 12, 29)) == "2027-08"
    for bad in ("M+0", "M-1", "M+x", "next", "2023-13"):
        with pytest.raises(UsageError, match="--quote"):
            quote_month(bad, asof)
