"""Closed forms: Black-76 and Black–Scholes prices and Greeks, Merton's jump series.

Every function is vectorized (arrays broadcast) and pure. ``is_call`` selects calls (True) or
puts (False) element by element. Times are in years, rates continuously compounded, and
volatilities annual.

Black-76 on a forward F with discount factor P::

    call = P [F N(d1) − K N(d2)],  put = P [K N(−d2) − F N(−d1)],
    d1 = (ln(F/K) + σ²T/2) / (σ√T),  d2 = d1 − σ√T

Black–Scholes is Black-76 with F = S e^{(r − q)T} and P = e^{−rT}. At expiry (T = 0) or zero
volatility the price is the discounted intrinsic value of the forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from hashmarket.errors import PricingError
from hashmarket.instruments import EuropeanOption, OptionType, Underlying
from hashmarket.models import GBM, MertonJumpDiffusion, NetworkModel, PriceModel
from hashmarket.pricing.market import Market
from hashmarket.pricing.result import MonteCarloConfig, PricingResult, Progress
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
BoolLike = bool | npt.NDArray[np.bool_]


def _inv_sqrt_2pi() -> float:
    return 1.0 / math.sqrt(2.0 * math.pi)


def _pdf(x: FloatArray) -> FloatArray:
    return np.asarray(_inv_sqrt_2pi() * np.exp(-0.5 * x * x))


def _d1_d2(
    forward: FloatArray, strike: FloatArray, stdev: FloatArray
) -> tuple[FloatArray, FloatArray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(forward / strike) + 0.5 * stdev * stdev) / stdev
    return d1, d1 - stdev


def black76_price(
    *,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    expiry_years: npt.ArrayLike,
    vol: npt.ArrayLike,
    discount_factor: npt.ArrayLike = 1.0,
    is_call: npt.ArrayLike = True,
) -> FloatArray:
    """Black-76 price of European options on a forward (per unit of the underlying)."""
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t = np.asarray(expiry_years, dtype=np.float64)
    s = np.asarray(vol, dtype=np.float64)
    p = np.asarray(discount_factor, dtype=np.float64)
    call = np.asarray(is_call, dtype=bool)
    stdev = s * np.sqrt(np.maximum(t, 0.0))
    d1, d2 = _d1_d2(f, k, stdev)
    sign = np.where(call, 1.0, -1.0)
    with np.errstate(invalid="ignore"):
        value = sign * (f * ndtr(sign * d1) - k * ndtr(sign * d2))
    intrinsic = np.maximum(sign * (f - k), 0.0)
    degenerate = (stdev <= 0) | (k <= 0)
    return np.asarray(p * np.where(degenerate, intrinsic, value), dtype=np.float64)


@dataclass(frozen=True)
class Black76Greeks:
    """Sensitivities of the Black-76 price (per unit of the underlying).

    ``delta`` = ∂V/∂F, ``gamma`` = ∂²V/∂F², ``vega`` = ∂V/∂σ (per 1.00 of volatility),
    ``theta`` = ∂V/∂T (per year of expiry, forward and discount factor held), ``rho`` =
    ∂V/∂r where P = e^{−rT} (forward held).
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray


def black76_greeks(
    *,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    expiry_years: npt.ArrayLike,
    vol: npt.ArrayLike,
    discount_factor: npt.ArrayLike = 1.0,
    is_call: npt.ArrayLike = True,
) -> Black76Greeks:
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t = np.maximum(np.asarray(expiry_years, dtype=np.float64), 1e-300)
    s = np.asarray(vol, dtype=np.float64)
    p = np.asarray(discount_factor, dtype=np.float64)
    call = np.asarray(is_call, dtype=bool)
    sqrt_t = np.sqrt(t)
    stdev = s * sqrt_t
    d1, _ = _d1_d2(f, k, stdev)
    sign = np.where(call, 1.0, -1.0)
    price = black76_price(
        forward=f, strike=k, expiry_years=t, vol=s, discount_factor=p, is_call=call
    )
    delta = p * sign * ndtr(sign * d1)
    pdf = _pdf(d1)
    gamma = p * pdf / (f * stdev)
    vega = p * f * pdf * sqrt_t
    theta = p * f * pdf * s / (2.0 * sqrt_t)
    rho = -t * price
    return Black76Greeks(
        price=price,
        delta=np.asarray(delta),
        gamma=np.asarray(gamma),
        vega=np.asarray(vega),
        theta=np.asarray(theta),
        rho=np.asarray(rho),
    )


