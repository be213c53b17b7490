"""A GPU lease's service level: verified minutes, uptime, load, energy and refunds.

A lease rents blocks of GPUs for a term of whole minutes. A device-minute is **up** when the
collector holds a heartbeat for it that is signed by the block's node key (and counter-signed
by the buyer, if the terms require it), names this lease, this block and one of its devices,
falls inside the term, and arrived no later than ``late_grace_s`` after its minute ended.
Everything else is downtime: a minute with no heartbeat, a late one, a bad signature, another
lease's heartbeat, a device the block does not hold. A second heartbeat for a device-minute
that is already up is a replay: counted as such and ignored.

Uptime of a block = up device-minutes ÷ (devices × term minutes). The refund schedule gives,
for an uptime below each threshold, the share of the block's fee refunded; the lowest
threshold the uptime is under wins. The fee is ``devices × minutes × price ÷ 60`` cents,
exactly; the refund is rounded to whole cents by the terms' rule (``UP`` by default: the buyer
is never refunded less than the schedule says) through :mod:`hashmarket.money`. Refunds are
paid seller → buyer at settlement, one transfer per block with an id derived from the lease
and the block, so settling twice pays once.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hashmarket.delivery.heartbeats import (
    BASIS_POINTS,
    MINUTE_MAX,
    SignedHeartbeat,
    load_public_key,
    verify_signature,
)
from hashmarket.delivery.parallel import Item, verify_many
from hashmarket.errors import DeliveryError, TransferRefusedError
from hashmarket.ledger import INT64_MAX, CreateTransferResult, Ledger, Transfer, TransferFlags
from hashmarket.money import DECIMAL, Rounding, derived_id, round_minor
from hashmarket.units import MINUTES_PER_HOUR, NS_PER_S, SECONDS_PER_DAY, SECONDS_PER_MINUTE

SLA_REFUND_CODE = 7302
JOULES_PER_KWH = 3_600_000
DEFAULT_SCHEDULE = (
    (Decimal("0.99"), Decimal("0.10")),
    (Decimal("0.95"), Decimal("0.25")),
    (Decimal("0.90"), Decimal("0.50")),
)


@dataclass(frozen=True, slots=True)
class LeaseBlock:
    """GPUs leased together, served by one node whose key signs their heartbeats."""

    block_id: str
    node_public_key: str  # raw Ed25519 public key, hex
    device_ids: tuple[str, ...]


# The longest grace a late heartbeat gets before settlement: a day.
LATE_GRACE_S_MAX = SECONDS_PER_DAY


def _check_bounds(lease: GpuLease, bad: Callable[[str, str], DeliveryError]) -> None:
    """Types and ranges of the scalar terms, each refusal naming the field and its value:
    ids are ledger account ids, minutes real moments, the price a positive amount."""
    if type(lease.lease_id) is not str or not lease.lease_id:
        raise bad("lease_id", f"must be non-empty text, got {lease.lease_id!r}")
    bounds = (
        ("buyer_account_id", 1, INT64_MAX),
        ("seller_account_id", 1, INT64_MAX),
        ("start_minute", 0, MINUTE_MAX),
        ("end_minute", 0, MINUTE_MAX),
        ("price_cents_per_gpu_hour", 1, INT64_MAX),
        ("late_grace_s", 0, LATE_GRACE_S_MAX),
    )
    for name, low, high in bounds:
        value = getattr(lease, name)
        if type(value) is not int or not low <= value <= high:
            raise bad(name, f"must be an integer from {low} to {high}, got {value!r}")


@dataclass(frozen=True, slots=True)
class GpuLease:
    """A lease's terms: parties, blocks, term, price and its SLA."""

    lease_id: str
    buyer_account_id: int
    seller_account_id: int
    blocks: tuple[LeaseBlock, ...]
    start_minute: int  # Unix minutes, the term is [start_minute, end_minute)
    end_minute: int
    price_cents_per_gpu_hour: int
    refund_schedule: tuple[tuple[Decimal, Decimal], ...] = DEFAULT_SCHEDULE
    late_grace_s: int = 120
    buyer_public_key: str | None = None  # when set, heartbeats must carry its countersignature
    rounding: Rounding = Rounding.UP

    def __post_init__(self) -> None:
        def bad(name: str, problem: str) -> DeliveryError:
            return DeliveryError("lease_terms", lease=self.lease_id, field=name, problem=problem)

        _check_bounds(self, bad)
        if not self.blocks:
            raise bad("blocks", "must name at least one block")
        ids = [b.block_id for b in self.blocks]
        if len(set(ids)) != len(ids):
            raise bad("blocks", "has a block id twice")
        for block in self.blocks:
            if not block.device_ids or len(set(block.device_ids)) != len(block.device_ids):
                raise bad(f"blocks[{block.block_id}]", "needs distinct device ids")
            try:
                load_public_key(block.node_public_key)
            except ValueError as exc:
                raise bad(f"blocks[{block.block_id}].node_public_key", str(exc)) from exc
        if self.end_minute <= self.start_minute:
            raise bad("end_minute", f"{self.end_minute} must be after start_minute")
        devices = sum(len(b.device_ids) for b in self.blocks)
        if devices * self.minutes * self.price_cents_per_gpu_hour > INT64_MAX * MINUTES_PER_HOUR:
            # A refund is at most the fee, and the fee of every block together must be an
            # amount the ledger can hold.
            raise bad(
                "price_cents_per_gpu_hour",
                f"{self.price_cents_per_gpu_hour} × {devices} GPUs × {self.minutes} minutes"
                f" is over {INT64_MAX} cents",
            )
        thresholds = [t for t, _ in self.refund_schedule]
        if thresholds != sorted(thresholds, reverse=True) or len(set(thresholds)) != len(
            thresholds
        ):
            raise bad("refund_schedule", "thresholds must be strictly decreasing")
        for threshold, share in self.refund_schedule:
            if not (0 < threshold <= 1 and 0 <= share <= 1):
                raise bad("refund_schedule", f"({threshold}, {share}) is outside (0, 1]")

    @property
    def minutes(self) -> int:
        return self.end_minute - self.start_minute

    @property
    def uptime_target(self) -> Decimal:
        return self.refund_schedule[0][0] if self.refund_schedule else Decimal(0)

    def fee_cents_exact(self, block: LeaseBlock) -> Fraction:
        return Fraction(
            len(block.device_ids) * self.minutes * self.price_cents_per_gpu_hour, MINUTES_PER_HOUR
        )

    def refund_share(self, uptime: Fraction) -> Decimal:
        share = Decimal(0)
        for threshold, refund in self.refund_schedule:
            if uptime < Fraction(threshold):
                share = refund
        return share

    def to_dict(self) -> dict[str, Any]:
        """The terms as JSON-safe values, in the shape :meth:`from_dict` reads."""
        return {
            "lease_id": self.lease_id,
            "buyer_account_id": self.buyer_account_id,
            "seller_account_id": self.seller_account_id,
            "blocks": [
                {
                    "block_id": b.block_id,
                    "node_public_key": b.node_public_key,
                    "device_ids": list(b.device_ids),
                }
                for b in self.blocks
            ],
            "start_minute": self.start_minute,
            "end_minute": self.end_minute,
            "price_cents_per_gpu_hour": self.price_cents_per_gpu_hour,
            "refund_schedule": [[str(t), str(s)] for t, s in self.refund_schedule],
            "late_grace_s": self.late_grace_s,
            "buyer_public_key": self.buyer_public_key,
            "rounding": self.rounding.value,
        }

    @classmethod
    def from_dict(cls, terms: dict[str, Any]) -> GpuLease:
        """Terms from JSON/YAML: datetimes or Unix minutes for the term."""
        values = dict(terms)
        lease = str(values.get("lease_id", "?"))
        try:
            values["blocks"] = tuple(
                LeaseBlock(str(b["block_id"]), str(b["node_public_key"]), tuple(b["device_ids"]))
                for b in values["blocks"]
            )
            for name in ("start_minute", "end_minute"):
                if name not in values:
                    moment = dt.datetime.fromisoformat(str(values.pop(name.replace("_minute", ""))))
                    values[name] = int(moment.timestamp()) // SECONDS_PER_MINUTE
            if "refund_schedule" in values:
                values["refund_schedule"] = tuple(
                    (Decimal(str(t)), Decimal(str(s))) for t, s in values["refund_schedule"]
                )
            if "rounding" in values:
                values["rounding"] = Rounding(values["rounding"])
            return cls(**values)
        except DeliveryError:
            raise
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise DeliveryError(
                "lease_terms", lease=lease, field="terms", problem=repr(exc)
            ) from exc


