"""Syncing blocks from a Core-like JSON-RPC server over real HTTP (see fake_node.py).

The served epoch-start blocks are the real ones from the bundled epoch table; the blocks
between them are synthesised. Error paths also run the real CLI in a subprocess.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import socket
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from hashmarket.chain.consensus import bits_to_difficulty
from hashmarket.chain.history import STORE_FILE_NAME, NetworkHistory
from hashmarket.chain.sources.bitcoin_core import (
    BitcoinCoreRpc,
    CoreReader,
    NodeRpcError,
    RpcEndpoint,
)
from hashmarket.chain.sources.blocksync import SyncOptions, SyncResult, sync_chain
from hashmarket.chain.store import LocalStore
from hashmarket.errors import SourceError, UsageError
from tests.integration.fake_node import FakeBlock, FakeChain, FakeNode, real_epoch_starts

EPOCH_300 = 604_800  # a real epoch start (2019-11-21)
SYNCED_AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def store_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / STORE_FILE_NAME


def sync(node: FakeNode, tmp_path: Path, **options: Any) -> SyncResult:
    endpoint = RpcEndpoint.parse(node.url, user=node.user, password=node.password)
    store = LocalStore(store_path(tmp_path))
    with BitcoinCoreRpc(endpoint, timeout_s=10) as rpc:
        opts = SyncOptions(**options)
        reader = CoreReader(rpc, allow_chain=opts.allow_chain)
        return sync_chain(reader, store.node_writer, options=opts, clock=lambda: SYNCED_AT)


def stored(tmp_path: Path) -> list[tuple[int, str, int, int, int, int]]:
    """Every stored block as (height, hash, time, bits, subsidy, fees), read with plain SQL."""
    with sqlite3.connect(store_path(tmp_path)) as conn:
        rows = conn.execute(
            "SELECT height, lower(hex(hash)), time_s, bits, subsidy_sats, fees_sats "
            "FROM node_blocks ORDER BY height"
        ).fetchall()
    conn.close()
    return rows


def served(chain: FakeChain) -> list[tuple[int, str, int, int, int, int]]:
    from hashmarket.chain.consensus import block_subsidy_sats

    return [
        (b.height, b.block_hash, b.time_s, b.bits, block_subsidy_sats(b.height), b.totalfee_sats)
        for b in chain.blocks
    ]


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HASHMARKET_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "hashmarket", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def expected_days(blocks: list[FakeBlock]) -> dict[dt.date, tuple[int, float, float, float]]:
    """The daily rows by hand: one loop per day, the rule the bundled fees file was built with."""
    from hashmarket.chain.consensus import block_subsidy_sats

    by_day: dict[dt.date, list[FakeBlock]] = defaultdict(list)
    for b in blocks:
        by_day[dt.datetime.fromtimestamp(b.time_s, dt.UTC).date()].append(b)
    first, last = blocks[0], blocks[-1]
    day = min(by_day)
    out = {}
    while day <= max(by_day):
        start_s = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
        before = first.height == 0 or first.time_s < start_s - 7200
        if before and last.time_s > start_s + 86400 + 7200:
            bs = by_day.get(day, [])
            n = len(bs)
            out[day] = (
                n,
                sum(bits_to_difficulty(b.bits) for b in bs) / n if n else math.nan,
                sum(block_subsidy_sats(b.height) for b in bs) / n / 1e8 if n else math.nan,
                sum(b.totalfee_sats for b in bs) / 1e8,
            )
        day += dt.timedelta(days=1)
    return out


def node_frame_rows(tmp_path: Path) -> dict[dt.date, tuple[int, float, float, float]]:
    frames = {f.info.name: f.frame for f in LocalStore(store_path(tmp_path)).source_frames()}
    frame = frames["node"]
    return {
        ts.date(): (int(r.block_count), r.difficulty, r.subsidy_btc, r.fees_btc)
        for ts, r in frame.iterrows()
    }


def assert_days_equal(
    got: dict[dt.date, tuple[int, float, float, float]],
    want: dict[dt.date, tuple[int, float, float, float]],
) -> None:
    assert list(got) == list(want)
    for day in want:
        g, w = got[day], want[day]
        assert g[0] == w[0], day
        for a, b in zip(g[1:], w[1:], strict=True):
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12), day


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- syncing -----------------------------------------------------------------------------------


def test_full_sync_from_genesis_stores_the_real_epoch_starts(tmp_path: Path) -> None:
    chain = FakeChain(0, 2016 + 300)
    with FakeNode(chain) as node:
        result = sync(node, tmp_path)
    assert result.fetched == 2317
    assert (result.first_height, result.tip_height) == (0, 2316)
    assert result.tip_hash == chain.block(2316).block_hash
    rows = stored(tmp_path)
    assert rows == served(chain)
    real = real_epoch_starts()
    for height in (0, 2016):
        real_hash, real_time_s, real_bits = real[height]
        assert rows[height][1:4] == (real_hash, real_time_s, real_bits)
    assert rows[0][1] == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"

    # The daily aggregates agree with a day-by-day hand computation, genesis day included.
    want = expected_days(chain.blocks)
    assert min(want) == dt.date(2009, 1, 3)
    assert result.days == len(want)
    assert_days_equal(node_frame_rows(tmp_path), want)

    # The history takes them ahead of the bundled node statistics, with provenance "node".
    history = NetworkHistory.load(data_dir=tmp_path / "data")
    day = dt.date(2009, 1, 20)
    assert history.provenance.loc[str(day), "block_count"] == "node"
    assert history.frame.loc[str(day), "block_count"] == want[day][0]
    assert history.provenance.loc[str(day), "fees_btc"] == "node"


def test_second_run_fetches_only_the_new_blocks(tmp_path: Path) -> None:
    chain = FakeChain(EPOCH_300, EPOCH_300 + 250)
    with FakeNode(chain) as node:
        first = sync(node, tmp_path, start_height=EPOCH_300)
        assert first.fetched == 251
        assert node.calls["getblockstats"] == 251

        node.reset_counts()
        again = sync(node, tmp_path)
        assert again.fetched == 0
        # One call to see the tip, one to check that the stored tip is still on the chain.
        assert dict(node.calls) == {"getblockchaininfo": 1, "getblockhash": 1}

        chain.extend(37)
        node.reset_counts()
        more = sync(node, tmp_path)
        assert more.fetched == 37
        assert node.calls["getblockstats"] == 37
        assert node.calls["getblockheader"] == 37
        assert node.calls["getblockhash"] == 37 + 1
    assert stored(tmp_path) == served(chain)
    assert_days_equal(node_frame_rows(tmp_path), expected_days(chain.blocks))


def test_an_interrupted_sync_keeps_what_it_committed_and_resumes(tmp_path: Path) -> None:
    chain = FakeChain(EPOCH_300, EPOCH_300 + 300)
    with FakeNode(chain) as node:
        # The node dies while serving the 14th batch of 10 blocks; commits come every 40.
        node.drop_after_stats = 135
        args = ["data", "sync", "--source", "core", "--rpc-url", node.url, "--rpc-user", "alice"]
        args += ["--rpc-password", "s3cret", "--start-height", str(EPOCH_300)]
        result = run_cli(tmp_path, *args, "--batch", "10", "--commit-every", "40")
        assert_one_line_error(result, "closed the connection")
        assert stored(tmp_path) == served(chain)[:120]  # 130 fetched, 120 committed

        node.drop_after_stats = None
        node.reset_counts()
        resumed = run_cli(tmp_path, *args)
        assert resumed.returncode == 0, resumed.stderr
        assert node.calls["getblockstats"] == 301 - 120
        assert "181 new blocks" in resumed.stdout
    assert stored(tmp_path) == served(chain)


@pytest.mark.parametrize("depth", [1, 3, 40])
def test_a_reorganisation_of_the_last_blocks_is_rolled_back(tmp_path: Path, depth: int) -> None:
    chain = FakeChain(EPOCH_300, EPOCH_300 + 200)
    with FakeNode(chain) as node:
        sync(node, tmp_path, start_height=EPOCH_300)
        old_tip = chain.block(chain.tip)
        chain.reorg(depth, new_tip=chain.tip + 2, branch="b")
        assert chain.block(old_tip.height).block_hash != old_tip.block_hash
        node.reset_counts()
        result = sync(node, tmp_path)
        assert result.rolled_back == depth
        assert result.fork_height == old_tip.height - depth
        assert result.fetched == depth + 2
        # The walk back asks for a handful of hashes, not one per block.
        assert node.calls["getblockhash"] <= (depth + 2) + 2 * math.log2(depth + 1) + 3
    assert stored(tmp_path) == served(chain)
    assert_days_equal(node_frame_rows(tmp_path), expected_days(chain.blocks))


def test_a_reorganisation_during_the_sync_is_followed(tmp_path: Path) -> None:
    chain = FakeChain(EPOCH_300, EPOCH_300 + 200)
    with FakeNode(chain) as node:
        # After 60 blocks are served, the node switches the blocks above 40 to another branch.
        node.reorg_after_stats = (60, 200 - 40, EPOCH_300 + 210, "c")
        result = sync(node, tmp_path, start_height=EPOCH_300, batch_blocks=20)
    assert stored(tmp_path) == served(chain)
    assert result.tip_height == EPOCH_300 + 210
    # Blocks 0..59 (from the start) were stored before the switch; 41..59 were on the old branch.
    assert result.rolled_back == 19
    assert result.fetched == 60 + 170
    assert result.fork_height == EPOCH_300 + 40


def test_a_store_keeps_to_one_chain(tmp_path: Path) -> None:
    chain = FakeChain(EPOCH_300, EPOCH_300 + 20)
    with FakeNode(chain, name="test") as node:
        with pytest.raises(SourceError) as refused:
            sync(node, tmp_path, start_height=EPOCH_300)
        assert refused.value.key == "rpc_chain"
        assert not store_path(tmp_path).exists()
        result = sync(node, tmp_path, start_height=EPOCH_300, allow_chain=True)
        assert result.chain == "test"
    with FakeNode(chain) as node, pytest.raises(SourceError) as other:
        sync(node, tmp_path)
    assert other.value.key == "store_chain"


def test_start_height_cannot_leave_a_gap(tmp_path: Path) -> None:
    chain = FakeChain(EPOCH_300, EPOCH_300 + 20)
    with FakeNode(chain) as node:
        sync(node, tmp_path, start_height=EPOCH_300 + 5)
        with pytest.raises(UsageError, match="start-height"):
            sync(node, tmp_path, start_height=EPOCH_300 + 100)
        assert sync(node, tmp_path, start_height=EPOCH_300 + 5).fetched == 0
    assert [r[0] for r in stored(tmp_path)] == list(range(EPOCH_300 + 5, EPOCH_300 + 21))


def test_cookie_file_and_data_info(tmp_path: Path) -> None:
    chain = FakeChain(EPOCH_300, EPOCH_300 + 400)
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:9f86d081884c7d659a2feaa0c55ad015\n")
    with FakeNode(chain, user="__cookie__", password="9f86d081884c7d659a2feaa0c55ad015") as node:
        args = ["--rpc-url", node.url, "--rpc-cookie", str(cookie)]
        result = run_cli(
            tmp_path, "data", "sync", "--source", "core", *args, "--start-height", str(EPOCH_300)
        )
        assert result.returncode == 0, result.stderr
        assert "401 new blocks" in result.stdout
        missing = run_cli(
            tmp_path,
            "data",
            "sync",
            "--source",
            "core",
            "--rpc-url",
            node.url,
            "--rpc-cookie",
            "nope",
        )
        assert_one_line_error(missing, "cannot read the cookie file", "nope")
    info = run_cli(tmp_path, "data", "info", "--format", "json")
    assert info.returncode == 0, info.stderr
    import json

    node_info = json.loads(info.stdout)["store"]["node"]
    assert node_info["tip_height"] == EPOCH_300 + 400
    assert node_info["tip_hash"] == chain.block(EPOCH_300 + 400).block_hash
    assert node_info["first_height"] == EPOCH_300
    table = run_cli(tmp_path, "data", "info")
    assert f"tip {chain.block(EPOCH_300 + 400).block_hash}" in table.stdout


# -- a node that cannot be used ------------------------------------------------------------------


def test_wrong_password(tmp_path: Path) -> None:
    with FakeNode(FakeChain(EPOCH_300, EPOCH_300 + 5)) as node:
        endpoint = RpcEndpoint.parse(node.url, user="alice", password="wrong")
        with BitcoinCoreRpc(endpoint) as rpc, pytest.raises(SourceError) as refused:
            rpc.call("getblockchaininfo")
        assert refused.value.key == "rpc_auth"
        args = ["--rpc-url", node.url, "--rpc-user", "alice", "--rpc-password", "wrong"]
        result = run_cli(tmp_path, "data", "sync", "--source", "core", *args)
    assert_one_line_error(result, "refused the credentials", "HTTP 401")
    assert "wrong" not in result.stderr
    assert not store_path(tmp_path).exists()


def test_node_still_syncing(tmp_path: Path) -> None:
    with FakeNode(FakeChain(EPOCH_300, EPOCH_300 + 5)) as node:
        node.initial_block_download = True
        args = ["--rpc-url", node.url, "--rpc-user", "alice", "--rpc-password", "s3cret"]
        result = run_cli(tmp_path, "data", "sync", "--source", "core", *args)
        assert_one_line_error(result, "still syncing")
        # Out of initial download but a few blocks behind the headers: still refused.
        node.initial_block_download = False
        node.headers_ahead = 3
        with pytest.raises(SourceError) as behind:
            sync(node, tmp_path)
        assert behind.value.key == "rpc_syncing"
    assert not store_path(tmp_path).exists()


def test_connection_refused(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = run_cli(
        tmp_path, "data", "sync", "--source", "core", "--rpc-url", url, "--rpc-user", "a"
    )
    assert_one_line_error(result, "--rpc-user and --rpc-password go together")
    result = run_cli(
        tmp_path,
        "data",
        "sync",
        "--source",
        "core",
        "--rpc-url",
        url,
        "--rpc-user",
        "a",
        "--rpc-password",
        "b",
    )
    assert_one_line_error(result, "cannot reach the node", "connection refused")
    assert result.returncode == SourceError.exit_code
    assert not store_path(tmp_path).exists()


@pytest.mark.parametrize("legacy", [False, True])
def test_json_rpc_error_objects_in_both_reply_styles(legacy: bool) -> None:
    with FakeNode(FakeChain(EPOCH_300, EPOCH_300 + 5)) as node:
        node.legacy_replies = legacy  # 1.0: errors come with HTTP 500 / 404
        endpoint = RpcEndpoint.parse(node.url, user="alice", password="s3cret")
        with BitcoinCoreRpc(endpoint) as rpc:
            with pytest.raises(NodeRpcError) as beyond:
                rpc.call("getblockhash", EPOCH_300 + 6)
            assert (beyond.value.code, beyond.value.method) == (-8, "getblockhash")
            assert "Block height out of range" in str(beyond.value)
            with pytest.raises(NodeRpcError) as unknown:
                rpc.call("getblockheader", "00" * 32)
            assert unknown.value.code == -5
            with pytest.raises(NodeRpcError) as method:
                rpc.call("getnothing")
            assert method.value.code == -32601
            # The connection is still good after errors.
            assert rpc.call("getblockhash", EPOCH_300) == real_epoch_starts()[EPOCH_300][0]
            stats = rpc.call("getblockstats", EPOCH_300, ["totalfee", "subsidy", "height", "time"])
            assert set(stats) == {"totalfee", "subsidy", "height", "time"}
            assert stats["subsidy"] == 1_250_000_000


# -- the address and credentials ----------------------------------------------------------------


def test_rpc_endpoint_parsing(tmp_path: Path) -> None:
    e = RpcEndpoint.parse("127.0.0.1", user="u", password="p")
    assert (e.url, e.host, e.port, e.path, e.https) == (
        "http://127.0.0.1:8332",
        "127.0.0.1",
        8332,
        "/",
        False,
    )
    e = RpcEndpoint.parse("https://user:p%40ss@node.example:18443/wallet/w")
    assert (e.user, e.password, e.port, e.path, e.https) == (
        "user",
        "p@ss",
        18443,
        "/wallet/w",
        True,
    )
    assert "p@ss" not in e.url and "user" not in e.url
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:abc:def")
    e = RpcEndpoint.parse("localhost:8332", cookie_file=cookie)
    assert (e.user, e.password) == ("__cookie__", "abc:def")
    with pytest.raises(UsageError, match="give only one"):
        RpcEndpoint.parse("localhost", user="u", password="p", cookie_file=cookie)
    with pytest.raises(UsageError, match="not a URL"):
        RpcEndpoint.parse("ftp://localhost")
    cookie.write_text("no colon here")
    with pytest.raises(SourceError, match="expected 'user:password'"):
        RpcEndpoint.parse("localhost", cookie_file=cookie)
