"""Settlement of bilateral contracts from published fixings, on the ledger.

A :class:`Contract` is a trade: an instrument (a hashprice forward, a hashrate or difficulty
future, a BTC price swap, an option, a collar, a compute forward) between a **buyer**, who is
long it, and a **seller**, who is short, settled in one ledger asset (USD in cents or BTC in
sats: the instrument's own currency). The money comes from the instrument's own payoff, the
same function pricing calls (DESIGN.md §1): on day D the buyer is due
``side.sign × instrument.cashflows(fixings)[0]`` for the days fixed so far, built from the
published fixings only, and the seller the negative. (``side.sign`` makes the buyer long
whichever side the spec names: every settled payoff is linear in its side.)

**Open** (:func:`open_contract`): each party that can owe reserves its initial margin — the
margin rate (Luxor: 35 % for USD contracts, 18 % for BTC, configurable) times the notional,
rounded *up* to the minor unit — as a pending transfer into the asset's settlement escrow
account. The ledger checks the party's free funds at reservation; a party without them is
refused and nothing is written. The buyer of an option never owes, so it posts no margin.

**Daily run** (:func:`run` for day D, once the day is over on the ledger clock): for every
open contract, the days after the last one settled, up to D (or the contract's last day),
are added to what is due; what is due and not yet paid moves from payer to receiver in one
transfer out of the payer's free funds (margin stays reserved). A run writes its transfers
and the contract's new state in one transaction; running a day again, or an earlier day,
settles nothing twice, because the state records the days settled through and transfer ids
are derived from the contract id and the event that moves the money.

**Rounding** (the contract's ``rounding``, :attr:`Rounding.CUMULATIVE_HALF_EVEN`, applied by
:func:`hashmarket.money.cumulative_minor`, where floats become integers): each day's amount
is read as the shortest decimal of its float (``repr``), scaled to minor units and snapped to
10⁻⁴ of a minor unit, which removes the payoff's binary noise (``(95.37 − 90) × 10`` is
``53.69999999999999``) without moving any real amount. These exact decimals are added up
from the first day, and the cumulative sum is rounded half to even to a whole minor unit:
day D pays the rounded cumulative through D less the rounded cumulative through the
previous settled day. So the contract's total always equals its whole cash flow rounded
once, each day is within one unit of its own amount, and the remainder (under half a unit)
is recorded with every event, never dropped.

**States** (:class:`ContractState`)::

    active ──(payer short of free funds)──► margin_call ──(grace period over)──► closed
      ▲                                         │
      └──────────(paid: topped up)──────────────┘
    active ──(last day settled, nothing owed)──► expired

In a margin call the owed amount is retried on every run; the deadline is the ledger-clock
time of the call plus ``grace_days``. A run after the deadline closes the contract out: the
payer's reserved margin is posted to the escrow for what is owed (at most all of it; the
ledger releases the rest), paid on to the receiver in the same linked batch, the receiver's
margin is released, and what the margin did not cover is recorded as the shortfall. At the
end of a contract with nothing owed, both margins are released (expiry).

Every movement is between the two parties (the escrow forwards what it takes at once), so
the buyer's settlement P&L is exactly minus the seller's.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import enum
import hashlib
import json
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import PricingError, SettlementError
from hashmarket.index.compute import GpuFixing, QuoteTable, gpu_fixings, load_bundled_quotes
from hashmarket.index.fixings import Fixing, fixings
from hashmarket.instruments.compute import ComputeForward, ForwardSettlement, fixings_from_gpu_index
from hashmarket.instruments.fixings import Fixings
from hashmarket.instruments.forwards import (
    BtcPriceSwap,
    DifficultyFuture,
    HashpriceForward,
    HashrateFuture,
)
from hashmarket.instruments.options import AsianOption, Collar, EuropeanOption
from hashmarket.instruments.spec import parse_spec, to_spec
from hashmarket.instruments.terms import month_periods
from hashmarket.ledger import settlement_store as db
from hashmarket.ledger.clock import day_start_ns
from hashmarket.ledger.core import Ledger, LedgerWriter
from hashmarket.ledger.model import INT64_MAX, NS_PER_S, Account, AccountFlags, Transfer
from hashmarket.ledger.model import TransferFlags as F
from hashmarket.ledger.results import CreateAccountResult, CreateTransferResult
from hashmarket.ledger.settlement_store import SettlementEvent
from hashmarket.ledger.store import Store
from hashmarket.money import DECIMAL, Rounding, cumulative_minor, derived_id, exact, to_minor
from hashmarket.units import SECONDS_PER_DAY

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "DEFAULT_GRACE_DAYS",
    "DEFAULT_MARGIN_RATE",
    "SETTLED_TYPES",
    "Contract",
    "ContractState",
    "ContractStatus",
    "EventKind",
    "Party",
    "PublishedFixings",
    "RunOutcome",
    "SettledInstrument",
    "SettlementEvent",
    "canonical_spec",
    "default_contract_id",
    "escrow_account_id",
    "events",
    "instrument_from_spec",
    "margin_minor_units",
    "notional_of",
    "open_contract",
    "published_fixings",
    "run",
    "status",
]

SettledInstrument = (
    HashpriceForward
    | HashrateFuture
    | DifficultyFuture
    | BtcPriceSwap
    | EuropeanOption
    | AsianOption
    | Collar
    | ComputeForward
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
    )
}
# Options pay their holder only: the long side never owes, so it posts no margin.
_LONG_NEVER_PAYS = (EuropeanOption, AsianOption)

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
_CONTRACT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
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


def _margin_id(contract_id: str, party: Party) -> int:
    return _id(contract_id, "margin", party.value)


def _release_id(contract_id: str, party: Party) -> int:
    return _id(contract_id, "release", party.value)


def _event_transfer_id(contract_id: str, seq: int, leg: str) -> int:
    # Keyed by the event that moves the money: a contract's events are numbered once, so a
    # retried run reuses an id only for the very movement it already made.
    return _id(contract_id, "event", str(seq), leg)


# --------------------------------------------------------------------------------------------
# Published fixings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedFixings:
    """The fixings published so far, from which settlement builds each contract's path:
    hashprice fixings in USD and BTC (``index.fixings.fixings``) and GPU-hour index fixings
    (``index.compute.gpu_fixings``). A run for day D reads none dated after D."""

    usd: tuple[Fixing, ...] = ()
    btc: tuple[Fixing, ...] = ()
    gpu: tuple[GpuFixing, ...] = ()

    def hashrate(self, first: dt.date, through: dt.date) -> tuple[Fixings, str]:
        """Fixings of ``first … through`` and a digest of the published records used."""
        usd = [f for f in self.usd if first <= f.date <= through]
        btc = [f for f in self.btc if first <= f.date <= through]
        if not usd and not btc:
            raise _unpublished(first, through)
        fixings = Fixings.from_published(usd=usd, btc=btc)
        if fixings.first_date > first or fixings.last_date < through:
            raise _unpublished(first, through, fixings.first_date, fixings.last_date)
        lines = [f"{f.date}|{f.currency}|{f.value}|{f.inputs_sha256}" for f in usd + btc]
        return fixings, _digest(lines)

    def compute(
        self, gpu_model: str, term: str, first: dt.date, through: dt.date
    ) -> tuple[Fixings, str]:
        chosen = [
            f
            for f in self.gpu
            if f.gpu_model == gpu_model
            and f.term == term
            and f.period_start == f.period_end
            and first <= f.period_start <= through
        ]
        if not chosen:
            raise _unpublished(first, through, what=f"{gpu_model} {term} GPU-hour")
        fixings = fixings_from_gpu_index(chosen, gpu_model=gpu_model, term=term)
        if fixings.first_date > first or fixings.last_date < through:
            raise _unpublished(
                first, through, fixings.first_date, fixings.last_date, f"{gpu_model} {term} GPU"
            )
        lines = [
            f"{f.period_start}|{f.gpu_model}|{f.term}|{f.value}|{f.inputs_sha256}" for f in chosen
        ]
        return fixings, _digest(lines)


class _UnpublishedError(Exception):
    """Fixings missing for a window; the caller names the contract."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _unpublished(
    first: dt.date,
    through: dt.date,
    found_first: dt.date | None = None,
    found_last: dt.date | None = None,
    what: str = "hashprice",
) -> _UnpublishedError:
    needed = f"needs published {what} fixings from {first} to {through}"
    if found_first is None:
        return _UnpublishedError(f"{needed}; none are published")
    return _UnpublishedError(f"{needed}; the published ones run from {found_first} to {found_last}")


