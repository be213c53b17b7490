"""The delivery log of a contract and its report.

The endpoint appends one JSON line per closed interval to the contract's log, after the line
with the contract's terms, so the log alone says what was ordered, what was delivered in
every interval and what was paid for it; the ledger holds the payments themselves under ids
derived from the contract and the interval (:mod:`hashmarket.delivery.payments`), which
:func:`check_ledger` compares with the log.
"""

from __future__ import annotations

import json
import math
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


def read_log(path: Path) -> tuple[HashpowerContract, list[IntervalRecord]]:
    """The contract and its intervals; a bad line is a DataError naming file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise DataError("file_not_found", location=Location(str(path))) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError("file_unreadable", location=Location(str(path)), detail=exc) from exc
    contract: HashpowerContract | None = None
    records: list[IntervalRecord] = []
    for number, line in enumerate(lines, start=1):
        where = Location(str(path), number)
        try:
            row = json.loads(line)
            if contract is None:
                contract = HashpowerContract.from_dict(row["contract"])
            else:
                records.append(IntervalRecord.from_dict(row["interval"]))
        except HashmarketError as exc:
            raise DataError("delivery_log", location=where, problem=exc.problem) from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError("delivery_log", location=where, problem=repr(exc)) from exc
    if contract is None:
        raise DataError("delivery_log", location=Location(str(path)), problem="no contract line")
    return contract, records


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
        }


def delivery_report(contract: HashpowerContract, records: list[IntervalRecord]) -> DeliveryReport:
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
