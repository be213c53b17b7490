"""Tampering by direct SQL that ``verify()`` must catch, on SQLite and PostgreSQL.

Each test changes the database behind the ledger's back the way an operator with the
database's password could (guards dropped first where they would refuse), then checks that
``verify()`` fails and says what and where.
"""

from __future__ import annotations

import pytest

from hashmarket.errors import LedgerError
from hashmarket.ledger import Account, Asset, Ledger, ManualClock, Transfer, registry, token_store
from hashmarket.ledger.core import open_store
from hashmarket.ledger.migrations import MIGRATIONS
from hashmarket.ledger.verify import state_hash
from tests.conftest import STORES, T0_NS, UrlFactory, fund, open_ledger, open_token_ledger
from tests.integration.test_ledger_state_hash import workload

ALICE, BOB = 10, 11


def raw(ledger: Ledger, *statements: str) -> None:
    """Run SQL in one write transaction, as someone with the database's password would."""
    store = ledger._store
    store.begin_write()
    try:
        for sql in statements:
            store.execute(sql)
        store.commit()
    except BaseException:
        store.rollback()
        raise


def drop_guards(ledger: Ledger, table: str) -> None:
    if ledger.dialect == "sqlite":
        raw(ledger, f"DROP TRIGGER {table}_no_update", f"DROP TRIGGER {table}_no_delete")
    else:
        raw(ledger, f"ALTER TABLE {table} DISABLE TRIGGER USER")


@pytest.fixture
def funded(ledger: Ledger) -> Ledger:
    fund(ledger, ALICE, 1_000, tid=1)
    ledger.create_account(Account(BOB, "BTC"))
    assert ledger.verify().ok
    return ledger


def test_a_removed_no_overdraft_flag_and_the_overdraft_are_caught(funded: Ledger):
    drop_guards(funded, "accounts")
    raw(funded, f"UPDATE accounts SET flags = 0 WHERE id = {ALICE}")
    # A process that opens the ledger now lets Alice go a billion sats below zero: the rule
    # it checks is the tampered row's.
    with Ledger.open(funded._store.url.original, clock=ManualClock(T0_NS)) as other:
        other.transfer(Transfer(2, ALICE, BOB, 10**9))
    assert funded.account(ALICE).balance == 1_000 - 10**9
    report = funded.verify()
    assert not report.ok
    assert (
        "accounts 10: row differs from the one logged at registry seq 5 (changed after it was "
        "written)" in report.problems
    )
    # The rule itself is checked too: only an issuer may go below zero.
    assert (
        "account 10: no DEBITS_MUST_NOT_EXCEED_CREDITS flag, which every account but an issuer "
        "carries" in report.problems
    )
    assert (
        "journal seq 2 (id 2): account 10: debits exceed credits on a "
        "DEBITS_MUST_NOT_EXCEED_CREDITS account" in report.problems
    ), report.problems
    with pytest.raises(LedgerError, match="ledger invariant broken: account 10: no DEBITS"):
        report.raise_if_broken()


@pytest.mark.parametrize(
    ("column", "value"), [("asset", "'USD'"), ("code", "7"), ("name", "'mallory'")]
)
def test_other_immutable_account_fields_are_covered(funded: Ledger, column: str, value: str):
    drop_guards(funded, "accounts")
    raw(funded, f"UPDATE accounts SET {column} = {value} WHERE id = {BOB}")
    problems = funded.verify().problems
    assert any(p.startswith("accounts 11: row differs") for p in problems), problems


def test_an_asset_with_another_issuer_is_caught(funded: Ledger):
    drop_guards(funded, "assets")
    raw(funded, "UPDATE assets SET scale = 2 WHERE code = 'BTC'")
    assert any(p.startswith("assets BTC: row differs") for p in funded.verify().problems)


def test_an_account_inserted_by_sql_is_caught(funded: Ledger):
    raw(
        funded,
        "INSERT INTO accounts VALUES (99, 'BTC', 1, 0, NULL, 1)",
        "INSERT INTO balances VALUES (99, 0, 0, 0, 0, 0)",
    )
    problems = funded.verify().problems
    assert problems == ("accounts 99: row is not in the registry log (written by direct SQL)",), (
        problems
    )