def _digest(lines: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(lines)).encode("utf-8")).hexdigest()


def _buyer_amounts(
    instrument: SettledInstrument, published: PublishedFixings, first: dt.date, through: dt.date
) -> tuple[FloatArray, str]:
    """What the buyer receives on each day of ``first … through`` (currency units), from the
    instrument's own payoff on the published path, and the digest of the fixings used."""
    if isinstance(instrument, ComputeForward):
        fixings, digest = published.compute(instrument.gpu_model, instrument.term, first, through)
        fixings = fixings.between(first, through)
        if through < instrument.end:
            # The compute forward's payoff reads its whole window, unlike the hashrate
            # instruments, which pay the days covered. A daily forward's amount on a day
            # depends on that day's fixing alone, so the forward cut at `through` pays the
            # same amounts on the days it covers; an average forward pays only at its end.
            if instrument.settlement is ForwardSettlement.AVERAGE:
                return np.zeros((through - first).days + 1), digest
            instrument = dataclasses.replace(instrument, end=through)
        amounts = instrument.cashflows(fixings)[0]
    else:
        hashrate, digest = published.hashrate(first, through)
        amounts = instrument.cashflows(hashrate.between(first, through))[0]
    return np.asarray(amounts * instrument.side.sign, dtype=np.float64), digest


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _status(store: Store, row: db.ContractRow, event: SettlementEvent) -> ContractStatus:
    scale = store.query("SELECT scale FROM assets WHERE code = ?", (row.asset,))[0][0]
    return ContractStatus(
        contract_id=row.contract_id,
        instrument_type=row.instrument_type,
        instrument=instrument_from_spec(json.loads(row.spec)),
        asset=row.asset,
        scale=scale,
        buyer_account_id=row.buyer_account_id,
        seller_account_id=row.seller_account_id,
        escrow_account_id=row.escrow_account_id,
        notional=row.notional,
        margin_rate=row.margin_rate,
        buyer_margin_minor=row.buyer_margin_minor,
        seller_margin_minor=row.seller_margin_minor,
        grace_days=row.grace_days,
        first_day=row.first_day,
        last_day=row.last_day,
        state=ContractState(event.state),
        through_day=event.through_day,
        due_minor=event.due_minor,
        settled_minor=event.settled_minor,
        remainder_minor=event.remainder_minor,
        called_party=None if event.called_party is None else Party(event.called_party),
        deadline_ns=event.deadline_ns,
        shortfall_minor=event.shortfall_minor,
        last_event=EventKind(event.kind),
        updated_ns=event.timestamp_ns,
    )


