"""Control variates: quantities on the same paths whose expectations are known exactly.

A path's present value Y is replaced by Y − (X − E[X])·β, β the least-squares coefficient
of Y on the controls X over all paths: the mean is unchanged (E[X] is exact) and the
variance falls by the share of Y's variance that X explains. The controls:

* **shock sums** — each factor's standard normal shocks summed over segments of days, and the
  block-arrival surprises (blocks found less blocks expected, over √expected): mean zero by
  construction; and their products with the BTC price's average over the window (the price
  is independent of the hashrate and fee shocks, and the surprises are martingale
  differences, so these have mean zero too);
* **proxies of the fixings** the payoff reads, log-linear in the Gaussian shocks so that
  their means are closed forms: the BTC price itself (its forward), and for the hashprice
  S_t · exp(b_t + B_t·ζ) in USD or exp(b_t + B_t·ζ) in BTC, where ζ are the shock sums and
  (b, B) a regression of ln hashprice_btc on them fitted on a separate pilot run (so the
  controls are fixed before the paths they are used on): their window averages and last
  values;
* **closed-form options**: for European and Asian options and collars, the same option on
  the geometric average of the underlying's proxy (a log-normal: Black-76 on its moments;
  under GBM for the price, and always for the BTC hashprice); for contracts on the BTC price
  alone, European calls on the last day's price at three strikes (Black-76, or Merton's
  series under jumps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hashmarket.instruments import AsianOption, Collar, EuropeanOption, Instrument, OptionType
from hashmarket.models import (
    NETWORK_FACTORS,
    MertonJumpDiffusion,
    NetworkModel,
    NetworkState,
    PathChunk,
    Segments,
)
from hashmarket.pricing.analytic import black76_price, merton_price
from hashmarket.units import DAYS_PER_YEAR_ACT365

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PROXY_FIELDS = ("price_usd", "hashprice_usd_per_ph_day", "hashprice_btc_per_ph_day")
VANILLA_MONEYNESS = (0.8, 1.0, 1.25)


@dataclass(frozen=True)
class Proxy:
    """ln P_t = level_t + b_t + B_t·ζ (+ σ√dt W_t and jumps if ``with_price``) on the
    control window's days: the BTC price (B = 0) or the hashprice's log-linear fit."""

    name: str
    with_price: bool
    b: FloatArray  # [days]
    big_b: FloatArray | None  # [days, shock sums] or None for the price


@dataclass
class ControlPlan:
    """The controls of one run and their exact means (see the module docstring)."""

    model: NetworkModel
    state: NetworkState
    days: IntArray  # the control window: day offsets after the valuation date
    cols: IntArray  # their columns in a chunk's recorded data
    segments: Segments
    network: bool
    proxies: list[Proxy] = field(default_factory=list)
    options: list[tuple[str, IntArray, float, bool]] = field(default_factory=list)
    vanilla_strikes: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    means: FloatArray = field(default_factory=lambda: np.zeros(0))

    # ---- the Gaussian structure ------------------------------------------------------

    @property
    def sigma_day(self) -> float:
        return self.model.price.vol_per_year * math.sqrt(1.0 / DAYS_PER_YEAR_ACT365)

    def _price_overlap(self, days: IntArray) -> FloatArray:
        """Cov(W_t, ζ) for each day t ``[days, shock sums]``: only the price factor's sums
        share its shocks (and only in network runs, whose sums are of days)."""
        width = NETWORK_FACTORS * len(self.segments)
        out = np.zeros((len(days), width))
        if self.network:
            for i, t in enumerate(days):
                out[i, : len(self.segments)] = self.segments.overlap_with_first(int(t))
        return out

    def _log_level(self, proxy: Proxy) -> FloatArray:
        if not proxy.with_price:
            return np.zeros(len(self.days))
        years = self.days / DAYS_PER_YEAR_ACT365
        return math.log(self.state.price_usd) + self.model.price.log_drift_per_year() * years

    def _variances(self, proxy: Proxy) -> FloatArray:
        """Var(σ√dt W_t + B_t·ζ) for each window day (the Gaussian part of ln P_t)."""
        out = np.zeros(len(self.days))
        lengths = np.tile(self.segments.lengths, NETWORK_FACTORS).astype(np.float64)
        if proxy.big_b is not None:
            out += (proxy.big_b**2 * lengths).sum(axis=1)
        if proxy.with_price:
            s = self.sigma_day
            out += s * s * self.days
            if proxy.big_b is not None:
                out += 2 * s * (proxy.big_b * self._price_overlap(self.days)).sum(axis=1)
        return out

    def linear_means(self, proxy: Proxy) -> FloatArray:
        """E[P_t] on the window's days."""
        var = self._variances(proxy)
        if not proxy.with_price:
            return np.asarray(np.exp(proxy.b + 0.5 * var), dtype=np.float64)
        price = self.model.price
        years = self.days / DAYS_PER_YEAR_ACT365
        log_s = (
            math.log(self.state.price_usd)
            + (price.drift_per_year - 0.5 * price.vol_per_year**2) * years
        )
        return np.asarray(np.exp(log_s + proxy.b + 0.5 * var), dtype=np.float64)

    def geometric_moments(self, proxy: Proxy, idx: IntArray) -> tuple[float, float]:
        """Mean and variance of the mean of ln P_t over window positions ``idx`` (normal
        where the price has no jumps or the proxy has no price)."""
        days = self.days[idx]
        mean = float((self._log_level(proxy)[idx] + proxy.b[idx]).mean())
        var = 0.0
        lengths = np.tile(self.segments.lengths, NETWORK_FACTORS).astype(np.float64)
        b_bar = proxy.big_b[idx].mean(axis=0) if proxy.big_b is not None else None
        if b_bar is not None:
            var += float((b_bar**2 * lengths).sum())
        if proxy.with_price:
            s = self.sigma_day
            var += s * s * float(np.minimum.outer(days, days).mean())
            if b_bar is not None:
                var += 2 * s * float((b_bar * self._price_overlap(days).mean(axis=0)).sum())
        return mean, var

    # ---- values on a chunk -----------------------------------------------------------

    def proxy_values(self, proxy: Proxy, chunk: PathChunk) -> FloatArray:
        """P_t on the window's days ``[paths, days]``."""
        exponent = np.broadcast_to(proxy.b, (chunk.n_paths, len(self.days))).copy()
        if proxy.big_b is not None:
            exponent += chunk.shock_sums @ proxy.big_b.T
        values = np.exp(exponent)
        if proxy.with_price:
            values *= chunk.data["price_usd"][:, self.cols]
        return np.asarray(values, dtype=np.float64)

    def values(self, chunk: PathChunk) -> FloatArray:
        """The controls of every path of ``chunk`` ``[paths, controls]``."""
        parts: list[FloatArray] = [chunk.shock_sums]
        if chunk.arrival_surprises is not None:
            parts.append(chunk.arrival_surprises)
        price = chunk.data["price_usd"][:, self.cols]
        if self.network:
            forward = self.linear_means(self.proxies[0])
            s_bar = (price / forward).mean(axis=1, keepdims=True)
            parts.append(s_bar * chunk.shock_sums[:, len(self.segments) :])
            if chunk.arrival_surprises is not None:
                parts.append(s_bar * chunk.arrival_surprises)
        proxy_values = {p.name: self.proxy_values(p, chunk) for p in self.proxies}
        for p in self.proxies:
            v = proxy_values[p.name]
            parts += [v.mean(axis=1, keepdims=True), v[:, -1:]]
        for name, idx, strike, is_call in self.options:
            geometric = np.exp(np.log(proxy_values[name][:, idx]).mean(axis=1, keepdims=True))
            sign = 1.0 if is_call else -1.0
            parts.append(np.maximum(sign * (geometric - strike), 0.0))
        for strike in self.vanilla_strikes:
            parts.append(np.maximum(price[:, -1:] - strike, 0.0))
        return np.concatenate(parts, axis=1)


