"""A hashrate fund on the ledger: its accounts, the daily strike, creation and redemption.

The fund's terms (:class:`~hashmarket.instruments.FundTerms`) come from its spec file; the
ledger holds what moves:

* the **share asset** (scale 0: whole shares), created with the fund's share issuer account:
  shares outstanding = minus the issuer's balance;
* the fund's **token account**, a registered holder of the token series whose payouts go to
  the fund's **BTC account**; the manager's **BTC account**, paid the fee;
* an **authorised participant** (AP) is a share account opened with the account code
  :data:`AP_ACCOUNT_CODE`, registered (in the token holders' table, under the share asset)
  with the BTC account its distributions go to. Only such accounts create and redeem.

Day D is valued on the fund's holdings at D's **cut** (00:00 UTC of D + 1) and D's fixings
(:func:`hashmarket.pricing.strike_nav`). Everything dealt at D's NAV is booked in D's
**dealing window**, from the cut of D to the cut of D + 1: the strike (the fee to the manager
and, for a distributing fund, the day's income to the shareholders) first, then the orders
received before D's cut-off time (and after the previous one). So the holdings at the next
cut already reflect all of them, and every NAV is reproducible from the ledger and the
fixings at any later time. A write outside its window is refused; so is a day struck before
the day before it.

Every transfer id is derived from the fund, the day or the order id and the leg
(:func:`hashmarket.money.derived_id`): running a strike or an order again applies nothing.
Each command is one ledger transaction: all of it or nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hashmarket.chain import NetworkHistory
from hashmarket.errors import FundError, TokenError
from hashmarket.index import fixings
from hashmarket.instruments import FundTerms
from hashmarket.ledger import token_store as ts
from hashmarket.ledger.clock import day_start_ns
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.fund_state import (
    AP_ACCOUNT_CODE,
    CODE_CASH_COMPONENT,
    CODE_SHARES_CREATED,
    CODE_SHARES_REDEEMED,
    SHARE_SCALE,
    booking_ns,
    check_result,
    day_state,
    fund_id,
    fund_moves,
    fund_series,
    in_window,
    missing,
    refused,
    strike_transfers,
)
from hashmarket.ledger.model import Account, Asset, Transfer
from hashmarket.ledger.token_terms import BTC, DayRate, TokenSeries
from hashmarket.ledger.tokens import open_holder
from hashmarket.ledger.tokens import transfer as token_transfer
from hashmarket.ledger.writer import LedgerWriter
from hashmarket.pricing import (
    Basket,
    NavStrike,
    PremiumDay,
    TrackingError,
    basket,
    premium_discount,
    tracking_error,
)

__all__ = [
    "AP_ACCOUNT_CODE",
    "FundReport",
    "Order",
    "Settled",
    "create_shares",
    "day_rates",
    "nav",
    "nav_history",
    "open_fund",
    "redeem_shares",
    "register_ap",
    "report",
    "strike",
]

# ---- accounts ------------------------------------------------------------------------------


def open_fund(ledger: Ledger, terms: FundTerms, *, at_ns: int | None = None) -> None:
    """Open the fund's share asset and accounts; opening it again changes nothing."""
    with ledger.transaction(at_ns=at_ns) as w:
        series = ts.load_series(w.store, terms.token_series)
        if series.scale > 18:  # pragma: no cover - the ledger caps scales at 18
            raise refused("opening", terms, "token scale")
        code = w.create_asset(
            Asset(terms.fund, SHARE_SCALE), issuer_account_id=terms.share_issuer_account_id
        )
        check_result("opening", terms, code)
        for account_id in (terms.btc_account_id, terms.manager_account_id):
            (result,) = w.create_accounts([Account(account_id, BTC)])
            check_result("opening", terms, result)
        open_holder(
            w,
            terms.token_series,
            token_account_id=terms.token_account_id,
            payout_account_id=terms.btc_account_id,
        )


def register_ap(
    ledger: Ledger,
    terms: FundTerms,
    *,
    share_account_id: int,
    payout_account_id: int,
    at_ns: int | None = None,
) -> None:
    """Register an authorised participant: its share account (account code
    :data:`AP_ACCOUNT_CODE`) and the BTC account its distributions are paid to."""
    with ledger.transaction(at_ns=at_ns) as w:
        fund_series(w.store, terms, "registering an AP")
        payout = w.store.accounts_by_id([payout_account_id])
        if not payout or payout[0][1] != BTC:
            raise refused("registering an AP", terms, f"{payout_account_id} is not a BTC account")
        registered = ts.holder_registration(w.store, share_account_id)
        if registered is not None:
            if registered != (terms.fund, payout_account_id):
                raise refused("registering an AP", terms, "registered with another payout")
            return
        (code,) = w.create_accounts([Account(share_account_id, terms.fund, code=AP_ACCOUNT_CODE)])
        check_result("registering an AP", terms, code)
        ts.insert_holder(
            w.store,
            token_account_id=share_account_id,
            asset=terms.fund,
            payout_account_id=payout_account_id,
            timestamp_ns=w.tick(),
        )
        w.applied += 1


