"""Instrument payoffs on hand-made fixings: conventions, published examples, decompositions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from hashmarket.errors import PricingError, SpecError
from hashmarket.instruments import (
    AsianOption,
    BtcPriceSwap,
    Collar,
    DifficultyFuture,
    DualCurrencyKind,
    DualCurrencyNote,
    EpochValueFuture,
    EuropeanOption,
    Fixings,
    HashpriceForward,
    HashrateFuture,
    HashrateToken,
    OptionType,
    SettlementCurrency,
    SharkFinNote,
    Side,
    TokenTerms,
    Tranche,
    Underlying,
    YieldSplitNote,
)

START = dt.date(2026, 3, 1)


def days(n: int, start: dt.date = START) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(n)]


def random_fixings(n_paths: int = 50, n_days: int = 40, seed: int = 0) -> Fixings:
    """Lognormal-ish paths for every fixing field (payoff identities hold on any numbers)."""
    rng = np.random.default_rng(seed)
    shocks = np.cumsum(rng.normal(0, 0.03, (n_paths, n_days)), axis=1)
    price = 80_000 * np.exp(shocks)
    hp_btc = 0.00045 * np.exp(np.cumsum(rng.normal(0, 0.01, (n_paths, n_days)), axis=1))
    return Fixings.from_arrays(
        days(n_days),
        price_usd=price,
        hashprice_btc_per_ph_day=hp_btc,
        hashprice_usd_per_ph_day=hp_btc * price,
        difficulty=np.full((n_paths, n_days), 1.4e14),
        block_count=np.full((n_paths, n_days), 144.0),
        subsidy_btc=np.full((n_paths, n_days), 3.125),
    )


class TestHashpriceForward:
    def test_buyer_receives_fixing_minus_fixed_times_size_every_day(self) -> None:
        fix = np.array([[40.0, 36.0, 38.0, 50.0]])
        f = Fixings.from_arrays(days(4), hashprice_usd_per_ph_day=fix)
        fwd = HashpriceForward(
            notional_phs=10, fixed_price_per_ph_day=38.0, start=days(4)[1], end=days(4)[2]
        )
        np.testing.assert_array_equal(fwd.cashflows(f), [[0.0, -20.0, 0.0, 0.0]])
        seller = HashpriceForward(
            notional_phs=10,
            fixed_price_per_ph_day=38.0,
            start=days(4)[1],
            end=days(4)[2],
            side=Side.SELL,
        )
        np.testing.assert_array_equal(seller.cashflows(f), -fwd.cashflows(f))

    def test_btc_forward_settles_on_the_btc_index(self) -> None:
        f = random_fixings()
        fwd = HashpriceForward(
            notional_phs=5,
            fixed_price_per_ph_day=0.0004,
            start=START,
            end=days(10)[-1],
            currency=SettlementCurrency.BTC,
        )
        assert fwd.currency is SettlementCurrency.BTC
        expected = (f.values["hashprice_btc_per_ph_day"][:, :10] - 0.0004) * 5
        np.testing.assert_allclose(fwd.cashflows(f)[:, :10], expected)
        assert (fwd.cashflows(f)[:, 10:] == 0).all()

    def test_refuses_to_settle_a_day_without_a_fixing(self) -> None:
        fix = np.array([[40.0, np.nan, 38.0]])
        f = Fixings.from_arrays(days(3), hashprice_usd_per_ph_day=fix)
        fwd = HashpriceForward(
            notional_phs=1, fixed_price_per_ph_day=1, start=START, end=days(3)[2]
        )
        with pytest.raises(PricingError, match="2026-03-02"):
            fwd.cashflows(f)

    def test_settles_day_by_day_on_the_days_fixed_so_far(self) -> None:
        # The term runs 5 days; only the first 3 are fixed: they pay, the rest come later.
        f = Fixings.from_arrays(days(3), hashprice_usd_per_ph_day=[[40.0, 36.0, 38.0]])
        fwd = HashpriceForward(
            notional_phs=2, fixed_price_per_ph_day=37.0, start=START, end=days(5)[-1]
        )
        np.testing.assert_array_equal(fwd.cashflows(f), [[6.0, -2.0, 2.0]])
        future = HashrateFuture(contracts=1, price_usd_per_ph_day=37.0, start=START)
        assert not future.cashflows(f).any()  # its 30 days are not over


def test_hashrate_future_settles_to_the_30_day_average() -> None:
    fix = np.linspace(30, 45, 35)[None, :]
    f = Fixings.from_arrays(days(35), hashprice_usd_per_ph_day=fix)
    fut = HashrateFuture(contracts=3, price_usd_per_ph_day=37.25, start=days(35)[2])
    amounts = fut.cashflows(f)
    average = fix[0, 2:32].mean()
    assert amounts[0, 31] == pytest.approx((average - 37.25) * 30 * 3)
    assert np.count_nonzero(amounts) == 1
    assert fut.end == days(35)[31]
    with pytest.raises(SpecError, match=r"tick 0\.25"):
        HashrateFuture(contracts=1, price_usd_per_ph_day=37.3, start=START)


def test_difficulty_future_uses_the_block_weighted_average() -> None:
    d = np.array([[100e12, 100e12, 120e12]])
    n = np.array([[144.0, 100.0, 200.0]])
    f = Fixings.from_arrays(days(3), difficulty=d, block_count=n)
    fut = DifficultyFuture(contracts=2, price_points=105.0, start=START, end=days(3)[2])
    settle = (100 * 244 + 120 * 200) / 444
    assert fut.settlement_points(f)[0] == pytest.approx(settle)
    assert fut.cashflows(f)[0, 2] == pytest.approx((settle - 105.0) * 2)


class TestEpochValueFuture:
    @pytest.mark.parametrize(
        ("difficulty", "published_btc"), [(25.1e12, 0.0701), (21.3876e12, 0.0823)]
    )
    def test_synfutures_published_epoch_values(
        self, difficulty: float, published_btc: float
    ) -> None:
        fut = EpochValueFuture(notional_phs=1, price_btc_per_ph=0.0, maturity_height=681408)
        assert fut.subsidy_btc == 6.25
        value = float(fut.settlement_value_btc_per_ph(np.array(difficulty)))
        assert round(value, 4) == published_btc

    def test_settles_the_day_after_the_trigger_block(self) -> None:
        heights = np.array([[681_000.0, 681_300.0, 681_410.0, 681_550.0, 681_700.0]])
        difficulty = np.array([[21e12, 21e12, 22e12, 25.1e12, 25.1e12]])
        f = Fixings.from_arrays(days(5), height=heights, difficulty=difficulty)
        fut = EpochValueFuture(notional_phs=10, price_btc_per_ph=0.07, maturity_height=681408)
        amounts = fut.cashflows(f)
        value = 6.25 * 1e15 * 2016 * 600 / (25.1e12 * 2**32)
        assert amounts[0, 3] == pytest.approx((value - 0.07) * 10)
        assert np.count_nonzero(amounts) == 1

    def test_nothing_is_due_before_maturity(self) -> None:
        f = Fixings.from_arrays(
            days(2), height=np.array([[1.0, 2015.0]]), difficulty=np.array([[1.0, 1.0]])
        )
        fut = EpochValueFuture(notional_phs=1, price_btc_per_ph=0.0, maturity_height=2016)
        # The trigger block came on the last fixed day: it settles on the next one.
        assert not fut.cashflows(f).any()
        gap = Fixings.from_arrays(
            days(2), height=np.array([[np.nan, 2015.0]]), difficulty=np.array([[1.0, 1.0]])
        )
        with pytest.raises(PricingError, match="2026-03-01"):
            fut.cashflows(gap)
        with pytest.raises(SpecError, match="multiple of 2016"):
            EpochValueFuture(notional_phs=1, price_btc_per_ph=0.0, maturity_height=2000)


def test_btc_price_swap_pays_fixed_minus_monthly_average_on_production() -> None:
    f = random_fixings(n_days=62, n_paths=5)  # March and April 2026, one day of May
    swap = BtcPriceSwap(
        fixed_price_usd=85_000, start=START, end=dt.date(2026, 4, 30), production_phs=10
    )
    amounts = swap.cashflows(f)
    price = f.values["price_usd"]
    hp = f.values["hashprice_btc_per_ph_day"]
    march = (85_000 - price[:, :31].mean(axis=1)) * 10 * hp[:, :31].sum(axis=1)
    april = (85_000 - price[:, 31:61].mean(axis=1)) * 10 * hp[:, 31:61].sum(axis=1)
    np.testing.assert_allclose(amounts[:, 30], march)
    np.testing.assert_allclose(amounts[:, 60], april)
    fixed_qty = BtcPriceSwap(
        fixed_price_usd=85_000,
        start=dt.date(2026, 3, 17),
        end=dt.date(2026, 3, 31),
        quantity_btc_per_month=3.1,
    )
    prorated = 3.1 * 15 / 31
    expected = (85_000 - price[:, 16:31].mean(axis=1)) * prorated
    np.testing.assert_allclose(fixed_qty.cashflows(f)[:, 30], expected)
    with pytest.raises(SpecError, match="exactly one"):
        BtcPriceSwap(fixed_price_usd=1, start=START, end=START)


class TestOptions:
    def test_asian_with_one_fixing_is_the_european(self) -> None:
        f = random_fixings()
        expiry = days(40)[25]
        for underlying in Underlying:
            for kind, strike in ((OptionType.CALL, 81_000.0), (OptionType.PUT, 79_000.0)):
                strike_u = strike if underlying is Underlying.BTC_USD else strike / 80_000 * 36
                if underlying is Underlying.HASHPRICE_BTC:
                    strike_u = strike / 80_000 * 0.00045
                euro = EuropeanOption(
                    underlying=underlying,
                    option_type=kind,
                    strike=strike_u,
                    expiry=expiry,
                    quantity=2,
                )
                asian = AsianOption(
                    underlying=underlying,
                    option_type=kind,
                    strike=strike_u,
                    averaging_start=expiry,
                    averaging_end=expiry,
                    quantity=2,
                )
                np.testing.assert_array_equal(euro.cashflows(f), asian.cashflows(f))
                assert euro.cashflows(f).any()

    def test_asian_averages_daily_fixings(self) -> None:
        f = random_fixings()
        asian = AsianOption(
            underlying=Underlying.BTC_USD,
            option_type=OptionType.CALL,
            strike=80_000,
            averaging_start=days(40)[5],
            averaging_end=days(40)[34],
            quantity=0.5,
        )
        average = f.values["price_usd"][:, 5:35].mean(axis=1)
        np.testing.assert_allclose(asian.cashflows(f)[:, 34], 0.5 * np.maximum(average - 80_000, 0))

    def test_collar_is_a_long_put_plus_a_short_call(self) -> None:
        f = random_fixings(n_paths=200)
        collar = Collar(
            underlying=Underlying.HASHPRICE_USD,
            put_strike=33.0,
            call_strike=39.0,
            averaging_start=days(40)[10],
            averaging_end=days(40)[39],
            quantity=300,
        )
        put, call = collar.legs()
        assert put.side.value == "buy" and call.side.value == "sell"
        np.testing.assert_allclose(collar.cashflows(f), put.cashflows(f) + call.cashflows(f))
        assert (collar.cashflows(f) > 0).any() and (collar.cashflows(f) < 0).any()
        with pytest.raises(SpecError, match="call_strike"):
            Collar(
                underlying=Underlying.BTC_USD,
                put_strike=10,
                call_strike=5,
                averaging_start=START,
                averaging_end=START,
                quantity=1,
            )


class TestStructuredNotes:
    def test_shark_fin_without_barrier_is_bond_plus_call_spread(self) -> None:
        f = random_fixings(n_paths=300)
        note = SharkFinNote(
            principal_usd=100_000,
            strike_date=START,
            expiry=days(40)[-1],
            participation=0.8,
            cap=1.2,
        )
        s0 = f.values["price_usd"][:, 0]
        s_t = f.values["price_usd"][:, -1]
        spread = np.maximum(s_t - s0, 0) - np.maximum(s_t - 1.2 * s0, 0)
        expected = 100_000 + 100_000 * 0.8 * spread / s0
        np.testing.assert_allclose(note.cashflows(f)[:, -1], expected)

    def test_shark_fin_knocked_out_pays_the_rebate(self) -> None:
        price = np.array([[100.0, 120.0, 141.0, 110.0], [100.0, 120.0, 139.0, 125.0]])
        f = Fixings.from_arrays(days(4), price_usd=price)
        note = SharkFinNote(
            principal_usd=1000,
            strike_date=START,
            expiry=days(4)[-1],
            participation=1.0,
            cap=1.3,
            barrier=1.4,
            rebate=0.02,
        )
        np.testing.assert_allclose(note.cashflows(f)[:, -1], [1020.0, 1250.0])

    def test_buy_the_dip_is_deposit_minus_puts_and_delivers_btc_below_strike(self) -> None:
        f = random_fixings(n_paths=300)
        expiry = days(40)[30]
        note = DualCurrencyNote(
            kind=DualCurrencyKind.BUY_THE_DIP,
            deposit=50_000,
            strike_usd=80_000,
            start=START,
            expiry=expiry,
            coupon_rate_per_year=0.365,
        )
        r = 50_000 * (1 + 0.365 * 30 / 365)
        assert note.redemption == pytest.approx(r)
        s = f.values["price_usd"][:, 30]
        expected = r - (r / 80_000) * np.maximum(80_000 - s, 0)
        np.testing.assert_allclose(note.cashflows(f)[:, 30], expected)
        legs = note.deliveries(f)
        below = s < 80_000
        np.testing.assert_allclose(legs[SettlementCurrency.BTC][below, 30], r / 80_000)
        assert (legs[SettlementCurrency.USD][below, 30] == 0).all()
        np.testing.assert_allclose(legs[SettlementCurrency.USD][~below, 30], r)

    def test_take_profit_is_a_covered_call_in_usd_terms(self) -> None:
        f = random_fixings(n_paths=300)
        expiry = days(40)[30]
        note = DualCurrencyNote(
            kind=DualCurrencyKind.TAKE_PROFIT,
            deposit=2.0,
            strike_usd=82_000,
            start=START,
            expiry=expiry,
            coupon_rate_per_year=0.1,
        )
        assert note.currency is SettlementCurrency.BTC
        r = note.redemption
        s = f.values["price_usd"][:, 30]
        usd_value = note.cashflows(f)[:, 30] * s
        np.testing.assert_allclose(usd_value, r * s - r * np.maximum(s - 82_000, 0))

    def test_senior_plus_junior_is_the_pool(self) -> None:
        f = random_fixings(n_paths=100)
        common = {
            "pool_phs": 100,
            "start": START,
            "end": days(40)[-1],
            "senior_coupon_per_day": 0.045,
            "currency": "btc",
        }
        senior = YieldSplitNote(tranche="senior", **common).cashflows(f)  # type: ignore[arg-type]
        junior = YieldSplitNote(tranche="junior", **common).cashflows(f)  # type: ignore[arg-type]
        pool = YieldSplitNote(tranche="pool", **common).cashflows(f)  # type: ignore[arg-type]
        np.testing.assert_allclose(senior + junior, pool)
        np.testing.assert_allclose(pool, 100 * f.values["hashprice_btc_per_ph_day"])
        assert (senior <= 0.045 * 40).all() and (junior >= 0).all()
        assert senior.sum(axis=1).max() <= 0.045 * 40 + 1e-12

    def test_waterfall_needs_the_term_from_its_first_day(self) -> None:
        f = random_fixings(n_paths=3)
        note = YieldSplitNote(
            pool_phs=100,
            start=START,
            end=days(60)[-1],
            senior_coupon_per_day=0.03,
            tranche=Tranche.JUNIOR,
        )
        assert note.cashflows(f).shape == (3, 40)  # the first 40 days pay
        later = f.between(days(40)[5], days(40)[-1])
        with pytest.raises(PricingError, match="2026-03-01"):
            note.cashflows(later)

    def test_senior_arrears_are_paid_from_later_output(self) -> None:
        hp = np.array([[0.0001, 0.0001, 0.0010, 0.0010]])
        f = Fixings.from_arrays(days(4), hashprice_btc_per_ph_day=hp)
        note = YieldSplitNote(
            pool_phs=100,
            start=START,
            end=days(4)[-1],
            senior_coupon_per_day=0.03,
            tranche=Tranche.SENIOR,
        )
        # Output: 0.01, 0.01, 0.10, 0.10; the senior is owed 0.03 a day.
        np.testing.assert_allclose(note.cashflows(f), [[0.01, 0.01, 0.07, 0.03]])


class TestHashrateToken:
    def test_daily_amounts_by_hand(self) -> None:
        # 50 TH/s at 20 W/TH and $0.05/kWh: 24 kWh → $1.20; service $0.0089 × 50 = $0.445;
        # 10 % maintenance discount: $1.4805 at $80,000 = 1,850.625 sats. Gross 0.0005 BTC
        # × 0.05 PH/s × 0.9 = 2,250 sats; net 399.375 → 399 sats paid, 0.375 dust.
        terms = TokenTerms(
            ths_per_token=Decimal(50),
            efficiency_w_per_th=Decimal(20),
            power_price_usd_per_kwh=Decimal("0.05"),
            service_fee_usd_per_th_day=Decimal("0.0089"),
            maintenance_discount=Decimal("0.1"),
        )
        day = terms.daily_amounts(
            hashrate_ths=Decimal(50),
            hashprice_btc_per_ph_day=Decimal("0.0005"),
            price_usd=Decimal(80_000),
            uptime=Decimal("0.9"),
        )
        assert (day.gross_sats, day.cost_sats) == (Decimal(2250), Decimal("1850.625"))
        assert (day.electricity_usd, day.service_fee_usd) == (Decimal("1.2"), Decimal("0.445"))
        assert (day.pool_sats, day.dust_sats, day.shortfall_sats) == (399, Decimal("0.375"), 0)

    def test_a_day_whose_costs_exceed_the_reward_pays_nothing(self) -> None:
        # 100 TH/s at 60 W/TH and $0.20/kWh: 144 kWh → $28.80 = 36,000 sats at $80,000,
        # against a gross of 5,000 sats: the holder gets 0 and the day's shortfall is 31,000.
        token = HashrateToken(
            ths_per_token=Decimal(100),
            start=START,
            end=START,
            efficiency_w_per_th=Decimal(60),
            power_price_usd_per_kwh=Decimal("0.2"),
        )
        day = token.daily_amounts(
            hashrate_ths=token.ths_per_token,
            hashprice_btc_per_ph_day=Decimal("0.0005"),
            price_usd=Decimal(80_000),
            uptime=token.uptime,
        )
        assert (day.pool_sats, day.dust_sats, day.shortfall_sats) == (0, 0, Decimal(31_000))
        one_day = Fixings.from_arrays([START], hashprice_btc_per_ph_day=[0.0005], price_usd=[8e4])
        assert token.cashflows(one_day).tolist() == [[0.0]]

    def test_token_pays_its_whole_sat_pool_every_day_of_its_term(self) -> None:
        f = random_fixings(n_paths=10)
        token = HashrateToken(
            ths_per_token=Decimal(100),
            start=days(40)[3],
            end=days(40)[12],
            efficiency_w_per_th=Decimal(15),
            power_price_usd_per_kwh=Decimal("0.06"),
        )
        amounts = token.cashflows(f)
        hp, price = f.values["hashprice_btc_per_ph_day"], f.values["price_usd"]
        net_sats = (0.1 * hp - 15 * 100 * 24 / 1000 * 0.06 / price) * 1e8
        expected = np.floor(np.maximum(net_sats, 0)) / 1e8
        np.testing.assert_allclose(amounts[:, 3:13], expected[:, 3:13], rtol=0, atol=1.01e-8)
        assert (amounts[:, :3] == 0).all() and (amounts[:, 13:] == 0).all()
        sats = amounts * 1e8  # whole sats, up to the float of sats ÷ 1e8
        np.testing.assert_allclose(sats, np.round(sats), rtol=0, atol=1e-6)
        # One path runs the ledger's Decimal rule: the same days, paid the same whole sats
        # (floats and Decimal could differ only within a float's noise of a whole sat).
        one = Fixings(dates=f.dates, values={k: v[:1] for k, v in f.values.items()})
        exact = token.cashflows(one)
        np.testing.assert_allclose(exact[0], amounts[0], rtol=0, atol=1.01e-8)
        day = token.daily_amounts(
            hashrate_ths=Decimal(100),
            hashprice_btc_per_ph_day=Decimal(repr(float(hp[0, 5]))),
            price_usd=Decimal(repr(float(price[0, 5]))),
            uptime=Decimal(1),
        )
        assert day.pool_sats > 0 and round(exact[0, 5] * 1e8) == day.pool_sats

    def test_terms_are_exact_decimals_and_checked(self) -> None:
        token = HashrateToken(
            ths_per_token=0.1,  # type: ignore[arg-type]
            start=START,
            end=START,
            efficiency_w_per_th=Decimal(15),
            power_price_usd_per_kwh=Decimal("0.05"),
        )
        assert token.ths_per_token == Decimal("0.1") and token.uptime == 1
        with pytest.raises(SpecError, match="uptime"):
            HashrateToken(
                ths_per_token=Decimal(1),
                start=START,
                end=START,
                efficiency_w_per_th=Decimal(1),
                power_price_usd_per_kwh=Decimal(1),
                uptime=Decimal("1.5"),
            )
        with pytest.raises(SpecError, match="ths_per_token"):
            HashrateToken(
                ths_per_token=Decimal(0),
                start=START,
                end=START,
                efficiency_w_per_th=Decimal(1),
                power_price_usd_per_kwh=Decimal(1),
            )
