"""A mempool instance (the open-source mempool backend) as a source of blocks.

Endpoints of its REST API, as the public instance https://mempool.space serves them and any
self-hosted one does under the same paths:

* ``GET /api/blocks/tip/height`` and ``/api/blocks/tip/hash`` — the tip, as plain text;
* ``GET /api/block-height/{height}`` — the hash at a height, plain text (404 above the tip);
* ``GET /api/v1/blocks/{height}`` — up to 15 blocks, descending from ``height`` (fewer when
  ``height`` is above the tip), each with ``id``, ``height``, ``timestamp``, ``bits``,
  ``difficulty``, ``tx_count``, ``previousblockhash`` and ``extras`` holding ``reward`` (the
  coinbase outputs, sats) and ``totalFees`` (sats).

The chain is told by the genesis block's hash. The subsidy stored is the consensus subsidy at
the block's height, as Core's ``getblockstats`` reports it; ``reward - totalFees`` must not
exceed it (it is lower only when a miner claimed less than allowed). The sync itself —
resuming, committing, following reorganisations — is :mod:`.blocksync`'s.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from hashmarket.chain.consensus import bits_to_difficulty, block_subsidy_sats
from hashmarket.chain.sources.blocks import BlockRecord
from hashmarket.chain.sources.blocksync import ChainChangedError, FetchedBlock
from hashmarket.chain.sources.http import HttpClient
from hashmarket.errors import ConsensusError, SourceError

DEFAULT_URL = "https://mempool.space"
PAGE_BLOCKS = 15  # blocks per /api/v1/blocks answer
DEFAULT_BACKFILL_BLOCKS = 2016  # an empty store starts one epoch (about two weeks) back
GENESIS_HASHES = {
    "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f": "main",
    "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943": "test",
    "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043": "testnet4",
    "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6": "signet",
    "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206": "regtest",
}
DIFFICULTY_REL_TOLERANCE = 1e-9


class MempoolReader:
    """A mempool instance as a :class:`~hashmarket.chain.sources.blocksync.ChainReader`."""

    def __init__(self, client: HttpClient, *, allow_chain: bool = False) -> None:
        self.client = client
        self.allow_chain = allow_chain
        self._chain: str | None = None
        self._tip: tuple[int, str] | None = None

    @property
    def url(self) -> str:
        return self.client.base_url

    def chain_tip(self) -> tuple[str, int]:
        if self._chain is None:
            genesis = self._hash_text(self.client.get_text("api/block-height/0"), "block-height/0")
            self._chain = GENESIS_HASHES.get(genesis, f"unknown (genesis {genesis[:16]}…)")
        if self._chain != "main" and not self.allow_chain:
            raise SourceError("source_chain", url=self.url, chain=self._chain)
        height = self._height(self.client.get_text("api/blocks/tip/height"))
        tip_hash = self._hash_text(self.client.get_text("api/blocks/tip/hash"), "tip/hash")
        self._tip = (height, tip_hash)
        return self._chain, height

    def block_hash(self, height: int) -> str | None:
        if self._tip is not None and self._tip[0] == height:
            return self._tip[1]
        try:
            text = self.client.get_text(f"api/block-height/{height}")
        except SourceError as exc:
            if exc.key == "http_status" and exc.fields.get("status") == 404:
                return None  # above the tip
            raise
        return self._hash_text(text, f"block-height/{height}")

    def default_start(self, tip: int) -> int:
        return max(0, tip - DEFAULT_BACKFILL_BLOCKS + 1)

    def fetch(self, heights: range) -> list[FetchedBlock]:
        """The blocks at ``heights``, one request per 15, up to the client's concurrency."""
        bottoms = list(heights[::PAGE_BLOCKS])
        tops = [min(h + PAGE_BLOCKS - 1, heights[-1]) for h in bottoms]
        pages = self.client.map(self._page, tops)
        out: list[FetchedBlock] = []
        for bottom, top, page in zip(bottoms, tops, pages, strict=True):
            by_height = {b.block.height: b for b in page}
            if any(h not in by_height for h in range(bottom, top + 1)):
                raise ChainChangedError()  # the tip went below these heights: a reorg
            out.extend(by_height[h] for h in range(bottom, top + 1))
        return out

    def _page(self, top: int) -> list[FetchedBlock]:
        path = f"api/v1/blocks/{top}"
        reply = self.client.get_json(path)
        where = self.client.url(path)
        if not isinstance(reply, list):
            raise SourceError("http_bad_reply", url=where, problem="expected a JSON array")
        return [_block(item, where) for item in reply]

    def _height(self, text: str) -> int:
        where = self.client.url("api/blocks/tip/height")
        try:
            height = int(text.strip())
        except ValueError:
            raise SourceError(
                "http_bad_reply", url=where, problem=f"not a block height: {text[:40]!r}"
            ) from None
        if height < 0:
            raise SourceError("http_bad_reply", url=where, problem=f"height {height}")
        return height

    def _hash_text(self, text: str, what: str) -> str:
        value = text.strip()
        if not _is_hash(value):
            raise SourceError(
                "http_bad_reply",
                url=self.client.url(f"api/{what}"),
                problem=f"not a block hash: {value[:80]!r}",
            )
        return value