@pytest.mark.parametrize("kind", STORES)
def test_a_redirected_payout_account_is_caught(kind: str, new_url: UrlFactory):
    with open_token_ledger(new_url(kind)) as ledger:
        _redirect_and_verify(ledger)


def _redirect_and_verify(ledger: Ledger) -> None:
    assert ledger.verify().ok
    ledger.create_account(Account(666, "BTC"))
    drop_guards(ledger, "token_holders")
    raw(ledger, "UPDATE token_holders SET payout_account_id = 666 WHERE token_account_id = 201")
    with ledger.snapshot() as store:  # payouts would now go to 666
        assert token_store.holder_registration(store, 201) == ("HT1", 666)
    report = ledger.verify()
    assert not report.ok
    assert report.problems == (
        "token_holders 201: row differs from the one logged at registry seq 13 (changed after "
        "it was written)",
        *report.problems[1:],
    )


def test_a_rewritten_series_treasury_is_caught(new_url: UrlFactory):
    with open_token_ledger(new_url("sqlite")) as ledger:
        drop_guards(ledger, "token_series")
        raw(ledger, "UPDATE token_series SET treasury_account_id = 301")
        assert any(p.startswith("token_series HT1: row differs") for p in ledger.verify().problems)


def test_a_rewritten_registry_log_breaks_its_chain(funded: Ledger):
    drop_guards(funded, "registry_log")
    drop_guards(funded, "accounts")
    raw(funded, f"UPDATE accounts SET flags = 0 WHERE id = {ALICE}")
    # Recompute the row's digest but not the chain: the entry no longer links.
    with funded.snapshot() as store:
        row = store.query(f"SELECT * FROM accounts WHERE id = {ALICE}")[0]
    digest = registry.row_digest(row).hex()
    sql = (
        f"UPDATE registry_log SET row_sha256 = X'{digest}' WHERE row_key = '{ALICE}'"
        if funded.dialect == "sqlite"
        else f"UPDATE registry_log SET row_sha256 = '\\x{digest}' WHERE row_key = '{ALICE}'"
    )
    raw(funded, sql)
    problems = funded.verify().problems
    assert "registry seq 5 (accounts 10): hash does not chain" in problems, problems


# -- the schema's guards ----------------------------------------------------------------------


def test_dropped_append_only_triggers_are_caught(funded: Ledger):
    if funded.dialect == "sqlite":
        raw(funded, "DROP TRIGGER journal_no_update", "DROP TRIGGER journal_no_delete")
        expected = {
            "schema: trigger journal_no_update is missing",
            "schema: trigger journal_no_delete is missing",
        }
    else:
        raw(funded, "DROP TRIGGER journal_append_only ON journal")
        expected = {"schema: trigger journal_append_only on journal is missing"}
    report = funded.verify()
    assert set(report.problems) == expected


def test_a_disabled_or_defused_trigger_is_caught(funded: Ledger):
    if funded.dialect == "sqlite":
        # Same name, does nothing: the stored statement is not the migration's.
        raw(
            funded,
            "DROP TRIGGER accounts_no_update",
            "CREATE TRIGGER accounts_no_update BEFORE UPDATE ON accounts BEGIN SELECT 1; END",
        )
        expected = ("schema: trigger accounts_no_update is not the one the migrations created",)
    else:
        raw(funded, "ALTER TABLE accounts DISABLE TRIGGER accounts_append_only")
        expected = ("schema: trigger accounts_append_only on accounts is disabled",)
    assert funded.verify().problems == expected


