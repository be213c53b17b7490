"""Settlement arithmetic without a ledger: the one float → minor-unit conversion, margins,
notionals, deterministic ids and contract specs."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from hashmarket.errors import SettlementError, SpecError
from hashmarket.instruments import (
    AsianOption,
    BtcPriceSwap,
    Collar,
    DifficultyFuture,
    EuropeanOption,
    HashpriceForward,
    HashrateFuture,
    HashrateToken,
    OptionType,
    Underlying,
    to_spec,
)
from hashmarket.instruments.compute import ComputeForward
from hashmarket.ledger import settlement as st
from hashmarket.ledger.model import INT64_MAX

JULY_1, JULY_31 = dt.date(2020, 7, 1), dt.date(2020, 7, 31)


def luxor_forward(**changes: object) -> HashpriceForward:
    """Luxor's example terms: $65.00 per PH/s per day, 1 PH/s, a 30-day month."""
    terms: dict[str, object] = {
        "notional_phs": 1,
        "fixed_price_per_ph_day": 65.0,
        "start": dt.date(2024, 6, 1),
        "end": dt.date(2024, 6, 30),
    }
    terms.update(changes)
    return HashpriceForward(**terms)  # type: ignore[arg-type]


def compute_forward() -> ComputeForward:
    return ComputeForward(
        gpu_model="H100", gpus=8, fixed_price_usd_per_gpu_hour=2.6, start=JULY_1, end=JULY_31
    )


# -- the one conversion to minor units --------------------------------------------------------


def test_amounts_round_half_to_even_on_the_minor_unit():
    assert st.minor_units([0.125], 2) == (12, Decimal("0.5"))
    assert st.minor_units([0.135], 2) == (14, Decimal("-0.5"))
    assert st.minor_units([-0.125], 2) == (-12, Decimal("-0.5"))
    assert st.minor_units([0.000000015], 8) == (2, Decimal("-0.5"))
    assert st.minor_units([0.000000025], 8) == (2, Decimal("0.5"))


def test_float_noise_of_the_payoff_is_not_money():
    # (95.37 − 90) × 10 is 53.69999999999999 in binary floating point: $53.70.
    assert (95.37 - 90.0) * 10 != 53.7
    assert st.minor_units([(95.37 - 90.0) * 10], 2)[0] == 5_370
    # An exact half cent computed with noise still rounds as the half it is.
    half = (78.13 - 78.12) * 2.5
    assert half != 0.025
    assert st.minor_units([half], 2) == (2, Decimal("0.5"))
    assert st.minor_units([0.1 + 0.2], 2) == (30, Decimal(0))


def test_the_cumulative_sum_is_rounded_once_and_the_remainder_carried():
    due, remainder = st.minor_units([0.333, 0.333, 0.333], 2)
    assert (due, remainder) == (100, Decimal("-0.1"))
    # Day by day, carrying the exact cumulative: 33, then 67 (a 34-cent day), then 100.
    carried, paid = Decimal(0), []
    previous = 0
    for amount in (0.333, 0.333, 0.333):
        cumulative, left = st.minor_units([amount], 2, carried=carried)
        paid.append(cumulative - previous)
        previous, carried = cumulative, cumulative + left
    assert paid == [33, 34, 33] and sum(paid) == due


def test_a_payoff_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError, match="not finite"):
        st.minor_units([float("nan")], 2)
    with pytest.raises(ValueError, match="not finite"):
        st.minor_units([float("inf")], 8)


# -- notional and margin --------------------------------------------------------------------


def test_luxor_margin_is_a_share_of_unit_hashprice_times_units():
    fwd = luxor_forward()
    assert st.notional_of(fwd) == Decimal("1950.0")
    usd = st.margin_minor_units(Decimal("1950.0"), st.DEFAULT_MARGIN_RATE["USD"], 2)
    assert usd == 68_250  # 35 % of $1,950
    btc_fwd = luxor_forward(fixed_price_per_ph_day=0.0008, currency="btc")
    btc = st.margin_minor_units(st.notional_of(btc_fwd) or Decimal(0), Decimal("0.18"), 8)
    assert btc == 432_000  # 18 % of 0.024 BTC
    assert {"USD": Decimal("0.35"), "BTC": Decimal("0.18")} == st.DEFAULT_MARGIN_RATE


def test_margins_round_up_to_the_minor_unit():
    assert st.margin_minor_units(Decimal("0.00000001"), Decimal("0.18"), 8) == 1
    assert st.margin_minor_units(Decimal("10.001"), Decimal("0.5"), 2) == 501
    assert st.margin_minor_units(Decimal(0), Decimal("0.35"), 2) == 0


