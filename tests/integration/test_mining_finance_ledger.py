"""Cloud hashrate payouts, hosting statements and machine leases on the ledger, on SQLite and
on PostgreSQL (the ``ledger`` fixture): amounts checked by hand to the unit, re-runs change
nothing, refusals change nothing, money is conserved and ``verify()`` stays green."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from hashmarket.chain import NetworkHistory
from hashmarket.errors import FinanceError
from hashmarket.instruments import CloudHashrate, Fixings, Hosting, MachineLease, cloud_life
from hashmarket.ledger import Account, Asset, Ledger, Transfer
from hashmarket.ledger.mining import (
    CloudAccounts,
    HostingAccounts,
    LeaseAccounts,
    book_lease,
    pay_cloud,
    published_path,
    purchase_cloud,
    recorded_cloud_shutoff,
    settle_hosting,
)
from tests.conftest import fund

JAN_1, JAN_10 = dt.date(2025, 1, 1), dt.date(2025, 1, 10)
CLOUD = CloudAccounts(provider_btc=10, buyer_btc=11, buyer_payment=12, provider_payment=13)
# A price in sats is paid between the BTC accounts themselves.
CLOUD_SATS = CloudAccounts(provider_btc=10, buyer_btc=11, buyer_payment=11, provider_payment=10)


@pytest.fixture(scope="module")
def published() -> Fixings:
    """The published FPPS fixings of 1-10 January 2025 from the bundled history."""
    return published_path(NetworkHistory.load(), JAN_1, JAN_10)


def balance(ledger: Ledger, account_id: int) -> int:
    return ledger.account(account_id).balance


def cloud_ledger(ledger: Ledger, provider_sats: int = 10**8) -> Ledger:
    fund(ledger, CLOUD.provider_btc, provider_sats, tid=901)
    ledger.create_account(Account(CLOUD.buyer_btc, "BTC"))
    fund(ledger, CLOUD.buyer_payment, 200_00, asset="USD", tid=902)
    ledger.create_account(Account(CLOUD.provider_payment, "USD"))
    return ledger


def test_cloud_pays_each_published_day_once(ledger: Ledger, published: Fixings) -> None:
    contract = CloudHashrate(
        start=JAN_1,
        end=dt.date(2025, 1, 31),
        hashrate_ths=Decimal(100),
        fee_usd_per_th_day=Decimal("0.05"),
        price_usd=Decimal("150"),
    )
    cloud_ledger(ledger)
    with pytest.raises(FinanceError, match="not bought"):
        pay_cloud(ledger, "C-1", contract, CLOUD, published, through=JAN_10)
    assert purchase_cloud(ledger, "C-1", contract, CLOUD) == 150_00
    assert purchase_cloud(ledger, "C-1", contract, CLOUD) == 150_00  # once only
    assert balance(ledger, CLOUD.provider_payment) == 150_00
    assert balance(ledger, CLOUD.buyer_payment) == 50_00

    run = pay_cloud(ledger, "C-1", contract, CLOUD, published, through=JAN_10)
    # 2025-01-10 by hand: the published BTC hashprice 0.00058154 BTC/PH/day on 100 TH/s is
    # 0.00058154 × 0.1 × 1e8 = 5,815.4 sats; the fee $0.05 × 100 = $5 at the day's price
    # $94,759.1196358854 is 5 ÷ 94,759.1196358854 × 1e8 = 5,276.537 sats; 538.863 → 538.
    assert run.days[-1].day == JAN_10 and run.days[-1].output_sats == 538
    expected = np.rint(cloud_life(contract, published).output_btc[0] * 1e8).astype(int)
    assert [d.output_sats for d in run.days] == list(expected)
    assert run.paid_sats == int(expected.sum()) and run.new_transfers == 10
    assert run.shutoff_day is None
    assert balance(ledger, CLOUD.buyer_btc) == run.paid_sats
    assert balance(ledger, CLOUD.provider_btc) == 10**8 - run.paid_sats

    hash_before = ledger.state_hash()
    again = pay_cloud(ledger, "C-1", contract, CLOUD, published, through=JAN_10)
    assert again.new_transfers == 0 and again.paid_sats == run.paid_sats
    assert ledger.state_hash() == hash_before
    assert ledger.verify().ok


def test_cloud_provider_short_pays_nothing(ledger: Ledger, published: Fixings) -> None:
    contract = CloudHashrate(start=JAN_1, end=JAN_10, hashrate_ths=Decimal(100), price_sats=0)
    cloud_ledger(ledger, provider_sats=1_000)  # not even the first day's output
    before = ledger.state_hash()
    with pytest.raises(FinanceError, match="exceeds_credits"):
        pay_cloud(ledger, "C-2", contract, CLOUD_SATS, published, through=JAN_10)
    # A price in sats cannot be paid from a USD account.
    with pytest.raises(FinanceError, match="account 12 holds USD, not BTC"):
        pay_cloud(ledger, "C-2", contract, CLOUD, published, through=JAN_10)
    assert ledger.state_hash() == before
    assert balance(ledger, CLOUD.buyer_btc) == 0


def constructed_path(hashprices_btc: list[float]) -> Fixings:
    """A path from 1 January 2025 with BTC at $100,000 and the given BTC hashprices."""
    days = [JAN_1 + dt.timedelta(days=i) for i in range(len(hashprices_btc))]
    return Fixings.from_arrays(
        days,
        hashprice_btc_per_ph_day=np.array(hashprices_btc),
        hashprice_usd_per_ph_day=np.array(hashprices_btc) * 100_000,
        price_usd=np.full(len(days), 100_000.0),
    )


def test_cloud_shutoff_is_recorded_and_stops_payments(ledger: Ledger) -> None:
    # 1,000 TH/s, fee $0.04/TH/day = $40 = 40,000 sats at $100,000. A hashprice of 0.0005
    # BTC/PH/day earns 50,000 sats: 10,000 net; 0.0003 earns 30,000: below the fee, pays 0.
    contract = CloudHashrate(
        start=JAN_1,
        end=dt.date(2025, 1, 9),
        hashrate_ths=Decimal(1000),
        fee_usd_per_th_day=Decimal("0.04"),
        shutoff_days=3,
        price_sats=0,
    )
    hp = [0.0005, 0.0005, 0.0003, 0.0003, 0.0003, 0.0005, 0.0005]
    cloud_ledger(ledger)
    run = pay_cloud(
        ledger, "C-3", contract, CLOUD_SATS, constructed_path(hp), through=dt.date(2025, 1, 7)
    )
    # Days 3, 4, 5 pay 0: the third ends the run, the contract stops on 5 January for good.
    assert run.shutoff_day == dt.date(2025, 1, 5)
    assert [d.output_sats for d in run.days] == [10_000, 10_000, 0, 0, 0, 0, 0]
    assert balance(ledger, CLOUD.buyer_btc) == 20_000
    assert recorded_cloud_shutoff(ledger, "C-3") == dt.date(2025, 1, 5)
    # Later days keep paying nothing, and a re-run changes nothing.
    later = pay_cloud(
        ledger,
        "C-3",
        contract,
        CLOUD_SATS,
        constructed_path([*hp, 0.0009, 0.0009]),
        through=dt.date(2025, 1, 9),
    )
    assert later.paid_sats == 20_000 and later.new_transfers == 0
    assert balance(ledger, CLOUD.buyer_btc) == 20_000
    assert ledger.verify().ok


HOSTING = HostingAccounts(site_btc=20, client_btc=21, client_usd=22, site_usd=23)


def test_hosting_statement_and_payments(ledger: Ledger, published: Fixings) -> None:
    hosting = Hosting(
        start=JAN_10,
        end=dt.date(2025, 3, 31),
        machines=10,
        hashrate_ths_per_machine=Decimal(200),
        efficiency_j_per_th=Decimal("17.5"),
        power_price_usd_per_kwh=Decimal("0.07"),
        revenue_share=Decimal("0.1"),
        uptime=Decimal("0.97"),
    )
    fund(ledger, HOSTING.site_btc, 10**8, tid=903)
    ledger.create_account(Account(HOSTING.client_btc, "BTC"))
    fund(ledger, HOSTING.client_usd, 100_00, asset="USD", tid=904)
    ledger.create_account(Account(HOSTING.site_usd, "USD"))
    run = settle_hosting(
        ledger,
        "H-1",
        hosting,
        HOSTING,
        published,
        through=JAN_10,
        site_power_cost_usd_per_kwh=Decimal("0.05"),
    )
    (day,) = run.statements
    # By hand: 10 × 200 TH/s = 2,000 TH/s; 17.5 J/TH × 2,000 × 24 h ÷ 1000 = 840 kWh;
    # mined 0.00058154 × 2 PH/s × 0.97 × 1e8 = 112,818.76 → 112,818 sats; the site's 10 %
    # is floor(11,281.8) = 11,281; the client gets 101,537; power 840 × $0.07 = $58.80.
    assert day.hashrate_ths == 2000 and day.kwh == 840
    assert (day.mined_sats, day.site_share_sats, day.client_sats) == (112_818, 11_281, 101_537)
    assert day.power_cents == 58_80
    # Client: 101,537 sats × $94,759.1196358854 = $96.2156 less $58.80 = $37.4156.
    assert day.client_net_usd.quantize(Decimal("0.0001")) == Decimal("37.4156")
    # Site: its share 11,281 sats × $94,759.1196358854 = $10.689776 + $58.80 charged
    # − 840 kWh × $0.05 = $42 of its own power = $27.489776.
    assert day.site_margin_usd is not None
    assert day.site_margin_usd.quantize(Decimal("0.0001")) == Decimal("27.4898")
    assert balance(ledger, HOSTING.client_btc) == 101_537
    assert balance(ledger, HOSTING.site_btc) == 10**8 - 101_537
    assert balance(ledger, HOSTING.site_usd) == 58_80
    assert balance(ledger, HOSTING.client_usd) == 100_00 - 58_80
    before = ledger.state_hash()
    assert (
        settle_hosting(ledger, "H-1", hosting, HOSTING, published, through=JAN_10).new_transfers
        == 0
    )
    assert ledger.state_hash() == before
    assert ledger.verify().ok


LEASE = LeaseAccounts(lessor_usd=30, lessee_usd=31, lessor_machines=32, lessee_machines=33)
MACHINE_ISSUER = 34


def lease_ledger(ledger: Ledger, lessee_cents: int) -> None:
    ledger.create_asset(Asset("ASIC", 0), issuer_account_id=MACHINE_ISSUER, name="asic-issuer")
    fund(ledger, LEASE.lessee_usd, lessee_cents, asset="USD", tid=905)
    ledger.create_account(Account(LEASE.lessor_usd, "USD"))
    ledger.create_account(Account(LEASE.lessor_machines, "ASIC"))
    ledger.create_account(Account(LEASE.lessee_machines, "ASIC"))
    ledger.transfer(Transfer(906, MACHINE_ISSUER, LEASE.lessor_machines, 2))


def small_lease(**terms: object) -> MachineLease:
    base: dict[str, object] = {
        "start": JAN_1,
        "months": 3,
        "machines": 2,
        "hashrate_ths_per_machine": Decimal(500),
        "efficiency_j_per_th": Decimal(1),  # no power cost: its price is 0
        "price_usd_per_machine": Decimal(600),
        "down_payment_usd": Decimal(200),
        "rate_per_year": Decimal("0.12"),
        "power_price_usd_per_kwh": Decimal(0),
        "default_months": 2,
        "end_of_life": dt.date(2027, 12, 31),
        "reference_hashprice_usd_per_ph_day": Decimal(50),
    }
    base.update(terms)
    return MachineLease(**base)  # type: ignore[arg-type]


def flat_path(days: int, hashprice_btc: float) -> Fixings:
    return constructed_path([hashprice_btc] * days)


def test_lease_pays_the_schedule_and_transfers_title(ledger: Ledger) -> None:
    # Financed $1,200 − $200 = $1,000 at 1 % a month over 3: $340.02, $340.02, $340.03.
    lease = small_lease()
    lease_ledger(ledger, lessee_cents=2_000_00)
    # 1 PH/s at 0.0005 BTC/PH/day × $100,000 = $50 a day: every month covers $340.
    path = flat_path(100, 0.0005)
    first = book_lease(ledger, "L-1", lease, LEASE, path, through=dt.date(2025, 2, 1))
    assert (first.instalments_paid, first.paid_cents, first.new_transfers) == (1, 340_02, 2)
    assert balance(ledger, LEASE.lessor_usd) == 200_00 + 340_02
    done = book_lease(ledger, "L-1", lease, LEASE, path, through=dt.date(2025, 4, 1))
    assert done.instalments_paid == 3 and done.paid_cents == 1_020_07
    assert done.outstanding_cents == 0 and done.title_transferred
    assert balance(ledger, LEASE.lessor_usd) == 200_00 + 1_020_07
    assert balance(ledger, LEASE.lessee_usd) == 2_000_00 - 200_00 - 1_020_07
    assert (balance(ledger, LEASE.lessor_machines), balance(ledger, LEASE.lessee_machines)) == (
        0,
        2,
    )
    before = ledger.state_hash()
    again = book_lease(ledger, "L-1", lease, LEASE, path, through=dt.date(2025, 4, 1))
    assert again.new_transfers == 0 and ledger.state_hash() == before
    assert ledger.verify().ok


def test_lease_default_is_recorded_and_stops_instalments(ledger: Ledger) -> None:
    lease = small_lease()
    lease_ledger(ledger, lessee_cents=2_000_00)
    # $5 a day (0.00005 BTC/PH/day): 31 × $5 = $155 < $340.02 in January, $140 in February:
    # two short months in a row, a default on the second due date, 1 March.
    path = flat_path(100, 0.00005)
    booked = book_lease(ledger, "L-2", lease, LEASE, path, through=dt.date(2025, 3, 15))
    assert booked.default_month == 2 and booked.default_day == dt.date(2025, 3, 1)
    assert booked.instalments_paid == 1 and booked.outstanding_cents == 669_98
    assert not booked.title_transferred
    assert balance(ledger, LEASE.lessor_machines) == 2  # repossessed: title never passed
    assert balance(ledger, LEASE.lessor_usd) == 200_00 + 340_02
    later = book_lease(ledger, "L-2", lease, LEASE, path, through=dt.date(2025, 4, 1))
    assert later.instalments_paid == 1 and later.new_transfers == 0
    assert ledger.verify().ok


def test_lease_lessee_short_books_nothing(ledger: Ledger) -> None:
    lease = small_lease()
    lease_ledger(ledger, lessee_cents=300_00)  # the down payment, not the first instalment
    before = ledger.state_hash()
    with pytest.raises(FinanceError, match="exceeds_credits"):
        book_lease(ledger, "L-3", lease, LEASE, flat_path(40, 0.0005), through=dt.date(2025, 2, 1))
    assert ledger.state_hash() == before
