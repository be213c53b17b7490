"""The ledger's behaviour, run on SQLite and on PostgreSQL (the ``ledger`` fixture)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from hashmarket.errors import AccountRefusedError, LedgerError, TransferRefusedError
from hashmarket.ledger import (
    Account,
    AccountFlags,
    Asset,
    CreateAccountResult,
    CreateAssetResult,
    CreateTransferResult,
    Ledger,
    ManualClock,
    Transfer,
    TransferFlags,
)
from hashmarket.ledger.core import open_store
from hashmarket.ledger.migrations import MIGRATIONS
from tests.conftest import BTC_ISSUER, STORES, UrlFactory, fund

R = CreateTransferResult
A = CreateAccountResult
F = TransferFlags
ALICE, BOB, CAROL, USD_ACCOUNT = 10, 11, 12, 20


def balances(ledger: Ledger, *ids: int) -> list[tuple[int, int, int, int]]:
    by_id = {a.id: a for a in ledger.lookup_accounts(list(ids))}
    return [
        (
            by_id[i].debits_pending,
            by_id[i].debits_posted,
            by_id[i].credits_pending,
            by_id[i].credits_posted,
        )
        for i in ids
    ]


def posted(ledger: Ledger, account_id: int) -> int:
    return ledger.account(account_id).balance


@pytest.fixture
def funded(ledger: Ledger) -> Ledger:
    """Alice holds 1,000 sats, Bob and Carol nothing; a USD account exists too."""
    fund(ledger, ALICE, 1_000, tid=1)
    ledger.create_accounts([Account(BOB, "BTC", name="bob"), Account(CAROL, "BTC")])
    ledger.create_account(Account(USD_ACCOUNT, "USD"))
    assert ledger.verify().ok
    return ledger


# -- assets and accounts --------------------------------------------------------------------


def test_assets_have_a_scale_and_an_issuer_whose_balance_is_minus_the_supply(funded: Ledger):
    assert [(a.code, a.scale, a.issuer_account_id) for a in funded.assets()] == [
        ("BTC", 8, BTC_ISSUER),
        ("USD", 2, 2),
    ]
    issuer = funded.account("btc-issuer")
    assert issuer.flags == AccountFlags.ISSUER | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    assert issuer.balance == -1_000
    assert funded.account(ALICE).balance == 1_000


def test_asset_creation_is_idempotent_and_refuses_conflicts(ledger: Ledger):
    assert ledger.create_asset(Asset("BTC", 8), issuer_account_id=1) is CreateAssetResult.OK
    assert (
        ledger.create_asset(Asset("BTC", 2), issuer_account_id=1)
        is CreateAssetResult.EXISTS_WITH_DIFFERENT_SCALE
    )
    assert (
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=9)
        is CreateAssetResult.EXISTS_WITH_DIFFERENT_ISSUER
    )
    assert (
        ledger.create_asset(Asset("EUR", 2), issuer_account_id=BTC_ISSUER)
        is CreateAssetResult.ISSUER_ACCOUNT_ID_ALREADY_USED
    )
    assert ledger.create_asset(Asset("eur", 2), issuer_account_id=3) is (
        CreateAssetResult.ASSET_CODE_INVALID
    )
    assert ledger.create_asset(Asset("EUR", 19), issuer_account_id=3) is (
        CreateAssetResult.SCALE_INVALID
    )
    assert [a.code for a in ledger.assets()] == ["BTC", "USD"]


@pytest.mark.parametrize(
    ("account", "code"),
    [
        (Account(0, "BTC"), A.ID_MUST_BE_POSITIVE),
        (Account(2**63, "BTC"), A.ID_MUST_BE_POSITIVE),
        (Account(True, "BTC"), A.ID_MUST_BE_POSITIVE),
        (Account(30, "BTC", flags=AccountFlags(16)), A.FLAGS_INVALID),
        (
            Account(
                30,
                "BTC",
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
                | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
            ),
            A.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
        ),
        (Account(30, "BTC", code=70_000), A.CODE_INVALID),
        (Account(30, "BTC", name="123"), A.NAME_INVALID),
        (Account(30, "BTC", name=""), A.NAME_INVALID),
        (Account(30, "XYZ"), A.ASSET_NOT_FOUND),
        (
            Account(
                30, "BTC", flags=AccountFlags.ISSUER | AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            ),
            A.ISSUER_MUST_BE_CREATED_WITH_ASSET,
        ),
        (Account(30, "BTC", flags=AccountFlags.NONE), A.NON_ISSUER_MUST_LIMIT_DEBITS),
        (Account(ALICE, "USD"), A.EXISTS_WITH_DIFFERENT_ASSET),
        (Account(ALICE, "BTC", code=7), A.EXISTS_WITH_DIFFERENT_CODE),
        (Account(BOB, "BTC"), A.EXISTS_WITH_DIFFERENT_NAME),
        (Account(31, "BTC", name="bob"), A.NAME_ALREADY_USED),
    ],
)
def test_account_refusals_have_their_own_codes_and_change_nothing(
    funded: Ledger, account: Account, code: CreateAccountResult
):
    before = funded.state_hash()
    assert funded.create_accounts([account]) == [code]
    assert funded.state_hash() == before
    with pytest.raises(AccountRefusedError) as refused:
        funded.create_account(account)
    assert refused.value.result_code == code.value


def test_account_replay_is_ok_and_names_resolve(funded: Ledger):
    assert funded.create_accounts([Account(BOB, "BTC", name="bob")]) == [A.OK]
    assert funded.account("bob").id == BOB
    assert funded.account(str(BOB)).name == "bob"
    with pytest.raises(LedgerError, match="no account 'nobody'"):
        funded.account("nobody")


# -- plain transfers, idempotency, validation -----------------------------------------------


def test_a_transfer_moves_integer_sats_between_two_accounts(funded: Ledger):
    assert funded.create_transfers([Transfer(100, ALICE, BOB, 300)]) == [R.OK]
    assert posted(funded, ALICE) == 700
    assert posted(funded, BOB) == 300
    entry = funded.lookup_transfer(100)
    assert entry is not None
    assert (entry.debit_account_id, entry.credit_account_id, entry.amount) == (ALICE, BOB, 300)
    assert funded.verify().ok


def test_replay_returns_the_original_result_and_applies_once(funded: Ledger):
    transfer = Transfer(100, ALICE, BOB, 300, code=9)
    assert funded.create_transfers([transfer]) == [R.OK]
    head = funded.head()
    assert funded.create_transfers([transfer, transfer]) == [R.OK, R.OK]
    assert funded.head() == head  # nothing written: not even a new head
    assert posted(funded, BOB) == 300


@pytest.mark.parametrize(
    ("changed", "code"),
    [
        (Transfer(100, ALICE, BOB, 301, code=9), R.EXISTS_WITH_DIFFERENT_AMOUNT),
        (Transfer(100, ALICE, CAROL, 300, code=9), R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID),
        (Transfer(100, CAROL, BOB, 300, code=9), R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID),
        (Transfer(100, ALICE, BOB, 300, code=8), R.EXISTS_WITH_DIFFERENT_CODE),
        (Transfer(100, ALICE, BOB, 300, F.PENDING, code=9), R.EXISTS_WITH_DIFFERENT_FLAGS),
    ],
)
def test_same_id_with_different_fields_is_refused_with_its_own_code(
    funded: Ledger, changed: Transfer, code: CreateTransferResult
):
    assert funded.create_transfers([Transfer(100, ALICE, BOB, 300, code=9)]) == [R.OK]
    before = funded.state_hash()
    assert funded.create_transfers([changed]) == [code]
    assert funded.state_hash() == before


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (1.0, R.AMOUNT_MUST_BE_INTEGER),
        (Decimal("1.5"), R.AMOUNT_MUST_BE_INTEGER),
        (Decimal(2), R.AMOUNT_MUST_BE_INTEGER),
        ("5", R.AMOUNT_MUST_BE_INTEGER),
        (True, R.AMOUNT_MUST_BE_INTEGER),
        (0, R.AMOUNT_MUST_BE_POSITIVE),
        (-5, R.AMOUNT_MUST_BE_POSITIVE),
        (2**63, R.AMOUNT_TOO_LARGE),
    ],
)
def test_amounts_other_than_positive_ints_are_refused_and_nothing_changes(
    funded: Ledger, amount: Any, code: CreateTransferResult
):
    before = funded.state_hash()
    assert funded.create_transfers([Transfer(100, ALICE, BOB, amount)]) == [code]
    assert funded.state_hash() == before
    with pytest.raises(TransferRefusedError) as refused:
        funded.transfer(Transfer(100, ALICE, BOB, amount))
    assert refused.value.result_code == code.value
    assert f"transfer 100 refused: {code.value}" in str(refused.value)


@pytest.mark.parametrize(
    ("transfer", "code"),
    [
        (Transfer(0, ALICE, BOB, 1), R.ID_MUST_BE_POSITIVE),
        (Transfer(-3, ALICE, BOB, 1), R.ID_MUST_BE_POSITIVE),
        (Transfer(1.0, ALICE, BOB, 1), R.ID_MUST_BE_POSITIVE),  # type: ignore[arg-type]
        (Transfer(100, ALICE, BOB, 1, F.EXPIRY), R.FLAGS_INVALID),
        (Transfer(100, ALICE, BOB, 1, F(128)), R.FLAGS_INVALID),
        (Transfer(100, ALICE, BOB, 1, F.PENDING | F.REVERSAL), R.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
        (Transfer(100, 0, BOB, 1), R.DEBIT_ACCOUNT_ID_INVALID),
        (Transfer(100, ALICE, -1, 1), R.CREDIT_ACCOUNT_ID_INVALID),
        (Transfer(100, ALICE, ALICE, 1), R.ACCOUNTS_MUST_BE_DIFFERENT),
        (Transfer(100, ALICE, BOB, 1, pending_id=5), R.PENDING_ID_MUST_BE_ZERO),
        (Transfer(100, flags=F.POST_PENDING), R.PENDING_ID_REQUIRED),
        (Transfer(100, flags=F.VOID_PENDING, pending_id=100), R.PENDING_ID_MUST_BE_DIFFERENT),
        (Transfer(100, ALICE, BOB, 1, reverses_id=5), R.REVERSES_ID_MUST_BE_ZERO),
        (Transfer(100, flags=F.REVERSAL), R.REVERSES_ID_REQUIRED),
        (Transfer(100, ALICE, BOB, 1, timeout_s=-1), R.TIMEOUT_INVALID),
        (Transfer(100, ALICE, BOB, 1, timeout_s=5), R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
        (Transfer(100, ALICE, BOB, 1, code=65_536), R.CODE_INVALID),
        (Transfer(100, 999, BOB, 1), R.DEBIT_ACCOUNT_NOT_FOUND),
        (Transfer(100, ALICE, 999, 1), R.CREDIT_ACCOUNT_NOT_FOUND),
        (Transfer(100, ALICE, USD_ACCOUNT, 1), R.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET),
        (Transfer(100, ALICE, BOB, 1_001), R.EXCEEDS_CREDITS),
        (Transfer(100, BOB, ALICE, 1), R.EXCEEDS_CREDITS),
    ],
)
def test_refusals_in_precedence_order(
    funded: Ledger, transfer: Transfer, code: CreateTransferResult
):
    before = funded.state_hash()
    assert funded.create_transfers([transfer]) == [code]
    assert funded.state_hash() == before


def test_precedence_picks_the_first_listed_problem(funded: Ledger):
    # Bad id, bad flags, same accounts and a float amount: the id is reported.
    assert funded.create_transfers([Transfer(0, ALICE, ALICE, 1.5, F(128))]) == [  # type: ignore[arg-type]
        R.ID_MUST_BE_POSITIVE
    ]
    assert funded.create_transfers([Transfer(7, ALICE, ALICE, 1.5)]) == [  # type: ignore[arg-type]
        R.ACCOUNTS_MUST_BE_DIFFERENT
    ]


def test_exceeds_credits_exactly_at_the_limit(funded: Ledger):
    assert funded.create_transfers([Transfer(100, ALICE, BOB, 1_001)]) == [R.EXCEEDS_CREDITS]
    assert funded.create_transfers([Transfer(101, ALICE, BOB, 1_000)]) == [R.OK]
    assert posted(funded, ALICE) == 0
    assert funded.create_transfers([Transfer(102, ALICE, BOB, 1)]) == [R.EXCEEDS_CREDITS]


def test_counters_cannot_pass_64_bits(ledger: Ledger):
    big = 2**63 - 1
    fund(ledger, ALICE, big, tid=1)  # the whole 64-bit supply
    ledger.create_account(Account(BOB, "BTC"))
    assert ledger.create_transfers([Transfer(2, BTC_ISSUER, BOB, 1)]) == [R.OVERFLOWS_DEBITS_POSTED]
    assert ledger.create_transfers([Transfer(3, ALICE, BOB, big)]) == [R.OK]
    # Counters are cumulative: Alice has been credited 2**63 - 1 already.
    assert ledger.create_transfers([Transfer(4, BOB, ALICE, 1)]) == [R.OVERFLOWS_CREDITS_POSTED]
    assert ledger.create_transfers([Transfer(5, BOB, ALICE, 1, F.PENDING)]) == [R.OVERFLOWS_CREDITS]
    assert ledger.verify().ok


def test_independent_transfers_in_a_batch_succeed_or_fail_alone(funded: Ledger):
    codes = funded.create_transfers(
        [
            Transfer(100, ALICE, BOB, 600),
            Transfer(101, ALICE, BOB, 600),  # only 400 left
            Transfer(102, ALICE, CAROL, 400),
        ]
    )
    assert codes == [R.OK, R.EXCEEDS_CREDITS, R.OK]
    assert balances(funded, ALICE, BOB, CAROL) == [
        (0, 1000, 0, 1000),
        (0, 0, 0, 600),
        (0, 0, 0, 400),
    ]


# -- linked chains --------------------------------------------------------------------------


def test_linked_chain_applies_entirely_or_not_at_all(funded: Ledger):
    before = funded.state_hash()
    chain = [
        Transfer(100, ALICE, BOB, 500, F.LINKED),
        Transfer(101, BOB, CAROL, 400, F.LINKED),
        Transfer(102, CAROL, ALICE, 401),  # Carol has only 400: the third fails
    ]
    assert funded.create_transfers(chain) == [
        R.LINKED_EVENT_FAILED,
        R.LINKED_EVENT_FAILED,
        R.EXCEEDS_CREDITS,
    ]
    assert funded.state_hash() == before
    assert funded.lookup_transfer(100) is None
    fixed = [*chain[:2], Transfer(102, CAROL, ALICE, 400)]
    assert funded.create_transfers(fixed) == [R.OK, R.OK, R.OK]
    assert balances(funded, ALICE, BOB, CAROL) == [
        (0, 500, 0, 1400),
        (0, 400, 0, 500),
        (0, 400, 0, 400),
    ]


def test_a_failing_chain_does_not_touch_the_transfers_around_it(funded: Ledger):
    codes = funded.create_transfers(
        [
            Transfer(100, ALICE, BOB, 10),
            Transfer(101, ALICE, BOB, 10, F.LINKED),
            Transfer(102, BOB, CAROL, 10_000),
            Transfer(103, ALICE, CAROL, 10),
        ]
    )
    assert codes == [R.OK, R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS, R.OK]
    assert balances(funded, BOB, CAROL) == [(0, 0, 0, 10), (0, 0, 0, 10)]


def test_a_chain_left_open_at_the_end_of_the_batch_is_refused(funded: Ledger):
    codes = funded.create_transfers(
        [Transfer(100, ALICE, BOB, 1), Transfer(101, ALICE, BOB, 1, F.LINKED)]
    )
    assert codes == [R.OK, R.LINKED_EVENT_CHAIN_OPEN]
    assert posted(funded, BOB) == 1


def test_a_failed_chain_undoes_a_pending_it_posted(funded: Ledger):
    assert funded.create_transfers([Transfer(100, ALICE, BOB, 300, F.PENDING)]) == [R.OK]
    codes = funded.create_transfers(
        [
            Transfer(101, flags=F.POST_PENDING | F.LINKED, pending_id=100),
            Transfer(102, flags=F.REVERSAL | F.LINKED, reverses_id=1),  # issuer has no credits
            Transfer(103, BOB, CAROL, 1),
        ]
    )
    assert codes[0] is R.LINKED_EVENT_FAILED
    assert codes[1] is R.EXCEEDS_CREDITS  # reversing 1 debits Alice's 700 available < 1000
    # The reservation is still open and can be posted.
    assert funded.create_transfers([Transfer(104, flags=F.POST_PENDING, pending_id=100)]) == [R.OK]
    assert posted(funded, BOB) == 300


# -- two-phase transfers --------------------------------------------------------------------


def test_pending_reserves_and_limits_are_checked_at_reservation(funded: Ledger):
    assert funded.create_transfers([Transfer(100, ALICE, BOB, 800, F.PENDING)]) == [R.OK]
    assert balances(funded, ALICE, BOB) == [(800, 0, 0, 1000), (0, 0, 800, 0)]
    assert funded.account(ALICE).available == 200
    # The reservation counts against the limit: 201 more would overdraw.
    assert funded.create_transfers([Transfer(101, ALICE, CAROL, 201)]) == [R.EXCEEDS_CREDITS]
    assert funded.create_transfers([Transfer(102, ALICE, CAROL, 200, F.PENDING)]) == [R.OK]
    assert funded.verify().ok


def test_post_in_full_with_amount_zero(funded: Ledger):
    funded.transfer(Transfer(100, ALICE, BOB, 800, F.PENDING))
    assert funded.create_transfers([Transfer(101, flags=F.POST_PENDING, pending_id=100)]) == [R.OK]
    assert balances(funded, ALICE, BOB) == [(0, 800, 0, 1000), (0, 0, 0, 800)]
    entry = funded.lookup_transfer(101)
    assert entry is not None
    assert (entry.debit_account_id, entry.credit_account_id, entry.amount) == (ALICE, BOB, 800)


def test_partial_post_releases_the_rest_and_resolves_once(funded: Ledger):
    funded.transfer(Transfer(100, ALICE, BOB, 800, F.PENDING))
    assert funded.create_transfers(
        [Transfer(101, ALICE, BOB, 801, F.POST_PENDING, pending_id=100)]
    ) == [R.EXCEEDS_PENDING_TRANSFER_AMOUNT]
    assert funded.create_transfers(
        [Transfer(101, ALICE, CAROL, 300, F.POST_PENDING, pending_id=100)]
    ) == [R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID]
    assert funded.create_transfers(
        [Transfer(101, ALICE, BOB, 300, F.POST_PENDING, pending_id=100)]
    ) == [R.OK]
    assert balances(funded, ALICE, BOB) == [(0, 300, 0, 1000), (0, 0, 0, 300)]
    assert funded.create_transfers([Transfer(102, flags=F.POST_PENDING, pending_id=100)]) == [
        R.PENDING_TRANSFER_ALREADY_POSTED
    ]
    assert funded.create_transfers([Transfer(103, flags=F.VOID_PENDING, pending_id=100)]) == [
        R.PENDING_TRANSFER_ALREADY_POSTED
    ]
    # A replay of the post is still ok, and its wildcard form matches what was filled in.
    assert funded.create_transfers([Transfer(101, 0, 0, 300, F.POST_PENDING, pending_id=100)]) == [
        R.OK
    ]


def test_void_restores_and_resolves_once(funded: Ledger):
    funded.transfer(Transfer(100, ALICE, BOB, 800, F.PENDING))
    assert funded.create_transfers(
        [Transfer(101, amount=5, flags=F.VOID_PENDING, pending_id=100)]
    ) == [R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT]
    assert funded.create_transfers([Transfer(101, flags=F.VOID_PENDING, pending_id=100)]) == [R.OK]
    assert balances(funded, ALICE, BOB) == [(0, 0, 0, 1000), (0, 0, 0, 0)]
    assert funded.create_transfers([Transfer(102, flags=F.VOID_PENDING, pending_id=100)]) == [
        R.PENDING_TRANSFER_ALREADY_VOIDED
    ]
    assert funded.create_transfers([Transfer(103, flags=F.POST_PENDING, pending_id=1)]) == [
        R.PENDING_TRANSFER_NOT_PENDING
    ]
    assert funded.create_transfers([Transfer(104, flags=F.POST_PENDING, pending_id=999)]) == [
        R.PENDING_TRANSFER_NOT_FOUND
    ]


def test_pending_expires_on_the_ledger_clock(funded: Ledger, clock: ManualClock):
    funded.transfer(Transfer(100, ALICE, BOB, 800, F.PENDING, timeout_s=60))
    entry = funded.lookup_transfer(100)
    assert entry is not None
    deadline_ns = entry.timestamp_ns + 60 * 10**9
    clock.set(deadline_ns - 1)
    assert funded.expire_pending() == 0
    assert funded.account(ALICE).debits_pending == 800
    clock.set(deadline_ns)
    # The next write expires it first, so the post is refused as expired.
    assert funded.create_transfers([Transfer(101, flags=F.POST_PENDING, pending_id=100)]) == [
        R.PENDING_TRANSFER_EXPIRED
    ]
    # A refused write rolls back entirely, the expiry included; an explicit sweep keeps it.
    assert funded.account(ALICE).debits_pending == 800
    assert funded.expire_pending() == 1
    assert balances(funded, ALICE, BOB) == [(0, 0, 0, 1000), (0, 0, 0, 0)]
    expiry = funded.history(ALICE, limit=1)[0]
    assert expiry.kind == "expiry"
    assert (expiry.id, expiry.pending_id, expiry.amount) == (-expiry.seq, 100, 800)
    assert funded.expire_pending() == 0
    assert funded.verify().ok


def test_expiry_is_journaled_by_the_next_successful_write(funded: Ledger, clock: ManualClock):
    funded.transfer(Transfer(100, ALICE, BOB, 800, F.PENDING, timeout_s=10))
    clock.advance(3600)
    assert funded.create_transfers([Transfer(101, ALICE, CAROL, 1_000)]) == [R.OK]
    assert posted(funded, CAROL) == 1_000
    kinds = [e.kind for e in funded.history(ALICE, limit=3)]
    assert kinds == ["transfer", "expiry", "pending"]


def test_timeout_overflowing_the_clock_is_refused(funded: Ledger):
    assert funded.create_transfers(
        [Transfer(100, ALICE, BOB, 1, F.PENDING, timeout_s=(2**63 - 1) // 10**9)]
    ) == [R.OVERFLOWS_TIMEOUT]


# -- corrections ----------------------------------------------------------------------------


def test_reversal_restores_balances_and_happens_once(funded: Ledger):
    funded.transfer(Transfer(100, ALICE, BOB, 300))
    before = balances(funded, ALICE, BOB)
    assert funded.create_transfers([Transfer(101, flags=F.REVERSAL, reverses_id=100)]) == [R.OK]
    assert balances(funded, ALICE, BOB) == [(0, 300, 0, 1300), (0, 300, 0, 300)]
    assert posted(funded, ALICE) == 1000 and before[0][3] - before[0][1] == 700
    assert funded.create_transfers([Transfer(102, flags=F.REVERSAL, reverses_id=100)]) == [
        R.TRANSFER_ALREADY_REVERSED
    ]
    # Replaying the reversal itself is fine.
    assert funded.create_transfers([Transfer(101, flags=F.REVERSAL, reverses_id=100)]) == [R.OK]
    entry = funded.lookup_transfer(101)
    assert entry is not None and entry.reverses_id == 100 and entry.kind == "reversal"
    assert funded.verify().ok


def test_reversal_rules(funded: Ledger):
    funded.transfer(Transfer(100, ALICE, BOB, 300))
    funded.transfer(Transfer(101, ALICE, BOB, 10, F.PENDING))
    cases = [
        (Transfer(102, flags=F.REVERSAL, reverses_id=999), R.REVERSED_TRANSFER_NOT_FOUND),
        (Transfer(102, flags=F.REVERSAL, reverses_id=101), R.TRANSFER_NOT_REVERSIBLE),
        (Transfer(102, ALICE, BOB, 0, F.REVERSAL, reverses_id=100), R.REVERSAL_MUST_SWAP_ACCOUNTS),
        (
            Transfer(102, BOB, ALICE, 299, F.REVERSAL, reverses_id=100),
            R.REVERSAL_HAS_DIFFERENT_AMOUNT,
        ),
    ]
    for transfer, code in cases:
        assert funded.create_transfers([transfer]) == [code], transfer
    funded.transfer(Transfer(103, BOB, CAROL, 300))  # Bob spent it: the reversal cannot debit
    assert funded.create_transfers([Transfer(104, flags=F.REVERSAL, reverses_id=100)]) == [
        R.EXCEEDS_CREDITS
    ]


# -- append-only, hash chain and verify -----------------------------------------------------


def _raw(ledger: Ledger, sql: str) -> None:
    """Run SQL around the ledger's rules, the way a careless operator might."""
    store = ledger._store
    store.begin_write()
    try:
        store.execute(sql)
        store.commit()
    except BaseException:
        store.rollback()
        raise


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE journal SET amount = 1 WHERE seq = 1",
        "DELETE FROM journal WHERE seq = 1",
        "UPDATE accounts SET asset = 'USD' WHERE id = 10",
        "UPDATE accounts SET flags = 0 WHERE id = 10",
        "DELETE FROM accounts WHERE id = 10",
        "DELETE FROM balances WHERE account_id = 10",
        "UPDATE assets SET scale = 2 WHERE code = 'BTC'",
        "DELETE FROM schema_version",
    ],
)
def test_the_database_refuses_to_rewrite_history(funded: Ledger, sql: str):
    before = funded.state_hash()
    with pytest.raises(Exception, match="hashmarket: "):
        _raw(funded, sql)
    assert funded.state_hash() == before
    assert funded.verify().ok


