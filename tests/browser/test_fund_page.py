"""The Fund page in a real browser against a real server: the example fund's NAV chart,
its KPIs and daily table, from a ledger where the fund was launched, dealt and struck."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.browser.test_dashboard import (  # skips this module too when Chromium is missing
    browser,  # noqa: F401  (the fixture)
    chart_screenshot,
    enter_key,
    free_port,
    points_drawn,
    wait_for_chart,
)
from tests.integration.test_api_fund import example_fund_ledger


@pytest.fixture(scope="module")
def fund_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from hashmarket.api.keys import Role, ServiceStore

    data_dir = tmp_path_factory.mktemp("fund-page")
    ledger, _ = example_fund_ledger(f"sqlite:///{data_dir / 'ledger.sqlite'}")
    ledger.close()
    _, key = ServiceStore.in_data_dir(data_dir).create_key(Role.VIEWER)
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
                with urllib.request.urlopen(f"{url}/fund", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"the server did not start:\n{output}")
                time.sleep(0.3)
        yield url, key
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_fund_page_draws_the_nav(
    fund_server: tuple[str, str],
    browser: webdriver.Chrome,  # noqa: F811
) -> None:
    url, key = fund_server
    enter_key(browser, url, key)
    browser.get(f"{url}/fund")
    wait_for_chart(browser, "chart-fund")
    rows = browser.find_elements(By.CSS_SELECTOR, "#table-fund tbody tr")
    days = [r.find_element(By.CSS_SELECTOR, "td").text for r in rows]
    # The report runs to the last bundled fixing whose cut has passed: every day from the
    # launch (5 January 2025); the first five hold the dealing of the example ledger.
    assert days[:5] == [f"2025-01-0{d}" for d in range(5, 10)]
    shares = [r.find_elements(By.CSS_SELECTOR, "td")[1].text for r in rows[:5]]
    assert shares == ["0", "2,000", "2,000", "1,000", "1,000"]
    # NAV from the first day with shares, the four illustrative prices, the index every day.
    n = len(days)
    assert points_drawn(browser, "chart-fund") == 2 * n + 4  # NAV and index daily, 4 prices
    premium = browser.find_element(By.ID, "kpi-premium").text
    assert premium.endswith("%") and browser.find_element(By.ID, "kpi-premium-day").text == (
        "on 2025-01-09"
    )
    assert browser.find_element(By.ID, "kpi-te").text.endswith("%")
    traces = browser.execute_script(
        "return document.getElementById('chart-fund').data.map((t) => t.name)"
    )
    assert traces == [
        "NAV (sats a share)",
        "secondary price (illustrative)",
        "hashprice index (BTC/PH/day)",
    ]
    chart_screenshot(browser, "chart-fund", "fund")
