"""The exchange as the CLI and the HTTP service run it: one configuration, opening it on a
ledger, catching up with commands other processes logged, and reading open orders.

The configuration is the log's genesis (:func:`hashmarket.market.log.genesis`), so every
process that opens the same ledger must use the same one: :data:`VENUE_CONFIG` lists
hashpower spot, the GPU catalogue and monthly hashprice futures from January 2026 to December
2027, with the default terms.

Several processes may hold an :class:`~hashmarket.market.exchange.Exchange` on one ledger.
The ``market_log`` table is the sequencer: each batch writes its log rows in the same write
transaction as its ledger effects, and first replays, inside that transaction, whatever other
processes logged since it last read the log (:meth:`Exchange.follow
<hashmarket.market.exchange.Exchange.follow>`), so every command is applied to every book as
the log orders it. :func:`submit_sequenced` catches up before it enters the transaction, so
that little is left to replay while it holds the ledger's write lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from hashmarket.errors import MarketError
from hashmarket.ledger import Ledger
from hashmarket.market.book import ACCOUNT, ID, IS_BUY, PRICE, REMAINING
from hashmarket.market.exchange import Admit, Exchange, OnCommit, exchange_accounts
from hashmarket.market.orders import Accepted, Command, Side
from hashmarket.market.products import MarketConfig, monthly_futures

VENUE_CONFIG = MarketConfig(futures=monthly_futures(dt.date(2026, 1, 1), 24))


def open_venue(ledger: Ledger, *, config: MarketConfig = VENUE_CONFIG) -> Exchange:
    """The exchange on ``ledger`` as its log leaves it. Opening it writes nothing: its own
    accounts are opened with the first command it accepts."""
    return Exchange.open(ledger, accounts=exchange_accounts(), config=config)


def catch_up(exchange: Exchange) -> int:
    """Apply the commands other processes logged after this exchange's head; returns how many."""
    with exchange.ledger.snapshot() as store:
        return exchange.follow(store)


def submit_sequenced(
    exchange: Exchange,
    commands: list[Command],
    *,
    on_commit: OnCommit | None = None,
    admit: Admit | None = None,
    clock_stamped: bool = False,
) -> list[Accepted | MarketError]:
    """:meth:`Exchange.submit_many` after catching up with the log outside its transaction
    (what is logged meanwhile is replayed inside it)."""
    catch_up(exchange)
    return exchange.submit_many(
        commands, on_commit=on_commit, admit=admit, clock_stamped=clock_stamped
    )


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """A resting order: its market, side, limit and what is left of it."""

    order_id: int
    account_id: int
    market: str
    side: Side
    price: int
    remaining: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "account_id": self.account_id,
            "market": self.market,
            "side": self.side.value,
            "price": self.price,
            "remaining": self.remaining,
        }


def open_orders(
    exchange: Exchange, *, account_ids: set[int] | None = None, market: str | None = None
) -> list[OpenOrder]:
    """Resting spot and futures orders (of these accounts, on this market), oldest first."""
    out = []
    for name, book in exchange.engine.books.items():
        if market is not None and name != market:
            continue
        for order in book.resting():
            if account_ids is not None and order[ACCOUNT] not in account_ids:
                continue
            side = Side.BUY if order[IS_BUY] else Side.SELL
            out.append(
                OpenOrder(order[ID], order[ACCOUNT], name, side, order[PRICE], order[REMAINING])
            )
    return out


@dataclass(frozen=True, slots=True)
class FuturesPosition:
    """An account's open position in a listed future: contracts (long > 0, short < 0), the
    collateral held for it and what the margins ask of it, in USD cents; under a margin call
    when its collateral is below maintenance (:class:`~hashmarket.market.futures.MarginCall`)."""

    market: str
    account_id: int
    contracts: int
    collateral_cents: int
    initial_margin_cents: int
    maintenance_margin_cents: int
    last_mark: int | None

    @property
    def margin_call(self) -> bool:
        return self.collateral_cents < self.maintenance_margin_cents

    def to_dict(self) -> dict[str, Any]:
        return {
            "market": self.market,
            "account_id": self.account_id,
            "contracts": self.contracts,
            "collateral_cents": self.collateral_cents,
            "initial_margin_cents": self.initial_margin_cents,
            "maintenance_margin_cents": self.maintenance_margin_cents,
            "last_mark": self.last_mark,
            "margin_call": self.margin_call,
        }


def futures_positions(
    exchange: Exchange, *, account_ids: set[int] | None = None, market: str | None = None
) -> list[FuturesPosition]:
    """Open futures positions (of these accounts, in this market), by market and account."""
    futures = exchange.engine.futures
    out = []
    for (name, account), contracts in sorted(futures.position.items()):
        if not contracts or (market is not None and name != market):
            continue
        if account_ids is not None and account not in account_ids:
            continue
        spec, size = futures.spec(name), abs(contracts)
        out.append(
            FuturesPosition(
                name,
                account,
                contracts,
                futures.collateral.get((name, account), 0),
                size * spec.initial_margin_cents,
                size * spec.maintenance_margin_cents,
                futures.last_mark.get(name),
            )
        )
    return out
