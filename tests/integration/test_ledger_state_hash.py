"""The same seeded workload gives the same ``state_hash()`` on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from hashmarket.ledger import Account, Ledger, ManualClock, Transfer
from hashmarket.ledger import TransferFlags as F
from hashmarket.ledger import tokens as tk
from hashmarket.ledger.clock import day_start_ns
from tests.conftest import T0_NS, UrlFactory, open_ledger

ACCOUNTS = list(range(10, 40))


def workload(ledger: Ledger, clock: ManualClock, seed: int) -> list[str]:
    """Accounts, funding, random batches of every kind of transfer, clock moves with expiries,
    and a token series paid for two days. Returns the result codes, which must match too."""
    rng = random.Random(seed)
    codes: list[str] = []
    ledger.create_accounts([Account(i, "BTC") for i in ACCOUNTS])
    ledger.create_accounts([Account(i + 100, "USD") for i in ACCOUNTS[:5]])
    batch = [Transfer(i, 1, i, rng.randrange(1_000, 100_000)) for i in ACCOUNTS]
    codes += [c.value for c in ledger.create_transfers(batch)]
    next_id = 1_000
    for _ in range(40):
        batch = []
        for _ in range(rng.randrange(1, 12)):
            next_id += 1
            kind = rng.choice(["plain", "plain", "pending", "post", "void", "reverse"])
            a, b = rng.sample(ACCOUNTS, 2)
            amount = rng.randrange(1, 5_000)
            linked = F.LINKED if rng.random() < 0.15 else F.NONE
            ref = rng.randrange(1_000, next_id)
            if kind == "plain":
                batch.append(Transfer(next_id, a, b, amount, linked))
            elif kind == "pending":
                batch.append(
                    Transfer(
                        next_id, a, b, amount, F.PENDING | linked, timeout_s=rng.choice([0, 30])
                    )
                )
            elif kind == "post":
                batch.append(Transfer(next_id, 0, 0, 0, F.POST_PENDING | linked, pending_id=ref))
            elif kind == "void":
                batch.append(Transfer(next_id, flags=F.VOID_PENDING | linked, pending_id=ref))
            else:
                batch.append(Transfer(next_id, flags=F.REVERSAL | linked, reverses_id=ref))
        codes += [c.value for c in ledger.create_transfers(batch)]
        clock.advance(rng.choice([0, 1, 20]))
    ledger.expire_pending()

    tk.issue(
        ledger,
        tk.TokenSeries(
            asset="HT1",
            issuer_account_id=500,
            reserve_account_id=501,
            treasury_account_id=ACCOUNTS[-1],
            ths_per_token=Decimal("0.5"),
            efficiency_w_per_th=Decimal("17.5"),
            power_price_usd_per_kwh=Decimal("0.045"),
            service_fee_usd_per_th_day=Decimal("0.001"),
            backing_hashrate_ths=Decimal(100),
            term_start=dt.date(2025, 1, 1),
            term_end=dt.date(2025, 1, 31),
        ),
    )
    with ledger.transaction() as w:
        for i, payout in enumerate(ACCOUNTS[:8]):
            tk.open_holder(w, "HT1", token_account_id=600 + i, payout_account_id=payout)
            tk.mint(w, "HT1", transfer_id=9_000 + i, to_account_id=600 + i, amount_units=1 + i * 3)
    for day in (dt.date(2025, 1, 2), dt.date(2025, 1, 3)):
        clock.set(max(clock.now_ns(), day_start_ns(day + dt.timedelta(days=1))))
        rate = tk.DayRate(day, Decimal("0.00061"), Decimal(97_000), "a" * 64, "b" * 64)
        tk.distribute(ledger, "HT1", rate)
    return codes


def run(url: str, seed: int) -> tuple[str, list[str]]:
    clock = ManualClock(T0_NS)
    with open_ledger(url, clock) as ledger:
        codes = workload(ledger, clock, seed)
        report = ledger.verify()
        assert report.ok, report.problems
        return ledger.state_hash(), codes


@pytest.mark.postgresql
def test_same_workload_same_state_hash_on_both_stores(new_url: UrlFactory):
    sqlite_hash, sqlite_codes = run(new_url("sqlite"), seed=7)
    postgres_hash, postgres_codes = run(new_url("postgresql"), seed=7)
    assert sqlite_codes == postgres_codes
    assert "ok" in sqlite_codes and len(set(sqlite_codes)) > 3  # a workload with refusals too
    assert sqlite_hash == postgres_hash


def test_the_hash_is_reproducible_and_sensitive(new_url: UrlFactory):
    first, _ = run(new_url("sqlite"), seed=7)
    again, _ = run(new_url("sqlite"), seed=7)
    other, _ = run(new_url("sqlite"), seed=8)
    assert first == again
    assert first != other
