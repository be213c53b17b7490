"""Delivery of contracts the exchange opened: metering feeds the exchange, which pays.

A fill on the exchange opens a hashpower contract whose budget sits in the exchange's own
reservation (:mod:`hashmarket.market.clearing`). Such a contract is paid through **one**
mechanism, the exchange's ``ReportDelivery`` command: each closed metering interval reports
the whole TH·s it adds to the contract's running total (:func:`hashmarket.money.delivered_ths_s`
of the total work, less what was reported before), and the exchange pays the change in the
contract's value (:func:`hashmarket.money.hashpower_value_sats`) plus its fees out of the
buyer's reservation, logs the command in its hash chain, and ends the contract when the budget
cannot pay the next amount in full or its duration is over — releasing the rest of the budget
to the buyer. :class:`~hashmarket.delivery.payments.LedgerPayer` stays for standalone
contracts (no exchange); both pay by the same rule, so a contract's gross total is the same
either way.

Work under one TH·s is carried: a report counts the running total, never an interval alone.
The meter's own records keep their exact work and the value it would pay; the money moved is
the exchange's (``paid_sats`` of its contract, and its ``Delivery`` events).

The contract may change holder while it runs (``TransferContract``, or a sale through a
listing): :class:`HolderLog` writes the delivery log and, before the first interval a new
holder pays for, a ``holder`` line naming it, so the log and its report always name the
current holder as buyer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from hashmarket.delivery.contract import HashpowerContract
from hashmarket.delivery.metering import IntervalRecord
from hashmarket.delivery.report import DeliveryLog, Holder
from hashmarket.delivery.sla import GpuLease, LeaseBlock
from hashmarket.delivery.stratum import ContractEndpoint
from hashmarket.errors import DeliveryError
from hashmarket.market import ContractOpened, Exchange, GpuTrade, ReportDelivery, reserve_id
from hashmarket.market import HashpowerContract as MarketContract
from hashmarket.money import delivered_ths_s
from hashmarket.units import NS_PER_S, SECONDS_PER_MINUTE

NAME_PREFIX = "hp-"


def contract_name(contract_id: int) -> str:
    """The delivery name of exchange contract ``contract_id`` (worker ``hp-7.rig1``)."""
    return f"{NAME_PREFIX}{contract_id}"


def market_contract_id(name: str) -> int:
    """The exchange's contract id behind a delivery name made by :func:`contract_name`."""
    digits = name.removeprefix(NAME_PREFIX)
    if not name.startswith(NAME_PREFIX) or not digits.isdigit():
        raise DeliveryError(
            "delivery_refused",
            action="lookup",
            what=name,
            problem=f"not an exchange contract name ({NAME_PREFIX}<id>)",
        )
    return int(digits)


