"""Invariants checked, not hoped for: ``verify()`` and ``state_hash()``.

``verify`` replays the whole journal in one pass over one snapshot and checks:

* the hash chain: every row's hash is SHA-256(previous ‖ body), sequence numbers run 1, 2, 3…
  without gaps, timestamps strictly increase, and the head commits to the last row;
* the rules, row by row: accounts exist and share the row's asset; a post, void or expiry
  resolves an earlier, unresolved reservation on the same accounts, once, a post for no more
  than was reserved, an expiry no earlier than its deadline; a reversal reverses an earlier
  posted movement, once, with the accounts swapped and the same amount;
* no limit broken after any row (``DEBITS_MUST_NOT_EXCEED_CREDITS`` and its mirror, counters
  within 0 … 2**63 - 1) — limits hold at every step, not only at the end;
* the cached balances equal the fold of the journal, account by account, and every row's
  history pointers name each account's previous row (and ``last_seq`` its newest);
* per asset, the posted balances and the pending balances each sum to zero, and only the
  asset's issuer carries the ``ISSUER`` flag;
* every paid token distribution day: its journal rows are payouts from the series' treasury
  that add up to the day's pool;
* the registry log (:mod:`.registry`) chains, and the rows that direct money — assets,
  accounts (flags, asset, code, name), token series and holders (payout accounts),
  distributions, settlement contracts and events — are exactly the rows it logged;
* the schema's guards (append-only triggers, keys, constraints) are the ones the migrations
  created (:mod:`.guards`).

A signed checkpoint (:mod:`.checkpoint`) adds what no unkeyed check can: a history rewritten
and re-chained from the first row passes all of the above, but not a checkpoint kept
elsewhere.

``state_hash`` digests the head (whose hash commits to every journal row) and every row of the
other tables in key order, with a type-tagged encoding, so the same history gives the same
hash on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hashmarket.errors import LedgerInvariantError
from hashmarket.ledger import journal, registry, verify_store
from hashmarket.ledger.guards import check_guards
from hashmarket.ledger.model import INT64_MAX, NS_PER_S, AccountFlags, TransferFlags
from hashmarket.ledger.store import Store

PROBLEMS_MAX = 50
_PENDING = int(TransferFlags.PENDING)
_POST = int(TransferFlags.POST_PENDING)
_VOID = int(TransferFlags.VOID_PENDING)
_REVERSAL = int(TransferFlags.REVERSAL)
_EXPIRY = int(TransferFlags.EXPIRY)
_RESOLVING = _POST | _VOID | _EXPIRY
_NOT_REVERSIBLE = _PENDING | _VOID | _EXPIRY
_DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CMNED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
_ISSUER = int(AccountFlags.ISSUER)
# Fold state per account: debits_pending, debits_posted, credits_pending, credits_posted, and
# the seq of the account's newest row (its history's head).
DP, DPO, CP, CPO, LAST = range(5)

# Tables digested by state_hash besides the head, with their key columns and whether the key
# is an integer (see ``verify_store.table_rows`` for why the order matters).
STATE_TABLES = (
    ("assets", "code", False),
    ("accounts", "id", True),
    ("balances", "account_id", True),
    ("token_series", "asset", False),
    ("token_holders", "token_account_id", True),
    ("token_distributions", "asset, day", False),
    ("settlement_contracts", "contract_id", False),
    ("settlement_events", "contract_id, seq", False),
)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    problems: tuple[str, ...]
    entries: int
    accounts: int
    assets: int
    head_seq: int
    head_hash: str

    def raise_if_broken(self) -> None:
        if not self.ok:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise LedgerInvariantError("ledger_invariant", detail=self.problems[0] + more)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.dropped = 0

    def add(self, text: str) -> None:
        if len(self.items) < PROBLEMS_MAX:
            self.items.append(text)
        else:
            self.dropped += 1

    def final(self) -> tuple[str, ...]:
        if self.dropped:
            return (*self.items, f"… {self.dropped} more problems not listed")
        return tuple(self.items)


def _limits_hold(flags: int, state: list[int]) -> str | None:
    # Only an issuer may be debited beyond its credits (the writer refuses any other account
    # without the flag), so the rule is checked for every other account whatever its row says:
    # a flag removed by SQL does not make an overdraft legal.
    if not flags & _ISSUER:
        flags |= _DMNEC
    if any(c < 0 or c > INT64_MAX for c in state[:4]):
        return "a balance counter is outside 0 … 2**63 - 1"
    if flags & _DMNEC and state[DP] + state[DPO] > state[CPO]:
        return "debits exceed credits on a DEBITS_MUST_NOT_EXCEED_CREDITS account"
    if flags & _CMNED and state[CP] + state[CPO] > state[DPO]:
        return "credits exceed debits on a CREDITS_MUST_NOT_EXCEED_DEBITS account"
    return None


def verify(store: Store) -> VerifyReport:
    problems = _Problems()
    assets = verify_store.asset_issuers(store)
    accounts = _load_accounts(store, assets, problems)
    replay = _replay_journal(store, accounts, problems)
    head = store.read_head()
    if head.seq != replay.seq or head.hash != replay.previous:
        problems.add(
            f"head (seq {head.seq}) does not commit to the last journal row (seq {replay.seq})"
        )
    if head.timestamp_ns < replay.ts:
        problems.add("head timestamp is before the last journal row's")
    _check_balances(accounts, replay.fold, problems)
    for text in (
        *_check_distributions(store),
        *_check_registry(store, accounts),
        *check_guards(store),
    ):
        problems.add(text)
    found = problems.final()
    return VerifyReport(
        ok=not found,
        problems=found,
        entries=replay.entries,
        accounts=len(accounts),
        assets=len(assets),
        head_seq=head.seq,
        head_hash=head.hash.hex(),
    )


def _load_accounts(
    store: Store, assets: dict[str, int], problems: _Problems
) -> dict[int, tuple[Any, ...]]:
    """Every account with its cached balances (zeros, and a problem, if the row is missing);
    checks each account's asset and ISSUER flag, and that no balances row is an orphan."""
    accounts: dict[int, tuple[Any, ...]] = {}
    for row in verify_store.accounts_with_balances(store):
        if row[5] is None:
            problems.add(f"account {row[0]}: no balances row")
            row = (*row[:5], 0, 0, 0, 0, row[9], 0)
        accounts[row[0]] = row
        if row[1] not in assets:
            problems.add(f"account {row[0]}: unknown asset {row[1]!r}")
        is_issuer = assets.get(row[1]) == row[0]
        if bool(row[2] & _ISSUER) != is_issuer:
            problems.add(f"account {row[0]}: ISSUER flag does not match the asset's issuer")
        elif not is_issuer and not row[2] & _DMNEC:
            problems.add(
                f"account {row[0]}: no DEBITS_MUST_NOT_EXCEED_CREDITS flag, which every account "
                "but an issuer carries"
            )
    for code, issuer in assets.items():
        if issuer not in accounts:
            problems.add(f"asset {code}: issuer account {issuer} does not exist")
    orphans = verify_store.orphan_balances(store)
    if orphans:
        problems.add(f"{orphans} balances rows belong to no account")
    return accounts