# ---- the strike ----------------------------------------------------------------------------


def strike(
    ledger: Ledger,
    terms: FundTerms,
    rate: DayRate,
    *,
    previous: DayRate | None = None,
    at_ns: int | None = None,
) -> NavStrike:
    """Strike day ``rate.day``: value it and book its fee and distribution, in its dealing
    window, after the day before was struck (``previous``: that day's fixings; not needed
    on the launch day). Striking a day again books nothing and returns the same figures."""
    day = rate.day
    with ledger.transaction(at_ns=at_ns) as w:
        series = fund_series(w.store, terms, "strike")
        in_window(w, terms, day, "strike")
        if day > terms.launch_day:
            if previous is None or previous.day != day - dt.timedelta(days=1):
                raise refused("strike", terms, f"needs the fixings of {day - dt.timedelta(days=1)}")
            before = day_state(w.store, terms, series, previous.day, previous)
            if missing(w.store, strike_transfers(w.store, terms, before)):
                raise FundError(
                    "fund_window",
                    action="strike",
                    fund=terms.fund,
                    day=day,
                    problem=f"{previous.day} was not struck in its window",
                )
        state = day_state(w.store, terms, series, day, rate)
        transfers = strike_transfers(w.store, terms, state)
        for code in w.create_transfers(transfers):
            check_result("strike", terms, code)
    return state


def nav(ledger: Ledger, terms: FundTerms, rate: DayRate) -> NavStrike:
    """Day ``rate.day``'s NAV (read only: the same figures the strike booked or will book)."""
    with ledger.snapshot() as store:
        series = fund_series(store, terms, "valuing")
        return day_state(store, terms, series, rate.day, rate)


def nav_history(
    ledger: Ledger, terms: FundTerms, rates: Mapping[dt.date, DayRate]
) -> list[NavStrike]:
    """The NAV of every day in ``rates`` from the launch whose cut has passed on the clock."""
    now = ledger.clock.now_ns()
    with ledger.snapshot() as store:
        series = fund_series(store, terms, "valuing")
        head = store.read_head().timestamp_ns
        days = [
            day
            for day in sorted(rates)
            if day >= terms.launch_day
            and day_start_ns(day + dt.timedelta(days=1)) <= max(now, head)
        ]
        if not days:
            return []
        moves = fund_moves(store, terms, days[0])
        return [day_state(store, terms, series, day, rates[day], moves) for day in days]


# ---- creation and redemption ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Order:
    """An AP's order: ``creation_units`` units, received at ``received_at`` (UTC). The AP
    delivers or receives tokens through ``token_account_id`` (a holder of the series) and
    sats through ``btc_account_id``."""

    order_id: str
    share_account_id: int
    token_account_id: int
    btc_account_id: int
    creation_units: int
    received_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Settled:
    """An order as booked: its dealing day, the NAV it dealt at and its basket."""

    order: Order
    dealing_day: dt.date
    strike: NavStrike
    basket: Basket

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order.order_id,
            "received_at": self.order.received_at.isoformat(),
            "dealing_day": self.dealing_day.isoformat(),
            "nav_sats_per_share": self.strike.to_dict()["nav_sats_per_share"],
            **self.basket.to_dict(),
        }


def _deal(
    ledger: Ledger, terms: FundTerms, order: Order, rate: DayRate, side: str, at_ns: int | None
) -> Settled:
    action = "creation" if side == "create" else "redemption"
    day = terms.dealing_day(order.received_at)
    if rate.day != day:
        raise FundError(
            "fund_window",
            action=action,
            fund=terms.fund,
            day=day,
            problem=f"an order received at {order.received_at.isoformat()} deals at {day}'s "
            f"NAV (cut-off {terms.cutoff_utc.strftime('%H:%M')} UTC), not {rate.day}'s",
        )
    with ledger.transaction(at_ns=at_ns) as w:
        series = fund_series(w.store, terms, action)
        received_ns = int(order.received_at.timestamp()) * 10**9
        if received_ns > booking_ns(w):
            raise refused(action, terms, f"order {order.order_id!r} is received in the future")
        in_window(w, terms, day, action)
        ap = w.store.accounts_by_id([order.share_account_id])
        if not ap or ap[0][1] != terms.fund or ap[0][3] != AP_ACCOUNT_CODE:
            raise FundError("fund_not_ap", account=order.share_account_id, fund=terms.fund)
        state = day_state(w.store, terms, series, day, rate)
        if missing(w.store, strike_transfers(w.store, terms, state)):
            raise FundError(
                "fund_window",
                action=action,
                fund=terms.fund,
                day=day,
                problem="the day is not struck yet (hashmarket fund strike)",
            )
        b = basket(terms, state, side=side, creation_units=order.creation_units)
        _book(w, terms, series, order, b)
    return Settled(order, day, state, b)


