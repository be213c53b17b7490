"""The Dask backend gives the in-process numbers bit for bit: Monte Carlo prices and their
standard errors, the hashprice curve and portfolio VaR/ES, on a LocalCluster of two worker
processes and on a scheduler and workers started from the command line.

Path counts are small but span several chunks (and several position ranges), so the chunks
really run on different workers and their partial results are combined; one cluster of each
kind serves the whole module, its start-up being the cost of these tests.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hashmarket.cli.app import app
from hashmarket.errors import UsageError
from hashmarket.instruments import AsianOption, EuropeanOption, HashpriceForward
from hashmarket.instruments.terms import OptionType, Side, Underlying
from hashmarket.models import GBM, NetworkModel, NetworkState
from hashmarket.models.backend import close, dask_backend, parse_scheduler
from hashmarket.pricing import Market, MonteCarloConfig, hashprice_curve, monte_carlo_price
from hashmarket.pricing.revaluation import monte_carlo_pnl
from hashmarket.pricing.revaluation.distributed import distributed_pnl
from hashmarket.risk.portfolio import Portfolio, Position, PositionKind
from hashmarket.risk.var import RiskResult, portfolio_risk

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
ASOF = dt.date(2025, 6, 30)
STATE = NetworkState(
    asof=ASOF,
    price_usd=60_000.0,
    hashrate_ths=8.0e8,
    difficulty=1.15e14,
    height=902_000,
    epoch_elapsed_s=300_000.0,
    fee_btc_per_block=0.02,
)
MODEL = NetworkModel(price=GBM(drift_per_year=0.0, vol_per_year=0.6))
MARKET = Market(state=STATE)
# 5 chunks of 1,024 paths (the last one short), streams of 512 paths.
CONFIG = MonteCarloConfig(n_paths=4_600, seed=11, stream_paths=512, chunk_paths=1_024)
LOCAL = "local:2"


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[str]:
    backend = dask_backend(LOCAL)
    assert backend.n_workers == 2
    yield LOCAL
    close(LOCAL)


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two single-threaded workers, each its own process, started from the
    command line as on a real cluster."""
    where = tmp_path_factory.mktemp("dask")
    scheduler_file = where / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    common = ["--no-dashboard"]
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0"),
                *("--host", "127.0.0.1", "--scheduler-file", str(scheduler_file), *common),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://")
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "distributed.cli.dask_worker", address),
                        *("--nthreads", "1", "--nworkers", "1", *common),
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        backend = dask_backend(address)
        backend.client.wait_for_workers(2, timeout=60)
        assert backend.n_workers == 2
        yield address
        close(address)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def book() -> Portfolio:
    """600 positions in 30 forwards (affine), a put (analytic mark), an Asian call
    (regression) and spot BTC."""
    forwards = [
        HashpriceForward(
            notional_phs=10.0,
            fixed_price_per_ph_day=40.0 + i,
            start=dt.date(2025, 7, 1),
            end=dt.date(2025, 7, 21) + dt.timedelta(days=i),
            side=Side.BUY if i % 2 else Side.SELL,
        )
        for i in range(30)
    ]
    positions = [
        Position(
            name=f"forward {i}",
            kind=PositionKind.INSTRUMENT,
            quantity=1.0 + i % 7,
            instrument=forwards[i % 30],
        )
        for i in range(597)
    ]
    positions += [
        Position(name="btc", kind=PositionKind.SPOT_BTC, quantity=0.5),
        Position(
            name="put",
            kind=PositionKind.INSTRUMENT,
            quantity=2.0,
            instrument=EuropeanOption(
                underlying=Underlying.BTC_USD,
                option_type=OptionType.PUT,
                strike=55_000.0,
                expiry=dt.date(2025, 9, 30),
                quantity=1.0,
            ),
        ),
        Position(
            name="asian",
            kind=PositionKind.INSTRUMENT,
            quantity=-3.0,
            instrument=AsianOption(
                underlying=Underlying.HASHPRICE_USD,
                option_type=OptionType.CALL,
                strike=45.0,
                averaging_start=dt.date(2025, 8, 1),
                averaging_end=dt.date(2025, 8, 31),
                quantity=1.0,
            ),
        ),
    ]
    return Portfolio(name="book", positions=tuple(positions))


