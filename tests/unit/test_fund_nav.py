"""The hashrate fund's maths against hand-computed cases: the token mark, two days of NAV,
the baskets and their rounding, the cut-off, premium/discount and tracking error."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from hashmarket.errors import FundError, SpecError
from hashmarket.instruments import FundIncome, FundTerms, TokenTerms, parse_fund_spec
from hashmarket.pricing import (
    FundHoldings,
    annuity_days,
    basket,
    premium_discount,
    read_secondary_prices,
    strike_nav,
    token_mark,
    tracking_error,
)

# A token of 1 TH/s at 20 W/TH, $0.05/kWh and $0.002/TH/day: on a day with hashprice
# 0.0005 BTC/PH/day and BTC at $100,000 it earns 0.0005 × 1/1000 × 1e8 = 50 sats gross and
# costs (20 × 24 / 1000 × 0.05 + 0.002) = $0.026 = 26 sats: it pays 24 sats.
TOKEN = TokenTerms(
    ths_per_token=Decimal(1),
    efficiency_w_per_th=Decimal(20),
    power_price_usd_per_kwh=Decimal("0.05"),
    service_fee_usd_per_th_day=Decimal("0.002"),
)
TERM_END = dt.date(2025, 3, 31)
DAY1, DAY2 = dt.date(2025, 1, 10), dt.date(2025, 1, 11)
SPEC: dict[str, Any] = {
    "type": "hashrate_fund",
    "fund": "HFUND",
    "token_series": "HT1",
    "launch_day": "2025-01-10",
    "creation_unit_shares": 1000,
    "seed_tokens_per_unit": 100,
    "seed_sats_per_unit": 50000,
    "management_fee_rate": "0.0365",  # 0.0001 of NAV a day
    "cutoff_utc": "16:00",
    "income": "accumulate",
    "mark_discount_rate": "0",
    "share_issuer_account_id": 500,
    "token_account_id": 501,
    "btc_account_id": 502,
    "manager_account_id": 503,
}
TERMS = parse_fund_spec(SPEC)


def mark(day: dt.date, hashprice: str, rate: str = "0") -> Any:
    return token_mark(
        TOKEN,
        day=day,
        term_end=TERM_END,
        hashprice_btc_per_ph_day=Decimal(hashprice),
        price_usd=Decimal(100_000),
        discount_rate=Decimal(rate),
    )


def test_the_mark_is_the_days_payout_for_every_remaining_day() -> None:
    m = mark(DAY1, "0.0005")
    # 24 sats a day for the 80 days after 10 January to 31 March (21 + 28 + 31).
    assert (m.pool_sats_per_token, m.remaining_days, m.mark_sats_per_token) == (24, 80, 1920)
    # Day 2: 0.00055 BTC/PH/day pays 55 − 26 = 29 sats, for 79 days: 2,291.
    assert mark(DAY2, "0.00055").mark_sats_per_token == 2291
    assert mark(TERM_END, "0.0005").mark_sats_per_token == 0


def test_remaining_payouts_are_discounted_continuously() -> None:
    # r = 36.5 %: q = exp(−0.001) = 0.999000499833375; two days: q + q² = 1.997002498500708.
    assert float(annuity_days(2, Decimal("0.365"))) == pytest.approx(1.997002498500708, 1e-15)
    # 24 sats × Σ_{k=1..80} q^k with q = exp(−0.05/365) = 1,909.387 (about 1,920 sats
    # discounted over the mean 40.5 days: 1,920 × exp(−0.05 × 40.5 / 365) = 1,909.38) → 1,909.
    q = math.exp(-0.05 / 365)
    assert 24 * q * (1 - q**80) / (1 - q) == pytest.approx(1909.38699, abs=1e-5)
    assert mark(DAY1, "0.0005", "0.05").mark_sats_per_token == 1909


def test_nav_for_two_days_by_hand() -> None:
    # Day 1, the launch: no share yet; the seed basket sets the NAV:
    # (100 tokens × 1,920 + 50,000 sats) / 1,000 shares = 242 sats a share.
    day1 = strike_nav(TERMS, mark(DAY1, "0.0005"), FundHoldings(0, 0, 0, 0), token_scale=0)
    assert (day1.gross_sats, day1.fee_sats, day1.net_sats) == (0, 0, 0)
    assert day1.nav_sats_per_share == 242
    # Day 2: 200 tokens × 2,291 + 100,000 sats = 558,200 gross; fee 558,200 × 0.0365 / 365
    # = 55.82 → 55 sats; (558,200 − 55) / 2,000 shares = 279.0725 sats a share.
    day2 = strike_nav(
        TERMS, mark(DAY2, "0.00055"), FundHoldings(200, 100_000, 2_000, 0), token_scale=0
    )
    assert (day2.token_value_sats, day2.gross_sats) == (458_200, 558_200)
    assert (day2.fee_accrued_sats, day2.fee_sats, day2.net_sats) == (55, 55, 558_145)
    assert day2.nav_sats_per_share == Fraction(558_145, 2_000) == Fraction("279.0725")
    assert day2.to_dict()["nav_sats_per_share"] == "279.0725"


def test_the_fee_is_paid_from_btc_held_and_the_rest_is_waived() -> None:
    s = strike_nav(TERMS, mark(DAY2, "0.00055"), FundHoldings(200, 30, 2_000, 0), token_scale=0)
    # 458,230 × 0.0001 = 45.823 → 45 accrued, only 30 sats to pay it with.
    assert (s.fee_accrued_sats, s.fee_sats, s.net_sats) == (45, 30, 458_200)
    assert s.to_dict()["fee_waived_sats"] == 15


def test_a_distributing_fund_pays_out_the_days_income() -> None:
    terms = parse_fund_spec({**SPEC, "income": "distribute"})
    assert terms.income is FundIncome.DISTRIBUTE
    s = strike_nav(
        terms, mark(DAY2, "0.00055"), FundHoldings(200, 105_800, 2_000, 5_800), token_scale=0
    )
    # gross 458,200 + 105,800 = 564,000; fee 56.4 → 56; the day's 5,800 sats go out.
    assert (s.fee_sats, s.distribution_sats, s.net_sats) == (56, 5_800, 558_144)
    assert s.distribution_per_share_sats == Fraction(29, 10)
    # Income beyond what is left after the fee: only what the fund holds is paid.
    s = strike_nav(
        terms, mark(DAY2, "0.00055"), FundHoldings(200, 100, 2_000, 5_800), token_scale=0
    )
    assert (s.fee_sats, s.distribution_sats) == (45, 55)


def test_baskets_round_in_favour_of_the_holders_who_stay() -> None:
    day2 = strike_nav(
        TERMS, mark(DAY2, "0.00055"), FundHoldings(200, 100_000, 2_000, 0), token_scale=0
    )
    # One unit = 1,000 of 2,000 shares: 100 tokens; the shares are worth 279,072.5 sats,
    # the tokens 100 × 2,291 = 229,100: 49,972.5 sats of cash, paid 49,973 in, 49,972 out.
    create = basket(TERMS, day2, side="create", creation_units=1)
    redeem = basket(TERMS, day2, side="redeem", creation_units=1)
    assert (create.shares, create.token_units, create.cash_sats) == (1_000, 100, 49_973)
    assert (redeem.shares, redeem.token_units, redeem.cash_sats) == (1_000, 100, 49_972)
    assert create.nav_value_sats == Fraction(558_145, 2)
    with pytest.raises(Exception, match="more than the 2000 outstanding"):
        basket(TERMS, day2, side="redeem", creation_units=3)
    day1 = strike_nav(TERMS, mark(DAY1, "0.0005"), FundHoldings(0, 0, 0, 0), token_scale=0)
    seed = basket(TERMS, day1, side="create", creation_units=2)
    assert (seed.shares, seed.token_units, seed.cash_sats) == (2_000, 200, 100_000)


def test_tokens_of_a_finer_scale_are_valued_in_whole_sats() -> None:
    # 12,345 units of 10**-2 token at 2,291 sats a token: 282,823.95 → 282,823 sats.
    s = strike_nav(TERMS, mark(DAY2, "0.00055"), FundHoldings(12_345, 0, 1_000, 0), token_scale=2)
    assert s.token_value_sats == 282_823


def test_the_cut_off_decides_the_dealing_day() -> None:
    at = dt.datetime(2025, 1, 10, 15, 59, 59, tzinfo=dt.UTC)
    assert TERMS.dealing_day(at) == DAY1
    assert TERMS.dealing_day(at + dt.timedelta(seconds=1)) == DAY2  # 16:00:00 is too late
    # Any offset is read as UTC: 17:30 in UTC+2 is 15:30 UTC.
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert TERMS.dealing_day(dt.datetime(2025, 1, 10, 17, 30, tzinfo=plus2)) == DAY1
    with pytest.raises(SpecError, match=r"'received_at'.* is not a time with its UTC offset"):
        TERMS.dealing_day(dt.datetime(2025, 1, 10, 15, 0))


def test_tracking_error_on_a_five_day_series_by_hand() -> None:
    # Log returns: fund 0.01, −0.02, 0.03, 0.00; index 0.00, −0.01, 0.01, 0.02.
    # Differences 0.01, −0.01, 0.02, −0.02: mean 0, sample variance 0.001 / 3,
    # daily σ = 0.0182574…, annualised × √365 = √(0.001 / 3 × 365) = 0.3488075…
    fund_logs = [0.0, 0.01, -0.01, 0.02, 0.02]
    index_logs = [0.0, 0.0, -0.01, 0.0, 0.02]
    days = [dt.date(2025, 1, d) for d in range(10, 15)]
    te = tracking_error(
        days, [100 * math.exp(x) for x in fund_logs], [0.0005 * math.exp(x) for x in index_logs]
    )
    assert te.returns == 4 and (te.first_day, te.last_day) == (days[0], days[-1])
    assert te.daily == pytest.approx(0.018257418583505537, rel=1e-9)
    assert te.annualised == pytest.approx(0.3488074922742, rel=1e-9)
    # A window of 3 returns keeps the last three differences: −0.01, 0.02, −0.02.
    short = tracking_error(
        days,
        [100 * math.exp(x) for x in fund_logs],
        [0.0005 * math.exp(x) for x in index_logs],
        window_days=3,
    )
    mean = -0.01 / 3
    var = ((-0.01 - mean) ** 2 + (0.02 - mean) ** 2 + (-0.02 - mean) ** 2) / 2
    assert (short.returns, short.first_day) == (3, days[1])
    assert short.daily == pytest.approx(math.sqrt(var), rel=1e-9)


def test_tracking_counts_distributions_as_return() -> None:
    # NAV 100 → 99 with 1 paid out, then 99 → 98 with 1 paid out: two zero total returns;
    # against a flat index no tracking error, though the NAV alone fell 2 %.
    days = [dt.date(2025, 1, d) for d in range(10, 13)]
    assert tracking_error(days, [100, 99, 98], [1, 1, 1], distributed=[0, 1, 1]).daily == 0.0
    assert tracking_error(days, [100, 99, 98], [1, 1, 1]).daily > 0
    with pytest.raises(FundError, match=r"1 daily return\(s\); it needs 2 or more"):
        tracking_error(days[:2], [1, 1], [1, 1])


def test_tracking_skips_a_day_without_a_fixing() -> None:
    # 10, 11, 13, 14 January (no fixing on the 12th): returns 11/10 and 14/13 only.
    days = [dt.date(2025, 1, d) for d in (10, 11, 13, 14)]
    fund = [100 * math.exp(x) for x in (0.0, 0.01, 0.5, 0.52)]
    te = tracking_error(days, fund, [1.0, 1.0, 1.0, 1.0])
    # Differences 0.01 and 0.02: σ = 0.005 × √2 = 0.0070711 (the 12 → 13 jump is not used).
    assert (te.returns, te.first_day, te.last_day) == (2, days[0], days[3])
    assert te.daily == pytest.approx(0.005 * math.sqrt(2), rel=1e-9)


def test_premium_and_discount_against_nav() -> None:
    prices = read_secondary_prices(
        "date,price_sats_per_share\n2025-01-10,250\n2025-01-11,276.28\n", name="prices.csv"
    )
    navs = {DAY1: Fraction(242), DAY2: Fraction("279.0725")}
    out = premium_discount(navs, prices)
    # 250 / 242 − 1 = 0.0330578…; 276.28 / 279.0725 − 1 = −0.0100063…
    assert [p.day for p in out] == [DAY1, DAY2]
    assert float(out[0].premium) == pytest.approx(8 / 242, rel=1e-12)
    assert float(out[1].premium) == pytest.approx(-0.010006359, rel=1e-6)


def test_bad_secondary_prices_name_the_line() -> None:
    with pytest.raises(Exception, match=r"prices.csv:3: column 'price_sats_per_share'"):
        read_secondary_prices(
            "date,price_sats_per_share\n2025-01-10,250\n2025-01-11,-1\n", name="prices.csv"
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "field 'colour': unknown field"),
        ({"income": "reinvest"}, "field 'income': unknown value 'reinvest'"),
        ({"management_fee_rate": "-0.01"}, "field 'management_fee_rate': value '-0.01' must be"),
        ({"creation_unit_shares": 0}, "field 'creation_unit_shares': value 0 must be greater"),
        ({"cutoff_utc": "4pm"}, "field 'cutoff_utc': value '4pm' is not a time of day"),
        ({"btc_account_id": 500}, "four different accounts"),
        ({"launch_day": None}, "field 'launch_day': value None is not a date"),
        ({"manager_account_id": 2**63}, "field 'manager_account_id': .* must be below 2\\*\\*63"),
    ],
)
def test_bad_specs_name_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_fund_spec({**SPEC, **change})


def test_terms_round_trip_through_their_spec() -> None:
    assert parse_fund_spec(TERMS.to_spec()) == TERMS
    assert isinstance(TERMS, FundTerms)
