"""Dispatch: hand-checkable hours, a brute-force search that the mixed-integer optimum must
match, the optimum never below a pure policy, every constraint respected, strict inputs."""

from __future__ import annotations

import functools
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hashmarket.errors import DataError
from hashmarket.operations.dispatch import (
    AiContract,
    GpuSpec,
    HourlyMarket,
    MiningSpec,
    Policy,
    Site,
    Switching,
    mining_revenue_usd_per_mwh,
)
from hashmarket.operations.dispatch_inputs import parse_site, read_prices, read_site
from hashmarket.operations.dispatch_plan import DispatchComparison
from hashmarket.operations.dispatch_program import compare, solve
from hashmarket.operations.fleet import Fleet, Machine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dispatch"
T0 = 1_735_689_600  # 2025-01-01T00:00:00Z

# A 1 MW machine of 24 PH/s: at $100/PH/day it earns 24 x 100 / 24 = $100 an hour.
MW_MACHINE = Machine.custom(hashrate_ths=24_000.0, power_w=1e6, model="1 MW")


def one_mw_site(
    *, capacity_mw: float = 1.0, machines: int = 1, gpus: int = 1, **kw: object
) -> Site:
    return Site(
        name="test",
        power_capacity_mw=capacity_mw,
        mining=MiningSpec(Fleet.of(MW_MACHINE, machines)) if machines else None,
        gpu=GpuSpec(count=gpus, power_w_per_gpu=1e6, load_rate=1.0) if gpus else None,
        **kw,  # type: ignore[arg-type]
    )


def market(power: list[float], *, hashprice: float = 100.0, gpu: float | list[float] = 150.0,
           dr: float | list[float] = 0.0) -> HourlyMarket:  # fmt: skip
    return HourlyMarket.constant(
        start_s=T0,
        power_price_usd_per_mwh=power,
        hashprice_usd_per_ph_day=hashprice,
        gpu_price_usd_per_gpu_hour=gpu,
        demand_response_usd_per_mwh=dr,
    )


# -- hours checked by hand ------------------------------------------------------------------


def test_revenue_per_mwh_by_hand() -> None:
    # 17.5 J/TH: 1 MW runs 1e6 / 17.5 TH/s = 57.142857 PH/s; at $50/PH/day, 2 % fee:
    # 57.142857 x 50 / 24 x 0.98 = $116.67 per MWh.
    got = mining_revenue_usd_per_mwh(17.5, 0.02, np.array([50.0]))
    assert float(got[0]) == pytest.approx(1e3 / 17.5 * 50 / 24 * 0.98)


@pytest.mark.parametrize(
    ("price", "dr", "mining_mw", "ai_mw", "margin"),
    [
        (40.0, 0.0, 0.0, 1.0, 150 - 40),  # AI beats mining for the one MW
        (120.0, 0.0, 0.0, 1.0, 150 - 120),  # mining would lose; AI still earns
        (160.0, 0.0, 0.0, 0.0, 0.0),  # both would lose: curtail
        (80.0, 50.0, 0.0, 1.0, 150 - 80),  # AI earns 70 > the 50 demand response pays
        (110.0, 50.0, 0.0, 0.0, 50.0),  # AI would earn 40 < 50 of demand response
        (-20.0, 0.0, 0.0, 1.0, 150 + 20),  # a negative price pays the site to draw
    ],
)
def test_single_hour_by_hand(
    price: float, dr: float, mining_mw: float, ai_mw: float, margin: float
) -> None:
    plan = solve(one_mw_site(), market([price], dr=dr))
    row = plan.hours.iloc[0]
    assert row["mining_mw"] == pytest.approx(mining_mw, abs=1e-9)
    assert row["ai_mw"] == pytest.approx(ai_mw, abs=1e-9)
    assert plan.margin_usd == pytest.approx(margin)


def test_mining_alone_runs_at_negative_prices_even_without_revenue() -> None:
    site = one_mw_site(gpus=0)
    plan = solve(site, market([-20.0, 30.0], hashprice=0.0))
    assert plan.hours["mining_mw"].tolist() == pytest.approx([1.0, 0.0])
    assert plan.margin_usd == pytest.approx(20.0)


