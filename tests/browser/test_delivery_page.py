"""The Delivery page in a real browser against a real server: a buyer's key sees its contract's
delivered against ordered speed, chart and table, and not another account's contract."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import screenshot
from tests.browser.test_dashboard import (  # skips this module too when Chromium is missing
    browser,  # noqa: F401  (the fixture)
    enter_key,
    free_port,
    wait_for_chart,
)
from tests.integration.test_api_delivery import write_log


@pytest.fixture(scope="module")
def delivery_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from hashmarket.api.keys import Role, ServiceStore
    from hashmarket.ledger import Asset, Ledger

    data_dir = tmp_path_factory.mktemp("delivery-page")
    with Ledger.open(f"sqlite:///{data_dir / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="BTC issuer")
    write_log(data_dir, "hp-1", 101, 202, [3, 1, 3, 2])
    write_log(data_dir, "hp-7", 101, 404, [4])
    write_log(data_dir, "hp-9", 303, 404, [2])  # not the buyer's: never listed
    _, key = ServiceStore.in_data_dir(data_dir).create_key(Role.VIEWER, account="101")
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
                with urllib.request.urlopen(f"{url}/delivery", timeout=5) as response:
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


def test_delivered_against_ordered_per_contract(
    delivery_server: tuple[str, str],
    browser: webdriver.Chrome,  # noqa: F811
) -> None:
    url, key = delivery_server
    enter_key(browser, url, key)
    browser.get(f"{url}/delivery")
    wait_for_chart(browser, "chart-delivery")
    options = browser.find_elements(By.CSS_SELECTOR, "#delivery-contract option")
    assert [o.text for o in options] == ["hp-1 (buyer)", "hp-7 (buyer)"]
    # 1 TH/s ordered; 3, 1, 3 and 2 shares of 2⁴⁸ hashes over 600 s each.
    assert browser.find_element(By.ID, "kpi-ordered").text == "1.0000"
    assert browser.find_element(By.ID, "kpi-ratio").text == f"{900 * 2**48 / 24e14:.1f}%"
    under = browser.find_element(By.ID, "kpi-under").text
    assert under == "under-delivered in 2 interval(s): 1, 3"
    rows = browser.find_elements(By.CSS_SELECTOR, "#table-intervals tbody tr")
    assert [r.get_attribute("data-index") for r in rows] == ["0", "1", "2", "3"]
    short = browser.find_elements(By.CSS_SELECTOR, "#table-intervals tbody tr.short")
    assert [r.get_attribute("data-index") for r in short] == ["1", "3"]
    traces = browser.execute_script(
        "return document.getElementById('chart-delivery').data.map((t) => [t.name, t.y]);"
    )
    named = {name: y for name, y in traces if name}
    assert named["delivered"] == pytest.approx([n * 2**48 / 1e12 / 600 for n in (3, 1, 3, 2)])
    assert named["ordered"] == [1, 1, 1, 1]
    screenshot(browser, "delivery")
    # The other contract of the same buyer, chosen in the select.
    Select(browser.find_element(By.ID, "delivery-contract")).select_by_value("hp-7")
    browser.implicitly_wait(0)
    for _ in range(100):
        if browser.find_element(By.ID, "kpi-under").text.startswith("no interval"):
            break
        time.sleep(0.1)
    assert browser.find_element(By.ID, "kpi-under").text == "no interval under the ordered speed"
    assert not browser.find_elements(By.CSS_SELECTOR, "main > p.error")
