"""Stress scenarios against hand computations, and the historical bootstrap."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.instruments import EuropeanOption, HashpriceForward
from hashmarket.instruments.terms import OptionType, Side, Underlying
from hashmarket.models import GBM, NetworkModel, NetworkState
from hashmarket.pricing import Market, black_scholes_price
from hashmarket.risk.historical import Bootstrap, change_table
from hashmarket.risk.portfolio import Portfolio, Position, PositionKind
from hashmarket.risk.stress import REPLAY_2021, StressScenario, run_stress, standard_scenarios

ASOF = dt.date(2025, 6, 30)
SPOT_USD = 60_000.0
DIFFICULTY = 1.15e14
SUBSIDY_BTC = 3.125  # height 902,000 is in the fourth halving era
FEE_BTC = 0.02
# Hashprice by hand: 1e15 H/s × 86,400 s × (subsidy + fee) / (difficulty × 2^32), BTC/PH/day.
HP_BTC = 1e15 * 86_400 * (SUBSIDY_BTC + FEE_BTC) / (DIFFICULTY * 2**32)
HP_USD = HP_BTC * SPOT_USD
NOTIONAL_PHS = 10.0


@pytest.fixture(scope="module")
def market() -> Market:
    state = NetworkState(
        asof=ASOF,
        price_usd=SPOT_USD,
        hashrate_ths=8.0e8,
        difficulty=DIFFICULTY,
        height=902_000,
        epoch_elapsed_s=300_000.0,
        fee_btc_per_block=FEE_BTC,
    )
    return Market(state=state)


@pytest.fixture(scope="module")
def model() -> NetworkModel:
    return NetworkModel(price=GBM(drift_per_year=0.0, vol_per_year=0.6))


@pytest.fixture(scope="module")
def history() -> NetworkHistory:
    return NetworkHistory.load()


def sold_forward(first_day: int, last_day: int) -> HashpriceForward:
    return HashpriceForward(
        notional_phs=NOTIONAL_PHS,
        fixed_price_per_ph_day=40.0,
        start=ASOF + dt.timedelta(days=first_day),
        end=ASOF + dt.timedelta(days=last_day),
        side=Side.SELL,
    )


def book() -> Portfolio:
    return Portfolio(
        "stress",
        (
            Position("btc", PositionKind.SPOT_BTC, 2.0),
            Position("fwd now", PositionKind.INSTRUMENT, 1.0, sold_forward(1, 30)),
            Position("fwd later", PositionKind.INSTRUMENT, 1.0, sold_forward(41, 70)),
        ),
    )


def test_the_catalogue_is_named_and_reproducible(history: NetworkHistory) -> None:
    first = standard_scenarios(history, horizon_days=10)
    again = standard_scenarios(history, horizon_days=10)
    assert [s.name for s in first] == [
        "halving",
        "difficulty_up_20pct_1m",
        "btc_down_50pct",
        "fee_spike",
        "replay_2021_hashrate_drop",
    ]
    for a, b in zip(first, again, strict=True):
        assert a.horizon_days == b.horizon_days
        np.testing.assert_array_equal(a.log_price, b.log_price)
        np.testing.assert_array_equal(a.log_difficulty, b.log_difficulty)


def test_btc_down_50pct_by_hand(market: Market, model: NetworkModel) -> None:
    scenario = StressScenario.shocks("btc_down_50pct", "", 10, price={1: 0.5})
    (result,) = run_stress(book(), market=market, model=model, scenarios=[scenario])
    spot, now, later = result.pnl_usd
    assert spot == pytest.approx(2.0 * (0.5 - 1.0) * SPOT_USD)
    # A seller of hashprice gains what the index loses on every day of the contract (the
    # shocked level holds until the end): 30 days × 10 PH/s × half the USD hashprice.
    assert now == pytest.approx(30 * NOTIONAL_PHS * HP_USD / 2, rel=1e-9)
    assert later == pytest.approx(30 * NOTIONAL_PHS * HP_USD / 2, rel=1e-9)
    assert result.total_usd == pytest.approx(spot + now + later)
    assert result.factors["price_usd"] == pytest.approx(-0.5)


def test_halving_by_hand(market: Market, model: NetworkModel) -> None:
    scenario = StressScenario.shocks("halving", "", 30, subsidy={1: 0.5})
    (result,) = run_stress(book(), market=market, model=model, scenarios=[scenario])
    halved = HP_USD * (SUBSIDY_BTC / 2 + FEE_BTC) / (SUBSIDY_BTC + FEE_BTC)
    assert result.pnl_usd[0] == 0.0
    assert result.pnl_usd[1] == pytest.approx(30 * NOTIONAL_PHS * (HP_USD - halved), rel=1e-9)
    assert result.pnl_usd[2] == pytest.approx(30 * NOTIONAL_PHS * (HP_USD - halved), rel=1e-9)


def test_difficulty_up_20pct_in_a_month_by_hand(market: Market, model: NetworkModel) -> None:
    root = math.sqrt(1.2)
    scenario = StressScenario.shocks("d", "", 30, difficulty={14: root, 28: root})
    (result,) = run_stress(book(), market=market, model=model, scenarios=[scenario])
    # Days 1–13 unchanged, 14–27 at 1/√1.2 of the hashprice, 28–30 (and after) at 1/1.2.
    now = NOTIONAL_PHS * HP_USD * (14 * (1 - 1 / root) + 3 * (1 - 1 / 1.2))
    assert result.pnl_usd[1] == pytest.approx(now, rel=1e-9)
    assert result.pnl_usd[2] == pytest.approx(30 * NOTIONAL_PHS * HP_USD * (1 - 1 / 1.2), rel=1e-9)


def test_fee_spike_by_hand(market: Market, model: NetworkModel) -> None:
    scenario = StressScenario.shocks("fee_spike", "", 14, fee={1: 10.0, 8: 0.1})
    (result,) = run_stress(book(), market=market, model=model, scenarios=[scenario])
    spiked = HP_USD * (SUBSIDY_BTC + 10 * FEE_BTC) / (SUBSIDY_BTC + FEE_BTC)
    assert result.pnl_usd[1] == pytest.approx(-7 * NOTIONAL_PHS * (spiked - HP_USD), rel=1e-9)
    assert result.pnl_usd[2] == pytest.approx(0.0, abs=1e-9)


def test_options_take_their_black_scholes_value_at_the_stressed_price(
    market: Market, model: NetworkModel
) -> None:
    expiry = ASOF + dt.timedelta(days=100)
    put = EuropeanOption(Underlying.BTC_USD, OptionType.PUT, 55_000, expiry, 3.0)
    portfolio = Portfolio("p", (Position("put", PositionKind.INSTRUMENT, 1.0, put),))
    scenario = StressScenario.shocks("btc_down_50pct", "", 10, price={1: 0.5})
    (result,) = run_stress(portfolio, market=market, model=model, scenarios=[scenario])
    years = 90 / 365

    def value(spot: float) -> float:
        return 3.0 * float(
            black_scholes_price(
                spot=spot, strike=55_000, expiry_years=years, vol=0.6, is_call=False
            )
        )

    assert result.pnl_usd[0] == pytest.approx(value(SPOT_USD / 2) - value(SPOT_USD), rel=1e-12)


def test_the_2021_replay_moves_factors_as_they_moved(
    market: Market, model: NetworkModel, history: NetworkHistory
) -> None:
    replay = standard_scenarios(history)[-1]
    start, end = REPLAY_2021
    assert replay.horizon_days == (end - start).days + 1 == 63
    frame = history.frame
    before = start - dt.timedelta(days=1)
    price_ratio = (
        frame.loc[pd.Timestamp(end), "price_usd"] / frame.loc[pd.Timestamp(before), "price_usd"]
    )
    difficulty_ratio = (
        frame.loc[pd.Timestamp(end), "difficulty"] / frame.loc[pd.Timestamp(before), "difficulty"]
    )
    (result,) = run_stress(book(), market=market, model=model, scenarios=[replay])
    assert result.factors["price_usd"] == pytest.approx(price_ratio - 1, rel=1e-9)
    assert result.factors["difficulty"] == pytest.approx(difficulty_ratio - 1, rel=1e-9)
    assert difficulty_ratio < 0.75 and price_ratio < 0.8  # the drop it is named after
    assert result.pnl_usd[0] == pytest.approx(2 * SPOT_USD * (price_ratio - 1), rel=1e-9)


# ---- the historical bootstrap -----------------------------------------------------------------


def test_change_table_states_its_window(history: NetworkHistory) -> None:
    table = change_table(history, asof=dt.date(2024, 12, 31), window_days=365)
    assert table.end == dt.date(2024, 12, 31)
    assert table.start >= dt.date(2024, 1, 1)
    assert len(table) >= 360
    prices = history.frame["price_usd"]
    day = table.dates[100]
    expected = math.log(prices.loc[day] / prices.loc[day - pd.Timedelta(days=1)])
    assert table.log_price[100] == pytest.approx(expected)
    assert "daily changes from" in table.describe()


def test_a_bootstrap_scenario_is_a_real_stretch_of_history(
    history: NetworkHistory, market: Market, model: NetworkModel
) -> None:
    table = change_table(history, asof=dt.date(2024, 12, 31), window_days=730)
    boot = Bootstrap(table, market.state, model, 10, 20, n_paths=50, block_days=10, seed=3)
    chunk = next(boot.chunks())
    assert chunk.data["price_usd"].shape == (50, 21)
    returns = np.diff(np.log(chunk.data["price_usd"][:, :11]), axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(table.log_price, 10)
    for path in returns[:5]:
        assert np.isclose(windows, path[None, :], rtol=0, atol=1e-12).all(axis=1).any()
    # Held flat after the horizon.
    assert np.all(chunk.data["price_usd"][:, 11:] == chunk.data["price_usd"][:, 10:11])
    again = next(boot.chunks())
    np.testing.assert_array_equal(again.data["price_usd"], chunk.data["price_usd"])


def test_scenarios_start_from_the_fixing_on_a_retarget_day(history: NetworkHistory) -> None:
    """2026-01-22: epoch 463 (−3.3 %) began at 19:31 UTC, so the state's difficulty is the new
    epoch's and the day's fixing the old one's. Historical scenarios report the fixing on day 0,
    as every Monte Carlo path does; otherwise they all sit 3.4 % below the paths the marks
    were fitted on."""
    from hashmarket.index.fixings import TICK, day_fixings
    from hashmarket.models.calibrate import calibrate
    from hashmarket.models.scenarios import ScenarioConfig, Scenarios

    day = dt.date(2026, 1, 22)
    calibration = calibrate(history, asof=day)
    state = calibration.state
    assert state.fixing_btc_per_ph_day is not None
    recomputed = NetworkState(
        **{**{f: getattr(state, f) for f in state.__slots__}, "fixing_btc_per_ph_day": None}
    )
    assert recomputed.hashprice_btc_per_ph_day / state.fixing_btc_per_ph_day > 1.03
    table = change_table(history, asof=day, window_days=365)
    boot = Bootstrap(table, state, calibration.model, 10, 10, n_paths=20, block_days=10, seed=1)
    historical = next(boot.chunks()).data["hashprice_btc_per_ph_day"][:, 0]
    simulated = (
        Scenarios(calibration.model, state, 3, ScenarioConfig(n_paths=8, seed=2))
        .materialize()
        .field("hashprice_btc_per_ph_day")[:, 0]
    )
    btc, _ = day_fixings(history, day)
    for value in (*historical, *simulated):
        assert Decimal(repr(float(value))).quantize(TICK["btc"]) == btc.value
