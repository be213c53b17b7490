"""Monte Carlo efficiency: error² × seconds (lower is better), every figure in the same run.

* **Arithmetic Asian on BTC/USD** — a call struck at 80,000 on the average of the daily
  fixings of June 2026, paid on June 30, valued as of 2026-01-31 with a flat USD rate of 3 %
  and a BTC rate of 1 %, GBM at the calibrated volatility, 100,000 paths. Hashmarket through
  ``value_instrument`` (one worker) with each method, and QuantLib's
  ``MCDiscreteArithmeticAPEngine`` (pseudo-random, with and without its geometric control
  variate) on the same spot, volatility, rates and dates. QuantLib comes from the ``bench``
  extra (``make bench`` installs it); without it that row is skipped.
* **The example hashprice Asian and hashprice forward** (``examples/specs``), valued as of the
  default as-of date on the calibrated network model, 20,000 paths at the same seed: the
  ``plain`` method (every network field, every day, antithetic) is the baseline for
  ``pseudo`` and ``sobol``.

Times are medians of ``REPEAT`` runs; the standard error is the run's own. Linear algebra is
held to one BLAS thread for every method (a shared two-core machine: threads only contend).
``HASHMARKET_BENCH_QUICK=1`` shrinks the path counts for a smoke run.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

from threadpoolctl import threadpool_limits

QUICK = os.environ.get("HASHMARKET_BENCH_QUICK") == "1"
ASIAN_PATHS = 10_000 if QUICK else 100_000
EXAMPLE_PATHS = 4_000 if QUICK else 20_000
REPEAT = 1 if QUICK else 3
ASOF = dt.date(2026, 1, 31)
JUNE = (dt.date(2026, 6, 1), dt.date(2026, 6, 30))
STRIKE = 80_000.0
USD_RATE, BTC_RATE = 0.03, 0.01
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "specs"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """The result of the last run and the median time of ``REPEAT`` runs."""
    seconds = []
    result = None
    for _ in range(REPEAT):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return result, median(seconds)


def row(name: str, value: float, error: float, seconds: float, baseline: float | None) -> str:
    efficiency = error * error * seconds
    ratio = f"{baseline / efficiency:,.1f}x" if baseline and efficiency > 0 else "-"
    return f"| {name} | {value:,.4f} | {error:.4g} | {seconds:.3f} | {efficiency:.4g} | {ratio} |"


HEADER = (
    "| method | value | std error | seconds | error² × s | vs baseline |\n|---|---|---|---|---|---|"
)


def quantlib_asian(spot: float, vol: float, control_variate: bool) -> tuple[float, float] | None:
    try:
        import QuantLib as ql  # noqa: N813 - the package's own name
    except ImportError:
        return None
    today = ql.Date(ASOF.day, ASOF.month, ASOF.year)
    ql.Settings.instance().evaluationDate = today
    day_count = ql.Actual365Fixed()
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, BTC_RATE, day_count)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, USD_RATE, day_count)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), vol, day_count)
        ),
    )
    fixings = [ql.Date(d, 6, 2026) for d in range(1, 31)]
    option = ql.DiscreteAveragingAsianOption(
        ql.Average.Arithmetic,
        fixings,
        ql.PlainVanillaPayoff(ql.Option.Call, STRIKE),
        ql.EuropeanExercise(ql.Date(30, 6, 2026)),
    )
    option.setPricingEngine(
        ql.MCDiscreteArithmeticAPEngine(
            process,
            "pseudorandom",
            controlVariate=control_variate,
            requiredSamples=ASIAN_PATHS,
            seed=42,
        )
    )
    return float(option.NPV()), float(option.errorEstimate())


def btc_asian() -> None:
    from hashmarket.chain.history import NetworkHistory
    from hashmarket.instruments import AsianOption, OptionType, Underlying
    from hashmarket.pricing import MonteCarloConfig
    from hashmarket.pricing.valuation import ValuationSetup, calibrated, value_instrument

    history = NetworkHistory.load()
    setup = ValuationSetup(asof=ASOF, usd_rate=USD_RATE, btc_rate=BTC_RATE)
    calibration = calibrated(history, setup)
    spot, vol = calibration.state.price_usd, calibration.model.price.vol_per_year
    print(
        f"arithmetic Asian call on BTC/USD, strike {STRIKE:,.0f}, June 2026 daily average, "
        f"as of {calibration.state.asof}, spot {spot:,.2f}, GBM vol {vol:.4f}, USD rate "
        f"{USD_RATE:.0%}, BTC rate {BTC_RATE:.0%}, {ASIAN_PATHS:,} paths, median of {REPEAT}"
    )
    option = AsianOption(Underlying.BTC_USD, OptionType.CALL, STRIKE, *JUNE, 1.0)
    print(HEADER)
    rows = []
    baseline = None
    for control_variate in (False, True):

        def quantlib(cv: bool = control_variate) -> tuple[float, float] | None:
            return quantlib_asian(spot, vol, cv)

        result, seconds = timed(quantlib)
        if result is None:
            print("| QuantLib | not installed (`pip install -e '.[bench]'`) | | | | |")
            break
        name = "QuantLib MCDiscreteArithmeticAPEngine" + (
            ", geometric control variate" if control_variate else ", no control variate"
        )
        rows.append((name, *result, seconds))
        if control_variate:
            baseline = result[1] ** 2 * seconds
    for method in ("plain", "pseudo", "sobol"):
        config = MonteCarloConfig(n_paths=ASIAN_PATHS, seed=1, workers=1, method=method)

        def run(cfg: MonteCarloConfig = config) -> Any:
            return value_instrument(
                option, history=history, calibration=calibration, setup=setup, config=cfg
            )

        result, seconds = timed(run)
        rows.append((f"Hashmarket {method}", result.value, result.std_error, seconds))
    for name, value, error, seconds in rows:
        print(row(name, value, error, seconds, baseline))
    print("(vs baseline: QuantLib with its control variate's error² × s over the row's)")


def examples() -> None:
    from hashmarket.chain.history import NetworkHistory
    from hashmarket.instruments.spec import load_spec
    from hashmarket.pricing import MonteCarloConfig
    from hashmarket.pricing.valuation import ValuationSetup, calibrated, value_instrument

    history = NetworkHistory.load()
    setup = ValuationSetup()
    calibration = calibrated(history, setup)
    for spec in ("asian_option_hashprice.json", "hashprice_forward.json"):
        instrument = load_spec(EXAMPLES / spec)
        print(
            f"\nexamples/specs/{spec}, as of {calibration.state.asof}, calibrated network "
            f"model, {EXAMPLE_PATHS:,} paths, seed 1, median of {REPEAT}"
        )
        print(HEADER)
        baseline = None
        for method in ("plain", "pseudo", "sobol"):
            config = MonteCarloConfig(n_paths=EXAMPLE_PATHS, seed=1, workers=1, method=method)

            def run(cfg: MonteCarloConfig = config, inst: Any = instrument) -> Any:
                return value_instrument(
                    inst, history=history, calibration=calibration, setup=setup, config=cfg
                )

            result, seconds = timed(run)
            if baseline is None:
                baseline = result.std_error**2 * seconds
            print(row(method, result.value, result.std_error, seconds, baseline))
        print("(vs baseline: plain's error² × s over the row's)")


def main() -> None:
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with threadpool_limits(limits=1, user_api="blas"):
        btc_asian()
        examples()
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
