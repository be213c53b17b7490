"""Models and pricing: network simulation throughput, a million-path curve, Black-76.

* **Network model** — path-days per second of the full model (BTC price, hashrate with
  profitability feedback, Poisson block arrivals, retargets with the clamp, halvings, fees,
  hashprice), all nine fields recorded, streamed in chunks with recycled buffers. Each
  path-day draws three standard normals and one Poisson count. The baseline is numpy's
  ``Generator.standard_normal`` (float64, PCG64) measured in the same run; the ratio says how
  many raw normal draws one simulated path-day costs.
* **Curve** — ``hashprice_curve`` with 1,000,000 paths × 12 months (365 days), run in a child
  process whose peak RSS is read with ``resource.getrusage`` (and ``VmHWM``, see below).
* **Black-76** — vectorized prices (and prices with Greeks) of 1,000,000 options.

``HASHMARKET_BENCH_QUICK=1`` shrinks every size for a smoke run.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from benchmarks.timing import in_child, median_seconds, peak_rss_kib

QUICK = os.environ.get("HASHMARKET_BENCH_QUICK") == "1"
NETWORK_PATHS = 16_384 if QUICK else 131_072
NETWORK_DAYS = 365
CURVE_PATHS = 20_000 if QUICK else 1_000_000
NORMALS = 10_000_000
OPTIONS = 1_000_000


def _calibrated() -> Any:
    from hashmarket.chain.history import NetworkHistory
    from hashmarket.models import calibrate

    return calibrate(NetworkHistory.load())


def normals_per_s() -> float:
    rng = np.random.default_rng(0)
    return NORMALS / median_seconds(lambda: rng.standard_normal(NORMALS), repeat=7)


def network_path_days_per_s(calibration: Any, *, arrivals: str, workers: int) -> float:
    from hashmarket.models import BlockArrivals, ScenarioConfig, Scenarios

    model = calibration.model.with_block_arrivals(BlockArrivals(arrivals))
    config = ScenarioConfig(n_paths=NETWORK_PATHS, seed=1, antithetic=True, workers=workers)
    scenarios = Scenarios(model, calibration.state, NETWORK_DAYS, config)

    def run() -> None:
        for _ in scenarios.chunks(reuse_buffers=True):
            pass

    return NETWORK_PATHS * NETWORK_DAYS / median_seconds(run, repeat=3)


def curve_child() -> None:
    """Runs in a fresh process: the curve, then its time and peak RSS as JSON."""
    import resource

    from hashmarket.pricing import Market, MonteCarloConfig, hashprice_curve

    calibration = _calibrated()
    started = time.perf_counter()
    curve = hashprice_curve(
        market=Market(state=calibration.state),
        model=calibration.model,
        months=12,
        config=MonteCarloConfig(n_paths=CURVE_PATHS, seed=1, workers=2),
    )
    seconds = time.perf_counter() - started
    peak_kib = peak_rss_kib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    days = curve.diagnostics["horizon_days"]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mib": peak_kib / 1024,
                "paths": curve.n_paths,
                "days": days,
                "first_month_mean": curve.points[0].mean,
            }
        )
    )


def curve_in_child() -> dict[str, Any]:
    return in_child("bench_models", "curve_child")


def black76_per_s() -> tuple[float, float]:
    from hashmarket.pricing import black76_greeks, black76_price

    rng = np.random.default_rng(0)
    forward = rng.uniform(20, 60, OPTIONS)
    strike = rng.uniform(20, 60, OPTIONS)
    expiry = rng.uniform(0.05, 2.0, OPTIONS)
    vol = rng.uniform(0.3, 1.2, OPTIONS)
    is_call = rng.random(OPTIONS) < 0.5
    kwargs = {"forward": forward, "strike": strike, "expiry_years": expiry, "vol": vol}
    prices = median_seconds(lambda: black76_price(is_call=is_call, discount_factor=0.98, **kwargs))
    greeks = median_seconds(lambda: black76_greeks(is_call=is_call, discount_factor=0.98, **kwargs))
    return OPTIONS / prices, OPTIONS / greeks


def main() -> None:
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    calibration = _calibrated()
    print(f"model calibrated as of {calibration.state.asof}")
    baseline = normals_per_s()
    print(f"baseline numpy standard_normal (float64, PCG64): {baseline / 1e6:,.1f} M draws/s")
    for arrivals in ("poisson", "expected"):
        for workers in (1, 2):
            rate = network_path_days_per_s(calibration, arrivals=arrivals, workers=workers)
            print(
                f"network model, {arrivals} arrivals, {workers} thread(s), "
                f"{NETWORK_PATHS:,} paths x {NETWORK_DAYS} days: {rate / 1e6:,.1f} M path-days/s "
                f"= {rate / baseline:.3f} x the normal draw rate "
                f"({baseline / rate:.1f} normal draws' time per path-day)"
            )
    curve = curve_in_child()
    print(
        f"hashprice curve, {curve['paths']:,} paths x {curve['days']} days, 12 months, "
        f"2 threads: {curve['seconds']:.1f} s "
        f"({curve['paths'] * curve['days'] / curve['seconds'] / 1e6:,.1f} M path-days/s), "
        f"peak RSS {curve['peak_rss_mib']:,.0f} MiB"
    )
    prices, greeks = black76_per_s()
    print(f"Black-76 vectorized, {OPTIONS:,} options: {prices / 1e6:,.1f} M prices/s")
    print(f"Black-76 price + 5 Greeks, {OPTIONS:,} options: {greeks / 1e6:,.1f} M options/s")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
