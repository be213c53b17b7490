"""Counterparty credit risk: hazard rates, CVA and margin by hand, and the Monte Carlo expected
exposure of a BTC forward under GBM against Black's formula."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from scipy.stats import norm

from hashmarket.errors import RiskError
from hashmarket.instruments import BtcPriceSwap, HashpriceForward, Side
from hashmarket.models import GBM, NetworkModel, NetworkState
from hashmarket.pricing import FlatRate, Market
from hashmarket.risk.counterparty import (
    CollateralAgreement,
    Counterparty,
    counterparty_report,
    cva_usd,
    exposure_dates,
    profile_from_values,
)
from hashmarket.risk.counterparty_spec import parse_netting_set
from hashmarket.risk.portfolio import Portfolio, Position, PositionKind
from hashmarket.units import HASHES_PER_TH, TWO_POW_32

# -- default probability ---------------------------------------------------------------------


def test_a_flat_hazard_from_a_spread_or_a_one_year_default_probability():
    # λ = s / (1 − R): 300 bp at 40 % recovery is 0.03 / 0.6 = 0.05 a year.
    dealer = Counterparty.from_spread("A", spread_bps=300, recovery=0.4)
    assert dealer.hazard_per_year == pytest.approx(0.05)
    assert dealer.survival(2.0) == pytest.approx(math.exp(-0.1))
    # λ = −ln(1 − p): a 2 % one-year PD is λ = 0.0202027…, and survives a year with 98 %.
    other = Counterparty.from_annual_pd("B", annual_pd=0.02)
    assert other.hazard_per_year == pytest.approx(0.020202707317519466)
    assert other.survival(1.0) == pytest.approx(0.98)
    with pytest.raises(RiskError, match="recovery"):
        Counterparty.from_spread("C", spread_bps=100, recovery=1.0)
    with pytest.raises(RiskError, match="annual_default_probability"):
        Counterparty.from_annual_pd("D", annual_pd=1.0)


# -- CVA by hand -------------------------------------------------------------------------------


def test_cva_of_a_three_date_profile_by_hand():
    # EE 100, 200, 50 USD at 3, 6, 9 months; 4 % USD rate; λ = 0.05; R = 40 %.
    # S = e^{−0.0125} = 0.987578, e^{−0.025} = 0.975310, e^{−0.0375} = 0.963194
    # DF = e^{−0.01} = 0.990050, e^{−0.02} = 0.980199, e^{−0.03} = 0.970446
    # 100 × 0.990050 × (1 − 0.987578)        = 1.229860
    # 200 × 0.980199 × (0.987578 − 0.975310) = 2.404994
    #  50 × 0.970446 × (0.975310 − 0.963194) = 0.587871
    # CVA = 0.6 × 4.222725 = 2.533635 USD
    years = np.array([0.25, 0.5, 0.75])
    dealer = Counterparty("A", hazard_per_year=0.05, recovery=0.4)
    discount = FlatRate(0.04).discount_factor(years)
    cva = cva_usd([100.0, 200.0, 50.0], discount, dealer.survival(years), 0.4)
    assert cva == pytest.approx(2.533635, abs=1e-6)
    # The same profile as paths (two paths whose mean exposure is that profile).
    values = np.array([[150.0, 400.0, 0.0], [50.0, 0.0, 100.0]])
    profile = profile_from_values(
        ["q1", "q2", "q3"],  # type: ignore[list-item]
        values,
        values,
        years=years,
        discount=discount,
        counterparty=dealer,
        collateral=None,
    )
    assert profile.ee_usd.tolist() == [100.0, 200.0, 50.0]
    assert profile.cva_usd == pytest.approx(2.533635, abs=1e-6)
    assert profile.cva_collateralised_usd == profile.cva_usd


def test_margin_threshold_minimum_transfer_and_margin_period_by_hand():
    agreement = CollateralAgreement(threshold_usd=50, minimum_transfer_usd=10, mpor_days=10)
    # Calls V − H: −55, 5 (under the minimum transfer: none), 15, 150.
    held = agreement.held_usd(np.array([-5.0, 55.0, 65.0, 200.0]))
    assert held.tolist() == [0.0, 0.0, 15.0, 150.0]
    # Exposure at t against the collateral set MPOR earlier: V(t) = [100, −20] and [−50, 300]
    # on two paths, V(t − MPOR) = [80, 0] and [−50, 400] with no threshold: held 80, 0 and
    # 0, 400; covered max(V − C, 0) = [20, 0] and [0, 0].
    none = CollateralAgreement(mpor_days=10)
    values = np.array([[100.0, -20.0], [-50.0, 300.0]])
    lagged = np.array([[80.0, 0.0], [-50.0, 400.0]])
    profile = profile_from_values(
        ["a", "b"],  # type: ignore[list-item]
        values,
        lagged,
        years=np.array([0.5, 1.0]),
        discount=np.ones(2),
        counterparty=Counterparty("A", hazard_per_year=0.1, recovery=0.5),
        collateral=none,
    )
    assert profile.ee_usd.tolist() == [50.0, 150.0]
    assert profile.ee_collateralised_usd.tolist() == [10.0, 0.0]
    # CVA with margin = 0.5 × 10 × (1 − e^{−0.05}) = 0.243853
    assert profile.cva_collateralised_usd == pytest.approx(0.5 * 10 * (1 - math.exp(-0.05)))
    with pytest.raises(RiskError, match="mpor_days"):
        CollateralAgreement(mpor_days=-1)


def test_exposure_dates_are_month_ends_and_the_last_day():
    dates = exposure_dates(dt.date(2026, 1, 22), dt.date(2026, 3, 15))
    assert dates == [dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 15)]
    assert exposure_dates(dt.date(2026, 1, 22), dt.date(2026, 2, 28))[-1] == dt.date(2026, 2, 28)


# -- Monte Carlo exposure against Black ---------------------------------------------------------

ASOF = dt.date(2026, 1, 31)
D0 = 1.4e14
STATE = NetworkState(
    asof=ASOF,
    price_usd=80_000.0,
    hashrate_ths=D0 * TWO_POW_32 / 600 / HASHES_PER_TH,
    difficulty=D0,
    height=935_000,
    epoch_elapsed_s=5 * 86_400,
    fee_btc_per_block=0.02,
)
SIGMA, N_PATHS = 0.5, 20_000
PAY_DAY = dt.date(2026, 6, 30)  # day 150


def black_call(forward: float, strike: float, vol_sqrt_t: float) -> float:
    d1 = math.log(forward / strike) / vol_sqrt_t + vol_sqrt_t / 2
    return forward * norm.cdf(d1) - strike * norm.cdf(d1 - vol_sqrt_t)


def test_the_expected_exposure_of_a_btc_forward_is_blacks_call():
    # A one-day BTC swap bought at 80,000 USD: it pays (S_T − K) × 1 BTC on 30 June (30 BTC a
    # month × 1/30 of June). At zero rates and drift its value on day t is S_t − K, so
    # EE(t) = E[max(S_t − K, 0)] = Black's call with forward S_0, strike K, vol σ√t.
    swap = BtcPriceSwap(
        fixed_price_usd=80_000.0,
        start=PAY_DAY,
        end=PAY_DAY,
        quantity_btc_per_month=30.0,
        side=Side.BUY,
    )
    book = Portfolio("one", (Position("swap", PositionKind.INSTRUMENT, 1.0, swap),))
    model = NetworkModel(price=GBM(drift_per_year=0.0, vol_per_year=SIGMA))
    report = counterparty_report(
        "x",
        book,
        counterparty=Counterparty("A", hazard_per_year=0.05),
        collateral=None,
        market=Market(state=STATE),
        model=model,
        n_paths=N_PATHS,
        seed=11,
    )
    p = report.profile
    assert [str(d) for d in p.dates] == [
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
        "2026-06-30",
    ]
    for i, days in enumerate((28, 59, 89, 120)):
        vol_sqrt_t = SIGMA * math.sqrt(days / 365)
        closed = black_call(80_000.0, 80_000.0, vol_sqrt_t)
        se = p.ee_std_error_usd[i]
        assert abs(p.ee_usd[i] - closed) < 4 * se, (days, p.ee_usd[i], closed, se)
    # Paid on 30 June: nothing is owed after it.
    assert p.ee_usd[-1] == 0.0
    # CVA = (1 − R) Σ EE · (S(t_{i−1}) − S(t_i)) at zero rates, from the profile itself.
    assert p.cva_usd == pytest.approx(cva_usd(p.ee_usd, p.discount, p.survival, 0.4))


def test_a_netting_set_file_is_checked_field_by_field():
    forward = {
        "name": "fwd",
        "kind": "instrument",
        "instrument": {
            "type": "hashprice_forward",
            "notional_phs": 10,
            "fixed_price_per_ph_day": 40.0,
            "start": "2026-03-01",
            "end": "2026-03-31",
        },
    }
    spec = parse_netting_set(
        {
            "counterparty": {"name": "A", "cds_spread_bps": 120},
            "collateral": {"threshold_usd": 1000},
            "positions": [forward],
        }
    )
    assert isinstance(spec.netting_set.positions[0].instrument, HashpriceForward)
    assert spec.counterparty.hazard_per_year == pytest.approx(0.012 / 0.6)
    assert spec.collateral == CollateralAgreement(1000.0, 0.0, 10)
    with pytest.raises(RiskError, match="exactly one of 'cds_spread_bps'"):
        parse_netting_set(
            {
                "counterparty": {
                    "name": "A",
                    "cds_spread_bps": 1,
                    "annual_default_probability": 0.1,
                },
                "positions": [forward],
            }
        )
    with pytest.raises(RiskError, match=r"positions\[1\].kind.*only contracts"):
        parse_netting_set(
            {
                "counterparty": {"name": "A", "annual_default_probability": 0.01},
                "positions": [forward, {"name": "btc", "kind": "spot_btc", "quantity": 1}],
            }
        )
    with pytest.raises(RiskError, match=r"collateral\.mpor_days"):
        parse_netting_set(
            {
                "counterparty": {"name": "A", "annual_default_probability": 0.01},
                "collateral": {"mpor_days": 100},
                "positions": [forward],
            }
        )
