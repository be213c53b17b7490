"""Settlement of bilateral contracts from published fixings, on the ledger.

A :class:`Contract` is a trade: an instrument (a hashprice forward, a hashrate or difficulty
future, a BTC price swap, an option, a collar, a compute forward, a regional basis swap,
power forward or margin lock) between a **buyer**, who is
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

The modules: :mod:`.terms` (contracts, states, notional, margin, ids), :mod:`.fixings` (the
published fixings and the daily amounts built from them), :mod:`.opening`, :mod:`.daily` (the
run) and :mod:`.reading` (status and events); the rows are kept by
:mod:`hashmarket.ledger.settlement_store`.
"""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.ledger.settlement.daily import run
    from hashmarket.ledger.settlement.fixings import PublishedFixings, published_fixings
    from hashmarket.ledger.settlement.opening import open_contract
    from hashmarket.ledger.settlement.reading import events, status
    from hashmarket.ledger.settlement.terms import (
        DEFAULT_GRACE_DAYS,
        DEFAULT_MARGIN_RATE,
        ID_DOMAIN,
        SETTLED_TYPES,
        Contract,
        ContractState,
        ContractStatus,
        EventKind,
        Party,
        RunOutcome,
        SettledInstrument,
        canonical_spec,
        default_contract_id,
        escrow_account_id,
        instrument_from_spec,
        margin_minor_units,
        notional_of,
    )
    from hashmarket.ledger.settlement_store import SettlementEvent

__all__ = [
    "DEFAULT_GRACE_DAYS",
    "DEFAULT_MARGIN_RATE",
    "ID_DOMAIN",
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

__getattr__, __dir__ = lazy_exports(globals())
