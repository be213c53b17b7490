"""The terms of a hashpower delivery contract, as the exchange hands them over.

A fill on the exchange creates a contract: the buyer orders ``hashrate_ths`` from ``start`` to
``end`` at ``price_sats_per_ph_day`` and the exchange reserves ``budget_sats`` from the buyer's
ledger account with a pending transfer to the seller's (``pending_transfer_id``). Delivery
meters the seller's shares and pays the seller out of that reservation, per delivered hash.

What one hash is worth follows from the price: a PH/s for a day is 10¹⁵ × 86,400 hashes, so
``value_sats = work_hashes × price_sats_per_ph_day / (10¹⁵ × 86,400)`` exactly. Payment
follows the rule the exchange pays its contracts by (:func:`hashmarket.money.hashpower_value_sats`):
the running total of work counted in whole TH·s, times the price, ÷ 86,400,000, rounded by
``rounding`` (:class:`hashmarket.money.Rounding`; the
default ``DOWN`` never pays a fraction of a sat for work not yet delivered) and carries the
remainder to the next interval, so the total paid is the whole delivered work's value rounded
once, capped at the budget.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hashmarket.errors import SpecError
from hashmarket.money import (
    DECIMAL,
    Rounding,
    delivered_ths_s,
    exact_decimal,
    hashpower_value_sats,
    hashpower_value_sats_exact,
)
from hashmarket.units import HASHES_PER_PH, HASHES_PER_TH, SECONDS_PER_DAY

HASHES_PER_PH_DAY = HASHES_PER_PH * SECONDS_PER_DAY  # 8.64 × 10¹⁹


def _utc_seconds(moment: dt.datetime) -> int:
    return int(moment.timestamp())


@dataclass(frozen=True, slots=True)
class HashpowerContract:
    """A hashpower delivery contract: who pays whom, for how much hashing, until when."""

    contract_id: str
    buyer_account_id: int
    seller_account_id: int
    price_sats_per_ph_day: int
    hashrate_ths: Fraction | Decimal | int  # exact: a float would not be
    budget_sats: int
    start: dt.datetime  # UTC, timezone-aware
    end: dt.datetime
    pending_transfer_id: int
    interval_s: int = 600
    rounding: Rounding = Rounding.DOWN

    def __post_init__(self) -> None:
        def bad(field: str, problem: str) -> SpecError:
            return SpecError(
                "spec_out_of_range", field=field, value=getattr(self, field), bound=problem
            )

        if not self.contract_id or not self.contract_id.isprintable() or " " in self.contract_id:
            raise bad("contract_id", "a non-empty printable name without spaces")
        for name in ("buyer_account_id", "seller_account_id", "pending_transfer_id"):
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                raise bad(name, "a positive integer ledger id")
        if self.buyer_account_id == self.seller_account_id:
            raise bad("seller_account_id", "another account than the buyer's")
        for name in ("price_sats_per_ph_day", "budget_sats", "interval_s"):
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                raise bad(name, "a positive integer")
        if not isinstance(self.hashrate_ths, Fraction | Decimal | int) or isinstance(
            self.hashrate_ths, bool
        ):
            raise bad("hashrate_ths", "an exact number (int, Decimal or Fraction)")
        if Fraction(self.hashrate_ths) <= 0:
            raise bad("hashrate_ths", "positive")
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is None:
                raise bad(name, "timezone-aware (UTC)")
        if self.end <= self.start:
            raise bad("end", f"after start ({self.start.isoformat()})")
        if self.rounding.cumulative:
            raise bad("rounding", "a plain rule (the running total is already rounded once)")

    def to_dict(self) -> dict[str, Any]:
        """The terms as JSON-safe values (the hashrate as an exact fraction string)."""
        return {
            "contract_id": self.contract_id,
            "buyer_account_id": self.buyer_account_id,
            "seller_account_id": self.seller_account_id,
            "price_sats_per_ph_day": self.price_sats_per_ph_day,
            "hashrate_ths": str(Fraction(self.hashrate_ths)),
            "budget_sats": self.budget_sats,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "pending_transfer_id": self.pending_transfer_id,
            "interval_s": self.interval_s,
            "rounding": self.rounding.value,
        }

    @classmethod
    def from_dict(cls, terms: dict[str, Any]) -> HashpowerContract:
        """Terms from :meth:`to_dict`'s shape; a wrong or missing field is a SpecError."""
        known = set(cls.__dataclass_fields__)
        for name in terms:
            if name not in known:
                raise SpecError(
                    "spec_unknown_field", field=name, value=terms[name], known=sorted(known)
                )
        for name in (
            "contract_id",
            "buyer_account_id",
            "seller_account_id",
            "price_sats_per_ph_day",
            "hashrate_ths",
            "budget_sats",
            "start",
            "end",
            "pending_transfer_id",
        ):
            if name not in terms:
                raise SpecError("spec_missing_field", field=name, type="hashpower contract")
        values = dict(terms)
        try:
            values["hashrate_ths"] = Fraction(str(terms["hashrate_ths"]))
            for name in ("start", "end"):
                values[name] = dt.datetime.fromisoformat(str(terms[name]))
            if "rounding" in terms:
                values["rounding"] = Rounding(terms["rounding"])
        except (ValueError, ZeroDivisionError) as exc:
            raise SpecError(
                "spec_bad_type", field=name, value=terms.get(name), expected=str(exc)
            ) from exc
        return cls(**values)

    @property
    def start_s(self) -> int:
        return _utc_seconds(self.start)

    @property
    def end_s(self) -> int:
        return _utc_seconds(self.end)

    @property
    def duration_s(self) -> int:
        return self.end_s - self.start_s

    def ordered_hashes(self, seconds: int | Fraction) -> Fraction:
        """Hashes the ordered speed delivers in ``seconds``."""
        return Fraction(self.hashrate_ths) * HASHES_PER_TH * Fraction(seconds)

    def value_sats_exact(self, work_hashes: Fraction | int) -> Fraction:
        """What ``work_hashes`` of delivered work is worth, in sats, exactly."""
        return hashpower_value_sats_exact(self.price_sats_per_ph_day, work_hashes)

    def payable_sats(self, work_hashes: Fraction | int) -> tuple[int, Decimal]:
        """Total payable for ``work_hashes`` delivered so far: the exact value rounded by the
        terms' rule, capped at the budget; and exact − payable in sats, as a decimal of 50
        significant digits: what rounding carries (under a sat) while the budget lasts, and
        once it is spent, the value of the work it could not pay."""
        value = self.value_sats_exact(work_hashes)
        exact = exact_decimal(value)
        counted = delivered_ths_s(work_hashes)
        rounded = min(
            hashpower_value_sats(self.price_sats_per_ph_day, counted, self.rounding),
            self.budget_sats,
        )
        return rounded, DECIMAL.subtract(exact, Decimal(rounded))
