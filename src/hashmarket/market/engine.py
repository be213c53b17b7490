"""The matching engine: a pure, deterministic state machine over commands.

``MatchingEngine.apply(command)`` validates the command against the engine's state, then
changes that state and returns what happened; a refused command raises
:class:`~hashmarket.errors.MarketError` and changes nothing. The engine reads no clock, no
file and no ledger: its state is a function of the configuration and the commands applied,
which is what lets the command log rebuild it (:mod:`.log`) and the service
(:mod:`.exchange`) derive every ledger effect from its events (:mod:`.clearing`).

Events (trades, orders done, hashpower contracts opened, paid and ended, GPU fills, futures
marks) accumulate in :attr:`MatchingEngine.events` until :meth:`MatchingEngine.take_events`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from hashmarket.errors import MarketError
from hashmarket.market import checks
from hashmarket.market.book import ACCOUNT, ID, PRICE, REMAINING, Fill, OrderBook
from hashmarket.market.futures import FuturesState
from hashmarket.market.gpu import GpuMarket
from hashmarket.market.hashpower import (
    ContractEnded,
    ContractOpened,
    HashpowerContract,
    budget_share,
    deliver,
    hand_over,
)
from hashmarket.market.orders import (
    Accepted,
    AddMargin,
    AdvanceTime,
    BuyContract,
    CancelListing,
    CancelOrder,
    Command,
    DoneReason,
    ListContract,
    MarkFutures,
    OrderDone,
    OrderType,
    PlaceGpuOrder,
    PlaceOrder,
    RegisterGpus,
    RegisterHashrate,
    ReplaceOrder,
    ReportDelivery,
    Side,
    TimeInForce,
    Trade,
    TransferContract,
)
from hashmarket.market.products import HASHPOWER, MarketConfig
from hashmarket.market.resale import Listings, listing_fees

_BUY = Side.BUY
# Events are named tuples; building them with tuple.__new__ skips the generated __new__, a
# Python-level call, on the per-order path.
_new = tuple.__new__
_LIMIT = OrderType.LIMIT


class MatchingEngine:
    """Books, hashpower contracts, GPU blocks and futures positions of one exchange."""

    def __init__(self, config: MarketConfig | None = None) -> None:
        self.config = config or MarketConfig()
        self.books: dict[str, OrderBook] = {HASHPOWER: OrderBook(HASHPOWER)}
        self.futures = FuturesState(self.config.futures)
        for spec in self.config.futures:
            self.books[spec.symbol] = OrderBook(spec.symbol)
        self.gpu = GpuMarket(self.config.gpu)
        self._hp_tick = self.config.hashpower.tick_sats
        self._checked: PlaceOrder | None = None  # validated, and nothing applied since
        # futures books open for trading: (tick, trading ends at, book)
        self._fast_books: dict[str, tuple[int, int, OrderBook]] = {
            spec.symbol: (
                spec.tick_cents,
                self.futures.trading_ends_ns[spec.symbol],
                self.books[spec.symbol],
            )
            for spec in self.config.futures
        }
        self.order_market: dict[int, str] = {}  # open spot/futures order → its market
        self.next_order_id = 1
        self.next_trade_id = 1
        self.next_contract_id = 1
        self.seq = 0  # arrival counter: time priority
        self.last_ts_ns = 0
        # hashpower: a buy's [budget left, duration]; capacity registered and committed
        self.hp_budget: dict[int, list[int]] = {}
        self.hp_registered: dict[int, int] = {}
        self.hp_committed: dict[int, int] = {}
        self.contracts: dict[int, HashpowerContract] = {}
        self.contract_ends: list[tuple[int, int]] = []  # heap of (end_ns, contract_id)
        self.resale = Listings()  # running contracts offered for sale
        self.trades: list[Trade] = []
        self.events: list[Any] = []
        self._handlers: dict[type, Callable[[Any], Accepted]] = {
            PlaceOrder: self._place,
            CancelOrder: self._cancel,
            ReplaceOrder: self._replace,
            RegisterHashrate: self._register_hashrate,
            RegisterGpus: self._register_gpus,
            PlaceGpuOrder: self._place_gpu,
            ReportDelivery: self._delivery,
            TransferContract: self._transfer_contract,
            ListContract: self._list_contract,
            CancelListing: self._cancel_listing,
            BuyContract: self._buy_contract,
            AdvanceTime: self._advance,
            MarkFutures: self._mark,
            AddMargin: lambda c: self.futures.add(c, self.events),
        }

    # -- the one entry point ----------------------------------------------------------------

    def validate(self, command: Command) -> None:
        """Refuse (raise MarketError) what :meth:`apply` would refuse, changing nothing. The
        exchange calls it before it reserves money for an order."""
        self._checked = None
        self._check_time(command)
        if isinstance(command, PlaceOrder):
            self._check_place(command)
            self._checked = command  # apply() need not check it again
        elif isinstance(command, PlaceGpuOrder):
            self.gpu.check(command)
        elif isinstance(command, ReplaceOrder):
            self.check_replace(command)
        elif isinstance(command, TransferContract):
            self.check_transfer(command)
        elif isinstance(command, ListContract | CancelListing | BuyContract):
            self.resale.check(command, self.contracts)
        elif isinstance(command, AddMargin):
            self.futures.check_add(command)

    def _check_time(self, command: Command) -> None:
        ts = command.ts_ns
        if type(ts) is not int or ts < self.last_ts_ns:
            raise checks.refuse(
                command.KIND, "ts_ns", ts, f"is before the last command's time {self.last_ts_ns}"
            )

    def apply(self, command: Command) -> Accepted:
        """Apply one command; raises MarketError (and changes nothing) if it is refused."""
        handler = self._handlers.get(type(command))
        if handler is None:
            raise MarketError(
                "market_unknown",
                command=type(command).__name__,
                field="kind",
                what="command",
                value=type(command).__name__,
                known=", ".join(t.__name__ for t in self._handlers),
            )
        ts = command.ts_ns
        if type(ts) is not int or ts < self.last_ts_ns:
            self._check_time(command)
        if self._checked is not None and command is not self._checked:
            self._checked = None
        result = handler(command)
        self.last_ts_ns = ts
        return result

    def take_events(self) -> list[Any]:
        events, self.events = self.events, []
        return events

    # -- continuous books: hashpower spot and futures -----------------------------------------

    def _check_place(self, c: PlaceOrder) -> OrderBook:
        book = self.books.get(c.market)
        if book is None:
            checks.one_of("place", "market", c.market, self.books)
            raise AssertionError  # one_of raised
        checks.whole("place", "account_id", c.account_id)
        checks.member("place", "side", c.side, Side)
        checks.member("place", "order_type", c.order_type, OrderType)
        checks.member("place", "tif", c.tif, TimeInForce)
        hashpower = c.market == HASHPOWER
        tick = self._hp_tick if hashpower else self.futures.specs[c.market].tick_cents
        if c.order_type is OrderType.MARKET:
            if c.price is not None:
                raise checks.refuse("place", "price", c.price, "must be empty for a market order")
            if c.tif is TimeInForce.POST_ONLY:
                raise checks.refuse("place", "tif", c.tif.value, "cannot apply to a market order")
        else:
            checks.on_tick("place", "price", c.price, tick)
        if hashpower:
            self._check_hashpower(c)
        else:
            checks.whole("place", "size", c.size)
            self.futures.check_order(c)
        return book

    def _hashpower_ok(self, c: PlaceOrder) -> bool:
        """The common hashpower order in one expression: a well-formed limit order within
        its seller's capacity, or a buy with a sound budget and duration. False sends it to
        the full checks (which name what is wrong, or pass what this does not cover)."""
        hp = self.config.hashpower
        price, size, account = c.price, c.size, c.account_id
        if not (
            type(price) is int
            and 0 < price <= checks.INT_MAX
            and not price % hp.tick_sats
            and type(size) is int
            and hp.min_lot_ths <= size <= checks.INT_MAX
            and type(account) is int
            and 0 < account <= checks.INT_MAX
            and c.order_type is _LIMIT
            and type(c.tif) is TimeInForce
        ):
            return False
        if c.side is _BUY:
            budget, duration = c.budget_sats, c.duration_s
            return (
                type(budget) is int
                and size <= budget <= checks.INT_MAX
                and type(duration) is int
                and hp.min_duration_s <= duration <= hp.max_duration_s
            )
        free = self.hp_registered.get(account, 0) - self.hp_committed.get(account, 0)
        return (
            c.side is Side.SELL and c.budget_sats is None and c.duration_s is None and size <= free
        )

    def _check_hashpower(self, c: PlaceOrder) -> None:
        checks.hashpower_terms(self.config.hashpower, c)
        if c.side is not _BUY:
            self._check_hashrate_free("place", c.account_id, c.size, 0)

    def _check_hashrate_free(self, command: str, account: int, size: int, released: int) -> None:
        free = self.hp_registered.get(account, 0) - self.hp_committed.get(account, 0) + released
        if size > free:
            raise MarketError(
                "market_capacity",
                command=command,
                account=account,
                free=free,
                unit="TH/s",
                where="for hashpower",
                needed=size,
            )

    def _place(self, c: PlaceOrder) -> Accepted:
        # The common case — a well-formed limit order on an open futures book — is checked in
        # one expression; anything else takes the full checks, which name what is wrong.
        price, size, account = c.price, c.size, c.account_id
        fast = self._fast_books.get(c.market)
        if c is self._checked:
            book = self.books[c.market]
            self._checked = None
        elif c.market == HASHPOWER and self._hashpower_ok(c):
            book = self.books[HASHPOWER]
        elif (
            fast is not None
            and type(price) is int
            and 0 < price <= checks.INT_MAX
            and not price % fast[0]
            and type(size) is int
            and 0 < size <= checks.INT_MAX
            and type(account) is int
            and 0 < account <= checks.INT_MAX
            and c.order_type is _LIMIT
            and type(c.side) is Side
            and type(c.tif) is TimeInForce
            and c.ts_ns < fast[1]
            and c.budget_sats is None
            and c.duration_s is None
        ):
            book = fast[2]
        else:
            book = self._check_place(c)
        oid = self.next_order_id
        self.next_order_id = oid + 1
        if c.market == HASHPOWER:
            if c.side is _BUY:
                self.hp_budget[oid] = [c.budget_sats or 0, c.duration_s or 0]
            else:
                self.hp_committed[c.account_id] = self.hp_committed.get(c.account_id, 0) + c.size
        return self._enter(book, oid, c.account_id, c.side is _BUY, c.price, c.size, c.tif, c.ts_ns)

    def _enter(
        self,
        book: OrderBook,
        oid: int,
        account: int,
        is_buy: bool,
        price: int | None,
        size: int,
        tif: TimeInForce,
        ts_ns: int,
    ) -> Accepted:
        self.seq += 1
        fills: list[Fill] = []
        left, reason = book.place(oid, account, is_buy, price, size, tif, self.seq, fills)
        trades = (
            self._trades(book.market, oid, account, is_buy, size, fills, ts_ns) if fills else ()
        )
        done = None
        if reason is None:
            self.order_market[oid] = book.market
        else:
            done = self._done(oid, account, book.market, reason, left)
        return _new(Accepted, (oid, trades, 0 if reason else left, done))

    def _trades(
        self,
        market: str,
        oid: int,
        account: int,
        is_buy: bool,
        size: int,
        fills: list[Fill],
        ts_ns: int,
    ) -> tuple[Trade, ...]:
        out = []
        taker_side = Side.BUY if is_buy else Side.SELL
        wanted = size  # the taker's size before each fill
        hashpower = market == HASHPOWER
        for maker, qty in fills:
            maker_id = maker[ID]
            if is_buy:
                ids = (oid, maker_id, account, maker[ACCOUNT])
            else:
                ids = (maker_id, oid, maker[ACCOUNT], account)
            if hashpower:
                buy_fee = sell_fee = 0  # paid on delivery
            else:
                buy_fee, sell_fee = self.futures.fees(market, qty, buyer_takes=is_buy)
            trade_id = self.next_trade_id
            trade = _new(
                Trade,
                (
                    trade_id,
                    market,
                    ts_ns,
                    maker[PRICE],
                    qty,
                    *ids,
                    taker_side,
                    0,
                    buy_fee,
                    sell_fee,
                ),
            )
            self.events.append(trade)
            if not hashpower:
                self.futures.on_trade(trade, self.events)
            self.next_trade_id += 1
            out.append(trade)
            self.trades.append(trade)
            if hashpower:
                buy_left = wanted if is_buy else maker[REMAINING] + qty
                self._open_contract(trade, buy_left, maker_is_buyer=not is_buy)
            wanted -= qty
            if not maker[REMAINING]:
                del self.order_market[maker_id]
                self._done(maker_id, maker[ACCOUNT], market, DoneReason.FILLED, 0)
        return tuple(out)

    def _done(
        self, oid: int, account: int, market: str, reason: DoneReason, left: int
    ) -> OrderDone:
        # a hashpower buy's budget goes with it; a sell's unfilled size frees its capacity
        if market == HASHPOWER and self.hp_budget.pop(oid, None) is None and left:
            self.hp_committed[account] -= left
        done: OrderDone = _new(OrderDone, (oid, account, market, reason, left))
        self.events.append(done)
        return done

    def _cancel(self, c: CancelOrder) -> Accepted:
        checks.whole("cancel", "order_id", c.order_id)
        market = self.order_market.get(c.order_id)
        if market is None:
            if self.gpu.owner(c.order_id) == c.account_id:
                return Accepted(c.order_id, (), 0, self.gpu.cancel(c.order_id, self.events))
            raise MarketError(
                "market_order_unknown", command="cancel", order_id=c.order_id, account=c.account_id
            )
        book = self.books[market]
        if book.orders[c.order_id][ACCOUNT] != c.account_id:
            raise MarketError(
                "market_order_unknown", command="cancel", order_id=c.order_id, account=c.account_id
            )
        order = book.cancel(c.order_id)
        assert order is not None
        del self.order_market[c.order_id]
        done = self._done(c.order_id, c.account_id, market, DoneReason.CANCELLED, order[REMAINING])
        return Accepted(c.order_id, (), 0, done)

    def check_replace(self, c: ReplaceOrder) -> tuple[OrderBook, list[Any]]:
        """The book and resting order a valid cancel-replace names (raises if invalid)."""
        market = self.order_market.get(c.order_id)
        book = None if market is None else self.books[market]
        if book is None or book.orders[c.order_id][ACCOUNT] != c.account_id:
            if self.gpu.owner(c.order_id) == c.account_id:
                raise checks.refuse(
                    "replace", "order_id", c.order_id, "is a GPU block: cancel it and place anew"
                )
            raise MarketError(
                "market_order_unknown", command="replace", order_id=c.order_id, account=c.account_id
            )
        order = book.orders[c.order_id]
        is_buy, old_size = order[2], order[REMAINING]
        if market == HASHPOWER:
            tick, lot = self.config.hashpower.tick_sats, self.config.hashpower.min_lot_ths
        else:
            tick, lot = self.futures.spec(book.market).tick_cents, 1
        checks.on_tick("replace", "price", c.price, tick)
        size = checks.whole("replace", "size", c.size, minimum=lot)
        if market == HASHPOWER and is_buy and size > self.hp_budget[c.order_id][0]:
            raise checks.refuse("replace", "size", size, "needs at least 1 sat of budget per TH/s")
        if market == HASHPOWER and not is_buy and size > old_size:
            self._check_hashrate_free("replace", c.account_id, size - old_size, 0)
        if market != HASHPOWER:
            self.futures.check_open(book.market, c.ts_ns, "replace")
        return book, order

    def _replace(self, c: ReplaceOrder) -> Accepted:
        book, order = self.check_replace(c)
        market = book.market
        is_buy, old_price, old_size = order[2], order[PRICE], order[REMAINING]
        price, size = c.price, c.size
        if price == old_price and size <= old_size:
            if size < old_size:
                book.reduce(c.order_id, size)
                if market == HASHPOWER and not is_buy:
                    self.hp_committed[c.account_id] -= old_size - size
            return Accepted(c.order_id, (), size, None)
        book.cancel(c.order_id)
        del self.order_market[c.order_id]
        if market == HASHPOWER and not is_buy:
            self.hp_committed[c.account_id] += size - old_size
        return self._enter(
            book, c.order_id, c.account_id, is_buy, price, size, TimeInForce.GTC, c.ts_ns
        )

    # -- hashpower contracts ------------------------------------------------------------------

    def _register_hashrate(self, c: RegisterHashrate) -> Accepted:
        checks.whole("register_hashrate", "account_id", c.account_id)
        ths = checks.whole("register_hashrate", "hashrate_ths", c.hashrate_ths, minimum=0)
        committed = self.hp_committed.get(c.account_id, 0)
        if ths < committed:
            raise checks.refuse(
                "register_hashrate",
                "hashrate_ths",
                ths,
                f"is below what open sell orders and running contracts commit ({committed})",
            )
        self.hp_registered[c.account_id] = ths
        return Accepted(0)

    def _open_contract(self, trade: Trade, buy_left: int, *, maker_is_buyer: bool) -> None:
        hp = self.config.hashpower
        budget = self.hp_budget[trade.buy_order_id]
        share = budget_share(budget[0], buy_left, trade.size)
        budget[0] -= share
        contract = HashpowerContract(
            contract_id=self.next_contract_id,
            buy_order_id=trade.buy_order_id,
            buyer_account_id=trade.buy_account_id,
            seller_account_id=trade.sell_account_id,
            price=trade.price,
            hashrate_ths=trade.size,
            budget_sats=share,
            duration_s=budget[1],
            start_ns=trade.ts_ns,
            buyer_fee_ppm=hp.maker_fee_ppm if maker_is_buyer else hp.taker_fee_ppm,
            seller_fee_ppm=hp.taker_fee_ppm if maker_is_buyer else hp.maker_fee_ppm,
        )
        self.next_contract_id += 1
        self.contracts[contract.contract_id] = contract
        heapq.heappush(self.contract_ends, (contract.end_ns, contract.contract_id))
        self.events.append(
            ContractOpened(
                contract.contract_id,
                trade.trade_id,
                contract.buy_order_id,
                contract.buyer_account_id,
                contract.seller_account_id,
                contract.price,
                contract.hashrate_ths,
                contract.budget_sats,
                contract.duration_s,
                contract.start_ns,
            )
        )

    def _delivery(self, c: ReportDelivery) -> Accepted:
        checks.whole("delivery", "contract_id", c.contract_id)
        more = checks.whole("delivery", "delivered_ths_s", c.delivered_ths_s)
        contract = self.contracts.get(c.contract_id)
        if contract is None:
            raise MarketError(
                "market_contract_unknown", command="delivery", contract_id=c.contract_id
            )
        payment, exhausted = deliver(contract, c.ts_ns, more)
        self.events.append(payment)
        if exhausted:
            self._end_contract(contract, c.ts_ns, "budget")
        return Accepted(0)

    def check_transfer(self, c: TransferContract) -> HashpowerContract:
        """The running contract ``c`` hands over, if its holder may hand it to that account."""
        cmd = "transfer_contract"
        checks.whole(cmd, "contract_id", c.contract_id)
        checks.whole(cmd, "from_account_id", c.from_account_id)
        to = checks.whole(cmd, "to_account_id", c.to_account_id)
        checks.whole(cmd, "price_sats", c.price_sats, minimum=0)
        contract = self.contracts.get(c.contract_id)
        if contract is None:
            raise MarketError("market_contract_unknown", command=cmd, contract_id=c.contract_id)
        if c.from_account_id != contract.buyer_account_id:
            raise checks.refuse(cmd, "from_account_id", c.from_account_id, "does not hold it")
        if to in (contract.buyer_account_id, contract.seller_account_id):
            raise checks.refuse(cmd, "to_account_id", to, "already holds or sells it")
        return contract

    def _transfer_contract(self, c: TransferContract) -> Accepted:
        contract = self.check_transfer(c)
        self.resale.close(contract.contract_id, "transferred", c.ts_ns, self.events)
        self.events.append(hand_over(contract, c.ts_ns, c.to_account_id, c.price_sats))
        return Accepted(0)

    def _list_contract(self, c: ListContract) -> Accepted:
        return Accepted(self.resale.add(c, self.contracts, self.events))

    def _cancel_listing(self, c: CancelListing) -> Accepted:
        return Accepted(self.resale.cancel(c, self.events))

    def _buy_contract(self, c: BuyContract) -> Accepted:
        listing, contract = self.resale.take(c, self.contracts, self.events)
        fees = listing_fees(self.config.hashpower, listing.ask_sats)
        sold = hand_over(
            contract, c.ts_ns, c.account_id, listing.ask_sats, fees, listing.listing_id
        )
        self.events.append(sold)
        return Accepted(listing.listing_id)

    def _end_contract(self, contract: HashpowerContract, ts_ns: int, reason: str) -> None:
        del self.contracts[contract.contract_id]
        self.resale.close(contract.contract_id, "ended", ts_ns, self.events)
        self.hp_committed[contract.seller_account_id] -= contract.hashrate_ths
        self.events.append(
            ContractEnded(
                contract.contract_id,
                ts_ns,
                reason,
                contract.budget_sats - contract.spent_sats,
                contract.payments,
            )
        )

    def _advance(self, c: AdvanceTime) -> Accepted:
        ends = self.contract_ends
        while ends and ends[0][0] <= c.ts_ns:
            _, contract_id = heapq.heappop(ends)
            contract = self.contracts.get(contract_id)
            if contract is not None:  # else it ended on its budget already
                self._end_contract(contract, c.ts_ns, "duration")
        self.gpu.advance(c.ts_ns, self.events)
        return Accepted(0)

    # -- GPU blocks and futures live in their own modules -------------------------------------

    def _register_gpus(self, c: RegisterGpus) -> Accepted:
        self.gpu.register(c)
        return Accepted(0)

    def _place_gpu(self, c: PlaceGpuOrder) -> Accepted:
        self.gpu.check(c)
        oid = self.next_order_id
        self.next_order_id += 1
        self.seq += 1
        return self.gpu.place(c, oid, self.seq, self)

    def _mark(self, c: MarkFutures) -> Accepted:
        self.futures.mark(c, self.events)
        if c.final:  # the contract is closed: what still rests can never trade
            self._fast_books.pop(c.market, None)
            book = self.books[c.market]
            for order in book.resting():
                book.cancel(order[ID])
                del self.order_market[order[ID]]
                self._done(
                    order[ID], order[ACCOUNT], c.market, DoneReason.EXPIRED, order[REMAINING]
                )
        return Accepted(0)

    def new_trade_id(self) -> int:
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        return trade_id
