"""Leveraged BTC exposure: liquidation price, funding and P&L by hand; the allowed range."""

from __future__ import annotations

import numpy as np
import pytest

from hashmarket.errors import RiskError
from hashmarket.risk.leverage import LeveragedBtc, simulate_leverage


def position(leverage: float = 2.0) -> LeveragedBtc:
    return LeveragedBtc(
        name="x",
        equity_usd=10_000.0,
        leverage=leverage,
        funding_rate_per_year=0.10,
        maintenance_margin=0.05,
        liquidation_fee=0.01,
    )


def test_liquidation_price_and_funding_by_hand() -> None:
    p = position()
    # 2× on 10,000 at 50,000: 0.4 BTC, debt 10,000; liquidated when 0.4 S − D = 5 % of 0.4 S.
    assert p.btc_quantity(spot_usd=50_000) == pytest.approx(0.4)
    assert p.debt_usd == 10_000.0
    assert float(p.liquidation_price_usd(spot_usd=50_000)) == pytest.approx(26_315.789474)
    # After 30 days the debt has accrued 10 % a year: 10,082.19, and the barrier rises with it.
    assert float(p.debt_after(30)) == pytest.approx(10_082.191781)
    assert float(p.liquidation_price_usd(spot_usd=50_000, days=30)) == pytest.approx(26_532.083634)
    assert p.funding_cost_usd(30) == pytest.approx(82.191781)
    # 3× with a 5 % maintenance margin is liquidated after a 29.8 % fall.
    triple = position(3.0)
    assert float(triple.liquidation_price_usd(spot_usd=1.0)) == pytest.approx(2 / (3 * 0.95))


def test_pnl_on_paths_by_hand() -> None:
    calm = np.full(31, 60_000.0)
    calm[0] = 50_000.0
    crash = np.full(31, 50_000.0)
    crash[5:] = 25_000.0
    out = simulate_leverage(position(), price_usd=np.vstack([calm, crash]))
    # Calm: 0.4 × 60,000 − 10,082.19 = 13,917.81 of equity, +3,917.81.
    assert out.pnl_usd[0] == pytest.approx(3_917.808219)
    assert not out.liquidated[0]
    # Crash on day 5 below 26,3xx: sold at 25,000 less 1 %: 9,900 − 10,013.70 < 0 — the holder
    # loses everything and the platform 113.70.
    assert out.liquidated[1] and out.liquidation_day[1] == 5
    assert out.pnl_usd[1] == pytest.approx(-10_000.0)
    assert out.platform_shortfall_usd[1] == pytest.approx(113.698630)
    summary = out.summary()
    assert summary["probability_liquidation"] == 0.5
    assert summary["liquidation_price_usd_now"] == pytest.approx(26_315.789474)


@pytest.mark.parametrize("leverage", [1.0, 1.09, 3.01, 5.0, float("nan")])
def test_leverage_outside_the_allowed_range_is_refused(leverage: float) -> None:
    with pytest.raises(RiskError) as caught:
        position(leverage)
    assert caught.value.key == "leverage_out_of_range"
    assert "1.1x to 3.0x" in str(caught.value)


@pytest.mark.parametrize("leverage", [1.1, 2.5, 3.0])
def test_leverage_inside_the_range_is_accepted(leverage: float) -> None:
    assert position(leverage).leverage == leverage