def build_plan(
    instrument: Instrument,
    *,
    model: NetworkModel,
    state: NetworkState,
    days: IntArray,
    cols: IntArray,
    segments: Segments,
    network: bool,
    hashprice_fit: tuple[FloatArray, FloatArray] | None,
    fields_read: frozenset[str],
) -> ControlPlan:
    """The controls for ``instrument`` on the control window ``days`` (``cols`` in the
    recorded data). ``hashprice_fit`` is (b, B) of ln hashprice_btc on the shock sums."""
    plan = ControlPlan(
        model=model, state=state, days=days, cols=cols, segments=segments, network=network
    )
    j = len(segments)
    shock_names = [f"shocks_{f}" for f in ("price", "hashrate", "fee")[: 3 if network else 1]]
    plan.names = [f"{name}_seg{s}" for name in shock_names for s in range(j)]
    means: list[float] = [0.0] * len(plan.names)
    poisson = network and model.block_arrivals.value == "poisson"
    if poisson:
        plan.names += [f"arrivals_seg{s}" for s in range(j)]
        means += [0.0] * j
    plan.proxies.append(Proxy("price_usd", True, np.zeros(len(days)), None))
    if hashprice_fit is not None:
        b, big_b = hashprice_fit
        # The USD proxy serves BTC-settled hashprice too: their values weigh each BTC amount
        # by the day's BTC price.
        if fields_read & {"hashprice_usd_per_ph_day", "hashprice_btc_per_ph_day"}:
            plan.proxies.append(Proxy("hashprice_usd_per_ph_day", True, b, big_b))
        if "hashprice_btc_per_ph_day" in fields_read:
            plan.proxies.append(Proxy("hashprice_btc_per_ph_day", False, b, big_b))
    if network:
        plan.names += [f"price_x_{n}" for n in plan.names[j : 3 * j]]
        means += [0.0] * (2 * j)
        if poisson:
            plan.names += [f"price_x_arrivals_seg{s}" for s in range(j)]
            means += [0.0] * j
    for p in plan.proxies:
        mu = plan.linear_means(p)
        plan.names += [f"{p.name}_average", f"{p.name}_last"]
        means += [float(mu.mean()), float(mu[-1])]
    _option_controls(plan, instrument, means)
    if not network:
        _vanilla_controls(plan, means)
    plan.means = np.asarray(means, dtype=np.float64)
    return plan


