"""A dispatch site with 30 % of its power converted to AI, on a three-hour hand-checked case."""

from __future__ import annotations

import pytest

from hashmarket.errors import DataError
from hashmarket.operations import apply_conversion, compare, parse_conversion_plan, parse_site
from hashmarket.operations.dispatch import HourlyMarket

# 10 MW: 1,000 machines of 500 TH/s at 10 kW (20 J/TH). 30 % converted: 700 machines mine
# (7 MW) and 3 MW hold 3,000 GPUs of 1 kW. Mining earns 50 PH/s per MW × 50 USD/PH/day / 24
# = 104.1667 USD per MWh: it runs at 30 and 100 USD/MWh and curtails at 200.
SITE = {
    "name": "hand",
    "power_capacity_mw": 10,
    "mining": {"fleet": [{"hashrate_ths": 500, "power_w": 10000, "count": 1000}]},
}
PRICES = [30.0, 100.0, 200.0]
MINING_USD_PER_MWH = 50 * 50 / 24


def market(gpu_price: float) -> HourlyMarket:
    return HourlyMarket.constant(
        start_s=1_735_689_600,
        power_price_usd_per_mwh=PRICES,
        hashprice_usd_per_ph_day=50.0,
        gpu_price_usd_per_gpu_hour=gpu_price,
    )


def test_thirty_percent_leased_by_hand() -> None:
    plan = parse_conversion_plan(
        {"fraction": 0.3, "gpus_per_mw": 1000, "lease": {"price_usd_per_gpu_hour": 2.0}}
    )
    site = apply_conversion(parse_site(SITE), plan)
    assert site.mining is not None and site.mining.fleet.lines[0].count == 700
    assert site.gpu is not None and site.gpu.count == 3000
    hours = compare(site, market(0.0)).optimal.hours
    assert hours["mining_mw"].tolist() == pytest.approx([7.0, 7.0, 0.0], abs=1e-6)
    assert hours["ai_mw"].tolist() == pytest.approx([3.0, 3.0, 3.0], abs=1e-6)
    # Mining: 7 × (104.1667 − 30) = 519.17 and 7 × (104.1667 − 100) = 29.17; the lease pays
    # 3,000 × 2.00 = 6,000 an hour whatever power costs: 6,000 − 3 × price.
    mining = [7 * (MINING_USD_PER_MWH - 30), 7 * (MINING_USD_PER_MWH - 100), 0.0]
    ai = [6000 - 90.0, 6000 - 300.0, 6000 - 600.0]
    expected = [m + a for m, a in zip(mining, ai, strict=True)]
    assert hours["margin_usd"].tolist() == pytest.approx(expected, abs=1e-6)
    assert float(hours["margin_usd"].sum()) == pytest.approx(17_558.333333, abs=1e-5)


def test_thirty_percent_on_the_spot_market_by_hand() -> None:
    plan = parse_conversion_plan({"fraction": 0.3, "gpus_per_mw": 1000, "load_rate": 1.0})
    site = apply_conversion(parse_site(SITE), plan)
    assert site.contracts == ()
    # 1,000 GPUs per MW × 0.15 USD = 150 USD per MWh: serve at 30 and 100, idle at 200.
    hours = compare(site, market(0.15)).optimal.hours
    assert hours["ai_mw"].tolist() == pytest.approx([3.0, 3.0, 0.0], abs=1e-6)
    assert hours["mining_mw"].tolist() == pytest.approx([7.0, 7.0, 0.0], abs=1e-6)
    total = 7 * (MINING_USD_PER_MWH - 30) + 7 * (MINING_USD_PER_MWH - 100) + 3 * 120 + 3 * 50
    assert float(hours["margin_usd"].sum()) == pytest.approx(total, abs=1e-6)
    assert total == pytest.approx(1_058.333333, abs=1e-5)


def test_a_site_that_already_has_gpus_is_refused() -> None:
    plan = parse_conversion_plan({"fraction": 0.3, "gpus_per_mw": 1000})
    with_gpus = {**SITE, "gpu": {"count": 10, "power_w_per_gpu": 1000}}
    with pytest.raises(DataError, match="already has GPUs"):
        apply_conversion(parse_site(with_gpus), plan)
    with pytest.raises(DataError, match=r"fraction.*<= 1"):
        parse_conversion_plan({"fraction": 1.2, "gpus_per_mw": 1000})
