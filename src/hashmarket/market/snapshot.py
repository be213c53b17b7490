"""The engine's whole state as plain JSON values, and back.

A snapshot lets a restart skip replaying the log up to its seq. It holds what the engine
cannot derive: resting orders in arrival order (re-resting them in that order rebuilds every
queue, level and heap), counters, budgets, capacity, running contracts, GPU pieces and
holdings, futures positions, and the trade history the market data is computed from. Maps
with tuple keys become lists of rows; nothing but ints, strings and lists is stored, so the
JSON is canonical and its SHA-256 is checked on load.
"""

from __future__ import annotations

import dataclasses
import heapq
from typing import Any

from hashmarket.market.book import ID
from hashmarket.market.engine import MatchingEngine
from hashmarket.market.gpu import GpuTrade
from hashmarket.market.hashpower import HashpowerContract
from hashmarket.market.orders import Side, Trade
from hashmarket.market.products import MarketConfig


def _rows(mapping: dict[Any, Any]) -> list[list[Any]]:
    return [[*k, v] if isinstance(k, tuple) else [k, v] for k, v in mapping.items()]


def _trade_row(trade: Trade | GpuTrade) -> list[Any]:
    values = trade if isinstance(trade, Trade) else dataclasses.astuple(trade)
    return [v.value if isinstance(v, Side) else v for v in values]


def engine_state(engine: MatchingEngine) -> dict[str, Any]:
    futures, gpu = engine.futures, engine.gpu
    return {
        "counters": [
            engine.next_order_id,
            engine.next_trade_id,
            engine.next_contract_id,
            engine.seq,
            engine.last_ts_ns,
        ],
        "books": {m: book.resting() for m, book in engine.books.items()},
        "hp_budget": _rows(engine.hp_budget),
        "hp_registered": _rows(engine.hp_registered),
        "hp_committed": _rows(engine.hp_committed),
        "contracts": [c.to_dict() for c in engine.contracts.values()],
        "trades": [_trade_row(t) for t in engine.trades],
        **({"listings": engine.resale.state()} if engine.resale.next_id > 1 else {}),
        "futures": {
            "position": _rows(futures.position),
            "basis": _rows(futures.basis),
            "collateral": _rows(futures.collateral),
            "last_mark": _rows(futures.last_mark),
            "closed": sorted(futures.closed),
            # Only once there is one: snapshots from before keep their bytes.
            **({"additions": futures.additions} if futures.additions else {}),
        },
        "gpu": {
            "sells": gpu.sells,
            "buys": gpu.buys,
            "orders": [[o, s.value, m, a] for o, (s, m, a) in gpu.orders.items()],
            "capacity": [[a, m, _rows(free)] for (a, m), free in gpu.capacity.items()],
            "trades": [_trade_row(t) for t in gpu.trades],
        },
    }


def engine_from_state(config: MarketConfig, state: dict[str, Any]) -> MatchingEngine:
    engine = MatchingEngine(config)
    (
        engine.next_order_id,
        engine.next_trade_id,
        engine.next_contract_id,
        engine.seq,
        engine.last_ts_ns,
    ) = state["counters"]
    for market, orders in state["books"].items():
        book = engine.books[market]
        for order in orders:
            book.rest(order)
            engine.order_market[order[ID]] = market
    engine.hp_budget = {oid: list(terms) for oid, terms in state["hp_budget"]}
    engine.hp_registered = dict(map(tuple, state["hp_registered"]))
    engine.hp_committed = dict(map(tuple, state["hp_committed"]))
    for row in state["contracts"]:
        contract = HashpowerContract(**row)
        engine.contracts[contract.contract_id] = contract
        engine.contract_ends.append((contract.end_ns, contract.contract_id))
    heapq.heapify(engine.contract_ends)
    if "listings" in state:  # absent from snapshots taken before any contract was listed
        engine.resale.restore(state["listings"])
    engine.trades = [_trade(Trade, row) for row in state["trades"]]
    futures = state["futures"]
    engine.futures.position = {(m, a): v for m, a, v in futures["position"]}
    engine.futures.basis = {(m, a): v for m, a, v in futures["basis"]}
    engine.futures.collateral = {(m, a): v for m, a, v in futures["collateral"]}
    engine.futures.last_mark = dict(map(tuple, futures["last_mark"]))
    engine.futures.closed = set(futures["closed"])
    engine.futures.additions = futures.get("additions", 0)
    gpu = state["gpu"]
    engine.gpu.sells = gpu["sells"]
    engine.gpu.buys = gpu["buys"]
    engine.gpu.orders = {o: (Side(s), m, a) for o, s, m, a in gpu["orders"]}
    engine.gpu.capacity = {(a, m): dict(free) for a, m, free in gpu["capacity"]}
    engine.gpu.trades = [_trade(GpuTrade, row) for row in gpu["trades"]]
    return engine


def _trade(cls: type[Any], row: list[Any]) -> Any:
    names = cls._fields if cls is Trade else [f.name for f in dataclasses.fields(cls)]
    values = dict(zip(names, row, strict=True))
    values["taker_side"] = Side(values["taker_side"])
    return cls(**values)