def test_postgresql_refuses_truncate(funded: Ledger):
    if funded.dialect != "postgresql":
        pytest.skip("TRUNCATE is a PostgreSQL statement")
    with pytest.raises(Exception, match="append-only"):
        _raw(funded, "TRUNCATE journal")


def _disable_guards(ledger: Ledger) -> None:
    if ledger.dialect == "sqlite":
        _raw(ledger, "DROP TRIGGER journal_no_update")
    else:
        _raw(ledger, "ALTER TABLE journal DISABLE TRIGGER USER")


def test_verify_finds_a_rewritten_amount(funded: Ledger):
    funded.transfer(Transfer(100, ALICE, BOB, 300))
    _disable_guards(funded)
    _raw(funded, "UPDATE journal SET amount = 30 WHERE id = 100")
    report = funded.verify()
    assert not report.ok
    assert any("hash does not chain" in p for p in report.problems)
    assert any("differ from the journal's fold" in p for p in report.problems)
    with pytest.raises(LedgerError, match="ledger invariant broken"):
        report.raise_if_broken()


def test_verify_finds_a_cached_balance_that_is_not_the_fold(funded: Ledger):
    _raw(funded, "UPDATE balances SET credits_posted = credits_posted + 5 WHERE account_id = 10")
    report = funded.verify()
    assert not report.ok
    assert "account 10: cached balances [0, 0, 0, 1005] differ" in report.problems[0]
    assert any("asset BTC: balances sum to 5 posted" in p for p in report.problems)


