"""The daily economics of a token series, by hand-checked arithmetic."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from hashmarket.errors import TokenError
from hashmarket.index.fixings import Fixing
from hashmarket.ledger.tokens import DayRate, TokenSeries, daily_amounts
from hashmarket.money import Rounding

DAY = dt.date(2025, 1, 10)


def series(**changes: object) -> TokenSeries:
    terms: dict[str, object] = {
        "asset": "HT1",
        "issuer_account_id": 100,
        "reserve_account_id": 101,
        "treasury_account_id": 3,
        "ths_per_token": Decimal(1),
        "efficiency_w_per_th": Decimal(20),
        "power_price_usd_per_kwh": Decimal("0.05"),
        "service_fee_usd_per_th_day": Decimal("0.002"),
        "backing_hashrate_ths": Decimal(5_000),
        "term_start": dt.date(2025, 1, 1),
        "term_end": dt.date(2025, 12, 31),
    }
    terms.update(changes)
    return TokenSeries(**terms).validated()  # type: ignore[arg-type]


def rate(hashprice: str, price: int) -> DayRate:
    return DayRate(DAY, Decimal(hashprice), Decimal(price), "a" * 64, "b" * 64)


def test_worked_example():
    # 1,000 TH/s: 0.0005 BTC/PH/day × 1 PH = 50,000 sats gross. Power 20 W/TH × 1,000 TH × 24 h
    # = 480 kWh × $0.05 = $24, fee $0.002 × 1,000 = $2: $26 at $100,000 = 26,000 sats.
    day = daily_amounts(series(), rate("0.0005", 100_000), supply_units=1_000, uptime=Decimal(1))
    assert day.hashrate_ths == 1_000
    assert day.gross_sats == 50_000
    assert day.electricity_usd == 24
    assert day.service_fee_usd == 2
    assert day.cost_sats == 26_000
    assert (day.pool_sats, day.dust_sats, day.shortfall_sats) == (24_000, 0, 0)


def test_uptime_scales_the_gross_only():
    day = daily_amounts(
        series(), rate("0.0005", 100_000), supply_units=1_000, uptime=Decimal("0.95")
    )
    assert day.gross_sats == 47_500
    assert day.cost_sats == 26_000
    assert day.pool_sats == 21_500


def test_the_pool_is_floored_and_the_dust_recorded():
    # $26 at $30,000 = 86,666.66… sats; gross 100,000; net 13,333.33…
    day = daily_amounts(series(), rate("0.001", 30_000), supply_units=1_000, uptime=Decimal(1))
    assert day.pool_sats == 13_333
    assert Decimal("0.333333") < day.dust_sats < Decimal("0.333334")
    assert day.gross_sats - day.cost_sats == day.pool_sats + day.dust_sats


def test_costs_above_the_gross_pay_nothing_and_record_the_shortfall():
    # gross 20,000; costs $26 at $50,000 = 52,000 sats.
    day = daily_amounts(series(), rate("0.0002", 50_000), supply_units=1_000, uptime=Decimal(1))
    assert (day.pool_sats, day.dust_sats, day.shortfall_sats) == (0, 0, 32_000)


def test_scale_and_ths_per_token():
    # 2.5 TH/s per token, tokens in thousandths: 4,000 units = 4 tokens = 10 TH/s.
    s = series(ths_per_token=Decimal("2.5"), scale=3)
    day = daily_amounts(s, rate("0.0005", 100_000), supply_units=4_000, uptime=Decimal(1))
    assert day.hashrate_ths == 10
    assert day.gross_sats == 500
    assert s.max_supply_units == 2_000_000  # 5,000 TH/s ÷ 2.5 × 1,000


def test_no_supply_no_pool():
    day = daily_amounts(series(), rate("0.0005", 100_000), supply_units=0, uptime=Decimal(1))
    assert (day.pool_sats, day.dust_sats, day.shortfall_sats) == (0, 0, 0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ths_per_token": 1.0}, "ths_per_token"),
        ({"ths_per_token": Decimal(0)}, "ths_per_token"),
        ({"efficiency_w_per_th": Decimal(-1)}, "efficiency_w_per_th"),
        ({"power_price_usd_per_kwh": "abc"}, "power_price_usd_per_kwh"),
        ({"backing_hashrate_ths": Decimal("0.5")}, "backing_hashrate_ths"),
        ({"term_end": dt.date(2024, 1, 1)}, "term_end"),
        ({"scale": 19}, "scale"),
        ({"rounding": Rounding.HALF_EVEN}, "rounding"),
    ],
)
def test_bad_terms_are_refused_naming_the_field(changes, field):
    with pytest.raises(TokenError, match=field):
        series(**changes)


def fixing(currency: str, value: str, inputs: dict[str, object]) -> Fixing:
    return Fixing(
        date=DAY,
        value=Decimal(value),
        unit="PH/s/day",
        currency=currency,
        method="fpps",
        methodology_version="1.0",
        fees_included=True,
        inputs=inputs,
        inputs_sha256=currency * 32,
    )


def test_day_rate_takes_the_btc_value_and_the_usd_fixings_price():
    btc = fixing("btc", "0.00057263", {"difficulty": 1.0})
    usd = fixing("usd", "54.17", {"difficulty": 1.0, "price_usd": 94_591})
    day = DayRate.from_fixings(btc, usd)
    assert day.hashprice_btc_per_ph_day == Decimal("0.00057263")
    assert day.btc_price_usd == 94_591
    assert (day.hashprice_fixing_sha256, day.price_fixing_sha256) == ("btc" * 32, "usd" * 32)


def test_day_rate_refuses_mismatched_fixings():
    btc = fixing("btc", "0.00057263", {})
    with pytest.raises(TokenError, match="no BTC price"):
        DayRate.from_fixings(btc, fixing("usd", "54.17", {}))
    with pytest.raises(TokenError, match="one fixing in BTC and one in USD"):
        DayRate.from_fixings(btc, btc)
