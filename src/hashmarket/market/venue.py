"""The exchange as the CLI and the HTTP service run it: one configuration, opening it on a
ledger, catching up with commands other processes logged, and reading open orders.

The configuration is the log's genesis (:func:`hashmarket.market.log.genesis`), so every
process that opens the same ledger must use the same one: :data:`VENUE_CONFIG` lists
hashpower spot, the GPU catalogue and monthly hashprice futures from January 2026 to December
2027, with the default terms.

Several processes may hold an :class:`~hashmarket.market.exchange.Exchange` on one ledger.
The ``market_log`` table is the sequencer: its ``seq`` is a primary key, and each batch writes
its log rows in the same transaction as its ledger effects. A process whose book is behind
the log would write a seq that is taken; its whole transaction fails, nothing of it stays,
and :func:`submit_sequenced` replays what it missed (:func:`catch_up`) and tries again, so
every command is applied to the book as the log orders it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from hashmarket.errors import HashmarketError, MarketError
from hashmarket.ledger import Ledger
from hashmarket.market import log as mlog
from hashmarket.market.book import ACCOUNT, ID, IS_BUY, PRICE, REMAINING
from hashmarket.market.exchange import Admit, Exchange, OnCommit, exchange_accounts
from hashmarket.market.orders import Accepted, Command, Side
from hashmarket.market.products import MarketConfig, monthly_futures

VENUE_CONFIG = MarketConfig(futures=monthly_futures(dt.date(2026, 1, 1), 24))
SEQUENCE_RETRIES = 5


def open_venue(ledger: Ledger, *, config: MarketConfig = VENUE_CONFIG) -> Exchange:
    """The exchange on ``ledger`` as its log leaves it. Opening it writes nothing: its own
    accounts are opened with the first command it accepts."""
    return Exchange.open(ledger, accounts=exchange_accounts(), config=config)


def catch_up(exchange: Exchange) -> int:
    """Apply the commands other processes logged after this exchange's head; returns how many.
    Each is checked against the hash chain from the head it continues."""
    seq, prev = exchange.head
    replayed = 0
    with exchange.ledger.snapshot() as store:
        for entry in mlog.verified(mlog.read_log(store, after_seq=seq), prev=prev, after_seq=seq):
            # The exchange's own replay step: reservations recorded, command applied, events
            # turned into the clearing state (the ledger already holds their effects).
            exchange._replay(entry.decode())
            exchange.head = (entry.seq, entry.hash)
            replayed += 1
    return replayed


def _head_taken(error: BaseException) -> bool:
    text = str(error).lower()
    return "market_log" in text or "unique" in text or "duplicate" in text or "primary" in text


def submit_sequenced(
    exchange: Exchange,
    commands: list[Command],
    *,
    on_commit: OnCommit | None = None,
    admit: Admit | None = None,
    clock_stamped: bool = False,
) -> list[Accepted | MarketError]:
    """:meth:`Exchange.submit_many` after catching up with the log, again if another process
    took the next seq between the two (the failed transaction left nothing behind).

    ``clock_stamped`` commands carry the time they were taken at, not a time their sender
    chose: those that what another process logged meanwhile makes too early take the log's
    last time (the log's time never goes back) instead of being refused."""
    for attempt in range(SEQUENCE_RETRIES):
        catch_up(exchange)
        last_ns = exchange.engine.last_ts_ns
        if clock_stamped and any(c.ts_ns < last_ns for c in commands):
            commands = [dataclasses.replace(c, ts_ns=max(c.ts_ns, last_ns)) for c in commands]
        try:
            return exchange.submit_many(commands, on_commit=on_commit, admit=admit)
        except HashmarketError:
            raise
        except Exception as error:  # the store's integrity error, whichever driver raised it
            if attempt == SEQUENCE_RETRIES - 1 or not _head_taken(error):
                raise
    raise AssertionError("unreachable")


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