@dataclass
class BlockReport:
    """One block's verified minutes and what they mean under the SLA."""

    block_id: str
    devices: int
    minutes: int
    up_minutes: int = 0
    utilisation_bp_sum: int = 0
    energy_j: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    fee_cents_exact: Fraction = Fraction(0)
    refund_cents: int = 0

    @property
    def uptime(self) -> Fraction:
        return Fraction(self.up_minutes, self.devices * self.minutes)

    @property
    def load_rate(self) -> float:
        """Mean utilisation over the minutes the GPUs were up."""
        return self.utilisation_bp_sum / BASIS_POINTS / self.up_minutes if self.up_minutes else 0.0

    @property
    def energy_kwh(self) -> float:
        return self.energy_j / JOULES_PER_KWH

    @property
    def utilised_gpu_hours_per_kwh(self) -> float:
        """Energy efficiency: GPU-hours of actual compute (utilisation-weighted) per kWh."""
        gpu_hours = self.utilisation_bp_sum / BASIS_POINTS / MINUTES_PER_HOUR
        return gpu_hours / self.energy_kwh if self.energy_j else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "block_id": self.block_id,
            "devices": self.devices,
            "minutes": self.minutes,
            "up_device_minutes": self.up_minutes,
            "uptime": float(self.uptime),
            "load_rate": self.load_rate,
            "energy_kwh": self.energy_kwh,
            "mean_power_w": self.energy_j / SECONDS_PER_MINUTE / self.up_minutes
            if self.up_minutes
            else 0.0,
            "utilised_gpu_hours_per_kwh": self.utilised_gpu_hours_per_kwh,
            "rejected": dict(sorted(self.rejected.items())),
            "fee_cents": str(self.fee_cents_exact),
            "refund_cents": self.refund_cents,
        }


