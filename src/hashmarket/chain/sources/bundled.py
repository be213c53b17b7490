"""The six data files shipped inside the package, their schemas and their licences.

The files are byte-for-byte those described in ``DATA_LICENSES.md``; this module only reads
them (and checks the epoch headers' proof of work). Their licences differ, and one source
(Coin Metrics, CC BY-NC 4.0, two files) forbids commercial use, so callers can leave it out
(``include_noncommercial=False``).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from hashmarket.chain.consensus import RETARGET_INTERVAL_BLOCKS, bits_to_target
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
COINMETRICS_2020_2025 = SourceInfo(
    name="coinmetrics_2020_2025",
    description=(
        "Bitcoin network history by day, 2020-07-28 to 2025-12-29 (Coin Metrics Community Data; "
        "difficulty_mean derived from HashRate and BlkCnt)"
    ),
    licence="CC BY-NC 4.0 (non-commercial only)",
    attribution=(
        "Bitcoin daily data: Coin Metrics, Inc. Community Data (github.com/coinmetrics/data), "
        "CC BY-NC 4.0, https://creativecommons.org/licenses/by-nc/4.0/ ; "
        "columns selected and renamed, difficulty_mean derived."
    ),
    file="btc_daily_2020_2025.csv",
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
EPOCH_HEADERS = SourceInfo(
    name="epoch_headers",
    description="Epoch start headers, checked by proof of work (Horizontal Systems bitcoin-kit)",
    licence="MIT",
    attribution=(
        "Copyright (c) 2018 Horizontal Systems, MIT License "
        "(github.com/horizontalsystems/bitcoin-kit-android); headers decoded."
    ),
    file="btc_epoch_headers.csv",
)
BUNDLED_SOURCES: tuple[SourceInfo, ...] = (
    NODE_STATS,
    COINMETRICS,
    COINMETRICS_2020_2025,
    BITSTAMP,
    EPOCHS,
    EPOCH_HEADERS,
)

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
EPOCH_HEADERS_SCHEMA = Schema(
    columns=(
        Column("height", "int", blank_ok=False),
        Column("start_time_utc", "timestamp", blank_ok=False),
        Column("bits", "bits", blank_ok=False),
        Column("block_hash", "hash", blank_ok=False),
        Column("header_hex", "text", blank_ok=False),
        Column("source_commit", "text"),
    ),
    key="height",
)
HEADER_BYTES = 80


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


def load_daily(info: SourceInfo) -> SourceFrame:
    """A bundled file in the daily layout (``btc_daily.csv`` and its continuation)."""
    assert info.file is not None
    table = read_csv(bundled_path(info.file), DAILY_SCHEMA, display_name=info.file)
    return SourceFrame(info, daily_frame(table))


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
        time_source=tuple("" if t is None else EPOCHS.name for t in cols["start_time_utc"]),
    )


def verify_epoch_headers(table: Table) -> None:
    """Check every row against its own raw header: the hash is the header's double SHA-256 and
    meets the target of ``bits``, the header's time and bits fields are the row's, and the
    height starts an epoch. The first mismatch is refused with its line, column and value."""
    cols = table.columns
    rows = zip(
        cols["height"],
        cols["start_time_utc"],
        cols["bits"],
        cols["block_hash"],
        cols["header_hex"],
        table.lines,
        strict=True,
    )
    for height, time_s, bits, block_hash, header_hex, line in rows:
        problem = _header_problem(height, time_s, bits, block_hash, header_hex)
        if problem is not None:
            column, value, key, fields = problem
            raise DataError(key, location=Location(table.path, line, column, value), **fields)


def _header_problem(
    height: int, time_s: int, bits: int, block_hash: str, header_hex: str
) -> tuple[str, str, str, dict[str, object]] | None:
    """``(column, value, message key, message fields)`` of a row's first problem, if any."""
    if height % RETARGET_INTERVAL_BLOCKS:
        return "height", str(height), "header_height", {}
    try:
        header = bytes.fromhex(header_hex)
    except ValueError:
        return "header_hex", header_hex, "header_length", {"found": "not hex:"}
    if len(header) != HEADER_BYTES:
        return "header_hex", header_hex, "header_length", {"found": len(header)}
    digest = hashlib.sha256(hashlib.sha256(header).digest()).digest()[::-1].hex()
    if digest != block_hash:
        return "block_hash", block_hash, "header_hash", {"expected": digest}
    if int(block_hash, 16) > bits_to_target(bits):
        return "block_hash", block_hash, "header_target", {"bits": f"{bits:08x}"}
    header_time_s = int.from_bytes(header[68:72], "little")
    if header_time_s != time_s:
        fields: dict[str, object] = {"field": "time", "expected": _utc(header_time_s)}
        return "start_time_utc", _utc(time_s), "header_field", fields
    header_bits = int.from_bytes(header[72:76], "little")
    if header_bits != bits:
        fields = {"field": "bits", "expected": f"{header_bits:08x}"}
        return "bits", f"{bits:08x}", "header_field", fields
    return None