def test_contract_minimum_is_served_at_a_loss() -> None:
    contract = AiContract(
        "tenant", price_usd_per_gpu_hour=10.0, term_hours=2, gpus_min=1, gpus_max=1
    )
    site = one_mw_site(machines=0, contracts=(contract,))
    plan = solve(site, market([500.0, 500.0], gpu=0.0))
    assert plan.hours["ai_contract_gpus"].tolist() == [1.0, 1.0]
    assert plan.margin_usd == pytest.approx(2 * (10.0 - 500.0))


def test_switching_cost_keeps_the_plan_steady() -> None:
    # Mining earns 100/MWh; the price dips under 100 for one hour only. Stopping and
    # restarting 1 MW costs 2 x 30 = 60, more than the 20 the dip would save.
    prices = [50.0, 120.0, 50.0]
    free = solve(one_mw_site(gpus=0), market(prices))
    assert free.hours["mining_mw"].tolist() == pytest.approx([1.0, 0.0, 1.0])
    steady = solve(one_mw_site(gpus=0, switching=Switching(mining_usd_per_mw=30.0)), market(prices))
    assert steady.hours["mining_mw"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert steady.margin_usd == pytest.approx(50 - 20 + 50)


# -- brute force on a small case ------------------------------------------------------------

PRICES = [10.0, 200.0, 40.0, -5.0, 300.0, 60.0]
GPU_PRICES = [300.0, 300.0, 160.0, 160.0, 500.0, 180.0]  # x 0.5 load: 150 150 80 80 250 90
DR = [0.0, 0.0, 0.0, 0.0, 50.0, 0.0]
SMALL = Site(
    name="small",
    power_capacity_mw=3.0,
    mining=MiningSpec(Fleet.of(MW_MACHINE, 2), pool_fee_fraction=0.0),
    gpu=GpuSpec(count=2, power_w_per_gpu=1e6, load_rate=0.5),
    contracts=(AiContract("block", price_usd_per_gpu_hour=140.0, term_hours=3, gpus_max=1),),
    switching=Switching(mining_usd_per_mw=5.0, ai_usd_per_mw=20.0, ramp_limit_mw_per_hour=2.0),
)
SMALL_MARKET = market(PRICES, gpu=GPU_PRICES, dr=DR)


Plan = tuple[float, tuple[int, ...], tuple[int, ...], tuple[int, ...]]


@functools.cache
def brute_force() -> Plan:
    """Every whole-unit plan: machines n, market GPUs f per hour, contract GPUs per block.

    Written from the problem statement, not from the module: revenue 100 per machine-hour,
    GPU-hour price x 0.5 per market GPU, 140 per contract GPU; every MW pays the power price;
    demand response pays 50 x (baseline 3 MW - load) in hour 4; switching 5 per MW of mining
    and 20 per MW of AI changed; |change of total load| <= 2 MW; load <= 3; GPUs <= 2.
    """
    best: Plan = (-math.inf, (), (), ())
    states = np.array([(n, f) for n in range(3) for f in range(3)], dtype=float)
    hours = len(PRICES)
    prices, gpu_prices, dr = np.array(PRICES), np.array(GPU_PRICES), np.array(DR)
    for c in itertools.product(range(2), repeat=2):
        contract = np.array([c[0]] * 3 + [c[1]] * 3, dtype=float)
        allowed = [
            np.flatnonzero(
                (states.sum(axis=1) + contract[h] <= 3) & (states[:, 1] + contract[h] <= 2)
            )
            for h in range(hours)
        ]
        # Every combination of allowed states, one row per plan: [plans, hours].
        grid = np.stack(np.meshgrid(*allowed, indexing="ij"), axis=-1).reshape(-1, hours)
        n, f = states[grid, 0], states[grid, 1]
        ai = f + contract
        load = n + ai
        margin = (
            100.0 * n.sum(axis=1)
            + (0.5 * gpu_prices * f).sum(axis=1)
            + 140.0 * contract.sum()
            - (prices * load).sum(axis=1)
            + (dr * (3.0 - load)).sum(axis=1)
            - 5.0 * np.abs(np.diff(n, axis=1)).sum(axis=1)
            - 20.0 * np.abs(np.diff(ai, axis=1)).sum(axis=1)
        )
        margin[np.any(np.abs(np.diff(load, axis=1)) > 2.0, axis=1)] = -np.inf  # ramp limit
        i = int(np.argmax(margin))
        if margin[i] > best[0]:
            best = (
                float(margin[i]),
                tuple(int(x) for x in n[i]),
                tuple(int(x) for x in f[i]),
                c,
            )
    return best


def test_mixed_integer_optimum_matches_brute_force() -> None:
    best, n, f, c = brute_force()
    mip = solve(SMALL, SMALL_MARKET, integer=True)
    assert mip.margin_usd == pytest.approx(best, abs=1e-6)
    assert mip.solve.objective_usd == pytest.approx(best, abs=1e-6)
    # The whole-unit plan found is one the search also reaches (on a unit grid).
    assert np.allclose(mip.hours["machines_running"], np.round(mip.hours["machines_running"]))
    assert np.allclose(mip.hours["ai_market_gpus"], np.round(mip.hours["ai_market_gpus"]))
    # The linear relaxation can only do better or as well.
    lp = solve(SMALL, SMALL_MARKET)
    assert lp.margin_usd >= best - 1e-6
    assert (n, f, c) is not None


def test_brute_force_case_has_a_real_choice() -> None:
    # Guard against a vacuous comparison: the best plan is neither all-off nor all-on, and
    # takes the contract in its first term only.
    best, n, f, c = brute_force()
    assert best == 920.0
    assert 0 < sum(n) < 12 and 0 < sum(f) < 12
    assert c == (1, 0)


# -- the optimum against the pure policies, and every constraint ----------------------------


@pytest.fixture(scope="module")
def example() -> DispatchComparison:
    site = read_site(EXAMPLES / "site.json")
    return compare(site, read_prices(EXAMPLES / "prices_generated.csv", site))


def test_optimum_is_at_least_each_pure_policy(example: DispatchComparison) -> None:
    assert example.optimal.margin_usd >= example.mine_only.margin_usd - 1e-6
    assert example.optimal.margin_usd >= example.ai_only.margin_usd - 1e-6
    for plan in example.plans():
        # The plan's own accounting equals the solver's optimum.
        assert plan.margin_usd == pytest.approx(plan.solve.objective_usd, rel=1e-9)
    assert example.mine_only.hours["ai_mw"].abs().max() == 0.0
    assert example.ai_only.hours["mining_mw"].abs().max() == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_optimum_beats_pure_policies_on_random_sites(seed: int) -> None:
    rng = np.random.default_rng(seed)
    hours = 48
    site = Site(
        name=f"random {seed}",
        power_capacity_mw=float(rng.uniform(1, 6)),
        mining=MiningSpec(Fleet.of(MW_MACHINE, int(rng.integers(1, 5))), pool_fee_fraction=0.02),
        gpu=GpuSpec(count=int(rng.integers(1, 4)), power_w_per_gpu=1e6, load_rate=0.7),
        contracts=(AiContract("c", float(rng.uniform(50, 150)), int(rng.integers(1, 24)), 0, 1),),
        switching=Switching(float(rng.uniform(0, 20)), float(rng.uniform(0, 50)), 3.0),
    )
    m = market(
        rng.normal(80, 60, hours).tolist(),
        hashprice=float(rng.uniform(50, 150)),
        gpu=rng.uniform(50, 250, hours).tolist(),
    )
    result = compare(site, m)
    assert result.optimal.margin_usd >= max(r.margin_usd for r in result.plans()[1:]) - 1e-6


def test_every_constraint_holds(example: DispatchComparison) -> None:
    site = example.site
    assert site.mining is not None and site.gpu is not None
    tol = 1e-6
    for plan in example.plans():
        h = plan.hours
        assert (h["load_mw"] <= site.power_capacity_mw + tol).all()
        assert (h[["mining_mw", "ai_mw", "ai_market_gpus", "ai_contract_gpus"]] >= -tol).all().all()
        assert (h["ai_market_gpus"] + h["ai_contract_gpus"] <= site.gpu.count + tol).all()
        assert (h["machines_running"] <= site.mining.fleet.machines + tol).all()
        limit = site.switching.ramp_limit_mw_per_hour
        assert limit is not None
        assert (h["load_mw"].diff().abs().iloc[1:] <= limit + tol).all()
        assert h["load_mw"].to_numpy() == pytest.approx((h["mining_mw"] + h["ai_mw"]).to_numpy())
    optimal = example.optimal
    contract = site.contracts[0]
    gpus = optimal.hours["ai_contract_gpus"].to_numpy()
    blocks = optimal.blocks
    assert len(blocks) == math.ceil(8760 / contract.term_hours)
    for a, b, level in zip(blocks.first_hour, blocks.last_hour, optimal.block_gpus, strict=True):
        assert b - a + 1 <= contract.term_hours
        assert np.all(gpus[a : b + 1] == level)  # one level for the whole term
        assert contract.gpus_min - tol <= level <= contract.gpus_max + tol


def test_one_year_example_figures(example: DispatchComparison) -> None:
    by_use = example.optimal.by_use()
    assert by_use.loc["mining", "revenue_usd_per_mwh"] > 0
    assert by_use.loc["ai", "revenue_usd_per_mwh"] > by_use.loc["mining", "revenue_usd_per_mwh"]
    assert len(example.optimal.hours) == 8760


# -- inputs ---------------------------------------------------------------------------------


def test_site_example_reads() -> None:
    site = read_site(EXAMPLES / "site.json")
    assert site.power_capacity_mw == 20
    assert site.mining is not None and site.mining.fleet.machines == 5900
    assert site.contracts[0].term_hours == 720


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"colour": "red"}, "field 'colour': unknown field"),
        ({"power_capacity_mw": -1}, "field 'power_capacity_mw': must be > 0"),
        ({"power_capacity_mw": "20"}, "field 'power_capacity_mw': must be a number"),
        ({"gpu": {"count": 10, "power_w_per_gpu": 1400, "load_rate": 1.5}}, "gpu.load_rate"),
        ({"mining": {"fleet": [{"machine": "S99", "count": 1}]}}, "mining.fleet[0].machine"),
        ({"mining": {"fleet": [{"machine": "S21", "count": 0}]}}, "mining.fleet[0].count"),
        (
            {
                "ai_contracts": [
                    {"price_usd_per_gpu_hour": 2, "term_hours": 1, "gpus_min": 9, "gpus_max": 9}
                ]
            },
            "more than gpu.count 4",
        ),
    ],
)
def test_site_refusals_name_the_field(change: dict[str, object], says: str) -> None:
    data: dict[str, object] = {
        "name": "s",
        "power_capacity_mw": 20,
        "gpu": {"count": 4, "power_w_per_gpu": 1400},
    }
    data.update(change)
    with pytest.raises(DataError) as caught:
        parse_site(data, path="site.json")
    assert says in str(caught.value)
    assert str(caught.value).startswith("site.json: ")


