"""Fleet economics against hand computations: costs per PH/s per day, breakeven, shutdown,
margins on the index history, payback, the projection's halving, the catalogue and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import DataError, UsageError
from hashmarket.index.hashprice import hashprice_table
from hashmarket.models.scenarios import ScenarioSet
from hashmarket.operations.catalogue import load_catalogue, read_catalogue
from hashmarket.operations.fleet import (
    Costs,
    Fleet,
    FleetLine,
    Machine,
    breakeven,
    breakeven_hashprice_usd_per_ph_day,
    breakeven_power_price_usd_per_kwh,
    daily_margin_usd,
    energy_cost_usd_per_ph_day,
    profit_on_history,
    shutdown_hashprice_usd_per_ph_day,
    shutdown_power_price_usd_per_kwh,
)
from hashmarket.operations.payback import payback_days, payback_on_path, payback_on_scenarios
from hashmarket.operations.projection import Projection, mean_subsidy_btc, project

ONE_PH = Machine.custom(hashrate_ths=1000.0, power_w=20_000.0)  # 20 J/TH


# -- the unit arithmetic ----------------------------------------------------------------------


def test_energy_cost_per_ph_day_by_hand() -> None:
    # 1 PH/s at 20 J/TH draws 20 kW; 24 h -> 480 kWh; at $0.05 -> $24.
    assert float(
        energy_cost_usd_per_ph_day(efficiency_j_per_th=20, power_price_usd_per_kwh=0.05)
    ) == (pytest.approx(24.0))
    # The brief's form: J/TH x $/kWh x 24 / 1000 x 1000 (TH per PH).
    assert float(
        energy_cost_usd_per_ph_day(efficiency_j_per_th=17.5, power_price_usd_per_kwh=0.06)
    ) == pytest.approx(17.5 * 0.06 * 24 / 1000 * 1000)


def test_fleet_totals_and_efficiency() -> None:
    s21 = Machine("S21", 200.0, 3500.0)
    s19 = Machine("S19 Pro", 110.0, 3250.0)
    fleet = Fleet((FleetLine(s21, 10), FleetLine(s19, 20)))
    assert fleet.hashrate_ths == 2000 + 2200
    assert fleet.power_w == 35_000 + 65_000
    # Power over hashrate, not the mean of the two efficiencies (17.5 and 29.5).
    assert fleet.efficiency_j_per_th == pytest.approx(100_000 / 4200)
    assert fleet.machines == 30


# -- breakeven and shutdown -------------------------------------------------------------------

S19XP = Machine("Antminer S19 XP", 140.0, 3010.0)  # 21.5 J/TH
FLEET = Fleet.of(S19XP, 50)  # 7,000 TH/s = 7 PH/s
COSTS = Costs(
    power_price_usd_per_kwh=0.06,
    pool_fee_fraction=0.025,
    hosting_usd_per_kwh=0.01,
    service_usd_per_th_day=0.0089,
    fixed_usd_per_day=100.0,
    uptime_fraction=0.95,
)


def test_breakeven_hashprice_by_hand() -> None:
    # Avoidable, per PH/s installed per day: 24 h x 21.5 kW x (0.06 + 0.01) x 0.95 = 34.314.
    # Service: 0.0089 USD/TH/day x 1,000 TH = 8.9.  Fixed: 100 USD / 7 PH = 14.285714...
    # Total 57.499714...; revenue per PH is H x 0.95 x (1 - 0.025) = 0.92625 H.
    expected = (34.314 + 8.9 + 100 / 7) / 0.92625
    assert breakeven_hashprice_usd_per_ph_day(FLEET, COSTS) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(62.077964, abs=1e-6)


def test_shutdown_hashprice_by_hand() -> None:
    # Only power and hosting are avoidable: 24 x 21.5 x 0.07 / 0.975 = 37.046154.
    assert shutdown_hashprice_usd_per_ph_day(FLEET, COSTS) == pytest.approx(36.12 / 0.975)


def test_power_prices_at_a_hashprice_by_hand() -> None:
    # At $50/PH/day: net revenue 50 x 0.95 x 0.975 = 46.3125 per PH; less service and fixed
    # (23.185714) leaves 23.126786 for power and hosting over 24 x 21.5 x 0.95 = 490.2 kWh.
    expected = (46.3125 - 8.9 - 100 / 7) / 490.2 - 0.01
    got = breakeven_power_price_usd_per_kwh(FLEET, COSTS, hashprice_usd_per_ph_day=50.0)
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == pytest.approx(0.0371783, abs=1e-7)
    # Shutdown: 50 x 0.975 / (24 x 21.5) - 0.01.
    shutdown = shutdown_power_price_usd_per_kwh(FLEET, COSTS, hashprice_usd_per_ph_day=50.0)
    assert shutdown == pytest.approx(48.75 / 516 - 0.01)


def test_breakeven_points_are_where_the_margin_is_zero() -> None:
    at = breakeven_hashprice_usd_per_ph_day(FLEET, COSTS)
    m = daily_margin_usd(FLEET, COSTS, hashprice_usd_per_ph_day=[at, at * 1.01, at * 0.99])
    assert m.margin_usd[0] == pytest.approx(0.0, abs=1e-9)
    assert m.margin_usd[1] > 0 > m.margin_usd[2]
    price = breakeven_power_price_usd_per_kwh(FLEET, COSTS, hashprice_usd_per_ph_day=70.0)
    moved = Costs(
        power_price_usd_per_kwh=price,
        pool_fee_fraction=0.025,
        hosting_usd_per_kwh=0.01,
        service_usd_per_th_day=0.0089,
        fixed_usd_per_day=100.0,
        uptime_fraction=0.95,
    )
    zero = daily_margin_usd(FLEET, moved, hashprice_usd_per_ph_day=[70.0]).margin_usd[0]
    assert zero == pytest.approx(0.0, abs=1e-9)


def test_shutdown_is_where_running_and_off_cost_the_same() -> None:
    at = shutdown_hashprice_usd_per_ph_day(FLEET, COSTS)
    on = daily_margin_usd(FLEET, COSTS, hashprice_usd_per_ph_day=[at]).margin_usd[0]
    off_cost = -(0.0089 * 7000 + 100.0)  # service and fixed, paid either way
    assert on == pytest.approx(off_cost)
    below = daily_margin_usd(FLEET, COSTS, hashprice_usd_per_ph_day=[at - 1], curtail=True)
    assert not below.running[0]
    assert below.margin_usd[0] == pytest.approx(off_cost)
    assert below.energy_usd[0] == 0.0 and below.revenue_usd[0] == 0.0


def test_daily_margin_by_hand() -> None:
    # 7 PH/s at $60/PH/day, 95 % uptime: gross 399; pool 2.5 % = 9.975; revenue 389.025.
    # Energy 7 x 24 x 21.5 x 0.06 x 0.95 = 205.884; hosting 7 x 24 x 21.5 x 0.01 x 0.95 =
    # 34.314; service 62.3; fixed 100. Margin = 389.025 - 205.884 - 34.314 - 62.3 - 100.
    m = daily_margin_usd(FLEET, COSTS, hashprice_usd_per_ph_day=[60.0])
    assert m.pool_fee_usd[0] == pytest.approx(9.975)
    assert m.revenue_usd[0] == pytest.approx(389.025)
    assert m.energy_usd[0] == pytest.approx(205.884)
    assert m.hosting_usd[0] == pytest.approx(34.314)
    assert m.service_usd[0] == pytest.approx(62.3)
    assert m.margin_usd[0] == pytest.approx(389.025 - 205.884 - 34.314 - 62.3 - 100)
    report = breakeven(FLEET, COSTS, hashprice_usd_per_ph_day=60.0)
    assert report.margin_usd_per_day == pytest.approx(m.margin_usd[0])


def test_costs_refuse_nonsense() -> None:
    with pytest.raises(UsageError, match="pool_fee_fraction"):
        Costs(power_price_usd_per_kwh=0.05, pool_fee_fraction=1.0)
    with pytest.raises(UsageError, match="uptime_fraction"):
        Costs(power_price_usd_per_kwh=0.05, uptime_fraction=0.0)
    with pytest.raises(UsageError, match="power_w"):
        Machine.custom(hashrate_ths=100, power_w=-1)


# -- the index history ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index() -> pd.Series:
    return hashprice_table(NetworkHistory.load())["hashprice_usd_per_ph_day"]


def test_a_fleet_costing_more_than_hashprice_every_day_is_losing(index: pd.Series) -> None:
    # S9 at 98 J/TH and $0.10/kWh costs 24 x 98 x 0.10 = $235.2 per PH/s per day; the index
    # never reached $116 in 2024.
    s9 = Fleet.of(load_catalogue().get("Antminer S9"), 100)
    costs = Costs(power_price_usd_per_kwh=0.10)
    year = index.loc["2024-01-01":"2024-12-31"]
    assert year.max() < 235.2
    report = profit_on_history(s9, costs, hashprice_usd_per_ph_day=year)
    assert report.status == "losing"
    assert report.losing_every_day
    assert report.days_counted == len(year.dropna()) > 300
    # 100 machines x 13.5 TH/s = 1.35 PH/s: revenue 1.35 H, energy 1.35 x 235.2 a day.
    assert report.total_margin_usd == pytest.approx(float((year * 1.35 - 235.2 * 1.35).sum()))
    curtailed = profit_on_history(s9, costs, hashprice_usd_per_ph_day=year, curtail=True)
    assert curtailed.curtailed_days == report.days_counted
    assert curtailed.total_margin_usd == 0.0


def test_profit_on_history_day_by_hand(index: pd.Series) -> None:
    day = index.loc["2024-06-03":"2024-06-03"]
    s21 = Fleet.of(load_catalogue().get("S21"), 1)
    report = profit_on_history(
        s21,
        Costs(power_price_usd_per_kwh=0.05, pool_fee_fraction=0.02),
        hashprice_usd_per_ph_day=day,
    )
    h = float(day.iloc[0])
    # 0.2 PH/s: revenue 0.2 H x 0.98; energy 0.2 x 24 x 17.5 x 0.05 = 4.2 USD.
    assert report.days["margin_usd"].iloc[0] == pytest.approx(0.2 * h * 0.98 - 4.2)


# -- payback ----------------------------------------------------------------------------------


def test_payback_days_by_hand() -> None:
    assert payback_days([26.0] * 100, capex_usd=260.0) == 10.0  # exactly on day 10
    assert payback_days([26.0] * 100, capex_usd=1000.0) == 39.0  # 1000 / 26 = 38.5
    assert math.isnan(float(payback_days([26.0] * 10, capex_usd=1000.0)))
    assert payback_days([-5.0, 10.0, 10.0], capex_usd=10.0) == 3.0  # the loss is made up first
    per_path = payback_days([[1.0, 1.0, 1.0], [5.0, 0.0, 0.0]], capex_usd=2.0)
    assert per_path.tolist() == [2.0, 1.0]


def test_payback_on_a_constant_path_by_hand() -> None:
    # 1 PH/s at 20 J/TH, $0.05/kWh, no fees: cost 24, at hashprice 50 the margin is 26 a day.
    dates = pd.date_range("2024-01-01", periods=60, freq="D")
    result = payback_on_path(
        Fleet.of(ONE_PH),
        Costs(power_price_usd_per_kwh=0.05),
        capex_usd=1000.0,
        hashprice_usd_per_ph_day=pd.Series(50.0, index=dates),
    )
    assert result.days == 39
    assert result.paid_back_on == dt.date(2024, 2, 8)
    assert result.margin_over_horizon_usd == pytest.approx(60 * 26.0)


def test_losing_fleet_never_pays_back(index: pd.Series) -> None:
    s9 = Fleet.of(load_catalogue().get("S9"), 1)
    result = payback_on_path(
        s9,
        Costs(power_price_usd_per_kwh=0.10),
        capex_usd=100.0,
        hashprice_usd_per_ph_day=index.loc["2024-01-01":],
    )
    assert not result.paid_back and result.days is None
    assert result.margin_over_horizon_usd < 0


# -- projection: difficulty growth and the halving --------------------------------------------


def test_mean_subsidy_across_the_halving_by_hand() -> None:
    # Blocks 1,049,901..1,050,044: 99 at 3.125 BTC, 45 at 1.5625 BTC.
    got = mean_subsidy_btc(np.array([1_049_901]), np.array([1_050_044]))
    assert float(got[0]) == pytest.approx((99 * 3.125 + 45 * 1.5625) / 144)


def test_projection_halves_at_height_1_050_000() -> None:
    p = Projection(
        asof=dt.date(2028, 4, 1),
        height=1_049_900,
        difficulty=150e12,
        price_usd=100_000.0,
        fee_btc_per_block=0.03,
    )
    frame = project(p, days=3)
    assert frame["height"].tolist() == [1_050_044, 1_050_188, 1_050_332]
    assert frame["subsidy_btc"].iloc[1] == 1.5625
    day2 = 1e15 * 86_400 * (1.5625 + 0.03) / (150e12 * 2**32)
    assert frame["hashprice_btc_per_ph_day"].iloc[1] == pytest.approx(day2, rel=1e-12)
    assert frame["hashprice_usd_per_ph_day"].iloc[1] == pytest.approx(day2 * 100_000, rel=1e-12)
    assert frame.index[0].date() == dt.date(2028, 4, 2)


def test_projection_difficulty_growth_compounds_monthly() -> None:
    p = Projection(
        asof=dt.date(2026, 1, 1),
        height=900_000,
        difficulty=100e12,
        price_usd=80_000.0,
        fee_btc_per_block=0.02,
        difficulty_growth_per_month=0.04,
    )
    frame = project(p, days=365)
    # After 365.25 / 12 x 12 days = one year the difficulty is 1.04^12 times as high; day 365
    # is 0.25 day short of that.
    assert frame["difficulty"].iloc[-1] == pytest.approx(100e12 * 1.04 ** (365 / 30.4375))
    ratio = frame["hashprice_btc_per_ph_day"].iloc[-1] / frame["hashprice_btc_per_ph_day"].iloc[0]
    assert ratio == pytest.approx(1.04 ** (-(364 / 30.4375)))


def test_growth_and_halving_lengthen_payback() -> None:
    costs = Costs(power_price_usd_per_kwh=0.05, pool_fee_fraction=0.02)
    fleet = Fleet.of(load_catalogue().get("S21"), 1)

    def days(growth: float, height: int) -> float:
        p = Projection(
            asof=dt.date(2027, 6, 1),
            difficulty=110e12,
            price_usd=90_000.0,
            height=height,
            fee_btc_per_block=0.02,
            difficulty_growth_per_month=growth,
        )
        path = project(p, days=1500)["hashprice_usd_per_ph_day"]
        result = payback_on_path(fleet, costs, capex_usd=4000.0, hashprice_usd_per_ph_day=path)
        return math.inf if result.days is None else result.days

    flat_far = days(0.0, 900_000)  # no growth; the halving comes after day 1,000
    flat_near = days(0.0, 1_040_000)  # the halving 70 days in
    growing = days(0.03, 900_000)
    assert math.isfinite(flat_far)
    assert flat_near > flat_far
    assert growing > flat_far


# -- scenarios --------------------------------------------------------------------------------


def test_payback_on_scenario_sets_per_path() -> None:
    dates = np.datetime64("2026-01-01") + np.arange(4)
    hashprice = np.array([[99.0, 50.0, 50.0, 50.0], [99.0, 30.0, 30.0, 30.0]])  # day 0 known
    chunk = ScenarioSet(
        dates=dates,
        first_path=0,
        seed=0,
        antithetic=False,
        block_sizes=(2,),
        data={"hashprice_usd_per_ph_day": hashprice},
    )
    dist = payback_on_scenarios(
        Fleet.of(ONE_PH), Costs(power_price_usd_per_kwh=0.05), capex_usd=52.0, scenarios=[chunk]
    )
    # Margins 26 a day on path 0 (paid on day 2) and 6 a day on path 1 (18 < 52: never).
    assert dist.days[0] == 2.0 and math.isnan(dist.days[1])
    assert dist.probability_paid_back == 0.5
    assert dist.horizon_days == 3
    assert dist.quantile_days(0.5) == 2.0
    assert math.isnan(dist.quantile_days(0.9))


# -- catalogue --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hashrate_ths", "power_w"),
    [
        ("Antminer S19 Pro", 110, 3250),
        ("Antminer S19j Pro", 104, 3068),
        ("Antminer S19 XP", 140, 3010),
        ("Antminer S21", 200, 3500),
        ("Antminer S21 Pro", 234, 3531),
        ("WhatsMiner M30S++", 112, 3472),
        ("WhatsMiner M50S", 126, 3276),
        ("WhatsMiner M60S", 186, 3441),
        ("Avalon A1466", 150, 3230),
    ],
)
def test_catalogue_holds_the_makers_figures(name: str, hashrate_ths: float, power_w: float) -> None:
    m = load_catalogue().get(name)
    assert (m.hashrate_ths, m.power_w) == (hashrate_ths, power_w)
    assert m.source.startswith("https://")


def test_catalogue_lookup_forgives_spelling() -> None:
    catalogue = load_catalogue()
    assert catalogue.get("s21").model == "Antminer S21"
    assert catalogue.get("s21-pro").model == "Antminer S21 Pro"
    assert catalogue.get("m30s++").model == "WhatsMiner M30S++"
    with pytest.raises(UsageError, match="unknown machine 'S99'"):
        catalogue.get("S99")


def test_catalogue_refuses_a_mistyped_efficiency(tmp_path: Path) -> None:
    path = tmp_path / "asics.csv"
    path.write_text(
        "model,maker,hashrate_ths,power_w,efficiency_j_per_th,release_year,source,note\n"
        "A,Maker,100,3000,30.0,2020,https://example.org,\n"
        "B,Maker,100,3000,20.0,2020,https://example.org,\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError, match=r"asics.csv:3: column 'efficiency_j_per_th'.*30.0 J/TH"):
        read_catalogue(path)


# -- command line -----------------------------------------------------------------------------


def hashmarket(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashmarket", *args, "--data-dir", str(home)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "160", "HOME": str(home)},
    )


def test_cli_breakeven_json(tmp_path: Path) -> None:
    done = hashmarket(
        "miner", "breakeven", "--machine", "S19 XP", "--count", "50",
        "--power-usd-per-kwh", "0.06", "--pool-fee", "0.025", "--hosting-usd-per-kwh", "0.01",
        "--service-usd-per-th-day", "0.0089", "--fixed-usd-per-day", "100", "--uptime", "0.95",
        "--hashprice", "50", "--format", "json",
        home=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["breakeven_hashprice_usd_per_ph_day"] == pytest.approx(62.077964, abs=1e-6)
    assert record["shutdown_hashprice_usd_per_ph_day"] == pytest.approx(36.12 / 0.975)
    assert record["breakeven_power_price_usd_per_kwh"] == pytest.approx(0.0371783, abs=1e-7)
    assert record["hashrate_ths"] == 7000


def test_cli_profit_says_losing(tmp_path: Path) -> None:
    done = hashmarket(
        "miner", "profit", "--machine", "S9", "--power-usd-per-kwh", "0.10",
        "--start", "2024-01-01", "--end", "2024-01-31", "--format", "json",
        home=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["summary"]["status"] == "losing"
    assert out["summary"]["days_losing"] == out["summary"]["days"] == 31
    table = hashmarket(
        "miner", "profit", "--machine", "S9", "--power-usd-per-kwh", "0.10", "--last", "3",
        home=tmp_path,
    )  # fmt: skip
    assert "LOSING" in table.stdout


def test_cli_payback_on_history(tmp_path: Path) -> None:
    done = hashmarket(
        "miner", "payback", "--hashrate-ths", "1000", "--power-w", "20000",
        "--power-usd-per-kwh", "0.05", "--capex-usd", "1000", "--on", "history",
        "--start", "2024-01-01", "--format", "json",
        home=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["paid_back"] is True
    assert 1 <= record["payback_days"] <= 40


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--machine", "S99"), "unknown machine 'S99'"),
        (("--hashrate-ths", "100"), "give both --hashrate-ths and --power-w"),
        (("--machine", "S21", "--pool-fee", "2"), "--pool-fee: must be a fraction"),
    ],
)
def test_cli_refuses_bad_options_on_one_line(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    done = hashmarket("miner", "breakeven", *args, "--power-usd-per-kwh", "0.05", home=tmp_path)
    assert done.returncode == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_payback_on_the_calibrated_network_model() -> None:
    from hashmarket.models import ScenarioConfig, Scenarios, calibrate

    calibration = calibrate(NetworkHistory.load())
    scenarios = Scenarios(
        model=calibration.model,
        state=calibration.state,
        days=90,
        config=ScenarioConfig(n_paths=64, seed=3),
    )
    fleet = Fleet.of(load_catalogue().get("S21 XP"), 1)
    costs = Costs(power_price_usd_per_kwh=0.03)
    cheap = payback_on_scenarios(fleet, costs, capex_usd=100.0, scenarios=scenarios.chunks())
    dear = payback_on_scenarios(fleet, costs, capex_usd=1e6, scenarios=scenarios.chunks())
    assert len(cheap.days) == 64 and cheap.horizon_days == 90
    assert cheap.probability_paid_back == 1.0  # $100 of capex: paid within days on every path
    assert dear.probability_paid_back == 0.0
    again = payback_on_scenarios(fleet, costs, capex_usd=100.0, scenarios=scenarios.chunks())
    assert np.array_equal(again.days, cheap.days)  # same seed, same paths
