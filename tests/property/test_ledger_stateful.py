"""Hypothesis drives random batches, clock moves and expiry sweeps through the real ledger and
the reference ledger side by side, on SQLite and on PostgreSQL. After every step the answers,
every account's four counters and the journal length must agree, and ``verify()`` must pass
(hash chain, fold = cached balances, Σ per asset = 0, no limit broken at any row).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from hashmarket.ledger import Account, Ledger, ManualClock, Transfer, TransferFlags
from tests.conftest import STORES, T0_NS, UrlFactory, open_ledger
from tests.property.reference_ledger import RefAccount, RefLedger

F = TransferFlags
# BTC: the issuer and three holders; USD: the issuer and one holder; 99 does not exist.
BTC_ACCOUNTS = [10, 11, 12]
USD_ACCOUNT = 20
ACCOUNT_IDS = [1, 2, *BTC_ACCOUNTS, USD_ACCOUNT, 99]
IDS = st.integers(min_value=1, max_value=24)  # few ids: replays and conflicts are common

amounts = st.one_of(
    st.integers(min_value=0, max_value=1_500),
    st.sampled_from([1, 49, 50, 51, 299, 300, 301, 999, 1_000, 1_001]),  # around the balances
    st.sampled_from([-1, 1.5, 2**63, 2**63 - 1]),
)
kinds = st.sampled_from([F.NONE, F.NONE, F.PENDING, F.POST_PENDING, F.VOID_PENDING, F.REVERSAL])


@st.composite
def requests(draw: Callable[..., Any]) -> Transfer:
    kind = draw(kinds)
    wildcard = kind in (F.POST_PENDING, F.VOID_PENDING, F.REVERSAL)
    account = st.sampled_from([0, *ACCOUNT_IDS] if wildcard else ACCOUNT_IDS)
    flags = kind | (F.LINKED if draw(st.integers(0, 3)) == 0 else F.NONE)
    return Transfer(
        id=draw(IDS),
        debit_account_id=draw(account),
        credit_account_id=draw(account),
        amount=draw(st.just(0) if wildcard and draw(st.booleans()) else amounts),
        flags=flags,
        pending_id=draw(IDS) if kind in (F.POST_PENDING, F.VOID_PENDING) else 0,
        reverses_id=draw(IDS) if kind == F.REVERSAL else 0,
        timeout_s=draw(st.sampled_from([0, 0, 1, 2, 5])) if kind == F.PENDING else 0,
        code=draw(st.sampled_from([0, 0, 1])),
    )


class LedgerMachine(RuleBasedStateMachine):
    make_url: UrlFactory
    kind: str

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0_NS)
        self.ledger: Ledger = open_ledger(self.make_url(self.kind), self.clock)

    @initialize()
    def open_accounts(self) -> None:
        self.ledger.create_accounts([Account(i, "BTC") for i in BTC_ACCOUNTS])
        self.ledger.create_accounts([Account(USD_ACCOUNT, "USD")])
        self.model = RefLedger(
            accounts={
                1: RefAccount("BTC", False, True),
                2: RefAccount("USD", False, True),
                **{i: RefAccount("BTC", True, False) for i in BTC_ACCOUNTS},
                USD_ACCOUNT: RefAccount("USD", True, False),
            },
            last_ts=self.ledger.head().timestamp_ns,
        )
        funding = [Transfer(100, 1, 10, 1_000), Transfer(101, 1, 11, 300), Transfer(102, 2, 20, 50)]
        assert self.send(funding) == ["ok"] * 3

    def send(self, batch: list[Transfer]) -> list[str]:
        got = self.ledger.create_transfers(batch)
        expected = self.model.create_transfers(batch, self.clock.now_ns())
        assert got == expected, (batch, got, expected)
        return [c.value for c in got]

    @rule(batch=st.lists(requests(), min_size=1, max_size=4))
    def transfers(self, batch: list[Transfer]) -> None:
        self.send(batch)

    @rule(seconds=st.integers(min_value=0, max_value=4))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def expire(self) -> None:
        assert self.ledger.expire_pending() == self.model.expire_pending(self.clock.now_ns())

    @invariant()
    def same_state(self) -> None:
        if not hasattr(self, "model"):
            return
        accounts = {a.id: a for a in self.ledger.accounts()}
        for account_id, ref in self.model.accounts.items():
            got = accounts[account_id]
            assert (
                got.debits_pending,
                got.debits_posted,
                got.credits_pending,
                got.credits_posted,
            ) == (
                ref.dp,
                ref.dpo,
                ref.cp,
                ref.cpo,
            ), account_id
        assert self.ledger.head().seq == self.model.rows

    @invariant()
    def verified(self) -> None:
        report = self.ledger.verify()
        assert report.ok, report.problems

    def teardown(self) -> None:
        self.ledger.close()


@pytest.mark.parametrize("kind", STORES)
def test_ledger_matches_the_reference(kind: str, new_url: UrlFactory) -> None:
    new_url(kind)  # skips here, not inside Hypothesis, when there is no PostgreSQL server
    machine = type(
        f"LedgerMachine_{kind}", (LedgerMachine,), {"make_url": staticmethod(new_url), "kind": kind}
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=60 if kind == "sqlite" else 30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
