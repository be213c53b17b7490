"""``hashmarket curve hashprice`` and ``hashmarket price``, run as a user runs them."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hashmarket.cli.app import app

EXAMPLES = Path(__file__).parents[2] / "examples" / "specs"
ASOF = "2023-04-20"  # a complete index day in the bundled data (and a retarget day)


def hashmarket(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashmarket", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "160", "HOME": str(data_dir)},
    )


def test_curve_json_lists_months_with_bands(tmp_path: Path) -> None:
    done = hashmarket(
        "curve",
        "hashprice",
        "--asof",
        ASOF,
        "--months",
        "3",
        "--paths",
        "600",
        "--seed",
        "5",
        "--format",
        "json",
        data_dir=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["asof"] == ASOF and payload["n_paths"] == 600 and payload["seed"] == 5
    months = payload["months"]
    assert [m["month"] for m in months] == ["2023-05", "2023-06", "2023-07"]
    for m in months:
        assert m["p5_usd_per_ph_day"] < m["p50_usd_per_ph_day"] < m["p95_usd_per_ph_day"]
    again = hashmarket(
        "curve", "hashprice", "--asof", ASOF, "--months", "3", "--paths", "600", "--seed", "5",
        "--format", "json", data_dir=tmp_path,
    )  # fmt: skip
    assert json.loads(again.stdout)["months"] == months


def test_curve_table_and_quotes(tmp_path: Path) -> None:
    done = hashmarket(
        "curve", "hashprice", "--asof", ASOF, "--months", "2", "--paths", "400",
        "--quote", "2023-05=50", data_dir=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Hashprice forward curve" in done.stdout and "2023-05" in done.stdout
    assert "50.00" in done.stdout
    bad = hashmarket("curve", "hashprice", "--asof", ASOF, "--quote", "soon", data_dir=tmp_path)
    assert bad.returncode == 2
    assert "--quote" in bad.stderr and "YYYY-MM=PRICE" in bad.stderr


def test_price_json_for_a_forward(tmp_path: Path) -> None:
    spec = tmp_path / "fwd.json"
    spec.write_text(
        json.dumps(
            {
                "type": "hashprice_forward",
                "notional_phs": 10,
                "fixed_price_per_ph_day": 50.0,
                "start": "2023-05-01",
                "end": "2023-05-31",
            }
        ),
        encoding="utf-8",
    )
    done = hashmarket(
        "price", str(spec), "--asof", ASOF, "--paths", "800", "--format", "json",
        data_dir=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["instrument"]["type"] == "hashprice_forward"
    assert payload["currency"] == "usd" and payload["n_paths"] == 800
    assert payload["std_error"] > 0
    assert payload["diagnostics"]["horizon_days"] == 41  # 2023-04-20 to 2023-05-31


def test_price_table_for_an_example_and_the_analytic_engine(tmp_path: Path) -> None:
    done = hashmarket(
        "price", str(EXAMPLES / "european_option_btc.json"), "--asof", ASOF,
        "--engine", "analytic", data_dir=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "european_option" in done.stdout and "black_scholes" in done.stdout


def test_price_refuses_bad_specs_with_the_field_named(tmp_path: Path) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"type": "hashprice_forward", "notional_phs": -3}), encoding="utf-8")
    done = hashmarket("price", str(spec), "--asof", ASOF, data_dir=tmp_path)
    assert done.returncode == 65
    assert done.stderr.count("\n") == 1
    assert "bad.json" in done.stderr
    missing = hashmarket("price", str(tmp_path / "none.json"), data_dir=tmp_path)
    assert missing.returncode == 65 and "file not found" in missing.stderr
    no_engine = hashmarket(
        "price", str(EXAMPLES / "hashprice_forward.json"), "--engine", "analytic",
        "--asof", ASOF, data_dir=tmp_path,
    )  # fmt: skip
    assert no_engine.returncode == 2 and "no 'analytic' engine" in no_engine.stderr


def test_an_option_expired_before_the_asof_date_is_refused_in_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "old.json"
    option = {
        "type": "european_option", "underlying": "btc_usd", "option_type": "call",
        "strike": 20000, "expiry": "2023-03-31", "quantity": 1,
    }  # fmt: skip
    spec.write_text(json.dumps(option), encoding="utf-8")
    for engine in ("mc", "analytic"):
        done = hashmarket("price", str(spec), "--asof", ASOF, "--engine", engine, data_dir=tmp_path)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1
        assert "european_option has nothing left to value as of 2023-04-20" in done.stderr
        assert "its last fixing is 2023-03-31" in done.stderr


def test_compute_contracts_refuse_an_expired_date_and_an_unsupported_method(
    tmp_path: Path,
) -> None:
    spec = str(EXAMPLES / "compute_forward.json")  # March 2026
    expired = hashmarket("price", spec, "--asof", "2027-06-01", data_dir=tmp_path)
    assert expired.returncode == 2 and expired.stdout == ""
    assert expired.stderr.count("\n") == 1
    assert "compute_forward has nothing left to value as of 2027-06-01" in expired.stderr
    assert "its last fixing is 2026-03-31" in expired.stderr
    sobol = hashmarket("price", spec, "--method", "sobol", data_dir=tmp_path)
    assert sobol.returncode == 2 and sobol.stdout == ""
    assert "method 'sobol' is not available for compute_forward" in sobol.stderr


ALL_SPECS = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".json", ".yaml"))


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda p: p.name)
def test_every_example_spec_prices(spec: Path, tmp_path: Path) -> None:
    # In-process (the command's imports are paid once for all the specs).
    done = CliRunner().invoke(
        app,
        ["price", str(spec), "--paths", "200", "--format", "json", "--data-dir", str(tmp_path)],
        env={"HOME": str(tmp_path)},
    )
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert payload["engine"] == "mc" and payload["n_paths"] >= 200 and payload["seed"] == 0
    assert math.isfinite(payload["value"])
    assert math.isfinite(payload["std_error"]) and payload["std_error"] >= 0
    if payload["instrument"]["type"].startswith("compute_"):
        # Valued on the bundled GPU quotes' last H100 on-demand fixing, said in the output.
        index = payload["gpu_index"]
        assert payload["asof"] == index["asof"] == "2026-01-01"
        assert index["asof_from"] == "last fixing" and index["source"] == "gpu_quotes.csv"
        assert index["spot_usd_per_gpu_hour"] == 3.645
        assert "as of 2026-01-01 (last fixing)" in done.stderr
    else:
        assert payload["std_error"] > 0
        assert payload["calibration"] and payload["data_asof"]


def test_compute_prices_by_hand_on_the_bundled_quotes(tmp_path: Path) -> None:
    # With no fit possible the model's mean is the spot, so every expected fixing is 3.645.
    forward = hashmarket(
        "price", str(EXAMPLES / "compute_forward.json"), "--engine", "analytic",
        "--format", "json", data_dir=tmp_path,
    )  # fmt: skip
    assert forward.returncode == 0, forward.stderr
    assert json.loads(forward.stdout)["value"] == pytest.approx(64 * 24 * 31 * (3.645 - 2.40))
    lease = hashmarket(
        "price", str(EXAMPLES / "compute_lease.json"), "--asof", "2026-02-01", data_dir=tmp_path,
    )  # fmt: skip
    assert lease.returncode == 0, lease.stderr
    assert "compute_lease as of 2026-02-01" in lease.stdout
    assert f"{64 * 720 * (3.645 - 2.10):,.2f} USD" in lease.stdout
    assert "fixing of 2026-01-01, 31 days before the as-of date" in lease.stdout
    assert "note: delivery taken as contracted" in lease.stdout
    early = hashmarket(
        "price", str(EXAMPLES / "compute_lease.json"), "--asof", "2025-01-01", data_dir=tmp_path,
    )  # fmt: skip
    assert early.returncode != 0 and early.stderr.count("\n") == 1
    assert "no H100 on-demand GPU-hour index fixing in gpu_quotes.csv on or before 2025-01-01" in (
        early.stderr
    )
