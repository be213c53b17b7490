"""The shape every source of daily network data is brought into before merging."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# The daily fields of the network history, with their units in the name.
# subsidy_btc is the mean block subsidy of the day's blocks; fees_btc is the day's total fees.
FIELDS: tuple[str, ...] = (
    "price_usd",
    "difficulty",
    "block_count",
    "subsidy_btc",
    "fees_btc",
    "hashrate_ths",
)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Who a source is, what it may be used for, and how to credit it."""

    name: str
    description: str
    licence: str
    attribution: str
    file: str | None = None
    commercial_use: bool = True


@dataclass(frozen=True)
class SourceFrame:
    """Daily values from one source: a frame indexed by day (a ``DatetimeIndex`` named ``date``)
    whose columns are a subset of :data:`FIELDS`, NaN where the source has no value."""

    info: SourceInfo
    frame: pd.DataFrame

    def __post_init__(self) -> None:
        unknown = set(self.frame.columns) - set(FIELDS)
        if unknown:
            raise ValueError(f"source {self.info.name} has unknown fields {sorted(unknown)}")
