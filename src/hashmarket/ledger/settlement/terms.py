"""A settlement contract's terms: the instruments settled, the states and events of a
contract, its notional and margin, and the ids every settlement movement is derived from."""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import enum
import hashlib
import json
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hashmarket.errors import SettlementError
from hashmarket.instruments import (
    AsianOption,
    BtcPriceSwap,
    Collar,
    ComputeForward,
    DifficultyFuture,
    EuropeanOption,
    HashpriceForward,
    HashrateFuture,
    MarginLock,
    PowerForward,
    RegionalBasisSwap,
    month_periods,
    parse_spec,
    to_spec,
)
from hashmarket.ledger.model import Transfer
from hashmarket.ledger.model import TransferFlags as F
from hashmarket.ledger.settlement_store import SettlementEvent
from hashmarket.money import DECIMAL, Rounding, derived_id, exact, to_minor

SettledInstrument = (
    HashpriceForward
    | HashrateFuture
    | DifficultyFuture
    | BtcPriceSwap
    | EuropeanOption
    | AsianOption
    | Collar
    | ComputeForward
    | RegionalBasisSwap
    | PowerForward
    | MarginLock
)
SETTLED_TYPES: dict[str, type[Any]] = {
    cls.type_name: cls
    for cls in (
        HashpriceForward,
        HashrateFuture,
        DifficultyFuture,
        BtcPriceSwap,
        EuropeanOption,
        AsianOption,
        Collar,
        ComputeForward,
        RegionalBasisSwap,
        PowerForward,
        MarginLock,
    )
}

DEFAULT_MARGIN_RATE: Mapping[str, Decimal] = {"USD": Decimal("0.35"), "BTC": Decimal("0.18")}
DEFAULT_GRACE_DAYS = 2
GRACE_DAYS_MAX = 366
# The one rule settlement rounds by: the ledger records the exact remainder with each event
# and carries it into the next run.
SETTLEMENT_ROUNDING = Rounding.CUMULATIVE_HALF_EVEN
# Transfer codes (the ledger's user category) of settlement movements; tokens use 1-5.
CODE_MARGIN = 20
CODE_VARIATION = 21
CODE_CLOSE_OUT = 22
CODE_RELEASE = 23
# Keeps settlement's derived ids apart from every other use of :func:`derived_id`.
ID_DOMAIN = "hashmarket settlement v1"


class ContractState(enum.StrEnum):
    ACTIVE = "active"
    MARGIN_CALL = "margin_call"
    CLOSED = "closed"  # closed out against the payer's margin
    EXPIRED = "expired"  # ran to its end; margins released

    @property
    def final(self) -> bool:
        return self in (ContractState.CLOSED, ContractState.EXPIRED)


class Party(enum.StrEnum):
    BUYER = "buyer"
    SELLER = "seller"

    @property
    def other(self) -> Party:
        return Party.SELLER if self is Party.BUYER else Party.BUYER

    @property
    def sign(self) -> int:
        """+1 when money flows to the buyer: amounts are signed from the buyer's side."""
        return 1 if self is Party.BUYER else -1


class EventKind(enum.StrEnum):
    OPEN = "open"
    SETTLE = "settle"  # new days fixed; what was due is paid (or nothing was)
    PAID = "paid"  # an amount owed since a margin call is paid: the call is cured
    MARGIN_CALL = "margin_call"  # the payer lacks free funds; new days may have been added
    CLOSE_OUT = "close_out"
    EXPIRE = "expire"


# --------------------------------------------------------------------------------------------
# Terms
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contract:
    """A trade to settle: ``instrument`` between a buyer (long) and a seller (short).

    ``asset`` is the ledger asset it settles in, ``"USD"`` (cents) or ``"BTC"`` (sats), and
    must be the instrument's currency. ``margin_rate`` defaults to
    :data:`DEFAULT_MARGIN_RATE` for the asset; ``notional`` (in USD or BTC) defaults to the
    instrument's own (see :func:`notional_of`) and must be given when it has none.
    ``rounding`` is how the daily amounts become minor units: settlement records the
    remainder of the cumulative rule with every event, so it is the only rule accepted.
    """

    contract_id: str
    instrument: SettledInstrument
    buyer_account_id: int
    seller_account_id: int
    asset: str
    margin_rate: Decimal | None = None
    grace_days: int = DEFAULT_GRACE_DAYS
    notional: Decimal | None = None
    rounding: Rounding = SETTLEMENT_ROUNDING


