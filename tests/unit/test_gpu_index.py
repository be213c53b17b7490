"""The GPU-hour index: weighted medians by hand, robust screening, invariance to volume splits,
input hashes recomputed from the documented canonical form, strict quote files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
import subprocess
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from hashmarket.errors import DataError
from hashmarket.index.compute import (
    Methodology,
    Period,
    compute_fixings,
    gpu_fixings,
    period_bounds,
    weighted_median,
)
from hashmarket.index.gpu_quotes import (
    QuoteTable,
    Term,
    canonical_model,
    canonical_term,
    load_bundled_quotes,
    read_quotes,
)

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def quotes(
    prices: list[float],
    volumes: list[float] | None = None,
    *,
    times: list[int] | None = None,
    providers: list[str] | None = None,
    model: str = "H100",
    term: str = "on-demand",
) -> QuoteTable:
    n = len(prices)
    return QuoteTable.from_arrays(
        time_s=times or [T0 + 3600] * n,
        provider=providers or [f"p{i}" for i in range(n)],
        gpu_model=[model] * n,
        region=["us"] * n,
        term=[term] * n,
        price_usd_per_gpu_hour=prices,
        volume_gpu_hours=volumes,
    )


# -- weighted median -------------------------------------------------------------------------


def test_weighted_median_by_hand() -> None:
    assert weighted_median([3.0, 1.0, 2.0]) == 2.0
    assert weighted_median([4.0, 1.0, 3.0, 2.0]) == 2.5  # even count: midpoint
    # Weights 1,1,2: cumulative 1,2,4 of 4 lands exactly on half at 2 -> midpoint of 2 and 3.
    assert weighted_median([1.0, 2.0, 3.0], [1.0, 1.0, 2.0]) == 2.5
    # Weights 1,1,3: cumulative 1,2,5 of 5 first reaches 2.5 at 3.
    assert weighted_median([1.0, 2.0, 3.0], [1.0, 1.0, 3.0]) == 3.0
    assert weighted_median([7.0], [0.5]) == 7.0


def test_fixing_by_hand_with_volumes() -> None:
    # 2.00 x 100, 2.50 x 300, 3.00 x 100, 2.40 x 100: weight 600, half 300.
    # Sorted: 2.00 (100), 2.40 (200), 2.50 (500) -> median 2.50.
    # |dev| sorted: 0 (300), 0.1 (100), 0.5 (100), 0.5 (100): the cumulative weight is
    # exactly half at 0, so MAD = (0 + 0.1) / 2 = 0.05; limit 3 x 1.4826 x 0.05 = 0.22239.
    # 2.00 and 3.00 are screened; 2.40 (100) and 2.50 (300) remain: the fixing is 2.50.
    [fixing] = gpu_fixings(quotes([2.0, 2.5, 3.0, 2.4], [100, 300, 100, 100]))
    assert fixing.mad_usd_per_gpu_hour == pytest.approx(0.05)
    assert fixing.value == Decimal("2.5000")
    assert fixing.n_outliers == 2
    assert fixing.volume_gpu_hours == 400.0


def test_fixing_by_hand_screening_one_quote() -> None:
    # Equal weights. Prices 2.0, 2.2, 2.4, 2.6, 2.8, 9.0: median (2.4+2.6)/2 = 2.5.
    # |dev| 0.5, 0.3, 0.1, 0.1, 0.3, 6.5 -> sorted .1 .1 .3 .3 .5 6.5 -> MAD 0.3.
    # Limit 3 x 1.4826 x 0.3 = 1.33434: only 9.0 is beyond. Fixing: median of five = 2.4.
    [fixing] = gpu_fixings(quotes([2.0, 2.2, 2.4, 2.6, 2.8, 9.0]))
    assert fixing.centre_usd_per_gpu_hour == pytest.approx(2.5)
    assert fixing.mad_usd_per_gpu_hour == pytest.approx(0.3)
    assert fixing.n_outliers == 1
    assert fixing.value == Decimal("2.4000")
    assert fixing.volume_gpu_hours is None


def test_bundled_sample_by_hand() -> None:
    sample = load_bundled_quotes()
    assert len(sample) == 11
    on_demand, reserved = gpu_fixings(sample, methodology=Methodology(period=Period.ALL))
    # On-demand: 2.58 2.67 2.69 3.21 4.08 4.50 6.16 6.88 12.29 -> median 4.08, MAD 1.41,
    # limit 3 x 1.4826 x 1.41 = 6.27: Azure's 12.29 (8.21 away) is screened; the median
    # of the other eight is (3.21 + 4.08) / 2.
    assert (on_demand.term, on_demand.n_quotes, on_demand.n_outliers) == ("on-demand", 9, 1)
    assert on_demand.centre_usd_per_gpu_hour == pytest.approx(4.08)
    assert on_demand.value == Decimal("3.6450")
    assert reserved.value == Decimal("2.0250")  # (1.70 + 2.35) / 2
    assert on_demand.period_start == dt.date(2025, 7, 1)


def test_bundled_rows_all_cite_a_source() -> None:
    sample = load_bundled_quotes()
    assert sample.sources is not None
    assert all(s.startswith("https://") for s in sample.sources)


# -- invariance and robustness -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_splitting_a_quotes_volume_leaves_the_fixing_unchanged(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 40))
    prices = np.round(rng.lognormal(1.0, 0.4, n), 2).tolist()
    volumes = rng.integers(1, 50, n).astype(float).tolist()
    base = gpu_fixings(quotes(prices, volumes))[0]
    k = int(rng.integers(0, n))
    # Split quote k into two quotes at its price whose volumes add up to its own, exactly.
    first_part = volumes[k] // 2 if volumes[k] > 1 else 0.5
    split_prices = [*prices, prices[k]]
    split_volumes = [*volumes, volumes[k] - first_part]
    split_volumes[k] = first_part
    split = gpu_fixings(quotes(split_prices, split_volumes))[0]
    assert split.value == base.value
    assert split.centre_usd_per_gpu_hour == base.centre_usd_per_gpu_hour
    assert split.mad_usd_per_gpu_hour == base.mad_usd_per_gpu_hour
    assert split.volume_gpu_hours == base.volume_gpu_hours


def test_splitting_into_many_parts() -> None:
    prices = [2.1, 2.3, 2.35, 2.5, 2.9, 3.4]
    volumes = [10.0, 40.0, 5.0, 20.0, 30.0, 8.0]
    base = gpu_fixings(quotes(prices, volumes))[0]
    split = gpu_fixings(quotes([*prices, 2.3, 2.3, 2.3], [10, 10, 5, 20, 30, 8, 10, 10, 10]))[0]
    assert split.value == base.value
    assert split.n_quotes == base.n_quotes + 3


@pytest.mark.parametrize("absurd", [1e6, 1e-4, 250.0])
def test_one_absurd_quote_does_not_move_the_fixing(absurd: float) -> None:
    rng = np.random.default_rng(7)
    prices = np.round(rng.normal(2.5, 0.15, 25), 3).tolist()
    volumes = rng.integers(10, 100, 25).astype(float).tolist()
    base = gpu_fixings(quotes(prices, volumes))[0]
    # The absurd quote even carries the largest volume of all.
    polluted = gpu_fixings(quotes([*prices, absurd], [*volumes, 99.0]))[0]
    assert polluted.n_outliers == base.n_outliers + 1
    assert polluted.value == base.value


def test_a_mean_would_have_moved() -> None:
    prices = [2.4, 2.5, 2.6, 2.45, 2.55]
    polluted = [*prices, 1e6]
    assert abs(np.mean(polluted) - np.mean(prices)) > 1e5  # what the median rule avoids
    assert gpu_fixings(quotes(polluted))[0].value == gpu_fixings(quotes(prices))[0].value


def test_groups_never_mix_models_terms_or_days() -> None:
    table = QuoteTable.from_arrays(
        time_s=[T0, T0 + 10, T0 + 86_400, T0, T0],
        provider=["a", "b", "c", "d", "e"],
        gpu_model=["H100", "h100", "H100", "A100", "H100"],
        region=["", "", "", "", ""],
        term=["on-demand", "On_Demand", "on-demand", "on-demand", "interruptible"],
        price_usd_per_gpu_hour=[2.0, 3.0, 5.0, 1.0, 1.5],
    )
    fixings = gpu_fixings(table)
    keys = [(f.period_start.isoformat(), f.gpu_model, f.term, str(f.value)) for f in fixings]
    assert keys == [
        ("2026-01-01", "A100", "on-demand", "1.0000"),
        ("2026-01-01", "H100", "on-demand", "2.5000"),
        ("2026-01-01", "H100", "spot", "1.5000"),
        ("2026-01-02", "H100", "on-demand", "5.0000"),
    ]


def test_screened_quotes_are_reported_per_quote() -> None:
    table = quotes([2.0, 2.2, 2.4, 2.6, 2.8, 9.0])
    _, screened = compute_fixings(table)
    assert screened.kept.tolist() == [True, True, True, True, True, False]


# -- normalisation and periods ----------------------------------------------------------------


def test_canonical_names() -> None:
    assert canonical_model("nvidia h100-sxm") == "H100 SXM"
    assert canonical_model("  H100_SXM5  80GB ") == "H100 SXM5 80GB"
    assert canonical_model("H100") != canonical_model("H100 PCIe")
    assert canonical_term("On Demand") is Term.ON_DEMAND
    assert canonical_term("preemptible") is Term.SPOT
    with pytest.raises(ValueError, match="monthly"):
        canonical_term("monthly")


def test_period_bounds() -> None:
    # 2026-01-01 is a Thursday: its week runs Monday 2025-12-29 to Sunday 2026-01-04.
    day = T0 // 86_400
    t = np.array([T0 + 5], dtype=np.int64)
    assert period_bounds(t, Period.DAY)[0][0] == day
    start, end = period_bounds(t, Period.WEEK)
    assert (int(start[0]) - day, int(end[0]) - day) == (-3, 3)
    start, end = period_bounds(np.array([T0 + 40 * 86_400]), Period.MONTH)  # 2026-02-10
    assert (dt.date(1970, 1, 1) + dt.timedelta(days=int(start[0]))).isoformat() == "2026-02-01"
    assert (dt.date(1970, 1, 1) + dt.timedelta(days=int(end[0]))).isoformat() == "2026-02-28"


# -- input hashes -----------------------------------------------------------------------------


def canonical_digest(rows: Sequence[tuple[int, str, str, float, float | None]]) -> str:
    """The documented canonical form, written independently of the module's implementation."""
    providers = sorted({r[1] for r in rows})
    regions = sorted({r[2] for r in rows})
    ordered = sorted(rows, key=lambda r: (r[3], r[0], r[1], r[2], r[4] or 0.0))
    header = json.dumps({"providers": providers, "regions": regions}, separators=(",", ":"))
    body = b"".join(
        struct.pack(
            "<qiidd", t, providers.index(p), regions.index(r), price, 0.0 if v is None else v
        )
        for t, p, r, price, v in ordered
    )
    return hashlib.sha256(header.encode() + b"\n" + body).hexdigest()


