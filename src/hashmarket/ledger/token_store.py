"""Rows of the token tables (schema in :mod:`.migrations`): ``token_series`` (a series'
terms, written once at issue), ``token_holders`` (each holder account and the BTC account
its payouts go to) and ``token_distributions`` (one append-only record per series-day).

Exact decimals are stored as decimal strings and days as ISO dates, so both stores give back
exactly what was written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from hashmarket.errors import TokenError
from hashmarket.ledger.store import Store
from hashmarket.ledger.token_terms import Distribution, TokenSeries

_SERIES_COLUMNS = (
    "asset, issuer_account_id, reserve_account_id, treasury_account_id, ths_per_token, "
    "efficiency_w_per_th, power_price_usd_per_kwh, service_fee_usd_per_th_day, "
    "backing_hashrate_ths, term_start, term_end, max_supply_units"
)
_DISTRIBUTION_COLUMNS = (
    "asset, day, hashprice_btc_per_ph_day, btc_price_usd, hashprice_fixing_sha256, "
    "price_fixing_sha256, uptime, cut_ns, supply_units, holder_count, gross_sats, cost_sats, "
    "pool_sats, dust_sats, shortfall_sats, first_seq, last_seq, reserves_root, reserves_total, "
    "timestamp_ns"
)


def _series_from_row(row: Sequence[Any], scale: int) -> TokenSeries:
    return TokenSeries(
        asset=row[0],
        issuer_account_id=row[1],
        reserve_account_id=row[2],
        treasury_account_id=row[3],
        ths_per_token=Decimal(row[4]),
        efficiency_w_per_th=Decimal(row[5]),
        power_price_usd_per_kwh=Decimal(row[6]),
        service_fee_usd_per_th_day=Decimal(row[7]),
        backing_hashrate_ths=Decimal(row[8]),
        term_start=dt.date.fromisoformat(row[9]),
        term_end=dt.date.fromisoformat(row[10]),
        scale=scale,
    )


def load_series(store: Store, asset: str) -> TokenSeries:
    columns = ", ".join(f"t.{c.strip()}" for c in _SERIES_COLUMNS.split(","))
    rows = store.query(
        f"SELECT {columns}, a.scale FROM token_series AS t JOIN assets AS a ON a.code = t.asset "
        "WHERE t.asset = ?",
        (asset,),
    )
    if not rows:
        raise TokenError("token_series_unknown", series=asset)
    return _series_from_row(rows[0][:12], rows[0][12])


def series_exists(store: Store, asset: str) -> bool:
    return bool(store.query("SELECT 1 FROM token_series WHERE asset = ?", (asset,)))


def series_assets(store: Store) -> list[str]:
    """Every series' asset code, sorted."""
    return sorted(r[0] for r in store.query("SELECT asset FROM token_series"))


def asset_scale(store: Store, code: str) -> int | None:
    rows = store.query("SELECT scale FROM assets WHERE code = ?", (code,))
    return rows[0][0] if rows else None