def _contract(store: Store, contract_id: str) -> db.ContractRow:
    row = db.load_contract(store, contract_id)
    if row is None:
        raise SettlementError("settle_contract_unknown", contract=contract_id)
    return row


def status(ledger: Ledger, contract_id: str | None = None) -> list[ContractStatus]:
    """Every contract's state (by id), or one contract's."""
    with ledger.snapshot() as store:
        if contract_id is not None:
            row = _contract(store, contract_id)
            return [_status(store, row, db.last_event(store, contract_id))]
        last = db.last_events(store)
        return [_status(store, r, last[r.contract_id]) for r in db.load_contracts(store)]


def events(ledger: Ledger, contract_id: str) -> list[SettlementEvent]:
    """A contract's events, oldest first."""
    with ledger.snapshot() as store:
        _contract(store, contract_id)
        return db.events(store, contract_id)


# --------------------------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------------------------


def _invalid(contract_id: str, field: str, problem: str) -> SettlementError:
    return SettlementError(
        "settle_contract_invalid", contract=contract_id, field=field, problem=problem
    )


def _rate(value: object, contract_id: str) -> Decimal:
    if isinstance(value, bool | float):
        # 0.35 as a float is not 35/100; the rate multiplies money, so it must be exact.
        raise _invalid(contract_id, "margin_rate", "must be a Decimal, an int or a decimal string")
    try:
        rate = Decimal(value) if isinstance(value, int | str | Decimal) else None
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1):
        raise _invalid(contract_id, "margin_rate", f"{value!r} is not a number from 0 to 1")
    return rate


