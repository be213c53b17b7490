"""Reading a spec file: JSON or YAML text into plain values, with errors that say where.

Instrument specs, risk inputs (portfolio, miner profile, loan) and dispatch sites are read
here. Each caller keeps its own validation and its own error class; this module reads the
file, parses it, and makes every refusal name the file (and the line, where the parser knows
it), and field paths are written one way everywhere (``positions[2].quantity``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from hashmarket.errors import HashmarketError, Location

JSON_SUFFIXES = (".json",)
YAML_SUFFIXES = (".yaml", ".yml")


class _ParseError(Exception):
    def __init__(self, detail: str, line: int | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.line = line


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _ParseError(f"{exc.msg} (column {exc.colno})", exc.lineno) from None


def _yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (column {mark.column + 1})" if mark is not None else ""
        line = mark.line + 1 if mark is not None else None
        detail = f"{exc.problem or exc.context or 'not YAML'}{where}"
        raise _ParseError(detail, line) from None
    except yaml.YAMLError as exc:
        raise _ParseError(str(exc).splitlines()[0], None) from None


def parse_text(text: str, *, suffix: str = "", yaml_ok: bool = True) -> Any:
    """The value ``text`` holds: JSON for a ``.json`` suffix, YAML for ``.yaml``/``.yml``,
    otherwise JSON if it parses and YAML if not (JSON only when not ``yaml_ok``)."""
    suffix = suffix.lower()
    if not yaml_ok or suffix in JSON_SUFFIXES:
        return _json(text)
    if suffix in YAML_SUFFIXES:
        return _yaml(text)
    try:
        return _json(text)
    except _ParseError:
        return _yaml(text)


def read_text(path: Path | str, *, error: type[HashmarketError]) -> str:
    """The UTF-8 text of ``path``; a missing or unreadable file is an ``error`` naming it."""
    location = Location(str(path))
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise error("file_not_found", location=location) from None
    except OSError as exc:
        raise error("file_unreadable", location=location, detail=exc.strerror or exc) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error("not_utf8", location=Location(str(path), line), detail=exc.reason) from None


def read_document(
    path: Path | str, *, what: str, error: type[HashmarketError], yaml_ok: bool = True
) -> tuple[Any, Location]:
    """The parsed content of the JSON or YAML file ``path`` (see :func:`parse_text`) and the
    file's location for the caller's own refusals. ``what`` names the document in errors
    ("not a JSON or YAML portfolio: …"), raised as ``error``."""
    location = Location(str(path))
    text = read_text(path, error=error)
    try:
        return parse_text(text, suffix=Path(path).suffix, yaml_ok=yaml_ok), location
    except _ParseError as exc:
        raise error(
            "document_unreadable",
            location=Location(str(path), exc.line),
            syntax="JSON or YAML" if yaml_ok else "JSON",
            what=what,
            detail=exc.detail,
        ) from None


@contextmanager
def located(location: Location) -> Iterator[None]:
    """Give the errors raised inside that name no place the file's ``location``, so a
    validator that checks plain values (and knows no file) still refuses with the file."""
    try:
        yield
    except HashmarketError as exc:
        if exc.location is not None:
            raise
        raise type(exc)(exc.key, location=location, **exc.fields) from None


def field_path(*parts: str | int) -> str:
    """A field's path in a document: names joined by dots, list indices in brackets
    (``field_path("mining", "fleet", 0, "count") == "mining.fleet[0].count"``); empty parts
    (the document itself) are left out."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += f".{part}" if out else part
    return out