def test_inputs_hash_matches_the_documented_form() -> None:
    rows = [
        (T0 + 60, "lambda", "us-east", 2.49, 100.0),
        (T0 + 5, "akash", "eu", 2.58, 10.0),
        (T0 + 5, "vast", "us-east", 2.49, 40.0),
    ]
    table = QuoteTable.from_arrays(
        time_s=[r[0] for r in rows],
        provider=[r[1] for r in rows],
        gpu_model=["H100"] * 3,
        region=[r[2] for r in rows],
        term=["on-demand"] * 3,
        price_usd_per_gpu_hour=[r[3] for r in rows],
        volume_gpu_hours=[r[4] for r in rows],
    )
    [fixing] = gpu_fixings(table)
    assert fixing.inputs["quotes_sha256"] == canonical_digest(rows)
    canonical = json.dumps(fixing.inputs, sort_keys=True, separators=(",", ":"))
    assert fixing.inputs_sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    assert fixing.methodology_version == "1.0"


def test_inputs_hash_ignores_row_order_and_sees_every_price() -> None:
    prices = [2.1, 2.2, 2.3, 2.4]
    a = gpu_fixings(quotes(prices, [1, 2, 3, 4]))[0]
    shuffled = QuoteTable.from_arrays(
        time_s=[T0 + 3600] * 4,
        provider=["p3", "p1", "p0", "p2"],
        gpu_model=["H100"] * 4,
        region=["us"] * 4,
        term=["on-demand"] * 4,
        price_usd_per_gpu_hour=[2.4, 2.2, 2.1, 2.3],
        volume_gpu_hours=[4, 2, 1, 3],
    )
    assert gpu_fixings(shuffled)[0].inputs_sha256 == a.inputs_sha256
    moved = gpu_fixings(quotes([2.1, 2.2, 2.3, 2.41], [1, 2, 3, 4]))[0]
    assert moved.inputs_sha256 != a.inputs_sha256
    assert moved.value == a.value  # same fixing, different inputs: the hash says so


