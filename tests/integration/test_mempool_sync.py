"""Syncing blocks from a mempool instance over real HTTP (see fake_public_api.py).

The served blocks are 924,900 to 925,229 of the fixture chain: epoch 458's real bits, the
3.125 BTC subsidy, and fees in ``extras.totalFees``. Error paths also run the real CLI.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from hashmarket.chain.consensus import bits_to_difficulty
from hashmarket.chain.history import STORE_FILE_NAME, NetworkHistory
from hashmarket.chain.sources.blocksync import SyncOptions, SyncResult, sync_chain
from hashmarket.chain.sources.http import HttpClient, HttpPolicy
from hashmarket.chain.sources.mempool import MempoolReader
from hashmarket.chain.store import LocalStore
from hashmarket.errors import SourceError
from hashmarket.index.hashprice import hashprice_table
from tests.integration.fake_public_api import MempoolServer

FIRST = 924_900
SUBSIDY_SATS = 312_500_000  # 3.125 BTC: heights 840,000 to 1,049,999
BITS = 0x1701D936
SYNCED_AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
FAST = HttpPolicy(timeout_s=2.0, attempts=3, backoff_base_s=0.05, backoff_cap_s=0.2)


def store_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / STORE_FILE_NAME


def sync(
    server: MempoolServer,
    tmp_path: Path,
    *,
    policy: HttpPolicy = FAST,
    deadline_s: float | None = None,
    **options: Any,
) -> SyncResult:
    store = LocalStore(store_path(tmp_path))
    opts = SyncOptions(**{"batch_blocks": 45, "commit_every_blocks": 45, **options})
    with HttpClient(server.url, policy=policy, deadline_s=deadline_s) as client:
        return sync_chain(
            MempoolReader(client),
            lambda: store.node_writer("mempool"),
            options=opts,
            clock=lambda: SYNCED_AT,
            deadline_s=deadline_s,
        )


def stored(tmp_path: Path) -> list[tuple[int, str, int, int, int, int, int]]:
    """Every stored block as (height, hash, time, bits, subsidy, fees, txs), by plain SQL."""
    with sqlite3.connect(store_path(tmp_path)) as conn:
        rows = conn.execute(
            "SELECT height, lower(hex(hash)), time_s, bits, subsidy_sats, fees_sats, tx_count "
            "FROM mempool_blocks ORDER BY height"
        ).fetchall()
    conn.close()
    return rows


def served(blocks: list[dict[str, Any]]) -> list[tuple[int, str, int, int, int, int, int]]:
    return [
        (
            b["height"],
            b["id"],
            b["timestamp"],
            b["bits"],
            b["extras"]["reward"] - b["extras"]["totalFees"],
            b["extras"]["totalFees"],
            b["tx_count"],
        )
        for b in blocks
    ]


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HASHMARKET_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "hashmarket", *args],
        capture_output=True,
        text=True,
        env={**environment, **env},
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == SourceError.exit_code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def by_day(blocks: list[dict[str, Any]]) -> dict[dt.date, list[dict[str, Any]]]:
    days: dict[dt.date, list[dict[str, Any]]] = defaultdict(list)
    for b in blocks:
        days[dt.datetime.fromtimestamp(b["timestamp"], dt.UTC).date()].append(b)
    return days


# -- syncing -----------------------------------------------------------------------------------


def test_sync_stores_every_block_and_the_daily_fees_and_subsidy(tmp_path: Path) -> None:
    with MempoolServer() as server:
        result = sync(server, tmp_path, start_height=FIRST)
        blocks = server.chain()
        assert any(ua.startswith("hashmarket/") and "(+https://" in ua for ua in server.user_agents)
    assert result.complete and result.fetched == 330 and result.chain == "main"
    assert (result.first_height, result.tip_height) == (FIRST, 925_229)
    assert result.tip_hash == blocks[-1]["id"]
    rows = stored(tmp_path)
    assert rows == served(blocks)
    # reward - totalFees is the consensus subsidy of the fourth halving era in every block.
    assert {r[4] for r in rows} == {SUBSIDY_SATS}
    assert {r[3] for r in rows} == {BITS}

    # Two UTC days are fully covered (blocks from 2025-11-20 21:00 to 2025-11-23 02:33).
    frames = {f.info.name: f.frame for f in LocalStore(store_path(tmp_path)).source_frames()}
    daily = frames["mempool"]
    assert [ts.date() for ts in daily.index] == [dt.date(2025, 11, 21), dt.date(2025, 11, 22)]
    for day, day_blocks in by_day(blocks).items():
        if day not in (dt.date(2025, 11, 21), dt.date(2025, 11, 22)):
            continue
        row = daily.loc[str(day)]
        assert row["block_count"] == len(day_blocks)
        assert row["fees_btc"] * 1e8 == pytest.approx(
            sum(b["extras"]["totalFees"] for b in day_blocks), abs=1e-3
        )
        assert row["subsidy_btc"] == 3.125
        assert row["difficulty"] == 152_271_405_447_597.38


def test_hashprice_of_a_synced_day_by_hand(tmp_path: Path) -> None:
    """Blocks from mempool and the day's close give the hashprice; computed here by hand."""
    with MempoolServer() as server:
        sync(server, tmp_path, start_height=FIRST)
        day_blocks = by_day(server.chain())[dt.date(2025, 11, 21)]
    close_usd = 85_074.0
    LocalStore(store_path(tmp_path)).prices("bitstamp_api").store_prices(
        [(dt.date(2025, 11, 21), close_usd)], url="http://test", synced_at=SYNCED_AT
    )
    history = NetworkHistory.load(data_dir=tmp_path / "data")
    assert history.provenance.loc["2025-11-21", "fees_btc"] == "mempool"
    assert history.provenance.loc["2025-11-21", "price_usd"] == "bitstamp_api"
    row = hashprice_table(history).loc["2025-11-21"]

    n = len(day_blocks)
    fees_sats = sum(b["extras"]["totalFees"] for b in day_blocks)
    difficulty = bits_to_difficulty(BITS)
    # 1 PH/s for a day finds 1e15 · 86,400 / (difficulty · 2^32) blocks, each paying the
    # subsidy plus the day's mean fee per block.
    reward_btc = 3.125 + fees_sats / n / 1e8
    by_hand_btc = 1e15 * 86_400 / (difficulty * 2**32) * reward_btc
    assert row["hashprice_btc_per_ph_day"] == pytest.approx(by_hand_btc, rel=1e-12)
    assert row["hashprice_usd_per_ph_day"] == pytest.approx(by_hand_btc * close_usd, rel=1e-12)
    assert 30 < row["hashprice_usd_per_ph_day"] < 40  # the late-2025 level, about $36/PH/day


