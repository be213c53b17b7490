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
  that add up to the day's pool.

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
from hashmarket.ledger import journal
from hashmarket.ledger.model import INT64_MAX, NS_PER_S, AccountFlags, TransferFlags
from hashmarket.ledger.store import JOURNAL_COLUMNS, Store

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

# Tables digested by state_hash besides the head, with their key columns. Integer keys are
# ordered by the database; text keys are sorted in Python, because a PostgreSQL collation
# other than C would order text differently from SQLite.
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
    if any(c < 0 or c > INT64_MAX for c in state[:4]):
        return "a balance counter is outside 0 … 2**63 - 1"
    if flags & _DMNEC and state[DP] + state[DPO] > state[CPO]:
        return "debits exceed credits on a DEBITS_MUST_NOT_EXCEED_CREDITS account"
    if flags & _CMNED and state[CP] + state[CPO] > state[DPO]:
        return "credits exceed debits on a CREDITS_MUST_NOT_EXCEED_DEBITS account"
    return None


def verify(store: Store) -> VerifyReport:
    problems = _Problems()
    assets: dict[str, int] = dict(store.query("SELECT code, issuer_account_id FROM assets"))
    cached: dict[int, tuple[Any, ...]] = {}
    fold: dict[int, list[int]] = {}  # dp, dpo, cp, cpo, last seq
    # LEFT JOIN: an account without its balances row shows up with NULL counters.
    for row in store.stream(
        "SELECT a.id, a.asset, a.flags, a.code, a.name, b.debits_pending, b.debits_posted, "
        "b.credits_pending, b.credits_posted, a.timestamp_ns, b.last_seq FROM accounts AS a "
        "LEFT JOIN balances AS b ON b.account_id = a.id ORDER BY a.id"
    ):
        if row[5] is None:
            problems.add(f"account {row[0]}: no balances row")
            row = (*row[:5], 0, 0, 0, 0, row[9], 0)
        cached[row[0]] = row
        fold[row[0]] = [0, 0, 0, 0, 0]
        if row[1] not in assets:
            problems.add(f"account {row[0]}: unknown asset {row[1]!r}")
        is_issuer = assets.get(row[1]) == row[0]
        if bool(row[2] & _ISSUER) != is_issuer:
            problems.add(f"account {row[0]}: ISSUER flag does not match the asset's issuer")
    for code, issuer in assets.items():
        if issuer not in cached:
            problems.add(f"asset {code}: issuer account {issuer} does not exist")
    (orphans,) = store.query(
        "SELECT COUNT(*) FROM balances WHERE account_id NOT IN (SELECT id FROM accounts)"
    )[0]
    if orphans:
        problems.add(f"{orphans} balances rows belong to no account")

    seq = ts = entries = 0
    previous = journal.GENESIS_HASH
    pendings: dict[int, tuple[int, int, int, int | None]] = {}  # id -> dr, cr, amount, expiry
    posted_moves: dict[int, tuple[int, int, int]] = {}  # reversible: id -> dr, cr, amount
    reversed_ids: set[int] = set()
    for row in store.stream(f"SELECT {JOURNAL_COLUMNS} FROM journal ORDER BY seq"):
        entries += 1
        where = f"journal seq {row[journal.SEQ]} (id {journal.entry_id(row)})"
        if row[journal.SEQ] != seq + 1:
            problems.add(f"{where}: sequence gap after {seq}")
        if row[journal.TIMESTAMP] <= ts:
            problems.add(f"{where}: timestamp not after the previous row's")
        seq, ts = row[journal.SEQ], row[journal.TIMESTAMP]
        expected = journal.row_hash(previous, row)
        if bytes(row[journal.HASH]) != expected:
            problems.add(f"{where}: hash does not chain from the previous row")
        previous = bytes(row[journal.HASH])
        for text in _check_row(row, cached, fold, pendings, posted_moves, reversed_ids):
            problems.add(f"{where}: {text}")

    head = store.read_head()
    if head.seq != seq or head.hash != previous:
        problems.add(f"head (seq {head.seq}) does not commit to the last journal row (seq {seq})")
    if head.timestamp_ns < ts:
        problems.add("head timestamp is before the last journal row's")

    sums: dict[str, list[int]] = {code: [0, 0] for code in assets}
    for account_id, row in cached.items():
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

    for text in _check_distributions(store):
        problems.add(text)

    found = problems.final()
    return VerifyReport(
        ok=not found,
        problems=found,
        entries=entries,
        accounts=len(cached),
        assets=len(assets),
        head_seq=head.seq,
        head_hash=head.hash.hex(),
    )


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
    if not store.has_table("token_distributions"):
        return []
    out: list[str] = []
    days = store.query(
        "SELECT d.asset, d.day, d.pool_sats, d.first_seq, d.last_seq, s.treasury_account_id "
        "FROM token_distributions AS d JOIN token_series AS s ON s.asset = d.asset"
    )
    for asset, day, pool, first, last, treasury in days:
        where = f"distribution {asset} {day}"
        if not first:
            if pool or last:
                out.append(f"{where}: a pool of {pool} sats but no payout rows")
            continue
        count, paid, low, high, codes = store.query(
            "SELECT COUNT(*), SUM(amount), MIN(debit_account_id), MAX(debit_account_id), "
            "COUNT(DISTINCT code) FROM journal WHERE seq >= ? AND seq <= ?",
            (first, last),
        )[0]
        if count != last - first + 1 or (low, high) != (treasury, treasury) or codes != 1:
            out.append(f"{where}: rows {first}-{last} are not all payouts from the treasury")
        elif int(paid) != pool:
            out.append(f"{where}: payouts add up to {paid} sats, the pool is {pool}")
    return out


def _encode(value: Any) -> bytes:
    if value is None:
        return b"\x00"
    if isinstance(value, int):
        return b"\x01" + value.to_bytes(9, "big", signed=True)
    if isinstance(value, str):
        data = value.encode("utf-8")
        return b"\x02" + len(data).to_bytes(4, "big") + data
    data = bytes(value)
    return b"\x03" + len(data).to_bytes(4, "big") + data


def state_hash(store: Store) -> str:
    digest = hashlib.sha256(b"hashmarket ledger state v1\n")
    head = store.read_head()
    for value in (head.seq, head.hash, head.timestamp_ns, head.expired_through_ns):
        digest.update(_encode(value))
    for table, key, integer_key in STATE_TABLES:
        if not store.has_table(table):
            continue
        digest.update(_encode(table))
        if integer_key:
            rows: Iterable[tuple[Any, ...]] = store.stream(f"SELECT * FROM {table} ORDER BY {key}")
        else:
            width = key.count(",") + 1
            rows = sorted(store.query(f"SELECT {key}, * FROM {table}"))
            rows = (row[width:] for row in rows)
        for row in rows:
            digest.update(b"".join(_encode(v) for v in row))
    return digest.hexdigest()
