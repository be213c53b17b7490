"""GPU-hour quotes: the validated quote table, reading quote CSVs and the bundled sample.

Quotes (time, provider, GPU model, region, term, USD per GPU-hour, optional volume in
GPU-hours) are normalised here — model names and terms to canonical spellings — before
``hashmarket.index.compute`` groups them into fixings. See ``docs/compute-index.md``.
"""

from __future__ import annotations

import csv
import enum
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from hashmarket.chain.sources import Column, Schema, check_header, read_rows
from hashmarket.errors import DataError, Location

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]

BUNDLED_QUOTES_FILE = "gpu_quotes.csv"


class Term(enum.StrEnum):
    """How long the buyer holds the GPU and whether it can be taken back."""

    ON_DEMAND = "on-demand"
    RESERVED = "reserved"
    SPOT = "spot"


# Spellings seen in providers' price lists, mapped to the three terms. Vast.ai says
# "interruptible", Google "preemptible": both are spot (the hour can be taken back).
_TERM_ALIASES: dict[str, Term] = {
    "on-demand": Term.ON_DEMAND,
    "ondemand": Term.ON_DEMAND,
    "reserved": Term.RESERVED,
    "spot": Term.SPOT,
    "interruptible": Term.SPOT,
    "preemptible": Term.SPOT,
}


def canonical_term(raw: str) -> Term:
    """``On_Demand``, ``on demand`` → ``on-demand``; refuses anything not in the alias table."""
    key = re.sub(r"[\s_]+", "-", raw.strip().lower())
    try:
        return _TERM_ALIASES[key]
    except KeyError:
        raise ValueError(raw) from None


def canonical_model(raw: str) -> str:
    """Upper case, separators (space, ``-``, ``_``) collapsed, a leading ``NVIDIA`` dropped.

    ``nvidia h100-sxm`` → ``H100 SXM``. Variants stay distinct (``H100`` ≠ ``H100 SXM``): the
    index compares like with like and does not guess which variant an unqualified name means.
    """
    words = [w for w in re.split(r"[\s_\-]+", raw.strip().upper()) if w]
    if words and words[0] == "NVIDIA":
        words = words[1:]
    return " ".join(words)


