"""The delivery log of a contract and its report.

The endpoint appends one JSON line per closed interval to the contract's log, after the line
with the contract's terms, so the log alone says what was ordered, what was delivered in
every interval and what was paid for it; the ledger holds the payments themselves under ids
derived from the contract and the interval (:mod:`hashmarket.delivery.payments`), which
:func:`check_ledger` compares with the log.

A contract the exchange opened can change holder (its buyer) while it runs. The endpoint then
writes a ``holder`` line before the first interval the new holder pays for, so the log names
every holder and the intervals each one paid: :func:`read_delivery` gives the terms as
ordered, the intervals and the holders in order; :func:`read_log` the terms naming the current
holder as buyer.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from hashmarket.delivery.contract import HashpowerContract
from hashmarket.delivery.metering import IntervalRecord, Meter
from hashmarket.delivery.payments import Reservation, reserve_id
from hashmarket.errors import DataError, HashmarketError, Location
from hashmarket.units import HASHES_PER_TH


class DeliveryLog:
    """Append-only JSON lines: the terms first, then one closed interval per line."""

    def __init__(self, path: Path, contract: HashpowerContract) -> None:
        self.path = path
        if not path.exists() or path.stat().st_size == 0:
            self._append({"contract": contract.to_dict()})

    def _append(self, row: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
            handle.flush()

    def __call__(self, record: IntervalRecord) -> None:
        self._append({"interval": record.to_dict()})

    def holder(self, holder: Holder) -> None:
        """The contract changed hands: ``holder`` pays from its ``from_interval`` on."""
        self._append({"holder": holder.to_dict()})


@dataclass(frozen=True, slots=True)
class Holder:
    """An account that held (bought) a contract, paying for the intervals from
    ``from_interval`` (the first one, starting at ``since_s``) until the next holder's."""

    account_id: int
    since_s: int
    from_interval: int

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class DeliveryFile:
    """A delivery log as read: the terms as ordered, the intervals, the holders in order (the
    first is the terms' buyer)."""

    terms: HashpowerContract
    records: list[IntervalRecord]
    holders: tuple[Holder, ...]

    @property
    def contract(self) -> HashpowerContract:
        """The terms naming the current holder as buyer."""
        return dataclasses.replace(self.terms, buyer_account_id=self.holders[-1].account_id)

    def held_by(self, account_id: int) -> list[IntervalRecord]:
        """The intervals ``account_id`` paid for as a holder (none if it never held it)."""
        return [r for r in self.records if holder_of(self.holders, r.index) == account_id]


def holder_of(holders: Sequence[Holder], index: int) -> int:
    """The account that held the contract for interval ``index``."""
    account = holders[0].account_id
    for holder in holders:
        if holder.from_interval <= index:
            account = holder.account_id
    return account


def read_log(path: Path) -> tuple[HashpowerContract, list[IntervalRecord]]:
    """The contract (naming its current holder as buyer) and its intervals; a bad line is a
    DataError naming file and line."""
    read = read_delivery(path)
    return read.contract, read.records


