"""Hashmarket: compute as a commodity — the hashprice index, hashrate derivatives, hashrate
tokens and an exact double-entry ledger for them."""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.chain.history import NetworkHistory
    from hashmarket.errors import HashmarketError
    from hashmarket.index import Fixing, Method, fixings, hashprice_table

__version__ = "0.1.0"

__all__ = [
    "Fixing",
    "HashmarketError",
    "Method",
    "NetworkHistory",
    "__version__",
    "fixings",
    "hashprice_table",
]

__getattr__, __dir__ = lazy_exports(globals())
