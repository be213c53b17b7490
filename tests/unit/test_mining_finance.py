"""Cloud hashrate, hosting and machine leases: terms, payoffs and schedules against figures
worked out by hand (the published 2025-01-10 fixing, constructed paths, an annuity to the
cent), and their analysis on the pricing engine's own paths."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hashmarket.chain import NetworkHistory
from hashmarket.errors import SpecError
from hashmarket.index import day_fixings
from hashmarket.instruments import (
    CloudHashrate,
    Fixings,
    Hosting,
    MachineLease,
    annuity_schedule,
    cloud_life,
    flat_breakeven_hashprice_btc_per_ph_day,
    lease_life,
    load_spec,
    parse_spec,
    to_spec,
)
from hashmarket.instruments.cloud import shutoff_columns
from hashmarket.instruments.lease import add_months
from hashmarket.operations import (
    client_breakeven_hashprice_usd_per_ph_day,
    hosting_scenarios,
    load_catalogue,
    parse_contract,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "specs"
JAN_1, JAN_10 = dt.date(2025, 1, 1), dt.date(2025, 1, 10)


@pytest.fixture(scope="module")
def jan_10() -> Fixings:
    """The published FPPS fixings of 2025-01-10 (0.00058154 BTC/PH/day, $94,759.12/BTC)."""
    btc, usd = day_fixings(NetworkHistory.load(), JAN_10)
    return Fixings.from_published(usd=[usd], btc=[btc])


def cloud(**terms: object) -> CloudHashrate:
    base: dict[str, object] = {
        "start": JAN_1,
        "end": dt.date(2025, 1, 31),
        "hashrate_ths": 100,
        "price_usd": 150,
    }
    base.update(terms)
    return parse_spec({"type": "cloud_hashrate", **base})  # type: ignore[return-value]


def path(hashprices_btc: list[list[float]], price_usd: float = 100_000.0) -> Fixings:
    """Constructed paths from 1 January 2025 at a constant BTC price."""
    hp = np.array(hashprices_btc, dtype=np.float64)
    days = [JAN_1 + dt.timedelta(days=i) for i in range(hp.shape[1])]
    return Fixings.from_arrays(
        days,
        hashprice_btc_per_ph_day=hp,
        hashprice_usd_per_ph_day=hp * price_usd,
        price_usd=np.full(hp.shape, price_usd),
    )


# ---- cloud hashrate -------------------------------------------------------------------------


def test_cloud_day_from_the_published_fixing(jan_10: Fixings) -> None:
    # 0.00058154 BTC/PH/day × 100 TH/s ÷ 1000 × 1e8 = 5,815.4 sats gross. A flat fee of
    # $0.05/TH/day is $5 = 5 ÷ 94,759.1196358854 × 1e8 = 5,276.537 sats: 538.863 → 538.
    assert cloud(fee_usd_per_th_day=0.05).cashflows(jan_10)[0, 0] * 1e8 == 538
    # The fee from power instead: 25 W/TH × 100 TH/s × 24 h = 60 kWh × $0.08 = $4.80 =
    # 5,065.476 sats: 5,815.4 − 5,065.476 = 749.924 → 749.
    by_power = cloud(efficiency_w_per_th=25, power_price_usd_per_kwh=0.08)
    assert by_power.cashflows(jan_10)[0, 0] * 1e8 == 749
    # Both fees: $9.80 = 10,342.01 sats, more than the output: the day pays 0.
    both = cloud(fee_usd_per_th_day=0.05, efficiency_w_per_th=25, power_price_usd_per_kwh=0.08)
    assert both.cashflows(jan_10)[0, 0] == 0


def test_cloud_shutoff_on_constructed_paths() -> None:
    # 1,000 TH/s with a $0.04/TH/day fee = 40,000 sats a day at $100,000. 0.0005 BTC/PH/day
    # earns 50,000 (10,000 net); 0.0003 earns 30,000 (pays 0).
    contract = cloud(
        end=dt.date(2025, 1, 8), hashrate_ths=1000, fee_usd_per_th_day=0.04, shutoff_days=3
    )
    good, bad = 0.0005, 0.0003
    paths = path(
        [
            [good, bad, bad, bad, good, good, good, good],  # 3 unpaid days: off on day 4
            [good, bad, bad, good, bad, bad, good, good],  # never 3 in a row
            [bad, bad, bad, bad, bad, bad, bad, bad],  # off on day 3
        ]
    )
    life = cloud_life(contract, paths)
    assert list(life.shutoff_col) == [3, -1, 2]
    sats = np.rint(life.output_btc * 1e8).astype(int)
    assert sats[0].tolist() == [10_000, 0, 0, 0, 0, 0, 0, 0]  # nothing after the shut-off
    assert sats[1].tolist() == [10_000, 0, 0, 10_000, 0, 0, 10_000, 10_000]
    assert sats[2].sum() == 0
    assert life.shutoff_days_after_start(contract, paths).tolist() == [3, -1, 2]
    assert shutoff_columns(np.array([[True, False, False]]), 2).tolist() == [2]


def test_cloud_flat_breakeven_by_hand() -> None:
    # 1,000,000 sats over 100 days is 10,000 sats = 0.0001 BTC a day; a $2/day fee (0.02 ×
    # 100 TH/s) is 0.00002 BTC at $100,000; 100 TH/s is 0.1 PH/s: (0.0001 + 0.00002) ÷ 0.1.
    contract = cloud(
        end=dt.date(2025, 4, 10), fee_usd_per_th_day=0.02, price_usd=None, price_sats=1_000_000
    )
    assert contract.term_days == 100
    value = flat_breakeven_hashprice_btc_per_ph_day(contract, price_usd=100_000.0)
    assert value == pytest.approx(0.0012, rel=1e-12)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"price_sats": 10}, "price_usd", "give exactly one"),
        ({"price_usd": None}, "price_usd", "give exactly one"),
        ({"hashrate_ths": 0}, "hashrate_ths", "greater than zero"),
        ({"shutoff_days": 0}, "shutoff_days", "greater than zero"),
        ({"uptime": 1.5}, "uptime", "at most 1"),
        ({"end": "2024-12-31"}, "end", "before"),
        ({"fee": 1}, "fee", "unknown field"),
    ],
)
def test_cloud_spec_errors_name_the_field(
    change: dict[str, object], field: str, message: str
) -> None:
    spec = {
        "type": "cloud_hashrate",
        "start": "2025-01-01",
        "end": "2025-01-31",
        "hashrate_ths": 100,
        "price_usd": 150,
        **change,
    }
    with pytest.raises(SpecError, match=message) as info:
        parse_spec({k: v for k, v in spec.items() if v is not None})
    assert field in str(info.value)


def test_example_specs_round_trip() -> None:
    for name in ("cloud_hashrate", "hosting", "machine_lease"):
        instrument = load_spec(EXAMPLES / f"{name}.json")
        assert parse_spec(to_spec(instrument)) == instrument


# ---- machine lease --------------------------------------------------------------------------


def test_annuity_schedule_to_the_cent() -> None:
    # $1,000 at 12 % a year (1 % a month) over 3 months: A = 1000 × 0.01 ÷ (1 − 1.01⁻³) =
    # 340.0221 → 340.02. Interest 10.00, 6.6998 → 6.70, 3.3666 → 3.37; principal 330.02,
    # 333.32 and the last 336.66 (the balance left), so the last payment is 340.03.
    rows = annuity_schedule(
        financed_cents=100_000, rate_per_year=Decimal("0.12"), months=3, start=dt.date(2025, 1, 31)
    )
    assert [
        (r.payment_cents, r.interest_cents, r.principal_cents, r.balance_cents) for r in rows
    ] == [
        (34_002, 1_000, 33_002, 66_998),
        (34_002, 670, 33_332, 33_666),
        (34_003, 337, 33_666, 0),
    ]
    assert [r.due for r in rows] == [
        dt.date(2025, 2, 28),
        dt.date(2025, 3, 31),
        dt.date(2025, 4, 30),
    ]
    # At 0 %: 1000 ÷ 3 = 333.33, 333.33 and the rest, 333.34.
    flat = annuity_schedule(financed_cents=100_000, rate_per_year=Decimal(0), months=3, start=JAN_1)
    assert [r.payment_cents for r in flat] == [33_333, 33_333, 33_334]
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)


def small_lease(**terms: object) -> MachineLease:
    base: dict[str, object] = {
        "type": "machine_lease",
        "start": "2025-01-01",
        "months": 3,
        "machines": 2,
        "hashrate_ths_per_machine": 500,
        "efficiency_j_per_th": 1,
        "price_usd_per_machine": 600,
        "down_payment_usd": 200,
        "rate_per_year": 0.12,
        "power_price_usd_per_kwh": 0,
        "default_months": 2,
        "end_of_life": "2025-12-31",
        "reference_hashprice_usd_per_ph_day": 50,
        "recovery_cost": 0.1,
    }
    base.update(terms)
    return parse_spec(base)  # type: ignore[return-value]


def test_lease_default_exposure_and_recovery_by_hand() -> None:
    lease = small_lease()
    assert lease.financed_cents == 100_000
    # 1 PH/s at $100,000: 0.0005 BTC/PH/day earns $50 a day (every month covers $340.02);
    # 0.00005 earns $5: January $155 and February $140 are short: default on 1 March.
    paths = path([[0.0005] * 100, [0.00005] * 100, [0.00005] * 31 + [0.0005] * 69])
    life = lease_life(lease, paths)
    assert life.default_month.tolist() == [0, 2, 0]
    assert life.margin_usd[1, :2] == pytest.approx([155.0, 140.0])
    # EAD: the balance after January's instalment, $669.98. Recovery by the machine-loan sale
    # rule on 1 March: a 500 TH/s machine at $5/PH/day earns $2.50 a day at no power cost,
    # for the 305 days to its end of life: V = $762.50; φ($5) = 0.2 + (0.6 − 0.2) × 5/50 =
    # 0.24; 2 machines × 762.50 × 0.24 × (1 − 0.1) = $329.40. Loss $340.58.
    assert life.ead_usd[1] == pytest.approx(669.98)
    assert life.recovery_usd[1] == pytest.approx(329.40)
    assert life.loss_usd[1] == pytest.approx(340.58)
    cash = life.lessor_cash_usd
    assert cash[0].sum() == pytest.approx(1_020.07 - 1_000.0)  # paid in full
    assert cash[1].sum() == pytest.approx(340.02 + 329.40 - 1_000.0)
    # A recovery never exceeds the exposure: sold at the whole margin value ($1,372.50 net),
    # the lessor keeps the EAD.
    rich = lease_life(small_lease(secondary_fraction=1, secondary_floor=1), paths)
    assert rich.recovery_usd[1] == pytest.approx(669.98) and rich.loss_usd[1] == 0


def test_lease_refuses_bad_terms_naming_the_field() -> None:
    with pytest.raises(SpecError, match="down_payment_usd"):
        small_lease(down_payment_usd=1_200)
    with pytest.raises(SpecError, match="secondary_floor"):
        small_lease(secondary_floor=0.7)
    with pytest.raises(SpecError, match="end_of_life"):
        small_lease(end_of_life="2024-12-31")


# ---- hosting --------------------------------------------------------------------------------


def hosting(**terms: object) -> Hosting:
    base: dict[str, object] = {
        "type": "hosting",
        "start": "2025-01-10",
        "end": "2025-03-31",
        "machines": 10,
        "machine_model": "Antminer S21",
        "power_price_usd_per_kwh": 0.07,
        "revenue_share": 0.1,
        "uptime": 0.97,
    }
    base.update(terms)
    return parse_contract(base, Hosting, load_catalogue())


def test_hosting_statement_by_hand(jan_10: Fixings) -> None:
    agreement = hosting()
    assert agreement.hashrate_ths_per_machine == 200  # the catalogue's Antminer S21
    assert agreement.efficiency_j_per_th == Decimal("17.5")
    (day,) = agreement.statements(jan_10, site_power_cost_usd_per_kwh=Decimal("0.05"))
    # 2,000 TH/s; 17.5 × 2,000 × 24 ÷ 1000 = 840 kWh; 0.00058154 × 2 × 0.97 × 1e8 =
    # 112,818.76 → 112,818 sats mined; the site keeps floor(11,281.8) = 11,281; the client
    # 101,537; power 840 × $0.07 = $58.80.
    assert (day.kwh, day.mined_sats, day.site_share_sats, day.client_sats, day.power_cents) == (
        840,
        112_818,
        11_281,
        101_537,
        5_880,
    )
    assert day.client_net_usd.quantize(Decimal("0.0001")) == Decimal("37.4156")
    assert day.site_margin_usd is not None
    assert day.site_margin_usd.quantize(Decimal("0.0001")) == Decimal("27.4898")
    # The float formula on paths gives the same day.
    hp = jan_10.values["hashprice_btc_per_ph_day"]
    floats = agreement.path_amounts(
        hashprice_btc_per_ph_day=hp, price_usd=jan_10.values["price_usd"]
    )
    assert floats.mined_sats[0, 0] == 112_818 and floats.client_sats[0, 0] == 101_537
    assert float(floats.client_net_usd[0, 0]) == pytest.approx(float(day.client_net_usd))
    assert agreement.cashflows(jan_10)[0, 0] == pytest.approx(float(day.client_net_usd))


def test_hosting_breakeven_and_scenarios_by_hand() -> None:
    agreement = hosting(start="2025-01-01", end="2025-01-02", uptime=1, revenue_share=0.2)
    # $58.80 of power a day ÷ (2 PH/s × 1 × (1 − 0.2)) = $36.75 per PH/s per day.
    assert client_breakeven_hashprice_usd_per_ph_day(agreement) == pytest.approx(36.75)
    # Two paths at $100,000/BTC: 0.0005 BTC/PH/day mines 100,000 sats a day, the client keeps
    # 80,000 = $80 (net $21.20); 0.0001 mines 20,000, keeps 16,000 = $16 (net −$42.80).
    result = hosting_scenarios(
        agreement, path([[0.0005, 0.0005], [0.0001, 0.0001]]), site_power_cost_usd_per_kwh=0.05
    )
    assert result.client_net_usd["mean"] == pytest.approx((2 * 21.20 - 2 * 42.80) / 2)
    assert result.client_loss_probability == 0.5 and result.client_loss_day_fraction == 0.5
    # Site: share $20 or $4 a day, + $58.80 charged − 840 × $0.05 = $42: $36.80 or $20.80.
    assert result.site_margin_usd is not None
    assert result.site_margin_usd["mean"] == pytest.approx(36.80 + 20.80)
    assert result.power_charge_usd == pytest.approx(117.60)


def test_catalogue_machine_fills_the_figures() -> None:
    spec = json.loads((EXAMPLES / "hosting.json").read_text())
    del spec["hashrate_ths_per_machine"], spec["efficiency_j_per_th"]
    assert parse_contract(spec, Hosting) == load_spec(EXAMPLES / "hosting.json")
    with pytest.raises(SpecError, match="machine_lease"):
        parse_contract(spec, MachineLease)


@settings(max_examples=300, deadline=None)
@given(
    financed_cents=st.integers(min_value=1, max_value=10**12),
    rate_bp=st.integers(min_value=0, max_value=10_000),
    months=st.integers(min_value=1, max_value=120),
)
@example(financed_cents=9_966, rate_bp=10_000, months=70)  # repaid early by its roundings
def test_annuity_schedule_always_sums_to_the_financed_cents(
    financed_cents: int, rate_bp: int, months: int
) -> None:
    rows = annuity_schedule(
        financed_cents=financed_cents,
        rate_per_year=Decimal(rate_bp) / 10_000,
        months=months,
        start=JAN_1,
    )
    assert sum(r.principal_cents for r in rows) == financed_cents
    assert rows[-1].balance_cents == 0
    assert all(r.principal_cents >= 0 and r.interest_cents >= 0 for r in rows)
    assert all(r.payment_cents == r.principal_cents + r.interest_cents for r in rows)
    # Half a cent of the level payment and half a cent of each month's interest, carried in
    # the balance and growing at the rate, are what the last payment makes good. Every
    # instalment but the last is the level payment, unless what the roundings carried
    # reaches a whole payment and repays the loan early (a small loan at a high rate:
    # 99.66 USD at 100 % a year over 70 months carries up to 32 USD against 8.34 a month).
    growth = 1 + rate_bp / 10_000 / 12
    carried = sum(growth**k for k in range(months))
    if carried + 1 < rows[0].payment_cents:
        assert len({r.payment_cents for r in rows[:-1]}) <= 1
        assert abs(rows[-1].payment_cents - rows[0].payment_cents) <= carried + 1
