"""Today's UTC date, read at the edge (the CLI and the HTTP API) and nowhere else.

``HASHMARKET_TODAY`` (YYYY-MM-DD) overrides the clock, so tests and reproducible runs can
fix the day against which data staleness is measured.
"""

from __future__ import annotations

import datetime as dt
import os

from hashmarket.errors import UsageError

TODAY_ENV = "HASHMARKET_TODAY"


def today() -> dt.date:
    value = os.environ.get(TODAY_ENV)
    if not value:
        return dt.datetime.now(dt.UTC).date()
    return parse_day(value, TODAY_ENV)


def parse_day(value: str, option: str) -> dt.date:
    """A YYYY-MM-DD date given by a user as ``option`` (a command-line option or a variable)."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(
            "bad_option", option=option, problem=f"{value!r} is not a YYYY-MM-DD date"
        ) from None