def _resolve_terms(store: Store, contract: Contract) -> db.ContractRow:
    """The row to store for ``contract``, every term checked."""
    cid = contract.contract_id
    if not isinstance(cid, str) or not _CONTRACT_ID.match(cid):
        raise _invalid(
            str(cid), "contract_id", "must be 1-64 letters, digits, '.', '_', ':' or '-'"
        )
    instrument = contract.instrument
    if type(instrument) not in SETTLED_TYPES.values():
        raise SettlementError(
            "settle_unsupported",
            type=getattr(instrument, "type_name", type(instrument).__name__),
            known=", ".join(SETTLED_TYPES),
        )
    asset = contract.asset.upper() if isinstance(contract.asset, str) else ""
    currency = instrument.currency.value.upper()
    if asset != currency:
        raise _invalid(
            cid,
            "asset",
            f"{contract.asset!r}: the instrument pays in {currency}, so it settles in {currency}",
        )
    found = store.query("SELECT scale FROM assets WHERE code = ?", (asset,))
    if not found:
        raise _invalid(cid, "asset", f"the ledger has no {asset} asset")
    scale = int(found[0][0])
    grace = contract.grace_days
    if type(grace) is not int or not 0 <= grace <= GRACE_DAYS_MAX:
        raise _invalid(cid, "grace_days", f"{grace!r} is not a whole number from 0 to 366")
    if contract.rounding != SETTLEMENT_ROUNDING:
        raise _invalid(
            cid,
            "rounding",
            f"{str(contract.rounding)!r}: contracts settle by {SETTLEMENT_ROUNDING.value}, "
            "the rule whose remainder each event records",
        )
    rate = _rate(
        DEFAULT_MARGIN_RATE[asset] if contract.margin_rate is None else contract.margin_rate, cid
    )
    notional = contract.notional if contract.notional is not None else notional_of(instrument)
    if notional is None:
        raise _invalid(cid, "notional", "must be given: the terms do not fix it")
    if not isinstance(notional, Decimal) or not notional.is_finite() or notional < 0:
        raise _invalid(cid, "notional", f"{notional!r} is not a non-negative Decimal")
    margin = margin_minor_units(notional, rate, scale)
    if margin > INT64_MAX:
        raise _invalid(cid, "notional", "gives a margin beyond the ledger's 2**63 - 1 units")
    # Every settled type has a fixed window (only the epoch-value future's depends on the
    # as-of day and the chain tip, and it is not settled here).
    first, last = instrument.fixing_window(asof=dt.date.min, height=0)
    spec = canonical_spec(instrument)
    row = db.ContractRow(
        contract_id=cid,
        instrument_type=instrument.type_name,
        spec=spec,
        spec_sha256=hashlib.sha256(spec.encode("utf-8")).hexdigest(),
        asset=asset,
        buyer_account_id=contract.buyer_account_id,
        seller_account_id=contract.seller_account_id,
        escrow_account_id=escrow_account_id(asset),
        notional=notional,
        margin_rate=rate,
        buyer_margin_minor=0 if isinstance(instrument, _LONG_NEVER_PAYS) else margin,
        seller_margin_minor=margin,
        grace_days=grace,
        first_day=first,
        last_day=last,
        timestamp_ns=0,
    )
    _check_parties(store, row)
    return row