def test_verify_finds_a_broken_history_pointer(funded: Ledger):
    funded.transfer(Transfer(100, ALICE, BOB, 300))
    _raw(funded, "UPDATE balances SET last_seq = 1 WHERE account_id = 11")
    report = funded.verify()
    assert report.problems == ("account 11: last_seq 1 is not its newest row",)


def test_verify_finds_a_broken_limit(funded: Ledger):
    _raw(funded, "UPDATE balances SET debits_posted = 2000 WHERE account_id = 10")
    report = funded.verify()
    assert any("debits exceed credits" in p for p in report.problems)


def test_verify_report_on_a_healthy_ledger(funded: Ledger):
    assert (
        funded.create_transfers(
            [
                Transfer(100, ALICE, BOB, 300),
                Transfer(101, BOB, CAROL, 100, F.PENDING),
                Transfer(102, flags=F.POST_PENDING, pending_id=101, amount=60),
                Transfer(103, ALICE, CAROL, 50),
                Transfer(104, flags=F.REVERSAL, reverses_id=103),
            ]
        )
        == [R.OK] * 5
    )
    report = funded.verify()
    assert report.ok, report.problems
    assert (report.entries, report.accounts, report.assets, report.head_seq) == (6, 6, 2, 6)
    assert report.head_hash == funded.head().hash.hex()