def _option_controls(plan: ControlPlan, instrument: Instrument, means: list[float]) -> None:
    legs: list[tuple[str, object, object, float, bool]] = []
    if isinstance(instrument, EuropeanOption):
        call = instrument.option_type is OptionType.CALL
        legs.append(
            (
                instrument.underlying.fixing,
                instrument.expiry,
                instrument.expiry,
                instrument.strike,
                call,
            )
        )
    elif isinstance(instrument, AsianOption):
        call = instrument.option_type is OptionType.CALL
        window = (instrument.averaging_start, instrument.averaging_end)
        legs.append((instrument.underlying.fixing, *window, instrument.strike, call))
    elif isinstance(instrument, Collar):
        window = (instrument.averaging_start, instrument.averaging_end)
        field_name = instrument.underlying.fixing
        legs += [
            (field_name, *window, instrument.put_strike, False),
            (field_name, *window, instrument.call_strike, True),
        ]
    proxies = {p.name: p for p in plan.proxies}
    asof = plan.state.asof
    jumps = isinstance(plan.model.price, MertonJumpDiffusion) and plan.model.price.has_jumps
    for field_name, start, end, strike, call in legs:
        proxy = proxies.get(field_name)
        if proxy is None or (proxy.with_price and jumps):
            continue
        first = (start - asof).days  # type: ignore[operator]
        last = (end - asof).days  # type: ignore[operator]
        idx = np.flatnonzero((plan.days >= first) & (plan.days <= last))
        if first <= 0 or len(idx) != last - first + 1:
            continue  # part of the average is already fixed: no simple closed form
        mean, var = plan.geometric_moments(proxy, idx)
        value = black76_price(
            forward=math.exp(mean + 0.5 * var),
            strike=strike,
            expiry_years=1.0,
            vol=math.sqrt(max(var, 0.0)),
            is_call=call,
        )
        plan.options.append((field_name, idx, strike, call))
        plan.names.append(f"geometric_{'call' if call else 'put'}_{field_name}_{strike:g}")
        means.append(float(value))


def _vanilla_controls(plan: ControlPlan, means: list[float]) -> None:
    """Calls on the last window day's BTC price around its forward."""
    t_days = int(plan.days[-1])
    years = t_days / DAYS_PER_YEAR_ACT365
    price = plan.model.price
    forward = plan.state.price_usd * math.exp(price.drift_per_year * years)
    for moneyness in VANILLA_MONEYNESS:
        strike = forward * moneyness
        if isinstance(price, MertonJumpDiffusion) and price.has_jumps:
            value = merton_price(
                spot=plan.state.price_usd,
                strike=strike,
                expiry_years=years,
                vol=price.vol_per_year,
                jumps_per_year=price.jumps_per_year,
                jump_mean_log=price.jump_mean_log,
                jump_std_log=price.jump_std_log,
                rate=0.0,
                dividend_yield=-price.drift_per_year,
            )
        else:
            value = float(
                black76_price(
                    forward=forward, strike=strike, expiry_years=years, vol=price.vol_per_year
                )
            )
        plan.vanilla_strikes.append(strike)
        plan.names.append(f"call_price_usd_{moneyness:g}F")
        means.append(value)


def fit_hashprice(
    chunks: list[PathChunk], cols: IntArray, days: IntArray, segments: Segments
) -> tuple[FloatArray, FloatArray]:
    """(b, B): per window day t, ln hashprice_btc_t regressed on the shock sums of the
    segments that start on or before t (the later ones cannot move it), on pilot paths."""
    hp = np.concatenate([c.data["hashprice_btc_per_ph_day"][:, cols] for c in chunks])
    zeta = np.concatenate([c.shock_sums for c in chunks])
    starts = np.tile(segments.start, NETWORK_FACTORS)
    b = np.empty(len(days))
    big_b = np.zeros((len(days), zeta.shape[1]))
    log_hp = np.log(hp)
    # Days that have seen the same segments start share one design: one solve for them all.
    started = np.searchsorted(segments.start, days, side="right")
    for count in np.unique(started):
        rows = np.flatnonzero(started == count)
        use = np.flatnonzero(starts <= days[rows[0]])
        design = np.column_stack([np.ones(len(zeta)), zeta[:, use]])
        coef, *_ = np.linalg.lstsq(design, log_hp[:, rows], rcond=None)
        b[rows] = coef[0]
        big_b[np.ix_(rows, use)] = coef[1:].T
    return b, big_b
