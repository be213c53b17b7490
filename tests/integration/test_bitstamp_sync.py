"""Syncing the daily BTC/USD close from a Bitstamp-like server over real HTTP.

The served candles (tests/fixtures/bitstamp) are days 2025-11-15 to 2025-11-30 whose closes
are the bundled Bitstamp closes of those days. Also: every configured source at once.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.chain.sources.bitstamp import daily_closes, sync_prices
from hashmarket.chain.sources.bundled import load_bitstamp
from hashmarket.chain.sources.http import HttpClient, HttpPolicy
from hashmarket.chain.store import LocalStore
from hashmarket.errors import SourceError
from tests.integration.fake_public_api import BitstampServer, MempoolServer, load_candles
from tests.integration.test_mempool_sync import (
    assert_one_line_error,
    closed_port,
    run_cli,
    store_path,
)

FAST = HttpPolicy(timeout_s=2.0, attempts=3, backoff_base_s=0.05, backoff_cap_s=0.2)
NOV_15_S = 1_763_164_800  # 2025-11-15T00:00:00Z


def prices(tmp_path: Path) -> list[tuple[str, float]]:
    with sqlite3.connect(store_path(tmp_path)) as conn:
        rows = conn.execute("SELECT date, price_usd FROM bitstamp_api_prices ORDER BY date")
        out = rows.fetchall()
    conn.close()
    return out


def starts(server: BitstampServer) -> list[int]:
    return [int(parse_qs(urlsplit(p).query)["start"][0]) for p in server.paths("/api/v2/ohlc")]


def test_daily_closes_are_stored_as_the_price_of_their_day(tmp_path: Path) -> None:
    with BitstampServer() as server:
        args = ["data", "sync", "--source", "bitstamp", "--url", server.url]
        result = run_cli(tmp_path, *args, "--start-date", "2025-11-15")
        assert result.returncode == 0, result.stderr
        assert "16 daily closes, 2025-11-15 to 2025-11-30" in result.stdout
        # The days after the last candle are asked for once more: the answer is empty.
        assert starts(server) == [NOV_15_S, NOV_15_S + 16 * 86_400]
        query = parse_qs(urlsplit(server.paths()[0]).query)
        assert query["step"] == ["86400"] and query["limit"] == ["1000"]
        assert query["exclude_current_candle"] == ["true"]

        # A second run asks only from the day after the last stored one.
        server.reset()
        again = run_cli(tmp_path, *args)
        assert again.returncode == 0, again.stderr
        assert "nothing new" in again.stdout
        assert starts(server) == [NOV_15_S + 16 * 86_400]
    rows = prices(tmp_path)
    assert len(rows) == 16
    assert rows[0] == ("2025-11-15", 95_561.0)
    assert dict(rows)["2025-11-21"] == 85_074.0

    # The close of day D is price_usd of day D, the convention of the bundled Bitstamp file:
    # the synced values agree with it, day for day, and take precedence over every bundled
    # price (Coin Metrics' reference rate among them) in the merged history.
    history = NetworkHistory.load(data_dir=tmp_path / "data")
    bundled_bitstamp = load_bitstamp().frame["price_usd"]
    for day, close in rows:
        assert history.frame.loc[day, "price_usd"] == close
        assert history.provenance.loc[day, "price_usd"] == "bitstamp_api"
        assert bundled_bitstamp.loc[day] == close


def test_candles_of_days_not_over_are_not_stored(tmp_path: Path) -> None:
    store = LocalStore(store_path(tmp_path))
    with BitstampServer() as server, HttpClient(server.url, policy=FAST) as client:
        result = sync_prices(
            client,
            store.prices("bitstamp_api"),
            start=dt.date(2025, 11, 15),
            clock=lambda: dt.datetime(2025, 11, 21, 18, 0, tzinfo=dt.UTC),
        )
    assert (result.first_date, result.last_date) == (dt.date(2025, 11, 15), dt.date(2025, 11, 20))
    assert prices(tmp_path)[-1] == ("2025-11-20", 86_586.0)


def test_a_bad_reply_stores_nothing(tmp_path: Path) -> None:
    with BitstampServer() as server:
        server.fail("/api/v2/ohlc/", truncate=True)
        args = ["data", "sync", "--source", "bitstamp", "--url", server.url]
        result = run_cli(tmp_path, *args, "--start-date", "2025-11-15")
        assert_one_line_error(result, "/api/v2/ohlc/btcusd/?step=86400", "not valid JSON")
        # A 429 then a 503: retried, then the candles.
        server.fail("/api/v2/ohlc/", status=429, headers={"Retry-After": "0"})
        server.fail("/api/v2/ohlc/", status=503)
        retried = run_cli(tmp_path, *args, "--start-date", "2025-11-15")
        assert retried.returncode == 0, retried.stderr
    assert len(prices(tmp_path)) == 16


def test_daily_closes_refuses_what_is_not_a_daily_candle() -> None:
    reply = load_candles()
    assert daily_closes(reply, "u")[0] == (dt.date(2025, 11, 15), 95_561.0)
    reply["data"]["ohlc"][1]["timestamp"] = str(NOV_15_S + 86_400 + 3_600)
    with pytest.raises(SourceError, match=r"data.ohlc\[1\]: timestamp 1763254800 is not the start"):
        daily_closes(reply, "u")
    reply = load_candles()
    del reply["data"]["ohlc"][2]["close"]
    with pytest.raises(SourceError, match=r"u: data.ohlc\[2\] has no 'close'"):
        daily_closes(reply, "u")
    with pytest.raises(SourceError, match=r"expected an object with data\.ohlc"):
        daily_closes({"code": "API0005", "reason": "Invalid request"}, "u")


def test_every_configured_source_at_once(tmp_path: Path) -> None:
    with MempoolServer() as mempool, BitstampServer() as bitstamp:
        env = {"HASHMARKET_MEMPOOL_URL": mempool.url, "HASHMARKET_BITSTAMP_URL": bitstamp.url}
        args = ["data", "sync", "--start-height", "925200", "--start-date", "2025-11-15"]
        result = run_cli(tmp_path, *args, "--format", "json", **env)
        assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["source"] for r in records] == ["mempool", "bitstamp"]
    assert records[0]["fetched"] == 30 and records[0]["tip_height"] == 925_229
    assert records[1]["fetched"] == 16
    with MempoolServer() as mempool, BitstampServer() as bitstamp:
        env = {"HASHMARKET_MEMPOOL_URL": mempool.url, "HASHMARKET_BITSTAMP_URL": bitstamp.url}
        again = run_cli(tmp_path, "data", "sync", "--format", "csv", **env)
    table = list(csv.DictReader(io.StringIO(again.stdout)))
    # One row per source, the columns of both; nothing new on the second run.
    assert [(r["source"], r["fetched"]) for r in table] == [("mempool", "0"), ("bitstamp", "0")]
    assert table[0]["tip_height"] == "925229" and table[1]["tip_height"] == ""
    info = json.loads(run_cli(tmp_path, "data", "info", "--format", "json").stdout)["store"]
    assert info["mempool"]["tip_height"] == 925_229
    assert info["bitstamp_api"]["last_date"] == "2025-11-30"


def test_offline_every_source_fails_on_one_line(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    env = {"HASHMARKET_MEMPOOL_URL": down, "HASHMARKET_BITSTAMP_URL": down}
    result = run_cli(tmp_path, "data", "sync", "--attempts", "1", **env)
    assert_one_line_error(result, f"cannot reach {down}: connection refused; cannot reach {down}")
    assert not store_path(tmp_path).exists()
    alone = run_cli(
        tmp_path, "data", "sync", "--source", "bitstamp", "--url", down, "--attempts", "2"
    )
    assert_one_line_error(alone, f"cannot reach {down}: connection refused")
