"""Settlement arithmetic without a ledger: margins, notionals, deterministic ids and
contract specs (the float → minor-unit conversion is tested in test_money.py)."""

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
from hashmarket.money import derived_id

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


def test_settlement_ids_are_derived_in_their_own_domain():
    ids = {st.escrow_account_id("USD"), st.escrow_account_id("BTC")}
    ids |= {derived_id(st.ID_DOMAIN, "K1", "margin", party) for party in ("buyer", "seller")}
    assert len(ids) == 4
    assert all(0 < i <= INT64_MAX for i in ids)
    assert st.escrow_account_id("USD") == derived_id(st.ID_DOMAIN, "escrow", "USD")
    assert st.escrow_account_id("USD") == 5_776_102_369_168_061_751


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
        ths_per_token=Decimal(100),
        start=JULY_1,
        end=JULY_31,
        efficiency_w_per_th=Decimal(30),
        power_price_usd_per_kwh=Decimal("0.05"),
    )
    with pytest.raises(SettlementError, match="'hashrate_token' is not settled"):
        st.instrument_from_spec(to_spec(token))
