"""Versioned schema: ordered migration steps, the same tables on SQLite and PostgreSQL.

``schema_version`` records every step applied (version, name, ledger-clock time). A ledger
opened by this code is brought up to :data:`LATEST` inside one transaction per step; a ledger
written by newer code (a higher version) is refused rather than guessed at.

An account's history needs no index on the journal: every row carries, for its debit and its
credit account, the seq of that account's previous row (0 for its first), and every account
its last seq, so an account's rows are a backward list walked by primary key. Two random
B-tree inserts per row were a quarter of the cost of a transfer; two integers are not.

Append-only is enforced in the database, not only in Python: triggers abort any UPDATE or
DELETE of journal rows, accounts, assets, token registrations, distributions and the version
table (and TRUNCATE in PostgreSQL). The one table whose rows change is ``balances``, the cache
of each account's counters and history head, and its rows are never deleted. Anyone with
owner rights can still drop a trigger: ``verify()`` compares the catalogue with the statements
below (:mod:`.guards`), the hash chains (the journal's and the registry log's, step 5) make a
rewritten row visible, and a signed checkpoint (:mod:`.checkpoint`) a re-chained one. On
PostgreSQL the service can run as a role without UPDATE or DELETE rights (:mod:`.roles`).

A step may carry a ``backfill``: Python run after its statements in the same transaction, for
rows that need hashing (step 5 registers every row already in place).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hashmarket.ledger.registry import register_existing

if TYPE_CHECKING:
    from hashmarket.ledger.store import Store


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]
    # Python run after the statements, in the same transaction (rows that need hashing).
    backfill: Callable[[Store], None] | None = None

    def statements(self, dialect: str) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgresql


APPEND_ONLY_TABLES_V1 = ("schema_version", "assets", "accounts", "journal")
APPEND_ONLY_TABLES_V2 = ("token_series", "token_holders", "token_distributions")
APPEND_ONLY_TABLES_V3 = ("settlement_contracts", "settlement_events")
APPEND_ONLY_TABLES_V5 = ("registry_log",)
APPEND_ONLY_TABLES_MARKET = ("market_log", "market_snapshots")


def _sqlite_append_only(table: str) -> tuple[str, ...]:
    return (
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'hashmarket: {table} is append-only'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'hashmarket: {table} is append-only'); END",
    )


def _pg_append_only(table: str) -> tuple[str, ...]:
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION hashmarket_append_only()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION hashmarket_append_only()",
    )


_SQLITE_V1 = (
    """CREATE TABLE schema_version (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at_ns INTEGER NOT NULL
    )""",
    """CREATE TABLE ledger_head (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        seq INTEGER NOT NULL,
        hash BLOB NOT NULL,
        timestamp_ns INTEGER NOT NULL,
        expired_through_ns INTEGER NOT NULL
    )""",
    "INSERT INTO ledger_head VALUES (1, 0, zeroblob(32), 0, 0)",
    """CREATE TABLE assets (
        code TEXT PRIMARY KEY,
        scale INTEGER NOT NULL,
        issuer_account_id INTEGER NOT NULL UNIQUE,
        timestamp_ns INTEGER NOT NULL
    )""",
    """CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        asset TEXT NOT NULL,
        flags INTEGER NOT NULL,
        code INTEGER NOT NULL,
        name TEXT UNIQUE,
        timestamp_ns INTEGER NOT NULL
    )""",
    # The four balance counters and the history head: the one table whose rows change, a
    # cache that verify() recomputes from the journal. Kept apart from the accounts so an
    # update rewrites a narrow row and touches no index.
    """CREATE TABLE balances (
        account_id INTEGER PRIMARY KEY,
        debits_pending INTEGER NOT NULL,
        debits_posted INTEGER NOT NULL,
        credits_pending INTEGER NOT NULL,
        credits_posted INTEGER NOT NULL,
        last_seq INTEGER NOT NULL
    )""",
    "CREATE INDEX accounts_asset ON accounts (asset, id)",
    """CREATE TABLE journal (
        seq INTEGER PRIMARY KEY,
        id INTEGER,
        debit_account_id INTEGER NOT NULL,
        credit_account_id INTEGER NOT NULL,
        amount INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        pending_id INTEGER,
        reverses_id INTEGER,
        timeout_s INTEGER NOT NULL,
        code INTEGER NOT NULL,
        timestamp_ns INTEGER NOT NULL,
        expires_at_ns INTEGER,
        debit_prev_seq INTEGER NOT NULL,
        credit_prev_seq INTEGER NOT NULL,
        hash BLOB NOT NULL
    )""",
    # Client ids are unique. Rows the ledger writes itself store NULL and are known by -seq,
    # which keeps a million-row distribution from feeding one more index.
    "CREATE UNIQUE INDEX journal_id ON journal (id) WHERE id IS NOT NULL",
    # At most one post, void or expiry per reservation, and one reversal per transfer: the
    # database refuses a second one even if the Python checks had a bug.
    "CREATE UNIQUE INDEX journal_resolves ON journal (pending_id) WHERE pending_id IS NOT NULL",
    "CREATE UNIQUE INDEX journal_reverses ON journal (reverses_id) WHERE reverses_id IS NOT NULL",
    "CREATE INDEX journal_expiry ON journal (expires_at_ns) WHERE expires_at_ns IS NOT NULL",
    *(s for t in APPEND_ONLY_TABLES_V1 for s in _sqlite_append_only(t)),
    "CREATE TRIGGER balances_no_delete BEFORE DELETE ON balances "
    "BEGIN SELECT RAISE(ABORT, 'hashmarket: balances are never deleted'); END",
)

_PG_V1 = (
    """CREATE FUNCTION hashmarket_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'hashmarket: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END $$""",
    """CREATE TABLE schema_version (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at_ns BIGINT NOT NULL
    )""",
    """CREATE TABLE ledger_head (
        singleton SMALLINT PRIMARY KEY CHECK (singleton = 1),
        seq BIGINT NOT NULL,
        hash BYTEA NOT NULL,
        timestamp_ns BIGINT NOT NULL,
        expired_through_ns BIGINT NOT NULL
    )""",
    "INSERT INTO ledger_head VALUES (1, 0, decode(repeat('00', 32), 'hex'), 0, 0)",
    """CREATE TABLE assets (
        code TEXT PRIMARY KEY,
        scale INTEGER NOT NULL,
        issuer_account_id BIGINT NOT NULL UNIQUE,
        timestamp_ns BIGINT NOT NULL
    )""",
    """CREATE TABLE accounts (
        id BIGINT PRIMARY KEY,
        asset TEXT NOT NULL,
        flags INTEGER NOT NULL,
        code INTEGER NOT NULL,
        name TEXT UNIQUE,
        timestamp_ns BIGINT NOT NULL
    )""",
    # The four balance counters and the history head: the one table whose rows change, a
    # cache that verify() recomputes from the journal. Kept apart from the accounts so an
    # update rewrites a narrow row and touches no index.
    """CREATE TABLE balances (
        account_id BIGINT PRIMARY KEY,
        debits_pending BIGINT NOT NULL,
        debits_posted BIGINT NOT NULL,
        credits_pending BIGINT NOT NULL,
        credits_posted BIGINT NOT NULL,
        last_seq BIGINT NOT NULL
    ) WITH (fillfactor = 50)""",
    "CREATE INDEX accounts_asset ON accounts (asset, id)",
    """CREATE TABLE journal (
        seq BIGINT PRIMARY KEY,
        id BIGINT,
        debit_account_id BIGINT NOT NULL,
        credit_account_id BIGINT NOT NULL,
        amount BIGINT NOT NULL,
        flags INTEGER NOT NULL,
        pending_id BIGINT,
        reverses_id BIGINT,
        timeout_s BIGINT NOT NULL,
        code INTEGER NOT NULL,
        timestamp_ns BIGINT NOT NULL,
        expires_at_ns BIGINT,
        debit_prev_seq BIGINT NOT NULL,
        credit_prev_seq BIGINT NOT NULL,
        hash BYTEA NOT NULL
    )""",
    "CREATE UNIQUE INDEX journal_id ON journal (id) WHERE id IS NOT NULL",
    "CREATE UNIQUE INDEX journal_resolves ON journal (pending_id) WHERE pending_id IS NOT NULL",
    "CREATE UNIQUE INDEX journal_reverses ON journal (reverses_id) WHERE reverses_id IS NOT NULL",
    "CREATE INDEX journal_expiry ON journal (expires_at_ns) WHERE expires_at_ns IS NOT NULL",
    *(s for t in APPEND_ONLY_TABLES_V1 for s in _pg_append_only(t)),
    "CREATE TRIGGER balances_no_delete BEFORE DELETE ON balances "
    "FOR EACH ROW EXECUTE FUNCTION hashmarket_append_only()",
    "CREATE TRIGGER balances_no_truncate BEFORE TRUNCATE ON balances "
    "FOR EACH STATEMENT EXECUTE FUNCTION hashmarket_append_only()",
)


