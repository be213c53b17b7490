"""The fund's HTTP routes on a real ledger with the bundled fixings: the example, NAV, the
strike, a creation moving exactly its basket, the report, roles and bad input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.chain import NetworkHistory
from hashmarket.instruments import FundTerms, load_fund_spec
from hashmarket.ledger import Ledger, ManualClock, Transfer
from hashmarket.ledger import fund as fd
from hashmarket.ledger.clock import day_start_ns
from tests.conftest import BTC_ISSUER, open_token_ledger

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "examples" / "fund" / "fund.json"
PRICES_PATH = ROOT / "examples" / "fund" / "secondary_prices_illustrative.csv"
AP_SHARES, AP_TOKENS, AP_BTC = 600, 201, 301  # the AP holds 600 HT1 tokens (tests.conftest)


def _at(day: dt.date, minutes: int) -> int:
    return day_start_ns(day) + minutes * 60 * 10**9


def example_fund_ledger(url: str) -> tuple[Ledger, FundTerms]:
    """The README's token series HT1 with the example fund (examples/fund/fund.json)
    launched on 5 January 2025: 2 units created at the 5 January NAV, 1 redeemed at the
    7 January NAV, every day to 9 January struck on the bundled fixings; clock at 10 January
    00:30 (inside 9 January's dealing window)."""
    terms = load_fund_spec(SPEC_PATH)
    ledger = open_token_ledger(url)
    clock = ledger.clock
    assert isinstance(clock, ManualClock)
    clock.set(day_start_ns(dt.date(2025, 1, 4)))
    ledger.transfer(Transfer(9001, BTC_ISSUER, AP_BTC, 10**7))
    fd.open_fund(ledger, terms)
    fd.register_ap(ledger, terms, share_account_id=AP_SHARES, payout_account_id=AP_BTC)
    rates = fd.day_rates(NetworkHistory.load(), dt.date(2025, 1, 4), dt.date(2025, 1, 12))
    for offset in range(5):
        day = dt.date(2025, 1, 5) + dt.timedelta(days=offset)
        clock.set(_at(day + dt.timedelta(days=1), 10))
        previous = rates.get(day - dt.timedelta(days=1)) if day > terms.launch_day else None
        fd.strike(ledger, terms, rates[day], previous=previous)
        received = dt.datetime(day.year, day.month, day.day, 9, tzinfo=dt.UTC)
        if offset in (0, 2):
            side = fd.create_shares if offset == 0 else fd.redeem_shares
            units = 2 if offset == 0 else 1
            order = fd.Order(f"o{offset}", AP_SHARES, AP_TOKENS, AP_BTC, units, received)
            side(ledger, terms, order, rates[day])
    clock.set(_at(dt.date(2025, 1, 10), 30))
    return ledger, terms


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("api-fund")
    ledger, _ = example_fund_ledger(f"sqlite:///{data_dir / 'ledger.sqlite'}")
    store = ServiceStore.in_data_dir(data_dir)
    keys = {
        "issuer": store.create_key(Role.ISSUER)[1],
        "trader": store.create_key(Role.TRADER)[1],
        "viewer": store.create_key(Role.VIEWER)[1],
        "bound": store.create_key(Role.TRADER, account=str(AP_SHARES))[1],
    }
    app = create_app(ServiceConfig(data_dir=data_dir, rate_limit_per_s=1000, rate_limit_burst=1000))
    # The service's ledger on the test's manual clock (the service would open it on wall time).
    app.state.service._ledger = ledger
    return TestClient(app), keys


def call(client: TestClient, path: str, key: str, body: Any, idem: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return client.post(path, headers=headers, json=body)


def spec() -> dict[str, Any]:
    return dict(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


def test_the_example_is_the_shipped_spec_and_labelled(setup: Any) -> None:
    client, _ = setup
    example = client.get("/api/v1/fund/example").json()
    assert example["spec"] == spec()
    assert example["prices_csv"] == PRICES_PATH.read_text(encoding="utf-8")
    assert "not market data" in example["note"]


def test_strike_and_a_creation_move_exactly_the_basket(setup: Any) -> None:
    client, keys = setup
    body = {"spec": spec(), "day": "2025-01-09"}
    # Viewers read the NAV; striking takes the issue permission and an Idempotency-Key.
    nav = call(client, "/api/v1/fund/nav", keys["viewer"], body)
    assert nav.status_code == 200, nav.text
    assert call(client, "/api/v1/fund/strike", keys["viewer"], body, "s1").status_code == 403
    struck = call(client, "/api/v1/fund/strike", keys["issuer"], body, "s1")
    assert struck.status_code == 200 and struck.json() == nav.json()  # already struck
    n = nav.json()
    # NAV = (token units × mark + sats − fee) / shares, from the figures it reports.
    value = n["token_units"] * n["mark"]["mark_sats_per_token"] + n["btc_sats"] - n["fee_sats"]
    assert value == n["net_sats"] and n["shares"] == 1_000
    assert n["nav_sats_per_share"] == f"{n['net_sats'] / 1_000:.4f}"
    order = {
        "spec": spec(),
        "order_id": "api-1",
        "share_account_id": AP_SHARES,
        "token_account_id": AP_TOKENS,
        "btc_account_id": AP_BTC,
        "creation_units": 1,
        "received_at": "2025-01-09T15:59:00Z",
    }
    # A key bound to the AP's share account cannot move its token and BTC accounts.
    assert call(client, "/api/v1/fund/create-shares", keys["bound"], order, "c1").status_code == 403
    ledger: Ledger = client.app.state.service._ledger
    before = {a: ledger.account(a).balance for a in (AP_SHARES, AP_TOKENS, AP_BTC, 501, 502)}
    done = call(client, "/api/v1/fund/create-shares", keys["trader"], order, "c1")
    assert done.status_code == 200, done.text
    b = done.json()
    assert b["dealing_day"] == "2025-01-09" and b["shares"] == 1_000
    # All 1,000 shares outstanding again: the basket is the fund's holdings, one for one.
    assert b["token_units"] == n["token_units"]
    after = {a: ledger.account(a).balance for a in before}
    assert after[AP_SHARES] - before[AP_SHARES] == 1_000
    assert before[AP_TOKENS] - after[AP_TOKENS] == after[501] - before[501] == b["token_units"]
    assert before[AP_BTC] - after[AP_BTC] == after[502] - before[502] == b["cash_sats"]
    # The cash component: the NAV value of all 1,000 shares (the whole net, a whole number
    # of sats) less the tokens at the mark.
    mark = n["mark"]["mark_sats_per_token"]
    assert (
        b["cash_sats"] == n["net_sats"] - b["token_units"] * mark == n["btc_sats"] - n["fee_sats"]
    )
    late = dict(order, order_id="api-2", received_at="2025-01-09T16:00:00Z")
    refused = call(client, "/api/v1/fund/create-shares", keys["trader"], late, "c2")
    assert refused.status_code == 422
    assert "the day is not over" in refused.json()["detail"]


def test_report_with_the_illustrative_prices(setup: Any) -> None:
    client, keys = setup
    body = {
        "spec": spec(),
        "end": "2025-01-09",
        "prices_csv": PRICES_PATH.read_text(encoding="utf-8"),
        "window_days": 30,
    }
    out = call(client, "/api/v1/fund/report", keys["viewer"], body)
    assert out.status_code == 200, out.text
    days = out.json()["days"]
    assert [d["day"] for d in days] == [f"2025-01-0{i}" for i in range(5, 10)]
    assert [d["shares"] for d in days] == [0, 2_000, 2_000, 1_000, 1_000]
    for d in days[1:]:
        premium = float(d["price_sats_per_share"]) / float(d["nav_sats_per_share"]) - 1
        assert float(d["premium"]) == pytest.approx(premium, abs=2e-6)
    te = out.json()["tracking_error"]
    assert (te["first_day"], te["last_day"], te["returns"]) == ("2025-01-06", "2025-01-09", 3)


def test_bad_input_is_refused_with_the_field(setup: Any) -> None:
    client, keys = setup
    bad = call(
        client,
        "/api/v1/fund/nav",
        keys["viewer"],
        {"spec": {**spec(), "income": "x"}, "day": "2025-01-09"},
    )
    assert bad.status_code == 422 and "field 'income'" in bad.json()["detail"]
    prices = "date,price_sats_per_share\n2025-01-06,abc\n"
    body = {"spec": spec(), "prices_csv": prices}
    bad = call(client, "/api/v1/fund/report", keys["viewer"], body)
    assert bad.status_code == 422 and "prices_csv:2" in bad.json()["detail"]