def test_site_missing_field_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="field 'power_capacity_mw': missing"):
        parse_site({"name": "s"})
    path = tmp_path / "site.json"
    path.write_text('{"name": "s",}', encoding="utf-8")
    with pytest.raises(DataError, match=r"site.json:1: not a JSON site description"):
        read_site(path)


PRICE_SITE = one_mw_site(hashprice_usd_per_ph_day=100.0, gpu_price_usd_per_gpu_hour=2.0)


def write_prices(tmp_path: Path, body: str, header: str = "time_utc,price_usd_per_mwh\n") -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_prices_allow_negative_values(tmp_path: Path) -> None:
    path = write_prices(
        tmp_path, "2025-01-01T00:00:00Z,-12.5\n2025-01-01T01:00:00Z,30\n2025-01-01T02:00:00Z,0\n"
    )
    m = read_prices(path, PRICE_SITE)
    assert m.power_price_usd_per_mwh.tolist() == [-12.5, 30.0, 0.0]
    assert m.hashprice_usd_per_ph_day.tolist() == [100.0] * 3  # the site's default


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ("2025-01-01T00:00:00Z,nan\n", "prices.csv:2: column 'price_usd_per_mwh': value 'nan'"),
        ("2025-01-01T00:00:00Z,abc\n", "column 'price_usd_per_mwh': value 'abc': not a number"),
        ("2025-01-01T00:00:00Z,\n", "prices.csv:2: column 'price_usd_per_mwh'"),
        ("2025-01-01T01:00:00Z,1\n2025-01-01T00:00:00Z,2\n", "prices.csv:3: column 'time_utc'"),
        ("2025-01-01T00:00:00Z,1\n2025-01-01T00:00:00Z,2\n", "appears twice"),
        ("2025-01-01T00:00:00Z,1\n2025-01-01T03:00:00Z,2\n", "2 hour(s) missing before this row"),
        ("2025-01-01T00:30:00Z,1\n", "not on a whole UTC hour"),
    ],
)  # fmt: skip
def test_prices_refusals_name_line_and_column(tmp_path: Path, rows: str, says: str) -> None:
    with pytest.raises(DataError) as caught:
        read_prices(write_prices(tmp_path, rows), PRICE_SITE)
    assert says in str(caught.value)