def _check_parties(store: Store, row: db.ContractRow) -> None:
    cid = row.contract_id
    buyer, seller = row.buyer_account_id, row.seller_account_id
    for field, account_id in (("buyer_account_id", buyer), ("seller_account_id", seller)):
        if type(account_id) is not int or not 0 < account_id <= INT64_MAX:
            raise _invalid(cid, field, f"{account_id!r} is not an account id")
        if account_id == row.escrow_account_id:
            raise _invalid(cid, field, "is the settlement escrow account")
    if buyer == seller:
        raise _invalid(cid, "seller_account_id", "is the buyer: a trade needs two parties")
    found = {r[0]: r for r in store.accounts_by_id([buyer, seller])}
    for field, account_id in (("buyer_account_id", buyer), ("seller_account_id", seller)):
        account = found.get(account_id)
        if account is None:
            raise SettlementError("account_not_found", account=account_id)
        if account[1] != row.asset:
            raise _invalid(cid, field, f"account {account_id} holds {account[1]}, not {row.asset}")
        if account[2] & int(AccountFlags.ISSUER):
            raise _invalid(cid, field, f"account {account_id} is the {row.asset} issuer")


def _same_terms(stored: db.ContractRow, new: db.ContractRow) -> bool:
    return dataclasses.replace(stored, timestamp_ns=0) == new


def _refused(action: str, contract_id: str, code: CreateTransferResult) -> SettlementError:
    return SettlementError(
        "settle_refused",
        action=action,
        contract=contract_id,
        result_code=code.value,
        reason=code.reason,
    )


def _linked(transfers: Sequence[Transfer]) -> list[Transfer]:
    """The transfers as one linked chain: all applied or none."""
    last = len(transfers) - 1
    return [
        dataclasses.replace(t, flags=t.flags | F.LINKED) if i < last else t
        for i, t in enumerate(transfers)
    ]


def _apply_all(w: LedgerWriter, action: str, contract_id: str, batch: Sequence[Transfer]) -> None:
    if not batch:
        return
    codes = w.create_transfers(_linked(batch))
    for code in codes:
        if code not in (CreateTransferResult.OK, CreateTransferResult.LINKED_EVENT_FAILED):
            raise _refused(action, contract_id, code)


def open_contract(
    ledger: Ledger, contract: Contract, *, at_ns: int | None = None
) -> ContractStatus:
    """Record the trade and reserve the initial margins (see the module doc).

    Opening the same trade again under the same id changes nothing and returns its state;
    other terms under an existing id are refused. A party that lacks the free funds for its
    margin is refused (:class:`SettlementError` naming it) and nothing is written.
    ``at_ns`` opens it back-dated, as an import (see ``Ledger.transaction``).
    """
    with ledger.transaction(at_ns=at_ns) as w:
        store = w.store
        row = _resolve_terms(store, contract)
        stored = db.load_contract(store, row.contract_id)
        if stored is not None:
            if not _same_terms(stored, row):
                raise SettlementError(
                    "settle_refused",
                    action="opening",
                    contract=row.contract_id,
                    result_code="exists_with_different_terms",
                    reason="a contract with this id has other terms",
                )
            return _status(store, stored, db.last_event(store, row.contract_id))
        (code,) = w.create_accounts(
            [Account(row.escrow_account_id, row.asset, name=escrow_account_name(row.asset))]
        )
        if code is not CreateAccountResult.OK:
            raise SettlementError(
                "settle_refused",
                action="opening",
                contract=row.contract_id,
                result_code=code.value,
                reason=f"escrow account {row.escrow_account_id}: {code.reason}",
            )
        _reserve_margins(w, row)
        row = dataclasses.replace(row, timestamp_ns=w.tick())
        db.insert_contract(store, row)
        event = SettlementEvent(
            contract_id=row.contract_id,
            seq=1,
            kind=EventKind.OPEN.value,
            run_day=None,
            state=ContractState.ACTIVE.value,
            through_day=None,
            due_minor=0,
            settled_minor=0,
            amount_minor=0,
            remainder_minor=Decimal(0),
            called_party=None,
            deadline_ns=None,
            shortfall_minor=0,
            transfer_id=None,
            fixings_sha256=None,
            timestamp_ns=w.tick(),
        )
        db.insert_event(store, event)
        w.applied += 1
        return _status(store, row, event)


