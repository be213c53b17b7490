"""The dashboard in a real browser: Debian's Chromium, driven by Selenium, against the real
server started on 127.0.0.1. The browser resolves no host name, so every page is shown to work
with no network. Screenshots are saved as test artefacts (and on every failure)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import screenshot

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
        # No network: every name but the loopback server fails to resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
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


def chart_screenshot(driver: webdriver.Chrome, element_id: str, name: str) -> None:
    """The card holding a chart, scrolled into view, as its own image."""
    card = driver.find_element(By.ID, element_id).find_element(By.XPATH, "./ancestor::section[1]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", card)
    path = screenshot(driver, name)
    card.screenshot(str(path.with_name(f"{name}-chart.png")))


def loaded_from_elsewhere(driver: webdriver.Chrome, server: str) -> list[str]:
    """Resources the page loaded (or tried to) from anywhere but the server."""
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    return [n for n in names if not n.startswith(server + "/")]


def blocked_by_policy(driver: webdriver.Chrome) -> set[str]:
    """URLs the page's Content-Security-Policy kept the browser from fetching, from the
    console messages logged since the last call."""
    import re

    pattern = r"'(https?://[^']+)'.* Content Security Policy"
    return {m[1] for e in driver.get_log("browser") if (m := re.search(pattern, e["message"]))}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def axis_ranges(driver: webdriver.Chrome) -> dict[str, list[Any]]:
    script = (
        "const l = document.getElementById('chart-hashprice').layout;"
        "return {x: l.xaxis.range, y: l.yaxis.range, y2: l.yaxis2.range};"
    )
    return dict(driver.execute_script(script))


def visible_extremes(series: dict, x0: str, x1: str) -> tuple[float, float]:
    """Lowest and highest USD value (daily and 30-day average) in the window [x0, x1]."""
    values = [
        v
        for column in ("hashprice_usd_per_ph_day", "hashprice_usd_per_ph_day_30d")
        for d, v in zip(series["dates"], series[column], strict=True)
        if v is not None and x0 <= d <= x1
    ]
    return min(values), max(values)


def assert_y_fits(driver: webdriver.Chrome, series: dict) -> tuple[float, float]:
    """The USD axis (log) holds every visible value with no more than a small margin."""
    ranges = axis_ranges(driver)
    x0, x1 = (str(x)[:10] for x in ranges["x"])
    low, high = visible_extremes(series, x0, x1)
    y0, y1 = (10 ** float(v) for v in ranges["y"])
    assert y0 <= low and high <= y1, (y0, y1, low, high)
    margin = (high / low) ** 0.1 * 1.03  # 4 % of the decades shown, at least 0.01 decade
    assert y0 >= low / margin and y1 <= high * margin, (y0, y1, low, high)
    return y0, y1


def click_range_button(driver: webdriver.Chrome, label: str) -> None:
    before = axis_ranges(driver)
    buttons = driver.find_elements(By.CSS_SELECTOR, "#chart-hashprice .rangeselector .button")
    button = next(b for b in buttons if b.text == label)
    webdriver.ActionChains(driver).move_to_element(button).click().perform()
    WebDriverWait(driver, 10).until(lambda d: axis_ranges(d) != before)


def tick_labels_overlap(driver: webdriver.Chrome, axis: str) -> list[str]:
    """Pairs of tick labels on an axis whose boxes intersect (none, on a readable axis)."""
    script = """
      const boxes = [...document.querySelectorAll(`#chart-hashprice .${arguments[0]}tick text`)]
        .map((t) => [t.textContent, t.getBoundingClientRect()]);
      const clash = [];
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const [a, r] = boxes[i], [b, q] = boxes[j];
        const meet = r.left < q.right && q.left < r.right && r.top < q.bottom && q.top < r.bottom;
        if (meet) clash.push(a + "|" + b);
      }
      return clash;"""
    return list(driver.execute_script(script, axis))


def tick_texts(driver: webdriver.Chrome, axis: str) -> list[str]:
    script = (
        "return [...document.querySelectorAll(`#chart-hashprice .${arguments[0]}tick text`)]"
        ".map((t) => t.textContent);"
    )
    return list(driver.execute_script(script, axis))


def unround_ticks(labels: list[str]) -> list[str]:
    """Tick labels that are not a round number ($40, 200k, $1.5M): more than two significant
    digits, or not a number with an optional dollar sign and thousands suffix."""
    import re

    bad = []
    for label in labels:
        match = re.fullmatch(r"\$?(\d+(?:\.\d+)?)[kMBT]?", label.replace(",", ""))
        if match is None or len(match.group(1).replace(".", "").strip("0")) > 2:
            bad.append(label)
    return bad


def test_hashprice_page_draws_the_history(server: str, browser: webdriver.Chrome) -> None:
    browser.get(f"{server}/")
    wait_for_chart(browser, "chart-hashprice")
    assert points_drawn(browser, "chart-hashprice") > 10_000  # three traces over ~5,000 days
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-hashprice .scatterlayer .trace")
    usd = browser.find_element(By.ID, "kpi-usd").text
    assert float(usd.replace(",", "")) > 0
    rows = browser.find_elements(By.CSS_SELECTOR, "#table-latest tbody tr")
    assert len(rows) == 30
    assert loaded_from_elsewhere(browser, server) == []
    screenshot(browser, "hashprice")


def test_every_page_names_the_services_asof_date(server: str, browser: webdriver.Chrome) -> None:
    """The banner and the latest tiles show the one as-of date of ``/api/v1/asof``; data more
    than a week old says so, with the command that brings it up to date."""
    with urllib.request.urlopen(f"{server}/api/v1/asof", timeout=30) as response:
        asof = json.load(response)
    for path in ("/", "/curve", "/miner"):
        browser.get(f"{server}{path}")
        WebDriverWait(browser, 30).until(
            lambda b: b.find_element(By.ID, "asof-banner").text.startswith("Data as of")
        )
        banner = browser.find_element(By.ID, "asof-banner").text
        assert banner.startswith(f"Data as of {asof['asof']}")
        assert f"price to {asof['coverage']['price_usd']['last']}" in banner
        assert ("days old): run `hashmarket data sync`" in banner) is asof["stale"]
    browser.get(f"{server}/")
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "kpi-date").text)
    assert browser.find_element(By.ID, "kpi-date").text.startswith(asof["asof"])


def test_hashprice_chart_opens_on_two_years_and_fits_the_y_axis(
    server: str, browser: webdriver.Chrome
) -> None:
    series = get_json(f"{server}/api/v1/index/hashprice/series")
    assert isinstance(series, dict)
    last = dt.date.fromisoformat(series["dates"][-1])
    browser.get(f"{server}/")
    wait_for_chart(browser, "chart-hashprice")
    x0, x1 = (str(x)[:10] for x in axis_ranges(browser)["x"])
    assert (x0, x1) == (last.replace(year=last.year - 2).isoformat(), last.isoformat())
    two_years = assert_y_fits(browser, series)
    # Ticks: dollars on the USD axis, sats on the other, dates as months or years, none crowded.
    usd_ticks, date_ticks = tick_texts(browser, "y"), tick_texts(browser, "x")
    assert usd_ticks and all(t.startswith("$") for t in usd_ticks), usd_ticks
    assert 3 <= len(date_ticks) <= 12, date_ticks
    # Plotly names the year under its first month shown: "Jan 2024", then "Apr", "Jul"…
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    assert all(t[:3] in months for t in date_ticks), date_ticks
    assert any(str(last.year - 1) in t for t in date_ticks), date_ticks
    for axis in ("x", "y", "y2"):
        assert tick_labels_overlap(browser, axis) == [], axis
    for axis in ("y", "y2"):
        assert unround_ticks(tick_texts(browser, axis)) == [], axis
    chart_screenshot(browser, "chart-hashprice", "hashprice-2y")

    click_range_button(browser, "all")
    everything = assert_y_fits(browser, series)
    assert everything[1] > 100 * two_years[1]  # the early years reach far higher
    assert tick_labels_overlap(browser, "y") == []
    chart_screenshot(browser, "chart-hashprice", "hashprice-all")

    click_range_button(browser, "6m")
    x0, x1 = (str(x)[:10] for x in axis_ranges(browser)["x"])
    assert dt.date.fromisoformat(x1) - dt.date.fromisoformat(x0) < dt.timedelta(days=190)
    assert_y_fits(browser, series)

    # A drag across the plot zooms the dates (the y-axes are fixed) and rescales the y-axes.
    click_range_button(browser, "all")
    before = axis_ranges(browser)
    plot = browser.find_element(By.CSS_SELECTOR, "#chart-hashprice .nsewdrag")
    width = plot.size["width"]
    (
        webdriver.ActionChains(browser)
        .move_to_element_with_offset(plot, width // 4, 0)
        .click_and_hold()
        .move_by_offset(width // 8, 10)
        .move_by_offset(width // 8, 0)
        .release()
        .perform()
    )
    WebDriverWait(browser, 10).until(lambda d: axis_ranges(d)["y"] != before["y"])
    start, end = (dt.date.fromisoformat(str(x)[:10]) for x in axis_ranges(browser)["x"])
    assert dt.timedelta(days=365) < end - start < dt.timedelta(days=5 * 365), (start, end)
    assert_y_fits(browser, series)


def test_hashprice_page_on_a_phone(server: str, browser: webdriver.Chrome) -> None:
    series = get_json(f"{server}/api/v1/index/hashprice/series")
    browser.set_window_size(390, 844)
    try:
        browser.get(f"{server}/")
        wait_for_chart(browser, "chart-hashprice")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390 + 1, "the page scrolls sideways on a phone"
        assert_y_fits(browser, series)
        for axis in ("x", "y", "y2"):
            assert tick_labels_overlap(browser, axis) == [], axis
        assert len(tick_texts(browser, "x")) <= 6
        for axis in ("y", "y2"):
            assert unround_ticks(tick_texts(browser, axis)) == [], axis
        screenshot(browser, "hashprice-phone")
        chart_screenshot(browser, "chart-hashprice", "hashprice-phone")
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
    # The one paid day reads as a day: a bar on a date axis two weeks wide, labelled in January.
    script = (
        "const gd = document.getElementById('chart-tokens');"
        "return {x: gd.layout.xaxis.range, barmode: gd.layout.barmode,"
        " bar: document.querySelector('#chart-tokens .bars .point path').getBBox().width,"
        " plot: gd._fullLayout._size.w};"
    )
    chart = browser.execute_script(script)
    start, end = (dt.date.fromisoformat(str(x)[:10]) for x in chart["x"])
    assert start < dt.date(2025, 1, 10) < end
    assert end - start >= dt.timedelta(days=14)
    assert chart["barmode"] == "stack"
    assert 0 < chart["bar"] < chart["plot"] / 10
    labels = browser.execute_script(
        "return [...document.querySelectorAll('#chart-tokens .xtick text')].map(t => t.textContent)"
    )
    assert any("Jan" in t for t in labels), labels
    chart_screenshot(browser, "chart-tokens", "tokens")


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


def test_a_long_request_shows_a_spinner_and_can_be_cancelled(
    server: str, browser: webdriver.Chrome, prepared: tuple[Path, str]
) -> None:
    """Requests are held back by the browser's network emulation, so the spinner is seen for
    as long as the test needs whatever the machine's speed; Cancel aborts the fetch."""
    enter_key(browser, server, prepared[1])
    browser.get(f"{server}/miner")
    wait_for_chart(browser, "chart-miner")
    browser.execute_cdp_cmd("Network.enable", {})
    slow = {"offline": False, "latency": 20_000, "downloadThroughput": -1, "uploadThroughput": -1}
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", slow)
    try:
        run = browser.find_element(By.ID, "hedge-run")
        run.click()
        busy = WebDriverWait(browser, 10).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "#hedge-busy .busy")
        )
        assert not run.is_enabled()
        elapsed = busy.find_element(By.CLASS_NAME, "busy-time")
        WebDriverWait(browser, 10).until(lambda d: elapsed.text not in ("", "0.0 s"))
        assert elapsed.text.endswith(" s")
        chart_screenshot(browser, "hedge-busy", "hedge-busy")
        busy.find_element(By.CSS_SELECTOR, "button.cancel").click()
        WebDriverWait(browser, 5).until(
            lambda d: not d.find_elements(By.CSS_SELECTOR, "#hedge-busy .busy")
        )
        assert run.is_enabled()
        assert browser.find_element(By.ID, "hedge-note").text.startswith("Cancelled")
        assert browser.find_element(By.ID, "chart-hedge").get_attribute("data-drawn") is None
        assert not browser.find_elements(By.CSS_SELECTOR, "main > p.error")
    finally:
        fast = dict(slow, latency=0)
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", fast)
        browser.execute_cdp_cmd("Network.disable", {})


