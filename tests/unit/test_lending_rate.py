"""The lending reference rate: eligibility, the volume-weighted trimmed median, the fallback
waterfall and the input hash, against hand-computed cases."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest

from hashmarket.index import (
    LendingCurrency,
    LendingMethodology,
    LendingTransaction,
    Tenor,
    ineligibility,
    lending_fixings,
    tenor_of,
    trimmed_statistics,
)

USD = LendingCurrency.USD
WED = dt.date(2026, 1, 14)


def loan(
    tid: str,
    rate: str,
    dollars: int,
    *,
    start: dt.date = WED,
    days: int = 30,
    owners: tuple[str, str] = ("", ""),
) -> LendingTransaction:
    return LendingTransaction(
        transaction_id=tid,
        currency=USD,
        start=start,
        maturity=start + dt.timedelta(days=days),
        amount_minor=dollars * 100,
        rate_per_year=Decimal(rate),
        lender_owner=owners[0],
        borrower_owner=owners[1],
    )


# Six eligible one-month loans on one day, and three that do not count.
ELIGIBLE = [
    loan("A", "0.0800", 100_000),
    loan("B", "0.0650", 400_000),
    loan("C", "0.0700", 250_000),
    loan("D", "0.0725", 150_000),
    loan("E", "0.1200", 50_000),
    loan("F", "0.0600", 50_000),
]
SELF_DEALT = loan("G", "0.0100", 500_000, owners=("fund-x", "fund-x"))
TOO_SMALL = loan("H", "0.2000", 5_000)
NO_BUCKET = loan("I", "0.0500", 500_000, days=60)


def test_tenor_buckets_by_days_to_maturity() -> None:
    assert [tenor_of(d) for d in (1, 4, 5, 10, 11, 25, 35, 36, 80, 100, 101)] == [
        Tenor.ON, Tenor.ON, Tenor.W1, Tenor.W1, None, Tenor.M1, Tenor.M1, None,
        Tenor.M3, Tenor.M3, None,
    ]  # fmt: skip


def test_eligibility_rules() -> None:
    m = LendingMethodology()
    assert all(ineligibility(t, m) is None for t in ELIGIBLE)
    assert "arm's length" in str(ineligibility(SELF_DEALT, m))
    assert ineligibility(TOO_SMALL, m) == "below the minimum size"
    assert "60 days" in str(ineligibility(NO_BUCKET, m))
    # Owners that differ, or that the data does not give, are at arm's length.
    assert ineligibility(loan("J", "0.07", 20_000, owners=("a", "b")), m) is None


def test_hand_computed_fixing() -> None:
    # Sorted by rate, volumes in dollars and cumulative volume:
    #   F 6.00 %   50,000     50,000
    #   B 6.50 %  400,000    450,000
    #   C 7.00 %  250,000    700,000
    #   D 7.25 %  150,000    850,000
    #   A 8.00 %  100,000    950,000
    #   E 12.00 %  50,000  1,000,000   total V = 1,000,000 (exactly the minimum volume)
    # Trim 25 %: keep the volume in [250,000, 750,000].
    # Median: first cumulative >= 500,000 is C (700,000) -> 7.00 %.
    # Kept: B 200,000 (250k..450k), C 250,000, D 50,000 (700k..750k) = 500,000;
    # trimmed mean = (200k*0.065 + 250k*0.07 + 50k*0.0725) / 500k = 34,125 / 500,000 = 0.06825.
    # Lower cut (first cumulative >= 250,000): B 6.50 %; upper (>= 750,000): D 7.25 %.
    stats = trimmed_statistics(
        ((t.rate_per_year, t.amount_minor) for t in ELIGIBLE), Decimal("0.25")
    )
    assert (stats.median, stats.trimmed_mean) == (Decimal("0.0700"), Decimal("0.06825"))
    assert (stats.lower, stats.upper) == (Decimal("0.0650"), Decimal("0.0725"))

    fixings = lending_fixings(
        [*ELIGIBLE, SELF_DEALT, TOO_SMALL, NO_BUCKET], currency=USD, tenors=[Tenor.M1]
    )
    assert len(fixings) == 1
    f = fixings[0]
    assert (f.date, f.tenor, f.level, f.rate_per_year) == (WED, Tenor.M1, 1, Decimal("0.07000"))
    assert (f.n_transactions, f.volume_minor) == (6, 100_000_000)
    assert f.trimmed_mean_per_year == Decimal("0.06825")
    assert [row[0] for row in f.inputs["transactions"]] == ["F", "B", "C", "D", "A", "E"]


def test_median_between_two_rates_when_the_half_falls_on_a_boundary() -> None:
    # Volumes 100 and 100: the cumulative volume reaches exactly half at 5 %, so the median
    # is the midpoint of 5 % and 7 %.
    stats = trimmed_statistics([(Decimal("0.05"), 100), (Decimal("0.07"), 100)], Decimal("0.25"))
    assert stats.median == Decimal("0.06")
    assert stats.trimmed_mean == Decimal("0.06000")


def test_input_hash_recomputed_independently() -> None:
    f = lending_fixings(ELIGIBLE, currency=USD, tenors=[Tenor.M1])[0]
    # Written out by hand: the canonical inputs, sorted keys, no spaces.
    inputs: dict[str, Any] = {
        "currency": "usd",
        "date": "2026-01-14",
        "level": 1,
        "methodology_version": "1.0",
        "parameters": {
            "min_amount_minor": 1_000_000,
            "min_count": 5,
            "min_volume_minor": 100_000_000,
            "rate_tick": "0.00001",
            "tenor_days": {"1m": [25, 35], "1w": [5, 10], "3m": [80, 100], "on": [1, 4]},
            "trim": "0.25",
            "window_business_days": 5,
        },
        "tenor": "1m",
        "transactions": [
            [tid, "2026-01-14", "2026-02-13", dollars * 100, rate]
            for tid, rate, dollars in (
                ("F", "0.0600", 50_000),
                ("B", "0.0650", 400_000),
                ("C", "0.0700", 250_000),
                ("D", "0.0725", 150_000),
                ("A", "0.0800", 100_000),
                ("E", "0.1200", 50_000),
            )
        ],
        "window": ["2026-01-14", "2026-01-14"],
    }
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    assert f.inputs == inputs
    assert f.inputs_sha256 == hashlib.sha256(text.encode()).hexdigest()
    # Anyone can recompute the rate from the hashed inputs alone.
    rows: list[list[Any]] = f.inputs["transactions"]
    recomputed = trimmed_statistics(
        ((Decimal(row[4]), row[3]) for row in rows), Decimal(f.inputs["parameters"]["trim"])
    )
    assert recomputed.median == f.rate_per_year


# A small methodology so that each level of the waterfall takes few transactions.
SMALL = LendingMethodology(
    min_count=2,
    min_volume_minor={USD: 10_000_000, LendingCurrency.BTC: 1},
    window_days=2,
)
MON, TUE, THU, FRI = (dt.date(2026, 1, d) for d in (12, 13, 15, 16))


def test_each_waterfall_level() -> None:
    week, month = 7, 30
    txs = [
        # Monday: 1w 5 % and 6 % x $100k (the half falls between: 5.5 %); 1m $100k at 7 %,
        # $200k at 8 % (cumulative 100k, 300k; half 150k -> 8 %). Both level 1.
        loan("w1", "0.05", 100_000, start=MON, days=week),
        loan("w2", "0.06", 100_000, start=MON, days=week),
        loan("m1", "0.07", 100_000, start=MON, days=month),
        loan("m2", "0.08", 200_000, start=MON, days=month),
        # Tuesday: 1w $100k at 6 %, $300k at 6.5 % (half 200k -> 6.5 %), level 1. 1m one
        # loan only: level 2, the window Sat 10 .. Tue 13 holds m1, m2, m3:
        # 7 % 100k, 8 % 200k (cum 300k >= 200k), 9 % 100k -> 8 %.
        loan("w3", "0.06", 100_000, start=TUE, days=week),
        loan("w4", "0.065", 300_000, start=TUE, days=week),
        loan("m3", "0.09", 100_000, start=TUE, days=month),
        # Wednesday: 1w two loans at 7 % (level 1). 1m none, its widened window (Tue, Wed)
        # holds only m3: level 3 = Tuesday's 8 % + the 1w change 7 % - 6.5 % = 8.5 %.
        loan("w5", "0.07", 200_000, start=WED, days=week),
        loan("w6", "0.07", 200_000, start=WED, days=week),
    ]
    # Without an end the fixings stop at the last trade date (Wednesday); ask up to Friday.
    fixings = lending_fixings(txs, currency=USD, methodology=SMALL, end=FRI)
    got = {(f.date, f.tenor): f for f in fixings}
    expected = {
        (MON, Tenor.W1): (1, "0.05500"),
        (MON, Tenor.M1): (1, "0.08000"),
        (TUE, Tenor.W1): (1, "0.06500"),
        (TUE, Tenor.M1): (2, "0.08000"),
        (WED, Tenor.W1): (1, "0.07000"),
        (WED, Tenor.M1): (3, "0.08500"),
        # Thursday: 1w from Wednesday's loans in the window (Wed, Thu): level 2, 7 %; 1m
        # carried again with the 1w change since Wednesday (0): 8.5 %, level 3.
        (THU, Tenor.W1): (2, "0.07000"),
        (THU, Tenor.M1): (3, "0.08500"),
        # Friday: no tenor has data; neither has a neighbour computed from data: level 4.
        (FRI, Tenor.W1): (4, "0.07000"),
        (FRI, Tenor.M1): (4, "0.08500"),
    }
    assert {k: (f.level, str(f.rate_per_year)) for k, f in got.items()} == expected
    wed_month = got[(WED, Tenor.M1)]
    assert wed_month.inputs["previous"]["inputs_sha256"] == got[(TUE, Tenor.M1)].inputs_sha256
    assert wed_month.inputs["adjacent"]["tenor"] == "1w"
    assert got[(TUE, Tenor.M1)].window_first == dt.date(2026, 1, 10)
    assert got[(FRI, Tenor.M1)].level_name == "republished"
    # A range that starts later gives the same fixings: the chain starts at the data.
    later = lending_fixings(txs, currency=USD, methodology=SMALL, start=THU, end=FRI)
    assert [f.inputs_sha256 for f in later] == [
        got[(d, t)].inputs_sha256 for d in (THU, FRI) for t in (Tenor.W1, Tenor.M1)
    ]


def test_no_data_no_fixing() -> None:
    assert lending_fixings([], currency=USD) == []
    with pytest.raises(ValueError, match="positive volumes"):
        trimmed_statistics([], Decimal("0.25"))
