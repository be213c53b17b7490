"""The hashrate fund's state on the ledger (see :mod:`hashmarket.ledger.fund`): its
accounts' holdings at a day's cut, read by walking each account's own history, the day's
strike and the transfers it books, and the dealing window rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hashmarket.errors import FundError
from hashmarket.instruments import FundTerms
from hashmarket.ledger import journal
from hashmarket.ledger import token_store as ts
from hashmarket.ledger.allocation import allocate
from hashmarket.ledger.clock import day_start_ns, ns_to_datetime
from hashmarket.ledger.model import Transfer, TransferFlags
from hashmarket.ledger.results import CreateAccountResult, CreateAssetResult, CreateTransferResult
from hashmarket.ledger.store import Store
from hashmarket.ledger.token_terms import CODE_DISTRIBUTION, DayRate, TokenSeries
from hashmarket.ledger.writer import LedgerWriter
from hashmarket.money import derived_id
from hashmarket.pricing import FundHoldings, NavStrike, strike_nav, token_mark

ID_DOMAIN = "hashmarket/fund"
SHARE_SCALE = 0
# The account code of an authorised participant's share account ("AP" in ASCII).
AP_ACCOUNT_CODE = 0x4150
NOT_OPEN = "the fund is not open on this ledger (hashmarket fund create)"
# Transfer codes of the fund's movements.
CODE_SHARES_CREATED = 31
CODE_SHARES_REDEEMED = 32
CODE_CASH_COMPONENT = 33
CODE_MANAGEMENT_FEE = 34
CODE_FUND_DISTRIBUTION = 35
_NOT_POSTED = int(TransferFlags.PENDING | TransferFlags.VOID_PENDING | TransferFlags.EXPIRY)


def fund_id(terms: FundTerms, *parts: str | int) -> int:
    return derived_id(ID_DOMAIN, terms.fund, *parts, separator="/")


def refused(action: str, terms: FundTerms, problem: str) -> FundError:
    return FundError("fund_refused", action=action, fund=terms.fund, problem=problem)


def check_result(action: str, terms: FundTerms, code: Any) -> None:
    if code not in (CreateTransferResult.OK, CreateAccountResult.OK, CreateAssetResult.OK):
        raise FundError(
            "fund_ledger",
            action=action,
            fund=terms.fund,
            result_code=code.value,
            reason=code.reason,
        )


def booking_ns(w: LedgerWriter) -> int:
    """When this write happens: the import's time, or the ledger clock."""
    return w.at_ns if w.at_ns is not None else w.now_ns


def fund_series(store: Store, terms: FundTerms, action: str) -> TokenSeries:
    """The fund's token series, refused when the fund is not open on this ledger."""
    found = store.asset(terms.fund)
    if found is None or found[1] != terms.share_issuer_account_id:
        raise refused(action, terms, NOT_OPEN)
    return ts.load_series(store, terms.token_series)


# ---- the day's state -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Moves:
    """An account's posted balance now and its posted movements stamped since a time,
    newest first, as (timestamp_ns, signed amount, transfer code): enough to give its
    balance at any cut since then, and what it received between two cuts."""

    balance: int
    moves: list[tuple[int, int, int]]

    def at(self, cut_ns: int) -> int:
        return self.balance - sum(amount for ts, amount, _ in self.moves if ts >= cut_ns)

    def received(self, start_ns: int, end_ns: int, code: int) -> int:
        return sum(a for ts, a, c in self.moves if start_ns <= ts < end_ns and c == code and a > 0)


def moves_since(store: Store, account_id: int, since_ns: int) -> Moves:
    """Walks the account's own history back (each journal row points to the account's row
    before it), so the cost is the account's rows since ``since_ns``, not the journal's."""
    rows = store.accounts_by_id([account_id])
    if not rows:
        return Moves(0, [])
    moves = []
    seq = rows[0][10]
    while seq:
        row = store.journal_row(seq)
        assert row is not None, f"history pointer to missing row {seq}"
        e = journal.to_entry(row)
        if e.timestamp_ns < since_ns:
            break
        if not e.flags & _NOT_POSTED:
            signed = e.amount if e.credit_account_id == account_id else -e.amount
            moves.append((e.timestamp_ns, signed, e.code))
        seq = e.prev_seq_for(account_id)
    return Moves(rows[0][8] - rows[0][6], moves)