def delivery_terms(
    opened: ContractOpened | MarketContract, *, interval_s: int = 600
) -> HashpowerContract:
    """The delivery terms of an exchange contract: same parties, price, speed and budget; the
    term from its start (rounded down to a second) for its duration; the pending transfer is
    the exchange's first reservation of the contract's budget."""
    start_s = opened.start_ns // NS_PER_S
    end_s = -(-(opened.start_ns + opened.duration_s * NS_PER_S) // NS_PER_S)
    return HashpowerContract(
        contract_id=contract_name(opened.contract_id),
        buyer_account_id=opened.buyer_account_id,
        seller_account_id=opened.seller_account_id,
        price_sats_per_ph_day=opened.price,
        hashrate_ths=opened.hashrate_ths,
        budget_sats=opened.budget_sats,
        start=dt.datetime.fromtimestamp(start_s, dt.UTC),
        end=dt.datetime.fromtimestamp(end_s, dt.UTC),
        pending_transfer_id=reserve_id("contract", opened.contract_id, 0),
        interval_s=interval_s,
    )


@dataclass
class MarketPayer:
    """``on_interval`` for an endpoint of an exchange contract: reports each interval's whole
    TH·s to the exchange (which pays), and tells when the exchange has ended the contract.

    ``reported_ths_s`` is what was reported so far; a restarted endpoint passes the logged
    intervals to :meth:`catch_up` (the exchange's log already holds their reports)."""

    exchange: Exchange
    contract_id: int
    reported_ths_s: int = 0
    work_total_hashes: Fraction = Fraction(0)
    paid_sats: int = 0  # gross paid to the seller by the exchange, as last seen
    spent_sats: int = 0  # taken from the buyer's budget: payments and the buyer's fees
    ended: bool = False
    reports: list[ReportDelivery] = field(default_factory=list)
    endpoint: ContractEndpoint | None = None  # told to accept no more work once ended

    def __post_init__(self) -> None:
        if self.contract_id not in self.exchange.engine.contracts:
            raise DeliveryError(
                "delivery_refused",
                action="delivery",
                what=contract_name(self.contract_id),
                problem="the exchange has no running contract with this id",
            )
        self._seen(self.exchange.engine.contracts[self.contract_id])

    def _seen(self, contract: MarketContract) -> None:
        self.paid_sats, self.spent_sats = contract.paid_sats, contract.spent_sats

    def catch_up(self, records: list[IntervalRecord]) -> None:
        self.work_total_hashes = sum((r.work_hashes for r in records), start=Fraction(0))
        self.reported_ths_s = delivered_ths_s(self.work_total_hashes)

    def running(self) -> bool:
        """Whether the exchange still runs the contract (it ends it on budget or duration)."""
        if not self.ended and self.contract_id not in self.exchange.engine.contracts:
            self.ended = True
            if self.endpoint is not None:
                self.endpoint.ended_elsewhere = True
        return not self.ended

    def __call__(self, record: IntervalRecord) -> None:
        self.work_total_hashes += record.work_hashes
        total = delivered_ths_s(self.work_total_hashes)
        more = total - self.reported_ths_s
        if not self.running() or more <= 0:  # running() first: it tells the endpoint
            return
        contract = self.exchange.engine.contracts[self.contract_id]
        # The exchange's clock never runs backwards: a report is stamped at the interval's end
        # or, if the exchange has already seen a later command, at that time.
        ts_ns = max(record.end_s * NS_PER_S, self.exchange.engine.last_ts_ns)
        report = ReportDelivery(ts_ns, self.contract_id, more)
        self.exchange.submit(report)
        self.reports.append(report)
        self.reported_ths_s = total
        self._seen(contract)  # the same object: the engine updates it in place, even if ended
        self.running()


@dataclass
class HolderLog:
    """The delivery log of an exchange contract, kept in step with its holder: call it with
    each closed interval before the interval is reported (:class:`MarketPayer`), so the holder
    the log names for an interval is the one the exchange charges for it. ``holder`` is the
    last holder the log names (``read_delivery(path).holders[-1]``)."""

    log: DeliveryLog
    exchange: Exchange
    contract_id: int
    holder: Holder

    def __call__(self, record: IntervalRecord) -> None:
        contract = self.exchange.engine.contracts.get(self.contract_id)
        if contract is not None and contract.buyer_account_id != self.holder.account_id:
            self.holder = Holder(contract.buyer_account_id, record.start_s, record.index)
            self.log.holder(self.holder)
        self.log(record)


def gpu_lease(
    trade: GpuTrade,
    *,
    node_public_key: str,
    device_ids: Sequence[str],
    buyer_public_key: str | None = None,
    late_grace_s: int = 120,
) -> GpuLease:
    """The lease a GPU trade on the exchange is delivered as: one block of ``trade.gpus``
    devices (the seller names them and the node key that signs their heartbeats), the trade's
    window and price, the default SLA. Its id is ``gpu-<trade id>`` and the block's
    ``trade-<trade id>``; refunds settle between the trade's two USD accounts."""
    if len(device_ids) != trade.gpus:
        raise DeliveryError(
            "lease_terms",
            lease=f"gpu-{trade.trade_id}",
            field="device_ids",
            problem=f"names {len(device_ids)} devices; the trade is for {trade.gpus} GPUs",
        )
    return GpuLease(
        lease_id=f"gpu-{trade.trade_id}",
        buyer_account_id=trade.buy_account_id,
        seller_account_id=trade.sell_account_id,
        blocks=(LeaseBlock(f"trade-{trade.trade_id}", node_public_key, tuple(device_ids)),),
        start_minute=trade.start_s // SECONDS_PER_MINUTE,
        end_minute=trade.end_s // SECONDS_PER_MINUTE,
        price_cents_per_gpu_hour=trade.price,
        late_grace_s=late_grace_s,
        buyer_public_key=buyer_public_key,
    )