@dataclass(frozen=True)
class QuoteTable:
    """Validated, normalised quotes as columns (one array per field, same length).

    ``volume_gpu_hours`` is NaN where a quote has no volume. ``lines`` holds each quote's
    line in ``path`` (for error messages) when the quotes came from a file.
    """

    time_s: IntArray
    provider: ObjectArray
    gpu_model: ObjectArray
    region: ObjectArray
    term: ObjectArray
    price_usd_per_gpu_hour: FloatArray
    volume_gpu_hours: FloatArray
    path: str = "<quotes>"
    lines: IntArray | None = None
    sources: ObjectArray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.price_usd_per_gpu_hour)

    @classmethod
    def from_arrays(
        cls,
        *,
        time_s: npt.ArrayLike,
        provider: Sequence[str] | npt.ArrayLike,
        gpu_model: Sequence[str] | npt.ArrayLike,
        region: Sequence[str] | npt.ArrayLike,
        term: Sequence[str] | npt.ArrayLike,
        price_usd_per_gpu_hour: npt.ArrayLike,
        volume_gpu_hours: npt.ArrayLike | None = None,
        path: str = "<quotes>",
        lines: npt.ArrayLike | None = None,
        sources: Sequence[str] | None = None,
    ) -> QuoteTable:
        """Validate and normalise quotes given as arrays; refuses a bad value naming its row."""
        price = np.asarray(price_usd_per_gpu_hour, dtype=np.float64)
        n = len(price)
        volume = (
            np.full(n, np.nan)
            if volume_gpu_hours is None
            else np.asarray(volume_gpu_hours, dtype=np.float64)
        )
        line_numbers = None if lines is None else np.asarray(lines, dtype=np.int64)
        times = np.asarray(time_s, dtype=np.int64)
        columns: dict[str, ObjectArray] = {
            "provider": _text(provider),
            "gpu_model": _text(gpu_model),
            "region": _text(region),
            "term": _text(term),
        }
        for name, values in (*columns.items(), ("time_utc", times), ("volume_gpu_hours", volume)):
            if len(values) != n:
                raise ValueError(f"{name} has {len(values)} values, prices have {n}")

        def where(i: int, column: str, value: object) -> Location:
            line = None if line_numbers is None else int(line_numbers[i])
            row = line if line is not None else i
            label = path if line is not None else f"{path} row {row}"
            return Location(label, line, column, str(value))

        bad = np.flatnonzero(~(np.isfinite(price) & (price > 0)))
        if len(bad):
            i = int(bad[0])
            key = "not_finite" if not np.isfinite(price[i]) else "not_positive"
            raise DataError(key, location=where(i, "price_usd_per_gpu_hour", price[i]))
        bad = np.flatnonzero(~np.isnan(volume) & ~(np.isfinite(volume) & (volume > 0)))
        if len(bad):
            i = int(bad[0])
            key = "not_finite" if np.isinf(volume[i]) else "not_positive"
            raise DataError(key, location=where(i, "volume_gpu_hours", volume[i]))
        for name in ("provider", "gpu_model"):
            blank = np.flatnonzero(columns[name] == "")
            if len(blank):
                raise DataError("blank_value", location=where(int(blank[0]), name, ""))
        model = _map_unique(columns["gpu_model"], canonical_model)
        blank = np.flatnonzero(model == "")
        if len(blank):
            i = int(blank[0])
            raise DataError("blank_value", location=where(i, "gpu_model", columns["gpu_model"][i]))
        try:
            term_values = _map_unique(columns["term"], lambda t: canonical_term(t).value)
        except ValueError as exc:
            raw = str(exc)
            i = int(np.flatnonzero(columns["term"] == raw)[0])
            raise DataError(
                "quote_term", location=where(i, "term", raw), expected=_TERMS_TEXT
            ) from None
        return cls(
            time_s=times,
            provider=columns["provider"],
            gpu_model=model,
            region=columns["region"],
            term=term_values,
            price_usd_per_gpu_hour=price,
            volume_gpu_hours=volume,
            path=path,
            lines=line_numbers,
            sources=None if sources is None else _text(sources),
        )

    def select(
        self, *, gpu_model: str | None = None, term: Term | None = None, region: str | None = None
    ) -> QuoteTable:
        """The quotes of one canonical model, term and/or region (``None`` keeps all)."""
        keep = np.ones(len(self), dtype=bool)
        if gpu_model is not None:
            keep &= self.gpu_model == canonical_model(gpu_model)
        if term is not None:
            keep &= self.term == term.value
        if region is not None:
            keep &= self.region == region.strip()
        return self.take(np.flatnonzero(keep))

    def take(self, rows: IntArray) -> QuoteTable:
        return QuoteTable(
            time_s=self.time_s[rows],
            provider=self.provider[rows],
            gpu_model=self.gpu_model[rows],
            region=self.region[rows],
            term=self.term[rows],
            price_usd_per_gpu_hour=self.price_usd_per_gpu_hour[rows],
            volume_gpu_hours=self.volume_gpu_hours[rows],
            path=self.path,
            lines=None if self.lines is None else self.lines[rows],
            sources=None if self.sources is None else self.sources[rows],
        )

    def to_frame(self) -> pd.DataFrame:
        """The quotes as a DataFrame with units in the column names."""
        frame = pd.DataFrame(
            {
                "time_utc": pd.to_datetime(self.time_s, unit="s", utc=True),
                "provider": self.provider,
                "gpu_model": self.gpu_model,
                "region": self.region,
                "term": self.term,
                "price_usd_per_gpu_hour": self.price_usd_per_gpu_hour,
                "volume_gpu_hours": self.volume_gpu_hours,
            }
        )
        if self.sources is not None:
            frame["source"] = self.sources
        return frame


_TERMS_TEXT = ", ".join(t.value for t in Term)


def _text(values: Sequence[str] | npt.ArrayLike) -> ObjectArray:
    """Strings, stripped, blank for a missing value."""
    return _map_unique(
        np.asarray(values, dtype=object), lambda v: "" if v is None else str(v).strip()
    )