# -- reading --------------------------------------------------------------------------------


def test_history_is_newest_first_and_pages_by_seq(funded: Ledger):
    for i in range(5):
        funded.transfer(Transfer(100 + i, ALICE, BOB, 10 + i))
    recent = funded.history(BOB, limit=2)
    assert [e.id for e in recent] == [104, 103]
    older = funded.history(BOB, limit=10, before_seq=recent[-1].seq)
    assert [e.id for e in older] == [102, 101, 100]
    assert [e.id for e in funded.history(ALICE, limit=10)] == [104, 103, 102, 101, 100, 1]
    seqs = [e.seq for e in funded.journal()]
    assert seqs == list(range(1, 7))


def test_two_ledger_objects_on_one_database_see_each_others_writes(funded: Ledger, ledger_url: str):
    other = Ledger.open(ledger_url, clock=ManualClock(funded.clock.now_ns()))
    try:
        funded.transfer(Transfer(100, ALICE, BOB, 600))  # warms funded's account cache
        other.transfer(Transfer(101, ALICE, CAROL, 400))
        # funded's cached Alice (400 left) is stale: the head moved, so it must re-read.
        assert funded.create_transfers([Transfer(102, ALICE, BOB, 1)]) == [R.EXCEEDS_CREDITS]
        assert funded.create_transfers([Transfer(103, BOB, ALICE, 5)]) == [R.OK]
        assert other.account(ALICE).balance == 5
        assert funded.verify().ok
    finally:
        other.close()


