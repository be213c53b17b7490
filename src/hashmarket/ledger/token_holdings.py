"""Holdings of a token series at a cut: each holder's posted balance at 00:00 UTC after a day
(what that day's distribution pays on), and the inclusion proof of one holder's balance
against the root published with the day's distribution."""

from __future__ import annotations

import datetime as dt

from hashmarket.errors import TokenError
from hashmarket.ledger import token_store as ts
from hashmarket.ledger.clock import day_start_ns
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.model import TransferFlags
from hashmarket.ledger.reserves import InclusionProof, Root, inclusion_proof
from hashmarket.ledger.store import Store
from hashmarket.ledger.token_terms import Holding, TokenSeries

_POSTED_KINDS_EXCLUDED = int(
    TransferFlags.PENDING | TransferFlags.VOID_PENDING | TransferFlags.EXPIRY
)


def holding_rows(store: Store, s: TokenSeries, cut_ns: int | None) -> list[tuple[int, int, int]]:
    """(token account, payout account, posted balance) of every holder at the cut (now if
    ``None``), in account-id order, zeros included: the current balance less every posted
    movement stamped at or after the cut. Tuples, not objects: this runs over every holder.
    """
    rows = ts.account_balances(store, s)
    if cut_ns is not None:
        # Only this series' rows: a catch-up run after the cut may follow another day's
        # million payouts in other assets.
        later = ts.movements_since(store, s.asset, ts.first_seq_at(store, cut_ns))
        changes: dict[int, int] = {}
        for debit, credit, amount, flags in later:
            if not flags & _POSTED_KINDS_EXCLUDED:
                changes[debit] = changes.get(debit, 0) + amount
                changes[credit] = changes.get(credit, 0) - amount
        if changes:
            rows = [(a, p, b + changes.get(a, 0)) for a, p, b in rows]
    held: list[tuple[int, int, int]] = []
    for account_id, payout, balance in rows:
        if payout is None:
            if balance:
                raise TokenError("token_holder_unknown", account=account_id, series=s.asset)
            continue
        held.append((account_id, payout, balance))
    return held


def holdings_at(store: Store, s: TokenSeries, cut_ns: int | None) -> list[Holding]:
    return [Holding(a, p, b) for a, p, b in holding_rows(store, s, cut_ns)]


def holdings(ledger: Ledger, asset: str, *, day: dt.date | None = None) -> list[Holding]:
    """Holders of a series now, or at the cut of ``day``."""
    with ledger.snapshot() as store:
        s = ts.load_series(store, asset)
        cut = None if day is None else day_start_ns(day + dt.timedelta(days=1))
        return holdings_at(store, s, cut)


def proof(ledger: Ledger, asset: str, day: dt.date, account_id: int) -> InclusionProof:
    """An inclusion proof of a holder's balance at the cut of a distributed day, checked
    against the root published with that day's distribution."""
    with ledger.snapshot() as store:
        s = ts.load_series(store, asset)
        record = ts.load_distribution(store, asset, day)
        if record is None:
            raise TokenError("token_proof", problem=f"for {asset} on {day}: no distribution yet")
        leaves = [(a, b) for a, _, b in holding_rows(store, s, record.cut_ns) if b > 0]
    if account_id not in {a for a, _ in leaves}:
        raise TokenError(
            "token_proof", problem=f"account {account_id} held no {asset} at the cut of {day}"
        )
    out = inclusion_proof(asset, day, leaves, account_id)
    published = Root(record.reserves_root, record.reserves_total, record.holder_count)
    if out.root != published:
        raise TokenError("token_proof", problem="the ledger no longer matches the published root")
    return out
