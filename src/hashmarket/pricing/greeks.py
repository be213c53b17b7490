"""Greeks by bump and reprice, with common random numbers.

Every bumped price uses the same seed and path count as the base price, so the paths differ
only by the bump and the finite differences are not drowned in Monte Carlo noise. Central
differences throughout. The names carry the unit of the bump:

* ``delta_per_usd`` / ``gamma_per_usd2`` — BTC/USD spot moved by ±1 %;
* ``vega_per_vol_point`` — BTC/USD volatility moved by ±1 point (0.01);
* ``hashrate_per_pct`` — network hashrate moved by ±1 % (value change per +1 %);
* ``rho_per_bp`` — the USD curve moved by ±1 basis point.

Values are in the instrument's currency. The caller passes ``reprice``, the engine's value at
a bumped market or model, so this module needs no engine lookup of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from hashmarket.models import NetworkModel
from hashmarket.pricing.market import Market
from hashmarket.pricing.result import MonteCarloConfig, PricingResult

SPOT_BUMP = 0.01
VOL_BUMP = 0.01
HASHRATE_BUMP = 0.01
RATE_BUMP_BP = 1.0

# The value at a bumped market and model, with the given configuration.
Reprice = Callable[[Market, NetworkModel, MonteCarloConfig], float]


def bump_greeks(
    *,
    market: Market,
    model: NetworkModel,
    config: MonteCarloConfig,
    base: PricingResult,
    reprice: Reprice,
) -> dict[str, float]:
    # The same paths for every bump: a fixed count (the base run's) and the same seed.
    fixed = replace(config, greeks=False, n_paths=max(base.n_paths, 2), target_std_error=None)

    def value(m: Market, mdl: NetworkModel) -> float:
        return reprice(m, mdl, fixed)

    state = market.state
    spot = state.price_usd
    up = value(market.with_state(state.with_price(spot * (1 + SPOT_BUMP))), model)
    down = value(market.with_state(state.with_price(spot * (1 - SPOT_BUMP))), model)
    h = spot * SPOT_BUMP
    vol = model.price.vol_per_year
    vol_up = value(market, replace(model, price=model.price.with_vol(vol + VOL_BUMP)))
    vol_down = value(market, replace(model, price=model.price.with_vol(max(vol - VOL_BUMP, 0.0))))
    hashrate = state.hashrate_ths
    hr_up = value(market.with_state(state.with_hashrate(hashrate * (1 + HASHRATE_BUMP))), model)
    hr_down = value(market.with_state(state.with_hashrate(hashrate * (1 - HASHRATE_BUMP))), model)
    rate_up = value(market.with_usd_curve(market.usd_curve.shifted(RATE_BUMP_BP)), model)
    rate_down = value(market.with_usd_curve(market.usd_curve.shifted(-RATE_BUMP_BP)), model)
    vol_step = vol + VOL_BUMP - max(vol - VOL_BUMP, 0.0)
    return {
        "delta_per_usd": (up - down) / (2 * h),
        "gamma_per_usd2": (up - 2 * base.value + down) / (h * h),
        "vega_per_vol_point": (vol_up - vol_down) / vol_step * 0.01,
        "hashrate_per_pct": (hr_up - hr_down) / 2,
        "rho_per_bp": (rate_up - rate_down) / 2,
    }
