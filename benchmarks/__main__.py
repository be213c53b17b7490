"""Run every benchmark: ``python -m benchmarks [name ...]`` (``make bench``).

Each ``benchmarks/bench_<area>.py`` defines ``main() -> None`` that measures, prints its
figures with their conditions, and compares against a baseline measured in the same run.
Benchmarks are never timed assertions in the test suite; their figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from pathlib import Path


def conditions() -> str:
    import numpy as np

    cpus = os.cpu_count()
    return (
        f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
        f"{cpus} CPUs, {platform.system()} {platform.release()}"
    )


def main(argv: list[str]) -> None:
    here = Path(__file__).parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    print(f"# conditions: {conditions()}")
    for name in wanted:
        print(f"\n## {name}")
        importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