@pytest.mark.postgresql
def test_a_guard_function_that_no_longer_raises_is_caught(new_url: UrlFactory):
    with Ledger.open(new_url("postgresql"), create=True) as ledger:
        raw(
            ledger,
            "CREATE OR REPLACE FUNCTION hashmarket_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        )
        problems = ledger.verify().problems
    assert (
        "schema: trigger journal_append_only does not call hashmarket_append_only() as created"
        in problems
    )


def test_dropped_constraints_are_caught(funded: Ledger):
    raw(funded, "DROP INDEX journal_resolves")
    if funded.dialect == "sqlite":
        expected = ("schema: index journal_resolves is missing",)
    else:
        expected = ("schema: index journal_resolves on journal is missing or invalid",)
    assert funded.verify().problems == expected


@pytest.mark.postgresql
def test_postgresql_constraints_are_checked(new_url: UrlFactory):
    with Ledger.open(new_url("postgresql"), create=True) as ledger:
        raw(
            ledger,
            "ALTER TABLE ledger_head DROP CONSTRAINT ledger_head_singleton_check",
            "ALTER TABLE balances ALTER COLUMN last_seq DROP NOT NULL",
            "ALTER TABLE journal DROP CONSTRAINT journal_pkey",
        )
        problems = set(ledger.verify().problems)
    assert problems == {
        "schema: the CHECK constraint of ledger_head is missing",
        "schema: balances.last_seq is no longer NOT NULL",
        "schema: the primary key of journal is missing",
    }


# -- ledgers written before the registry log --------------------------------------------------


@pytest.mark.parametrize("kind", STORES)
def test_a_ledger_from_before_the_registry_log_migrates_verifies_and_keeps_its_hash(
    kind: str, new_url: UrlFactory
):
    url = new_url(kind)
    store = open_store(url, create=True)
    store.begin_migration()
    for step in MIGRATIONS:
        if step.version <= 3:  # the schema as released before the log
            store.apply_migration(step.version, step.name, step.statements(kind), now_ns=0)
    store.commit()
    clock = ManualClock(T0_NS)
    old = Ledger(store, clock=clock)
    old.create_asset(Asset("BTC", 8), issuer_account_id=1)
    old.create_asset(Asset("USD", 2), issuer_account_id=2)
    workload(old, clock, seed=7)
    with old.snapshot() as snapshot:
        assert not snapshot.has_table("registry_log")
        before = state_hash(snapshot)
    old.close()

    with Ledger.open(url, clock=clock) as migrated:
        report = migrated.verify()
        assert report.ok, report.problems
        assert migrated.state_hash() == before
        # From the migration on, the old rows are covered like new ones.
        drop_guards(migrated, "accounts")
        raw(migrated, "UPDATE accounts SET flags = 0 WHERE id = 10")
        assert any(p.startswith("accounts 10: row differs") for p in migrated.verify().problems)


def test_the_seeded_workload_keeps_the_state_hash_it_had_before_the_registry_log(
    new_url: UrlFactory,
):
    """The registry log is outside the state hash: the hash of the seed-7 workload is the one
    the ledger gave before the log existed."""
    from tests.integration.test_ledger_state_hash import run

    state, _ = run(new_url("sqlite"), seed=7)
    assert state == "ab811dbb2c13be7b4f86558fa7fb7afe2d15b9e7973846aa1b000bdc9ba18db6"


def test_a_settlement_contract_paying_someone_else_is_caught(ledger: Ledger):
    from tests.integration.test_settlement import forward, open_usd, usd_parties

    usd_parties(ledger)
    open_usd(ledger, forward(90.0))
    assert ledger.verify().ok
    drop_guards(ledger, "settlement_contracts")
    raw(ledger, "UPDATE settlement_contracts SET buyer_account_id = 2 WHERE contract_id = 'K1'")
    problems = ledger.verify().problems
    assert any(p.startswith("settlement_contracts K1: row differs") for p in problems), problems


@pytest.mark.postgresql
def test_the_registry_log_is_the_same_on_both_stores(new_url: UrlFactory):
    """Same history, same registry head: a checkpoint's registry hash does not depend on the
    database."""
    tips = []
    for kind in ("sqlite", "postgresql"):
        clock = ManualClock(T0_NS)
        with open_ledger(new_url(kind), clock) as ledger:
            workload(ledger, clock, seed=7)
            with ledger.snapshot() as store:
                tips.append(store.registry_tip())
    assert tips[0] == tips[1]
    # BTC, USD and their issuers; 35 accounts; HT1, its issuer and reserve accounts and its
    # series; 8 token accounts and their 8 holder rows; 2 paid days.
    assert tips[0][0] == 4 + 35 + 4 + 16 + 2