def asian() -> AsianOption:
    return AsianOption(
        underlying=Underlying.HASHPRICE_USD,
        option_type=OptionType.PUT,
        strike=40.0,
        averaging_start=dt.date(2025, 8, 1),
        averaging_end=dt.date(2025, 8, 31),
        quantity=100.0,
    )


def risk_in_process() -> RiskResult:
    pnl, _, _ = monte_carlo_pnl(
        book(),
        market=MARKET,
        model=MODEL,
        horizon_days=10,
        n_paths=9_000,
        seed=5,
        chunk_paths=2_048,
        workers=2,
    )
    return portfolio_risk(pnl, [0.99, 0.95], method="monte_carlo")


def risk_on(scheduler: str) -> RiskResult:
    # Chunks of 2,048 scenarios (5, the last short), ranges of 256 positions (3 ranges) and
    # runs of 8 contracts to probe (4).
    pnl, _, _ = distributed_pnl(
        book(),
        market=MARKET,
        model=MODEL,
        horizon_days=10,
        n_paths=9_000,
        seed=5,
        scheduler=scheduler,
        chunk_paths=2_048,
        position_chunk=256,
        contract_chunk=8,
    )
    assert len(pnl.factors) == 5
    result = portfolio_risk(pnl, [0.99, 0.95], method="monte_carlo")
    pnl.release()
    return result


@pytest.fixture(scope="module")
def in_process_risk() -> RiskResult:
    return risk_in_process()


def assert_same_risk(a: RiskResult, b: RiskResult) -> None:
    assert np.array_equal(a.pnl_usd, b.pnl_usd)
    assert a.estimates == b.estimates  # VaR, ES, their intervals and errors, exactly
    assert a.positions == b.positions  # standalone VaR/ES, mean, spread, ES contributions
    assert (a.value0_usd, a.mean_pnl_usd, a.std_pnl_usd) == (
        b.value0_usd,
        b.mean_pnl_usd,
        b.std_pnl_usd,
    )


def test_scheduler_names_are_checked() -> None:
    assert parse_scheduler("local") == ("local", None)
    assert parse_scheduler("local:3") == ("local", 3)
    assert parse_scheduler("tcp://10.0.0.5:8786") == ("tcp://10.0.0.5:8786", None)
    for bad in ("local:0", "local:x", "10.0.0.5:8786", "tcp://"):
        with pytest.raises(UsageError, match="--scheduler"):
            parse_scheduler(bad)
    with pytest.raises(UsageError, match="--scheduler"):
        MonteCarloConfig(n_paths=100, scheduler="somewhere")


@pytest.mark.parametrize("antithetic", [True, False])
def test_local_cluster_price_and_error_are_bit_identical(
    local_cluster: str, antithetic: bool
) -> None:
    config = replace(CONFIG, antithetic=antithetic)
    here = monte_carlo_price(asian(), market=MARKET, model=MODEL, config=config)
    there = monte_carlo_price(
        asian(), market=MARKET, model=MODEL, config=replace(config, scheduler=local_cluster)
    )
    assert here.value > 0 and here.std_error > 0
    assert (there.value, there.std_error, there.n_paths) == (
        here.value,
        here.std_error,
        here.n_paths,
    )


def test_local_cluster_target_error_batches_are_bit_identical(local_cluster: str) -> None:
    config = MonteCarloConfig(
        n_paths=None, target_std_error=2.0, max_paths=20_000, seed=3, stream_paths=256
    )
    here = monte_carlo_price(asian(), market=MARKET, model=MODEL, config=config)
    there = monte_carlo_price(
        asian(), market=MARKET, model=MODEL, config=replace(config, scheduler=local_cluster)
    )
    assert here.n_paths > 8 * 256  # more than the first batch was needed
    assert (there.value, there.std_error, there.n_paths) == (
        here.value,
        here.std_error,
        here.n_paths,
    )