def openapi_operations(server: str) -> int:
    methods = {"get", "post", "put", "patch", "delete"}
    paths = get_json(f"{server}/openapi.json")["paths"]
    return sum(1 for ops in paths.values() for m in ops if m in methods)


def test_swagger_ui_renders_every_operation_offline(server: str, browser: webdriver.Chrome) -> None:
    operations = openapi_operations(server)
    browser.get(f"{server}/docs")
    WebDriverWait(browser, 60).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= operations
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) == operations
    summaries = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")]
    assert "/api/v1/index/hashprice" in summaries
    assert loaded_from_elsewhere(browser, server) == []
    screenshot(browser, "docs-swagger")


def test_redoc_renders_every_operation_offline(server: str, browser: webdriver.Chrome) -> None:
    operations = openapi_operations(server)
    browser.get(f"{server}/redoc")
    # ReDoc marks each operation's section (and its menu entry) with the operation's id.
    script = (
        "return new Set([...document.querySelectorAll(\"[data-section-id^='operation/']\")]"
        ".map((e) => e.dataset.sectionId)).size"
    )
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(script) >= operations)
    assert browser.execute_script(script) == operations
    assert "Hashmarket" in browser.find_element(By.TAG_NAME, "h1").text
    # ReDoc's sidebar asks for its vendor's logo; the page's policy stops the request.
    assert set(loaded_from_elsewhere(browser, server)) <= blocked_by_policy(browser)
    screenshot(browser, "docs-redoc")
