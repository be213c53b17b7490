"""Strict CSV reading: every refusal names the file, line, column and value.

A schema lists the columns a file must have, what each holds, and the limits of its values.
Reading is all-or-nothing: a file is returned whole or an error is raised for its first problem.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hashmarket.chain.consensus import MAX_BLOCKS_PER_DAY
from hashmarket.errors import DataError, Location

Kind = Literal["date", "timestamp", "float", "int", "bits", "hash", "text"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a schema: name, kind, whether blanks are allowed, and value limits."""

    name: str
    kind: Kind
    blank_ok: bool = True
    positive: bool = False  # > 0 (difficulty); otherwise numbers must be >= 0
    maximum: float | None = None
    maximum_reason: str = ""


@dataclass(frozen=True, slots=True)
class Schema:
    """Columns of a file, and which one is its ordered key (dates or heights)."""

    columns: tuple[Column, ...]
    key: str
    exact: bool = True  # every column must be present; otherwise only the key is required

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True, slots=True)
class Table:
    """A validated file: the columns present, their parsed values, and each row's line."""

    path: str
    columns: dict[str, list[Any]]
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)


BLOCK_COUNT = Column(
    "block_count", "int", maximum=MAX_BLOCKS_PER_DAY, maximum_reason="blocks_impossible"
)


# What a blank cell in a required column is told, by column kind.
_BLANK_KEYS: dict[str, str] = {
    "float": "bad_number",
    "int": "bad_number",
    "date": "bad_date",
    "timestamp": "bad_timestamp",
    "bits": "bad_bits",
    "hash": "bad_hash",
}


def _parse(column: Column, raw: str, where: Location) -> Any:
    if raw == "":
        if column.blank_ok:
            return None
        raise DataError(_BLANK_KEYS.get(column.kind, "blank_value"), location=where)
    kind = column.kind
    if kind == "date":
        try:
            if len(raw) != 10:  # fromisoformat also takes 20200101, which no data file uses
                raise ValueError(raw)
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise DataError("bad_date", location=where) from None
    if kind == "timestamp":
        return _parse_timestamp(raw, where)
    if kind == "bits":
        if len(raw) != 8 or not _is_hex(raw):
            raise DataError("bad_bits", location=where)
        return int(raw, 16)
    if kind == "hash":
        if len(raw) != 64 or not _is_hex(raw):
            raise DataError("bad_hash", location=where)
        return raw.lower()
    if kind == "text":
        return raw
    return _parse_number(column, raw, where)


