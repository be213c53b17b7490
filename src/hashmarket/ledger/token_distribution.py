"""The daily distribution of a token series (see :mod:`hashmarket.ledger.tokens`): the day's
pool paid in whole sats to the holders at the cut, with its record and proof-of-reserves
root, in one transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hashmarket.errors import TokenError
from hashmarket.ledger import token_store as ts
from hashmarket.ledger.allocation import allocate
from hashmarket.ledger.clock import day_start_ns
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.reserves import merkle_root
from hashmarket.ledger.results import CreateTransferResult
from hashmarket.ledger.token_holdings import holding_rows
from hashmarket.ledger.token_terms import (
    CODE_DISTRIBUTION,
    DayRate,
    Distribution,
    TokenSeries,
    daily_amounts,
    refused,
)
from hashmarket.ledger.writer import LedgerWriter


def distribution(ledger: Ledger, asset: str, day: dt.date) -> Distribution | None:
    with ledger.snapshot() as store:
        return ts.load_distribution(store, asset, day)


def _cut_of(w: LedgerWriter, s: TokenSeries, day: dt.date) -> int:
    """The cut of ``day`` (00:00 UTC after it), refused outside the term or before it."""
    if not s.term_start <= day <= s.term_end:
        raise TokenError(
            "token_day_outside_term", day=day, series=s.asset, start=s.term_start, end=s.term_end
        )
    cut_ns = day_start_ns(day + dt.timedelta(days=1))
    if w.now_ns < cut_ns:
        raise TokenError("token_day_not_over", day=day, cut=f"{day + dt.timedelta(days=1)}")
    return cut_ns


def _pay(w: LedgerWriter, s: TokenSeries, credits: list[tuple[int, int]]) -> tuple[int, int]:
    """Pay each (payout account, sats) from the treasury; the journal rows of the payouts,
    first_seq … last_seq (0, 0 if none)."""
    first_seq = w.head.seq + 1 if credits else 0
    code, index = w.create_fan_out(s.treasury_account_id, credits, code=CODE_DISTRIBUTION)
    if code is not CreateTransferResult.OK:
        raise refused(
            "distribution",
            s.asset,
            code.value,
            f"payout {index + 1} of {len(credits)}: {code.reason}",
        )
    return first_seq, w.head.seq if credits else 0


def distribute(
    ledger: Ledger, asset: str, rate: DayRate, *, uptime: Decimal = Decimal(1)
) -> Distribution:
    """Pay day ``rate.day`` to the series' holders (see the module doc of
    :mod:`hashmarket.ledger.tokens`). Idempotent per day."""
    if not isinstance(uptime, Decimal) or not Decimal(0) <= uptime <= Decimal(1):
        raise TokenError(
            "token_series_invalid", series=asset, field="uptime", problem="must be 0 … 1"
        )
    day = rate.day
    with ledger.transaction() as w:
        s = ts.load_series(w.store, asset)
        done = ts.load_distribution(w.store, asset, day)
        if done is not None:
            return done  # nothing applied: the transaction rolls back
        cut_ns = _cut_of(w, s, day)
        held = [r for r in holding_rows(w.store, s, cut_ns) if r[2] > 0]
        supply = sum(r[2] for r in held)
        amounts = daily_amounts(s, rate, supply_units=supply, uptime=uptime)
        # Three flat lists instead of one list of records: a million holders must fit.
        leaves = [(token_id, balance) for token_id, _, balance in held]
        payouts = [payout for _, payout, _ in held]
        del held
        shares = allocate(amounts.pool_sats, leaves)
        credits = [(p, share) for p, share in zip(payouts, shares, strict=True) if share]
        del shares, payouts
        first_seq, last_seq = _pay(w, s, credits)
        del credits
        root = merkle_root(asset, day, leaves)
        record = Distribution(
            asset=asset,
            day=day,
            hashprice_btc_per_ph_day=rate.hashprice_btc_per_ph_day,
            btc_price_usd=rate.btc_price_usd,
            hashprice_fixing_sha256=rate.hashprice_fixing_sha256,
            price_fixing_sha256=rate.price_fixing_sha256,
            uptime=uptime,
            cut_ns=cut_ns,
            supply_units=supply,
            holder_count=len(leaves),
            gross_sats=amounts.gross_sats,
            cost_sats=amounts.cost_sats,
            pool_sats=amounts.pool_sats,
            dust_sats=amounts.dust_sats,
            shortfall_sats=amounts.shortfall_sats,
            first_seq=first_seq,
            last_seq=last_seq,
            reserves_root=root.hash,
            reserves_total=root.total,
            timestamp_ns=w.tick(),
        )
        ts.insert_distribution(w.store, record)
        w.applied += 1
    return record