@dataclass
class _Replay:
    fold: dict[int, list[int]]  # per account: dp, dpo, cp, cpo, last seq
    entries: int = 0
    seq: int = 0
    ts: int = 0
    previous: bytes = journal.GENESIS_HASH


def _replay_journal(
    store: Store, accounts: dict[int, tuple[Any, ...]], problems: _Problems
) -> _Replay:
    """One pass over the journal: the chain, the sequence, the clock and every row's rules."""
    replay = _Replay(fold={account_id: [0, 0, 0, 0, 0] for account_id in accounts})
    pendings: dict[int, tuple[int, int, int, int | None]] = {}  # id -> dr, cr, amount, expiry
    posted_moves: dict[int, tuple[int, int, int]] = {}  # reversible: id -> dr, cr, amount
    reversed_ids: set[int] = set()
    for row in store.stream_journal():
        replay.entries += 1
        where = f"journal seq {row[journal.SEQ]} (id {journal.entry_id(row)})"
        if row[journal.SEQ] != replay.seq + 1:
            problems.add(f"{where}: sequence gap after {replay.seq}")
        if row[journal.TIMESTAMP] <= replay.ts:
            problems.add(f"{where}: timestamp not after the previous row's")
        replay.seq, replay.ts = row[journal.SEQ], row[journal.TIMESTAMP]
        if bytes(row[journal.HASH]) != journal.row_hash(replay.previous, row):
            problems.add(f"{where}: hash does not chain from the previous row")
        replay.previous = bytes(row[journal.HASH])
        for text in _check_row(row, accounts, replay.fold, pendings, posted_moves, reversed_ids):
            problems.add(f"{where}: {text}")
    return replay


