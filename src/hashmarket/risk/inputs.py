"""Reading the risk inputs (portfolio, miner profile, loan) from JSON or YAML, strictly.

The file is read by :func:`hashmarket.specfile.read_document`; every refusal is a
:class:`~hashmarket.errors.RiskError` that names the file and the field by its path in the
document (``positions[2].quantity``), and says what is wrong with the value: an unknown field,
a missing one, a value of the wrong type or outside its range.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from hashmarket.errors import Location, RiskError
from hashmarket.specfile import field_path

T = TypeVar("T")


class _Missing(enum.Enum):
    """No default: the field is required."""

    MISSING = enum.auto()


_MISSING = _Missing.MISSING


@dataclass(frozen=True)
class Reader:
    """A mapping being read: its fields are taken one by one and checked as they are."""

    data: Mapping[str, Any]
    at: str = ""  # the mapping's own path in the document ("" for the document itself)
    location: Location | None = None

    @classmethod
    def of(cls, value: Any, *, what: str, location: Location | None = None) -> Reader:
        if not isinstance(value, Mapping):
            raise RiskError(
                "risk_field",
                location=location,
                field=what,
                problem=f"expected a mapping of fields, got {value!r}",
            )
        return cls(value, "", location)

    def path(self, name: str | int) -> str:
        return field_path(self.at, name)

    def fail(self, name: str, problem: str) -> RiskError:
        return RiskError(
            "risk_field", location=self.location, field=self.path(name), problem=problem
        )

    def only(self, *names: str) -> None:
        """Refuse any field not in ``names`` (a typo must not be silently ignored)."""
        for key in self.data:
            if key not in names:
                known = ", ".join(names)
                raise self.fail(str(key), f"unknown field (known fields: {known})")

    def has(self, name: str) -> bool:
        return name in self.data and self.data[name] is not None

    def raw(self, name: str, default: object = _MISSING) -> Any:
        if name not in self.data or self.data[name] is None:
            if default is _MISSING:
                raise self.fail(name, "missing")
            return default
        return self.data[name]

    def number(
        self,
        name: str,
        default: float | _Missing = _MISSING,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
    ) -> float:
        if not self.has(name) and default is not _MISSING:
            return float(default)
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, f"value {value!r} is not a number")
        number = float(value)
        if not math.isfinite(number):
            raise self.fail(name, f"value {value!r} is not finite")
        if positive and number <= 0:
            raise self.fail(name, f"value {value!r} must be greater than zero")
        if minimum is not None and number < minimum:
            raise self.fail(name, f"value {value!r} must be at least {minimum:g}")
        if maximum is not None and number > maximum:
            raise self.fail(name, f"value {value!r} must be at most {maximum:g}")
        return number

    def optional_number(self, name: str, **bounds: Any) -> float | None:
        return self.number(name, **bounds) if self.has(name) else None

    def integer(
        self, name: str, default: int | _Missing = _MISSING, *, minimum: int | None = None
    ) -> int:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"value {value!r} is not a whole number")
        if minimum is not None and value < minimum:
            raise self.fail(name, f"value {value!r} must be at least {minimum}")
        return value

    def text(self, name: str, default: str | _Missing = _MISSING) -> str:
        value = self.raw(name, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, f"value {value!r} is not a non-empty string")
        return value

    def boolean(self, name: str, default: bool | _Missing = _MISSING) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, f"value {value!r} is not true or false")
        return value

    def date(self, name: str, default: dt.date | str | _Missing = _MISSING) -> dt.date:
        value = self.raw(name, default)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(name, f"value {value!r} is not a date (YYYY-MM-DD)")

    def choice(
        self, name: str, choices: tuple[str, ...], default: str | _Missing = _MISSING
    ) -> str:
        value = self.raw(name, default)
        if value not in choices:
            raise self.fail(name, f"value {value!r} is not one of {', '.join(choices)}")
        return str(value)

    def mapping(self, name: str) -> Reader:
        value = self.raw(name)
        if not isinstance(value, Mapping):
            raise self.fail(name, f"expected a mapping of fields, got {value!r}")
        return Reader(value, self.path(name), self.location)

    def items(self, name: str) -> list[Reader]:
        """A non-empty list of mappings, each read with its index in the path."""
        value = self.raw(name)
        if not isinstance(value, list) or not value:
            raise self.fail(name, "expected a non-empty list")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise RiskError(
                    "risk_field",
                    location=self.location,
                    field=field_path(self.path(name), i),
                    problem=f"expected a mapping of fields, got {item!r}",
                )
            out.append(Reader(item, field_path(self.path(name), i), self.location))
        return out
