"""VaR and ES: estimators by hand, closed forms within Monte Carlo error, hedged books,
Euler contributions, and the valuation engine's affine probe and marks."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from hashmarket.instruments import (
    AsianOption,
    BtcPriceSwap,
    EuropeanOption,
    Fixings,
    HashpriceForward,
    HashrateFuture,
)
from hashmarket.instruments.terms import OptionType, Side, Underlying
from hashmarket.models import GBM, NetworkModel, NetworkState
from hashmarket.pricing import Market, MonteCarloConfig, price
from hashmarket.pricing.revaluation import affine_form, monte_carlo_pnl, plan_valuation
from hashmarket.risk.portfolio import Portfolio, Position, PositionKind
from hashmarket.risk.var import portfolio_risk, tail_count, var_es

ASOF = dt.date(2025, 6, 30)
BTC, HP_USD = Underlying.BTC_USD, Underlying.HASHPRICE_USD
PUT, CALL = OptionType.PUT, OptionType.CALL
SPOT_BTC, INSTRUMENT = PositionKind.SPOT_BTC, PositionKind.INSTRUMENT
SPOT_USD = 60_000.0
VOL = 0.6


def state() -> NetworkState:
    return NetworkState(
        asof=ASOF,
        price_usd=SPOT_USD,
        hashrate_ths=8.0e8,
        difficulty=1.15e14,
        height=902_000,
        epoch_elapsed_s=300_000.0,
        fee_btc_per_block=0.02,
    )


@pytest.fixture(scope="module")
def model() -> NetworkModel:
    return NetworkModel(price=GBM(drift_per_year=0.0, vol_per_year=VOL))


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(state=state())


def forward(
    start: dt.date, end: dt.date, price_usd: float, side: Side = Side.BUY
) -> HashpriceForward:
    return HashpriceForward(
        notional_phs=10.0,
        fixed_price_per_ph_day=price_usd,
        start=start,
        end=end,
        side=side,
    )


# ---- the estimators by hand ------------------------------------------------------------------


def test_var_and_es_of_a_known_sample_by_hand() -> None:
    pnl = -np.arange(1.0, 101.0)  # losses 1 … 100, one scenario each
    e = var_es(pnl, 0.95)
    # k = ceil(100 × 0.05) = 5 worst losses: 96, 97, 98, 99, 100.
    assert e.tail_scenarios == 5
    assert e.var_usd == 96.0
    assert e.es_usd == pytest.approx(98.0)
    assert e.var_low_usd <= e.var_usd <= e.var_high_usd
    e99 = var_es(pnl, 0.99)
    assert (e99.var_usd, e99.es_usd) == (100.0, 100.0)


def test_tail_count_rounds_up_and_keeps_one() -> None:
    assert tail_count(10_000, 0.99) == 100
    assert tail_count(10_001, 0.99) == 101
    assert tail_count(50, 0.999) == 1


@pytest.mark.parametrize("seed", range(5))
def test_es_is_never_below_var(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pnl = rng.standard_t(3, 5_000) * 1e4
    for c in (0.9, 0.95, 0.99, 0.999):
        e = var_es(pnl, c)
        assert e.es_usd >= e.var_usd


def test_bad_confidence_is_refused() -> None:
    from hashmarket.errors import RiskError

    with pytest.raises(RiskError, match="confidence"):
        var_es(np.arange(10.0), 1.0)


# ---- one linear position against its closed form -----------------------------------------------


def lognormal_var_es(quantity: float, horizon_days: int, alpha: float) -> tuple[float, float]:
    """VaR and ES of q·S0·(e^X − 1), X ~ N(−σ²t/2, σ²t) (GBM, zero drift)."""
    t = horizon_days / 365.0
    s = VOL * math.sqrt(t)
    m = -0.5 * s * s
    x = m + s * stats.norm.ppf(1 - alpha)
    var = quantity * SPOT_USD * (1 - math.exp(x))
    tail_mean = math.exp(m + s * s / 2) * stats.norm.cdf((x - m - s * s) / s) / (1 - alpha)
    es = quantity * SPOT_USD * (1 - tail_mean)
    return var, es


def test_var_of_spot_btc_equals_its_closed_form_within_monte_carlo_error(model, market) -> None:
    quantity, h, n = 3.0, 10, 20_000
    book = Portfolio("spot", (Position("btc", SPOT_BTC, quantity),))
    pnl, _, _ = monte_carlo_pnl(book, market=market, model=model, horizon_days=h, n_paths=n, seed=7)
    for alpha in (0.95, 0.99):
        expected_var, expected_es = lognormal_var_es(quantity, h, alpha)
        e = var_es(pnl.total_usd, alpha)
        # Standard error of a sample quantile: √(α(1−α)/n) / density at the quantile.
        t = h / 365.0
        s = VOL * math.sqrt(t)
        y = -expected_var
        z = (math.log(1 + y / (quantity * SPOT_USD)) + 0.5 * s * s) / s
        density = stats.norm.pdf(z) / (s * (quantity * SPOT_USD + y))
        se = math.sqrt(alpha * (1 - alpha) / n) / density
        assert abs(e.var_usd - expected_var) < 4 * se, (alpha, e.var_usd, expected_var, se)
        assert abs(e.es_usd - expected_es) < 4 * e.es_std_error_usd + 4 * se
        assert e.es_usd >= e.var_usd


# ---- hedged books ----------------------------------------------------------------------------


def test_spot_with_a_put_and_a_short_call_has_no_pnl_variance(model, market) -> None:
    """Put–call parity at zero rates: S + P − C = K on every path, at the horizon and today."""
    expiry = ASOF + dt.timedelta(days=90)
    put = EuropeanOption(BTC, PUT, 55_000, expiry, 1.0)
    call = EuropeanOption(BTC, CALL, 55_000, expiry, 1.0, side=Side.SELL)
    book = Portfolio(
        "hedged",
        (
            Position("btc", SPOT_BTC, 1.0),
            Position(PUT, INSTRUMENT, 1.0, put),
            Position(CALL, INSTRUMENT, 1.0, call),
        ),
    )
    pnl, _, _ = monte_carlo_pnl(
        book, market=market, model=model, horizon_days=10, n_paths=2_000, seed=1
    )
    spot_std = pnl.position_pnl()[:, 0].std()
    assert spot_std > 1_000
    assert pnl.total_usd.std() < 1e-6 * spot_std


def test_future_hedged_with_the_opposite_forward_has_no_pnl_variance(model, market) -> None:
    start = ASOF + dt.timedelta(days=20)
    future = HashrateFuture(contracts=10, price_usd_per_ph_day=40.0, start=start)
    short = forward(start, future.end, 40.0, side=Side.SELL)
    book = Portfolio(
        "hedged",
        (
            Position("future", INSTRUMENT, 1.0, future),
            Position("short", INSTRUMENT, 1.0, short),
        ),
    )
    pnl, _, _ = monte_carlo_pnl(
        book, market=market, model=model, horizon_days=10, n_paths=2_000, seed=2
    )
    alone = pnl.position_pnl()[:, 0].std()
    assert alone > 10
    assert pnl.total_usd.std() < 1e-9 * alone + 1e-9


def test_contributions_add_up_to_the_portfolio_es(model, market) -> None:
    start = ASOF + dt.timedelta(days=1)
    book = Portfolio(
        "mixed",
        (
            Position("btc", SPOT_BTC, 2.0),
            Position("fwd", INSTRUMENT, 1.0, forward(start, start + dt.timedelta(days=40), 45.0)),
            Position(
                PUT,
                INSTRUMENT,
                1.0,
                AsianOption(HP_USD, PUT, 40.0, start, start + dt.timedelta(days=29), 300.0),
            ),
        ),
    )
    pnl, _, _ = monte_carlo_pnl(
        book, market=market, model=model, horizon_days=10, n_paths=3_000, seed=3
    )
    result = portfolio_risk(pnl, (0.99, 0.95), method="monte_carlo")
    es = result.estimate(0.99).es_usd
    assert sum(p.es_contribution_usd for p in result.positions) == pytest.approx(es, rel=1e-9)
    standalone = [p.es_usd for p in result.positions]
    assert es <= sum(standalone) + 1e-6  # ES is subadditive


# ---- the valuation engine ----------------------------------------------------------------------


def base_fixings(days: int) -> Fixings:
    s = state()
    n = days + 1
    return Fixings.from_arrays(
        [ASOF + dt.timedelta(days=i) for i in range(n)],
        price_usd=np.full(n, s.price_usd),
        hashprice_usd_per_ph_day=np.full(n, s.hashprice_usd_per_ph_day),
        hashprice_btc_per_ph_day=np.full(n, s.hashprice_btc_per_ph_day),
        difficulty=np.full(n, s.difficulty),
        block_count=np.full(n, 144.0),
        subsidy_btc=np.full(n, s.subsidy_btc),
        fee_btc_per_block=np.full(n, s.fee_btc_per_block),
    )


@pytest.mark.parametrize(
    (INSTRUMENT, "affine"),
    [
        (forward(ASOF + dt.timedelta(days=5), ASOF + dt.timedelta(days=40), 41.0), True),
        (
            HashrateFuture(
                contracts=3, price_usd_per_ph_day=40.25, start=ASOF + dt.timedelta(days=3)
            ),
            True,
        ),
        (
            BtcPriceSwap(
                62_000,
                ASOF + dt.timedelta(days=1),
                ASOF + dt.timedelta(days=61),
                quantity_btc_per_month=2.0,
            ),
            True,
        ),
        (
            BtcPriceSwap(
                62_000,
                ASOF + dt.timedelta(days=1),
                ASOF + dt.timedelta(days=61),
                production_phs=10.0,
            ),
            False,
        ),
        (
            AsianOption(
                HP_USD,
                PUT,
                40.0,
                ASOF + dt.timedelta(days=1),
                ASOF + dt.timedelta(days=30),
                10.0,
            ),
            False,
        ),
        (
            AsianOption(
                BTC,
                CALL,
                90_000.0,
                ASOF + dt.timedelta(days=1),
                ASOF + dt.timedelta(days=30),
                1.0,
            ),
            False,
        ),
    ],
)
def test_the_affine_probe_tells_linear_payoffs_apart(instrument: Any, affine: bool) -> None:
    days = 70
    weights = np.ones(days + 1)
    first, last = instrument.fixing_window(asof=ASOF, height=0)
    form = affine_form(
        instrument,
        base=base_fixings(days),
        asof=ASOF,
        first=first,
        last=last,
        weights_h=weights,
        weights_0=weights,
    )
    assert (form is not None) == affine
    if form is None:
        return
    # The form is the payoff: on a random path it gives the sum of the cash flows exactly.
    rng = np.random.default_rng(0)
    fixings = base_fixings(days)
    moved = {
        k: v * np.exp(rng.normal(0, 0.3, v.shape)) if k in form.fields else v
        for k, v in fixings.values.items()
    }
    path = Fixings(dates=fixings.dates, values=moved)
    direct = float(instrument.cashflows(path.between(first, last)).sum())
    by_form = form.const_h + sum(
        float(form.g_h[i] @ moved[name][0, form.first_day : form.last_day + 1])
        for i, name in enumerate(form.fields)
    )
    assert by_form == pytest.approx(direct, rel=1e-9, abs=1e-6)


def test_value_today_is_the_monte_carlo_price_on_the_same_paths(model, market) -> None:
    start = ASOF + dt.timedelta(days=15)
    fwd = forward(start, start + dt.timedelta(days=30), 38.0)
    option = AsianOption(HP_USD, PUT, 39.0, start, start + dt.timedelta(days=30), 300.0)
    book = Portfolio(
        "two", (Position("fwd", INSTRUMENT, 1.0, fwd), Position("opt", INSTRUMENT, 1.0, option))
    )
    pnl, _, setup = monte_carlo_pnl(
        book, market=market, model=model, horizon_days=5, n_paths=4_096, seed=11
    )
    assert [c.method for c in setup.contracts] == ["affine", "regression"]
    config = MonteCarloConfig(n_paths=4_096, seed=11, antithetic=False, measure="model")
    instruments: tuple[Any, ...] = (fwd, option)
    for j, instrument in enumerate(instruments):
        expected = price(instrument, market=market, model=model, config=config).value
        assert pnl.value0_usd[j] == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_analytic_marks_for_btc_europeans_and_expired_contracts_are_zero(model, market) -> None:
    option = EuropeanOption(BTC, CALL, 70_000, ASOF + dt.timedelta(days=60), 2.0)
    old = forward(ASOF - dt.timedelta(days=40), ASOF - dt.timedelta(days=10), 40.0)
    book = Portfolio(
        "a", (Position(CALL, INSTRUMENT, 1.0, option), Position("old", INSTRUMENT, 1.0, old))
    )
    setup = plan_valuation(book, market=market, model=model, horizon_days=10)
    assert [c.method for c in setup.contracts] == ["analytic", "expired"]
    pnl, _, _ = monte_carlo_pnl(
        book, market=market, model=model, horizon_days=10, n_paths=1_000, seed=0
    )
    assert np.all(pnl.position_pnl()[:, 1] == 0)
    # The call's P&L rises with the price on day h.
    order = np.argsort(pnl.price_h_usd)
    call_pnl = pnl.position_pnl()[order, 0]
    assert np.all(np.diff(call_pnl) >= -1e-6)