@dataclass(frozen=True, slots=True)
class ContractStatus:
    """A contract's terms and its settlement state after its last event.

    Signed amounts are in minor units from the buyer's side (positive: the buyer receives).
    """

    contract_id: str
    instrument_type: str
    instrument: SettledInstrument
    asset: str
    scale: int
    buyer_account_id: int
    seller_account_id: int
    escrow_account_id: int
    notional: Decimal
    margin_rate: Decimal
    buyer_margin_minor: int
    seller_margin_minor: int
    grace_days: int
    first_day: dt.date
    last_day: dt.date
    state: ContractState
    through_day: dt.date | None
    due_minor: int
    settled_minor: int
    remainder_minor: Decimal
    called_party: Party | None
    deadline_ns: int | None
    shortfall_minor: int
    last_event: EventKind
    updated_ns: int

    @property
    def outstanding_minor(self) -> int:
        """Due but not paid: positive when the seller owes the buyer."""
        return self.due_minor - self.settled_minor

    @property
    def buyer_pnl_minor(self) -> int:
        return self.settled_minor

    @property
    def seller_pnl_minor(self) -> int:
        return -self.settled_minor

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract_id": self.contract_id,
            "type": self.instrument_type,
            "asset": self.asset,
            "buyer_account_id": self.buyer_account_id,
            "seller_account_id": self.seller_account_id,
            "escrow_account_id": self.escrow_account_id,
            "state": self.state.value,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "through_day": None if self.through_day is None else self.through_day.isoformat(),
            "notional": str(self.notional),
            "margin_rate": str(self.margin_rate),
            "buyer_margin_minor": self.buyer_margin_minor,
            "seller_margin_minor": self.seller_margin_minor,
            "due_minor": self.due_minor,
            "settled_minor": self.settled_minor,
            "outstanding_minor": self.outstanding_minor,
            "remainder_minor": str(self.remainder_minor),
            "buyer_pnl_minor": self.buyer_pnl_minor,
            "seller_pnl_minor": self.seller_pnl_minor,
            "called_party": None if self.called_party is None else self.called_party.value,
            "deadline_ns": self.deadline_ns,
            "shortfall_minor": self.shortfall_minor,
            "last_event": self.last_event.value,
        }


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a run did to one contract: the events it wrote (none if it had nothing to do)
    and the state after them."""

    status: ContractStatus
    events: tuple[SettlementEvent, ...]


# --------------------------------------------------------------------------------------------
# Specs, notional, margin, ids
# --------------------------------------------------------------------------------------------


def instrument_from_spec(spec: Mapping[str, Any]) -> SettledInstrument:
    """The settled instrument a spec mapping describes (:func:`instruments.parse_spec`)."""
    instrument = parse_spec(spec)
    if type(instrument) not in SETTLED_TYPES.values():
        raise SettlementError(
            "settle_unsupported", type=instrument.type_name, known=", ".join(SETTLED_TYPES)
        )
    return instrument  # type: ignore[return-value]


def canonical_spec(instrument: SettledInstrument) -> str:
    """The instrument's spec as canonical JSON (sorted keys, no spaces): what is stored and
    hashed. Floats are written by ``repr``, so reading it back gives the same instrument."""
    spec = to_spec(instrument)
    # A float term given as an int (60 for 60.0) is the same contract: write it one way, so
    # the same trade always has the same text, hash and default id.
    hints = typing.get_type_hints(type(instrument))
    for name, value in spec.items():
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if is_int and float in (hints.get(name), *typing.get_args(hints.get(name))):
            spec[name] = float(value)
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _decimal(value: float) -> Decimal:
    """A term's float as the decimal it was written as (its shortest round-trip digits)."""
    return exact(float(value))