def fund_moves(store: Store, terms: FundTerms, first_day: dt.date) -> dict[int, Moves]:
    """The fund's three accounts, from the cut before ``first_day`` on."""
    since = day_start_ns(first_day)
    ids = (terms.token_account_id, terms.btc_account_id, terms.share_issuer_account_id)
    return {i: moves_since(store, i, since) for i in ids}


def day_state(
    store: Store,
    terms: FundTerms,
    series: TokenSeries,
    day: dt.date,
    rate: DayRate,
    moves: dict[int, Moves] | None = None,
) -> NavStrike:
    """Day D on the holdings at its cut (``moves``: the fund's accounts from D's start or
    earlier, read here when not given)."""
    if rate.day != day:
        raise refused("valuing", terms, f"the fixings given are for {rate.day}, not {day}")
    start, cut = day_start_ns(day), day_start_ns(day + dt.timedelta(days=1))
    book = moves if moves is not None else fund_moves(store, terms, day)
    btc = book[terms.btc_account_id]
    holdings = FundHoldings(
        token_units=book[terms.token_account_id].at(cut),
        btc_sats=btc.at(cut),
        shares=-book[terms.share_issuer_account_id].at(cut),
        income_sats=btc.received(start, cut, CODE_DISTRIBUTION),
    )
    mark = token_mark(
        series,
        day=day,
        term_end=series.term_end,
        hashprice_btc_per_ph_day=rate.hashprice_btc_per_ph_day,
        price_usd=rate.btc_price_usd,
        discount_rate=terms.mark_discount_rate,
    )
    return strike_nav(terms, mark, holdings, token_scale=series.scale)


def shareholders(store: Store, terms: FundTerms, cut_ns: int) -> list[tuple[int, int, int]]:
    """(share account, payout account, shares) of every registered holder at the cut."""
    rows = store.query(
        "SELECT h.token_account_id, h.payout_account_id FROM token_holders AS h "
        "WHERE h.asset = ? ORDER BY h.token_account_id",
        (terms.fund,),
    )
    held = [(a, p, moves_since(store, a, cut_ns).at(cut_ns)) for a, p in rows]
    return [(a, p, n) for a, p, n in held if n > 0]


def strike_transfers(store: Store, terms: FundTerms, state: NavStrike) -> list[Transfer]:
    day = state.day.isoformat()
    out = []
    if state.fee_sats:
        out.append(
            Transfer(
                fund_id(terms, "fee", day),
                terms.btc_account_id,
                terms.manager_account_id,
                state.fee_sats,
                code=CODE_MANAGEMENT_FEE,
            )
        )
    if state.distribution_sats:
        cut = day_start_ns(state.day + dt.timedelta(days=1))
        holders = shareholders(store, terms, cut)
        shares = allocate(state.distribution_sats, [(a, n) for a, _, n in holders])
        for (account, payout, _), sats in zip(holders, shares, strict=True):
            if sats:
                tid = fund_id(terms, "distribution", day, account)
                out.append(
                    Transfer(tid, terms.btc_account_id, payout, sats, code=CODE_FUND_DISTRIBUTION)
                )
    return out


def missing(store: Store, transfers: Iterable[Transfer]) -> list[int]:
    return [t.id for t in transfers if store.journal_row_by_id(t.id) is None]


def in_window(w: LedgerWriter, terms: FundTerms, day: dt.date, action: str) -> None:
    def refuse(problem: str) -> FundError:
        return FundError("fund_window", action=action, fund=terms.fund, day=day, problem=problem)

    if day < terms.launch_day:
        raise refuse(f"the fund launches on {terms.launch_day}")
    now = booking_ns(w)
    after = day + dt.timedelta(days=1)
    if now < day_start_ns(after):
        raise refuse(f"the day is not over (its NAV is struck from {after} 00:00 UTC)")
    if now >= day_start_ns(after + dt.timedelta(days=1)):
        raise refuse(
            f"its dealing window closed at {after + dt.timedelta(days=1)} 00:00 UTC "
            f"(it is now {ns_to_datetime(now).isoformat()})"
        )
