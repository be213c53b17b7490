"""Portfolio VaR/ES of 10,000 positions on 10,000 scenarios, and a 12-month hedge plan.

Targets: VaR/ES (with every position's standalone VaR/ES and ES contribution) of a
10,000-position book on 10,000 Monte Carlo scenarios under 5 s and 2 GB; a hedge plan for a
miner over 12 months on 20,000 paths under 10 s.

* **VaR/ES** runs in a child process (a fresh interpreter) so its peak RSS is its own: the
  whole call (median of 3) — planning (affine probe of every contract), simulation to the
  last fixing, valuation, the regression marks, VaR/ES at two levels and per-position
  statistics. The book is synthetic but shaped like a desk's: 6,000 hashprice forwards and
  1,000 hashrate futures over six months, 1,900 BTC swaps, 500 BTC options (analytic marks),
  400 hashprice options (regression marks, 60 distinct contracts) and 200 spot lines.
  Baselines in the same child: the scenario generation alone, and a bare ``np.partition`` of
  a 10,000 × 10,000 float64 P&L matrix along its contiguous axis (the floor of any
  per-position VaR).
* **Hedge plan**: ``simulate_miner`` + ``plan_hedge`` for the example miner; baseline the
  scenario generation alone (same paths, days and fields).

``HASHMARKET_BENCH_QUICK=1`` shrinks every size for a smoke run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.timing import in_child, median_seconds, peak_rss_kib

QUICK = os.environ.get("HASHMARKET_BENCH_QUICK") == "1"
POSITIONS = 1_000 if QUICK else 10_000
SCENARIOS = 2_000 if QUICK else 10_000
HEDGE_PATHS = 4_000 if QUICK else 20_000
REPEAT = 1 if QUICK else 3
ROOT = Path(__file__).resolve().parents[1]


def _calibrated() -> Any:
    from hashmarket.chain.history import NetworkHistory
    from hashmarket.models import calibrate

    return calibrate(NetworkHistory.load())


def synthetic_book(asof: dt.date, n: int, seed: int = 7) -> Any:
    """A desk's book of ``n`` positions (see the module docstring for the mix)."""
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
    first = (asof.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    months = []
    cursor = first
    for _ in range(6):
        nxt = (cursor + dt.timedelta(days=32)).replace(day=1)
        months.append((cursor, nxt - dt.timedelta(days=1)))
        cursor = nxt
    side = [Side.BUY, Side.SELL]
    inst = PositionKind.INSTRUMENT
    positions = []
    counts = {"fwd": 0.6, "fut": 0.1, "swap": 0.19, "opt": 0.05, "asian": 0.04, "spot": 0.02}
    sizes = {k: round(v * n) for k, v in counts.items()}
    sizes["fwd"] += n - sum(sizes.values())
    for i in range(sizes["fwd"]):
        start, end = months[rng.integers(6)]
        fwd = HashpriceForward(
            notional_phs=float(rng.integers(1, 50)),
            fixed_price_per_ph_day=round(float(rng.uniform(30, 45)), 2),
            start=start,
            end=end,
            side=side[rng.integers(2)],
        )
        positions.append(Position(f"fwd {i}", inst, 1.0, fwd))
    for i in range(sizes["fut"]):
        start, _ = months[rng.integers(6)]
        fut = HashrateFuture(
            contracts=int(rng.integers(1, 20)),
            price_usd_per_ph_day=float(rng.integers(120, 180)) * 0.25,
            start=start,
            side=side[rng.integers(2)],
        )
        positions.append(Position(f"fut {i}", inst, 1.0, fut))
    for i in range(sizes["swap"]):
        start, end = months[rng.integers(6)]
        swap = BtcPriceSwap(
            fixed_price_usd=round(float(rng.uniform(60_000, 100_000)), 2),
            start=start,
            end=end,
            quantity_btc_per_month=float(rng.integers(1, 10)),
            side=side[rng.integers(2)],
        )
        positions.append(Position(f"swap {i}", inst, 1.0, swap))
    for i in range(sizes["opt"]):
        _, end = months[rng.integers(6)]
        option = EuropeanOption(
            underlying=Underlying.BTC_USD,
            option_type=[OptionType.CALL, OptionType.PUT][rng.integers(2)],
            strike=float(rng.integers(50, 120)) * 1_000,
            expiry=end,
            quantity=float(rng.integers(1, 5)),
            side=side[rng.integers(2)],
        )
        positions.append(Position(f"opt {i}", inst, 1.0, option))
    asians = [
        AsianOption(
            underlying=Underlying.HASHPRICE_USD,
            option_type=OptionType.PUT,
            strike=float(k),
            averaging_start=start,
            averaging_end=end,
            quantity=300.0,
        )
        for k in range(30, 40)
        for start, end in months
    ]
    for i in range(sizes["asian"]):
        positions.append(
            Position(f"asian {i}", inst, float(rng.integers(1, 5)), asians[rng.integers(60)])
        )
    for i in range(sizes["spot"]):
        positions.append(
            Position(f"spot {i}", PositionKind.SPOT_BTC, float(rng.uniform(-5, 5)) or 1.0)
        )
    return Portfolio("synthetic desk", tuple(positions))


def var_child() -> None:
    """Runs in a fresh process: the whole VaR/ES call, then its time and peak RSS as JSON."""
    import resource

    from hashmarket.models import ScenarioConfig, Scenarios
    from hashmarket.pricing import Market
    from hashmarket.pricing.revaluation import monte_carlo_pnl
    from hashmarket.risk.var import portfolio_risk

    calibration = _calibrated()
    market = Market(state=calibration.state)
    book = synthetic_book(calibration.state.asof, POSITIONS)
    runs = []
    for _ in range(REPEAT):
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
        valued = time.perf_counter()
        result = portfolio_risk(pnl, (0.99, 0.95), method="monte_carlo")
        runs.append((time.perf_counter() - started, valued - started))
    seconds = statistics.median(r[0] for r in runs)
    valuation_s = statistics.median(r[1] for r in runs)
    peak_kib = peak_rss_kib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    methods: dict[str, int] = {}
    for c in setup.contracts:
        methods[c.method] = methods.get(c.method, 0) + 1

    def simulate() -> None:
        config = ScenarioConfig(n_paths=SCENARIOS, seed=1, workers=2)
        for _ in Scenarios(calibration.model, calibration.state, setup.last_day, config).chunks(
            reuse_buffers=True
        ):
            pass

    simulation_s = median_seconds(simulate, repeat=3, warmup=0)
    # Positions × scenarios, each position's scenarios contiguous (the fast layout).
    matrix = np.random.default_rng(0).standard_normal((POSITIONS, SCENARIOS))
    k = int(SCENARIOS * 0.01)
    partition_s = median_seconds(lambda: np.partition(matrix, k, axis=1), repeat=3, warmup=1)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "valuation_s": valuation_s,
                "peak_rss_mib": peak_kib / 1024,
                "positions": len(book),
                "scenarios": pnl.n_paths,
                "days": setup.last_day,
                "contracts": methods,
                "var99_usd": result.estimate(0.99).var_usd,
                "simulation_s": simulation_s,
                "partition_s": partition_s,
            }
        )
    )


