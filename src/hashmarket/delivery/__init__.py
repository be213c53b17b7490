"""Proof of delivery: what a seller of compute actually delivered, and what it is paid.

Hashpower: a Stratum V1 endpoint (:mod:`.server`, :mod:`.stratum`) verifies every share a
seller's miners submit against the real block header it commits to (:mod:`.shares`), meters
the work per contract and interval (:mod:`.metering`), and pays each interval out of the
contract's reserved budget on the ledger (:mod:`.payments`). GPU time: a node agent signs a
heartbeat per GPU per minute (:mod:`.heartbeats`), and a lease's SLA turns the verified minutes
into uptime, load and refunds settled on the ledger (:mod:`.sla`). A contract the exchange
opened is paid through the exchange's ``ReportDelivery`` (:mod:`.market_link`), a GPU block it
sold is delivered as a lease; heartbeats are verified over processes (:mod:`.parallel`).
"""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.delivery.contract import HashpowerContract
    from hashmarket.delivery.heartbeats import (
        GpuReading,
        Heartbeat,
        NodeAgent,
        SignedHeartbeat,
        countersign,
        read_heartbeats,
    )
    from hashmarket.delivery.jobs import JobFactory
    from hashmarket.delivery.market_link import (
        HolderLog,
        MarketPayer,
        contract_name,
        delivery_terms,
        gpu_lease,
    )
    from hashmarket.delivery.metering import IntervalRecord, Meter
    from hashmarket.delivery.parallel import verify_many
    from hashmarket.delivery.payments import (
        LedgerPayer,
        Reservation,
        pay_interval,
        post_id,
        release_remainder,
        reserve_budget,
    )
    from hashmarket.delivery.report import (
        DeliveryFile,
        DeliveryLog,
        DeliveryReport,
        Holder,
        delivery_report,
        read_delivery,
        read_log,
        resume,
    )
    from hashmarket.delivery.server import StratumEndpoint
    from hashmarket.delivery.shares import (
        DIFF1_TARGET,
        Job,
        difficulty_target,
        dsha256,
        header_bytes,
        merkle_branch,
        merkle_root,
        share_hash,
        share_work_hashes,
    )
    from hashmarket.delivery.sla import (
        BlockReport,
        GpuLease,
        LeaseBlock,
        SlaReport,
        settle_refunds,
        sla_report,
    )
    from hashmarket.delivery.stratum import ContractEndpoint, StratumSession

__all__ = [
    "DIFF1_TARGET",
    "BlockReport",
    "ContractEndpoint",
    "DeliveryFile",
    "DeliveryLog",
    "DeliveryReport",
    "GpuLease",
    "GpuReading",
    "HashpowerContract",
    "Heartbeat",
    "Holder",
    "HolderLog",
    "IntervalRecord",
    "Job",
    "JobFactory",
    "LeaseBlock",
    "LedgerPayer",
    "MarketPayer",
    "Meter",
    "NodeAgent",
    "Reservation",
    "SignedHeartbeat",
    "SlaReport",
    "StratumEndpoint",
    "StratumSession",
    "contract_name",
    "countersign",
    "delivery_report",
    "delivery_terms",
    "difficulty_target",
    "dsha256",
    "gpu_lease",
    "header_bytes",
    "merkle_branch",
    "merkle_root",
    "pay_interval",
    "post_id",
    "read_delivery",
    "read_heartbeats",
    "read_log",
    "release_remainder",
    "reserve_budget",
    "resume",
    "settle_refunds",
    "share_hash",
    "share_work_hashes",
    "sla_report",
    "verify_many",
]

__getattr__, __dir__ = lazy_exports(globals())
