"""What the exchange is told (commands) and what it answers (events), as frozen values.

Every command carries its own timestamp, ``ts_ns`` (nanoseconds since the Unix epoch, UTC):
the engine never reads a clock, so the same commands in the same order give the same fills
on any machine, on any day. Commands are logged as canonical JSON (:func:`command_to_dict`,
:func:`command_from_dict`) and replayed from the log.

Prices and sizes are integers in each product's own units (see :mod:`.products`):

* hashpower spot: price in sats per PH/s per day, size in TH/s;
* hashprice futures: price in USD cents per PH/s per day, size in contracts;
* GPU blocks: price in USD cents per GPU-hour, size in GPUs over an hour-aligned window.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, fields
from json.encoder import encode_basestring
from typing import Any, ClassVar, NamedTuple


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(enum.StrEnum):
    """``LIMIT`` trades at its price or better; ``MARKET`` takes what is there at any price and
    never rests (it is immediate-or-cancel by nature)."""

    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(enum.StrEnum):
    """``GTC`` rests until filled or cancelled; ``IOC`` fills what it can now and cancels the
    rest; ``FOK`` fills entirely now or not at all; ``POST_ONLY`` rests and is cancelled
    instead if any part of it would take liquidity."""

    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    POST_ONLY = "post_only"


class DoneReason(enum.StrEnum):
    """Why an order left the book (or never rested)."""

    FILLED = "filled"
    CANCELLED = "cancelled"
    UNFILLED = "unfilled"  # IOC or market remainder, FOK not fillable, AON buy expired unfilled
    SELF_TRADE = "self_trade"  # self-trade prevention cancelled the newest order's remainder
    WOULD_TAKE = "would_take"  # a post-only order that would have crossed
    EXPIRED = "expired"  # its window or duration ran out


# -- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """A limit or market order on a continuous book: hashpower spot (``market="HASHPOWER"``)
    or a listed hashprice future (``market="HPF-2027-01"``).

    A hashpower buy also carries ``budget_sats`` (the most it will spend, fees included) and
    ``duration_s`` (how long each resulting contract runs at most); ``size`` is its speed
    limit in TH/s. ``price`` is ``None`` for a market order."""

    KIND: ClassVar[str] = "place"
    ts_ns: int
    account_id: int
    market: str
    side: Side
    size: int
    price: int | None = None
    order_type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.GTC
    budget_sats: int | None = None
    duration_s: int | None = None


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel an open order (spot, futures or GPU) of ``account_id``."""

    KIND: ClassVar[str] = "cancel"
    ts_ns: int
    account_id: int
    order_id: int


@dataclass(frozen=True, slots=True)
class ReplaceOrder:
    """Cancel-replace: ``size`` is the new remaining size. The same price with a smaller size
    keeps the order's place in the queue; a new price or a larger size sends it to the back
    (and may trade at once, as a new order would). The order keeps its id."""

    KIND: ClassVar[str] = "replace"
    ts_ns: int
    account_id: int
    order_id: int
    price: int
    size: int


@dataclass(frozen=True, slots=True)
class RegisterHashrate:
    """Set an account's registered hashrate: what its hashpower sell orders and running
    contracts together may never exceed."""

    KIND: ClassVar[str] = "register_hashrate"
    ts_ns: int
    account_id: int
    hashrate_ths: int


@dataclass(frozen=True, slots=True)
class RegisterGpus:
    """Add ``gpus`` GPUs of ``model`` to an account's sellable capacity over the hour-aligned
    window ``[start_s, end_s)`` (Unix seconds)."""

    KIND: ClassVar[str] = "register_gpus"
    ts_ns: int
    account_id: int
    model: str
    gpus: int
    start_s: int
    end_s: int


