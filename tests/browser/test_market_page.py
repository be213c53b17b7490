"""The Market page in a real browser against a real server: orders placed through the HTTP API
appear in the ladder, a trade on the tape, and the depth chart follows, from the WebSocket."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import screenshot
from tests.browser.test_dashboard import (  # skips this module too when Chromium is missing
    browser,  # noqa: F401  (the fixture)
    enter_key,
    free_port,
)

BUYER, SELLER = 1001, 1002
_idem = itertools.count(1)


@pytest.fixture(scope="module")
def market_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    from hashmarket.api.keys import Role, ServiceStore
    from hashmarket.ledger import Account, Asset, Ledger, Transfer

    data_dir = tmp_path_factory.mktemp("market-page")
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="BTC issuer")
        ledger.create_asset(Asset("USD", 2), issuer_account_id=2, name="USD issuer")
        for account in (BUYER, SELLER):
            ledger.create_account(Account(account, "BTC"))
        ledger.transfer(Transfer(1, 1, BUYER, 1_000_000))
    store = ServiceStore.in_data_dir(data_dir)
    keys = {
        "viewer": store.create_key(Role.VIEWER)[1],
        "buyer": store.create_key(Role.TRADER, account=str(BUYER))[1],
        "seller": store.create_key(Role.TRADER, account=str(SELLER))[1],
    }
    port = free_port()
    command = [sys.executable, "-m", "hashmarket", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--data-dir", str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/market", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"the server did not start:\n{output}")
                time.sleep(0.3)
        yield url, keys
    finally:
        process.terminate()
        process.wait(timeout=20)


def post(url: str, path: str, key: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{url}/api/v1/market{path}",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {key}",
            "Idempotency-Key": f"page-{next(_idem)}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def rows(driver: webdriver.Chrome, table: str) -> list[list[str]]:
    """The table's body rows as cell texts, read in one script (the page redraws the rows on
    every feed frame, so element handles would go stale between reads)."""
    script = (
        "return [...document.querySelectorAll(`#${arguments[0]} tbody tr[data-price]`)]"
        ".map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent))"
    )
    found: list[list[str]] = driver.execute_script(script, table)
    return found


def ladder(driver: webdriver.Chrome) -> list[tuple[str, ...]]:
    return [tuple(r[:3]) for r in rows(driver, "ladder")]


def test_ladder_and_tape_follow_orders(
    market_server: tuple[str, dict[str, str]],
    browser: webdriver.Chrome,  # noqa: F811
) -> None:
    url, keys = market_server
    enter_key(browser, url, keys["viewer"])
    browser.get(f"{url}/market")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: "live" in d.find_element(By.ID, "feed-status").text)
    assert ladder(browser) == []

    post(url, "/capacity", keys["seller"], {"account_id": SELLER, "hashrate_ths": 10_000})
    for price, size in ((50_100, 300), (50_200, 500)):
        body = {"account_id": SELLER, "market": "HASHPOWER", "side": "sell", "size": size,
                "price": price}  # fmt: skip
        post(url, "/orders", keys["seller"], body)
    bid = {"account_id": BUYER, "market": "HASHPOWER", "side": "buy", "size": 200,
           "price": 49_900, "budget_sats": 100_000, "duration_s": 3_600}  # fmt: skip
    post(url, "/orders", keys["buyer"], bid)
    wait.until(lambda d: len(ladder(d)) == 3)
    assert ladder(browser) == [
        ("ask", "50,200", "500"),
        ("ask", "50,100", "300"),
        ("bid", "49,900", "200"),
    ]
    # The buyer lifts part of the best ask: a trade on the tape, the level shrinks.
    post(url, "/orders", keys["buyer"], dict(bid, price=50_100, size=100))
    wait.until(lambda d: rows(d, "tape"))
    ((_, *trade),) = rows(browser, "tape")
    assert trade == ["50,100", "100", "buy"]
    wait.until(lambda d: ("ask", "50,100", "200") in ladder(d))
    # The depth chart holds both sides: two ask levels and one bid level.
    depth = browser.execute_script(
        "const gd = document.getElementById('chart-depth');"
        "return gd.data.map((t) => [t.name, t.x, t.y]);"
    )
    assert depth == [["Bids", [49_900], [200]], ["Asks", [50_100, 50_200], [200, 700]]]
    status = browser.find_element(By.ID, "feed-status")
    assert int(status.get_attribute("data-seq") or 0) >= 5  # 4 book changes and a trade
    assert not browser.find_elements(By.CSS_SELECTOR, "main > p.error")
    screenshot(browser, "market")
    # The markets the exchange lists are offered beside hashpower.
    options = browser.find_elements(By.CSS_SELECTOR, "#market-select option")
    assert "HPF-2027-01" in [o.get_attribute("value") for o in options]


def test_market_page_is_in_the_navigation(
    market_server: tuple[str, dict[str, str]],
    browser: webdriver.Chrome,  # noqa: F811
) -> None:
    url, _ = market_server
    browser.get(f"{url}/")
    script = "return [...document.querySelectorAll('header nav a')].map((a) => a.textContent)"
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(script))
    assert "Market" in browser.execute_script(script)
    with urllib.request.urlopen(f"{url}/market", timeout=30) as response:
        page = response.read().decode()
    assert '<a href="/market" class="active" aria-current="page">Market</a>' in page
