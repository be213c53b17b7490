"""Text the databases cannot store: a lone UTF-16 surrogate or a NUL character.

JSON may spell either as an escape (``"\\ud800"``, ``"\\u0000"``); Python decodes them into a
``str`` that SQLite cannot encode and PostgreSQL refuses, so a request carrying one would fail
deep in a store. The guard refuses such a request first, naming where the character is.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A cheap test on the raw bytes: only a body with such an escape is parsed to find the field.
# (Raw UTF-8 cannot hold a surrogate, and a raw NUL inside a JSON string is already invalid.)
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def unstorable(text: str) -> str | None:
    """What is wrong with ``text`` for a database, or None."""
    if "\x00" in text:
        return "a NUL character"
    if any("\ud800" <= c <= "\udfff" for c in text):
        return "a lone UTF-16 surrogate (not valid Unicode)"
    return None


def _first_bad(value: Any, where: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        problem = unstorable(value)
        return None if problem is None else (where, problem)
    if isinstance(value, dict):
        for k, v in value.items():
            found = _first_bad(k, where) or _first_bad(v, f"{where}.{k}" if where else str(k))
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _first_bad(v, f"{where}[{i}]")
            if found:
                return found
    return None


def unstorable_json(body: bytes) -> tuple[str, str] | None:
    """The first (field path, problem) of a JSON body with unstorable text, or None (also
    for a body that is not JSON: the route's own parser reports that)."""
    if not _SUSPECT_ESCAPE.search(body):
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return _first_bad(document, "")