def insert_series(store: Store, s: TokenSeries, *, timestamp_ns: int) -> None:
    row = (
        s.asset,
        s.issuer_account_id,
        s.reserve_account_id,
        s.treasury_account_id,
        str(s.ths_per_token),
        str(s.efficiency_w_per_th),
        str(s.power_price_usd_per_kwh),
        str(s.service_fee_usd_per_th_day),
        str(s.backing_hashrate_ths),
        s.term_start.isoformat(),
        s.term_end.isoformat(),
        s.max_supply_units,
        timestamp_ns,
    )
    store.execute(
        f"INSERT INTO token_series ({_SERIES_COLUMNS}, timestamp_ns) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    )
    store.register("token_series", [row])


def holder_registration(store: Store, token_account_id: int) -> tuple[str, int] | None:
    """(asset, payout account) a token account is registered with, or ``None``."""
    rows = store.query(
        "SELECT asset, payout_account_id FROM token_holders WHERE token_account_id = ?",
        (token_account_id,),
    )
    return (rows[0][0], rows[0][1]) if rows else None


def is_holder(store: Store, asset: str, account_id: int) -> bool:
    return bool(
        store.query(
            "SELECT 1 FROM token_holders WHERE token_account_id = ? AND asset = ?",
            (account_id, asset),
        )
    )


def insert_holder(
    store: Store, *, token_account_id: int, asset: str, payout_account_id: int, timestamp_ns: int
) -> None:
    insert_holders(store, [(token_account_id, asset, payout_account_id, timestamp_ns)])


def insert_holders(store: Store, rows: Sequence[tuple[int, str, int, int]]) -> None:
    """Holder registrations (token account, asset, payout account, timestamp_ns), logged in
    the registry so that a redirected payout account is caught by ``verify()``."""
    store.executemany(
        "INSERT INTO token_holders (token_account_id, asset, payout_account_id, timestamp_ns) "
        "VALUES (?, ?, ?, ?)",
        rows,
    )
    store.register("token_holders", rows)


def first_seq_at(store: Store, cut_ns: int) -> int:
    """The first journal seq stamped at or after ``cut_ns`` (head seq + 1 if none).

    Timestamps strictly increase with seq (``verify()`` checks it), so a binary search over
    the primary key finds it without an index on timestamps."""
    head = store.read_head()
    lo, hi = 1, head.seq + 1
    while lo < hi:
        mid = (lo + hi) // 2
        (ts,) = store.query("SELECT timestamp_ns FROM journal WHERE seq = ?", (mid,))[0]
        if ts >= cut_ns:
            hi = mid
        else:
            lo = mid + 1
    return lo


def account_balances(store: Store, s: TokenSeries) -> list[tuple[int, int | None, int]]:
    """(account, payout account or ``None`` if not a registered holder, posted balance) of
    every account of the series but its issuer and reserve, in account-id order."""
    rows = store.query(
        "SELECT a.id, h.payout_account_id, b.credits_posted - b.debits_posted "
        "FROM accounts AS a JOIN balances AS b ON b.account_id = a.id "
        "LEFT JOIN token_holders AS h ON h.token_account_id = a.id "
        "WHERE a.asset = ? AND a.id <> ? AND a.id <> ? ORDER BY a.id",
        (s.asset, s.issuer_account_id, s.reserve_account_id),
    )
    return [(a, p, b) for a, p, b in rows]


def movements_since(store: Store, asset: str, first_seq: int) -> list[tuple[Any, ...]]:
    """(debit, credit, amount, flags) of the journal rows of ``asset`` from ``first_seq`` on:
    both accounts of a row hold the same asset, so the debit account's asset selects them."""
    return store.query(
        "SELECT j.debit_account_id, j.credit_account_id, j.amount, j.flags "
        "FROM journal AS j JOIN accounts AS a ON a.id = j.debit_account_id "
        "WHERE j.seq >= ? AND a.asset = ?",
        (first_seq, asset),
    )


def load_distribution(store: Store, asset: str, day: dt.date) -> Distribution | None:
    rows = store.query(
        f"SELECT {_DISTRIBUTION_COLUMNS} FROM token_distributions WHERE asset = ? AND day = ?",
        (asset, day.isoformat()),
    )
    return Distribution.from_row(rows[0]) if rows else None


def insert_distribution(store: Store, record: Distribution) -> None:
    data = record.to_dict()
    row = (
        record.asset,
        record.day.isoformat(),
        data["hashprice_btc_per_ph_day"],
        data["btc_price_usd"],
        record.hashprice_fixing_sha256,
        record.price_fixing_sha256,
        data["uptime"],
        record.cut_ns,
        record.supply_units,
        record.holder_count,
        data["gross_sats"],
        data["cost_sats"],
        record.pool_sats,
        data["dust_sats"],
        data["shortfall_sats"],
        record.first_seq,
        record.last_seq,
        record.reserves_root,
        record.reserves_total,
        record.timestamp_ns,
    )
    store.execute(
        f"INSERT INTO token_distributions ({_DISTRIBUTION_COLUMNS}) VALUES ({', '.join('?' * 20)})",
        row,
    )
    store.register("token_distributions", [row])
