"""The merged network history: precedence, provenance, consensus fills, and strict validation."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hashmarket.chain.history import NetworkHistory, merge_sources
from hashmarket.chain.sources.bundled import (
    DAILY_SCHEMA,
    EPOCH_HEADERS_SCHEMA,
    EPOCHS_SCHEMA,
    bundled_path,
    load_epochs,
    verify_epoch_headers,
    with_epoch_headers,
)
from hashmarket.chain.sources.csvfile import read_csv
from hashmarket.chain.sources.frame import SourceFrame, SourceInfo
from hashmarket.errors import DataError

# From the data README: the files are shipped unchanged.
BUNDLED_SHA256 = {
    "btc_daily.csv": "86b93cfa120c8052d0d4133632cbf19525d93912751ac958fa0efcbf4332e2b5",
    "btc_epochs.csv": "3ff5bc60c69de8b608adf1df8c2816d6501d91b9bcd693021dfc4030d112f5ac",
    "btc_price_daily.csv": "e0c67017c8bcf2b45378c2be4610792701b959c8dae13ef9ee3126e3e46e4893",
    "btc_fees_daily.csv": "bdb4f65e326ee3679e96dbf2540b0e7ce0f0b5b19afe159161071233af26bafc",
    "btc_daily_2020_2025.csv": "32049ccc5bfa9dc300dbfd356e6ab989f1c37d0e371296e67d7b9c30ad52a72d",
    "btc_epoch_headers.csv": "a4d5e62b651cc27520ada7c5d73e5703387d88c35868fa26e0282141fbc3b1bf",
}


def raw_rows(name: str) -> dict[str, dict[str, str]]:
    with open(bundled_path(name), newline="") as handle:
        return {r["date"]: r for r in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def history() -> NetworkHistory:
    return NetworkHistory.load()


@pytest.fixture(scope="module")
def commercial() -> NetworkHistory:
    return NetworkHistory.load(include_noncommercial=False)


@pytest.mark.parametrize(("name", "digest"), sorted(BUNDLED_SHA256.items()))
def test_bundled_files_are_unchanged(name: str, digest: str) -> None:
    assert hashlib.sha256(bundled_path(name).read_bytes()).hexdigest() == digest


def test_daily_rows_without_gaps(history: NetworkHistory) -> None:
    assert history.first_date == dt.date(2009, 1, 3)
    assert history.last_date == dt.date(2026, 8, 21)
    assert len(history.frame) == (history.last_date - history.first_date).days + 1


def test_node_statistics_take_precedence_for_fees_and_blocks(history: NetworkHistory) -> None:
    day = "2018-01-15"  # in both Coin Metrics and the node statistics
    node = raw_rows("btc_fees_daily.csv")[day]
    cm = raw_rows("btc_daily.csv")[day]
    row, origin = history.frame.loc[day], history.provenance.loc[day]
    assert row["fees_btc"] == float(node["fees_btc"])
    assert row["block_count"] == int(node["block_count"])
    assert origin["fees_btc"] == origin["block_count"] == "node_stats"
    assert row["price_usd"] == float(cm["price_usd"])
    assert origin["price_usd"] == "coinmetrics"
    assert row["difficulty"] == float(cm["difficulty_mean"])


def test_prices_after_coin_metrics_come_from_bitstamp(history: NetworkHistory) -> None:
    day = "2026-03-01"
    assert history.frame.at[day, "price_usd"] == float(
        raw_rows("btc_price_daily.csv")[day]["price_usd"]
    )
    assert history.provenance.at[day, "price_usd"] == "bitstamp"


def test_missing_values_stay_missing(history: NetworkHistory) -> None:
    # No source has fees or block counts after 2026-01-31; nothing is extrapolated.
    assert math.isnan(history.frame.at["2026-02-01", "fees_btc"])
    assert history.provenance.at["2026-02-01", "fees_btc"] is None
    # After the last epoch whose start time is known, difficulty is unknown.
    assert math.isnan(history.frame.at["2026-08-21", "difficulty"])
    assert history.provenance.at["2026-08-21", "difficulty"] is None


def test_difficulty_from_the_epoch_in_force_at_the_day_start(commercial: NetworkHistory) -> None:
    with open(bundled_path("btc_epochs.csv"), newline="") as handle:
        epochs = [r for r in csv.DictReader(handle) if r["start_time_utc"]]
    day_start = "2022-06-01T00:00:00Z"
    in_force = [r for r in epochs if r["start_time_utc"] <= day_start][-1]
    assert commercial.frame.at["2022-06-01", "difficulty"] == float(in_force["difficulty"])
    assert commercial.provenance.at["2022-06-01", "difficulty"] == "epochs"
    # The last epoch the epoch table dates starts 2025-01-12T20:01:51Z; the day it starts is
    # still known (the epoch before it is in force at 00:00), the next day is not: epoch 437
    # has no known start, so nothing proves when 436 ended.
    assert commercial.provenance.at["2025-01-12", "difficulty"] == "epochs"
    assert math.isnan(commercial.frame.at["2025-01-13", "difficulty"])


def test_epoch_headers_date_epochs_after_a_gap(commercial: NetworkHistory) -> None:
    # Epoch 438 starts 2025-02-09T09:33:07Z and 439 2025-02-23T20:29:38Z (both from the
    # headers): 438 is in force on the days that start between them, whatever 437 did.
    with open(bundled_path("btc_epochs.csv"), newline="") as handle:
        epoch_438 = next(r for r in csv.DictReader(handle) if r["epoch"] == "438")
    assert epoch_438["start_time_utc"] == ""
    for day in ("2025-02-10", "2025-02-23"):
        assert commercial.frame.at[day, "difficulty"] == float(epoch_438["difficulty"])
        assert commercial.provenance.at[day, "difficulty"] == "epoch_headers"
    # 2025-02-09 starts in epoch 437, whose start is unknown; 2025-02-24 in 439, whose end is.
    assert math.isnan(commercial.frame.at["2025-02-09", "difficulty"])
    assert math.isnan(commercial.frame.at["2025-02-24", "difficulty"])


def test_subsidy_from_consensus_only_where_no_halving_can_intervene(
    commercial: NetworkHistory,
) -> None:
    assert commercial.frame.at["2022-06-01", "subsidy_btc"] == 6.25
    assert commercial.provenance.at["2022-06-01", "subsidy_btc"] == "consensus"
    # Height 840,000 falls inside epoch 416 (heights 838,656..840,671) and no block counts
    # place the days inside it: they stay unknown.
    assert math.isnan(commercial.frame.at["2024-04-19", "subsidy_btc"])
    assert commercial.frame.at["2024-06-01", "subsidy_btc"] == 3.125
    # No epoch is known to be in force on 2026-02-15, but its blocks lie between the dated
    # starts 933,408 (2026-01-22) and 941,472 (2026-03-20): all in the 3.125 BTC era.
    assert commercial.frame.at["2026-02-15", "subsidy_btc"] == 3.125
    assert commercial.provenance.at["2026-02-15", "subsidy_btc"] == "consensus"


def counts_frame(counts: dict[str, float]) -> SourceFrame:
    index = pd.DatetimeIndex(pd.to_datetime(list(counts)), name="date")
    info = SourceInfo(name="counts", description="", licence="", attribution="")
    return SourceFrame(info, pd.DataFrame({"block_count": list(counts.values())}, index=index))


def test_block_counts_place_days_on_either_side_of_the_halving() -> None:
    # Coin Metrics' real counts from the day epoch 416 starts (2024-04-10T21:17:33Z, height
    # 838,656) to the day 417 starts (2024-04-24T14:51:52Z, height 840,672), subsidy left out.
    rows = raw_rows("btc_daily_2020_2025.csv")
    days = pd.date_range("2024-04-10", "2024-04-24").strftime("%Y-%m-%d")
    merged = merge_sources(
        [counts_frame({d: float(rows[d]["block_count"]) for d in days})], epochs=load_epochs()
    ).frame["subsidy_btc"]
    # 04-18 ends at most at 838,656 + (151 + 132 + ... + 145 = 1,328) - 1 = 839,983 < 840,000.
    assert merged["2024-04-18"] == 6.25
    # 04-21 starts at least at 838,656 + 1 + (132 + ... + 130 = 1,458) = 840,115.
    assert merged["2024-04-21"] == 3.125
    # 04-19 and 04-20 could each hold the halving: where 04-10's 151 blocks split around
    # 21:17:33 is not in daily data, so their first heights are not known.
    assert math.isnan(merged["2024-04-19"]) and math.isnan(merged["2024-04-20"])


def test_a_day_spanning_the_halving_gets_the_block_weighted_subsidy() -> None:
    # One block on the day epoch 416 starts: it is height 838,656 itself, so every later
    # day's first height is known: 04-11..04-18 hold 8 x 148 blocks, 04-19 holds 149,
    # so 04-20 starts at 838,657 + 1,333 = 839,990 and its 144 blocks are 10 at 6.25 BTC
    # (839,990..839,999) and 134 at 3.125 BTC.
    counts = {"2024-04-10": 1.0, **{f"2024-04-{d}": 148.0 for d in range(11, 19)}}
    counts |= {"2024-04-19": 149.0, "2024-04-20": 144.0}
    history = merge_sources([counts_frame(counts)], epochs=load_epochs())
    assert history.frame.at["2024-04-19", "subsidy_btc"] == 6.25
    assert history.frame.at["2024-04-20", "subsidy_btc"] == pytest.approx(
        (10 * 6.25 + 134 * 3.125) / 144, rel=1e-15
    )
    assert history.provenance.at["2024-04-20", "subsidy_btc"] == "consensus"


def test_hashrate_is_derived_where_a_file_lacks_it(history: NetworkHistory) -> None:
    day = "2021-05-01"  # node statistics give blocks, the epoch table the difficulty
    row = history.frame.loc[day]
    expected_ths = row["difficulty"] * row["block_count"] * 2**32 / 86_400 / 1e12
    assert row["hashrate_ths"] == pytest.approx(expected_ths, rel=1e-12)
    assert history.provenance.at[day, "hashrate_ths"] == "derived"


def test_commercial_only_leaves_out_coin_metrics(
    history: NetworkHistory, commercial: NetworkHistory
) -> None:
    for name in ("coinmetrics", "coinmetrics_2020_2025"):
        assert name in {s.name for s in history.sources}
        assert name not in {s.name for s in commercial.sources}
        assert (commercial.provenance != name).all().all()
    assert commercial.provenance.at["2015-06-01", "price_usd"] == "bitstamp"
    # 2022-06-01: fees only from the Coin Metrics continuation.
    cm = raw_rows("btc_daily_2020_2025.csv")["2022-06-01"]
    assert history.frame.at["2022-06-01", "fees_btc"] == float(cm["fees_btc"])
    assert history.provenance.at["2022-06-01", "fees_btc"] == "coinmetrics_2020_2025"
    assert math.isnan(commercial.frame.at["2022-06-01", "fees_btc"])


def test_between_slices_inclusively(history: NetworkHistory) -> None:
    part = history.between(dt.date(2020, 1, 1), dt.date(2020, 1, 31))
    assert len(part.frame) == 31
    assert part.first_date == dt.date(2020, 1, 1)


HEADER = "date,price_usd,hashrate_ths,difficulty_mean,fees_btc,issuance_btc,block_count"
GOOD = "2020-01-01,7200.1,100,13798783827516.42,10.5,1800,144"


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "daily.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            (HEADER.replace(",block_count", ""), GOOD.rsplit(",", 1)[0]),
            "daily.csv:1: missing column 'block_count'",
        ),
        ((HEADER + ",extra", GOOD + ",1"), "daily.csv:1: unexpected column 'extra'"),
        (
            (HEADER, GOOD.replace("2020-01-01", "2020-02-30")),
            "daily.csv:2: column 'date': value '2020-02-30'",
        ),
        (
            (HEADER, GOOD, GOOD),
            "daily.csv:3: column 'date': value '2020-01-01': date appears twice",
        ),
        (
            (HEADER, GOOD.replace("01-01", "01-05"), GOOD),
            "daily.csv:3: column 'date': value '2020-01-01': date is out of order",
        ),
        (
            (HEADER, GOOD.replace("13798783827516.42", "-5")),
            "daily.csv:2: column 'difficulty_mean': value '-5': must be greater than zero",
        ),
        (
            (HEADER, GOOD.replace("13798783827516.42", "0")),
            "daily.csv:2: column 'difficulty_mean': value '0': must be greater than zero",
        ),
        (
            (HEADER, GOOD.replace("7200.1", "NaN")),
            "daily.csv:2: column 'price_usd': value 'NaN': NaN",
        ),
        (
            (HEADER, GOOD.replace(",144", ",600000")),
            "daily.csv:2: column 'block_count': value '600000': more blocks",
        ),
        (
            (HEADER, GOOD.replace(",144", ",14.5")),
            "daily.csv:2: column 'block_count': value '14.5': not a whole",
        ),
        (
            (HEADER, GOOD.replace("10.5", "-1")),
            "daily.csv:2: column 'fees_btc': value '-1': must not be negative",
        ),
        ((HEADER, GOOD + ",9"), "daily.csv:2: row has 8 fields, the header has 7"),
    ],
)
def test_bad_daily_files_are_refused_with_their_location(
    tmp_path: Path, lines: tuple[str, ...], expected: str
) -> None:
    path = write(tmp_path, *lines)
    with pytest.raises(DataError) as caught:
        read_csv(path, DAILY_SCHEMA, display_name="daily.csv")
    assert expected in str(caught.value)


def test_a_good_daily_file_is_read(tmp_path: Path) -> None:
    table = read_csv(write(tmp_path, HEADER, GOOD), DAILY_SCHEMA)
    assert table.columns["block_count"] == [144]
    assert table.columns["date"] == [dt.date(2020, 1, 1)]


def test_epoch_table_checks_heights(tmp_path: Path) -> None:
    path = tmp_path / "epochs.csv"
    rows = bundled_path("btc_epochs.csv").read_text().splitlines()[:3]
    rows[2] = rows[2].replace(",2016,", ",2017,")
    path.write_text("\n".join(rows) + "\n")
    from hashmarket.chain.sources.bundled import epochs_from_table

    with pytest.raises(DataError, match=r"epochs.csv:3: column 'start_height': value '2017'"):
        epochs_from_table(read_csv(path, EPOCHS_SCHEMA, display_name="epochs.csv"))


def headers_file(tmp_path: Path, line: int, old: str, new: str) -> Path:
    """The bundled headers file with one edit on ``line`` (the header is line 1)."""
    rows = bundled_path("btc_epoch_headers.csv").read_text().splitlines()
    assert old in rows[line - 1]
    rows[line - 1] = rows[line - 1].replace(old, new)
    path = tmp_path / "headers.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def read_headers(path: Path):
    return read_csv(path, EPOCH_HEADERS_SCHEMA, display_name="headers.csv")


def test_every_bundled_epoch_header_verifies() -> None:
    table = read_headers(bundled_path("btc_epoch_headers.csv"))
    verify_epoch_headers(table)
    epochs = load_epochs()
    # Nine epochs after the last one the epoch table dates (436, 2025-01-12).
    added = [
        int(e)
        for e, s in zip(epochs.epoch, epochs.time_source, strict=True)
        if s == "epoch_headers"
    ]
    assert added == [438, 439, 447, 451, 454, 457, 462, 463, 467]
    row = int(np.flatnonzero(epochs.start_height == 931_392)[0])
    assert epochs.start_time_s[row] == 1_767_859_543  # 2026-01-08T08:05:43Z


@pytest.mark.parametrize(
    ("line", "old", "new", "expected"),
    [
        # The time column moved by one second: the header's own time field disagrees.
        (
            3,
            "2019-11-07T23:30:36Z",
            "2019-11-07T23:30:37Z",
            "headers.csv:3: column 'start_time_utc': value '2019-11-07T23:30:37Z': "
            "the header's time field is 2019-11-07T23:30:36Z",
        ),
        # One hex digit of the hash changed: it is no longer the header's double SHA-256.
        (
            2,
            "3decdbb5f3811eab",
            "3decdbb5f3811eac",
            "headers.csv:2: column 'block_hash': value '00000000000000003decdbb5f3811eac",
        ),
        # One nibble of the nonce changed: the hash changes and the row is refused on it.
        (3, "075a4dae", "075a4daf", "headers.csv:3: column 'block_hash'"),
        (2, "296352,", "296353,", "headers.csv:2: column 'height': value '296353'"),
    ],
)
def test_a_header_that_does_not_verify_is_refused(
    tmp_path: Path, line: int, old: str, new: str, expected: str
) -> None:
    path = headers_file(tmp_path, line, old, new)
    with pytest.raises(DataError) as caught:
        verify_epoch_headers(read_headers(path))
    assert expected in str(caught.value)


def test_a_header_that_contradicts_the_epoch_table_is_refused(tmp_path: Path) -> None:
    epochs = load_epochs()
    # Epoch 147 (height 296,352) in a copy of the table with other bits.
    row = int(np.flatnonzero(epochs.start_height == 296_352)[0])
    bits = epochs.bits.copy()
    bits[row] = 0x19009D8D
    other = dataclasses.replace(epochs, bits=bits)
    table = read_headers(bundled_path("btc_epoch_headers.csv"))
    with pytest.raises(DataError) as caught:
        with_epoch_headers(other, table, epochs_file="btc_epochs.csv")
    assert str(caught.value) == (
        "headers.csv:2: column 'bits': value '19009d8c': "
        "epoch 147 in btc_epochs.csv has bits 19009d8d"
    )