# -- opening --------------------------------------------------------------------------------


def test_opening_a_missing_ledger_is_refused(new_url):
    url = new_url("sqlite")
    with pytest.raises(LedgerError, match="no ledger at"):
        Ledger.open(url)


def test_schema_version_is_recorded_and_newer_schemas_are_refused(funded: Ledger, ledger_url: str):
    with funded.snapshot() as store:
        versions = store.query("SELECT version, name FROM schema_version ORDER BY version")
    assert [v for v, _ in versions] == [m.version for m in MIGRATIONS]
    store = funded._store
    store.begin_write()
    store.execute("INSERT INTO schema_version VALUES (99, 'from the future', 0)")
    store.commit()
    with pytest.raises(LedgerError, match="schema version 99"):
        Ledger.open(ledger_url)


@pytest.mark.parametrize("kind", STORES)
def test_an_older_schema_is_migrated_step_by_step(kind: str, new_url: UrlFactory):
    url = new_url(kind)
    store = open_store(url, create=True)
    store.begin_migration()
    for statement in MIGRATIONS[0].statements(store.dialect):  # a ledger at version 1
        store.execute(statement)
    store.execute("INSERT INTO schema_version VALUES (1, 'journal, accounts, assets', 0)")
    store.commit()
    store.close()
    with Ledger.open(url) as ledger, ledger.snapshot() as snapshot:
        versions = [v for (v,) in snapshot.query("SELECT version FROM schema_version")]
        assert sorted(versions) == [m.version for m in MIGRATIONS]
        assert snapshot.has_table("token_series")


def test_bad_urls_are_refused():
    for url in ("mysql://x", "sqlite://relative", "postgresql://h/db?schema=a;b"):
        with pytest.raises(LedgerError, match="is not a ledger URL"):
            Ledger.open(url)
