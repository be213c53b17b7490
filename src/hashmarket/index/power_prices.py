"""Regional power prices: the daily USD/kWh series the regional margin index reads.

A power price file is a CSV with ``date``, ``region`` and one price column whose header names
its unit: ``price_usd_per_kwh`` or ``price_usd_per_mwh`` (converted to USD/kWh exactly, in
decimal). Rows may come in any order; a (date, region) pair appears once. Prices must be
greater than zero: the index is a daily average price and the power model is a log process.
Every refusal names the file, line, column and value. See ``docs/regional.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from hashmarket.chain.sources import Column, Schema, check_header, read_rows
from hashmarket.errors import DataError, Location

KWH_PER_MWH = Decimal(1000)
PRICE_COLUMNS: Mapping[str, Decimal] = {
    "price_usd_per_kwh": Decimal(1),
    "price_usd_per_mwh": KWH_PER_MWH,
}
_ROW = "__row"  # a synthetic unique key: many regions share a date
HEADER_SCHEMA = Schema(
    columns=(
        Column("date", "date", blank_ok=False),
        Column("region", "text", blank_ok=False),
        Column("price_usd_per_kwh", "float", blank_ok=False, positive=True),
        Column("price_usd_per_mwh", "float", blank_ok=False, positive=True),
    ),
    key="date",
    exact=False,
)
POWER_SCHEMA = Schema(
    columns=(*HEADER_SCHEMA.columns, Column(_ROW, "int", blank_ok=False)), key=_ROW, exact=False
)
_EXPECTED = "date, region, price_usd_per_kwh or price_usd_per_mwh"


@dataclass(frozen=True)
class PowerPrices:
    """Validated daily power prices: ``prices[region][date]`` in USD/kWh (exact decimals),
    each with its line in ``path``; ``sha256`` is the digest of the file's bytes."""

    path: str
    prices: Mapping[str, Mapping[dt.date, Decimal]]
    lines: Mapping[str, Mapping[dt.date, int]]
    sha256: str

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted(self.prices))

    def series(self, region: str) -> Mapping[dt.date, Decimal]:
        """The region's prices by date; an unknown region is refused naming the known ones."""
        try:
            return self.prices[region]
        except KeyError:
            raise DataError(
                "power_unknown_region",
                location=Location(self.path),
                region=region,
                known=", ".join(self.regions),
            ) from None

    def price_usd_per_kwh(self, region: str, day: dt.date) -> Decimal | None:
        return self.series(region).get(day)


def _keyed(rows: Iterator[list[str]], header: list[str], path: str) -> Iterator[list[str]]:
    yield [*header, _ROW]
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise DataError(
                "csv_field_count",
                location=Location(path, line),
                found=len(row),
                expected=len(header),
            )
        yield [*row, str(line)]


def _price_column(header: list[str], path: str) -> str:
    check_header(header, HEADER_SCHEMA, path)
    for name in ("date", "region"):
        if name not in header:
            raise DataError(
                "csv_missing_column", location=Location(path, 1), column=name, expected=_EXPECTED
            )
    present = [name for name in PRICE_COLUMNS if name in header]
    if len(present) != 1:
        raise DataError("power_price_column", location=Location(path, 1), expected=_EXPECTED)
    return present[0]


def read_power_prices(path: Path | str, *, display_name: str | None = None) -> PowerPrices:
    """Read and validate a power price file (all or nothing)."""
    name = display_name or str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError("file_not_found", location=Location(name)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError("not_utf8", location=Location(name), detail=exc.reason) from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None:
        raise DataError("csv_empty", location=Location(name))
    column = _price_column(header, name)
    table = read_rows(_keyed(rows, header, name), POWER_SCHEMA, name)
    if not len(table):
        raise DataError("power_no_rows", location=Location(name))
    divisor = PRICE_COLUMNS[column]
    prices: dict[str, dict[dt.date, Decimal]] = {}
    lines: dict[str, dict[dt.date, int]] = {}
    cells = zip(table.columns["date"], table.columns["region"], table.columns[column], strict=True)
    for line, (day, region_raw, value) in zip(table.lines, cells, strict=True):
        region = str(region_raw).strip()
        if not region:
            raise DataError("blank_value", location=Location(name, line, "region", region_raw))
        seen = lines.setdefault(region, {})
        if day in seen:
            where = Location(name, line, "date", day.isoformat())
            raise DataError("power_duplicate", location=where, region=region, first_line=seen[day])
        seen[day] = line
        # The written digits, divided exactly: 52.39 USD/MWh is 0.05239 USD/kWh, not a float
        # near it.
        prices.setdefault(region, {})[day] = Decimal(repr(float(value))) / divisor
    ordered = {r: dict(sorted(prices[r].items())) for r in sorted(prices)}
    return PowerPrices(
        path=name, prices=ordered, lines=lines, sha256=hashlib.sha256(raw).hexdigest()
    )
