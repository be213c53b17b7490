"""The Bitcoin chain: consensus rules, the daily network history and its sources."""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.chain.consensus import (
        HALVING_INTERVAL_BLOCKS,
        POW_LIMIT,
        RETARGET_INTERVAL_BLOCKS,
        TARGET_SPACING_S,
        TARGET_TIMESPAN_S,
        block_subsidy_sats,
        block_subsidy_sats_array,
    )
    from hashmarket.chain.epochs import EpochTable
    from hashmarket.chain.history import (
        STORE_FILE_NAME,
        NetworkHistory,
        field_summary,
        incomplete_days,
        source_summary,
    )
    from hashmarket.chain.store import ImportResult, LocalStore

__all__ = [
    "HALVING_INTERVAL_BLOCKS",
    "POW_LIMIT",
    "RETARGET_INTERVAL_BLOCKS",
    "STORE_FILE_NAME",
    "TARGET_SPACING_S",
    "TARGET_TIMESPAN_S",
    "EpochTable",
    "ImportResult",
    "LocalStore",
    "NetworkHistory",
    "block_subsidy_sats",
    "block_subsidy_sats_array",
    "field_summary",
    "incomplete_days",
    "source_summary",
]

__getattr__, __dir__ = lazy_exports(globals())
