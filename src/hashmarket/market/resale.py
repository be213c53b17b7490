"""Running hashpower contracts for sale: listings, their events, and the view market data reads.

A contract's holder lists it at an ask in sats (:class:`~.orders.ListContract`); another
account lifts the listing (:class:`~.orders.BuyContract`) and the contract changes hands as a
:class:`~.orders.TransferContract` at the ask would, with the hashpower fees on the ask: the
listing rests, so the lister is the maker and the buyer the taker. A listing reserves nothing
— the contract's budget is already reserved and the ask is paid by the buyer — so it is only
engine state: logged with its command, replayed, snapshotted, and gone when it is bought,
cancelled, or its contract changes hands or ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hashmarket.errors import MarketError
from hashmarket.market import checks
from hashmarket.market.hashpower import HashpowerContract
from hashmarket.market.orders import BuyContract, CancelListing, ListContract
from hashmarket.market.products import NS_PER_S, HashpowerSpec, fee

if TYPE_CHECKING:
    from hashmarket.market.engine import MatchingEngine


@dataclass(frozen=True, slots=True)
class Listing:
    """An open offer to sell a running contract at ``ask_sats``."""

    listing_id: int
    contract_id: int
    account_id: int  # the holder who listed it
    ask_sats: int
    ts_ns: int

    def row(self) -> list[int]:
        return [self.listing_id, self.contract_id, self.account_id, self.ask_sats, self.ts_ns]


@dataclass(frozen=True, slots=True)
class ContractListed:
    """A holder offered its running contract for sale (the listing's terms)."""

    listing_id: int
    contract_id: int
    account_id: int
    ask_sats: int
    ts_ns: int


@dataclass(frozen=True, slots=True)
class ListingDone:
    """A listing left the market: ``reason`` is ``sold``, ``cancelled``, ``transferred`` (its
    contract was handed over directly) or ``ended`` (its contract ended)."""

    listing_id: int
    contract_id: int
    account_id: int
    reason: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class ListingQuote:
    """A listing as market data shows it: the ask, and what the buyer gets for it — the
    contract's price (sats per PH/s per day) and speed, the budget left (which the buyer
    reserves) and the whole seconds left in its term."""

    listing_id: int
    contract_id: int
    account_id: int
    ask_sats: int
    listed_ns: int
    price: int
    hashrate_ths: int
    budget_left_sats: int
    end_ns: int
    seconds_left: int

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


class Listings:
    """The open listings of one engine: checks and changes (the engine hands the contract
    over). A refusal raises before anything changes."""

    def __init__(self) -> None:
        self.open: dict[int, Listing] = {}
        self.by_contract: dict[int, int] = {}  # contract id → its open listing's id
        self.next_id = 1

    def _running(
        self, command: str, contract_id: object, ts_ns: int, contracts: dict[int, HashpowerContract]
    ) -> HashpowerContract:
        contract = contracts.get(checks.whole(command, "contract_id", contract_id))
        if contract is None:
            raise MarketError("market_contract_unknown", command=command, contract_id=contract_id)
        if ts_ns >= contract.end_ns:  # its term is over: the next AdvanceTime ends it
            raise checks.refuse(
                command,
                "contract_id",
                contract_id,
                f"has ended (its term ended at {contract.end_ns})",
            )
        return contract

    def check_list(self, c: ListContract, contracts: dict[int, HashpowerContract]) -> None:
        cmd = c.KIND
        account = checks.whole(cmd, "account_id", c.account_id)
        checks.whole(cmd, "ask_sats", c.ask_sats, minimum=0)
        contract = self._running(cmd, c.contract_id, c.ts_ns, contracts)
        if account != contract.buyer_account_id:
            raise checks.refuse(cmd, "account_id", account, "does not hold the contract")
        if c.contract_id in self.by_contract:
            listed = self.by_contract[c.contract_id]
            raise checks.refuse(
                cmd, "contract_id", c.contract_id, f"is already listed (listing {listed})"
            )

    def check(
        self, c: ListContract | CancelListing | BuyContract, contracts: dict[int, HashpowerContract]
    ) -> None:
        """Refuse what :meth:`add`, :meth:`cancel` or :meth:`take` would refuse."""
        if isinstance(c, ListContract):
            self.check_list(c, contracts)
        elif isinstance(c, CancelListing):
            self.check_cancel(c)
        else:
            self.check_buy(c, contracts)

    def add(
        self, c: ListContract, contracts: dict[int, HashpowerContract], events: list[Any]
    ) -> int:
        self.check_list(c, contracts)
        listing = Listing(self.next_id, c.contract_id, c.account_id, c.ask_sats, c.ts_ns)
        self.next_id += 1
        self.open[listing.listing_id] = listing
        self.by_contract[c.contract_id] = listing.listing_id
        events.append(ContractListed(*listing.row()))
        return listing.listing_id

    def _listing(self, command: str, listing_id: object) -> Listing:
        listing = self.open.get(checks.whole(command, "listing_id", listing_id))
        if listing is None:
            raise MarketError("market_listing_unknown", command=command, listing_id=listing_id)
        return listing

    def check_cancel(self, c: CancelListing) -> Listing:
        listing = self._listing(c.KIND, c.listing_id)
        if c.account_id != listing.account_id:
            raise checks.refuse(c.KIND, "account_id", c.account_id, "did not list it")
        return listing

    def cancel(self, c: CancelListing, events: list[Any]) -> int:
        listing = self.check_cancel(c)
        self.close(listing.contract_id, "cancelled", c.ts_ns, events)
        return listing.listing_id

    def take(
        self, c: BuyContract, contracts: dict[int, HashpowerContract], events: list[Any]
    ) -> tuple[Listing, HashpowerContract]:
        """The listing a valid buy lifts (now closed as sold) and its contract."""
        listing, contract = self.check_buy(c, contracts)
        self.close(contract.contract_id, "sold", c.ts_ns, events)
        return listing, contract

    def check_buy(
        self, c: BuyContract, contracts: dict[int, HashpowerContract]
    ) -> tuple[Listing, HashpowerContract]:
        cmd = c.KIND
        account = checks.whole(cmd, "account_id", c.account_id)
        most = checks.whole(cmd, "max_price_sats", c.max_price_sats, minimum=0)
        listing = self._listing(cmd, c.listing_id)
        contract = self._running(cmd, listing.contract_id, c.ts_ns, contracts)
        if account in (contract.buyer_account_id, contract.seller_account_id):
            raise checks.refuse(cmd, "account_id", account, "already holds or sells the contract")
        if listing.ask_sats > most:
            raise checks.refuse(
                cmd, "max_price_sats", most, f"is below the ask of {listing.ask_sats} sats"
            )
        return listing, contract

    def close(self, contract_id: int, reason: str, ts_ns: int, events: list[Any]) -> None:
        """Remove the contract's listing, if it has one."""
        listing_id = self.by_contract.pop(contract_id, None)
        if listing_id is None:
            return
        listing = self.open.pop(listing_id)
        events.append(ListingDone(listing_id, contract_id, listing.account_id, reason, ts_ns))

    def state(self) -> dict[str, Any]:
        return {"next_id": self.next_id, "open": [x.row() for x in self.open.values()]}

    def restore(self, state: dict[str, Any]) -> None:
        self.next_id = state["next_id"]
        for row in state["open"]:
            listing = Listing(*row)
            self.open[listing.listing_id] = listing
            self.by_contract[listing.contract_id] = listing.listing_id


def listing_fees(spec: HashpowerSpec, ask_sats: int) -> tuple[int, int]:
    """The buyer's (taker's) and the lister's (maker's) fee on a listing's ask."""
    return fee(ask_sats, spec.taker_fee_ppm), fee(ask_sats, spec.maker_fee_ppm)


def contract_listings(engine: MatchingEngine, *, now_ns: int | None = None) -> list[ListingQuote]:
    """The open listings, cheapest ask first (then oldest), with their contracts' terms;
    ``seconds_left`` is counted from ``now_ns`` (default: the engine's last command time)."""
    now = engine.last_ts_ns if now_ns is None else now_ns
    out = []
    for listing in engine.resale.open.values():
        contract = engine.contracts[listing.contract_id]
        out.append(
            ListingQuote(
                listing_id=listing.listing_id,
                contract_id=listing.contract_id,
                account_id=listing.account_id,
                ask_sats=listing.ask_sats,
                listed_ns=listing.ts_ns,
                price=contract.price,
                hashrate_ths=contract.hashrate_ths,
                budget_left_sats=contract.budget_sats - contract.spent_sats,
                end_ns=contract.end_ns,
                seconds_left=max(contract.end_ns - now, 0) // NS_PER_S,
            )
        )
    out.sort(key=lambda q: (q.ask_sats, q.listed_ns, q.listing_id))
    return out
