"""The matching engine against the reference matcher on random order flows (Hypothesis).

Random limit and market orders of every time-in-force, from three accounts (so self-trade
prevention triggers often), on a narrow price range (so orders cross often), with cancels and
cancel-replaces, go through the engine and through :class:`RefBook` side by side. After every
step the fills (maker, price, size), the order's fate, every resting order in arrival order
and the L2 depth must be equal. The same flow replayed from the command log must rebuild the
same engine (book, trades, contracts, budgets), and so must its snapshot. It runs on a futures
book and on the hashpower book, where every fill also opens a contract.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hashmarket.errors import MarketError
from hashmarket.market import (
    CancelOrder,
    MarketConfig,
    MatchingEngine,
    MemoryLog,
    OrderType,
    PlaceOrder,
    RegisterHashrate,
    ReplaceOrder,
    Side,
    TimeInForce,
    monthly_futures,
)
from hashmarket.market.products import HASHPOWER
from hashmarket.market.snapshot import engine_from_state, engine_state
from tests.property.reference_book import RefBook

CONFIG = MarketConfig(futures=monthly_futures(dt.date(2030, 1, 1), 1))
MARKET = CONFIG.futures[0].symbol
TICK = CONFIG.futures[0].tick_cents
T0 = 1_800_000_000 * 10**9  # 2027-01-15: before the 2030-01 contract's last trading day

prices = st.integers(min_value=196, max_value=204)  # in ticks
sizes = st.integers(min_value=1, max_value=12)  # in lots
accounts = st.sampled_from([1, 2, 3])
tifs = st.sampled_from(list(TimeInForce))


class EngineVersusReference(RuleBasedStateMachine):
    """On a futures book: prices in ticks of 25 cents, sizes in contracts."""

    MARKET, TICK, LOT = MARKET, TICK, 1

    def __init__(self) -> None:
        super().__init__()
        self.engine = MatchingEngine(CONFIG)
        self.ref = RefBook()
        self.log = MemoryLog(CONFIG)
        self.ts = T0
        self.open_ids: list[int] = []
        self.setup()

    def setup(self) -> None:
        pass

    def terms(self, buy: bool, size: int) -> dict[str, int]:
        del buy, size
        return {}

    def place(
        self,
        account: int,
        side: Side,
        size: int,
        price: int | None,
        order_type: OrderType = OrderType.LIMIT,
        tif: TimeInForce = TimeInForce.GTC,
    ) -> PlaceOrder:
        return PlaceOrder(
            self.ts,
            account,
            self.MARKET,
            side,
            size,
            price,
            order_type,
            tif,
            **self.terms(side is Side.BUY, size),
        )

    def _apply(self, command: PlaceOrder | CancelOrder | ReplaceOrder):
        result = self.engine.apply(command)
        self.log.append(command)
        self.engine.take_events()
        return result

    def _check(self, result, ref) -> None:
        fills = [
            (t.sell_order_id if t.taker_side is Side.BUY else t.buy_order_id, t.price, t.size)
            for t in result.trades
        ]
        assert fills == ref.fills
        if ref.reason is None:
            assert result.done is None and result.resting == ref.left
        else:
            assert result.done is not None
            assert result.done.reason.value == ref.reason
            assert result.done.remaining == ref.left

    @rule(account=accounts, buy=st.booleans(), price=prices, size=sizes, tif=tifs)
    def limit(self, account: int, buy: bool, price: int, size: int, tif: TimeInForce) -> None:
        self.ts += 1
        side = Side.BUY if buy else Side.SELL
        price, size = price * self.TICK, size * self.LOT
        result = self._apply(self.place(account, side, size, price, tif=tif))
        ref = self.ref.place(result.order_id, account, buy, price, size, tif.value)
        self._check(result, ref)
        if result.done is None:
            self.open_ids.append(result.order_id)

    @rule(account=accounts, buy=st.booleans(), size=sizes, fok=st.booleans())
    def market(self, account: int, buy: bool, size: int, fok: bool) -> None:
        self.ts += 1
        side = Side.BUY if buy else Side.SELL
        tif = TimeInForce.FOK if fok else TimeInForce.IOC
        size *= self.LOT
        result = self._apply(self.place(account, side, size, None, OrderType.MARKET, tif))
        ref = self.ref.place(result.order_id, account, buy, None, size, tif.value)
        self._check(result, ref)

    @precondition(lambda self: self.open_ids)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        self.ts += 1
        order_id = data.draw(st.sampled_from(self.open_ids))
        ref_order = self.ref.find(order_id)
        if ref_order is None:  # filled since: the engine refuses it too
            try:
                self.engine.apply(CancelOrder(self.ts, 1, order_id))
            except MarketError:
                self.open_ids.remove(order_id)
                return
            raise AssertionError("cancel of a filled order accepted")
        result = self._apply(CancelOrder(self.ts, ref_order.account_id, order_id))
        assert result.done is not None and result.done.remaining == ref_order.remaining
        self.ref.cancel(order_id)
        self.open_ids.remove(order_id)

    @precondition(lambda self: self.open_ids)
    @rule(data=st.data(), price=prices, size=sizes, same_price=st.booleans())
    def replace(self, data: st.DataObject, price: int, size: int, same_price: bool) -> None:
        self.ts += 1
        order_id = data.draw(st.sampled_from(self.open_ids))
        ref_order = self.ref.find(order_id)
        if ref_order is None:
            self.open_ids.remove(order_id)
            return
        price, size = price * self.TICK, size * self.LOT
        if same_price:
            price = ref_order.price
        command = ReplaceOrder(self.ts, ref_order.account_id, order_id, price, size)
        result = self._apply(command)
        self._check(result, self.ref.replace(order_id, price, size))

    @rule(account=accounts)
    def someone_elses_order_cannot_be_cancelled(self, account: int) -> None:
        others = [o for o in self.ref.resting if o.account_id != account]
        if others:
            try:
                self.engine.apply(CancelOrder(self.ts, account, others[0].order_id))
            except MarketError:
                return
            raise AssertionError("cancelled another account's order")

    @invariant()
    def same_book(self) -> None:
        book = self.engine.books[self.MARKET]
        assert [tuple(o[:5]) for o in book.resting()] == self.ref.orders()
        assert book.depth() == self.ref.depth()
        bids, asks = self.ref.depth()
        assert book.best_bid() == (bids[0][0] if bids else None)
        assert book.best_ask() == (asks[0][0] if asks else None)

    def teardown(self) -> None:
        # The log replays to the same book, and a snapshot restores it.
        replayed = MatchingEngine(CONFIG)
        for command in self.log.commands():
            replayed.apply(command)
        assert engine_state(replayed) == engine_state(self.engine)
        restored = engine_from_state(CONFIG, engine_state(self.engine))
        assert engine_state(restored) == engine_state(self.engine)


class HashpowerVersusReference(EngineVersusReference):
    """On the hashpower book: ticks of 10 sats, lots of 100 TH/s, buys with budgets (every
    fill opens a contract) and sellers with registered hashrate."""

    MARKET, TICK, LOT = HASHPOWER, CONFIG.hashpower.tick_sats, CONFIG.hashpower.min_lot_ths

    def setup(self) -> None:
        for account in (1, 2, 3):
            command = RegisterHashrate(self.ts, account, 10**9)
            self.engine.apply(command)
            self.log.append(command)

    def terms(self, buy: bool, size: int) -> dict[str, int]:
        return {"budget_sats": size * 1_000, "duration_s": 86_400} if buy else {}


SETTINGS = settings(
    max_examples=60,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
EngineVersusReference.TestCase.settings = SETTINGS
HashpowerVersusReference.TestCase.settings = SETTINGS
TestEngineVersusReference = EngineVersusReference.TestCase
TestHashpowerVersusReference = HashpowerVersusReference.TestCase
