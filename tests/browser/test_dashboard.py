"""The dashboard in a real browser: Debian's Chromium, driven by Selenium, against the real
server started on 127.0.0.1. Screenshots are saved as test artefacts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI") == "true":
        pytest.fail("chromium and chromedriver are required when CI=true", pytrace=False)
    pytest.skip("Debian's chromium and chromium-driver are not installed", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data directory with a viewer key and a token series whose 2025-01-10 is paid."""
    import datetime as dt

    from hashmarket.api.keys import Role, ServiceStore
    from hashmarket.chain.history import NetworkHistory
    from hashmarket.index.fixings import day_fixings
    from hashmarket.ledger import tokens as tk
    from tests.conftest import open_token_ledger

    data_dir = tmp_path_factory.mktemp("dashboard")
    with open_token_ledger(f"sqlite:///{data_dir / 'ledger.sqlite'}") as ledger:
        rate = tk.DayRate.from_fixings(*day_fixings(NetworkHistory.load(), dt.date(2025, 1, 10)))
        tk.distribute(ledger, "HT1", rate)
    _, key = ServiceStore.in_data_dir(data_dir).create_key(Role.VIEWER)
    return data_dir, key


@pytest.fixture(scope="module")
def server(prepared: tuple[Path, str]) -> Iterator[str]:
    port = free_port()
    data_dir = prepared[0]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hashmarket",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v1/index/hashprice?last=1", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"the server did not start:\n{output}")
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_chart(driver: webdriver.Chrome, element_id: str) -> None:
    WebDriverWait(driver, 60).until(
        lambda d: (
            d.find_element(By.ID, element_id).get_attribute("data-drawn") == "true"
            or d.find_elements(By.CSS_SELECTOR, "main > p.error")
        )
    )
    errors = driver.find_elements(By.CSS_SELECTOR, "main > p.error")
    assert not errors, errors[0].text


def points_drawn(driver: webdriver.Chrome, element_id: str) -> int:
    """Data points Plotly holds for a chart (its traces' x arrays), read in the page."""
    script = (
        "return document.getElementById(arguments[0]).data"
        ".reduce((n, t) => n + (t.x || []).length, 0);"
    )
    return int(driver.execute_script(script, element_id))


def screenshot(driver: webdriver.Chrome, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_hashprice_page_draws_the_history(server: str, browser: webdriver.Chrome) -> None:
    browser.get(f"{server}/")
    wait_for_chart(browser, "chart-hashprice")
    assert points_drawn(browser, "chart-hashprice") > 10_000  # three traces over ~5,000 days
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-hashprice .scatterlayer .trace")
    usd = browser.find_element(By.ID, "kpi-usd").text
    assert float(usd.replace(",", "")) > 0
    rows = browser.find_elements(By.CSS_SELECTOR, "#table-latest tbody tr")
    assert len(rows) == 30
    screenshot(browser, "hashprice")


def test_hashprice_page_on_a_phone(server: str, browser: webdriver.Chrome) -> None:
    browser.set_window_size(390, 844)
    try:
        browser.get(f"{server}/")
        wait_for_chart(browser, "chart-hashprice")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390 + 1, "the page scrolls sideways on a phone"
        screenshot(browser, "hashprice-phone")
    finally:
        browser.set_window_size(1280, 900)


def test_miner_page_compares_breakeven_with_the_index(
    server: str, browser: webdriver.Chrome
) -> None:
    browser.get(f"{server}/miner")
    wait_for_chart(browser, "chart-miner")
    assert points_drawn(browser, "chart-miner") > 1000
    breakeven = float(browser.find_element(By.ID, "kpi-breakeven").text.replace(",", ""))
    # An S21 (17.5 J/TH) at $0.05/kWh, 2 % pool fee, 97 % uptime: 17.5·0.05·24 / 0.98 = $21.43.
    assert breakeven == pytest.approx(17.5 * 0.05 * 24 / 0.98, abs=0.01)
    screenshot(browser, "miner")


def test_dispatch_page_solves_the_example(server: str, browser: webdriver.Chrome) -> None:
    browser.get(f"{server}/dispatch")
    wait_for_chart(browser, "chart-dispatch")
    assert points_drawn(browser, "chart-dispatch") == 4 * 168
    policies = [
        r.text.split()[0]
        for r in browser.find_elements(By.CSS_SELECTOR, "#table-policies tbody tr")
    ]
    assert policies == ["optimal", "mine-only", "ai-only"]
    screenshot(browser, "dispatch")


def test_curve_page_draws_the_fan_chart(server: str, browser: webdriver.Chrome) -> None:
    browser.get(f"{server}/curve")
    wait_for_chart(browser, "chart-curve")
    assert points_drawn(browser, "chart-curve") == 4 * 12  # P95, P5, median, mean × 12 months
    rows = browser.find_elements(By.CSS_SELECTOR, "#table-curve tbody tr")
    assert len(rows) == 12
    p5, p50, p95 = (
        float(rows[5].find_elements(By.TAG_NAME, "td")[i].text.replace(",", "")) for i in (3, 4, 5)
    )
    assert p5 < p50 < p95
    screenshot(browser, "curve")


def price_in_form(browser: webdriver.Chrome, kind: str, engine: str) -> tuple[float, float]:
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "pricing-kind")).select_by_value(kind)
    Select(browser.find_element(By.NAME, "engine")).select_by_value(engine)
    result = browser.find_element(By.ID, "pricing-result")
    browser.execute_script("arguments[0].removeAttribute('data-value')", result)
    browser.find_element(By.ID, "pricing-submit").click()
    WebDriverWait(browser, 60).until(
        lambda d: (
            result.get_attribute("data-value") or "error" in (result.get_attribute("class") or "")
        )
    )
    assert "error" not in (result.get_attribute("class") or ""), result.text
    value, std_error = result.get_attribute("data-value"), result.get_attribute("data-std-error")
    assert value is not None
    assert std_error is not None
    return float(value), float(std_error)


