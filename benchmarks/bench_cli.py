"""Start-up of the command line: what a user waits for before the first line of output.

Targets on a quiet machine: ``hashmarket --help`` ≤ 0.3 s, ``hashmarket index hashprice
--last 30`` ≤ 1 s. Baseline in the same run: ``python -c "import numpy, pandas"``, the floor
of any command that touches the index. Each command runs in a fresh process, as a user runs
it; runs of the three are interleaved so that load on the machine hits them alike.
``-X importtime`` then shows which packages both commands spend their import time on.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEAT = 9
TOP_IMPORTS = 8


def hashmarket_executable() -> str:
    beside = Path(sys.executable).with_name("hashmarket")
    return str(beside) if beside.exists() else shutil.which("hashmarket") or "hashmarket"


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def import_time_by_package(argv: list[str], env: dict[str, str]) -> list[tuple[float, str]]:
    """Seconds spent importing each top-level package (its modules' own import time) in one
    run, slowest first."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    by_package: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        package = name.strip().split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(own) / 1e6
    return sorted(((s, p) for p, s in by_package.items()), reverse=True)[:TOP_IMPORTS]


def main() -> None:
    exe = hashmarket_executable()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "HASHMARKET_DATA_DIR": data_dir, "COLUMNS": "100"}
        commands = {
            "hashmarket --help": [exe, "--help"],
            "hashmarket index hashprice --last 30": [exe, "index", "hashprice", "--last", "30"],
            'baseline: python -c "import numpy, pandas"': [
                sys.executable,
                "-c",
                "import numpy, pandas",
            ],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():  # warm the file cache
            timed(argv, env)
        for _ in range(REPEAT):
            for name, argv in commands.items():
                samples[name].append(timed(argv, env))
        load = os.getloadavg()[0]
        print(f"median of {REPEAT} runs each, interleaved; load average {load:.1f}")
        for name, values in samples.items():
            print(
                f"{name}: {statistics.median(values):.3f} s median "
                f"(min {min(values):.3f}, max {max(values):.3f})"
            )
        for name in list(commands)[:2]:
            module_argv = ["-m", "hashmarket", *commands[name][1:]]
            print(f"\nimport time of `{name}` by package (s):")
            for seconds, package in import_time_by_package(module_argv, env):
                print(f"  {seconds:.3f}  {package}")
