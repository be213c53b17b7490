"""The four data files shipped inside the package, their schemas and their licences.

The files are byte-for-byte those described in ``DATA_LICENSES.md``; this module only reads
them. Their licences differ, and one (Coin Metrics, CC BY-NC 4.0) forbids commercial use, so
callers can leave it out (``include_noncommercial=False``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from hashmarket.chain.epochs import EpochTable
from hashmarket.chain.sources.csvfile import BLOCK_COUNT, Column, Schema, Table, read_csv
from hashmarket.chain.sources.frame import SourceFrame, SourceInfo
from hashmarket.errors import DataError, Location

COINMETRICS = SourceInfo(
    name="coinmetrics",
    description="Bitcoin network history by day (Coin Metrics Community Data)",
    licence="CC BY-NC 4.0 (non-commercial only)",
    attribution=(
        "Bitcoin daily data: Coin Metrics, Inc. Community Data (github.com/coinmetrics/data), "
        "CC BY-NC 4.0, https://creativecommons.org/licenses/by-nc/4.0/ ; "
        "columns selected and renamed."
    ),
    file="btc_daily.csv",
    commercial_use=False,
)
NODE_STATS = SourceInfo(
    name="node_stats",
    description=(
        "Daily fees, block count and issuance from Bitcoin Core getblockstats "
        "(m-marqx/BTC-RPC-Data)"
    ),
    licence="MIT",
    attribution=(
        "Copyright (c) 2025 Mateus Marques, MIT License (github.com/m-marqx/BTC-RPC-Data); "
        "aggregated by day."
    ),
    file="btc_fees_daily.csv",
)
BITSTAMP = SourceInfo(
    name="bitstamp",
    description="BTC/USD daily close, Bitstamp (Zielak, Bitcoin Historical Data, Kaggle)",
    licence="CC BY-SA 4.0",
    attribution=(
        "BTC/USD daily prices derived from Zielak (mczielinski), Bitcoin Historical Data, Kaggle "
        "(Bitstamp 1-minute data), CC BY-SA 4.0, via "
        "github.com/typedcypher/historical-bitcoin-prices; "
        "shifted by one day and columns selected."
    ),
    file="btc_price_daily.csv",
)
EPOCHS = SourceInfo(
    name="epochs",
    description=(
        "Difficulty epochs every 2016 blocks (bitcoinj checkpoints, Electrum checkpoints, genesis)"
    ),
    licence="Apache-2.0 (bitcoinj) and MIT (Electrum)",
    attribution=(
        "Epoch headers from the bitcoinj developers' checkpoints (Apache License 2.0) and targets "
        "from Electrum's checkpoints, Copyright (c) 2011-2024 The Electrum developers, "
        "Copyright (c) 2011-2024 Thomas Voegtlin (MIT License)."
    ),
    file="btc_epochs.csv",
)
BUNDLED_SOURCES: tuple[SourceInfo, ...] = (NODE_STATS, COINMETRICS, BITSTAMP, EPOCHS)

DATE = Column("date", "date", blank_ok=False)
DAILY_SCHEMA = Schema(
    columns=(
        DATE,
        Column("price_usd", "float", positive=True),
        Column("hashrate_ths", "float"),
        Column("difficulty_mean", "float", positive=True),
        Column("fees_btc", "float"),
        Column("issuance_btc", "float"),
        BLOCK_COUNT,
    ),
    key="date",
)
FEES_SCHEMA = Schema(
    columns=(DATE, Column("fees_btc", "float"), BLOCK_COUNT, Column("issuance_btc", "float")),
    key="date",
)
PRICE_SCHEMA = Schema(columns=(DATE, Column("price_usd", "float", positive=True)), key="date")
EPOCHS_SCHEMA = Schema(
    columns=(
        Column("epoch", "int", blank_ok=False),
        Column("start_height", "int", blank_ok=False),
        Column("start_time_utc", "timestamp"),
        Column("bits", "bits", blank_ok=False),
        Column("difficulty", "float", blank_ok=False, positive=True),
        Column("start_block_hash", "hash"),
        Column("mean_block_interval_s", "float"),
        Column("implied_hashrate_ehs", "float"),
        Column("source", "text"),
    ),
    key="epoch",
)


def bundled_path(file_name: str) -> Path:
    """Filesystem path of a bundled data file."""
    return Path(str(resources.files("hashmarket.data").joinpath(file_name)))


def _values(table: Table, name: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in table.columns[name]], dtype=np.float64)


def _dates(table: Table) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(table.columns["date"]), name="date")


def subsidy_per_block(issuance_btc: np.ndarray, block_count: np.ndarray) -> np.ndarray:
    """Mean block subsidy from a day's issuance and block count (NaN for days with no block)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(block_count > 0, issuance_btc / block_count, np.nan)


