"""Per-block records aggregated into daily rows, against a day-by-day hand computation."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from hashmarket.chain.consensus import block_subsidy_sats
from hashmarket.chain.sources.blocks import BlockArrays, BlockRecord, aggregate_daily

DAY_S = 86_400
GENESIS_TIME_S = 1_231_006_505  # 2009-01-03 18:15:05 UTC


def day_start_s(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def by_hand(
    heights: list[int], times: list[int], diffs: list[float], fees: list[int]
) -> dict[dt.date, tuple[int, float, float, float]]:
    """Plain loops: split into runs of consecutive heights; within each run keep the days
    whose start is more than 2 h after the run's first block (or the run starts at genesis)
    and whose end is more than 2 h before its last block."""
    runs: list[list[int]] = [[0]]
    for i in range(1, len(heights)):
        if heights[i] == heights[i - 1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    covered: set[dt.date] = set()
    for run in runs:
        first, last = run[0], run[-1]
        day = dt.datetime.fromtimestamp(times[first], dt.UTC).date()
        while day_start_s(day) <= times[last]:
            start = day_start_s(day)
            early = heights[first] == 0 or times[first] < start - 7200
            if early and times[last] > start + DAY_S + 7200:
                covered.add(day)
            day += dt.timedelta(days=1)
    out = {}
    for day in sorted(covered):
        rows = [
            i
            for i in range(len(heights))
            if dt.datetime.fromtimestamp(times[i], dt.UTC).date() == day
        ]
        n = len(rows)
        out[day] = (
            n,
            sum(diffs[i] for i in rows) / n if n else math.nan,
            sum(block_subsidy_sats(heights[i]) for i in rows) / n / 1e8 if n else math.nan,
            sum(fees[i] for i in rows) / 1e8,
        )
    return out


def aggregate(heights: list[int], times: list[int], diffs: list[float], fees: list[int]) -> dict:
    frame = aggregate_daily(
        BlockArrays(
            height=np.array(heights, dtype=np.int64),
            time_s=np.array(times, dtype=np.int64),
            difficulty=np.array(diffs),
            subsidy_sats=np.array([block_subsidy_sats(h) for h in heights], dtype=np.int64),
            fees_sats=np.array(fees, dtype=np.int64),
        )
    )
    assert list(frame.columns) == ["difficulty", "block_count", "subsidy_btc", "fees_btc"]
    return {
        ts.date(): (int(r.block_count), r.difficulty, r.subsidy_btc, r.fees_btc)
        for ts, r in frame.iterrows()
    }


def assert_same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for day, w in want.items():
        g = got[day]
        assert g[0] == w[0], day
        for a, b in zip(g[1:], w[1:], strict=True):
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12), day


def test_random_runs_with_gaps_match_the_hand_computation() -> None:
    rng = np.random.default_rng(20090103)
    heights: list[int] = []
    times: list[int] = []
    # Three runs: from genesis, one across the first halving, one with a long quiet spell.
    for first, count, start_s in (
        (0, 900, GENESIS_TIME_S),
        (209_500, 1_000, 1_354_000_000),
        (300_000, 700, 1_400_000_000),
    ):
        t = start_s
        for h in range(first, first + count):
            heights.append(h)
            # Exponential gaps, sometimes negative (timestamps may go back a little).
            t += int(rng.exponential(600)) - int(rng.integers(0, 2) * 300)
            times.append(t)
    t_gap = times[-1]
    for h in range(300_700, 300_900):  # the run goes on after a 50-hour pause
        t_gap += 180_000 if h == 300_700 else 600
        heights.append(h)
        times.append(t_gap)
    diffs = [float(rng.uniform(1, 1e6)) for _ in heights]
    fees = [int(rng.integers(0, 10**9)) for _ in heights]
    want = by_hand(heights, times, diffs, fees)
    assert any(w[0] == 0 for w in want.values())  # a covered day without blocks
    assert any(w[2] not in (50.0, 25.0) for w in want.values() if w[0])  # the halving day
    assert_same(aggregate(heights, times, diffs, fees), want)


def test_a_run_from_genesis_covers_its_first_day() -> None:
    times = [GENESIS_TIME_S + 600 * i for i in range(400)]
    got = aggregate(list(range(400)), times, [1.0] * 400, [0] * 400)
    assert min(got) == dt.date(2009, 1, 3)
    assert got[dt.date(2009, 1, 3)][0] == 35  # 18:15 to midnight at one block per 10 minutes
    # The same blocks at other heights: the first day is no longer covered.
    later = aggregate(list(range(1000, 1400)), times, [1.0] * 400, [0] * 400)
    assert min(later) == dt.date(2009, 1, 4)


def test_the_two_hour_margins_are_strict() -> None:
    day = dt.date(2020, 5, 10)
    start = day_start_s(day)

    def covered(first_s: int, last_s: int) -> bool:
        times = [first_s, start + 43_200, last_s]
        return day in aggregate([500_000, 500_001, 500_002], times, [1.0] * 3, [0] * 3)

    assert covered(start - 7201, start + DAY_S + 7201)
    assert not covered(start - 7200, start + DAY_S + 7201)
    assert not covered(start - 7201, start + DAY_S + 7200)


def test_a_day_without_blocks_inside_a_run() -> None:
    start = day_start_s(dt.date(2015, 1, 1))
    times = [start - 10_000, start + 2 * DAY_S + 10_000, start + 3 * DAY_S + 10_000]
    got = aggregate([350_000, 350_001, 350_002], times, [5.0, 6.0, 7.0], [10, 20, 30])
    count, difficulty, subsidy, fees = got[dt.date(2015, 1, 1)]
    assert count == 0 and fees == 0
    assert math.isnan(difficulty) and math.isnan(subsidy)
    assert got[dt.date(2015, 1, 3)] == (1, 6.0, 25.0, 20 / 1e8)


def test_optional_columns_and_empty_input() -> None:
    times = np.array([GENESIS_TIME_S + 600 * i for i in range(300)], dtype=np.int64)
    frame = aggregate_daily(BlockArrays(np.arange(300), times, np.ones(300)))
    assert list(frame.columns) == ["difficulty", "block_count"]
    empty = aggregate_daily(BlockArrays(np.arange(0), np.arange(0), np.ones(0)))
    assert len(empty) == 0 and list(empty.columns) == ["difficulty", "block_count"]


def test_heights_must_increase() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        BlockArrays(np.array([5, 5]), np.array([1, 2]), np.ones(2))
    with pytest.raises(ValueError, match="has 1 values"):
        BlockArrays(np.array([5, 6]), np.array([1]), np.ones(2))


def test_a_block_record_knows_its_difficulty() -> None:
    record = BlockRecord(
        height=604_800,
        block_hash="00000000000000000012145f8ffa7218d2d04ca66b61835a2a5eaec33dffc098",
        time_s=1_574_356_132,
        bits=0x1715B23E,
        subsidy_sats=1_250_000_000,
        fees_sats=0,
    )
    assert record.difficulty == pytest.approx(12_973_235_968_799.777, rel=1e-12)
    arrays = BlockArrays.from_records([record])
    assert arrays.height.tolist() == [604_800]
    assert arrays.fees_sats is not None and arrays.fees_sats.tolist() == [0]
