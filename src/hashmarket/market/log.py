"""The sequenced, append-only, hash-chained command log.

Entry ``n`` holds one accepted command as canonical JSON and ``hash_n = SHA-256(hash_{n-1} ‖
n as 8 bytes ‖ json)``; ``hash_0`` (the genesis) is the SHA-256 of the engine's
configuration, so a log replays only against the terms it was written under. Only commands
the engine accepted are logged: replaying the log through a fresh engine gives the same
book, the same fills and the same events, in the same order, every time.

Two homes for the same chain: :class:`MemoryLog` (a list, for tests and simulations) and the
``market_log`` table of a ledger database (:mod:`.exchange` writes its rows in the same
transaction as the commands' ledger effects; :func:`read_log` reads them back).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hashmarket.errors import MarketError
from hashmarket.ledger import Store
from hashmarket.market import log_store
from hashmarket.market.orders import Command, canonical_json, command_from_dict, command_json
from hashmarket.market.products import MarketConfig


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    ts_ns: int
    command: bytes  # canonical JSON
    hash: bytes

    def decode(self) -> Command:
        return command_from_dict(json.loads(self.command))


def genesis(config: MarketConfig) -> bytes:
    return hashlib.sha256(b"hashmarket market log v1\n" + canonical_json(config.to_dict())).digest()


def chain(prev: bytes, seq: int, command_json: bytes) -> bytes:
    return hashlib.sha256(prev + seq.to_bytes(8, "big") + command_json).digest()


def entry_for(prev: bytes, seq: int, command: Command) -> LogEntry:
    data = command_json(command)
    return LogEntry(seq, command.ts_ns, data, chain(prev, seq, data))


def verified(entries: Iterable[LogEntry], *, prev: bytes, after_seq: int = 0) -> Iterator[LogEntry]:
    """The entries, checked one by one: consecutive seqs from ``after_seq + 1`` and each hash
    the chain of the previous one. Raises :class:`MarketError` at the first break."""
    expected = after_seq + 1
    for entry in entries:
        if entry.seq != expected:
            raise MarketError(
                "market_log", where=f"seq {entry.seq}", problem=f"expected seq {expected}"
            )
        if chain(prev, entry.seq, entry.command) != entry.hash:
            raise MarketError("market_log", where=f"seq {entry.seq}", problem="hash does not chain")
        prev = entry.hash
        expected += 1
        yield entry


class MemoryLog:
    """A command log in a list."""

    def __init__(self, config: MarketConfig) -> None:
        self.genesis = genesis(config)
        self.entries: list[LogEntry] = []

    @property
    def head(self) -> tuple[int, bytes]:
        return (self.entries[-1].seq, self.entries[-1].hash) if self.entries else (0, self.genesis)

    def append(self, command: Command) -> LogEntry:
        seq, prev = self.head
        entry = entry_for(prev, seq + 1, command)
        self.entries.append(entry)
        return entry

    def commands(self) -> Iterator[Command]:
        for entry in verified(self.entries, prev=self.genesis):
            yield entry.decode()


# -- the market_log table -----------------------------------------------------------------------


def insert_entries(store: Store, entries: list[LogEntry]) -> None:
    log_store.insert_rows(store, [(e.seq, e.ts_ns, e.command.decode(), e.hash) for e in entries])


def read_log(store: Store, *, after_seq: int = 0) -> Iterator[LogEntry]:
    """The stored entries after ``after_seq``, in order (not verified: see :func:`verified`)."""
    for seq, ts_ns, command, digest in log_store.stream_rows(store, after_seq=after_seq):
        yield LogEntry(seq, ts_ns, command.encode(), bytes(digest))


def log_hash_at(store: Store, seq: int, genesis_hash: bytes) -> bytes | None:
    if seq == 0:
        return genesis_hash
    return log_store.hash_at(store, seq)
