"""The hashprice index and its fixings, checked by independent arithmetic on the raw CSV rows."""

from __future__ import annotations

import csv
import datetime as dt
import math
from decimal import Decimal

import numpy as np
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.chain.sources.bundled import bundled_path
from hashmarket.index import (
    Method,
    epoch_value_btc_per_ph,
    fixings,
    hashprice_btc_per_ph_day,
    hashprice_table,
)
from hashmarket.index.fixings import inputs_digest


def raw(name: str, day: str) -> dict[str, str]:
    with open(bundled_path(name), newline="") as handle:
        return next(r for r in csv.DictReader(handle) if r["date"] == day)


@pytest.fixture(scope="module")
def history() -> NetworkHistory:
    return NetworkHistory.load()


@pytest.fixture(scope="module")
def fpps(history: NetworkHistory):
    return hashprice_table(history, method=Method.FPPS)


@pytest.fixture(scope="module")
def commercial_fpps():
    return hashprice_table(NetworkHistory.load(include_noncommercial=False), method=Method.FPPS)


def test_published_cross_check() -> None:
    # Difficulty 150 T, subsidy 3.125, fees 0.03 BTC/block -> 0.000423 BTC per PH/s per day.
    value = hashprice_btc_per_ph_day(difficulty=150e12, subsidy_btc=3.125, fee_btc_per_block=0.03)
    assert float(value) == pytest.approx(0.000423, abs=5e-7)


def test_synfutures_epoch_values() -> None:
    values = epoch_value_btc_per_ph(difficulty=[25.1e12, 21.3876e12], subsidy_btc=6.25)
    assert values.round(4).tolist() == [0.0701, 0.0823]


def test_fpps_day_from_coin_metrics_row(fpps) -> None:
    r = raw("btc_daily.csv", "2020-07-27")
    blocks = int(r["block_count"])
    subsidy = float(r["issuance_btc"]) / blocks
    fee_per_block = float(r["fees_btc"]) / blocks
    expected_btc = 1e15 * 86400 * (subsidy + fee_per_block) / (float(r["difficulty_mean"]) * 2**32)
    row = fpps.loc["2020-07-27"]
    assert subsidy == 6.25
    assert row["hashprice_btc_per_ph_day"] == pytest.approx(expected_btc, rel=1e-12)
    assert row["hashprice_usd_per_ph_day"] == pytest.approx(
        expected_btc * float(r["price_usd"]), rel=1e-12
    )
    assert bool(row["fees_included"])


def test_fpps_day_from_node_stats_epochs_and_bitstamp(commercial_fpps) -> None:
    day = "2021-05-01"
    node = raw("btc_fees_daily.csv", day)
    price = float(raw("btc_price_daily.csv", day)["price_usd"])
    with open(bundled_path("btc_epochs.csv"), newline="") as handle:
        epochs = [e for e in csv.DictReader(handle) if e["start_time_utc"]]
    difficulty = float(
        [e for e in epochs if e["start_time_utc"] <= f"{day}T00:00:00Z"][-1]["difficulty"]
    )
    blocks = int(node["block_count"])
    reward = float(node["issuance_btc"]) / blocks + float(node["fees_btc"]) / blocks
    expected_btc = 86400e15 * reward / (difficulty * 2**32)
    row = commercial_fpps.loc[day]
    assert row["hashprice_btc_per_ph_day"] == pytest.approx(expected_btc, rel=1e-12)
    assert row["hashprice_usd_per_ph_day"] == pytest.approx(expected_btc * price, rel=1e-12)


def test_subsidy_only_where_fees_are_unknown(commercial_fpps) -> None:
    row = commercial_fpps.loc["2022-06-01"]
    assert not row["fees_included"]
    assert math.isnan(row["fees_btc_per_block"])
    assert row["hashprice_btc_per_ph_day"] == pytest.approx(
        86400e15 * 6.25 / (row["difficulty"] * 2**32), rel=1e-12
    )


