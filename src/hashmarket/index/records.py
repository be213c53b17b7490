"""The hashprice index as plain records, the one shape the CLI and the HTTP API both return.

Keys carry the unit and currency (``hashprice_usd_per_th_day``); missing values are ``None``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd

from hashmarket.errors import UsageError
from hashmarket.units import SATS_PER_BTC, Currency, HashrateUnit

DEFAULT_LAST_DAYS = 30


def select_days(
    table: pd.DataFrame,
    *,
    start: dt.date | None,
    end: dt.date | None,
    last: int | None,
    value_column: str,
    asof: dt.date | None = None,
) -> pd.DataFrame:
    """Rows from ``start`` to ``end`` inclusive, then the latest ``last`` rows with a value.

    ``end`` defaults to ``asof`` (the as-of date, :mod:`hashmarket.index.asof`). With none of
    the three, the latest 30 days that have a value.
    """
    if last is not None and last <= 0:
        raise UsageError(
            "bad_option", option="last", problem=f"must be a positive number of days, got {last}"
        )
    if start is not None and end is not None and end < start:
        raise UsageError("bad_option", option="end", problem=f"{end} is before start {start}")
    if last is None and start is None and end is None:
        last = DEFAULT_LAST_DAYS
    end = end or asof
    rows = table.loc[pd.Timestamp(start) if start else None : pd.Timestamp(end) if end else None]
    if last is not None:
        rows = rows[rows[value_column].notna()].tail(last)
    if rows.empty:
        raise UsageError(
            "unknown_date_range", start=start or "the first day", end=end or "the last day"
        )
    return rows


def _plain(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def hashprice_records(
    rows: pd.DataFrame, *, unit: HashrateUnit, currency: Currency
) -> list[dict[str, Any]]:
    """One record per day of a :func:`hashprice_table` slice, in ``unit`` and ``currency``."""
    scale = unit.per_ph()
    suffix = f"per_{unit.value}_day"
    average_base = "usd" if currency is Currency.USD else "btc"
    average_factor = SATS_PER_BTC if currency is Currency.SATS else 1
    records = []
    for date, r in rows.iterrows():
        btc = r["hashprice_btc_per_ph_day"] * scale
        record: dict[str, Any] = {
            "date": date.date().isoformat(),
            f"hashprice_btc_{suffix}": _plain(btc),
        }
        if currency is Currency.SATS:
            record[f"hashprice_sats_{suffix}"] = _plain(btc * SATS_PER_BTC)
        record[f"hashprice_usd_{suffix}"] = _plain(r["hashprice_usd_per_ph_day"] * scale)
        for days in (7, 30):
            average = r[f"hashprice_{average_base}_per_ph_day_{days}d"] * scale * average_factor
            record[f"hashprice_{currency.value}_{suffix}_{days}d"] = _plain(average)
        record["difficulty"] = _plain(r["difficulty"])
        record["block_count"] = None if math.isnan(r["block_count"]) else int(r["block_count"])
        record["subsidy_btc"] = _plain(r["subsidy_btc"])
        record["fees_btc_per_block"] = _plain(r["fees_btc_per_block"])
        record["fees_included"] = bool(r["fees_included"])
        record["price_usd"] = _plain(r["price_usd"])
        record["method"] = r["method"]
        records.append(record)
    return records