def _reserve_margins(w: LedgerWriter, row: db.ContractRow) -> None:
    """Both margins as pending transfers into the escrow, one chain; a refusal names the
    party that could not fund its margin."""
    parties = [
        (party, account, amount)
        for party, account, amount in (
            (Party.BUYER, row.buyer_account_id, row.buyer_margin_minor),
            (Party.SELLER, row.seller_account_id, row.seller_margin_minor),
        )
        if amount > 0
    ]
    if not parties:
        return
    batch = [
        Transfer(
            _margin_id(row.contract_id, party),
            account,
            row.escrow_account_id,
            amount,
            F.PENDING,
            code=CODE_MARGIN,
        )
        for party, account, amount in parties
    ]
    codes = w.create_transfers(_linked(batch))
    for (party, account, amount), code in zip(parties, codes, strict=True):
        if code in (CreateTransferResult.OK, CreateTransferResult.LINKED_EVENT_FAILED):
            continue
        raise SettlementError(
            "settle_margin_refused",
            contract=row.contract_id,
            party=party.value,
            account=account,
            amount=f"{Decimal(amount).scaleb(-_scale_of(w.store, row.asset))}",
            asset=row.asset,
            result_code=code.value,
            reason=code.reason,
        )


def _scale_of(store: Store, asset: str) -> int:
    return int(store.query("SELECT scale FROM assets WHERE code = ?", (asset,))[0][0])


# --------------------------------------------------------------------------------------------
# The daily run
# --------------------------------------------------------------------------------------------


class _Step:
    """A contract's state during one run: the last event, advanced event by event."""

    def __init__(self, w: LedgerWriter, row: db.ContractRow, last: SettlementEvent) -> None:
        self.w = w
        self.row = row
        self.last = last
        self.written: list[SettlementEvent] = []

    @property
    def state(self) -> ContractState:
        return ContractState(self.last.state)

    @property
    def outstanding(self) -> int:
        return self.last.due_minor - self.last.settled_minor

    def next_seq(self) -> int:
        return self.last.seq + 1

    def write(self, kind: EventKind, **changes: Any) -> SettlementEvent:
        """Append the next event: the state so far with ``changes`` (an event moves nothing
        and names no transfer unless ``changes`` say so)."""
        fields: dict[str, Any] = {
            "seq": self.next_seq(),
            "kind": kind.value,
            "amount_minor": 0,
            "transfer_id": None,
            "timestamp_ns": self.w.tick(),
        }
        fields.update(changes)
        event = dataclasses.replace(self.last, **fields)
        db.insert_event(self.w.store, event)
        self.w.applied += 1
        self.last = event
        self.written.append(event)
        return event

    def party_account(self, party: Party) -> int:
        return self.row.buyer_account_id if party is Party.BUYER else self.row.seller_account_id

    def margin(self, party: Party) -> int:
        return self.row.buyer_margin_minor if party is Party.BUYER else self.row.seller_margin_minor