def test_notionals_of_every_settled_instrument():
    assert st.notional_of(HashrateFuture(2, 50.25, JULY_1)) == Decimal("3015.00")
    difficulty = DifficultyFuture(contracts=3, price_points=16.5, start=JULY_1, end=JULY_31)
    assert st.notional_of(difficulty) == Decimal("49.5")
    swap = BtcPriceSwap(
        fixed_price_usd=9_000.0, start=dt.date(2020, 7, 16), end=JULY_31, quantity_btc_per_month=2
    )
    # Half a month (16 of 31 days) of 2 BTC at $9,000.
    notional = st.notional_of(swap)
    assert notional is not None
    assert abs(notional - Decimal(9_000 * 2 * 16) / 31) < Decimal("1e-20")
    production = BtcPriceSwap(fixed_price_usd=9e3, start=JULY_1, end=JULY_31, production_phs=1)
    assert st.notional_of(production) is None
    option = EuropeanOption(Underlying.BTC_USD, OptionType.PUT, 20_000, JULY_31, 0.5)
    assert st.notional_of(option) == Decimal("10000.0")
    asian = AsianOption(Underlying.HASHPRICE_USD, OptionType.CALL, 50, JULY_1, JULY_31, 300)
    assert st.notional_of(asian) == Decimal("15000.0")
    collar = Collar(Underlying.HASHPRICE_USD, 40, 60, JULY_1, JULY_31, 300)
    assert st.notional_of(collar) == Decimal("18000.0")
    assert st.notional_of(compute_forward()) == Decimal("2.6") * 8 * Decimal("24.0") * 31


# -- ids ------------------------------------------------------------------------------------


def test_derived_ids_are_deterministic_positive_63_bit_and_distinct():
    ids = {st.derived_id("K1", "margin", party) for party in ("buyer", "seller")}
    ids |= {st.derived_id("K2", "margin", "buyer"), st.escrow_account_id("USD")}
    ids.add(st.escrow_account_id("BTC"))
    assert len(ids) == 5
    assert all(0 < i <= INT64_MAX for i in ids)
    assert st.derived_id("K1", "margin", "buyer") == st.derived_id("K1", "margin", "buyer")
    # Parts are separated: ("ab", "c") and ("a", "bc") are different steps.
    assert st.derived_id("ab", "c") != st.derived_id("a", "bc")


def test_the_default_contract_id_names_the_terms():
    trade = st.Contract("", luxor_forward(), 10, 11, "USD")
    same = st.Contract("", luxor_forward(), 10, 11, "usd")
    assert st.default_contract_id(trade) == st.default_contract_id(same)
    assert (
        st.default_contract_id(trade).startswith("C-") and len(st.default_contract_id(trade)) == 18
    )
    other = st.Contract("", luxor_forward(), 10, 12, "USD")
    assert st.default_contract_id(other) != st.default_contract_id(trade)
    rate = st.Contract("", luxor_forward(), 10, 11, "USD", margin_rate=Decimal("0.2"))
    assert st.default_contract_id(rate) != st.default_contract_id(trade)


# -- specs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "instrument",
    [
        luxor_forward(),
        luxor_forward(fixed_price_per_ph_day=0.0008, currency="btc"),
        HashrateFuture(2, 50.25, JULY_1),
        DifficultyFuture(contracts=3, price_points=16.5, start=JULY_1, end=JULY_31),
        BtcPriceSwap(fixed_price_usd=9e3, start=JULY_1, end=JULY_31, quantity_btc_per_month=1),
        EuropeanOption(Underlying.HASHPRICE_BTC, OptionType.CALL, 0.007, JULY_31, 300),
        AsianOption(Underlying.HASHPRICE_USD, OptionType.CALL, 50, JULY_1, JULY_31, 300),
        Collar(Underlying.HASHPRICE_USD, 40, 60, JULY_1, JULY_31, 300),
        compute_forward(),
    ],
)
def test_a_settled_instrument_survives_its_canonical_spec(instrument: st.SettledInstrument):
    text = st.canonical_spec(instrument)
    assert st.instrument_from_spec(json.loads(text)) == instrument
    assert st.canonical_spec(st.instrument_from_spec(json.loads(text))) == text


def test_a_compute_forward_spec_is_checked_field_by_field():
    spec = to_spec(compute_forward())
    with pytest.raises(SpecError, match="'colour': unknown field"):
        st.instrument_from_spec({**spec, "colour": "green"})
    with pytest.raises(SpecError, match="'start': value '2020-13-01' is not a date"):
        st.instrument_from_spec({**spec, "start": "2020-13-01"})
    del spec["gpus"]
    with pytest.raises(SpecError, match="'gpus': missing"):
        st.instrument_from_spec(spec)


def test_instruments_that_are_not_bilateral_are_refused():
    token = HashrateToken(
        hashrate_ths=100,
        start=JULY_1,
        end=JULY_31,
        efficiency_w_per_th=30,
        electricity_usd_per_kwh=0.05,
    )
    with pytest.raises(SettlementError, match="'hashrate_token' is not settled"):
        st.instrument_from_spec(to_spec(token))