def test_second_run_fetches_only_new_blocks(tmp_path: Path) -> None:
    with MempoolServer(tip=925_100) as server:
        assert sync(server, tmp_path, start_height=FIRST).fetched == 201
        server.reset()
        again = sync(server, tmp_path)
        assert again.fetched == 0 and again.complete
        # The chain (genesis), the tip's height and hash; the stored tip is the tip: no more.
        assert server.paths() == [
            "/api/block-height/0",
            "/api/blocks/tip/height",
            "/api/blocks/tip/hash",
        ]
        server.tip = 925_229
        server.reset()
        more = sync(server, tmp_path)
        assert more.fetched == 129
        pages = server.paths("/api/v1/blocks/")
        assert len(pages) == 9  # ceil(129 / 15)
        assert min(int(p.rsplit("/", 1)[1]) for p in pages) == 925_101 + 14
        assert server.paths("/api/block-height/925100") == ["/api/block-height/925100"]
        blocks = server.chain()
    assert stored(tmp_path) == served(blocks)


def test_a_reorganisation_is_rolled_back_and_replaced(tmp_path: Path) -> None:
    with MempoolServer() as server:
        sync(server, tmp_path, start_height=FIRST)
        old_tip = server.chain()[-1]
        server.reorg()
        assert server.chain()[-1]["id"] != old_tip["id"]
        result = sync(server, tmp_path)
        blocks = server.chain()
    assert result.rolled_back == 3
    assert result.fork_height == 925_226
    assert result.fetched == 5
    assert result.tip_height == 925_231
    assert stored(tmp_path) == served(blocks)
    hashes = [r[1] for r in stored(tmp_path)]
    assert old_tip["id"] not in hashes