def var_in_child() -> dict[str, Any]:
    return in_child("bench_risk", "var_child")


def bench_hedge(calibration: Any) -> None:
    from hashmarket.models import ScenarioConfig, Scenarios
    from hashmarket.risk.hedge_plan import plan_hedge
    from hashmarket.risk.hedging import SIMULATED, simulate_miner
    from hashmarket.risk.specs import load_miner

    spec = load_miner(ROOT / "examples" / "risk" / "miner.json")
    state = calibration.state

    def plan() -> None:
        paths = simulate_miner(
            spec.profile,
            model=calibration.model,
            state=state,
            n_paths=HEDGE_PATHS,
            seed=1,
            workers=2,
        )
        plan_hedge(spec.profile, paths, spot_usd=state.price_usd, pricing=spec.pricing)

    days = (spec.profile.months(state.asof)[-1][1] - state.asof).days

    def simulate() -> None:
        config = ScenarioConfig(n_paths=HEDGE_PATHS, seed=1, workers=2, fields=SIMULATED)
        for _ in Scenarios(calibration.model, state, days, config).chunks(reuse_buffers=True):
            pass

    whole = median_seconds(plan, repeat=3, warmup=0)
    alone = median_seconds(simulate, repeat=3, warmup=0)
    print(
        f"hedge plan, {spec.profile.horizon_months} months ({days} days) x {HEDGE_PATHS:,} paths, "
        "4 families, 21 ratios, 4 put strikes, 41 call strikes"
    )
    print(f"  simulate + plan:                  {whole:.2f} s median (target < 10 s)")
    print(f"  baseline, scenario generation:    {alone:.2f} s median")


def main() -> None:
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    result = var_in_child()
    print(
        f"VaR/ES, {result['positions']:,} positions x {result['scenarios']:,} scenarios, "
        f"{result['days']} days simulated, horizon 10 days, contracts by method "
        f"{result['contracts']}"
    )
    rows = [
        (
            "whole call (plan, simulate, value, VaR/ES, per position)",
            f"{result['seconds']:.2f} s median",
        ),
        ("  of which planning, simulation and valuation", f"{result['valuation_s']:.2f} s median"),
        ("peak RSS of the process (target < 2 GB)", f"{result['peak_rss_mib']:,.0f} MiB"),
        ("baseline, scenario generation alone", f"{result['simulation_s']:.2f} s median"),
        (
            f"baseline, np.partition of a {result['positions']:,} x {result['scenarios']:,} matrix",
            f"{result['partition_s']:.2f} s median",
        ),
    ]
    for label, value in rows:
        print(f"  {label:<62} {value}")
    bench_hedge(_calibrated())


if __name__ == "__main__":
    main()