def _block(item: Any, where: str) -> FetchedBlock:
    """One block of a /api/v1/blocks answer, checked field by field."""

    def bad(problem: str) -> SourceError:
        return SourceError("http_bad_reply", url=where, problem=problem)

    if not isinstance(item, dict):
        raise bad(f"a block is not an object: {str(item)[:80]}")
    height = item.get("height")
    if not _is_int(height) or height < 0:
        raise bad(f"a block has height {height!r}")

    def count(value: Any, field: str) -> int:
        if not _is_int(value) or value < 0:
            raise bad(f"block {height}: {field} is {value!r}")
        return value

    block_hash = item.get("id")
    if not _is_hash(block_hash):
        raise bad(f"block {height}: id is {block_hash!r}, not a block hash")
    prev = item.get("previousblockhash")
    if height > 0 and not _is_hash(prev):
        raise bad(f"block {height}: previousblockhash is {prev!r}, not a block hash")
    bits = count(item.get("bits"), "bits")
    try:
        expected_difficulty = bits_to_difficulty(bits)
    except ConsensusError:
        raise bad(f"block {height}: bits {bits} is not a compact target") from None
    difficulty = item.get("difficulty")
    if not isinstance(difficulty, int | float) or not math.isclose(
        difficulty, expected_difficulty, rel_tol=DIFFICULTY_REL_TOLERANCE
    ):
        raise bad(
            f"block {height}: difficulty {difficulty!r} does not match bits {bits:08x} "
            f"(which give {expected_difficulty!r})"
        )
    extras = item.get("extras")
    if not isinstance(extras, dict) or "totalFees" not in extras or "reward" not in extras:
        raise bad(f"block {height}: no extras.totalFees and extras.reward")
    fees_sats = count(extras["totalFees"], "extras.totalFees")
    reward_sats = count(extras["reward"], "extras.reward")
    subsidy_sats = block_subsidy_sats(height)
    if reward_sats - fees_sats > subsidy_sats:
        raise bad(
            f"block {height}: extras.reward - extras.totalFees = {reward_sats - fees_sats} sats, "
            f"more than the consensus subsidy of {subsidy_sats} sats"
        )
    return FetchedBlock(
        BlockRecord(
            height=height,
            block_hash=block_hash,
            time_s=count(item.get("timestamp"), "timestamp"),
            bits=bits,
            subsidy_sats=subsidy_sats,
            fees_sats=fees_sats,
            tx_count=count(item.get("tx_count"), "tx_count"),
        ),
        prev_hash=prev if height > 0 else None,
    )


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_hash(value: object) -> TypeGuard[str]:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )
