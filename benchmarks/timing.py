"""Small timing helpers: medians of repeated runs, and peak memory of a child process."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def median_seconds(fn: Callable[[], object], *, repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup`` unmeasured runs."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def peak_rss_kib(ru_maxrss_kib: int) -> int:
    """This process's own peak RSS. Linux carries ``ru_maxrss`` across fork and exec, so a
    child of a big parent would report the parent's size; ``VmHWM`` is the high-water mark
    of this process's own memory since exec. Fall back to ``ru_maxrss`` elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return ru_maxrss_kib


def in_child(module: str, function: str) -> dict[str, Any]:
    """Run ``benchmarks.<module>.<function>()`` in a fresh interpreter (so its peak memory is
    its own) and return the JSON object it prints last."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = f"from benchmarks.{module} import {function}; {function}()"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=root
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
