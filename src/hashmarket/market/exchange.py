"""The exchange as a service: the engine, its command log and its money on one ledger.

``Exchange.open(ledger, accounts=…)`` rebuilds the engine from the ledger database: the
newest snapshot, then every logged command after it, checked link by link against the hash
chain. ``submit_many(commands)`` is group commit: one ledger transaction for the whole batch,
in which each command is, in order,

1. validated by the engine (a refusal changes nothing and is not logged);
2. if it must be paid for, reserved on the ledger as a pending transfer, in one request with
   the previous commands' effects so the check sees every balance as it now is (an account
   that cannot fund it is refused: nothing is logged or reserved);
3. applied by the engine, appended to the log, and its events turned into transfers
   (:mod:`.clearing`).

The log rows and every transfer commit together or not at all, so after a crash at any point
the ledger holds exactly the effects of the logged commands: recovery replays the log
through the engine (to rebuild the book and the reservations' state) and writes nothing.
Transfer ids are derived from orders, contracts and trades, so applying the same events to
the ledger twice would change nothing either.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hashmarket import money
from hashmarket.errors import LedgerInvariantError, MarketError
from hashmarket.ledger import (
    AccountFlags,
    CreateTransferResult,
    Ledger,
    LedgerWriter,
    Store,
    Transfer,
)
from hashmarket.market import log as mlog
from hashmarket.market import log_store
from hashmarket.market.clearing import Chain, Clearing, ExchangeAccounts, reserve_id
from hashmarket.market.engine import MatchingEngine
from hashmarket.market.orders import (
    Accepted,
    AddMargin,
    BuyContract,
    Command,
    PlaceGpuOrder,
    PlaceOrder,
    ReplaceOrder,
    ReportDelivery,
    Side,
    TransferContract,
    canonical_json,
)
from hashmarket.market.products import HASHPOWER, MarketConfig
from hashmarket.market.resale import listing_fees
from hashmarket.market.snapshot import engine_from_state, engine_state
from hashmarket.money import derived_id

_OK = CreateTransferResult.OK
# Inside a batch's transaction: the store and every command's answer; returns rows written.
OnCommit = Callable[[Store, list[Accepted | MarketError]], int]
# Inside a batch's transaction, before any command runs: the indices of the commands to run.
Admit = Callable[[Store], list[int]]
_NO_OVERDRAFT = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)


@dataclass(frozen=True, slots=True)
class Reservation:
    """What a command must reserve before it is applied, and how to record it after."""

    transfers: list[Transfer]
    what: str
    account_id: int
    amount: int  # what will be reserved
    needed: int  # by how much the account's available balance falls
    asset: str
    record: Callable[[], None]


def exchange_accounts(*, btc: str = "BTC", usd: str = "USD") -> ExchangeAccounts:
    """The exchange's own accounts (their ids are derived, so this writes nothing): an
    :class:`Exchange` opens them in the transaction of the first command it accepts, so a
    refused command leaves a ledger that never traded exactly as it was."""
    ids = {
        name: derived_id("hashmarket.market.account", name)
        for name in ("clearing_btc", "clearing_usd", "fees_btc", "fees_usd", "margin_usd")
    }
    return ExchangeAccounts(**ids, btc_asset=btc, usd_asset=usd)


def open_exchange_accounts(
    ledger: Ledger, *, btc: str = "BTC", usd: str = "USD"
) -> ExchangeAccounts:
    """Open (or find again: the ids are derived) the exchange's own accounts now. The assets
    must exist on the ledger."""
    accounts = exchange_accounts(btc=btc, usd=usd)
    ledger.create_accounts(accounts.records())
    return accounts


class _Funds:
    """Available balances as one batch leaves them: the stored balance (read once per account
    per batch, before any of the batch is written) plus the batch's changes so far."""

    def __init__(self, store: Store, delta: dict[int, int]) -> None:
        self.store = store
        self.delta = delta
        self.base: dict[int, tuple[str, bool, int]] = {}

    def load(self, accounts: Iterable[int]) -> None:
        """Read the stored balances of ``accounts`` (one query for a whole batch)."""
        wanted = sorted({a for a in accounts if type(a) is int and a not in self.base})
        for row in self.store.account_states(wanted) if wanted else ():
            account, asset, flags, pending, posted, _, credits, _ = row
            self.base[account] = (asset, bool(flags & _NO_OVERDRAFT), credits - posted - pending)

    def reserve(self, account: int, asset: str, amount: int) -> CreateTransferResult:
        """Check that ``account`` can reserve ``amount`` more; if so, count it as reserved."""
        if account not in self.base:
            self.load((account,))
        state = self.base.get(account)
        if state is None:
            return CreateTransferResult.DEBIT_ACCOUNT_NOT_FOUND
        found_asset, limited, available = state
        if found_asset != asset:
            return CreateTransferResult.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET
        if limited and amount > available + self.delta.get(account, 0):
            return CreateTransferResult.EXCEEDS_CREDITS
        self.delta[account] = self.delta.get(account, 0) - amount
        return _OK