def run(
    ledger: Ledger,
    day: dt.date,
    published: PublishedFixings,
    *,
    contract_id: str | None = None,
) -> list[RunOutcome]:
    """Settle day ``day`` for every contract not closed or expired (or for one contract), in
    one transaction: a refusal (fixings not published, say) leaves every contract as it was.

    Days after a contract's last settled day are settled too (a missed day is caught up);
    a day already settled settles nothing again. A contract in a margin call is retried.
    """
    with ledger.transaction() as w:
        cut = day + dt.timedelta(days=1)
        if w.now_ns < day_start_ns(cut):
            raise SettlementError("settle_day_not_over", day=day, cut=cut)
        store = w.store
        if contract_id is not None:
            rows = [_contract(store, contract_id)]
            last = {contract_id: db.last_event(store, contract_id)}
        else:
            rows, last = db.load_contracts(store), db.last_events(store)
        outcomes = []
        for row in rows:
            step = _Step(w, row, last[row.contract_id])
            if not step.state.final:
                _run_contract(step, day, published)
            outcomes.append(RunOutcome(_status(store, row, step.last), tuple(step.written)))
        return outcomes


def _run_contract(step: _Step, day: dt.date, published: PublishedFixings) -> None:
    row = step.row
    through = min(day, row.last_day)
    done = step.last.through_day
    added = through >= row.first_day and (done is None or through > done)
    if added:
        _add_days(step, day, through, published)
    if step.outstanding:
        _collect(step, day, new_days=added)
    elif added:
        step.write(
            EventKind.SETTLE, state=ContractState.ACTIVE.value, called_party=None, deadline_ns=None
        )
    if (
        step.state is ContractState.ACTIVE
        and step.last.through_day == row.last_day
        and not step.outstanding
    ):
        _expire(step, day)


def _add_days(step: _Step, day: dt.date, through: dt.date, published: PublishedFixings) -> None:
    """Add the days after the last settled one, through ``through``, to what is due. Only
    the new days' amounts are taken: the days settled before stay as recorded."""
    row = step.row
    instrument = instrument_from_spec(json.loads(row.spec))
    try:
        amounts, digest = _buyer_amounts(instrument, published, row.first_day, through)
    except _UnpublishedError as missing:
        raise SettlementError(
            "settle_fixings", contract=row.contract_id, problem=missing.problem
        ) from None
    except PricingError as refused:
        raise SettlementError(
            "settle_fixings", contract=row.contract_id, problem=refused.problem
        ) from None
    done = step.last.through_day
    start = 0 if done is None else (done - row.first_day).days + 1
    carried = Decimal(step.last.due_minor) + step.last.remainder_minor
    due, remainder = cumulative_minor(
        amounts[start:], _scale_of(step.w.store, row.asset), carried=carried
    )
    # Held in memory until the step's event is written (settle, margin call or close-out).
    step.last = dataclasses.replace(
        step.last,
        run_day=day,
        through_day=through,
        due_minor=due,
        remainder_minor=remainder,
        fixings_sha256=digest,
    )


def _collect(step: _Step, day: dt.date, *, new_days: bool) -> None:
    """Move what is owed from the payer's free funds; a payer short of them is called, and
    closed out once the call's deadline has passed."""
    owed = step.outstanding
    payer = Party.SELLER if owed > 0 else Party.BUYER
    amount = abs(owed)
    receiver = payer.other
    seq = step.next_seq()
    tid = _event_transfer_id(step.row.contract_id, seq, "variation")
    (code,) = step.w.create_transfers(
        [
            Transfer(
                tid,
                step.party_account(payer),
                step.party_account(receiver),
                amount,
                code=CODE_VARIATION,
            )
        ]
    )
    if code is CreateTransferResult.OK:
        kind = EventKind.SETTLE if new_days else EventKind.PAID
        step.write(
            kind,
            run_day=day,
            state=ContractState.ACTIVE.value,
            settled_minor=step.last.due_minor,
            called_party=None,
            deadline_ns=None,
            amount_minor=owed,
            transfer_id=tid,
        )
        return
    if code is not CreateTransferResult.EXCEEDS_CREDITS:
        raise _refused("variation payment", step.row.contract_id, code)
    now = step.w.now_ns
    called = step.state is ContractState.MARGIN_CALL and step.last.called_party == payer.value
    if not called:
        deadline = now + step.row.grace_days * SECONDS_PER_DAY * NS_PER_S
        step.write(
            EventKind.MARGIN_CALL,
            run_day=day,
            state=ContractState.MARGIN_CALL.value,
            called_party=payer.value,
            deadline_ns=deadline,
        )
    elif new_days:
        step.write(EventKind.MARGIN_CALL, run_day=day)
    deadline_ns = step.last.deadline_ns
    assert deadline_ns is not None
    if now >= deadline_ns:
        _close_out(step, day, payer, amount)


