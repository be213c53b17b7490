"""Hashrate tokens: a series of tokens backed by a fleet's hashrate, paid daily in sats.

A series is a ledger asset (its smallest unit is ``10**-scale`` token) with four accounts:

* the **issuer** account, the asset's issuer: it creates the whole backing supply once;
* the **reserve**, which holds the tokens not yet sold. At issue the issuer moves
  ``floor(backing TH/s ÷ TH/s per token × 10**scale)`` units into it; minting is a transfer
  out of the reserve and burning one back, so the ledger's own no-overdraft limit on the
  reserve is what refuses minting beyond the declared backing;
* the **treasury**, a BTC account of the issuer that pays the distributions;
* each **holder** account, registered with the BTC account its payouts go to.

Outstanding supply = Σ holder balances = backing supply − reserve balance.

Daily distribution for day D (see :func:`daily_amounts` for the arithmetic): from D's FPPS
fixing in BTC and its BTC price, the gross reward of the series' outstanding hashrate times the
day's uptime, less electricity and the service fee converted at that price, is paid in whole
sats to holders pro rata to their balances at the day's cut (00:00 UTC of D + 1 on the ledger
clock), by the largest-remainder rule. The pool is the net rounded *down* to whole sats; the
fraction left (the dust, under 1 sat) and any shortfall (costs above gross: holders get
nothing, never a negative payout) are recorded with the day. The payouts, the record and the
day's proof-of-reserves root are written in one transaction: a day is paid entirely or not at
all, and running it again returns the record without paying anything.
"""

from __future__ import annotations

from hashmarket.errors import LedgerError, TokenError
from hashmarket.ledger import token_store as ts
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.model import Account, AccountFlags, Asset, Transfer, valid_name
from hashmarket.ledger.results import CreateAccountResult, CreateAssetResult, CreateTransferResult
from hashmarket.ledger.token_distribution import distribute, distribution
from hashmarket.ledger.token_holdings import holdings, proof
from hashmarket.ledger.token_store import load_series
from hashmarket.ledger.token_terms import (
    BTC,
    BTC_SCALE,
    CODE_BACKING,
    CODE_BURN,
    CODE_DISTRIBUTION,
    CODE_MINT,
    CODE_TRANSFER,
    DayRate,
    Distribution,
    Holding,
    TokenSeries,
    daily_amounts,
    refused,
)
from hashmarket.ledger.writer import LedgerWriter

# The package face: callers use ``tokens`` for every series operation.
__all__ = [
    "BTC",
    "BTC_SCALE",
    "CODE_BACKING",
    "CODE_BURN",
    "CODE_DISTRIBUTION",
    "CODE_MINT",
    "CODE_TRANSFER",
    "DayRate",
    "Distribution",
    "Holding",
    "TokenSeries",
    "all_series",
    "burn",
    "daily_amounts",
    "distribute",
    "distribution",
    "holdings",
    "issue",
    "load_series",
    "mint",
    "open_holder",
    "proof",
    "series",
    "transfer",
]


def series(ledger: Ledger, asset: str) -> TokenSeries:
    with ledger.snapshot() as store:
        return load_series(store, asset)


def all_series(ledger: Ledger) -> list[TokenSeries]:
    with ledger.snapshot() as store:
        return [load_series(store, code) for code in ts.series_assets(store)]


def issue(ledger: Ledger, terms: TokenSeries, *, at_ns: int | None = None) -> TokenSeries:
    """Declare a series: its asset and issuer, its reserve filled with the backed supply, and
    the registry row. Replaying the same declaration changes nothing. ``at_ns`` back-dates
    the declaration (an import, see ``Ledger.transaction``)."""
    s = terms.validated()
    with ledger.transaction(at_ns=at_ns) as w:
        if ts.series_exists(w.store, s.asset):
            found = load_series(w.store, s.asset)
            if found != s:
                raise refused("issue", s.asset, "exists_with_different_terms", "series exists")
            return found
        if ts.asset_scale(w.store, BTC) != BTC_SCALE:
            raise refused("issue", s.asset, "asset_not_found", "the ledger has no BTC asset")
        treasury = w.store.accounts_by_id([s.treasury_account_id])
        if not treasury or treasury[0][1] != BTC:
            raise refused(
                "issue", s.asset, "treasury_not_btc", "the treasury must be a BTC account"
            )
        code = w.create_asset(
            Asset(s.asset, s.scale), issuer_account_id=s.issuer_account_id, name=None
        )
        if code is not CreateAssetResult.OK:
            raise refused("issue", s.asset, code.value, code.reason)
        (account_code,) = w.create_accounts([Account(s.reserve_account_id, s.asset)])
        if account_code is not CreateAccountResult.OK:
            raise refused("issue", s.asset, account_code.value, account_code.reason)
        backing = Transfer(
            0, s.issuer_account_id, s.reserve_account_id, s.max_supply_units, code=CODE_BACKING
        )
        (transfer_code,) = w.create_transfers([backing], ledger_ids=True)
        if transfer_code is not CreateTransferResult.OK:
            raise refused("issue", s.asset, transfer_code.value, transfer_code.reason)
        ts.insert_series(w.store, s, timestamp_ns=w.tick())
    return s