def black_scholes_price(
    *,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    expiry_years: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
    dividend_yield: npt.ArrayLike = 0.0,
    is_call: npt.ArrayLike = True,
) -> FloatArray:
    """Black–Scholes(–Merton) price with a continuous yield ``dividend_yield`` (for BTC: its
    lending rate)."""
    t = np.asarray(expiry_years, dtype=np.float64)
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(dividend_yield, dtype=np.float64)
    forward = np.asarray(spot, dtype=np.float64) * np.exp((r - q) * t)
    return black76_price(
        forward=forward,
        strike=strike,
        expiry_years=t,
        vol=vol,
        discount_factor=np.exp(-r * t),
        is_call=is_call,
    )


@dataclass(frozen=True)
class BlackScholesGreeks:
    """Spot Greeks: ``delta`` = ∂V/∂S, ``gamma`` = ∂²V/∂S², ``vega`` = ∂V/∂σ,
    ``rho`` = ∂V/∂r (both discounting and carry)."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    rho: FloatArray


def black_scholes_greeks(
    *,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    expiry_years: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
    dividend_yield: npt.ArrayLike = 0.0,
    is_call: npt.ArrayLike = True,
) -> BlackScholesGreeks:
    t = np.asarray(expiry_years, dtype=np.float64)
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(dividend_yield, dtype=np.float64)
    s0 = np.asarray(spot, dtype=np.float64)
    carry = np.exp((r - q) * t)
    g = black76_greeks(
        forward=s0 * carry,
        strike=strike,
        expiry_years=t,
        vol=vol,
        discount_factor=np.exp(-r * t),
        is_call=is_call,
    )
    call = np.asarray(is_call, dtype=bool)
    k = np.asarray(strike, dtype=np.float64)
    sign = np.where(call, 1.0, -1.0)
    stdev = np.asarray(vol, dtype=np.float64) * np.sqrt(np.maximum(t, 1e-300))
    _, d2 = _d1_d2(s0 * carry, k, stdev)
    rho = sign * k * t * np.exp(-r * t) * ndtr(sign * d2)
    return BlackScholesGreeks(
        price=g.price,
        delta=g.delta * carry,
        gamma=g.gamma * carry * carry,
        vega=g.vega,
        rho=np.asarray(rho),
    )


def merton_price(
    *,
    spot: float,
    strike: float,
    expiry_years: float,
    vol: float,
    jumps_per_year: float,
    jump_mean_log: float,
    jump_std_log: float,
    rate: float = 0.0,
    dividend_yield: float = 0.0,
    is_call: bool = True,
    terms: int = 60,
) -> float:
    """Merton (1976): a Poisson-weighted sum of Black-76 prices, conditional on n jumps.

    Given n jumps in [0, T], ln S_T is normal with variance σ²T + n s² and
    E[S_T | n] = S e^{(r − q − λk)T} (1 + k)^n, k = e^{m + s²/2} − 1; the weights are the
    Poisson probabilities e^{−λT} (λT)^n / n!.
    """
    k_jump = math.exp(jump_mean_log + 0.5 * jump_std_log**2) - 1.0
    lam_t = jumps_per_year * expiry_years
    total = 0.0
    weight = math.exp(-lam_t)
    for n in range(terms):
        if n > 0:
            weight *= lam_t / n
        vol_n = math.sqrt(vol**2 + n * jump_std_log**2 / expiry_years)
        log_forward = (rate - dividend_yield - jumps_per_year * k_jump) * expiry_years
        forward = spot * math.exp(log_forward + n * math.log1p(k_jump))
        value = black76_price(
            forward=forward,
            strike=strike,
            expiry_years=expiry_years,
            vol=vol_n,
            discount_factor=math.exp(-rate * expiry_years),
            is_call=is_call,
        )
        total += weight * float(value)
    return total


# ---- the analytic engine ---------------------------------------------------------------


def _closed_form(
    instrument: EuropeanOption,
    price_model: PriceModel,
    *,
    spot: float,
    years: float,
    usd_rate: float,
    btc_rate: float,
) -> tuple[float, dict[str, float], str]:
    """The value of one option (before side and quantity), the position's Greeks where the
    closed form gives them, and the method: Merton's series with jumps, else Black–Scholes."""
    is_call = instrument.option_type is OptionType.CALL
    scale = instrument.side.sign * instrument.quantity
    if isinstance(price_model, MertonJumpDiffusion) and price_model.has_jumps:
        value = merton_price(
            spot=spot,
            strike=instrument.strike,
            expiry_years=years,
            vol=price_model.vol_per_year,
            jumps_per_year=price_model.jumps_per_year,
            jump_mean_log=price_model.jump_mean_log,
            jump_std_log=price_model.jump_std_log,
            rate=usd_rate,
            dividend_yield=btc_rate,
            is_call=is_call,
        )
        return value, {}, "merton"
    if isinstance(price_model, GBM | MertonJumpDiffusion):
        g = black_scholes_greeks(
            spot=spot,
            strike=instrument.strike,
            expiry_years=years,
            vol=price_model.vol_per_year,
            rate=usd_rate,
            dividend_yield=btc_rate,
            is_call=is_call,
        )
        greeks = {
            "delta_per_usd": scale * float(g.delta),
            "gamma_per_usd2": scale * float(g.gamma),
            "vega_per_vol_point": scale * float(g.vega) / 100,
            "rho_per_bp": scale * float(g.rho) * 1e-4,
        }
        return float(g.price), greeks, "black_scholes"
    raise PricingError(
        "engine_model",
        engine="analytic",
        instrument=instrument.type_name,
        needs="GBM or Merton",
    )


