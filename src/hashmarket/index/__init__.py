"""Indices computed from the network history: the hashprice index and its daily fixings."""

from hashmarket.index.fixings import METHODOLOGY_VERSION, Fixing, fixings
from hashmarket.index.hashprice import (
    Method,
    epoch_value_btc_per_ph,
    hashprice_btc_per_ph_day,
    hashprice_table,
    realized_hashprice_btc_per_ph_day,
)

__all__ = [
    "METHODOLOGY_VERSION",
    "Fixing",
    "Method",
    "epoch_value_btc_per_ph",
    "fixings",
    "hashprice_btc_per_ph_day",
    "hashprice_table",
    "realized_hashprice_btc_per_ph_day",
]
