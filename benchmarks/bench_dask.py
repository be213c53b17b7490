"""Portfolio VaR/ES of 100,000 positions on 100,000 scenarios on a local Dask cluster.

Target: the whole distributed call completes with at most 2 GB per worker, and two workers
are at least 1.6× faster than one on this machine.

* The book: 100,000 positions in listed contracts — the terms come from a grid (6 months ×
  strikes or fixed prices × side) and a position's size is its quantity: 60 % hashprice
  forwards (372 contracts), 10 % hashrate futures (732), 19 % BTC swaps (492), 5 % BTC
  options (180, analytic marks), 4 % hashprice Asian options (60, regression marks), 2 %
  spot BTC. Horizon 10 days; the scenarios run to the last fixing (about 190 days). The P&L
  factors are scenarios × (35 + non-affine contracts) floats, so this book's are 22 MB per
  10,000 scenarios; a book of thousands of distinct options would hold that many columns.
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

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

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


def listed_book(asof: dt.date, n: int, seed: int = 7) -> Any:
    """``n`` positions in listed contracts: the contract terms come from a grid of months and
    strikes and the size is the position's quantity (see the module docstring)."""
    from hashmarket.instruments import (
        AsianOption,
        BtcPriceSwap,
        EuropeanOption,
        HashpriceForward,
        HashrateFuture,
    )
    from hashmarket.instruments.terms import OptionType, Side, Underlying
    from hashmarket.risk.portfolio import Portfolio, Position, PositionKind

    rng = np.random.default_rng(seed)
    months = []
    cursor = (asof.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    for _ in range(6):
        nxt = (cursor + dt.timedelta(days=32)).replace(day=1)
        months.append((cursor, nxt - dt.timedelta(days=1)))
        cursor = nxt
    sides = (Side.BUY, Side.SELL)
    listed: dict[str, list[Any]] = {
        "fwd": [
            HashpriceForward(
                notional_phs=1.0,
                fixed_price_per_ph_day=30.0 + 0.5 * k,
                start=start,
                end=end,
                side=side,
            )
            for start, end in months
            for k in range(31)
            for side in sides
        ],
        "fut": [
            HashrateFuture(contracts=1, price_usd_per_ph_day=0.25 * price, start=start, side=side)
            for start, _ in months
            for price in range(120, 181)
            for side in sides
        ],
        "swap": [
            BtcPriceSwap(
                fixed_price_usd=1_000.0 * k,
                start=start,
                end=end,
                quantity_btc_per_month=1.0,
                side=side,
            )
            for start, end in months
            for k in range(60, 101)
            for side in sides
        ],
        "opt": [
            EuropeanOption(
                underlying=Underlying.BTC_USD,
                option_type=kind,
                strike=5_000.0 * k,
                expiry=end,
                quantity=1.0,
            )
            for _, end in months
            for k in range(10, 25)
            for kind in (OptionType.CALL, OptionType.PUT)
        ],
        "asian": [
            AsianOption(
                underlying=Underlying.HASHPRICE_USD,
                option_type=OptionType.PUT,
                strike=float(k),
                averaging_start=start,
                averaging_end=end,
                quantity=1.0,
            )
            for k in range(30, 40)
            for start, end in months
        ],
    }
    shares = {"fwd": 0.6, "fut": 0.1, "swap": 0.19, "opt": 0.05, "asian": 0.04}
    inst = PositionKind.INSTRUMENT
    positions = []
    for kind, share in shares.items():
        contracts = listed[kind]
        for i in range(round(share * n)):
            size = float(rng.integers(1, 50)) * (1 if rng.integers(2) else -1)
            contract = contracts[rng.integers(len(contracts))]
            positions.append(Position(f"{kind} {i}", inst, size, contract))
    for i in range(n - len(positions)):
        positions.append(Position(f"spot {i}", PositionKind.SPOT_BTC, float(rng.uniform(-5, 5))))
    return Portfolio("listed desk", tuple(positions))


def _setup() -> tuple[Any, Any, Any]:
    from benchmarks.bench_risk import _calibrated
    from hashmarket.pricing import Market

    calibration = _calibrated()
    market = Market(state=calibration.state)
    return calibration, market, listed_book(calibration.state.asof, POSITIONS)


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