def test_prices_need_a_hashprice_for_a_mining_site(tmp_path: Path) -> None:
    path = write_prices(tmp_path, "2025-01-01T00:00:00Z,30\n")
    with pytest.raises(DataError, match="no hashprice for the hours"):
        read_prices(path, one_mw_site(gpus=0))
    per_hour = write_prices(
        tmp_path,
        "2025-01-01T00:00:00Z,30,80\n",
        header="time_utc,price_usd_per_mwh,hashprice_usd_per_ph_day\n",
    )
    assert read_prices(per_hour, one_mw_site(gpus=0)).hashprice_usd_per_ph_day.tolist() == [80.0]


# -- command line ---------------------------------------------------------------------------


def hashmarket(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashmarket", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "160", "HOME": str(cwd)},
    )


def test_cli_json_and_report(tmp_path: Path) -> None:
    report = tmp_path / "out.html"
    done = hashmarket(
        "dispatch", str(EXAMPLES / "site.json"), str(EXAMPLES / "prices_generated.csv"),
        "--format", "json", "--report", str(report),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    margins = {p["policy"]: p["margin_usd"] for p in out["policies"]}
    assert margins["optimal"] >= max(margins["mine-only"], margins["ai-only"])
    assert len(out["plan"]) == 8760
    # The anchor tenant's level is fixed per 720-hour term: consecutive blocks tile the year.
    blocks = out["contract_blocks"]
    assert {b["contract"] for b in blocks} == {"Anchor tenant"}
    assert blocks[0]["first_hour_utc"] == "2025-01-01T00:00:00Z"
    assert blocks[1]["first_hour_utc"] == "2025-01-31T00:00:00Z"  # 720 hours later
    assert blocks[-1]["last_hour_utc"] == out["last_hour_utc"]
    assert all(1000 <= b["gpus"] <= 2500 for b in blocks)
    html = report.read_text(encoding="utf-8")
    assert "Anchor tenant" in html and "2025-01-31 00:00" in html
    assert (
        html.startswith("<!doctype html>")
        and "<svg" in html
        and "http" not in html.split("<svg", 1)[0].replace("http://www.w3.org", "")
    )
    assert "<script" not in html


def test_cli_bad_prices_one_line_and_no_report(tmp_path: Path) -> None:
    path = write_prices(tmp_path, "2025-01-01T00:00:00Z,30\n2025-01-01T01:00:00Z,x\n")
    report = tmp_path / "out.html"
    done = hashmarket(
        "dispatch", str(EXAMPLES / "site.json"), str(path), "--report", str(report), cwd=tmp_path
    )
    assert done.returncode == 65
    assert len(done.stderr.strip().splitlines()) == 1
    assert "prices.csv:3: column 'price_usd_per_mwh': value 'x': not a number" in done.stderr
    assert not report.exists()


def test_policy_values() -> None:
    assert [p.value for p in Policy] == ["optimal", "mine-only", "ai-only"]