def _token_tables(integer: str, blob: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE token_series (
            asset TEXT PRIMARY KEY,
            issuer_account_id {integer} NOT NULL,
            reserve_account_id {integer} NOT NULL,
            treasury_account_id {integer} NOT NULL,
            ths_per_token TEXT NOT NULL,
            efficiency_w_per_th TEXT NOT NULL,
            power_price_usd_per_kwh TEXT NOT NULL,
            service_fee_usd_per_th_day TEXT NOT NULL,
            backing_hashrate_ths TEXT NOT NULL,
            term_start TEXT NOT NULL,
            term_end TEXT NOT NULL,
            max_supply_units {integer} NOT NULL,
            timestamp_ns {integer} NOT NULL
        )""",
        f"""CREATE TABLE token_holders (
            token_account_id {integer} PRIMARY KEY,
            asset TEXT NOT NULL,
            payout_account_id {integer} NOT NULL,
            timestamp_ns {integer} NOT NULL
        )""",
        "CREATE INDEX token_holders_asset ON token_holders (asset, token_account_id)",
        f"""CREATE TABLE token_distributions (
            asset TEXT NOT NULL,
            day TEXT NOT NULL,
            hashprice_btc_per_ph_day TEXT NOT NULL,
            btc_price_usd TEXT NOT NULL,
            hashprice_fixing_sha256 TEXT NOT NULL,
            price_fixing_sha256 TEXT NOT NULL,
            uptime TEXT NOT NULL,
            cut_ns {integer} NOT NULL,
            supply_units {integer} NOT NULL,
            holder_count {integer} NOT NULL,
            gross_sats TEXT NOT NULL,
            cost_sats TEXT NOT NULL,
            pool_sats {integer} NOT NULL,
            dust_sats TEXT NOT NULL,
            shortfall_sats TEXT NOT NULL,
            first_seq {integer} NOT NULL,
            last_seq {integer} NOT NULL,
            reserves_root {blob} NOT NULL,
            reserves_total {integer} NOT NULL,
            timestamp_ns {integer} NOT NULL,
            PRIMARY KEY (asset, day)
        )""",
    )


def _settlement_tables(integer: str) -> tuple[str, ...]:
    """Bilateral contracts settled from published fixings (``ledger.settlement``).

    A contract's terms are one immutable row; its life is a log of events, each carrying the
    contract's whole settlement state after it (state, days settled through, cumulative due
    and settled amounts in minor units, the margin call's party and deadline), so the current
    state is the last event and nothing is ever updated.
    """
    return (
        f"""CREATE TABLE settlement_contracts (
            contract_id TEXT PRIMARY KEY,
            instrument_type TEXT NOT NULL,
            spec TEXT NOT NULL,
            spec_sha256 TEXT NOT NULL,
            asset TEXT NOT NULL,
            buyer_account_id {integer} NOT NULL,
            seller_account_id {integer} NOT NULL,
            escrow_account_id {integer} NOT NULL,
            notional TEXT NOT NULL,
            margin_rate TEXT NOT NULL,
            buyer_margin_minor {integer} NOT NULL,
            seller_margin_minor {integer} NOT NULL,
            grace_days {integer} NOT NULL,
            first_day TEXT NOT NULL,
            last_day TEXT NOT NULL,
            timestamp_ns {integer} NOT NULL
        )""",
        f"""CREATE TABLE settlement_events (
            contract_id TEXT NOT NULL,
            seq {integer} NOT NULL,
            kind TEXT NOT NULL,
            run_day TEXT,
            state TEXT NOT NULL,
            through_day TEXT,
            due_minor {integer} NOT NULL,
            settled_minor {integer} NOT NULL,
            amount_minor {integer} NOT NULL,
            remainder_minor TEXT NOT NULL,
            called_party TEXT,
            deadline_ns {integer},
            shortfall_minor {integer} NOT NULL,
            transfer_id {integer},
            fixings_sha256 TEXT,
            timestamp_ns {integer} NOT NULL,
            PRIMARY KEY (contract_id, seq)
        )""",
    )


def _idempotency_tables(integer: str, blob: str) -> tuple[str, ...]:
    """The HTTP service's idempotency records (``ledger.idempotency``), kept in the ledger's
    database so that every server process, and a restarted one, sees the same claims.

    Not ledger state: no journal row, no hash, not in ``state_hash``. A row is inserted when a
    request claims its key (the primary key makes the first claim win), updated once with the
    response, and deleted when the request failed with a server error (so it may be retried)
    or when its retention has passed; hence no append-only triggers here.
    """
    return (
        f"""CREATE TABLE idempotency_records (
            scope TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            request_sha256 TEXT NOT NULL,
            claim_token TEXT NOT NULL,
            claimed_at_ns {integer} NOT NULL,
            status INTEGER,
            content_type TEXT,
            body {blob},
            completed_at_ns {integer},
            PRIMARY KEY (scope, idempotency_key)
        )""",
    )


_IDEMPOTENCY_AGE = "CREATE INDEX idempotency_records_by_age ON idempotency_records (claimed_at_ns)"


def _registry_table(integer: str, blob: str) -> tuple[str, ...]:
    """The registry log (``ledger.registry``): one entry per immutable row that directs money,
    chained like the journal."""
    return (
        f"""CREATE TABLE registry_log (
            seq {integer} PRIMARY KEY,
            table_name TEXT NOT NULL,
            row_key TEXT NOT NULL,
            row_sha256 {blob} NOT NULL,
            hash {blob} NOT NULL
        )""",
    )


def _market_tables(integer: str, blob: str) -> tuple[str, ...]:
    """The exchange's sequenced command log and its engine snapshots (``hashmarket.market``).

    Each log row is one accepted command as canonical JSON with its place in a hash chain
    (``hash`` = SHA-256 of the previous hash, the seq and the command); it is written in the
    same transaction as the command's ledger effects, so the log and the ledger never
    disagree. A snapshot is the engine's state after command ``seq``, to restart from.
    """
    return (
        f"""CREATE TABLE market_log (
            seq {integer} PRIMARY KEY,
            ts_ns {integer} NOT NULL,
            command TEXT NOT NULL,
            hash {blob} NOT NULL
        )""",
        f"""CREATE TABLE market_snapshots (
            seq {integer} PRIMARY KEY,
            log_hash {blob} NOT NULL,
            state TEXT NOT NULL,
            state_sha256 TEXT NOT NULL
        )""",
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "journal, accounts, assets", _SQLITE_V1, _PG_V1),
    Migration(
        2,
        "hashrate token series, holders and distributions",
        (
            *_token_tables("INTEGER", "BLOB"),
            *(s for t in APPEND_ONLY_TABLES_V2 for s in _sqlite_append_only(t)),
        ),
        (
            *_token_tables("BIGINT", "BYTEA"),
            *(s for t in APPEND_ONLY_TABLES_V2 for s in _pg_append_only(t)),
        ),
    ),
    Migration(
        3,
        "settlement contracts and their events",
        (
            *_settlement_tables("INTEGER"),
            *(s for t in APPEND_ONLY_TABLES_V3 for s in _sqlite_append_only(t)),
        ),
        (
            *_settlement_tables("BIGINT"),
            *(s for t in APPEND_ONLY_TABLES_V3 for s in _pg_append_only(t)),
        ),
    ),
    Migration(
        4,
        "idempotency records",
        _idempotency_tables("INTEGER", "BLOB"),
        _idempotency_tables("BIGINT", "BYTEA"),
    ),
    Migration(
        5,
        "registry log of immutable rows",
        (
            *_registry_table("INTEGER", "BLOB"),
            *(s for t in APPEND_ONLY_TABLES_V5 for s in _sqlite_append_only(t)),
        ),
        (
            *_registry_table("BIGINT", "BYTEA"),
            *(s for t in APPEND_ONLY_TABLES_V5 for s in _pg_append_only(t)),
        ),
        backfill=register_existing,
    ),
    Migration(
        6,
        "the exchange's command log and snapshots",
        (
            *_market_tables("INTEGER", "BLOB"),
            *(s for t in APPEND_ONLY_TABLES_MARKET for s in _sqlite_append_only(t)),
        ),
        (
            *_market_tables("BIGINT", "BYTEA"),
            *(s for t in APPEND_ONLY_TABLES_MARKET for s in _pg_append_only(t)),
        ),
    ),
    # The service forgets a key's record after its retention (``ledger.idempotency``); this
    # index lets it find the oldest rows without reading the table.
    Migration(7, "idempotency records by age", (_IDEMPOTENCY_AGE,), (_IDEMPOTENCY_AGE,)),
)
LATEST = MIGRATIONS[-1].version
# Versions increase; a gap is allowed (a step numbered ahead of one still being written
# elsewhere) because a ledger records each step it applied and applies every higher one.
assert all(a.version < b.version for a, b in itertools.pairwise(MIGRATIONS)), "versions rise"