def daily_frame(table: Table) -> pd.DataFrame:
    """History fields from a table in the bundled daily layout (or any subset of it)."""
    columns = table.columns
    out = pd.DataFrame(index=_dates(table))
    if "price_usd" in columns:
        out["price_usd"] = _values(table, "price_usd")
    if "difficulty_mean" in columns:
        out["difficulty"] = _values(table, "difficulty_mean")
    if "block_count" in columns:
        out["block_count"] = _values(table, "block_count")
    if "issuance_btc" in columns and "block_count" in columns:
        out["subsidy_btc"] = subsidy_per_block(
            _values(table, "issuance_btc"), _values(table, "block_count")
        )
    if "fees_btc" in columns:
        out["fees_btc"] = _values(table, "fees_btc")
    if "hashrate_ths" in columns:
        out["hashrate_ths"] = _values(table, "hashrate_ths")
    return out


def load_coinmetrics() -> SourceFrame:
    table = read_csv(bundled_path("btc_daily.csv"), DAILY_SCHEMA, display_name="btc_daily.csv")
    return SourceFrame(COINMETRICS, daily_frame(table))


def load_node_stats() -> SourceFrame:
    table = read_csv(
        bundled_path("btc_fees_daily.csv"), FEES_SCHEMA, display_name="btc_fees_daily.csv"
    )
    return SourceFrame(NODE_STATS, daily_frame(table))


def load_bitstamp() -> SourceFrame:
    table = read_csv(
        bundled_path("btc_price_daily.csv"), PRICE_SCHEMA, display_name="btc_price_daily.csv"
    )
    return SourceFrame(BITSTAMP, daily_frame(table))


def epochs_from_table(table: Table) -> EpochTable:
    cols = table.columns
    for epoch, height, line in zip(cols["epoch"], cols["start_height"], table.lines, strict=True):
        if height != epoch * 2016:
            where = Location(table.path, line, "start_height", str(height))
            raise DataError("epoch_height", location=where, expected=epoch * 2016)
    times = [-1 if t is None else t for t in cols["start_time_utc"]]
    return EpochTable(
        epoch=np.array(cols["epoch"], dtype=np.int64),
        start_height=np.array(cols["start_height"], dtype=np.int64),
        start_time_s=np.array(times, dtype=np.int64),
        bits=np.array(cols["bits"], dtype=np.int64),
        difficulty=np.array(cols["difficulty"], dtype=np.float64),
    )


def load_epochs() -> EpochTable:
    table = read_csv(bundled_path("btc_epochs.csv"), EPOCHS_SCHEMA, display_name="btc_epochs.csv")
    return epochs_from_table(table)


def load_bundled_frames(*, include_noncommercial: bool = True) -> list[SourceFrame]:
    """Bundled daily sources in precedence order: node statistics, Coin Metrics, Bitstamp.

    Raw node statistics come first for fees and block counts (exact, by header time); Coin
    Metrics' reference rate comes before the single-exchange Bitstamp close for prices.
    """
    frames = [load_node_stats()]
    if include_noncommercial:
        frames.append(load_coinmetrics())
    frames.append(load_bitstamp())
    return frames
