"""An incremental, resumable, reorg-aware block sync, shared by every source of blocks.

A source (a Bitcoin Core node, a mempool instance) is a :class:`ChainReader`: it names its
chain and tip, gives the hash at a height, and fetches a range of blocks, each with the hash
of the block before it. The sync brings a :class:`BlockSink` (the local store) up to the tip:

* the store's last blocks are checked against the source by hash; when the source's chain no
  longer holds them (a reorganisation), the sync finds the fork point — stepping back 1, 2,
  4, … blocks, then bisecting — deletes the blocks above it, and continues from there;
* every block must link to the one before it (``previousblockhash``); when one does not, the
  chain moved during the sync and it starts over from the new tip (at most
  :data:`MAX_CHAIN_CHANGES` times);
* blocks are committed every ``commit_every_blocks``, so an interrupted sync keeps everything
  committed and the next run resumes after it;
* with a deadline, the sync stops fetching when it passes, commits what it has, and reports
  itself incomplete; the next run continues.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from hashmarket.chain.sources.blocks import BlockRecord
from hashmarket.errors import SourceError, UsageError

MAX_CHAIN_CHANGES = 5  # give up when the source reorganises this often during one sync


class ChainChangedError(Exception):
    """The source's chain moved under the sync (a reorg during it): start over from the tip."""


@dataclass(frozen=True, slots=True)
class FetchedBlock:
    block: BlockRecord
    prev_hash: str | None  # None for the genesis block


class ChainReader(Protocol):
    """A source of blocks. ``url`` is for display and carries no secret."""

    @property
    def url(self) -> str: ...

    def chain_tip(self) -> tuple[str, int]:
        """The chain's name (``main``, ``test``, …) and the height of its tip."""
        ...

    def block_hash(self, height: int) -> str | None:
        """The hash of the block at ``height``, or None above the tip."""
        ...

    def fetch(self, heights: range) -> list[FetchedBlock]:
        """The blocks at ``heights``, in order; :class:`ChainChangedError` when they went away."""
        ...

    def default_start(self, tip: int) -> int:
        """Where an empty store starts when no ``start_height`` is given."""
        ...