def test_pricing_form_prices_a_forward_and_an_option(
    server: str, browser: webdriver.Chrome
) -> None:
    browser.get(f"{server}/pricing")
    try:
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "pricing-kind"))
    except Exception:
        screenshot(browser, "pricing-not-loaded")
        raise AssertionError(
            f"the pricing page did not load: {browser.page_source[:500]}"
        ) from None
    _, std_error = price_in_form(browser, "forward", "mc")
    assert std_error > 0
    assert "paths" in browser.find_element(By.ID, "pricing-result").text
    screenshot(browser, "pricing-forward")
    # The same European BTC put by Monte Carlo and in closed form agree within 4 standard errors.
    mc, mc_error = price_in_form(browser, "european_btc", "mc")
    closed, _ = price_in_form(browser, "european_btc", "analytic")
    assert abs(mc - closed) < 4 * mc_error
    screenshot(browser, "pricing-option")


def enter_key(browser: webdriver.Chrome, server: str, key: str) -> None:
    browser.get(f"{server}/")
    browser.execute_script("sessionStorage.setItem('hashmarket-api-key', arguments[0])", key)


def test_tokens_page_shows_the_series(
    server: str, browser: webdriver.Chrome, prepared: tuple[Path, str]
) -> None:
    enter_key(browser, server, prepared[1])
    browser.get(f"{server}/tokens")
    wait_for_chart(browser, "chart-tokens")
    assert browser.find_element(By.ID, "kpi-supply").text == "850"
    assert browser.find_element(By.ID, "kpi-holders").text == "2"
    rows = browser.find_elements(By.CSS_SELECTOR, "#table-holders tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows] == ["201", "202"]
    assert points_drawn(browser, "chart-tokens") == 2  # one day, two bars
    screenshot(browser, "tokens")


def test_miner_page_plans_a_hedge(
    server: str, browser: webdriver.Chrome, prepared: tuple[Path, str]
) -> None:
    enter_key(browser, server, prepared[1])
    browser.get(f"{server}/miner")
    wait_for_chart(browser, "chart-miner")
    browser.find_element(By.ID, "hedge-run").click()
    WebDriverWait(browser, 120).until(
        lambda d: d.find_element(By.ID, "chart-hedge").get_attribute("data-drawn") == "true"
    )
    assert "P(costs not covered)" in browser.find_element(By.ID, "hedge-note").text
    assert (
        points_drawn(browser, "chart-hedge") == 7 * 12
    )  # two bands of three traces and the zero line
    screenshot(browser, "miner-hedge")