# -- quote files ------------------------------------------------------------------------------

HEADER = "time_utc,provider,gpu_model,region,term,price_usd_per_gpu_hour,volume_gpu_hours\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "quotes.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_reads_a_valid_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "2026-01-01T10:00:00Z,Lambda,H100,us,on-demand,2.49,100\n"
        "2026-01-01T09:00:00Z,Vast.ai,NVIDIA H100,eu,on-demand,2.67,50\n",
    )
    table = read_quotes(path)
    assert table.gpu_model.tolist() == ["H100", "H100"]
    assert table.lines is not None and table.lines.tolist() == [2, 3]
    assert str(gpu_fixings(table)[0].value) == "2.4900"  # 100 of 150 GPU-hours at 2.49


@pytest.mark.parametrize(
    ("row", "where", "says"),
    [
        ("2026-01-01T10:00:00Z,L,H100,us,monthly,2.49,1", "column 'term'", "not a term"),
        ("2026-01-01T10:00:00Z,L,H100,us,spot,-2.49,1", "price_usd_per_gpu_hour", "greater"),
        ("2026-01-01T10:00:00Z,L,H100,us,spot,nan,1", "price_usd_per_gpu_hour", "NaN"),
        ("2026-01-01T10:00:00Z,L,H100,us,spot,2.49,0", "volume_gpu_hours", "greater"),
        ("2026-01-01 10:00,L,H100,us,spot,2.49,1", "time_utc", "UTC timestamp"),
        ("2026-01-01T10:00:00Z,L,H100,us,spot,2.49", "quotes.csv:3", "6 fields"),
    ],
)
def test_refuses_bad_rows_naming_line_and_column(
    tmp_path: Path, row: str, where: str, says: str
) -> None:
    path = write(tmp_path, "2026-01-01T10:00:00Z,L,H100,us,spot,2.49,1\n" + row + "\n")
    with pytest.raises(DataError) as caught:
        read_quotes(path)
    message = str(caught.value)
    assert "quotes.csv:3" in message
    assert where in message
    assert says in message


