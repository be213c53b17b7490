"""The exchange: books and matching, the command log, reservations on the ledger, market data.

* :mod:`~hashmarket.market.orders` — commands (``PlaceOrder``, ``CancelOrder``,
  ``ReplaceOrder``, ``PlaceGpuOrder``, ``ReportDelivery``, …) and events (``Trade``,
  ``OrderDone``, …), with their canonical JSON form;
* :mod:`~hashmarket.market.products` — hashpower spot, GPU blocks and hashprice futures:
  ticks, lots, fees, margins, the GPU catalogue (``MarketConfig``);
* :mod:`~hashmarket.market.engine` — ``MatchingEngine``, the pure state machine
  (:mod:`~hashmarket.market.book` is one continuous book, :mod:`~hashmarket.market.gpu` the
  GPU blocks, :mod:`~hashmarket.market.hashpower` running contracts,
  :mod:`~hashmarket.market.futures` positions and marks);
* :mod:`~hashmarket.market.resale` — running hashpower contracts for sale: ``ListContract``,
  ``BuyContract``, ``CancelListing`` and ``contract_listings``, the open listings;
* :mod:`~hashmarket.market.log` — the hash-chained command log (``MemoryLog``, and the
  ``market_log`` table of a ledger database);
* :mod:`~hashmarket.market.exchange` — ``Exchange``: engine, log and ledger reservations in
  one group-committed transaction per batch, recovery from snapshot + log
  (:mod:`~hashmarket.market.clearing` turns events into transfers);
* :mod:`~hashmarket.market.data` — market data: depth, trades, OHLCV bars, the premium to
  the hashprice index, GPU trades as GPU-hour index quotes.
"""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.market.book import OrderBook
    from hashmarket.market.clearing import ExchangeAccounts, reserve_id
    from hashmarket.market.data import (
        BAR_INTERVALS_S,
        Bar,
        BarSeries,
        Depth,
        Premium,
        bars,
        depth,
        gpu_quote_table,
        premium,
        trades,
    )
    from hashmarket.market.engine import MatchingEngine
    from hashmarket.market.exchange import Exchange, exchange_accounts, open_exchange_accounts
    from hashmarket.market.futures import (
        CollateralReleased,
        MarginAdded,
        MarginCall,
        MarginMove,
        Variation,
        final_settlement_cents,
    )
    from hashmarket.market.gpu import GpuTrade
    from hashmarket.market.hashpower import (
        ContractEnded,
        ContractOpened,
        ContractTransferred,
        Delivery,
        HashpowerContract,
    )
    from hashmarket.market.log import LogEntry, MemoryLog
    from hashmarket.market.orders import (
        Accepted,
        AddMargin,
        AdvanceTime,
        BuyContract,
        CancelListing,
        CancelOrder,
        Command,
        DoneReason,
        ListContract,
        MarkFutures,
        OrderDone,
        OrderType,
        PlaceGpuOrder,
        PlaceOrder,
        RegisterGpus,
        RegisterHashrate,
        ReplaceOrder,
        ReportDelivery,
        Side,
        TimeInForce,
        Trade,
        TransferContract,
        command_from_dict,
        command_json,
        command_to_dict,
    )
    from hashmarket.market.products import (
        GPU_CATALOGUE,
        HASHPOWER,
        NS_PER_S,
        S_PER_HOUR,
        FutureSpec,
        GpuSpec,
        HashpowerSpec,
        MarketConfig,
        future_symbol,
        monthly_futures,
    )
    from hashmarket.market.resale import (
        ContractListed,
        Listing,
        ListingDone,
        ListingQuote,
        contract_listings,
    )
    from hashmarket.market.venue import (
        FuturesPosition,
        catch_up,
        futures_positions,
        open_orders,
        open_venue,
        submit_sequenced,
    )

__all__ = [
    "BAR_INTERVALS_S",
    "GPU_CATALOGUE",
    "HASHPOWER",
    "NS_PER_S",
    "S_PER_HOUR",
    "Accepted",
    "AddMargin",
    "AdvanceTime",
    "Bar",
    "BarSeries",
    "BuyContract",
    "CancelListing",
    "CancelOrder",
    "CollateralReleased",
    "Command",
    "ContractEnded",
    "ContractListed",
    "ContractOpened",
    "ContractTransferred",
    "Delivery",
    "Depth",
    "DoneReason",
    "Exchange",
    "ExchangeAccounts",
    "FutureSpec",
    "FuturesPosition",
    "GpuSpec",
    "GpuTrade",
    "HashpowerContract",
    "HashpowerSpec",
    "ListContract",
    "Listing",
    "ListingDone",
    "ListingQuote",
    "LogEntry",
    "MarginAdded",
    "MarginCall",
    "MarginMove",
    "MarkFutures",
    "MarketConfig",
    "MatchingEngine",
    "MemoryLog",
    "OrderBook",
    "OrderDone",
    "OrderType",
    "PlaceGpuOrder",
    "PlaceOrder",
    "Premium",
    "RegisterGpus",
    "RegisterHashrate",
    "ReplaceOrder",
    "ReportDelivery",
    "Side",
    "TimeInForce",
    "Trade",
    "TransferContract",
    "Variation",
    "bars",
    "catch_up",
    "command_from_dict",
    "command_json",
    "command_to_dict",
    "contract_listings",
    "depth",
    "exchange_accounts",
    "final_settlement_cents",
    "future_symbol",
    "futures_positions",
    "gpu_quote_table",
    "monthly_futures",
    "open_exchange_accounts",
    "open_orders",
    "open_venue",
    "premium",
    "reserve_id",
    "submit_sequenced",
    "trades",
]

__getattr__, __dir__ = lazy_exports(globals())