def open_holder(
    w: LedgerWriter,
    asset: str,
    *,
    token_account_id: int,
    payout_account_id: int,
    name: str | None = None,
    open_payout: bool = False,
) -> None:
    """Open (or find) a holder account of the series, paid to ``payout_account_id`` (BTC).

    ``open_payout``: a payout account that does not exist yet is opened as a BTC account
    (it only receives sats, so nothing is at stake in creating it); otherwise it must exist.
    """
    s = load_series(w.store, asset)
    registered = ts.holder_registration(w.store, token_account_id)
    if registered is not None:
        if registered != (asset, payout_account_id):
            raise refused("holder", asset, "exists_with_different_payout", "registered otherwise")
        return
    payout = w.store.accounts_by_id([payout_account_id])
    if not payout and open_payout:
        (opened,) = w.create_accounts([Account(payout_account_id, BTC)])
        if opened is not CreateAccountResult.OK:
            raise refused("holder", asset, opened.value, f"payout account: {opened.reason}")
        payout = w.store.accounts_by_id([payout_account_id])
    if not payout:
        raise LedgerError("account_not_found", account=payout_account_id)
    if payout[0][1] != BTC or payout[0][2] & int(AccountFlags.ISSUER):
        raise refused("holder", asset, "payout_not_btc", "payouts go to a BTC holder account")
    if payout_account_id == s.treasury_account_id:
        # The treasury would pay itself: the issuer holds through another BTC account.
        raise refused("holder", asset, "payout_is_treasury", "the treasury pays, it is not paid")
    if token_account_id in (s.issuer_account_id, s.reserve_account_id):
        raise refused("holder", asset, "not_a_holder_account", "issuer and reserve do not hold")
    if name is not None and not valid_name(name):
        raise refused("holder", asset, "name_invalid", "not a valid account name")
    (code,) = w.create_accounts([Account(token_account_id, asset, name=name)])
    if code is not CreateAccountResult.OK:
        raise refused("holder", asset, code.value, code.reason)
    ts.insert_holder(
        w.store,
        token_account_id=token_account_id,
        asset=asset,
        payout_account_id=payout_account_id,
        timestamp_ns=w.tick(),
    )
    w.applied += 1


def _move(w: LedgerWriter, action: str, asset: str, transfer: Transfer) -> None:
    (code,) = w.create_transfers([transfer])
    if code is CreateTransferResult.OK:
        return
    reason = code.reason
    if action == "mint" and code is CreateTransferResult.EXCEEDS_CREDITS:
        reason = "minting beyond the declared backing (the reserve holds the unminted supply)"
    raise refused(action, asset, code.value, reason)


def mint(
    w: LedgerWriter, asset: str, *, transfer_id: int, to_account_id: int, amount_units: int
) -> None:
    """Sell ``amount_units`` out of the reserve to a holder."""
    s = load_series(w.store, asset)
    if not ts.is_holder(w.store, asset, to_account_id):
        raise TokenError("token_holder_unknown", account=to_account_id, series=asset)
    _move(
        w,
        "mint",
        asset,
        Transfer(transfer_id, s.reserve_account_id, to_account_id, amount_units, code=CODE_MINT),
    )


def burn(
    w: LedgerWriter, asset: str, *, transfer_id: int, from_account_id: int, amount_units: int
) -> None:
    """Return ``amount_units`` from a holder to the reserve: the outstanding supply shrinks."""
    s = load_series(w.store, asset)
    if not ts.is_holder(w.store, asset, from_account_id):
        raise TokenError("token_holder_unknown", account=from_account_id, series=asset)
    _move(
        w,
        "burn",
        asset,
        Transfer(transfer_id, from_account_id, s.reserve_account_id, amount_units, code=CODE_BURN),
    )


def transfer(
    w: LedgerWriter,
    asset: str,
    *,
    transfer_id: int,
    from_account_id: int,
    to_account_id: int,
    amount_units: int,
) -> None:
    """Move tokens between two holders of the series."""
    load_series(w.store, asset)
    for account_id in (from_account_id, to_account_id):
        if not ts.is_holder(w.store, asset, account_id):
            raise TokenError("token_holder_unknown", account=account_id, series=asset)
    _move(
        w,
        "transfer",
        asset,
        Transfer(transfer_id, from_account_id, to_account_id, amount_units, code=CODE_TRANSFER),
    )
