"""Metering: delivered work per contract per interval, and what it is worth.

Accepted shares are counted per difficulty while an interval is open (one increment of a
counter cell the session holds, so metering costs nothing next to hashing). Closing the
interval turns the counts into exact work, ``Σ count × d × 2³²`` hashes as a
:class:`~fractions.Fraction`, and the contract's running total into sats payable by its
rounding rule. What an interval pays is the change in that rounded running total, so the
sum of the intervals' payments is always the whole delivered work's value rounded once, and
the remainder (less than a sat) is carried, never dropped. Nothing is payable for an
interval without accepted shares.

Under-delivery is measured against the ordered speed over the interval's length:
``shortfall = max(0, ordered − delivered)`` hashes, and the delivered speed in TH/s.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hashmarket.delivery.contract import HashpowerContract
from hashmarket.delivery.shares import share_work_hashes
from hashmarket.units import HASHES_PER_TH


@dataclass(frozen=True, slots=True)
class IntervalRecord:
    """One closed metering interval of a contract."""

    contract_id: str
    index: int
    start_s: int
    end_s: int
    shares_accepted: int
    shares_rejected: dict[str, int]
    work_hashes: Fraction
    ordered_hashes: Fraction
    paid_sats: int  # paid for this interval
    paid_total_sats: int  # paid since the contract started, this interval included
    remainder_sats: Decimal  # exact value − paid_total (carried)
    budget_left_sats: int
    # Σ count × (d × 2³²)²: the variance of the work estimate. Shares arrive as a Poisson
    # process, so the work behind n shares of difficulty d has standard error √n × d × 2³².
    work_variance_hashes2: Fraction = Fraction(0)

    @property
    def delivered_hashrate_std_error_ths(self) -> float:
        """Standard error of :attr:`delivered_hashrate_ths` (Poisson share counts)."""
        seconds = self.end_s - self.start_s
        if seconds <= 0:
            return 0.0
        return math.sqrt(self.work_variance_hashes2) / HASHES_PER_TH / seconds

    @property
    def delivered_hashrate_ths(self) -> float:
        seconds = self.end_s - self.start_s
        return float(self.work_hashes / HASHES_PER_TH / seconds) if seconds > 0 else 0.0

    @property
    def shortfall_hashes(self) -> Fraction:
        return max(Fraction(0), self.ordered_hashes - self.work_hashes)

    @property
    def delivery_ratio(self) -> float:
        """Delivered ÷ ordered work in the interval (1.0 is full delivery)."""
        return float(self.work_hashes / self.ordered_hashes) if self.ordered_hashes else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Exact and JSON-safe: fractions and decimals as strings."""
        return {
            "contract_id": self.contract_id,
            "index": self.index,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "shares_accepted": self.shares_accepted,
            "shares_rejected": dict(sorted(self.shares_rejected.items())),
            "work_hashes": str(self.work_hashes),
            "ordered_hashes": str(self.ordered_hashes),
            "delivered_hashrate_ths": self.delivered_hashrate_ths,
            "delivered_hashrate_std_error_ths": self.delivered_hashrate_std_error_ths,
            "work_variance_hashes2": str(self.work_variance_hashes2),
            "delivery_ratio": self.delivery_ratio,
            "shortfall_hashes": str(self.shortfall_hashes),
            "paid_sats": self.paid_sats,
            "paid_total_sats": self.paid_total_sats,
            "remainder_sats": str(self.remainder_sats),
            "budget_left_sats": self.budget_left_sats,
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> IntervalRecord:
        return cls(
            contract_id=str(row["contract_id"]),
            index=int(row["index"]),
            start_s=int(row["start_s"]),
            end_s=int(row["end_s"]),
            shares_accepted=int(row["shares_accepted"]),
            shares_rejected={str(k): int(v) for k, v in row["shares_rejected"].items()},
            work_hashes=Fraction(row["work_hashes"]),
            ordered_hashes=Fraction(row["ordered_hashes"]),
            paid_sats=int(row["paid_sats"]),
            paid_total_sats=int(row["paid_total_sats"]),
            remainder_sats=Decimal(row["remainder_sats"]),
            budget_left_sats=int(row["budget_left_sats"]),
            work_variance_hashes2=Fraction(row.get("work_variance_hashes2", "0")),
        )


@dataclass
class Meter:
    """The open interval of one contract and its running totals."""

    contract: HashpowerContract
    interval_start_s: int
    index: int = 0
    work_total_hashes: Fraction = Fraction(0)
    paid_total_sats: int = 0
    shares_total: int = 0
    tallies: dict[Fraction, list[int]] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)

    def tally(self, difficulty: Fraction) -> list[int]:
        """The one-element counter of accepted shares of ``difficulty`` in the open interval;
        a session keeps it and adds to ``cell[0]`` (closing resets it in place)."""
        cell = self.tallies.get(difficulty)
        if cell is None:
            cell = self.tallies[difficulty] = [0]
        return cell

    def credit(self, difficulty: Fraction, shares: int = 1) -> None:
        """``shares`` accepted shares of ``difficulty``."""
        self.tally(Fraction(difficulty))[0] += shares

    def reject(self, reason: str) -> None:
        self.rejected[reason] += 1

    @property
    def budget_spent(self) -> bool:
        return self.paid_total_sats >= self.contract.budget_sats

    def open_work_spends_budget(self) -> bool:
        """Whether the work of the open interval would take the total to the budget."""
        total = self.work_total_hashes + self.open_work_hashes()
        return self.contract.payable_sats(total)[0] >= self.contract.budget_sats

    def open_work_hashes(self) -> Fraction:
        """Work of the open interval so far."""
        return sum(
            (share_work_hashes(d) * cell[0] for d, cell in self.tallies.items()),
            start=Fraction(0),
        )

    def close(self, end_s: int) -> IntervalRecord:
        """Close the open interval at ``end_s`` and open the next one there."""
        if end_s < self.interval_start_s:
            raise ValueError(f"interval end {end_s} is before its start {self.interval_start_s}")
        work = self.open_work_hashes()
        variance = sum(
            (share_work_hashes(d) ** 2 * cell[0] for d, cell in self.tallies.items()),
            start=Fraction(0),
        )
        self.work_total_hashes += work
        payable, remainder = self.contract.payable_sats(self.work_total_hashes)
        paid = payable - self.paid_total_sats
        self.paid_total_sats = payable
        accepted = sum(cell[0] for cell in self.tallies.values())
        self.shares_total += accepted
        record = IntervalRecord(
            contract_id=self.contract.contract_id,
            index=self.index,
            start_s=self.interval_start_s,
            end_s=end_s,
            shares_accepted=accepted,
            shares_rejected=dict(self.rejected),
            work_hashes=work,
            work_variance_hashes2=variance,
            ordered_hashes=self.contract.ordered_hashes(end_s - self.interval_start_s),
            paid_sats=paid,
            paid_total_sats=payable,
            remainder_sats=remainder,
            budget_left_sats=self.contract.budget_sats - payable,
        )
        self.index += 1
        self.interval_start_s = end_s
        for cell in self.tallies.values():
            cell[0] = 0
        self.rejected = Counter()
        return record
