"""The merged network history: precedence, provenance, consensus fills, and strict validation."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
from pathlib import Path

import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.chain.sources.bundled import DAILY_SCHEMA, EPOCHS_SCHEMA, bundled_path
from hashmarket.chain.sources.csvfile import read_csv
from hashmarket.errors import DataError

# From the data README: the files are shipped unchanged.
BUNDLED_SHA256 = {
    "btc_daily.csv": "86b93cfa120c8052d0d4133632cbf19525d93912751ac958fa0efcbf4332e2b5",
    "btc_epochs.csv": "3ff5bc60c69de8b608adf1df8c2816d6501d91b9bcd693021dfc4030d112f5ac",
    "btc_price_daily.csv": "e0c67017c8bcf2b45378c2be4610792701b959c8dae13ef9ee3126e3e46e4893",
    "btc_fees_daily.csv": "bdb4f65e326ee3679e96dbf2540b0e7ce0f0b5b19afe159161071233af26bafc",
}


def raw_rows(name: str) -> dict[str, dict[str, str]]:
    with open(bundled_path(name), newline="") as handle:
        return {r["date"]: r for r in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def history() -> NetworkHistory:
    return NetworkHistory.load()


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
    day = "2023-03-01"
    assert history.frame.at[day, "price_usd"] == float(
        raw_rows("btc_price_daily.csv")[day]["price_usd"]
    )
    assert history.provenance.at[day, "price_usd"] == "bitstamp"


def test_missing_values_stay_missing(history: NetworkHistory) -> None:
    # No source has fees or block counts for 2022; nothing is interpolated.
    assert math.isnan(history.frame.at["2022-06-01", "fees_btc"])
    assert history.provenance.at["2022-06-01", "fees_btc"] is None
    # After the last epoch whose start time is known, difficulty is unknown.
    assert math.isnan(history.frame.at["2026-08-21", "difficulty"])
    assert history.provenance.at["2026-08-21", "difficulty"] is None


def test_difficulty_from_the_epoch_in_force_at_the_day_start(history: NetworkHistory) -> None:
    with open(bundled_path("btc_epochs.csv"), newline="") as handle:
        epochs = [r for r in csv.DictReader(handle) if r["start_time_utc"]]
    day_start = "2022-06-01T00:00:00Z"
    in_force = [r for r in epochs if r["start_time_utc"] <= day_start][-1]
    assert history.frame.at["2022-06-01", "difficulty"] == float(in_force["difficulty"])
    assert history.provenance.at["2022-06-01", "difficulty"] == "epochs"
    # The last timed epoch starts 2025-01-12T20:01:51Z; the day it starts is still known
    # (the epoch before it is in force at 00:00), the next day is not.
    assert history.provenance.at["2025-01-12", "difficulty"] == "epochs"
    assert math.isnan(history.frame.at["2025-01-13", "difficulty"])


def test_subsidy_from_consensus_only_where_no_halving_can_intervene(
    history: NetworkHistory,
) -> None:
    assert history.frame.at["2022-06-01", "subsidy_btc"] == 6.25
    assert history.provenance.at["2022-06-01", "subsidy_btc"] == "consensus"
    # Height 840,000 falls inside epoch 416 (heights 838,656..840,671): its days are unknown.
    assert math.isnan(history.frame.at["2024-04-19", "subsidy_btc"])
    assert history.frame.at["2024-06-01", "subsidy_btc"] == 3.125


def test_hashrate_is_derived_where_a_file_lacks_it(history: NetworkHistory) -> None:
    day = "2021-05-01"  # node statistics give blocks, the epoch table the difficulty
    row = history.frame.loc[day]
    expected_ths = row["difficulty"] * row["block_count"] * 2**32 / 86_400 / 1e12
    assert row["hashrate_ths"] == pytest.approx(expected_ths, rel=1e-12)
    assert history.provenance.at[day, "hashrate_ths"] == "derived"


def test_commercial_only_leaves_out_coin_metrics() -> None:
    history = NetworkHistory.load(include_noncommercial=False)
    assert "coinmetrics" not in {s.name for s in history.sources}
    assert (history.provenance != "coinmetrics").all().all()
    assert history.provenance.at["2015-06-01", "price_usd"] == "bitstamp"


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