def test_a_deadline_stops_the_sync_and_the_next_run_continues(tmp_path: Path) -> None:
    with MempoolServer() as server:
        stopped = sync(server, tmp_path, start_height=FIRST, deadline_s=time.monotonic())
        assert not stopped.complete and stopped.fetched == 0
        done = sync(server, tmp_path, start_height=FIRST)
        assert done.complete and done.fetched == 330


# -- a polite client -----------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured(tmp_path: Path) -> None:
    with MempoolServer() as server:
        server.fail("/api/v1/blocks/", status=429, headers={"Retry-After": "1"})
        started = time.monotonic()
        result = sync(server, tmp_path, start_height=925_200)
        waited = time.monotonic() - started
        pages = server.paths("/api/v1/blocks/")
        blocks = server.chain()
    assert result.fetched == 30
    assert waited >= 1.0  # told to wait a second, so it did (the backoff alone is ≤ 0.2 s)
    assert len(pages) == 3  # two pages, one of them asked twice
    assert stored(tmp_path) == served([b for b in blocks if b["height"] >= 925_200])


def test_500_then_success(tmp_path: Path) -> None:
    with MempoolServer() as server:
        server.fail("/api/blocks/tip/height", status=500)
        result = sync(server, tmp_path, start_height=925_200)
        assert server.paths("/api/blocks/tip/height") == ["/api/blocks/tip/height"] * 2
    assert result.fetched == 30


def test_a_slow_reply_is_retried_and_then_reported(tmp_path: Path) -> None:
    slow = HttpPolicy(timeout_s=0.3, attempts=2, backoff_base_s=0.05, backoff_cap_s=0.1)
    with MempoolServer() as server:
        server.fail("/api/v1/blocks/", delay_s=1.0)
        assert sync(server, tmp_path, policy=slow, start_height=925_200).fetched == 30

        server.fail("/api/blocks/tip/height", delay_s=1.0)
        server.fail("/api/blocks/tip/height", delay_s=1.0)
        with pytest.raises(SourceError) as timed_out:
            sync(server, tmp_path, policy=slow)
    assert timed_out.value.key == "http_timeout"
    assert str(timed_out.value) == (
        f"no reply from {server.url}/api/blocks/tip/height within 0.3 s (tried 2 times)"
    )


def test_truncated_json_is_a_clear_error_and_nothing_is_half_written(tmp_path: Path) -> None:
    with MempoolServer() as server:
        # Pages go out three at a time; one page of the second batch comes back cut short.
        args = ["data", "sync", "--source", "mempool", "--url", server.url]
        args += ["--start-height", str(FIRST)]
        server.fail(f"/api/v1/blocks/{FIRST + 59}", truncate=True)
        result = run_cli(tmp_path, *args)
        assert_one_line_error(
            result,
            f"{server.url}/api/v1/blocks/{FIRST + 59}: the reply is not valid JSON",
            "truncated",
        )
        # The first batch of 45 blocks was committed; nothing of the second.
        assert stored(tmp_path) == served(server.chain()[:45])

        server.reset()
        resumed = run_cli(tmp_path, *args)
        assert resumed.returncode == 0, resumed.stderr
        assert "285 new blocks" in resumed.stdout
        assert len(server.paths("/api/v1/blocks/")) == 19  # ceil(285 / 15)
        blocks = server.chain()
    assert stored(tmp_path) == served(blocks)


def test_offline_is_one_line_and_exit_69(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = run_cli(
        tmp_path, "data", "sync", "--source", "mempool", "--url", url, "--attempts", "2"
    )
    assert_one_line_error(result, f"cannot reach {url}: connection refused")
    assert not store_path(tmp_path).exists()


def test_a_test_network_instance_is_refused(tmp_path: Path) -> None:
    with MempoolServer() as server:
        original = server.route

        def testnet(path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
            if path == "/api/block-height/0":
                signet = "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6"
                return 200, "text/plain", signet.encode()
            return original(path, query)

        server.route = testnet  # type: ignore[method-assign]
        with pytest.raises(SourceError) as refused:
            sync(server, tmp_path)
    assert str(refused.value) == (
        f"{server.url} serves chain 'signet', expected 'main' (--allow-chain accepts it)"
    )
    assert not store_path(tmp_path).exists()