def test_local_cluster_curve_is_bit_identical(local_cluster: str) -> None:
    here = hashprice_curve(market=MARKET, model=MODEL, months=3, config=CONFIG)
    there = hashprice_curve(
        market=MARKET, model=MODEL, months=3, config=replace(CONFIG, scheduler=local_cluster)
    )
    assert len(here.points) == 3
    assert there.points == here.points  # means, standard errors and P5/P50/P95, exactly


def test_local_cluster_portfolio_var_es_is_bit_identical(
    local_cluster: str, in_process_risk: RiskResult
) -> None:
    there = risk_on(local_cluster)
    assert in_process_risk.estimate(0.99).es_usd > in_process_risk.estimate(0.99).var_usd > 0
    assert_same_risk(in_process_risk, there)


def test_command_line_cluster_gives_the_same_numbers(
    cli_cluster: str, in_process_risk: RiskResult
) -> None:
    here = monte_carlo_price(asian(), market=MARKET, model=MODEL, config=CONFIG)
    there = monte_carlo_price(
        asian(), market=MARKET, model=MODEL, config=replace(CONFIG, scheduler=cli_cluster)
    )
    assert (there.value, there.std_error) == (here.value, here.std_error)
    curve_here = hashprice_curve(market=MARKET, model=MODEL, months=2, config=CONFIG)
    curve_there = hashprice_curve(
        market=MARKET, model=MODEL, months=2, config=replace(CONFIG, scheduler=cli_cluster)
    )
    assert curve_there.points == curve_here.points
    assert_same_risk(in_process_risk, risk_on(cli_cluster))


def test_price_command_on_a_cluster_prints_the_in_process_price(cli_cluster: str) -> None:
    spec = str(ROOT / "examples" / "specs" / "asian_option_hashprice.json")
    args = ["price", spec, "--paths", "3000", "--seed", "2", "--format", "json"]
    runner = CliRunner()
    here = runner.invoke(app, args)
    there = runner.invoke(app, args, env={"HASHMARKET_SCHEDULER": cli_cluster})
    assert here.exit_code == 0, here.output
    assert there.exit_code == 0, there.output
    a, b = (json.loads(r.stdout[: r.stdout.rindex("}") + 1]) for r in (here, there))
    assert a["value"] > 0
    assert (b["value"], b["std_error"]) == (a["value"], a["std_error"])


def test_risk_command_on_a_cluster_prints_the_in_process_var_es(cli_cluster: str) -> None:
    portfolio = str(ROOT / "examples" / "risk" / "portfolio.json")
    args = ["risk", portfolio, "--asof", "2025-12-29", "--paths", "3000", "--no-historical"]
    args += ["--confidence", "0.99", "--confidence", "0.95", "--format", "json"]
    runner = CliRunner()
    here = runner.invoke(app, args)
    there = runner.invoke(app, [*args, "--scheduler", cli_cluster])
    assert here.exit_code == 0, here.output
    assert there.exit_code == 0, there.output
    a, b = (json.loads(r.stdout[: r.stdout.rindex("}") + 1])["monte_carlo"] for r in (here, there))
    assert a["estimates"][0]["es_usd"] >= a["estimates"][0]["var_usd"] > 0
    assert b == a  # VaR/ES, intervals and every position's figures


def test_bad_scheduler_option_is_a_usage_error() -> None:
    spec = str(ROOT / "examples" / "specs" / "asian_option_hashprice.json")
    runner = CliRunner()
    result = runner.invoke(app, ["price", spec, "--scheduler", "nowhere"])
    assert isinstance(result.exception, UsageError)
    assert result.exception.exit_code == 2
    assert "--scheduler: 'nowhere' is not 'local'" in str(result.exception)
    result = runner.invoke(
        app, ["price", spec, "--scheduler", "tcp://127.0.0.1:1", "--dask-workers", "2"]
    )
    assert isinstance(result.exception, UsageError)
    assert "--dask-workers: starts a local cluster" in str(result.exception)
