"""``hashmarket index regional`` and ``hashmarket price`` on regional contracts, in process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from hashmarket.cli.app import app
from hashmarket.errors import DataError

ROOT = Path(__file__).parents[2]
POWER = str(ROOT / "examples" / "regional" / "power_generated.csv")


def invoke(tmp_path: Path, *args: str) -> object:
    return CliRunner().invoke(
        app, [*args, "--data-dir", str(tmp_path)], env={"HOME": str(tmp_path)}
    )


def test_the_index_as_json_and_csv(tmp_path: Path) -> None:
    window = ["--start", "2025-01-05", "--end", "2025-01-06", "--region", "texas"]
    done = invoke(tmp_path, "index", "regional", POWER, *window, "--format", "json")
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    fixings = json.loads(done.stdout)  # type: ignore[attr-defined]
    # 57.03 − 480 × 0.04064 = 37.5228 → 37.52; 59.45 − 480 × 0.04028 = 40.1156 → 40.12
    assert [(f["date"], f["value"]) for f in fixings] == [
        ("2025-01-05", "37.52"),
        ("2025-01-06", "40.12"),
    ]
    done = invoke(tmp_path, "index", "regional", POWER, *window, "--efficiency", "25")
    assert done.exit_code == 0  # type: ignore[attr-defined]
    # 25 J/TH: 600 kWh a day; 57.03 − 600 × 0.04064 = 32.646 → 32.65.
    assert "32.65" in done.stdout and "at 25 J/TH" in done.stdout  # type: ignore[attr-defined]
    csv = invoke(tmp_path, "index", "regional", POWER, "--format", "csv")
    lines = csv.stdout.splitlines()  # type: ignore[attr-defined]
    assert lines[0].startswith("date,region,margin_usd_per_ph_day,")
    assert len(lines) == 1 + 7 * 3  # the last 7 days, three regions


def test_a_bad_power_file_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,region,price_usd_per_mwh\n2025-01-05,texas,40\n2025-01-06,texas,x\n")
    done = subprocess.run(
        [sys.executable, "-m", "hashmarket", "index", "regional", str(bad)],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path), "HASHMARKET_DATA_DIR": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 65
    assert done.stderr.strip() == (
        f"hashmarket: error: {bad}:3: column 'price_usd_per_mwh': value 'x': not a number"
    )
    spec = str(ROOT / "examples" / "specs" / "power_forward.json")
    priced = invoke(tmp_path, "price", spec, "--power-prices", str(bad), "--paths", "200")
    assert isinstance(priced.exception, DataError)  # type: ignore[attr-defined]
    assert str(priced.exception).endswith(  # type: ignore[attr-defined]
        "bad.csv:3: column 'price_usd_per_mwh': value 'x': not a number"
    )


def test_price_states_the_power_model_and_its_source(tmp_path: Path) -> None:
    spec = str(ROOT / "examples" / "specs" / "regional_basis_swap.json")
    done = invoke(tmp_path, "price", spec, "--paths", "400", "--format", "json")
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    payload = json.loads(done.stdout)  # type: ignore[attr-defined]
    regional = payload["regional"]
    assert "GENERATED" in regional["source"]
    assert [r["region"] for r in regional["regions"]] == ["quebec", "texas"]
    assert payload["diagnostics"]["power_models"]["texas"]["correlation_to_hashprice"] > 0.2
    mine = invoke(tmp_path, "price", spec, "--paths", "400", "--power-prices", POWER)
    assert "power prices: " + POWER in mine.stdout.replace("\n", "")  # type: ignore[attr-defined]
    assert "correlation to hashprice" in mine.stdout  # type: ignore[attr-defined]
