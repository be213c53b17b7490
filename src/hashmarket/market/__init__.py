"""The exchange: books and matching, the command log, reservations on the ledger, market data.

* :mod:`~hashmarket.market.orders` — commands (``PlaceOrder``, ``CancelOrder``,
  ``ReplaceOrder``, ``PlaceGpuOrder``, ``ReportDelivery``, …) and events (``Trade``,
  ``OrderDone``, …), with their canonical JSON form;
* :mod:`~hashmarket.market.products` — hashpower spot, GPU blocks and hashprice futures:
  ticks, lots, fees, margins, the GPU catalogue (``MarketConfig``);
* :mod:`~hashmarket.market.engine` — ``MatchingEngine``, the pure state machine
  (:mod:`~hashmarket.market.book` is one continuous book, :mod:`~hashmarket.market.gpu` the
  GPU blocks, :mod:`~hashmarket.market.hashpower` running contracts,
  :mod:`~hashmarket.market.futures` positions and marks).
"""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.market.book import OrderBook
    from hashmarket.market.engine import MatchingEngine
    from hashmarket.market.futures import (
        CollateralReleased,
        MarginCall,
        MarginMove,
        Variation,
    )
    from hashmarket.market.gpu import GpuTrade
    from hashmarket.market.hashpower import (
        ContractEnded,
        ContractOpened,
        Delivery,
        HashpowerContract,
    )
    from hashmarket.market.orders import (
        Accepted,
        AdvanceTime,
        CancelOrder,
        Command,
        DoneReason,
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
        command_from_dict,
        command_to_dict,
    )
    from hashmarket.market.products import (
        GPU_CATALOGUE,
        HASHPOWER,
        FutureSpec,
        GpuSpec,
        HashpowerSpec,
        MarketConfig,
        future_symbol,
        monthly_futures,
    )

__all__ = [
    "GPU_CATALOGUE",
    "HASHPOWER",
    "Accepted",
    "AdvanceTime",
    "CancelOrder",
    "CollateralReleased",
    "Command",
    "ContractEnded",
    "ContractOpened",
    "Delivery",
    "DoneReason",
    "FutureSpec",
    "GpuSpec",
    "GpuTrade",
    "HashpowerContract",
    "HashpowerSpec",
    "MarginCall",
    "MarginMove",
    "MarkFutures",
    "MarketConfig",
    "MatchingEngine",
    "OrderBook",
    "OrderDone",
    "OrderType",
    "PlaceGpuOrder",
    "PlaceOrder",
    "RegisterGpus",
    "RegisterHashrate",
    "ReplaceOrder",
    "ReportDelivery",
    "Side",
    "TimeInForce",
    "Trade",
    "Variation",
    "command_from_dict",
    "command_to_dict",
    "future_symbol",
    "monthly_futures",
]

__getattr__, __dir__ = lazy_exports(globals())