@dataclass(frozen=True, slots=True)
class SlaReport:
    lease: GpuLease
    blocks: tuple[BlockReport, ...]

    @property
    def refund_cents(self) -> int:
        return sum(b.refund_cents for b in self.blocks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lease_id": self.lease.lease_id,
            "uptime_target": str(self.lease.uptime_target),
            "refund_cents": self.refund_cents,
            "blocks": [b.to_dict() for b in self.blocks],
        }


class _Verifier:
    """Checks heartbeats one by one against a lease (keys loaded once)."""

    def __init__(self, lease: GpuLease) -> None:
        self.lease = lease
        self.keys: dict[str, Ed25519PublicKey] = {
            b.block_id: load_public_key(b.node_public_key) for b in lease.blocks
        }
        self.devices = {b.block_id: frozenset(b.device_ids) for b in lease.blocks}
        self.buyer = (
            None if lease.buyer_public_key is None else load_public_key(lease.buyer_public_key)
        )
        self.seen: set[tuple[str, str, int]] = set()
        self.raw_keys = {b.block_id: bytes.fromhex(b.node_public_key) for b in lease.blocks}
        self.buyer_raw = (
            None if lease.buyer_public_key is None else bytes.fromhex(lease.buyer_public_key)
        )

    def signed_items(self, signed: SignedHeartbeat) -> list[Item]:
        """The signature checks ``signed`` needs, as bytes for :func:`verify_many`: the
        node's, then the buyer's if the lease requires one (an unknown block has no key, and
        fails)."""
        hb = signed.heartbeat
        block = self.raw_keys.get(hb.block_id, b"")
        message = hb.message()
        items = [(block, signed.signature, message)]
        if self.buyer_raw is not None:
            items.append(
                (self.buyer_raw, signed.buyer_signature or b"", message + signed.signature)
            )
        return items

    def status(self, signed: SignedHeartbeat, checked: Sequence[bool] | None = None) -> str:
        """``ok`` or the reason the heartbeat proves nothing. ``checked`` holds the results
        of :meth:`signed_items`' checks when they were done elsewhere (in parallel)."""
        hb, lease = signed.heartbeat, self.lease
        key = self.keys.get(hb.block_id)
        if key is None or hb.device_id not in self.devices[hb.block_id]:
            return "unknown_device"
        # Checked elsewhere, the message need not be built again here.
        message = b"" if checked is not None else hb.message()
        node_ok = (
            checked[0] if checked is not None else verify_signature(key, signed.signature, message)
        )
        if not node_ok:
            return "bad_signature"
        if hb.lease_id != lease.lease_id:
            return "other_lease"
        if self.buyer is not None and (
            signed.buyer_signature is None
            or not (
                checked[1]
                if checked is not None
                else verify_signature(
                    self.buyer, signed.buyer_signature, message + signed.signature
                )
            )
        ):
            return "bad_countersignature"
        if not lease.start_minute <= hb.minute < lease.end_minute:
            return "outside_term"
        if signed.received_at_s is None or signed.received_at_s > (
            hb.minute + 1
        ) * SECONDS_PER_MINUTE + (lease.late_grace_s):
            return "late"
        slot = (hb.block_id, hb.device_id, hb.minute)
        if slot in self.seen:
            return "replayed"
        self.seen.add(slot)
        return "ok"