def _map_unique(values: ObjectArray, fn: Any) -> ObjectArray:
    """Apply ``fn`` once per distinct value (a million quotes name a handful of models)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    mapped = np.empty(len(uniques), dtype=object)
    mapped[:] = [fn(None if u is None or u != u else u) for u in uniques.tolist()]
    out: npt.NDArray[np.object_] = mapped[codes]
    return out


# --------------------------------------------------------------------------------------------
# Reading quote files
# --------------------------------------------------------------------------------------------

REQUIRED_COLUMNS = ("time_utc", "provider", "gpu_model", "region", "term", "price_usd_per_gpu_hour")
OPTIONAL_COLUMNS = ("volume_gpu_hours", "source", "note")
_ROW = "__row"  # a synthetic unique key: quotes have no natural one (many share a time)
QUOTE_SCHEMA = Schema(
    columns=(
        Column("time_utc", "timestamp", blank_ok=False),
        Column("provider", "text", blank_ok=False),
        Column("gpu_model", "text", blank_ok=False),
        Column("region", "text"),
        Column("term", "text", blank_ok=False),
        Column("price_usd_per_gpu_hour", "float", blank_ok=False, positive=True),
        Column("volume_gpu_hours", "float", positive=True),
        Column("source", "text"),
        Column("note", "text"),
    ),
    key="time_utc",
    exact=False,
)
_KEYED_SCHEMA = Schema(
    columns=(*QUOTE_SCHEMA.columns, Column(_ROW, "int", blank_ok=False)), key=_ROW, exact=False
)


def _keyed_rows(rows: Iterator[list[str]], header: list[str], path: str) -> Iterator[list[str]]:
    yield [*header, _ROW]
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):  # say it before the synthetic column skews the count
            raise DataError(
                "csv_field_count",
                location=Location(path, line),
                found=len(row),
                expected=len(header),
            )
        yield [*row, str(line)]


def read_quotes(path: Path | str, *, display_name: str | None = None) -> QuoteTable:
    """Read and validate a quotes CSV; every refusal names the file, line, column and value.

    Columns: ``time_utc, provider, gpu_model, region, term, price_usd_per_gpu_hour`` and,
    optionally, ``volume_gpu_hours, source, note``. Rows may come in any order and share times.
    """
    name = display_name or str(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            header = next(rows, None)
            if header is None:
                raise DataError("csv_empty", location=Location(name))
            check_header(header, QUOTE_SCHEMA, name)
            for column in REQUIRED_COLUMNS:
                if column not in header:
                    raise DataError(
                        "csv_missing_column",
                        location=Location(name, 1),
                        column=column,
                        expected=", ".join(QUOTE_SCHEMA.names),
                    )
            table = read_rows(_keyed_rows(rows, header, name), _KEYED_SCHEMA, name)
    except FileNotFoundError:
        raise DataError("file_not_found", location=Location(name)) from None
    except UnicodeDecodeError as exc:
        raise DataError("not_utf8", location=Location(name), detail=exc.reason) from None
    columns = table.columns
    if not len(table):
        raise DataError("no_quotes", location=Location(name))
    volume = columns.get("volume_gpu_hours")
    return QuoteTable.from_arrays(
        time_s=columns["time_utc"],
        provider=columns["provider"],
        gpu_model=columns["gpu_model"],
        region=columns["region"],
        term=columns["term"],
        price_usd_per_gpu_hour=columns["price_usd_per_gpu_hour"],
        volume_gpu_hours=None
        if volume is None
        else np.array([np.nan if v is None else v for v in volume], dtype=np.float64),
        path=name,
        lines=table.lines,
        sources=columns.get("source"),
    )


def bundled_quotes_path() -> Path:
    """Where the shipped sample of published H100 figures is (see ``DATA_LICENSES.md``)."""
    return Path(str(resources.files("hashmarket.data").joinpath(BUNDLED_QUOTES_FILE)))


def load_bundled_quotes() -> QuoteTable:
    return read_quotes(bundled_quotes_path(), display_name=BUNDLED_QUOTES_FILE)