class BlockSink(Protocol):
    """Where synced blocks go (``store_writers.NodeWriter``): append, commit, roll back, finish."""

    def chain(self) -> str | None: ...
    def height_range(self) -> tuple[int, int] | None: ...
    def hash_at(self, height: int) -> str | None: ...
    def roll_back_above(self, height: int) -> int: ...
    def append(self, records: Sequence[BlockRecord], *, chain: str) -> None: ...
    def commit(self) -> None: ...
    def finish(self, *, url: str, chain: str, synced_at: dt.datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class SyncOptions:
    start_height: int | None = None  # where an empty store starts (default: the reader's)
    allow_chain: bool = False  # accept a source that is not on mainnet
    batch_blocks: int = 100  # blocks asked for at once
    commit_every_blocks: int = 1000


@dataclass(frozen=True, slots=True)
class SyncResult:
    url: str
    chain: str
    tip_height: int  # the source's tip
    tip_hash: str  # its hash, when the store reached it ("" otherwise)
    fetched: int  # blocks fetched and stored by this run
    rolled_back: int  # stored blocks deleted because the source's chain no longer has them
    fork_height: int | None  # the last common block of a reorg, when there was one
    first_height: int  # the store's lowest block
    days: int  # daily rows aggregated from the stored blocks
    complete: bool = True  # False: stopped at the deadline; the next run continues
    stored_tip_height: int | None = None  # the store's highest block after the run


Progress = Callable[[int, int], None]  # (blocks done, blocks to do)


def sync_chain(
    reader: ChainReader,
    open_sink: Callable[[], AbstractContextManager[BlockSink]],
    *,
    options: SyncOptions,
    clock: Callable[[], dt.datetime],
    progress: Progress | None = None,
    store_name: str = "the store",
    deadline_s: float | None = None,
) -> SyncResult:
    """Bring the sink's blocks up to the reader's tip; see the module docstring.

    The source is asked whether it can be used (reachable, chain, caught up) before
    ``open_sink`` is called, so a source that cannot be used leaves no store behind.
    ``deadline_s`` is a :func:`time.monotonic` time after which no more blocks are fetched.
    """
    url = reader.url
    chain, tip = reader.chain_tip()
    fetched = rolled_back = 0
    fork: int | None = None
    with open_sink() as sink:
        for attempt in range(MAX_CHAIN_CHANGES):
            if attempt:
                chain, tip = reader.chain_tip()
            held = sink.height_range()
            stored_chain = sink.chain()
            if held is not None and stored_chain is not None and stored_chain != chain:
                raise SourceError("store_chain", path=store_name, stored=stored_chain, chain=chain)
            next_height, prev_hash = _resume_point(reader, sink, held, tip, options)
            if held is not None and next_height <= held[1]:
                rolled_back += sink.roll_back_above(next_height - 1)
                fork = next_height - 1
            done, outcome = _fetch_forward(
                reader,
                sink,
                first=next_height,
                last=tip,
                prev_hash=prev_hash,
                chain=chain,
                options=options,
                progress=progress,
                deadline_s=deadline_s,
            )
            fetched += done
            sink.commit()  # when incomplete, the blocks fetched before the change still link up
            if outcome == "changed":
                continue
            days = sink.finish(url=url, chain=chain, synced_at=clock())
            held = sink.height_range()
            return SyncResult(
                url=url,
                chain=chain,
                tip_height=tip,
                tip_hash=(sink.hash_at(tip) or "") if held else "",
                fetched=fetched,
                rolled_back=rolled_back,
                fork_height=fork,
                first_height=held[0] if held else tip + 1,
                days=days,
                complete=outcome == "complete",
                stored_tip_height=held[1] if held else None,
            )
    raise SourceError("source_unstable", url=url, times=MAX_CHAIN_CHANGES)


def _resume_point(
    reader: ChainReader,
    sink: BlockSink,
    held: tuple[int, int] | None,
    tip: int,
    options: SyncOptions,
) -> tuple[int, str | None]:
    """The next height to fetch and the hash it must link to (None: no link to check)."""
    if held is None:
        start = options.start_height
        first_height = reader.default_start(tip) if start is None else start
        if first_height > tip:
            raise UsageError(
                "bad_option",
                option="--start-height",
                problem=f"{first_height} is above the tip of {reader.url}, {tip}",
            )
        return first_height, None
    first, stored_tip = held
    start = options.start_height
    if start is not None and not first <= start <= stored_tip + 1:
        raise UsageError(
            "bad_option",
            option="--start-height",
            problem=(
                f"the store holds blocks {first} to {stored_tip}; a sync continues after them "
                f"(start within that range, or leave the option out)"
            ),
        )
    fork = _fork_point(reader, sink, first=first, tip=stored_tip, source_tip=tip)
    if fork < first:
        return first, None  # nothing in common: start again where the store started
    return fork + 1, sink.hash_at(fork)


def _fork_point(
    reader: ChainReader, sink: BlockSink, *, first: int, tip: int, source_tip: int
) -> int:
    """The highest stored height whose hash the source's chain still has (``first - 1``: none).

    Stored blocks link to each other, so if height h matches, every height below does too:
    step back 1, 2, 4, … blocks to a match, then bisect between match and mismatch.
    """

    def same(height: int) -> bool:
        return reader.block_hash(height) == sink.hash_at(height)

    top = min(tip, source_tip)
    if top < first:
        return first - 1
    if same(top):
        return top
    mismatch, step = top, 1
    while True:
        probe = max(first, mismatch - step)
        if same(probe):
            match = probe
            break
        if probe == first:
            return first - 1
        mismatch, step = probe, step * 2
    while mismatch - match > 1:
        mid = (match + mismatch) // 2
        if same(mid):
            match = mid
        else:
            mismatch = mid
    return match


def _fetch_forward(
    reader: ChainReader,
    sink: BlockSink,
    *,
    first: int,
    last: int,
    prev_hash: str | None,
    chain: str,
    options: SyncOptions,
    progress: Progress | None,
    deadline_s: float | None,
) -> tuple[int, str]:
    """Fetch and append ``first``..``last``; return how many were appended and the outcome:
    ``complete``, ``changed`` (the chain changed under the sync: start over) or ``deadline``."""
    total = max(0, last - first + 1)
    done = uncommitted = 0
    if progress is not None:
        progress(0, total)
    for batch_start in range(first, last + 1, options.batch_blocks):
        if deadline_s is not None and time.monotonic() >= deadline_s:
            return done, "deadline"
        heights = range(batch_start, min(batch_start + options.batch_blocks, last + 1))
        try:
            records = reader.fetch(heights)
        except ChainChangedError:
            return done, "changed"
        for record in records:
            if prev_hash is not None and record.prev_hash != prev_hash:
                return done, "changed"
            prev_hash = record.block.block_hash
        sink.append([r.block for r in records], chain=chain)
        done += len(records)
        uncommitted += len(records)
        if uncommitted >= options.commit_every_blocks:
            sink.commit()
            uncommitted = 0
        if progress is not None:
            progress(done, total)
    return done, "complete"