def sla_report(
    lease: GpuLease,
    heartbeats: Iterable[SignedHeartbeat],
    *,
    processes: int = 1,
    executor: Executor | None = None,
) -> SlaReport:
    """Verify every heartbeat and compute each block's uptime, load, energy and refund.

    With ``processes`` > 1 or an ``executor`` (a process pool), the signatures are checked
    in parallel first (:func:`~hashmarket.delivery.parallel.verify_many`); the report is the
    same."""
    verifier = _Verifier(lease)
    checks: Iterator[Sequence[bool] | None] = itertools.repeat(None)
    if processes > 1 or executor is not None:
        heartbeats = list(heartbeats)
        per = 1 if lease.buyer_public_key is None else 2
        items = [item for hb in heartbeats for item in verifier.signed_items(hb)]
        flat = verify_many(items, executor=executor, processes=processes)
        checks = (flat[i : i + per] for i in range(0, len(flat), per))
    reports = {
        b.block_id: BlockReport(
            b.block_id, len(b.device_ids), lease.minutes, fee_cents_exact=lease.fee_cents_exact(b)
        )
        for b in lease.blocks
    }
    unattributed: Counter[str] = Counter()
    for signed, checked in zip(heartbeats, checks, strict=False):
        status = verifier.status(signed, checked)
        report = reports.get(signed.heartbeat.block_id)
        if status != "ok":
            (report.rejected if report is not None else unattributed)[status] += 1
            continue
        assert report is not None
        report.up_minutes += 1
        report.utilisation_bp_sum += signed.heartbeat.utilisation_bp
        report.energy_j += signed.heartbeat.power_w * SECONDS_PER_MINUTE
    for report in reports.values():
        share = lease.refund_share(report.uptime)
        fee = report.fee_cents_exact
        exact = DECIMAL.multiply(
            DECIMAL.divide(Decimal(fee.numerator), Decimal(fee.denominator)), share
        )
        report.refund_cents = round_minor(exact, lease.rounding)
    if unattributed:
        # Heartbeats for blocks this lease does not have: reported on the first block.
        next(iter(reports.values())).rejected.update(unattributed)
    return SlaReport(lease, tuple(reports.values()))


def refund_transfer_id(lease_id: str, block_id: str) -> int:
    return derived_id("sla-refund", lease_id, block_id)


def settle_refunds(ledger: Ledger, report: SlaReport) -> list[Transfer]:
    """Pay each block's refund, seller → buyer, in one linked batch (all or nothing).

    Only at settlement: once the term is over and the last minute's heartbeats could no
    longer arrive in time, on the ledger clock; before that, minutes still to come would
    count as downtime."""
    lease = report.lease
    settles_at_s = lease.end_minute * SECONDS_PER_MINUTE + lease.late_grace_s
    now_s = ledger.clock.now_ns() // NS_PER_S
    if now_s < settles_at_s:
        raise DeliveryError(
            "delivery_refused",
            action="settlement",
            what=lease.lease_id,
            problem=f"the lease settles from Unix time {settles_at_s}; the ledger clock is {now_s}",
        )
    transfers = [
        Transfer(
            id=refund_transfer_id(lease.lease_id, b.block_id),
            debit_account_id=lease.seller_account_id,
            credit_account_id=lease.buyer_account_id,
            amount=b.refund_cents,
            code=SLA_REFUND_CODE,
        )
        for b in report.blocks
        if b.refund_cents > 0
    ]
    if not transfers:
        return []
    batch = [
        Transfer(
            t.id,
            t.debit_account_id,
            t.credit_account_id,
            t.amount,
            TransferFlags.LINKED,
            code=t.code,
        )
        for t in transfers[:-1]
    ] + transfers[-1:]
    results = ledger.create_transfers(batch)
    for transfer, result in zip(batch, results, strict=True):
        if result is not CreateTransferResult.OK:
            raise TransferRefusedError(
                "transfer_refused",
                result_code=result.value,
                transfer_id=transfer.id,
                reason=f"SLA refund of lease {lease.lease_id}: {result.reason}",
            )
    return transfers
