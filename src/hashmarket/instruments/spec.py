"""Instrument specs: JSON or YAML mappings ``{"type": "hashprice_forward", …fields}``.

The field names and types are those of the instrument's dataclass (dates as ``YYYY-MM-DD``,
enums by value). A spec is refused with a :class:`~hashmarket.errors.SpecError` that names the
field and the value: an unknown type or field (a field an earlier version named differently
is refused with its new name), a missing field, a value of the wrong type,
or terms the instrument itself refuses (a negative notional, an end before the start, an
unknown currency, …). ``to_spec`` writes an instrument back; ``parse_spec(to_spec(x)) == x``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from hashmarket.errors import SpecError
from hashmarket.instruments.cloud import CloudHashrate
from hashmarket.instruments.compute import ComputeForward, ComputeLease
from hashmarket.instruments.forwards import (
    BtcPriceSwap,
    DifficultyFuture,
    EpochValueFuture,
    HashpriceForward,
    HashrateFuture,
)
from hashmarket.instruments.hosting import Hosting
from hashmarket.instruments.lease import MachineLease
from hashmarket.instruments.options import AsianOption, Collar, EuropeanOption
from hashmarket.instruments.regional import MarginLock, PowerForward, RegionalBasisSwap
from hashmarket.instruments.structured import DualCurrencyNote, SharkFinNote, YieldSplitNote
from hashmarket.instruments.terms import Instrument
from hashmarket.instruments.tokens import HashrateToken
from hashmarket.money import exact
from hashmarket.specfile import located, read_document

INSTRUMENT_TYPES: dict[str, type[Any]] = {
    cls.type_name: cls
    for cls in (
        HashpriceForward,
        HashrateFuture,
        DifficultyFuture,
        EpochValueFuture,
        BtcPriceSwap,
        EuropeanOption,
        AsianOption,
        Collar,
        SharkFinNote,
        DualCurrencyNote,
        YieldSplitNote,
        HashrateToken,
        ComputeForward,
        ComputeLease,
        CloudHashrate,
        Hosting,
        MachineLease,
        RegionalBasisSwap,
        PowerForward,
        MarginLock,
    )
}


def _coerce(field: str, value: Any, annotation: Any) -> Any:
    """Turn a JSON/YAML value into the field's type, or refuse it naming field and value."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        return _coerce(field, value, options[0])
    if annotation is dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:  # the instrument checks that it is UTC (an explicit Z or +00:00)
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                pass
        raise SpecError(
            "spec_bad_type", field=field, value=value, expected="a UTC time (YYYY-MM-DDTHH:MM:SSZ)"
        )
    if annotation is dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise SpecError("spec_bad_type", field=field, value=value, expected="a date (YYYY-MM-DD)")
    if annotation is Decimal:
        # Exact terms (money arithmetic): a number by its written digits, or a decimal string.
        if not isinstance(value, bool) and isinstance(value, int | float | str | Decimal):
            try:
                return exact(value)
            except ValueError:
                pass
        raise SpecError("spec_bad_type", field=field, value=value, expected="a number")
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError("spec_bad_type", field=field, value=value, expected="a number")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError("spec_bad_type", field=field, value=value, expected="a whole number")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise SpecError("spec_bad_type", field=field, value=value, expected="true or false")
        return value
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        if not isinstance(value, str):
            raise SpecError("spec_bad_type", field=field, value=value, expected="a string")
        return value  # the instrument checks it against its enum (naming the known values)
    return value


def parse_spec(spec: Any) -> Instrument:
    """Build the instrument a spec mapping describes."""
    if not isinstance(spec, Mapping):
        raise SpecError("spec_not_mapping", value=spec)
    if "type" not in spec:
        raise SpecError("spec_missing_field", field="type", value=None, type="any instrument")
    type_name = spec["type"]
    cls = INSTRUMENT_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise SpecError(
            "spec_unknown_type", field="type", value=type_name, known=", ".join(INSTRUMENT_TYPES)
        )
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    retired: Mapping[str, str] = getattr(cls, "retired_fields", {})
    for name, value in spec.items():
        if name in retired and name not in fields:
            raise SpecError("spec_retired_field", field=name, value=value, problem=retired[name])
        if name != "type" and name not in fields:
            raise SpecError(
                "spec_unknown_field", field=name, value=value, known=", ".join(["type", *fields])
            )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name not in spec:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required:
                raise SpecError("spec_missing_field", field=name, value=None, type=type_name)
            continue
        kwargs[name] = _coerce(name, spec[name], hints[name])
    instrument: Instrument = cls(**kwargs)
    return instrument


def to_spec(instrument: Instrument) -> dict[str, Any]:
    """The spec mapping of an instrument (JSON-ready: dates ISO, enums by value)."""
    out: dict[str, Any] = {"type": instrument.type_name}
    for f in dataclasses.fields(instrument):  # type: ignore[arg-type]
        if not f.init:
            continue
        value = getattr(instrument, f.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            # A number when the float reads back the same digits, else the exact string.
            number = int(value) if value == value.to_integral_value() else float(value)
            value = number if exact(number) == value else str(value)
        out[f.name] = value
    return out


def load_spec(path: Path | str) -> Instrument:
    """Read and build the instrument in a JSON or YAML file; errors name the file."""
    document, location = read_document(path, what="instrument spec", error=SpecError)
    with located(location):
        return parse_spec(document)