def black_scholes_engine(
    instrument: EuropeanOption,
    *,
    market: Market,
    model: NetworkModel,
    config: MonteCarloConfig,
    progress: Progress | None = None,
) -> PricingResult:
    """Black–Scholes (GBM) or Merton's series (jumps) for a European option on BTC/USD, with
    r the USD zero rate and BTC's lending rate as the yield, both to expiry. Under
    ``measure = model`` the model's drift replaces r − q in the forward."""
    if instrument.underlying is not Underlying.BTC_USD:
        raise PricingError(
            "engine_model",
            engine="analytic",
            instrument=instrument.type_name,
            needs="a btc_usd underlying (hashprice has no closed form under the network model)",
        )
    years = (instrument.expiry - market.asof).days / DAYS_PER_YEAR_ACT365
    if years <= 0:
        raise PricingError(
            "expired", instrument=instrument.type_name, asof=market.asof, last=instrument.expiry
        )
    r = market.usd_curve.zero_rate(years)
    q = market.btc_curve.zero_rate(years)
    if config.measure == "model":
        q = r - model.price.drift_per_year
    scale = instrument.side.sign * instrument.quantity
    spot = market.state.price_usd
    price_model = model.price
    value, greeks, method = _closed_form(
        instrument, price_model, spot=spot, years=years, usd_rate=r, btc_rate=q
    )
    return PricingResult(
        value=scale * value,
        std_error=0.0,
        n_paths=0,
        seed=None,
        currency=instrument.currency.value,
        engine="analytic",
        greeks=greeks,
        diagnostics={
            "method": method,
            "expiry_years": years,
            "usd_rate": r,
            "btc_rate": q,
            "vol_per_year": price_model.vol_per_year,
            "spot_usd": spot,
            "forward_usd": spot * math.exp((r - q) * years),
        },
    )


# ---- the analytic engine on scenario paths ---------------------------------------------


def black_scholes_applies(instrument: EuropeanOption, model: NetworkModel) -> bool:
    """Whether the option's value on a future day is Black–Scholes at that day's price: a
    BTC/USD underlying under GBM (with jumps the day-h value would need the series)."""
    return instrument.underlying is Underlying.BTC_USD and isinstance(model.price, GBM)


def black_scholes_on_paths(
    instrument: EuropeanOption,
    *,
    spot_usd: npt.ArrayLike,
    expiry_years: float,
    vol: float,
    usd_rate: float,
    btc_rate: float,
) -> FloatArray:
    """The position's Black–Scholes value at each path's BTC price, ``expiry_years`` before
    expiry (clipped at 0: the intrinsic value), side and quantity applied."""
    value = black_scholes_price(
        spot=spot_usd,
        strike=instrument.strike,
        expiry_years=max(expiry_years, 0.0),
        vol=vol,
        rate=usd_rate,
        dividend_yield=btc_rate,
        is_call=instrument.option_type.value == "call",
    )
    return np.asarray(instrument.side.sign * instrument.quantity * value, dtype=np.float64)
