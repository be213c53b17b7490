"""Input checks shared by the products: each refusal names the command, field and value.

A check runs before the engine changes anything, so a refused command leaves the book, the
contracts and the capacity exactly as they were (and is never logged).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from hashmarket.errors import MarketError
from hashmarket.market.orders import PlaceOrder, Side
from hashmarket.market.products import S_PER_HOUR, HashpowerSpec

INT_MAX = 2**63 - 1


def refuse(command: str, field: str, value: object, problem: str) -> MarketError:
    return MarketError("market_field", command=command, field=field, value=value, problem=problem)


def whole(command: str, field: str, value: object, *, minimum: int = 1) -> int:
    """A Python int (not a bool, float or string) in [minimum, 2**63 − 1]."""
    if type(value) is not int:
        raise refuse(command, field, value, "is not a whole number")
    if value < minimum:
        raise refuse(command, field, value, f"must be at least {minimum}")
    if value > INT_MAX:
        raise refuse(command, field, value, "is too large")
    return value


def on_tick(command: str, field: str, value: object, tick: int) -> int:
    price = whole(command, field, value)
    if price % tick:
        raise refuse(command, field, value, f"is not on the tick of {tick}")
    return price


def one_of(command: str, field: str, value: object, known: Iterable[Any]) -> Any:
    options = tuple(known)
    if value not in options:
        raise MarketError(
            "market_unknown",
            command=command,
            field=field,
            what=field,
            value=value,
            known=", ".join(str(getattr(o, "value", o)) for o in options),
        )
    return value


def member(command: str, field: str, value: object, enum_type: type[enum.Enum]) -> Any:
    """A member of ``enum_type`` (a type check: no iteration on the hot path)."""
    if type(value) is enum_type:
        return value
    return one_of(command, field, value, list(enum_type))


def hour_window(command: str, start_s: object, end_s: object, now_s: int) -> tuple[int, int]:
    """An hour-aligned ``[start_s, end_s)`` that has not begun at ``now_s``."""
    start = whole(command, "start_s", start_s, minimum=0)
    end = whole(command, "end_s", end_s, minimum=0)
    if start % S_PER_HOUR:
        raise refuse(command, "start_s", start, "is not on a whole UTC hour")
    if end % S_PER_HOUR:
        raise refuse(command, "end_s", end, "is not on a whole UTC hour")
    if end <= start:
        raise refuse(command, "end_s", end, f"must be after start_s ({start})")
    if start < now_s:
        raise refuse(command, "start_s", start, f"is in the past (the command's time is {now_s})")
    return start, end


def hashpower_terms(hp: HashpowerSpec, c: PlaceOrder) -> None:
    """A hashpower order's own terms: its size on the lot, and a buy's budget (at least 1 sat
    per TH/s) and duration within the product's bounds; a sell carries neither. The seller's
    free capacity is the engine's to check."""
    whole("place", "size", c.size, minimum=hp.min_lot_ths)
    if c.side is Side.BUY:
        budget = whole("place", "budget_sats", c.budget_sats)
        if budget < c.size:
            raise refuse(
                "place", "budget_sats", budget, f"must be at least 1 sat per TH/s ({c.size})"
            )
        duration = whole("place", "duration_s", c.duration_s)
        if not hp.min_duration_s <= duration <= hp.max_duration_s:
            raise refuse(
                "place",
                "duration_s",
                duration,
                f"must be between {hp.min_duration_s} and {hp.max_duration_s} seconds",
            )
        return
    for name in ("budget_sats", "duration_s"):
        if getattr(c, name) is not None:
            raise refuse("place", name, getattr(c, name), "is for buy orders only")
