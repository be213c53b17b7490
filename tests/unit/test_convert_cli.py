"""``hashmarket convert`` and ``hashmarket dispatch --conversion`` on the shipped examples, and
their refusals: one line naming the file and the field, a non-zero exit, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from hashmarket.cli.app import app

ROOT = Path(__file__).parents[2]
SITE = ROOT / "examples" / "conversion" / "site.json"
runner = CliRunner()


def test_convert_json_with_overrides(tmp_path: Path) -> None:
    args = ["convert", str(SITE), "--paths", "200", "--seed", "4", "--fraction", "0.5"]
    result = runner.invoke(
        app, [*args, "--format", "json", "--data-dir", str(tmp_path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    # Half of 40 MW is 20 MW: the 10–50 MW bucket.
    assert body["converted_mw"] == 20.0 and body["tenant_probability"] == 0.45
    assert body["n_paths"] == 200 and body["seed"] == 4
    assert body["waiting"]["value_of_waiting_usd"] >= 0
    assert body["irr_with_tenant"]["paths_with_irr"] <= 200
    assert body["correlation"]["estimated"] is False
    table = runner.invoke(app, [*args[:-2], "--data-dir", str(tmp_path)])
    assert table.exit_code == 0 and "Break-even AI price" in table.stdout


def run_module(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashmarket", *args],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
    )


def test_a_bad_site_is_one_line_with_the_file_and_field(tmp_path: Path) -> None:
    data = json.loads(SITE.read_text())
    data["valuation"]["discount_rate_per_year"] = "ten percent"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    done = run_module("convert", str(bad), "--data-dir", str(tmp_path), home=tmp_path)
    assert done.returncode == 65
    (line,) = done.stderr.strip().splitlines()
    assert str(bad) in line and "valuation.discount_rate_per_year" in line
    refused = run_module(
        "convert", str(SITE), "--fraction", "1.5", "--data-dir", str(tmp_path), home=tmp_path
    )
    assert refused.returncode == 2 and "--fraction" in refused.stderr


def test_dispatch_with_a_bad_plan_names_the_plan(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"fraction": 0.3, "gpus_per_mw": 700, "colour": "red"}))
    dispatch = ROOT / "examples" / "dispatch"
    done = run_module(
        "dispatch",
        str(dispatch / "site_mining.json"),
        str(dispatch / "prices_generated.csv"),
        "--conversion",
        str(plan),
        home=tmp_path,
    )
    assert done.returncode == 65
    (line,) = done.stderr.strip().splitlines()
    assert str(plan) in line and "colour" in line
