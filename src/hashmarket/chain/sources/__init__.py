"""Where network data comes from: the bundled files, a user's CSV files, a Bitcoin Core node."""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.chain.sources.bitcoin_core import (
        DEFAULT_TIMEOUT_S,
        BitcoinCoreRpc,
        CoreReader,
        RpcEndpoint,
    )
    from hashmarket.chain.sources.bitstamp import PriceSyncResult, sync_prices
    from hashmarket.chain.sources.blocksync import (
        BlockSink,
        ChainReader,
        SyncOptions,
        SyncResult,
        sync_chain,
    )
    from hashmarket.chain.sources.bundled import load_epochs
    from hashmarket.chain.sources.csvfile import (
        Column,
        Schema,
        Table,
        check_header,
        read_csv,
        read_rows,
    )
    from hashmarket.chain.sources.http import HttpClient, HttpPolicy
    from hashmarket.chain.sources.imports import read_import
    from hashmarket.chain.sources.mempool import DEFAULT_URL, PAGE_BLOCKS, MempoolReader

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_URL",
    "PAGE_BLOCKS",
    "BitcoinCoreRpc",
    "BlockSink",
    "ChainReader",
    "Column",
    "CoreReader",
    "HttpClient",
    "HttpPolicy",
    "MempoolReader",
    "PriceSyncResult",
    "RpcEndpoint",
    "Schema",
    "SyncOptions",
    "SyncResult",
    "Table",
    "check_header",
    "load_epochs",
    "read_csv",
    "read_import",
    "read_rows",
    "sync_chain",
    "sync_prices",
]

__getattr__, __dir__ = lazy_exports(globals())