def _book(w: LedgerWriter, terms: FundTerms, series: TokenSeries, order: Order, b: Basket) -> None:
    """The order's three legs in one transaction (a refusal of any rolls back all)."""
    creating = b.side == "create"
    ap_tokens, fund_tokens = order.token_account_id, terms.token_account_id
    action = "creation" if creating else "redemption"
    if b.token_units:
        try:
            token_transfer(
                w,
                series.asset,
                transfer_id=fund_id(terms, order.order_id, "tokens"),
                from_account_id=ap_tokens if creating else fund_tokens,
                to_account_id=fund_tokens if creating else ap_tokens,
                amount_units=b.token_units,
            )
        except TokenError as error:
            raise FundError(
                "fund_ledger",
                action=action,
                fund=terms.fund,
                result_code=error.result_code or error.key,
                reason=f"{b.token_units} {series.asset} tokens: {error.problem}",
            ) from None
    legs = []
    if b.cash_sats:
        ap_btc, fund_btc = order.btc_account_id, terms.btc_account_id
        legs.append(
            Transfer(
                fund_id(terms, order.order_id, "cash"),
                ap_btc if creating else fund_btc,
                fund_btc if creating else ap_btc,
                b.cash_sats,
                code=CODE_CASH_COMPONENT,
            )
        )
    issuer, ap_shares = terms.share_issuer_account_id, order.share_account_id
    legs.append(
        Transfer(
            fund_id(terms, order.order_id, "shares"),
            issuer if creating else ap_shares,
            ap_shares if creating else issuer,
            b.shares,
            code=CODE_SHARES_CREATED if creating else CODE_SHARES_REDEEMED,
        )
    )
    for code in w.create_transfers(legs):
        check_result(action, terms, code)


def create_shares(
    ledger: Ledger, terms: FundTerms, order: Order, rate: DayRate, *, at_ns: int | None = None
) -> Settled:
    """Create shares for an AP at its dealing day's NAV: tokens and sats in, shares out."""
    return _deal(ledger, terms, order, rate, "create", at_ns)


def redeem_shares(
    ledger: Ledger, terms: FundTerms, order: Order, rate: DayRate, *, at_ns: int | None = None
) -> Settled:
    """Redeem an AP's shares at its dealing day's NAV: shares in, tokens and sats out."""
    return _deal(ledger, terms, order, rate, "redeem", at_ns)


def day_rates(history: NetworkHistory, first: dt.date, last: dt.date) -> dict[dt.date, DayRate]:
    """Every day's published fixings (FPPS, BTC and USD) from ``first`` to ``last`` that the
    history has, as the strike and the report read them."""
    first, last = max(first, history.first_date), min(last, history.last_date)
    if last < first:
        return {}
    window = history.between(first, last)
    usd = {f.date: f for f in fixings(window, currency="usd")}
    return {
        f.date: DayRate.from_fixings(f, usd[f.date])
        for f in fixings(window, currency="btc")
        if f.date in usd and usd[f.date].inputs.get("price_usd")
    }


# ---- report --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FundReport:
    """Daily NAVs, the secondary market's premium or discount, and the tracking error."""

    days: list[NavStrike]
    index_btc_per_ph_day: dict[dt.date, Decimal]
    premiums: list[PremiumDay]
    tracking: TrackingError | None

    def to_dict(self) -> dict[str, Any]:
        premium = {p.day: p for p in self.premiums}
        rows = []
        for s in self.days:
            p = premium.get(s.day)
            rows.append(
                {
                    **s.to_dict(),
                    "index_btc_per_ph_day": str(self.index_btc_per_ph_day[s.day]),
                    "price_sats_per_share": None if p is None else str(p.price_sats_per_share),
                    "premium": None if p is None else f"{p.premium:.6f}",
                }
            )
        return {
            "days": rows,
            "tracking_error": None if self.tracking is None else self.tracking.to_dict(),
        }


def report(
    ledger: Ledger,
    terms: FundTerms,
    rates: Mapping[dt.date, DayRate],
    *,
    prices: Mapping[dt.date, Decimal] | None = None,
    window_days: int = 30,
) -> FundReport:
    """NAV history, premium/discount against ``prices`` and tracking error against the
    hashprice index in BTC (over the last ``window_days`` returns of days with shares)."""
    days = nav_history(ledger, terms, rates)
    with_shares = [s for s in days if s.shares]
    tracking = None
    try:
        tracking = tracking_error(
            [s.day for s in with_shares],
            [float(s.nav_sats_per_share) for s in with_shares],
            [float(rates[s.day].hashprice_btc_per_ph_day) for s in with_shares],
            distributed=[float(s.distribution_per_share_sats) for s in with_shares],
            window_days=window_days,
        )
    except FundError as error:
        if error.key != "fund_tracking":
            raise
        # Too few daily returns yet: the report says so (``tracking_error`` is null).
    navs = {s.day: s.nav_sats_per_share for s in with_shares}
    return FundReport(
        days=days,
        index_btc_per_ph_day={d: rates[d].hashprice_btc_per_ph_day for d in rates},
        premiums=premium_discount(navs, prices or {}),
        tracking=tracking,
    )
