"""Portfolio VaR/ES of 100,000 positions on 100,000 scenarios on a local Dask cluster.

Target: the whole distributed call completes with at most 2 GB per worker, and two workers
are at least 1.6× faster than one on this machine.

* The book is ``bench_risk``'s synthetic desk at 100,000 positions (about 88,000 distinct
  contracts: forwards, futures, BTC swaps, BTC options, hashprice options, spot lines); the
  horizon is 10 days and the scenarios run to the last fixing (about 190 days).
* The timed call is ``distributed_pnl`` + ``portfolio_risk`` at 99 % and 95 % with every
  position's standalone VaR/ES and ES contribution — planning (affine probe of every
  contract, on the workers), simulation, fit, factors, totals and per-position figures.
* Each cluster size runs in a child process with a fresh ``LocalCluster`` of N single-
  threaded worker processes (median of ``REPEAT`` runs after the cluster is up); the peak
  RSS of each worker process (``VmHWM``) and of the client are read at the end.
* Baseline in the same run: the in-process call (``monte_carlo_pnl`` + ``portfolio_risk``,
  two simulation threads) once, and the check that its VaR/ES equal the cluster's bit for bit.

``HASHMARKET_BENCH_QUICK=1`` shrinks the sizes for a smoke run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

QUICK = os.environ.get("HASHMARKET_BENCH_QUICK") == "1"
POSITIONS = 5_000 if QUICK else 100_000
SCENARIOS = 5_000 if QUICK else 100_000
REPEAT = 1 if QUICK else 3
ROOT = Path(__file__).resolve().parents[1]


def _vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _setup() -> tuple[Any, Any, Any]:
    from benchmarks.bench_risk import _calibrated, synthetic_book
    from hashmarket.pricing import Market

    calibration = _calibrated()
    market = Market(state=calibration.state)
    return calibration, market, synthetic_book(calibration.state.asof, POSITIONS)


def cluster_child(n_workers: int) -> None:
    """Runs in a fresh process: the distributed call on a local cluster of ``n_workers``."""
    from hashmarket.models.backend import close_all, dask_backend
    from hashmarket.pricing.revaluation.distributed import distributed_pnl
    from hashmarket.risk.var import portfolio_risk

    calibration, market, book = _setup()
    scheduler = f"local:{n_workers}"
    started = time.perf_counter()
    backend = dask_backend(scheduler)
    startup_s = time.perf_counter() - started
    seconds = []
    result = None
    for _ in range(REPEAT):
        started = time.perf_counter()
        pnl, _, _ = distributed_pnl(
            book,
            market=market,
            model=calibration.model,
            horizon_days=10,
            n_paths=SCENARIOS,
            seed=1,
            scheduler=scheduler,
        )
        result = portfolio_risk(pnl, (0.99, 0.95), method="monte_carlo")
        pnl.release()
        seconds.append(time.perf_counter() - started)
    assert result is not None
    workers = backend.client.run(_vm_hwm_mib)
    close_all()
    print(
        json.dumps(
            {
                "workers": n_workers,
                "startup_s": startup_s,
                "seconds": seconds,
                "median_s": statistics.median(seconds),
                "worker_peak_mib": sorted(workers.values()),
                "client_peak_mib": _vm_hwm_mib(),
                "estimates": [e.to_dict() for e in result.estimates],
                "contributions_sum_usd": sum(p.es_contribution_usd for p in result.positions),
            }
        )
    )


def in_process_child() -> None:
    """Runs in a fresh process: the in-process call once (the baseline)."""
    from hashmarket.pricing.revaluation import monte_carlo_pnl
    from hashmarket.risk.var import portfolio_risk

    calibration, market, book = _setup()
    started = time.perf_counter()
    pnl, _, setup = monte_carlo_pnl(
        book,
        market=market,
        model=calibration.model,
        horizon_days=10,
        n_paths=SCENARIOS,
        seed=1,
        workers=2,
    )
    result = portfolio_risk(pnl, (0.99, 0.95), method="monte_carlo")
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "peak_mib": _vm_hwm_mib(),
                "contracts": len(setup.contracts),
                "days": setup.last_day,
                "estimates": [e.to_dict() for e in result.estimates],
                "contributions_sum_usd": sum(p.es_contribution_usd for p in result.positions),
            }
        )
    )


def _child(code: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    here = _child("from benchmarks.bench_dask import in_process_child as f; f()")
    runs = {
        n: _child(f"from benchmarks.bench_dask import cluster_child as f; f({n})") for n in (1, 2)
    }
    print(
        f"VaR/ES, {POSITIONS:,} positions ({here['contracts']:,} contracts) x {SCENARIOS:,} "
        f"scenarios, {here['days']} days simulated, horizon 10 days, 99 % and 95 %"
    )
    print(
        f"  in process (2 threads), once:      {here['seconds']:.1f} s, {here['peak_mib']:.0f} MiB"
    )
    for n, run in runs.items():
        peaks = ", ".join(f"{p:.0f}" for p in run["worker_peak_mib"])
        times = ", ".join(f"{s:.1f}" for s in run["seconds"])
        print(
            f"  {n} worker(s): {run['median_s']:.1f} s median ({times}); cluster start "
            f"{run['startup_s']:.1f} s; peak per worker {peaks} MiB; "
            f"client {run['client_peak_mib']:.0f} MiB"
        )
        same = run["estimates"] == here["estimates"]
        same_c = run["contributions_sum_usd"] == here["contributions_sum_usd"]
        print(f"    VaR/ES equal to in process, bit for bit: {same}; contributions: {same_c}")
    speedup = runs[1]["median_s"] / runs[2]["median_s"]
    print(f"  1 -> 2 workers: {speedup:.2f}x (target >= 1.6x)")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