def notional_of(instrument: SettledInstrument) -> Decimal | None:
    """The contract's notional in its currency (USD or BTC): what the margin rate applies
    to. ``None`` when the terms do not fix it (a swap on a miner's future production)."""
    d = _decimal
    if isinstance(instrument, HashpriceForward):
        # Luxor: unit hashprice × units (PH/s × contract days).
        units = d(instrument.notional_phs) * instrument.days
        return d(instrument.fixed_price_per_ph_day) * units
    if isinstance(instrument, HashrateFuture):
        return d(instrument.price_usd_per_ph_day) * 30 * instrument.contracts
    if isinstance(instrument, DifficultyFuture):
        return d(instrument.price_points) * d(instrument.usd_per_point) * d(instrument.contracts)
    if isinstance(instrument, BtcPriceSwap):
        if instrument.quantity_btc_per_month is None:
            return None
        quantity = Decimal(0)
        for first, last in month_periods(instrument.start, instrument.end):
            month_days = calendar.monthrange(first.year, first.month)[1]
            share = Decimal((last - first).days + 1) / Decimal(month_days)
            quantity += d(instrument.quantity_btc_per_month) * share
        return d(instrument.fixed_price_usd) * quantity
    if isinstance(instrument, EuropeanOption | AsianOption):
        return d(instrument.strike) * d(instrument.quantity)
    if isinstance(instrument, Collar):
        return d(instrument.call_strike) * d(instrument.quantity)
    if isinstance(instrument, ComputeForward):
        gpu_hours = d(instrument.gpus) * d(instrument.hours_per_day) * instrument.days
        return d(instrument.fixed_price_usd_per_gpu_hour) * gpu_hours
    if isinstance(instrument, PowerForward):
        kwh = d(instrument.energy_kwh_per_day) * instrument.days
        return d(instrument.fixed_price_usd_per_kwh) * kwh
    if isinstance(instrument, MarginLock):
        # As a hashprice forward's: the hashprice leg's fixed price × PH/s × days.
        units = d(instrument.notional_phs) * instrument.days
        return d(instrument.fixed_hashprice_usd_per_ph_day) * units
    if isinstance(instrument, RegionalBasisSwap):
        return None  # a difference of two floating margins: no price in the terms to scale
    raise AssertionError(f"no notional rule for {type(instrument).__name__}")


def margin_minor_units(notional: Decimal, rate: Decimal, scale: int) -> int:
    """Initial margin in minor units: ``rate × notional``, rounded up (a margin is never
    less than its rate says)."""
    return to_minor(DECIMAL.multiply(rate, notional), scale, Rounding.UP)


def _id(*parts: str) -> int:
    """A settlement id derived from ``parts``: running the same step again names the same
    transfer or account (and the ledger applies it at most once)."""
    return derived_id(ID_DOMAIN, *parts)


def escrow_account_id(asset: str) -> int:
    """The settlement escrow account of an asset: it holds the reserved initial margins."""
    return _id("escrow", asset)


def escrow_account_name(asset: str) -> str:
    return f"settlement-escrow-{asset}"


def default_contract_id(contract: Contract) -> str:
    """An id from the trade's terms (``C-`` and 16 hex digits): opening the same trade again
    is then a replay, not a second trade. Give an id of your own for two identical trades."""
    terms = json.dumps(
        {
            "spec": json.loads(canonical_spec(contract.instrument)),
            "buyer": contract.buyer_account_id,
            "seller": contract.seller_account_id,
            "asset": contract.asset.upper(),
            "margin_rate": None if contract.margin_rate is None else str(contract.margin_rate),
            "grace_days": contract.grace_days,
            "notional": None if contract.notional is None else str(contract.notional),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return "C-" + hashlib.sha256(terms.encode("utf-8")).hexdigest()[:16]


def margin_id(contract_id: str, party: Party) -> int:
    return _id(contract_id, "margin", party.value)


def release_id(contract_id: str, party: Party) -> int:
    return _id(contract_id, "release", party.value)


def event_transfer_id(contract_id: str, seq: int, leg: str) -> int:
    # Keyed by the event that moves the money: a contract's events are numbered once, so a
    # retried run reuses an id only for the very movement it already made.
    return _id(contract_id, "event", str(seq), leg)


def linked(transfers: Sequence[Transfer]) -> list[Transfer]:
    """The transfers as one linked chain: all applied or none."""
    last = len(transfers) - 1
    return [
        dataclasses.replace(t, flags=t.flags | F.LINKED) if i < last else t
        for i, t in enumerate(transfers)
    ]