def _parse_number(column: Column, raw: str, where: Location) -> float | int:
    value: float | int
    try:
        value = int(raw) if column.kind == "int" else float(raw)
    except ValueError:
        raise DataError(
            "bad_integer" if column.kind == "int" else "bad_number", location=where
        ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise DataError("not_finite", location=where)
    if column.positive and value <= 0:
        raise DataError("not_positive", location=where)
    if value < 0:
        raise DataError("negative", location=where)
    if column.maximum is not None and value > column.maximum:
        raise DataError(
            column.maximum_reason or "bad_number", location=where, maximum=column.maximum
        )
    return value


def _parse_timestamp(raw: str, where: Location) -> int:
    if raw.isdigit():
        return int(raw)
    try:
        moment = dt.datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise DataError("bad_timestamp", location=where) from None
    return int(moment.replace(tzinfo=dt.UTC).timestamp())


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_hex(raw: str) -> bool:
    return _HEX_DIGITS.issuperset(raw)


def check_header(header: Sequence[str], schema: Schema, path: str) -> None:
    """Refuse a header with a duplicated, unknown or (for exact schemas) missing column."""
    expected = ", ".join(schema.names)
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError("csv_duplicate_column", location=Location(path, 1), column=name)
        seen.add(name)
        if name not in schema.names:
            raise DataError(
                "csv_extra_column", location=Location(path, 1), column=name, expected=expected
            )
    required = schema.names if schema.exact else (schema.key,)
    for name in required:
        if name not in seen:
            raise DataError(
                "csv_missing_column", location=Location(path, 1), column=name, expected=expected
            )


def _cell_parser(column: Column, nowhere: Location) -> Callable[[str], Any]:
    """The parser of one column's cells. Numbers, most of a file, take a short path: a value
    that converts and is within limits is returned at once; anything else (blank, malformed,
    out of range) goes through :func:`_parse`, which returns ``None`` for an allowed blank or
    raises its precise error."""
    if column.kind not in ("int", "float"):
        return lambda raw: _parse(column, raw, nowhere)
    convert: Callable[[str], float | int] = int if column.kind == "int" else float
    upper = math.inf if column.maximum is None else column.maximum
    positive = column.positive

    def parse(raw: str) -> Any:
        try:
            value = convert(raw)
        except ValueError:
            return _parse(column, raw, nowhere)
        if (value > 0 if positive else value >= 0) and value <= upper and value != math.inf:
            return value
        return _parse(column, raw, nowhere)

    return parse


# Rows parsed together: big enough for the column-wise pass to pay, small enough that a
# million-row import never holds all its raw text at once.
CHUNK_ROWS = 65536


def read_rows(rows: Iterable[list[str]], schema: Schema, path: str) -> Table:
    """Validate already-split rows (the first is the header) against ``schema``.

    Valid rows, the usual case, are parsed a column at a time, a chunk of rows at once; at
    any problem the rest is checked row by row, so the error raised is the first in file order,
    with its location."""
    iterator = iter(rows)
    header = next(iterator, None)
    if header is None:
        raise DataError("csv_empty", location=Location(path))
    check_header(header, schema, path)
    by_name = {c.name: c for c in schema.columns}
    nowhere = Location(path)
    parsers = [_cell_parser(by_name[name], nowhere) for name in header]
    columns: dict[str, list[Any]] = {name: [] for name in header}
    keys = columns[schema.key]
    key_index = header.index(schema.key)
    while chunk := list(itertools.islice(iterator, CHUNK_ROWS)):
        try:
            if any(len(row) != len(header) for row in chunk):
                raise ValueError("field count")
            parsed = [
                list(map(parse, [row[i] for row in chunk])) for i, parse in enumerate(parsers)
            ]
            # Strictly increasing keys: no duplicates, nothing out of order.
            ordered = itertools.pairwise(itertools.chain(keys[-1:], parsed[key_index]))
            if not all(a < b for a, b in ordered):
                raise ValueError("key order")
        except (DataError, ValueError, TypeError):  # TypeError: a blank key met a key
            _check_rows(header, itertools.chain(chunk, iterator), schema, path, columns)
            break
        for values, more in zip(columns.values(), parsed, strict=True):
            values.extend(more)
    return Table(path=path, columns=columns, lines=list(range(2, len(keys) + 2)))


def _check_rows(
    header: list[str],
    rows: Iterable[list[str]],
    schema: Schema,
    path: str,
    columns: dict[str, list[Any]],
) -> None:
    """Append ``rows`` to ``columns`` (which holds the valid rows before them) one by one,
    raising at the first problem with its exact location."""
    by_name = {c.name: c for c in schema.columns}
    key_values = columns[schema.key]
    first_line_of: dict[Any, int] = {key: line for line, key in enumerate(key_values, start=2)}
    previous: Any = key_values[-1] if key_values else None
    key_index = header.index(schema.key)
    cells = [(name, by_name[name], columns[name]) for name in header]
    nowhere = Location(path)
    for line, row in enumerate(rows, start=len(key_values) + 2):
        if len(row) != len(header):
            raise DataError(
                "csv_field_count",
                location=Location(path, line),
                found=len(row),
                expected=len(header),
            )
        for (name, column, values), raw in zip(cells, row, strict=True):
            try:
                values.append(_parse(column, raw, nowhere))
            except DataError as exc:
                # Locations are built only on failure: a million-row file has millions of cells.
                where = Location(path, line, name, raw)
                raise DataError(exc.key, location=where, **exc.fields) from None
        key = key_values[-1]
        if key in first_line_of:
            where = Location(path, line, schema.key, row[key_index])
            raise DataError(
                "duplicate_key", location=where, name=schema.key, first_line=first_line_of[key]
            )
        if previous is not None and key < previous:
            where = Location(path, line, schema.key, row[key_index])
            raise DataError("key_out_of_order", location=where, name=schema.key, previous=previous)
        first_line_of[key] = line
        previous = key


def read_csv(path: Path | str, schema: Schema, *, display_name: str | None = None) -> Table:
    """Read and validate a CSV file; ``display_name`` is how errors name it."""
    name = display_name or str(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return read_rows(csv.reader(handle), schema, name)
    except FileNotFoundError:
        raise DataError("file_not_found", location=Location(name)) from None
    except UnicodeDecodeError as exc:
        raise DataError("not_utf8", location=Location(name), detail=exc.reason) from None