def _utc(time_s: int) -> str:
    return str(pd.Timestamp(time_s, unit="s").strftime("%Y-%m-%dT%H:%M:%SZ"))


def with_epoch_headers(epochs: EpochTable, table: Table, *, epochs_file: str) -> EpochTable:
    """``epochs`` with the start times of verified headers added. A header must agree with the
    epoch table on bits, and on the start time where the table has one."""
    verify_epoch_headers(table)
    times = epochs.start_time_s.copy()
    sources = list(epochs.time_source or [""] * len(epochs))
    cols = table.columns
    for height, time_s, bits, line in zip(
        cols["height"], cols["start_time_utc"], cols["bits"], table.lines, strict=True
    ):
        row = np.flatnonzero(epochs.start_height == height)
        if not len(row):
            continue  # beyond the table: no bits to check the header against
        r = int(row[0])
        epoch = int(epochs.epoch[r])
        if int(epochs.bits[r]) != bits:
            where = Location(table.path, line, "bits", f"{bits:08x}")
            raise DataError(
                "header_epoch",
                location=where,
                epoch=epoch,
                table=epochs_file,
                field="bits",
                expected=f"{int(epochs.bits[r]):08x}",
            )
        if times[r] >= 0 and times[r] != time_s:
            where = Location(table.path, line, "start_time_utc", _utc(time_s))
            raise DataError(
                "header_epoch",
                location=where,
                epoch=epoch,
                table=epochs_file,
                field="start_time_utc",
                expected=_utc(int(times[r])),
            )
        if times[r] < 0:
            times[r] = time_s
            sources[r] = EPOCH_HEADERS.name
    return EpochTable(
        epoch=epochs.epoch,
        start_height=epochs.start_height,
        start_time_s=times,
        bits=epochs.bits,
        difficulty=epochs.difficulty,
        time_source=tuple(sources),
    )


def load_epochs() -> EpochTable:
    """The epoch table, with the start times the verified epoch headers add."""
    assert EPOCHS.file is not None and EPOCH_HEADERS.file is not None
    table = read_csv(bundled_path(EPOCHS.file), EPOCHS_SCHEMA, display_name=EPOCHS.file)
    headers = read_csv(
        bundled_path(EPOCH_HEADERS.file), EPOCH_HEADERS_SCHEMA, display_name=EPOCH_HEADERS.file
    )
    return with_epoch_headers(epochs_from_table(table), headers, epochs_file=EPOCHS.file)


def load_bundled_frames(*, include_noncommercial: bool = True) -> list[SourceFrame]:
    """Bundled daily sources in precedence order: node statistics, Coin Metrics (both files,
    which do not overlap), Bitstamp.

    Raw node statistics come first for fees and block counts (exact, by header time); Coin
    Metrics' reference rate comes before the single-exchange Bitstamp close for prices.
    """
    frames = [load_node_stats()]
    if include_noncommercial:
        frames.extend([load_daily(COINMETRICS), load_daily(COINMETRICS_2020_2025)])
    frames.append(load_bitstamp())
    return frames
