"""The command line, run as a user runs it: a subprocess with its exit code and streams."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.index.asof import resolve_asof
from hashmarket.index.hashprice import hashprice_table


def hashmarket(
    *args: str, data_dir: Path, today: dt.date | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "160", "HOME": str(data_dir)}
    if today is not None:
        env["HASHMARKET_TODAY"] = today.isoformat()
    return subprocess.run(
        [sys.executable, "-m", "hashmarket", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_json_has_the_documented_keys(tmp_path: Path) -> None:
    done = hashmarket(
        "index",
        "hashprice",
        "--start",
        "2020-07-25",
        "--end",
        "2020-07-27",
        "--format",
        "json",
        data_dir=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert [r["date"] for r in records] == ["2020-07-25", "2020-07-26", "2020-07-27"]
    first = records[0]
    for key in (
        "hashprice_btc_per_ph_day",
        "hashprice_usd_per_ph_day",
        "difficulty",
        "subsidy_btc",
        "fees_btc_per_block",
        "fees_included",
        "price_usd",
        "method",
    ):
        assert key in first
    assert first["method"] == "fpps"
    assert first["fees_included"] is True


def test_units_and_currencies_follow_the_options(tmp_path: Path) -> None:
    args = (
        "index",
        "hashprice",
        "--start",
        "2020-07-27",
        "--end",
        "2020-07-27",
        "--format",
        "json",
    )
    per_ph = json.loads(hashmarket(*args, data_dir=tmp_path).stdout)[0]
    per_th = json.loads(
        hashmarket(*args, "--unit", "th", "--currency", "sats", data_dir=tmp_path).stdout
    )[0]
    per_eh = json.loads(hashmarket(*args, "--unit", "eh", data_dir=tmp_path).stdout)[0]
    assert per_th["hashprice_usd_per_th_day"] == pytest.approx(
        per_ph["hashprice_usd_per_ph_day"] / 1000
    )
    assert per_th["hashprice_sats_per_th_day"] == pytest.approx(
        per_ph["hashprice_btc_per_ph_day"] * 1e8 / 1000
    )
    assert per_eh["hashprice_btc_per_eh_day"] == pytest.approx(
        per_ph["hashprice_btc_per_ph_day"] * 1000
    )


def test_nulls_where_there_is_no_price(tmp_path: Path) -> None:
    done = hashmarket(
        "index",
        "hashprice",
        "--start",
        "2010-01-01",
        "--end",
        "2010-01-02",
        "--format",
        "json",
        data_dir=tmp_path,
    )
    records = json.loads(done.stdout)
    assert all(r["hashprice_usd_per_ph_day"] is None and r["price_usd"] is None for r in records)
    assert all(r["hashprice_btc_per_ph_day"] > 0 for r in records)


def test_last_n_realized_csv(tmp_path: Path) -> None:
    done = hashmarket(
        "index",
        "hashprice",
        "--last",
        "5",
        "--method",
        "realized",
        "--format",
        "csv",
        data_dir=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == 5
    assert {r["method"] for r in rows} == {"realized"}
    assert all(r["hashprice_usd_per_ph_day"] for r in rows)


def test_default_table_shows_thirty_days_with_a_chart(tmp_path: Path) -> None:
    """The 30 days with a value up to the as-of date: the last complete index day."""
    history = NetworkHistory.load()
    asof = resolve_asof(history).date
    table = hashprice_table(history).loc[: pd.Timestamp(asof)]
    expected = table[table["hashprice_usd_per_ph_day"].notna()].index[-30:]
    done = hashmarket("index", "hashprice", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Hashprice index (fpps)" in done.stdout
    assert all(f"│ {d.date()} │" in done.stdout for d in expected)
    assert f"│ {expected[0].date() - dt.timedelta(days=1)} │" not in done.stdout
    assert f"│ {asof + dt.timedelta(days=1)} │" not in done.stdout
    assert f"as of {asof} (complete index" in done.stdout
    assert "█" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--start", "2020-13-01"), "--start: '2020-13-01' is not a YYYY-MM-DD date"),
        (
            ("--start", "2020-02-01", "--end", "2020-01-01"),
            "end: 2020-01-01 is before start 2020-02-01",
        ),
        (("--last", "0"), "last: must be a positive number of days"),
        (("--start", "2030-01-01"), "no data between 2030-01-01"),
        (("--unit", "gh"), "gh"),
    ],
)
def test_bad_options_give_one_line_and_a_nonzero_exit(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = hashmarket("index", "hashprice", *args, data_dir=tmp_path)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_data_info_names_every_licence(tmp_path: Path) -> None:
    done = hashmarket("data", "info", "--format", "json", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    licences = {s["source"]: s["licence"] for s in info["sources"]}
    assert licences["coinmetrics"].startswith("CC BY-NC 4.0")
    assert licences["bitstamp"] == "CC BY-SA 4.0"
    assert licences["node_stats"] == "MIT"
    assert "Apache-2.0" in licences["epochs"]
    assert licences["coinmetrics_2020_2025"].startswith("CC BY-NC 4.0")
    assert licences["epoch_headers"] == "MIT"
    files = {s["source"]: s["file"] for s in info["sources"]}
    assert files["coinmetrics_2020_2025"] == "btc_daily_2020_2025.csv"
    assert files["epoch_headers"] == "btc_epoch_headers.csv"
    fields = {f["field"]: f for f in info["fields"]}
    # Coin Metrics to 2025-12-29, then epoch 462 (dated by the headers) to 2026-01-22.
    assert fields["difficulty"]["last"] == "2026-01-22"
    assert fields["fees_btc"]["last"] == "2026-01-31"
    assert info["days"] == 6440


def test_python_dash_m_and_version(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hashmarket", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("hashmarket ")


def test_json_output_is_clean_and_the_asof_lines_go_to_stderr(tmp_path: Path) -> None:
    asof = resolve_asof(NetworkHistory.load()).date
    today = asof + dt.timedelta(days=30)
    args = ("index", "hashprice", "--last", "2", "--format", "json")
    done = hashmarket(*args, data_dir=tmp_path, today=today)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[-1]["date"] == asof.isoformat()
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"as of {asof} (complete index")
    assert lines[1] == f"data as of {asof} (30 days old): run `hashmarket data sync`"


def test_an_asof_after_the_data_is_refused_naming_the_last_day(tmp_path: Path) -> None:
    asof = resolve_asof(NetworkHistory.load()).date
    later = asof + dt.timedelta(days=1)
    args = ("miner", "breakeven", "--machine", "S21", "--power-usd-per-kwh", "0.05")
    done = hashmarket(*args, "--asof", str(later), data_dir=tmp_path)
    assert done.returncode == 65
    assert f"cannot use {later} as the as-of date: the data supports days up to {asof}" in (
        done.stderr
    )