def read_delivery(path: Path) -> DeliveryFile:
    """The whole log: terms, intervals and holders; a bad line is a DataError naming file
    and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise DataError("file_not_found", location=Location(str(path))) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError("file_unreadable", location=Location(str(path)), detail=exc) from exc
    contract: HashpowerContract | None = None
    records: list[IntervalRecord] = []
    holders: list[Holder] = []
    for number, line in enumerate(lines, start=1):
        where = Location(str(path), number)
        try:
            row = json.loads(line)
            if contract is None:
                contract = HashpowerContract.from_dict(row["contract"])
                holders.append(Holder(contract.buyer_account_id, contract.start_s, 0))
            elif "holder" in row:
                holders.append(_holder(row["holder"], len(records)))
            else:
                records.append(IntervalRecord.from_dict(row["interval"]))
        except HashmarketError as exc:
            raise DataError("delivery_log", location=where, problem=exc.problem) from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError("delivery_log", location=where, problem=repr(exc)) from exc
    if contract is None:
        raise DataError("delivery_log", location=Location(str(path)), problem="no contract line")
    return DeliveryFile(contract, records, tuple(holders))


def _holder(row: dict[str, Any], logged: int) -> Holder:
    holder = Holder(**{k: row[k] for k in ("account_id", "since_s", "from_interval")})
    if any(type(v) is not int for v in (holder.account_id, holder.since_s, holder.from_interval)):
        raise ValueError(f"holder fields must be whole numbers: {row}")
    if holder.from_interval != logged:  # a holder line precedes the first interval it pays
        raise ValueError(f"holder from interval {holder.from_interval} after {logged} intervals")
    return holder


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A contract's delivery to date."""

    contract: HashpowerContract
    intervals: int
    shares_accepted: int
    shares_rejected: dict[str, int]
    work_hashes: Fraction
    ordered_hashes: Fraction
    metered_s: int
    paid_sats: int
    remainder_sats: Decimal
    budget_left_sats: int
    under_delivered: tuple[int, ...]  # indices of intervals below the ordered speed
    work_variance_hashes2: Fraction = Fraction(0)
    holders: tuple[Holder, ...] = ()  # every holder in order, when the contract changed hands

    @property
    def delivered_hashrate_ths(self) -> float:
        return float(self.work_hashes / HASHES_PER_TH / self.metered_s) if self.metered_s else 0.0

    @property
    def delivered_hashrate_std_error_ths(self) -> float:
        """Poisson standard error of the delivered speed."""
        if not self.metered_s:
            return 0.0
        return math.sqrt(self.work_variance_hashes2) / HASHES_PER_TH / self.metered_s

    @property
    def delivery_ratio(self) -> float:
        return float(self.work_hashes / self.ordered_hashes) if self.ordered_hashes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract_id": self.contract.contract_id,
            "intervals": self.intervals,
            "shares_accepted": self.shares_accepted,
            "shares_rejected": dict(sorted(self.shares_rejected.items())),
            "work_hashes": str(self.work_hashes),
            "ordered_hashes": str(self.ordered_hashes),
            "ordered_hashrate_ths": str(Fraction(self.contract.hashrate_ths)),
            "delivered_hashrate_ths": self.delivered_hashrate_ths,
            "delivered_hashrate_std_error_ths": self.delivered_hashrate_std_error_ths,
            "delivery_ratio": self.delivery_ratio,
            "paid_sats": self.paid_sats,
            "remainder_sats": str(self.remainder_sats),
            "budget_sats": self.contract.budget_sats,
            "budget_left_sats": self.budget_left_sats,
            "under_delivered_intervals": list(self.under_delivered),
            "buyer_account_id": self.contract.buyer_account_id,
            "holders": [h.to_dict() for h in self.holders],
        }


def delivery_report(
    contract: HashpowerContract,
    records: list[IntervalRecord],
    holders: Sequence[Holder] = (),
) -> DeliveryReport:
    """The delivery to date; pass the log's ``holders`` (:class:`DeliveryFile`) to name the
    current holder as buyer and list every holder."""
    if holders:
        contract = dataclasses.replace(contract, buyer_account_id=holders[-1].account_id)
    rejected: dict[str, int] = {}
    for r in records:
        for reason, n in r.shares_rejected.items():
            rejected[reason] = rejected.get(reason, 0) + n
    last = records[-1] if records else None
    return DeliveryReport(
        contract=contract,
        intervals=len(records),
        shares_accepted=sum(r.shares_accepted for r in records),
        shares_rejected=rejected,
        work_hashes=sum((r.work_hashes for r in records), start=Fraction(0)),
        ordered_hashes=sum((r.ordered_hashes for r in records), start=Fraction(0)),
        metered_s=sum(r.end_s - r.start_s for r in records),
        paid_sats=sum(r.paid_sats for r in records),
        remainder_sats=last.remainder_sats if last else Decimal(0),
        budget_left_sats=last.budget_left_sats if last else contract.budget_sats,
        under_delivered=tuple(r.index for r in records if r.work_hashes < r.ordered_hashes),
        work_variance_hashes2=sum((r.work_variance_hashes2 for r in records), start=Fraction(0)),
        holders=tuple(holders),
    )


def resume(
    contract: HashpowerContract, records: list[IntervalRecord], *, now_s: int
) -> tuple[Meter, Reservation]:
    """The meter and the live reservation after the logged intervals, so a restarted
    endpoint numbers its next interval (and its ledger ids) where the last run stopped."""
    if not records:
        meter = Meter(contract, interval_start_s=max(now_s, contract.start_s))
        return meter, Reservation(contract.pending_transfer_id, contract.budget_sats)
    last = records[-1]
    meter = Meter(
        contract,
        interval_start_s=max(now_s, last.end_s),
        index=last.index + 1,
        work_total_hashes=sum((r.work_hashes for r in records), start=Fraction(0)),
        paid_total_sats=last.paid_total_sats,
        shares_total=sum(r.shares_accepted for r in records),
    )
    paid = [r for r in records if r.paid_sats > 0]
    if not paid:
        return meter, Reservation(contract.pending_transfer_id, contract.budget_sats)
    left = paid[-1].budget_left_sats
    return meter, Reservation(reserve_id(contract.contract_id, paid[-1].index) if left else 0, left)