def _close_out(step: _Step, day: dt.date, payer: Party, owed: int) -> None:
    row = step.row
    receiver = payer.other
    margin = step.margin(payer)
    taken = min(owed, margin)
    seq = step.next_seq()
    batch: list[Transfer] = []
    if taken:
        # Post what is owed out of the payer's reservation (the ledger releases the rest of
        # it) and pay it on from the escrow: the escrow ends where it started.
        batch.append(
            Transfer(
                _event_transfer_id(row.contract_id, seq, "post"),
                amount=taken,
                flags=F.POST_PENDING,
                pending_id=_margin_id(row.contract_id, payer),
                code=CODE_CLOSE_OUT,
            )
        )
        batch.append(
            Transfer(
                _event_transfer_id(row.contract_id, seq, "pay"),
                row.escrow_account_id,
                step.party_account(receiver),
                taken,
                code=CODE_CLOSE_OUT,
            )
        )
    elif margin:
        batch.append(_void(row, payer))
    if step.margin(receiver):
        batch.append(_void(row, receiver))
    _apply_all(step.w, "close-out", row.contract_id, batch)
    moved = taken * receiver.sign
    step.write(
        EventKind.CLOSE_OUT,
        run_day=day,
        state=ContractState.CLOSED.value,
        settled_minor=step.last.settled_minor + moved,
        shortfall_minor=owed - taken,
        amount_minor=moved,
        transfer_id=_event_transfer_id(row.contract_id, seq, "pay") if taken else None,
    )


def _void(row: db.ContractRow, party: Party) -> Transfer:
    return Transfer(
        _release_id(row.contract_id, party),
        flags=F.VOID_PENDING,
        pending_id=_margin_id(row.contract_id, party),
        code=CODE_RELEASE,
    )


def _expire(step: _Step, day: dt.date) -> None:
    row = step.row
    batch = [_void(row, party) for party in Party if step.margin(party)]
    _apply_all(step.w, "expiry", row.contract_id, batch)
    step.write(EventKind.EXPIRE, run_day=day, state=ContractState.EXPIRED.value)


def published_fixings(
    statuses: Sequence[ContractStatus],
    day: dt.date,
    *,
    history: NetworkHistory,
    gpu_quotes: QuoteTable | None = None,
) -> PublishedFixings:
    """The fixings published through ``day`` that the live contracts' windows need: hashprice
    fixings from the network history, GPU-hour fixings from ``gpu_quotes`` (default: the
    bundled sample)."""
    live = [s for s in statuses if not s.state.final and s.first_day <= day]
    hashrate = [s for s in live if not isinstance(s.instrument, ComputeForward)]
    usd: list[Fixing] = []
    btc: list[Fixing] = []
    if hashrate:
        start = min(s.first_day for s in hashrate)
        if start <= min(day, history.last_date):
            window = history.between(start, day)
            usd, btc = fixings(window, currency="usd"), fixings(window, currency="btc")
    gpu: list[GpuFixing] = []
    if any(isinstance(s.instrument, ComputeForward) for s in live):
        quotes = gpu_quotes if gpu_quotes is not None else load_bundled_quotes()
        gpu = [f for f in gpu_fixings(quotes) if f.period_end <= day]
    return PublishedFixings(usd=tuple(usd), btc=tuple(btc), gpu=tuple(gpu))