@dataclass(frozen=True, slots=True)
class PlaceGpuOrder:
    """``gpus`` GPUs of ``model`` over ``[start_s, end_s)`` at a limit in USD cents per
    GPU-hour. A buy is all-or-none; a sell block may be split in count and in time. A sell
    draws on registered capacity or on GPUs the account bought (that is how a holder resells
    any part of a block). ``tif`` is ``GTC`` (rest) or ``FOK`` (fill now or never)."""

    KIND: ClassVar[str] = "place_gpu"
    ts_ns: int
    account_id: int
    side: Side
    model: str
    gpus: int
    start_s: int
    end_s: int
    price: int
    tif: TimeInForce = TimeInForce.GTC


@dataclass(frozen=True, slots=True)
class ReportDelivery:
    """Metered delivery on a running hashpower contract: ``delivered_ths_s`` more TH/s·seconds
    (hashes ÷ 10¹²) since the last report. The buyer pays the matching part of the budget."""

    KIND: ClassVar[str] = "delivery"
    ts_ns: int
    contract_id: int
    delivered_ths_s: int


@dataclass(frozen=True, slots=True)
class TransferContract:
    """Hand a running hashpower contract, with what is left of its budget and term, from its
    holder (the buyer) to another account, which pays ``price_sats`` for it (0 for a plain
    transfer). The new holder reserves the budget left; the old holder's reservation is
    released; deliveries from then on are paid from the new holder's reservation."""

    KIND: ClassVar[str] = "transfer_contract"
    ts_ns: int
    contract_id: int
    from_account_id: int
    to_account_id: int
    price_sats: int = 0


@dataclass(frozen=True, slots=True)
class ListContract:
    """Offer a running hashpower contract for sale at ``ask_sats``: its holder (the buyer)
    lists it, with its budget left and the rest of its term. Nothing is reserved; the listing
    rests until it is bought, cancelled, or the contract changes hands or ends. A contract has
    at most one listing; its answer's ``order_id`` is the listing id."""

    KIND: ClassVar[str] = "list_contract"
    ts_ns: int
    contract_id: int
    account_id: int
    ask_sats: int


@dataclass(frozen=True, slots=True)
class CancelListing:
    """Withdraw a listing of ``account_id`` (the holder who listed it)."""

    KIND: ClassVar[str] = "cancel_listing"
    ts_ns: int
    listing_id: int
    account_id: int


@dataclass(frozen=True, slots=True)
class BuyContract:
    """Lift a listing: ``account_id`` becomes the contract's holder if the ask is at most
    ``max_price_sats``. It executes as :class:`TransferContract` at the ask (the new holder
    reserves the budget left and pays the ask), plus the hashpower fees on the ask: the buyer
    (taker) pays the taker fee on top, the lister (maker) receives the ask less the maker
    fee."""

    KIND: ClassVar[str] = "buy_contract"
    ts_ns: int
    listing_id: int
    account_id: int
    max_price_sats: int


@dataclass(frozen=True, slots=True)
class AdvanceTime:
    """Time passes to ``ts_ns``: hashpower contracts past their duration end, GPU orders whose
    window has begun are trimmed to the next whole hour or expire."""

    KIND: ClassVar[str] = "advance"
    ts_ns: int


@dataclass(frozen=True, slots=True)
class MarkFutures:
    """The day's settlement price of a listed future (USD cents per PH/s per day): variation
    margin moves between longs and shorts by the change from the previous mark. With
    ``final=True`` it is the final settlement (the month's average index fixing) and the
    contract closes."""

    KIND: ClassVar[str] = "mark"
    ts_ns: int
    market: str
    price: int
    final: bool = False


@dataclass(frozen=True, slots=True)
class AddMargin:
    """``account_id`` adds ``amount_cents`` of collateral to its open position in the listed
    future ``market`` (to answer a margin call, or ahead of one): moved from its USD account
    to the margin account, and released with the rest of its collateral."""

    KIND: ClassVar[str] = "add_margin"
    ts_ns: int
    account_id: int
    market: str
    amount_cents: int


