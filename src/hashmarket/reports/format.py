"""Numbers as people read them, the same in a terminal table and in an HTML report."""

from __future__ import annotations

import math
import numbers

MISSING = "—"


def number(value: object, digits: int = 0) -> str:
    """``value`` with thousands separators and ``digits`` decimals; ``—`` where there is no
    value (None, NaN, ±infinity); never ``-0`` (a loss that rounds to nothing is nothing).
    Anything that is not a real number (text, a decimal) is written as it is."""
    if value is None:
        return MISSING
    if not isinstance(value, numbers.Real):  # numpy's scalars register as real numbers
        return str(value)
    x = float(value)
    if not math.isfinite(x):
        return MISSING
    if abs(x) < 0.5 * 10.0**-digits:
        x = 0.0
    return f"{x:,.{digits}f}"