class Exchange:
    """Books, log and money of one exchange on one ledger. Not thread-safe: one writer."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        accounts: ExchangeAccounts,
        config: MarketConfig,
        snapshot_every: int = 0,
        listener: Callable[[list[Any]], None] | None = None,
    ) -> None:
        self.ledger = ledger
        # Called with each committed batch's events in order (trades, orders done, contract
        # and margin events): a market-data feed subscribes here. Never called for replays.
        self.listener = listener
        self.accounts = accounts
        self._accounts_open = False  # opened with the first accepted command (see submit_many)
        self.config = config
        self.snapshot_every = snapshot_every
        self.genesis = mlog.genesis(config)
        self.engine = MatchingEngine(config)
        self.clearing = Clearing(accounts)
        self.head: tuple[int, bytes] = (0, self.genesis)
        self._since_snapshot = 0

    @classmethod
    def open(
        cls,
        ledger: Ledger,
        *,
        accounts: ExchangeAccounts,
        config: MarketConfig | None = None,
        snapshot_every: int = 0,
        listener: Callable[[list[Any]], None] | None = None,
    ) -> Exchange:
        """The exchange as its log leaves it (from the newest snapshot, if any).
        ``snapshot_every`` > 0 writes a snapshot after that many commands."""
        exchange = cls(
            ledger,
            accounts=accounts,
            config=config or MarketConfig(),
            snapshot_every=snapshot_every,
            listener=listener,
        )
        exchange.recover()
        return exchange

    # -- recovery ---------------------------------------------------------------------------

    def recover(self) -> int:
        """Rebuild the engine from the stored snapshot and log; returns commands replayed."""
        self.engine = MatchingEngine(self.config)
        self.clearing = Clearing(self.accounts)
        self.head = (0, self.genesis)
        with self.ledger.snapshot() as store:
            newest = log_store.newest_snapshot(store)
            if newest is not None:
                self._restore(newest, mlog.log_hash_at(store, newest[0], self.genesis))
            return self.follow(store)

    def follow(self, store: Store) -> int:
        """Apply the commands logged in ``store`` after this exchange's head (by other
        processes, or before a restart); returns how many. Each is checked against the hash
        chain from the head it continues, and its ledger effects are not written again: the
        ledger holds them already."""
        seq, prev = self.head
        replayed = 0
        for entry in mlog.verified(mlog.read_log(store, after_seq=seq), prev=prev, after_seq=seq):
            self._replay(entry.decode())
            self.head = (entry.seq, entry.hash)
            replayed += 1
        return replayed

    def _restore(self, row: Sequence[Any], log_hash: bytes | None) -> None:
        seq, snap_hash, state, digest = row
        text = str(state)
        if hashlib.sha256(text.encode()).hexdigest() != digest or log_hash != bytes(snap_hash):
            raise MarketError(
                "market_log", where=f"snapshot at seq {seq}", problem="does not verify"
            )
        data = json.loads(text)
        self.engine = engine_from_state(self.config, data["engine"])
        self.clearing.restore(data["clearing"])
        self.head = (int(seq), bytes(snap_hash))

    def _replay(self, command: Command) -> None:
        reservation = self._reservation(command)
        if reservation is not None:
            reservation.record()
        self.engine.apply(command)
        self.clearing.effects(self.engine.take_events())

    # -- commands ---------------------------------------------------------------------------

    def submit(self, command: Command) -> Accepted:
        """One command in its own transaction; raises MarketError if it is refused."""
        (result,) = self.submit_many([command])
        if isinstance(result, MarketError):
            raise result
        return result

    def submit_many(
        self,
        commands: Iterable[Command],
        *,
        on_commit: OnCommit | None = None,
        admit: Admit | None = None,
        clock_stamped: bool = False,
    ) -> list[Accepted | MarketError]:
        """Group commit: every command's answer, in order; the accepted ones and their ledger
        effects are durable together when this returns.

        ``on_commit(store, results)``, if given, runs inside the batch's transaction after
        its last write and returns how many rows it wrote there: the HTTP service records
        each command's response with it, so a command and its response commit together. If
        it raises, nothing of the batch is written. ``admit(store)``, if given, runs in the
        transaction before any command and names (by index) the commands to run, whose
        answers alone are returned: the HTTP service claims their idempotency keys there.

        The batch first catches up with the log inside its transaction (:meth:`_start`);
        ``clock_stamped`` commands then take the log's last time if theirs is earlier.

        Reservations are checked against each account's stored balance plus what the batch
        has done to it so far (:attr:`Clearing.available_delta`), and every transfer of the
        batch is written in one request at the end, which the ledger checks again: if it
        refused anything, nothing of the batch is written and the exchange is rebuilt from
        its log (a :class:`LedgerInvariantError`, which would be a bug)."""
        commands = list(commands)
        results: list[Accepted | MarketError] = []
        entries: list[mlog.LogEntry] = []
        published: list[Any] = []
        self.clearing.available_delta = {}
        try:
            with self.ledger.transaction() as writer:
                commands = self._start(writer.store, commands, admit, clock_stamped)
                head = self.head
                effects: list[Transfer] = []
                funds = _Funds(writer.store, self.clearing.available_delta)
                funds.load(
                    c.account_id
                    for c in commands
                    if isinstance(c, (PlaceOrder, PlaceGpuOrder, ReplaceOrder))
                )
                for command in commands:
                    result = self._one(funds, command, effects)
                    results.append(result)
                    if isinstance(result, Accepted):
                        entry = mlog.entry_for(head[1], head[0] + 1, command)
                        entries.append(entry)
                        head = (entry.seq, entry.hash)
                        events = self.engine.take_events()
                        effects.extend(self.clearing.effects(events))
                        if self.listener is not None:
                            published.extend(events)
                if entries and not self._accounts_open:
                    # Existing accounts answer "exists" and are left as they are.
                    writer.create_accounts(self.accounts.records())
                if effects:
                    self._write(writer, effects)
                if entries:
                    mlog.insert_entries(writer.store, entries)
                    writer.applied += len(entries)  # log rows are writes: commit them
                if on_commit is not None:
                    writer.applied += on_commit(writer.store, results)
        except BaseException:
            self.recover()  # the engine ran ahead of what was committed: rebuild it
            raise
        self.head = head
        self._accounts_open = self._accounts_open or bool(entries)
        if self.listener is not None and published:
            self.listener(published)
        self._since_snapshot += len(entries)
        if self.snapshot_every and self._since_snapshot >= self.snapshot_every:
            self.snapshot()
        return results

    def _start(
        self, store: Store, commands: list[Command], admit: Admit | None, clock_stamped: bool
    ) -> list[Command]:
        """A batch's first step, in its write transaction: replay what other processes
        logged since this exchange last read the log, so that the batch's order and transfer
        ids follow theirs. No other writer can enter the transaction until it commits, so
        however busy the others, a batch never loses a race for the log's next seq.
        ``clock_stamped`` commands carry the time they were taken at, not one their sender
        chose: those that the replayed commands make too early take the log's last time
        (the log's time never goes back) instead of being refused. Then ``admit`` names the
        commands to run."""
        self.follow(store)
        if clock_stamped:
            commands = _not_before(commands, self.engine.last_ts_ns)
        if admit is not None:
            commands = [commands[i] for i in admit(store)]
        return commands

    def _one(
        self, funds: _Funds, command: Command, effects: list[Transfer]
    ) -> Accepted | MarketError:
        try:
            self.engine.validate(command)
            reservation = self._reservation(command)
        except MarketError as refused:
            return refused
        if reservation is not None:
            code = funds.reserve(reservation.account_id, reservation.asset, reservation.needed)
            if code is not _OK:
                return MarketError(
                    "market_funds",
                    command=command.KIND,
                    account=reservation.account_id,
                    amount=reservation.amount,
                    asset=reservation.asset,
                    what=reservation.what,
                    result_code=code.value,
                    reason=code.reason,
                )
            effects.extend(reservation.transfers)
            reservation.record()
        try:
            return self.engine.apply(command)
        except MarketError as refused:
            if reservation is not None:  # validate() let through what apply() refused
                raise LedgerInvariantError(
                    "market_ledger", what="reservation", result_code="engine", reason=str(refused)
                ) from refused
            return refused

    @staticmethod
    def _write(writer: LedgerWriter, effects: list[Transfer]) -> None:
        codes = writer.create_transfers(effects)
        for transfer, code in zip(effects, codes, strict=True):
            if code is not _OK:
                raise LedgerInvariantError(
                    "market_ledger",
                    what=f"transfer {transfer.id}",
                    result_code=code.value,
                    reason=code.reason,
                )

    def _reservation(self, command: Command) -> Reservation | None:
        """The pending transfer(s) a valid command needs before it is applied, or None."""
        engine, accounts = self.engine, self.accounts
        if isinstance(command, PlaceOrder):
            oid = engine.next_order_id
            if command.market == HASHPOWER:
                if command.side is not Side.BUY:
                    return None
                amount, credit, asset = command.budget_sats or 0, accounts.clearing_btc, "BTC"
            else:
                amount = engine.futures.reservation_cents(command.market, command.size)
                credit, asset = accounts.margin_usd, "USD"
            return self._new_chain(oid, command.account_id, amount, credit, asset, "the order")
        if isinstance(command, PlaceGpuOrder) and command.side is Side.BUY:
            amount = engine.gpu.reservation_cents(command)
            return self._new_chain(
                engine.next_order_id,
                command.account_id,
                amount,
                accounts.clearing_usd,
                "USD",
                "the GPU block",
            )
        if isinstance(command, TransferContract):
            # The new holder funds the budget left and the price; the reservation itself is
            # made when the transfer is applied (clearing), so nothing is recorded here.
            contract = engine.contracts[command.contract_id]
            needed = contract.budget_sats - contract.spent_sats + command.price_sats
            return Reservation(
                [], "the contract", command.to_account_id, needed, needed, "BTC", lambda: None
            )
        if isinstance(command, BuyContract):
            # As a transfer at the ask, plus the buyer's fee on it.
            listing = engine.resale.open[command.listing_id]
            contract = engine.contracts[listing.contract_id]
            buyer_fee, _ = listing_fees(self.config.hashpower, listing.ask_sats)
            needed = contract.budget_sats - contract.spent_sats + listing.ask_sats + buyer_fee
            return Reservation(
                [], "the contract", command.account_id, needed, needed, "BTC", lambda: None
            )
        if isinstance(command, AddMargin):
            # Paid when the addition is applied (clearing); here the funds are checked.
            amount = command.amount_cents
            return Reservation(
                [], "the margin", command.account_id, amount, amount, "USD", lambda: None
            )
        if isinstance(command, ReplaceOrder):
            market = engine.order_market.get(command.order_id)
            chain = self.clearing.orders.get(command.order_id)
            if market is None or market == HASHPOWER or chain is None:
                return None
            amount = engine.futures.reservation_cents(market, command.size)
            if amount == chain.reserved:
                return None
            resized = Chain.from_state(chain.state())
            transfers = resized.resize(amount)
            return Reservation(
                transfers,
                "the replaced order",
                command.account_id,
                amount,
                amount - chain.reserved,
                "USD",
                lambda: self.clearing.orders.__setitem__(command.order_id, resized),
            )
        return None

    def _new_chain(
        self, oid: int, account: int, amount: int, credit: int, asset: str, what: str
    ) -> Reservation:
        chain = Chain("order", oid, amount, account, credit)
        return Reservation(
            [chain.opening()],
            what,
            account,
            amount,
            amount,
            asset,
            lambda: self.clearing.orders.__setitem__(oid, chain),
        )

    # -- conveniences ------------------------------------------------------------------------

    def report_delivery(
        self,
        contract_id: int,
        *,
        ts_ns: int,
        delivered_ths_s: int | None = None,
        hashes: int | None = None,
    ) -> Accepted:
        """Metered delivery on a running hashpower contract, in TH/s·s or in hashes (10¹²
        hashes are 1 TH/s·s; a remainder under one TH/s·s, worth under a thousandth of a sat
        at any price the market has seen, is not counted). Pays the matching part of the
        budget; raises MarketError if refused."""
        if (delivered_ths_s is None) == (hashes is None):
            raise MarketError(
                "market_field",
                command="delivery",
                field="delivered_ths_s",
                value=delivered_ths_s,
                problem="or hashes must be given (one of them)",
            )
        if hashes is not None:
            if type(hashes) is not int or hashes <= 0:
                raise MarketError(
                    "market_field",
                    command="delivery",
                    field="hashes",
                    value=hashes,
                    problem="must be a positive whole number",
                )
            delivered_ths_s = money.delivered_ths_s(hashes)
        return self.submit(ReportDelivery(ts_ns, contract_id, delivered_ths_s))  # type: ignore[arg-type]

    def contract(self, contract_id: int) -> dict[str, int]:
        """A running hashpower contract's record: its terms and totals, what is still reserved
        for it and the id of the pending transfer that holds it on the ledger."""
        contract = self.engine.contracts.get(contract_id)
        chain = self.clearing.contracts.get(contract_id)
        if contract is None or chain is None:
            raise MarketError(
                "market_contract_unknown", command="contract", contract_id=contract_id
            )
        return {
            **contract.to_dict(),
            "end_ns": contract.end_ns,
            "reserved_sats": chain.reserved,
            "pending_transfer_id": reserve_id("contract", contract_id, chain.k),
        }

    # -- snapshots --------------------------------------------------------------------------

    def snapshot(self) -> int:
        """Store the engine's state at the log head; returns its seq."""
        seq, log_hash = self.head
        state = canonical_json(
            {"engine": engine_state(self.engine), "clearing": self.clearing.state()}
        ).decode()
        digest = hashlib.sha256(state.encode()).hexdigest()
        with self.ledger.transaction() as writer:
            if log_store.insert_snapshot(writer.store, (seq, log_hash, state, digest)):
                writer.applied += 1
        self._since_snapshot = 0
        return seq


def _not_before(commands: list[Command], ts_ns: int) -> list[Command]:
    """``commands`` with any time earlier than ``ts_ns`` moved up to it."""
    if all(c.ts_ns >= ts_ns for c in commands):
        return commands
    return [dataclasses.replace(c, ts_ns=max(c.ts_ns, ts_ns)) for c in commands]