Command = (
    PlaceOrder
    | CancelOrder
    | ReplaceOrder
    | RegisterHashrate
    | RegisterGpus
    | PlaceGpuOrder
    | ReportDelivery
    | TransferContract
    | ListContract
    | CancelListing
    | BuyContract
    | AdvanceTime
    | MarkFutures
    | AddMargin
)
COMMAND_TYPES: dict[str, type[Any]] = {
    c.KIND: c
    for c in (
        PlaceOrder,
        CancelOrder,
        ReplaceOrder,
        RegisterHashrate,
        RegisterGpus,
        PlaceGpuOrder,
        ReportDelivery,
        TransferContract,
        ListContract,
        CancelListing,
        BuyContract,
        AdvanceTime,
        MarkFutures,
        AddMargin,
    )
}
_ENUMS: dict[str, type[enum.StrEnum]] = {
    "side": Side,
    "order_type": OrderType,
    "tif": TimeInForce,
}


def command_to_dict(command: Command) -> dict[str, Any]:
    """The command as a JSON-ready mapping with its ``kind``."""
    out: dict[str, Any] = {"kind": command.KIND}
    for f in fields(command):
        value = getattr(command, f.name)
        out[f.name] = value.value if isinstance(value, enum.Enum) else value
    return out


def command_from_dict(data: dict[str, Any]) -> Command:
    """Inverse of :func:`command_to_dict` (no validation of values: the engine does that)."""
    kind = data.get("kind")
    cls = COMMAND_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown command kind {kind!r}")
    args = {k: v for k, v in data.items() if k != "kind"}
    for name, enum_type in _ENUMS.items():
        if name in args and args[name] is not None:
            args[name] = enum_type(args[name])
    command: Command = cls(**args)
    return command


def canonical_json(data: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes the log hashes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_COMMAND_KEYS = {
    cls: tuple(sorted(("kind", *(f.name for f in fields(cls))))) for cls in COMMAND_TYPES.values()
}
_JSON_VALUE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json_value(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is int:
        return str(value)
    if isinstance(value, str):
        return encode_basestring(value)  # enums are str subclasses: written as their values
    return _JSON_VALUE(value)


def command_json(command: Command) -> bytes:
    """``canonical_json(command_to_dict(command))``, byte for byte, faster: the key order is
    computed once per command type and the values are written directly (a test compares)."""
    keys = _COMMAND_KEYS[type(command)]
    parts = [
        f'"{k}":"{command.KIND}"' if k == "kind" else f'"{k}":{_json_value(getattr(command, k))}'
        for k in keys
    ]
    return ("{" + ",".join(parts) + "}").encode()


# -- events -----------------------------------------------------------------------------------


class Trade(NamedTuple):
    """One fill between a resting (maker) and an incoming (taker) order.

    ``notional`` is what the buyer pays the seller for this fill in the market's money unit
    (sats for hashpower — 0 at the fill, paid on delivery —, cents for GPUs, 0 for futures,
    whose money moves as margin); fees are the buyer's and the seller's, in the same unit.
    Events are named tuples: immutable, and cheap enough to make one per fill."""

    trade_id: int
    market: str
    ts_ns: int
    price: int
    size: int
    buy_order_id: int
    sell_order_id: int
    buy_account_id: int
    sell_account_id: int
    taker_side: Side
    notional: int = 0
    buy_fee: int = 0
    sell_fee: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = self._asdict()
        out["taker_side"] = self.taker_side.value
        return out


class OrderDone(NamedTuple):
    """An order left the book, or never rested: ``remaining`` was not traded."""

    order_id: int
    account_id: int
    market: str
    reason: DoneReason
    remaining: int


class Accepted(NamedTuple):
    """A command's answer: the order id (for orders), what traded at once, and the order's
    state afterwards (``resting`` size still on the book)."""

    order_id: int
    trades: tuple[Trade, ...] = ()
    resting: int = 0
    done: OrderDone | None = None
