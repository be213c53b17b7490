"""The engine's events as ledger transfers, with ids derived from what they pay for.

Every order that must be paid for reserves its money first, as a *pending* transfer from the
buyer (or, for futures, either side) to the exchange's clearing (or margin) account:

* a hashpower buy reserves its budget (sats); a GPU buy its limit × GPUs × hours and the
  larger fee (cents); a futures order its initial margin and the larger fee per contract.

A reservation is drawn on in steps: a step *posts* the amount it uses (the ledger releases
the rest) and reserves the rest again under the next id in the chain (``k`` = 0, 1, 2 …);
an order that ends voids what is still reserved. A hashpower fill moves its share of the
budget to the contract's own reservation, which deliveries draw on the same way. Posted
money is paid on from the clearing account within the same command, so clearing holds only
what is reserved. Fees go to the fee account. Nothing trades that is not paid for.

Every id is :func:`hashmarket.money.derived_id` of the order, contract or trade and the step,
so replaying the same events names the same transfers and the ledger applies them once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hashmarket.ledger import Account, Transfer, TransferFlags
from hashmarket.market.futures import CollateralReleased, MarginAdded, MarginMove
from hashmarket.market.gpu import GpuTrade
from hashmarket.market.hashpower import (
    ContractEnded,
    ContractOpened,
    ContractTransferred,
    Delivery,
)
from hashmarket.market.orders import OrderDone
from hashmarket.money import ID_MAX

# Plain ints, which the ledger accepts as flags: IntFlag's operators are Python-level and the
# ledger tests every transfer's flags several times per batch.
_NONE: TransferFlags = 0  # type: ignore[assignment]
_PENDING: TransferFlags = int(TransferFlags.PENDING)  # type: ignore[assignment]
_POST: TransferFlags = int(TransferFlags.POST_PENDING)  # type: ignore[assignment]
_VOID: TransferFlags = int(TransferFlags.VOID_PENDING)  # type: ignore[assignment]
_LINKED = int(TransferFlags.LINKED)

# Transfer codes (the ledger's user category) so an auditor can tell the exchange's rows apart.
CODE_RESERVE = 101
CODE_DRAW = 102
CODE_RELEASE = 103
CODE_PAY = 104
CODE_FEE = 105
CODE_MARGIN = 106


@dataclass(frozen=True, slots=True)
class ExchangeAccounts:
    """The exchange's own ledger accounts: per asset a clearing account (reserved money is
    posted to it and paid on at once) and a fee account; the margin account holds futures
    collateral (USD)."""

    clearing_btc: int
    clearing_usd: int
    fees_btc: int
    fees_usd: int
    margin_usd: int
    btc_asset: str = "BTC"
    usd_asset: str = "USD"

    def records(self) -> list[Account]:
        """The accounts as the ledger holds them (names ``market:<role>``)."""
        roles = ("clearing_btc", "clearing_usd", "fees_btc", "fees_usd", "margin_usd")
        return [
            Account(
                id=getattr(self, role),
                asset=self.btc_asset if role.endswith("btc") else self.usd_asset,
                name=f"market:{role}",
            )
            for role in roles
        ]

    def clearing(self, asset: str) -> int:
        return self.clearing_btc if asset == "BTC" else self.clearing_usd

    def fees(self, asset: str) -> int:
        return self.fees_btc if asset == "BTC" else self.fees_usd


def id_maker(domain: str) -> Callable[..., int]:
    """``derived_id(domain, *parts)`` with the domain's hash state computed once: the same
    ids (a test compares them), for a few hundred thousand transfers a second."""
    prefix = hashlib.sha256(f"{domain}\x00".encode())

    def make(*parts: str | int) -> int:
        digest = prefix.copy()
        digest.update("\x00".join(map(str, parts)).encode())
        return int.from_bytes(digest.digest()[:8], "big") & ID_MAX or 1

    return make


_reserve_id = id_maker("hashmarket.market.reserve")
_step_id = id_maker("hashmarket.market.step")
_pay_id = id_maker("hashmarket.market.pay")


def reserve_id(kind: str, owner: int, k: int) -> int:
    return _reserve_id(kind, owner, k)


class Chain:
    """One reservation and its steps: ``[k, reserved, debit account, credit account]``."""

    __slots__ = ("credit", "debit", "k", "kind", "owner", "reserved")

    def __init__(self, kind: str, owner: int, reserved: int, debit: int, credit: int) -> None:
        self.kind, self.owner = kind, owner
        self.k, self.reserved, self.debit, self.credit = 0, reserved, debit, credit

    def opening(self) -> Transfer:
        return self._pending()

    def _pending(self) -> Transfer:
        return Transfer(
            id=reserve_id(self.kind, self.owner, self.k),
            debit_account_id=self.debit,
            credit_account_id=self.credit,
            amount=self.reserved,
            flags=_PENDING,
            code=CODE_RESERVE,
        )

    def draw(self, amount: int, out: list[Transfer], *, post: bool = True) -> None:
        """Use ``amount`` (posted, or with ``post=False`` released to be reserved
        elsewhere) and reserve the rest again. The account's available balance does not
        change: what leaves the reservation is either paid or reserved again."""
        current = reserve_id(self.kind, self.owner, self.k)
        step = "post" if post else "void"
        out.append(
            Transfer(
                id=_step_id(self.kind, self.owner, self.k, step),
                debit_account_id=self.debit,
                credit_account_id=self.credit,
                amount=amount if post else self.reserved,
                flags=_POST if post else _VOID,
                pending_id=current,
                code=CODE_DRAW if post else CODE_RELEASE,
            )
        )
        self.k += 1
        self.reserved -= amount
        if self.reserved:
            out.append(self._pending())

    def resize(self, reserved: int) -> list[Transfer]:
        """Void the reservation and reserve ``reserved`` instead, as one linked pair (both
        or neither: a larger reservation the account cannot fund leaves the old one)."""
        void = Transfer(
            id=_step_id(self.kind, self.owner, self.k, "resize"),
            debit_account_id=self.debit,
            credit_account_id=self.credit,
            amount=self.reserved,
            flags=_VOID | _LINKED,
            pending_id=reserve_id(self.kind, self.owner, self.k),
            code=CODE_RELEASE,
        )
        self.k += 1
        self.reserved = reserved
        return [void, self._pending()]

    def close(self, out: list[Transfer], freed: dict[int, int]) -> None:
        """Release what is still reserved (it becomes available to the account again)."""
        if self.reserved:
            freed[self.debit] = freed.get(self.debit, 0) + self.reserved
            self.draw(self.reserved, out, post=False)

    def state(self) -> list[Any]:
        return [self.kind, self.owner, self.k, self.reserved, self.debit, self.credit]

    @classmethod
    def from_state(cls, state: list[Any]) -> Chain:
        kind, owner, k, reserved, debit, credit = state
        chain = cls(kind, owner, reserved, debit, credit)
        chain.k = k
        return chain


class Clearing:
    """The open reservations, and :meth:`effects` that turns events into transfers."""

    def __init__(self, accounts: ExchangeAccounts) -> None:
        self.accounts = accounts
        self.orders: dict[int, Chain] = {}
        self.contracts: dict[int, Chain] = {}
        # Change of each account's available balance by the effects made since the last
        # reset: releases and plain transfers (draws leave it as it is). The exchange checks
        # reservations against the stored balance plus this, before the effects are written.
        self.available_delta: dict[int, int] = {}

    def effects(self, events: list[Any]) -> list[Transfer]:
        out: list[Transfer] = []
        for event in events:
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event, out)
        return out

    def _order_done(self, e: OrderDone, out: list[Transfer]) -> None:
        chain = self.orders.pop(e.order_id, None)
        if chain is not None:
            chain.close(out, self.available_delta)

    def _contract_opened(self, e: ContractOpened, out: list[Transfer]) -> None:
        order = self.orders[e.buy_order_id]
        order.draw(e.budget_sats, out, post=False)
        chain = Chain(
            "contract", e.contract_id, e.budget_sats, order.debit, self.accounts.clearing_btc
        )
        self.contracts[e.contract_id] = chain
        out.append(chain.opening())

    def _delivery(self, e: Delivery, out: list[Transfer]) -> None:
        spent = e.gross_sats + e.buyer_fee_sats
        if not spent:
            return
        self.contracts[e.contract_id].draw(spent, out)
        self._pay_out(
            ("delivery", e.contract_id, e.payment_no),
            self.accounts.clearing_btc,
            self.accounts.fees_btc,
            e.seller_account_id,
            e.gross_sats - e.seller_fee_sats,
            e.buyer_fee_sats + e.seller_fee_sats,
            out,
            self.available_delta,
        )

    def _contract_transferred(self, e: ContractTransferred, out: list[Transfer]) -> None:
        """Release the old holder's reservation, reserve the budget left from the new holder
        (the same chain of ids, one step on) and pay the old holder the price. The exchange
        checked the new holder's funds for both before the command was applied."""
        old = self.contracts[e.contract_id]
        old.close(out, self.available_delta)
        chain = Chain("contract", e.contract_id, e.budget_left_sats, e.to_account_id, old.credit)
        chain.k = old.k
        self.contracts[e.contract_id] = chain
        if e.budget_left_sats:
            out.append(chain.opening())
        net = e.price_sats - e.seller_fee_sats
        key = ("contract-transfer", e.contract_id, old.k)
        # Counted in the funds check with the reservation: not counted again here.
        if net:
            out.append(_plain(key, e.to_account_id, e.from_account_id, net, CODE_PAY, {}))
            gained = self.available_delta.get(e.from_account_id, 0) + net
            self.available_delta[e.from_account_id] = gained
        fees = e.buyer_fee_sats + e.seller_fee_sats
        if fees:  # the seller's fee comes out of the price, which the buyer pays in full
            fee_key = (*key, "fee")
            out.append(_plain(fee_key, e.to_account_id, self.accounts.fees_btc, fees, CODE_FEE, {}))

    def _contract_ended(self, e: ContractEnded, out: list[Transfer]) -> None:
        self.contracts.pop(e.contract_id).close(out, self.available_delta)

    def _gpu_trade(self, e: GpuTrade, out: list[Transfer]) -> None:
        self.orders[e.buy_order_id].draw(e.notional_cents + e.buy_fee_cents, out)
        self._pay_out(
            ("gpu", e.trade_id),
            self.accounts.clearing_usd,
            self.accounts.fees_usd,
            e.sell_account_id,
            e.notional_cents - e.sell_fee_cents,
            e.buy_fee_cents + e.sell_fee_cents,
            out,
            self.available_delta,
        )

    def _margin_move(self, e: MarginMove, out: list[Transfer]) -> None:
        margin = self.accounts.margin_usd
        if e.posted_cents + e.fee_cents:
            self.orders[e.order_id].draw(e.posted_cents + e.fee_cents, out)
        key = ("margin", e.trade_id, e.account_id)
        if e.fee_cents:
            out.append(
                _plain(
                    (*key, "fee"),
                    margin,
                    self.accounts.fees_usd,
                    e.fee_cents,
                    CODE_FEE,
                    self.available_delta,
                )
            )
        if e.released_cents:
            out.append(
                _plain(
                    (*key, "release"),
                    margin,
                    e.account_id,
                    e.released_cents,
                    CODE_MARGIN,
                    self.available_delta,
                )
            )

    def _margin_added(self, e: MarginAdded, out: list[Transfer]) -> None:
        # Counted in the funds check before the command was applied: not counted again here.
        key = ("margin-added", e.ref, e.account_id)
        margin = self.accounts.margin_usd
        out.append(_plain(key, e.account_id, margin, e.amount_cents, CODE_MARGIN, {}))

    def _released(self, e: CollateralReleased, out: list[Transfer]) -> None:
        key = ("collateral", e.market, e.ts_ns, e.account_id)
        out.append(
            _plain(
                key,
                self.accounts.margin_usd,
                e.account_id,
                e.amount_cents,
                CODE_MARGIN,
                self.available_delta,
            )
        )

    @staticmethod
    def _pay_out(
        key: tuple[str | int, ...],
        clearing: int,
        fees: int,
        seller: int,
        net: int,
        fee_total: int,
        out: list[Transfer],
        delta: dict[int, int],
    ) -> None:
        if net:
            out.append(_plain((*key, "seller"), clearing, seller, net, CODE_PAY, delta))
        if fee_total:
            out.append(_plain((*key, "fee"), clearing, fees, fee_total, CODE_FEE, delta))

    # -- snapshots --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "orders": [c.state() for c in self.orders.values()],
            "contracts": [c.state() for c in self.contracts.values()],
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.orders = {s[1]: Chain.from_state(s) for s in state["orders"]}
        self.contracts = {s[1]: Chain.from_state(s) for s in state["contracts"]}


def _plain(
    key: tuple[str | int, ...],
    debit: int,
    credit: int,
    amount: int,
    code: int,
    delta: dict[int, int],
) -> Transfer:
    delta[debit] = delta.get(debit, 0) - amount
    delta[credit] = delta.get(credit, 0) + amount
    return Transfer(
        id=_pay_id(*key),
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        flags=_NONE,
        code=code,
    )


_HANDLERS: dict[type, Any] = {
    OrderDone: Clearing._order_done,
    ContractOpened: Clearing._contract_opened,
    Delivery: Clearing._delivery,
    ContractEnded: Clearing._contract_ended,
    ContractTransferred: Clearing._contract_transferred,
    GpuTrade: Clearing._gpu_trade,
    MarginMove: Clearing._margin_move,
    MarginAdded: Clearing._margin_added,
    CollateralReleased: Clearing._released,
}
