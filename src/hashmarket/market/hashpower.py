"""Running hashpower contracts: opened by a fill, paid as hashes are delivered, ended by the
budget or the ordered duration.

A buy order carries a budget (sats, fees included) and a speed limit (its size in TH/s). Each
fill of ``q`` TH/s out of the ``r`` TH/s still wanted opens a contract with ``budget × q ÷ r``
of the order's remaining budget (rounded down; the fill that completes the order takes all
that is left, so the shares add up exactly). Because a buy's budget must be at least one sat
per TH/s, every share is at least one sat per TH/s as well.

Payment is on the contract's running totals: after ``D`` TH/s·s delivered the seller has
earned ``price × D ÷ 86,400,000`` sats rounded down (price is per PH/s per day), so rounding
never accumulates. Deliveries are capped at the contracted speed (hashrate × elapsed time):
hashes beyond it are not paid. The buyer pays each payment plus its fee from the budget;
when the budget cannot cover the next payment in full the contract pays what it can and ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from hashmarket.market.products import NS_PER_S, PPM, S_PER_DAY, TH_PER_PH, fee
from hashmarket.money import Rounding, divide_minor, hashpower_value_sats

THS_S_PER_PH_DAY = TH_PER_PH * S_PER_DAY


@dataclass(slots=True)
class HashpowerContract:
    """A running contract (mutable: delivered and paid totals grow; terms never change)."""

    contract_id: int
    buy_order_id: int
    buyer_account_id: int
    seller_account_id: int
    price: int  # sats per PH/s per day
    hashrate_ths: int
    budget_sats: int  # the most the buyer spends on it, fees included
    duration_s: int
    start_ns: int
    buyer_fee_ppm: int
    seller_fee_ppm: int
    delivered_ths_s: int = 0
    paid_sats: int = 0  # gross paid to the seller (before the seller's fee)
    spent_sats: int = 0  # taken from the budget: payments and the buyer's fees
    payments: int = 0  # how many non-zero payments so far

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.duration_s * NS_PER_S

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class ContractOpened(NamedTuple):
    contract_id: int
    trade_id: int
    buy_order_id: int
    buyer_account_id: int
    seller_account_id: int
    price: int
    hashrate_ths: int
    budget_sats: int
    duration_s: int
    start_ns: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """A payment on a contract: ``gross_sats`` to the seller less ``seller_fee_sats``; the
    buyer's budget pays ``gross_sats + buyer_fee_sats``. ``payment_no`` counts from 1."""

    contract_id: int
    ts_ns: int
    payment_no: int
    delivered_ths_s: int  # running total counted for payment
    gross_sats: int
    buyer_fee_sats: int
    seller_fee_sats: int
    buyer_account_id: int
    seller_account_id: int


@dataclass(frozen=True, slots=True)
class ContractEnded:
    contract_id: int
    ts_ns: int
    reason: str  # "budget" or "duration"
    unspent_sats: int
    payments: int


@dataclass(frozen=True, slots=True)
class ContractTransferred:
    """A running contract changed hands: ``budget_left_sats`` moves from the old holder's
    reservation to the new holder's, who pays the old one ``price_sats``. Sold through a
    listing (``listing_id`` > 0), the new holder also pays ``buyer_fee_sats`` and the old one
    receives the price less ``seller_fee_sats``; a direct hand-over has no fees."""

    contract_id: int
    ts_ns: int
    from_account_id: int
    to_account_id: int
    budget_left_sats: int
    price_sats: int
    buyer_fee_sats: int = 0
    seller_fee_sats: int = 0
    listing_id: int = 0


def hand_over(
    contract: HashpowerContract,
    ts_ns: int,
    to_account_id: int,
    price_sats: int,
    fees: tuple[int, int] = (0, 0),
    listing_id: int = 0,
) -> ContractTransferred:
    """Make ``to_account_id`` the contract's holder: the one way a contract changes hands,
    directly or sold through a listing (``fees`` are then the buyer's and the seller's)."""
    from_account_id = contract.buyer_account_id
    contract.buyer_account_id = to_account_id
    return ContractTransferred(
        contract.contract_id,
        ts_ns,
        from_account_id,
        to_account_id,
        contract.budget_sats - contract.spent_sats,
        price_sats,
        *fees,
        listing_id,
    )


def budget_share(budget_left: int, wanted_left: int, filled: int) -> int:
    """The part of a buy's remaining budget that a fill of ``filled`` TH/s takes."""
    if filled >= wanted_left:
        return budget_left
    return divide_minor(budget_left * filled, wanted_left, Rounding.DOWN)


def deliver(contract: HashpowerContract, ts_ns: int, more_ths_s: int) -> tuple[Delivery, bool]:
    """Count ``more_ths_s`` and pay for it; returns the payment and whether the budget ran out.
    Mutates ``contract``'s totals (the caller has validated the command)."""
    elapsed_s = (min(ts_ns, contract.end_ns) - contract.start_ns) // NS_PER_S
    ceiling = contract.hashrate_ths * max(elapsed_s, 0)
    delivered = min(contract.delivered_ths_s + more_ths_s, ceiling)
    contract.delivered_ths_s = max(delivered, contract.delivered_ths_s)
    earned = hashpower_value_sats(contract.price, contract.delivered_ths_s)  # the one rule
    gross = earned - contract.paid_sats
    buyer_fee = fee(gross, contract.buyer_fee_ppm)
    left = contract.budget_sats - contract.spent_sats
    exhausted = gross + buyer_fee >= left
    if gross + buyer_fee > left:
        gross = affordable(left, contract.buyer_fee_ppm)
        buyer_fee = fee(gross, contract.buyer_fee_ppm)
    seller_fee = fee(gross, contract.seller_fee_ppm)
    contract.paid_sats += gross
    contract.spent_sats += gross + buyer_fee
    if gross + buyer_fee:
        contract.payments += 1
    payment = Delivery(
        contract_id=contract.contract_id,
        ts_ns=ts_ns,
        payment_no=contract.payments,
        delivered_ths_s=contract.delivered_ths_s,
        gross_sats=gross,
        buyer_fee_sats=buyer_fee,
        seller_fee_sats=seller_fee,
        buyer_account_id=contract.buyer_account_id,
        seller_account_id=contract.seller_account_id,
    )
    return payment, exhausted


def affordable(left: int, fee_ppm: int) -> int:
    """The largest gross payment ``g`` with ``g + fee(g) ≤ left``."""
    gross = divide_minor(left * PPM, PPM + fee_ppm, Rounding.DOWN)  # then corrected below
    while gross > 0 and gross + fee(gross, fee_ppm) > left:
        gross -= 1
    while gross + 1 + fee(gross + 1, fee_ppm) <= left:
        gross += 1
    return gross