def _check_balances(
    accounts: dict[int, tuple[Any, ...]], fold: dict[int, list[int]], problems: _Problems
) -> None:
    """Cached balances equal the fold, limits hold, and each asset sums to zero."""
    sums: dict[str, list[int]] = {}
    for account_id, row in accounts.items():
        state = list(row[5:9])
        if state != fold[account_id][:4]:
            problems.add(
                f"account {account_id}: cached balances {state} differ from the journal's "
                f"fold {fold[account_id][:4]}"
            )
        if row[10] != fold[account_id][LAST]:
            problems.add(f"account {account_id}: last_seq {row[10]} is not its newest row")
        broken = _limits_hold(row[2], state)
        if broken:
            problems.add(f"account {account_id}: {broken}")
        total = sums.setdefault(row[1], [0, 0])
        total[0] += state[CPO] - state[DPO]
        total[1] += state[CP] - state[DP]
    for code, (posted, pending) in sorted(sums.items()):
        if posted or pending:
            problems.add(f"asset {code}: balances sum to {posted} posted, {pending} pending, not 0")


def _check_registry(store: Store, accounts: dict[int, tuple[Any, ...]]) -> list[str]:
    """The registry log chains, and every registered table's rows are the ones it logged."""
    if not store.has_table("registry_log"):
        return []  # check_guards reports the missing table
    out: list[str] = []
    logged = _registry_chain(store, out)
    for table, _ in registry.REGISTRY_TABLES:
        if table == "accounts":  # read already, with the balances: id … name, timestamp_ns
            rows: Iterable[tuple[Any, ...]] = ((*r[:5], r[9]) for r in accounts.values())
        elif store.has_table(table):
            rows = verify_store.all_rows(store, table)
        else:
            continue
        for row in rows:
            key = registry.row_key(table, row)
            found = logged.pop((table, key), None)
            if found is None:
                out.append(
                    f"{registry.shown(table, key)}: row is not in the registry log (written by "
                    "direct SQL)"
                )
            elif registry.row_digest(row) != found[1]:
                out.append(
                    f"{registry.shown(table, key)}: row differs from the one logged at registry "
                    f"seq {found[0]} (changed after it was written)"
                )
    for (table, key), (logged_seq, _) in sorted(logged.items(), key=lambda kv: kv[1][0]):
        where = registry.shown(table, key)
        out.append(f"{where}: logged at registry seq {logged_seq} but the row is gone")
    return out


def _registry_chain(store: Store, out: list[str]) -> dict[tuple[str, str], tuple[int, bytes]]:
    """Walk the log: seqs without gaps, each hash chained; (table, key) -> (seq, row digest)."""
    seq, previous = 0, registry.GENESIS_HASH
    logged: dict[tuple[str, str], tuple[int, bytes]] = {}
    for entry_seq, table, key, digest, chained in store.stream_registry():
        if entry_seq != seq + 1:
            out.append(f"registry seq {entry_seq}: sequence gap after {seq}")
        seq, digest = entry_seq, bytes(digest)
        if bytes(chained) != registry.link(previous, table, key, digest):
            out.append(f"registry seq {seq} ({registry.shown(table, key)}): hash does not chain")
        previous = bytes(chained)
        first = logged.get((table, key))
        if first is not None:
            out.append(
                f"registry seq {seq}: {registry.shown(table, key)} is logged twice (first at "
                f"seq {first[0]})"
            )
        logged[(table, key)] = (seq, digest)
    return logged