def test_refuses_a_fixing_with_some_volumes_blank(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "2026-01-01T10:00:00Z,A,H100,us,spot,2.49,10\n2026-01-01T11:00:00Z,B,H100,us,spot,2.59,\n",
    )
    with pytest.raises(DataError, match=r"quotes.csv:3: column 'volume_gpu_hours'.*or none"):
        gpu_fixings(read_quotes(path))


def test_refuses_missing_and_unknown_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "", header="time_utc,provider,gpu_model,region,term\n")
    with pytest.raises(DataError, match="missing column 'price_usd_per_gpu_hour'"):
        read_quotes(path)
    path = write(tmp_path, "", header=HEADER.strip() + ",colour\n")
    with pytest.raises(DataError, match="unexpected column 'colour'"):
        read_quotes(path)
    path = write(tmp_path, "")
    with pytest.raises(DataError, match="no quotes"):
        read_quotes(path)


# -- command line -----------------------------------------------------------------------------


def hashmarket(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashmarket", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "160", "HOME": str(cwd)},
    )


def test_cli_json_and_filters(tmp_path: Path) -> None:
    done = hashmarket("index", "gpu", "--period", "all", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert [(r["term"], r["value"]) for r in records] == [
        ("on-demand", 3.645),
        ("reserved", 2.025),
    ]
    assert len(records[0]["inputs_sha256"]) == 64
    done = hashmarket("index", "gpu", "--model", "A100", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "hashmarket: error: no quotes match --model A100 (models: H100)"


def test_cli_reads_a_file_and_reports_bad_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-01-01T10:00:00Z,A,H100,us,weekly,2.49,10\n")
    done = hashmarket("index", "gpu", str(path), cwd=tmp_path)
    assert done.returncode == 65
    assert "quotes.csv:2: column 'term': value 'weekly': not a term" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    path = write(tmp_path, "2026-01-01T10:00:00Z,A,H100,us,spot,2.49,10\n")
    done = hashmarket("index", "gpu", str(path), "--format", "csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith("2026-01-01,2026-01-01,H100,spot,2.4900,1,0,10.0")
