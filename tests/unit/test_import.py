"""``hashmarket data import``: layouts, precedence over the bundled data, and refusals."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hashmarket.chain.consensus import bits_to_difficulty
from hashmarket.chain.history import STORE_FILE_NAME, NetworkHistory
from hashmarket.chain.sources.imports import read_import
from hashmarket.chain.store import LocalStore
from hashmarket.cli.app import app
from hashmarket.errors import DataError

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
EPOCH_300_BITS = "1715b23e"  # real bits of blocks 604,800 to 606,815
DAY_S = 86_400


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def import_file(tmp_path: Path, path: Path) -> None:
    """Import through the real command (in-process), as a user would."""
    result = CliRunner().invoke(
        app, ["data", "import", str(path), "--data-dir", str(data_dir(tmp_path))]
    )
    if result.exception is not None:
        raise result.exception
    assert result.exit_code == 0, result.output


def history(tmp_path: Path) -> NetworkHistory:
    return NetworkHistory.load(data_dir=data_dir(tmp_path))


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def blocks_csv(first_height: int, count: int, start_s: int, *, iso: bool = False) -> str:
    lines = ["height,time,bits,subsidy_sats,fees_sats"]
    for i in range(count):
        t = start_s + 600 * i
        shown = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if iso else t
        lines.append(f"{first_height + i},{shown},{EPOCH_300_BITS},1250000000,{1000 * i}")
    return "\n".join(lines) + "\n"


# -- daily layout -------------------------------------------------------------------------------


def test_an_imported_price_takes_precedence_with_provenance_import(tmp_path: Path) -> None:
    bundled = NetworkHistory.load()
    path = write(tmp_path, "prices.csv", "date,price_usd\n2019-06-01,12345.67\n")
    import_file(tmp_path, path)
    loaded = history(tmp_path)
    assert loaded.frame.loc["2019-06-01", "price_usd"] == 12345.67
    assert loaded.provenance.loc["2019-06-01", "price_usd"] == "import"
    # Other fields of that day, and other days, still come from the bundled data.
    assert loaded.provenance.loc["2019-06-01", "difficulty"] == "coinmetrics"
    assert (
        loaded.frame.loc["2019-06-02", "price_usd"] == bundled.frame.loc["2019-06-02", "price_usd"]
    )
    assert "import" in [s.name for s in loaded.sources]


def test_blank_cells_fall_through_and_issuance_becomes_subsidy_per_block(tmp_path: Path) -> None:
    bundled = NetworkHistory.load()
    text = (
        "date,price_usd,fees_btc,issuance_btc,block_count\n"
        "2019-06-01,,1.5,1800,144\n"
        "2019-06-02,9000,,,\n"
    )
    import_file(tmp_path, write(tmp_path, "d.csv", text))
    loaded = history(tmp_path)
    assert loaded.provenance.loc["2019-06-01", "price_usd"] == "coinmetrics"
    assert (
        loaded.frame.loc["2019-06-01", "price_usd"] == bundled.frame.loc["2019-06-01", "price_usd"]
    )
    assert loaded.frame.loc["2019-06-01", "subsidy_btc"] == 12.5
    assert loaded.frame.loc["2019-06-01", "block_count"] == 144
    assert loaded.frame.loc["2019-06-01", "fees_btc"] == 1.5
    assert loaded.provenance.loc["2019-06-02", "fees_btc"] == "coinmetrics"
    assert loaded.frame.loc["2019-06-02", "price_usd"] == 9000


def test_a_later_import_replaces_and_a_reimport_changes_nothing(tmp_path: Path) -> None:
    first = write(tmp_path, "a.csv", "date,price_usd\n2019-06-01,100\n2019-06-02,200\n")
    second = write(tmp_path, "b.csv", "date,price_usd\n2019-06-02,250\n2019-06-03,300\n")
    store_file = data_dir(tmp_path) / STORE_FILE_NAME
    import_file(tmp_path, first)
    before = digest(store_file)
    import_file(tmp_path, first)  # the same file again: not a byte changes
    assert digest(store_file) == before

    import_file(tmp_path, second)
    prices = history(tmp_path).frame.loc["2019-06-01":"2019-06-03", "price_usd"].tolist()
    assert prices == [100, 250, 300]
    records = LocalStore(store_file).imports()
    assert [(r.file_path, r.cells, r.cells_in_force) for r in records] == [
        (str(first), 2, 1),
        (str(second), 2, 2),
    ]
    assert records[0].sha256 == hashlib.sha256(first.read_bytes()).hexdigest()
    # Importing the first file again brings its values back: the latest import wins.
    import_file(tmp_path, first)
    prices = history(tmp_path).frame.loc["2019-06-01":"2019-06-03", "price_usd"].tolist()
    assert prices == [100, 200, 300]
    assert len(LocalStore(store_file).imports()) == 2


def test_import_result_as_json_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfdate,price_usd\r\n2020-01-01,7200\r\n")
    args = ["data", "import", str(path), "--data-dir", str(data_dir(tmp_path)), "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert '"values_set": 1' in result.output
    assert '"layout": "daily"' in result.output
    assert history(tmp_path).frame.loc["2020-01-01", "price_usd"] == 7200


# -- per-block layout ---------------------------------------------------------------------------


@pytest.mark.parametrize("iso", [False, True])
def test_per_block_import_aggregates_whole_days(tmp_path: Path, iso: bool) -> None:
    start_s = int(dt.datetime(2019, 11, 21, 17, 0, tzinfo=dt.UTC).timestamp())
    path = write(tmp_path, "blocks.csv", blocks_csv(604_800, 1_000, start_s, iso=iso))
    imported = read_import(path)
    assert imported.layout == "blocks" and imported.rows == 1_000
    # Blocks run from 11-21 17:00 to 11-28 07:30: the days 11-22 to 11-27 are covered.
    assert imported.first_date == dt.date(2019, 11, 22)
    assert imported.last_date == dt.date(2019, 11, 27)
    import_file(tmp_path, path)
    loaded = history(tmp_path)
    day = "2019-11-23"
    assert loaded.frame.loc[day, "block_count"] == 144
    assert loaded.frame.loc[day, "difficulty"] == bits_to_difficulty(int(EPOCH_300_BITS, 16))
    assert loaded.frame.loc[day, "subsidy_btc"] == 12.5
    # Fees of the day's blocks, by hand: blocks i = 43 + 144k ... from 11-22 00:00.
    first_i = (int(dt.datetime(2019, 11, 23, tzinfo=dt.UTC).timestamp()) - start_s + 599) // 600
    want_fees_sats = sum(1000 * i for i in range(first_i, first_i + 144))
    assert loaded.frame.loc[day, "fees_btc"] == pytest.approx(want_fees_sats / 1e8, rel=1e-15)
    assert loaded.provenance.loc[day, "block_count"] == "import"
    # Hashrate follows the imported difficulty and block count, not Coin Metrics' own figure.
    assert loaded.provenance.loc[day, "hashrate_ths"] == "derived"
    assert loaded.frame.loc[day, "hashrate_ths"] == pytest.approx(
        bits_to_difficulty(int(EPOCH_300_BITS, 16)) * 144 * 2**32 / 86_400 / 1e12, rel=1e-12
    )


def test_per_block_import_with_difficulty_only(tmp_path: Path) -> None:
    start_s = int(dt.datetime(2019, 11, 21, 17, 0, tzinfo=dt.UTC).timestamp())
    lines = ["height,time,difficulty"]
    lines += [f"{604_800 + i},{start_s + 600 * i},12973235968799.78" for i in range(600)]
    imported = read_import(write(tmp_path, "b.csv", "\n".join(lines) + "\n"))
    assert list(imported.frame.columns) == ["difficulty", "block_count", "subsidy_btc"]
    assert imported.frame["difficulty"].iloc[0] == 12973235968799.78
    # No subsidy column: each block's height gives it (12.5 BTC before 840,000... 630,000).
    assert imported.frame["subsidy_btc"].iloc[0] == 12.5


def test_per_block_import_spanning_the_halving_mixes_the_two_eras(tmp_path: Path) -> None:
    # Heights 839,950 + i every 600 s from 2024-04-19T21:00Z: 2024-04-20 holds i = 18..161,
    # heights 839,968..840,111: 32 blocks at 6.25 BTC before 840,000 and 112 at 3.125.
    start_s = int(dt.datetime(2024, 4, 19, 21, 0, tzinfo=dt.UTC).timestamp())
    lines = ["height,time,bits"]
    lines += [f"{839_950 + i},{start_s + 600 * i},17034219" for i in range(200)]
    imported = read_import(write(tmp_path, "halving.csv", "\n".join(lines) + "\n"))
    row = imported.frame.loc["2024-04-20"]
    assert row["block_count"] == 144
    assert row["subsidy_btc"] == pytest.approx((32 * 6.25 + 112 * 3.125) / 144, rel=1e-15)


def run_import(tmp_path: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashmarket", "data", "import", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HASHMARKET_DATA_DIR": str(data_dir(tmp_path))},
    )


def test_an_import_without_issuance_takes_the_subsidy_from_consensus(tmp_path: Path) -> None:
    # 2026-02-01..02 (after every bundled daily file) lie between the dated epoch starts
    # 933,408 (2026-01-22) and 941,472 (2026-03-20): every block is in the 3.125 BTC era.
    lines = ["date,price_usd,difficulty_mean,fees_btc,block_count"]
    lines += [f"2026-02-0{d},90000,148200000000000,3.5,144" for d in (1, 2)]
    done = run_import(tmp_path, write(tmp_path, "days.csv", "\n".join(lines) + "\n"))
    assert done.returncode == 0, done.stderr
    assert "8 values set" in done.stdout
    assert done.stderr == ""
    loaded = history(tmp_path)
    assert loaded.frame.at["2026-02-02", "subsidy_btc"] == 3.125
    assert loaded.provenance.at["2026-02-02", "subsidy_btc"] == "consensus"


def test_an_import_that_leaves_days_incomplete_says_what_completes_them(tmp_path: Path) -> None:
    # After 2026-03-20 (the last dated epoch start) no bound on the heights is known, and no
    # source has a difficulty or fees: the index has no value for these days.
    lines = ["date,price_usd,block_count"]
    lines += [f"2026-04-0{d},80000,144" for d in (1, 2, 3)]
    done = run_import(tmp_path, write(tmp_path, "days.csv", "\n".join(lines) + "\n"))
    assert done.returncode == 0, done.stderr
    assert "6 values set" in done.stdout
    assert done.stderr == (
        "warning: 2026-04-01..2026-04-03: no index value: add difficulty_mean, "
        "issuance_btc (or the day's heights), fees_btc to complete these days\n"
    )


# -- refusals -----------------------------------------------------------------------------------
# (content, line, column, value, words in the message); line None: the whole file is refused.

GOOD_BLOCK = f"604800,1574356132,{EPOCH_300_BITS},1250000000,0"
BAD_INPUTS = [
    pytest.param(
        "date,price_usd,volume\n2019-06-01,1,2\n",
        1,
        None,
        None,
        "unexpected column 'volume'",
        id="unknown column",
    ),
    pytest.param(
        "date,price_usd,price_usd\n",
        1,
        None,
        None,
        "'price_usd' appears more than once",
        id="duplicate column",
    ),
    pytest.param(
        "day,price_usd\n2019-06-01,1\n",
        1,
        None,
        None,
        "not a daily or per-block layout",
        id="no layout",
    ),
    pytest.param("date,height\n", 1, None, None, "both 'date' and 'height'", id="both layouts"),
    pytest.param("date\n2019-06-01\n", 1, None, None, "no value columns", id="date only"),
    pytest.param(
        "date,issuance_btc\n2019-06-01,1800\n",
        1,
        None,
        None,
        "needs column 'block_count'",
        id="issuance alone",
    ),
    pytest.param("height,bits\n1,1d00ffff\n", 1, None, None, "missing column 'time'", id="no time"),
    pytest.param(
        "height,time\n1,1231469665\n",
        1,
        None,
        None,
        "one of 'bits' or 'difficulty'",
        id="no difficulty",
    ),
    pytest.param(
        "date,price_usd\n2019-06-01,1\n2019-13-01,2\n",
        3,
        "date",
        "2019-13-01",
        "not a date",
        id="bad date",
    ),
    pytest.param(
        "date,price_usd\n2019-06-01,1\n2019-06-01,2\n",
        3,
        "date",
        "2019-06-01",
        "appears twice (first on line 2)",
        id="duplicate date",
    ),
    pytest.param(
        "date,price_usd\n2019-06-02,1\n2019-06-01,2\n",
        3,
        "date",
        "2019-06-01",
        "out of order",
        id="dates out of order",
    ),
    pytest.param(
        "date,price_usd\n2008-12-31,1\n",
        2,
        "date",
        "2008-12-31",
        "date outside 2009-01-03",
        id="date before genesis",
    ),
    pytest.param(
        "date,difficulty_mean\n2019-06-01,-5\n",
        2,
        "difficulty_mean",
        "-5",
        "greater than zero",
        id="negative difficulty",
    ),
    pytest.param(
        "height,time,difficulty\n1,1231469665,0\n",
        2,
        "difficulty",
        "0",
        "greater than zero",
        id="zero difficulty",
    ),
    pytest.param("date,price_usd\n2019-06-01,nan\n", 2, "price_usd", "nan", "NaN", id="NaN price"),
    pytest.param(
        "date,fees_btc\n2019-06-01,-0.1\n",
        2,
        "fees_btc",
        "-0.1",
        "must not be negative",
        id="negative fees",
    ),
    pytest.param(
        "date,block_count\n2019-06-01,518401\n",
        2,
        "block_count",
        "518401",
        "more blocks in a day than consensus allows (518400)",
        id="too many blocks",
    ),
    pytest.param(
        "date,block_count\n2019-06-01,14.5\n",
        2,
        "block_count",
        "14.5",
        "not a whole number",
        id="fractional blocks",
    ),
    pytest.param(
        "date,issuance_btc,block_count\n2019-06-01,1800,\n",
        2,
        "issuance_btc",
        "1800.0",
        "needs a value in 'block_count'",
        id="issuance without blocks",
    ),
    pytest.param(
        "date,price_usd,fees_btc\n2019-06-01,1\n",
        2,
        None,
        None,
        "row has 2 fields, the header has 3",
        id="too few fields",
    ),
    pytest.param(
        f"height,time,bits,subsidy_sats,fees_sats\n{GOOD_BLOCK}\n{GOOD_BLOCK}\n",
        3,
        "height",
        "604800",
        "appears twice",
        id="duplicate height",
    ),
    pytest.param(
        f"height,time,bits\n604801,1574356132,{EPOCH_300_BITS}\n604800,1574356132,{EPOCH_300_BITS}\n",
        3,
        "height",
        "604800",
        "out of order",
        id="heights out of order",
    ),
    pytest.param(
        "height,time,bits\n1,1231469665,1d00fffg\n",
        2,
        "bits",
        "1d00fffg",
        "compact target",
        id="bad bits",
    ),
    pytest.param(
        "height,time,bits\n1,1231469665,1d80ffff\n",
        2,
        "bits",
        "1d80ffff",
        "compact target",
        id="negative target",
    ),
    pytest.param(
        "height,time,bits,difficulty\n1,1231469665,1d00ffff,2\n",
        2,
        "difficulty",
        "2.0",
        "does not match bits 1d00ffff",
        id="bits and difficulty disagree",
    ),
    pytest.param(
        "height,time,bits\n1,1231469665000,1d00ffff\n",
        2,
        "time",
        "1231469665000",
        "milliseconds are not accepted",
        id="milliseconds",
    ),
    pytest.param(
        "height,time,bits\n1,2009-01-09 02:54:25,1d00ffff\n",
        2,
        "time",
        "2009-01-09 02:54:25",
        "not a UTC timestamp",
        id="bad time",
    ),
    pytest.param(
        "height,time,bits,hash\n1,1231469665,1d00ffff,\n",
        2,
        "hash",
        "",
        "64-hex-digit",
        id="blank hash",
    ),
    pytest.param(
        "height,time,bits,subsidy_sats\n210000,1354116278,1b04864c,5000000000\n",
        2,
        "subsidy_sats",
        "5000000000",
        "consensus block subsidy at this height (2500000000 sats)",
        id="subsidy above consensus",
    ),
    pytest.param(
        blocks_csv(604_800, 100, 1574356132),
        None,
        None,
        None,
        "no UTC day is fully covered",
        id="no whole day",
    ),
    pytest.param(
        "date,price_usd\n2019-06-01,\n",
        None,
        None,
        None,
        "every value cell is blank",
        id="all blank",
    ),
    pytest.param("", None, None, None, "the file is empty", id="empty file"),
]


@pytest.mark.parametrize(("content", "line", "column", "value", "words"), BAD_INPUTS)
def test_a_refused_file_is_named_and_changes_nothing(
    tmp_path: Path,
    content: str,
    line: int | None,
    column: str | None,
    value: str | None,
    words: str,
) -> None:
    store_file = data_dir(tmp_path) / STORE_FILE_NAME
    import_file(tmp_path, write(tmp_path, "good.csv", "date,price_usd\n2019-06-01,100\n"))
    before = digest(store_file)
    bad = write(tmp_path, "bad.csv", content)
    with pytest.raises(DataError) as refused:
        import_file(tmp_path, bad)
    where = refused.value.location
    assert where is not None
    assert (where.file, where.line, where.column, where.value) == (str(bad), line, column, value)
    message = str(refused.value)
    assert message.startswith(str(bad))
    assert words in message
    if column is not None:
        assert f"column {column!r}" in message and f"value {value!r}" in message
    assert digest(store_file) == before
    assert history(tmp_path).frame.loc["2019-06-01", "price_usd"] == 100


def test_a_refused_first_import_creates_no_store(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.csv", "date,price_usd\n2019-06-01,-1\n")
    with pytest.raises(DataError):
        import_file(tmp_path, bad)
    assert not data_dir(tmp_path).exists()


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_import(tmp_path / "missing.csv")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("date,price_usd\n2019-06-01,1\u00e9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_import(latin1)


def test_a_refusal_at_the_command_line_is_one_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.csv", "date,price_usd\n2019-06-01,1\n2019-06-01,2\n")
    env = {**os.environ, "HASHMARKET_DATA_DIR": str(data_dir(tmp_path))}
    result = subprocess.run(
        [sys.executable, "-m", "hashmarket", "data", "import", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == DataError.exit_code
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"hashmarket: error: {bad}:3: column 'date': value '2019-06-01': "
        "date appears twice (first on line 2)"
    )
    assert not data_dir(tmp_path).exists()
    assert math.isfinite(NetworkHistory.load().frame.loc["2019-06-01", "price_usd"])