def _check_row(
    row: tuple[Any, ...],
    accounts: dict[int, tuple[Any, ...]],
    fold: dict[int, list[int]],
    pendings: dict[int, tuple[int, int, int, int | None]],
    posted_moves: dict[int, tuple[int, int, int]],
    reversed_ids: set[int],
) -> list[str]:
    out: list[str] = []
    rid = journal.entry_id(row)
    dr, cr, amount, flags = row[2], row[3], row[4], row[5]
    pending_id, reverses_id = row[journal.PENDING_ID], row[journal.REVERSES_ID]
    if row[journal.ID] is not None and row[journal.ID] <= 0:
        out.append("a stored id must be a client id (> 0); ledger ids are stored as NULL")
    if dr not in accounts or cr not in accounts:
        return [*out, "names an account that does not exist"]
    if dr == cr or accounts[dr][1] != accounts[cr][1]:
        out.append("accounts are the same or hold different assets")
    if amount < 0 or (amount == 0 and not flags & _RESOLVING):
        out.append(f"amount {amount} is not positive")
    timeout, expires = row[journal.TIMEOUT_S], row[journal.EXPIRES_AT]
    if flags & _PENDING and timeout:
        if expires != row[journal.TIMESTAMP] + timeout * NS_PER_S:
            out.append("expiry is not timestamp + timeout")
    elif timeout or expires is not None:
        out.append("timeout on a transfer that is not pending")
    d, c = fold[dr], fold[cr]
    if (row[journal.DEBIT_PREV], row[journal.CREDIT_PREV]) != (d[LAST], c[LAST]):
        out.append("history pointers do not name each account's previous row")
    d[LAST] = c[LAST] = row[journal.SEQ]
    if flags & _PENDING:
        pendings[rid] = (dr, cr, amount, expires)
        d[DP] += amount
        c[CP] += amount
    elif flags & _RESOLVING:
        reservation = pendings.pop(pending_id, None) if pending_id is not None else None
        if reservation is None:
            out.append(f"resolves {pending_id}, which is not an open reservation")
        else:
            p_dr, p_cr, reserved, deadline = reservation
            if (p_dr, p_cr) != (dr, cr):
                out.append("resolves a reservation on other accounts")
            if flags & _POST and amount > reserved:
                out.append("posts more than was reserved")
            if flags & (_VOID | _EXPIRY) and amount != reserved:
                out.append("releases other than the amount reserved")
            if flags & _EXPIRY and (deadline is None or row[journal.TIMESTAMP] < deadline):
                out.append("expires a reservation before its deadline")
            d[DP] -= reserved
            c[CP] -= reserved
            if flags & _POST:
                d[DPO] += amount
                c[CPO] += amount
                posted_moves[rid] = (dr, cr, amount)
    else:
        if flags & _REVERSAL:
            original = posted_moves.get(reverses_id) if reverses_id is not None else None
            if original is None or reverses_id in reversed_ids:
                out.append(f"reverses {reverses_id}, which is not a reversible transfer")
            elif original != (cr, dr, amount):
                out.append("reversal does not mirror the transfer it reverses")
            if reverses_id is not None:
                reversed_ids.add(reverses_id)
        d[DPO] += amount
        c[CPO] += amount
        posted_moves[rid] = (dr, cr, amount)
    for account_id, state in ((dr, d), (cr, c)):
        broken = _limits_hold(accounts[account_id][2], state)
        if broken:
            out.append(f"account {account_id}: {broken}")
    return out


def _check_distributions(store: Store) -> list[str]:
    """Each paid day's journal rows are its treasury's payouts and add up to its pool."""
    out: list[str] = []
    for asset, day, pool, first, last, treasury in verify_store.paid_days(store):
        where = f"distribution {asset} {day}"
        if not first:
            if pool or last:
                out.append(f"{where}: a pool of {pool} sats but no payout rows")
            continue
        count, paid, low, high, codes = verify_store.journal_span(store, first, last)
        if count != last - first + 1 or (low, high) != (treasury, treasury) or codes != 1:
            out.append(f"{where}: rows {first}-{last} are not all payouts from the treasury")
        elif paid != pool:
            out.append(f"{where}: payouts add up to {paid} sats, the pool is {pool}")
    return out


def state_hash(store: Store) -> str:
    encode = registry.encode
    digest = hashlib.sha256(b"hashmarket ledger state v1\n")
    head = store.read_head()
    for value in (head.seq, head.hash, head.timestamp_ns, head.expired_through_ns):
        digest.update(encode(value))
    for table, key, integer_key in STATE_TABLES:
        if not store.has_table(table):
            continue
        digest.update(encode(table))
        for row in verify_store.table_rows(store, table, key, integer_key=integer_key):
            digest.update(b"".join(encode(v) for v in row))
    return digest.hexdigest()