def test_realized_is_what_the_network_paid(history: NetworkHistory, fpps) -> None:
    realized = hashprice_table(history, method=Method.REALIZED)
    r = raw("btc_daily.csv", "2020-07-24")  # 161 blocks: a lucky day
    paid_btc = float(r["issuance_btc"]) + float(r["fees_btc"])
    implied_phs = float(r["difficulty_mean"]) * 2**32 / 600 / 1e15
    assert realized.at["2020-07-24", "hashprice_btc_per_ph_day"] == pytest.approx(
        paid_btc / implied_phs, rel=1e-12
    )
    ratio = realized["hashprice_btc_per_ph_day"] / fpps["hashprice_btc_per_ph_day"]
    both = ratio.notna() & fpps["fees_included"] & realized["fees_included"]
    np.testing.assert_allclose(ratio[both], fpps.loc[both, "block_count"] / 144, rtol=1e-12)


def test_no_value_without_difficulty(fpps) -> None:
    # Coin Metrics ends 2025-12-29; epoch 461 (in force on 2026-01-05) has no known start.
    assert math.isnan(fpps.at["2026-01-05", "hashprice_btc_per_ph_day"])
    # Epoch 462 (2026-01-08T08:05:43Z) and 463 (2026-01-22T19:31:22Z) are dated by the headers.
    assert not math.isnan(fpps.at["2026-01-15", "hashprice_btc_per_ph_day"])


def test_rolling_averages(fpps) -> None:
    window = fpps.loc["2020-07-21":"2020-07-27", "hashprice_usd_per_ph_day"]
    assert fpps.at["2020-07-27", "hashprice_usd_per_ph_day_7d"] == pytest.approx(
        window.mean(), rel=1e-12
    )
    assert math.isnan(fpps.at["2010-07-20", "hashprice_usd_per_ph_day_7d"])  # prices start 07-18


def test_fixings_carry_tick_version_and_input_hash(history: NetworkHistory) -> None:
    week = history.between(dt.date(2020, 7, 21), dt.date(2020, 7, 27))
    published = fixings(week, currency="usd")
    btc = fixings(week, currency="btc")
    assert [f.date for f in published] == [
        dt.date(2020, 7, 21) + dt.timedelta(days=i) for i in range(7)
    ]
    last = published[-1]
    r = raw("btc_daily.csv", "2020-07-27")
    blocks = int(r["block_count"])
    reward = (float(r["issuance_btc"]) + float(r["fees_btc"])) / blocks
    usd = 86400e15 * reward / (float(r["difficulty_mean"]) * 2**32) * float(r["price_usd"])
    assert last.value == Decimal(usd).quantize(Decimal("0.01"))
    assert last.value.as_tuple().exponent == -2
    assert btc[-1].value.as_tuple().exponent == -8
    assert last.methodology_version == "1.0"
    assert last.unit == "PH/s/day"
    assert last.method == "fpps"
    assert last.inputs["block_count"] == 149
    assert last.inputs["block_count_source"] == "coinmetrics"
    assert inputs_digest(last.inputs) == last.inputs_sha256
    tampered = dict(last.inputs, fees_btc=last.inputs["fees_btc"] + 1e-8)
    assert inputs_digest(tampered) != last.inputs_sha256
    assert len({f.inputs_sha256 for f in published}) == 7


def test_fpps_day_in_2025_from_the_coin_metrics_continuation(fpps) -> None:
    # 2025-06-30: 145 blocks, 453.125 BTC issued (3.125 each), 4.34028358 BTC fees,
    # difficulty 116,958,511,503,531.42, price 107,153.10 USD: no other source has the day.
    row = fpps.loc["2025-06-30"]
    fee_per_block = 4.34028358 / 145  # 0.0299330 BTC
    expected_btc = 1e15 * 86400 * (453.125 / 145 + fee_per_block) / (116958511503531.42 * 2**32)
    assert expected_btc == pytest.approx(0.00054264048, rel=1e-9)
    assert row["hashprice_btc_per_ph_day"] == pytest.approx(expected_btc, rel=1e-12)
    assert row["hashprice_usd_per_ph_day"] == pytest.approx(
        expected_btc * 107153.101135885, rel=1e-12
    )
    assert round(row["hashprice_usd_per_ph_day"], 2) == 58.15
    assert bool(row["fees_included"])


def test_full_values_to_the_end_of_the_coin_metrics_data(fpps, commercial_fpps) -> None:
    days = fpps.loc["2020-07-28":"2025-12-29"]
    assert len(days) == 1981
    assert days["fees_included"].all() and days["hashprice_usd_per_ph_day"].notna().all()
    # Without Coin Metrics the same span has fees only where the node statistics do.
    left = commercial_fpps.loc["2020-07-28":"2025-12-29", "fees_included"]
    assert int(left.sum()) == 142 + 65
