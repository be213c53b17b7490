"""Share verification against real mainnet headers, and the Stratum byte orders."""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import pytest

from hashmarket.chain.consensus import bits_to_target
from hashmarket.delivery import (
    DIFF1_TARGET,
    Job,
    difficulty_target,
    dsha256,
    header_bytes,
    merkle_branch,
    merkle_root,
    share_hash,
    share_work_hashes,
)
from hashmarket.delivery.shares import swap_words

# The genesis block's only transaction (its coinbase), and its header fields.
GENESIS_COINBASE = bytes.fromhex(
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ff"
    "ff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e2062"
    "72696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a0100"
    "0000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef"
    "38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)
GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
GENESIS_MERKLE = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
GENESIS_TIME, GENESIS_NONCE, GENESIS_BITS = 1231006505, 2083236893, 0x1D00FFFF
HEADERS_CSV = Path(__file__).parents[2] / "src/hashmarket/data/btc_epoch_headers.csv"


def genesis_job() -> tuple[Job, bytes, bytes]:
    """The genesis coinbase split as a pool would: "The Times" is where the extranonces go."""
    at = GENESIS_COINBASE.index(b"The Times")
    job = Job(
        job_id="genesis",
        prevhash=bytes(32),
        coinb1=GENESIS_COINBASE[:at],
        coinb2=GENESIS_COINBASE[at + 8 :],
        merkle_branch=(),
        version=1,
        nbits=GENESIS_BITS,
        ntime=GENESIS_TIME,
    )
    return job, GENESIS_COINBASE[at : at + 4], GENESIS_COINBASE[at + 4 : at + 8]


def test_genesis_block_is_a_share_at_difficulty_1() -> None:
    job, extranonce1, extranonce2 = genesis_job()
    header = job.header(
        extranonce1, extranonce2, ntime=GENESIS_TIME, nonce=GENESIS_NONCE, version=1
    )
    assert merkle_root(dsha256(GENESIS_COINBASE), ())[::-1].hex() == GENESIS_MERKLE
    assert dsha256(header)[::-1].hex() == GENESIS_HASH
    value = share_hash(job, extranonce1, extranonce2, ntime=GENESIS_TIME, nonce=GENESIS_NONCE)
    assert value == int(GENESIS_HASH, 16)
    assert value <= difficulty_target(1) == DIFF1_TARGET == bits_to_target(GENESIS_BITS)
    # The genesis hash meets difficulty 2,536 but not 2,537 (its "share difficulty").
    assert DIFF1_TARGET // value == 2536
    assert value <= difficulty_target(2536)
    assert value > difficulty_target(2537)
    # One nonce off, and the share is worthless at any difficulty a pool would set.
    other = share_hash(job, extranonce1, extranonce2, ntime=GENESIS_TIME, nonce=GENESIS_NONCE + 1)
    assert other > difficulty_target(Fraction(1, 2**16))


def test_genesis_notify_round_trips_through_the_wire_encoding() -> None:
    job, _, _ = genesis_job()
    params = job.notify_params()
    assert params[5:8] == ["00000001", "1d00ffff", "495fab29"]  # big-endian hex
    assert Job.from_notify(params) == job


@pytest.mark.parametrize("row", list(csv.DictReader(HEADERS_CSV.open())), ids=lambda r: r["height"])
def test_mainnet_epoch_headers_rebuild_from_stratum_fields(row: dict[str, str]) -> None:
    raw = bytes.fromhex(row["header_hex"])
    version = int.from_bytes(raw[0:4], "little")
    ntime = int.from_bytes(raw[68:72], "little")
    nonce = int.from_bytes(raw[76:80], "little")
    # What a pool would send for this block: prevhash word-swapped, integers big-endian hex.
    stratum_prevhash = swap_words(raw[4:36]).hex()
    job = Job.from_notify(
        ["j", stratum_prevhash, "", "", [], f"{version:08x}", row["bits"], f"{ntime:08x}", True]
    )
    header = header_bytes(
        version=job.version,
        prevhash=job.prevhash,
        merkle_root=raw[36:68],
        ntime=ntime,
        nbits=job.nbits,
        nonce=nonce,
    )
    assert header == raw
    assert dsha256(header)[::-1].hex() == row["block_hash"]
    assert int(row["block_hash"], 16) <= bits_to_target(int(row["bits"], 16))


def _tree_root(txids: list[bytes]) -> bytes:
    level = list(txids)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [dsha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13])
def test_merkle_branch_folds_to_the_full_tree_root(count: int) -> None:
    txids = [dsha256(bytes([i])) for i in range(count)]
    branch = merkle_branch([bytes(32), *txids[1:]])
    assert merkle_root(txids[0], branch) == _tree_root(txids)
    assert len(branch) == (count - 1).bit_length()


def test_difficulty_targets_and_work() -> None:
    assert difficulty_target(1) == 0xFFFF << 208
    assert difficulty_target(2) == 0xFFFF << 207
    assert difficulty_target(Fraction(1, 2**20)) == 0xFFFF << 228
    assert difficulty_target(Fraction(1, 2**64)) == (1 << 256) - 1  # capped
    assert share_work_hashes(1) == 2**32
    assert share_work_hashes(Fraction(1, 2**20)) == 4096
    with pytest.raises(ValueError, match="positive"):
        difficulty_target(0)
