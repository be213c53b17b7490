"""The HTTP API in-process: public index routes, keys, and the guard every request passes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.chain.history import NetworkHistory
from hashmarket.index.asof import resolve_asof
from hashmarket.index.hashprice import hashprice_table


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service")


@pytest.fixture(scope="module")
def client(data_dir: Path) -> TestClient:
    config = ServiceConfig(
        data_dir=data_dir, rate_limit_per_s=5, rate_limit_burst=5, max_body_bytes=1000
    )
    return TestClient(create_app(config))


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_hashprice_matches_the_library(client: TestClient) -> None:
    response = client.get(
        "/api/v1/index/hashprice", params={"start": "2020-07-25", "end": "2020-07-27"}
    )
    assert response.status_code == 200
    records = response.json()
    table = hashprice_table(NetworkHistory.load())
    assert [r["date"] for r in records] == ["2020-07-25", "2020-07-26", "2020-07-27"]
    assert records[-1]["hashprice_usd_per_ph_day"] == pytest.approx(
        table.at["2020-07-27", "hashprice_usd_per_ph_day"], rel=1e-12
    )


def test_units_follow_the_query(client: TestClient) -> None:
    per_th = client.get(
        "/api/v1/index/hashprice", params={"last": 1, "unit": "th", "currency": "sats"}
    ).json()
    per_ph = client.get("/api/v1/index/hashprice", params={"last": 1}).json()
    assert per_th[0]["hashprice_sats_per_th_day"] == pytest.approx(
        per_ph[0]["hashprice_btc_per_ph_day"] * 1e5
    )


def test_fixings_and_series_and_coverage(client: TestClient) -> None:
    fixings = client.get(
        "/api/v1/index/fixings", params={"start": "2020-07-27", "end": "2020-07-27"}
    ).json()
    assert fixings[0]["methodology_version"] == "1.0"
    assert len(fixings[0]["inputs_sha256"]) == 64
    series = client.get("/api/v1/index/hashprice/series").json()
    assert len(series["dates"]) == len(series["hashprice_btc_per_ph_day"]) > 5000
    assert [h["height"] for h in series["halvings"]] == [210_000, 420_000, 630_000, 840_000]
    coverage = client.get("/api/v1/data/coverage").json()
    assert {s["source"] for s in coverage["sources"]} >= {
        "coinmetrics",
        "bitstamp",
        "node_stats",
        "epochs",
    }


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"last": 0}, 422, "query.last"),
        ({"start": "2020-02-30"}, 422, "query.start"),
        ({"unit": "gh"}, 422, "query.unit"),
        ({"start": "2020-02-01", "end": "2020-01-01"}, 400, "end"),
    ],
)
def test_bad_queries_are_problem_json_naming_the_field(
    client: TestClient, params: dict[str, object], status: int, field: str
) -> None:
    response = client.get("/api/v1/index/hashprice", params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


def test_keys_are_stored_only_as_salted_hashes(data_dir: Path) -> None:
    store = ServiceStore.in_data_dir(data_dir)
    _, secret = store.create_key(Role.VIEWER)
    raw = (data_dir / "service.sqlite").read_bytes()
    assert secret.split("_", 2)[2].encode() not in raw
    assert store.authenticate(secret) is not None
    assert store.authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None


def test_authentication(client: TestClient, data_dir: Path) -> None:
    store = ServiceStore.in_data_dir(data_dir)
    key, secret = store.create_key(Role.TRADER, account="1001")
    assert client.get("/api/v1/keys/me").status_code == 401
    assert client.get("/api/v1/keys/me", headers=bearer("hm_nope_nope")).status_code == 401
    me = client.get("/api/v1/keys/me", headers=bearer(secret)).json()
    assert me == {
        "key_id": key.key_id,
        "role": "trader",
        "account": "1001",
        "label": "",
        "permissions": ["read", "transfer"],
    }
    store.revoke_key(key.key_id)
    revoked = client.get("/api/v1/keys/me", headers=bearer(secret))
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]


def test_rate_limit_per_key(client: TestClient, data_dir: Path) -> None:
    _, secret = ServiceStore.in_data_dir(data_dir).create_key(Role.VIEWER)
    statuses = [
        client.get("/api/v1/keys/me", headers=bearer(secret)).status_code for _ in range(12)
    ]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses
    limited = client.get("/api/v1/keys/me", headers=bearer(secret))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


def test_oversized_bodies_are_refused(client: TestClient) -> None:
    response = client.post(
        "/api/v1/keys/me", content=b"x" * 5000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["title"] == "Request body too large"


def test_dashboard_pages_and_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'data-page="hashprice"' in page.text
    assert client.get("/static/plotly.min.js").text.startswith("/**")
    assert "hashpricePage" in client.get("/static/dashboard.js").text
    assert client.get("/static/../keys.py").status_code == 404


def referenced_urls(html: str) -> list[str]:
    """Every URL a page makes the browser load: src/href attributes, ReDoc's spec-url and
    Swagger UI's ``url:`` option."""
    import re

    return re.findall(r"""(?:\b(?:src|href|spec-url)=|\burl:\s*)["']([^"']+)["']""", html)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (
            "/docs",
            {
                "/static/docs/swagger-ui-bundle.js": "text/javascript",
                "/static/docs/swagger-ui.css": "text/css",
                "/static/favicon.svg": "image/svg+xml",
                "/openapi.json": "application/json",
            },
        ),
        (
            "/redoc",
            {
                "/static/docs/redoc.standalone.js": "text/javascript",
                "/static/favicon.svg": "image/svg+xml",
                "/openapi.json": "application/json",
            },
        ),
    ],
)
def test_api_docs_load_only_local_assets(
    client: TestClient, page: str, expected: dict[str, str]
) -> None:
    html = client.get(page)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "://" not in html.text  # no CDN, no web fonts, no validator badge
    # …and the browser is told to load nothing from elsewhere (ReDoc has a logo on a CDN).
    policy = html.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    urls = referenced_urls(html.text)
    assert sorted(urls) == sorted(expected)
    for url, content_type in expected.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].split(";")[0] == content_type, url
        assert len(response.content) > 200, url
    assert client.get("/static/docs/swagger-ui.js").status_code == 404


def test_every_dashboard_page_links_the_favicon(client: TestClient) -> None:
    from hashmarket.api.dashboard import PAGES

    for path, *_ in PAGES:
        urls = referenced_urls(client.get(path).text)
        assert {"/static/favicon.svg", "/favicon.ico"} <= set(urls), path
        assert all(u.startswith("/") for u in urls), (path, urls)
    svg = client.get("/static/favicon.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.startswith("<svg")
    ico = client.get("/favicon.ico")
    assert ico.headers["content-type"] == "image/x-icon"
    # An ICO directory (reserved 0, type 1) of PNG images at 16, 32 and 48 pixels.
    assert ico.content[:4] == b"\x00\x00\x01\x00"
    count = int.from_bytes(ico.content[4:6], "little")
    assert [ico.content[6 + 16 * i] for i in range(count)] == [16, 32, 48]


def test_openapi_lists_every_api_route(client: TestClient) -> None:
    documented = set(client.get("/openapi.json").json()["paths"])
    routes = {r.path for r in client.app.routes if getattr(r, "include_in_schema", False)}  # type: ignore[attr-defined]
    assert {p for p in routes if p.startswith("/api/")} <= documented
    assert "/api/v1/index/hashprice" in documented


def test_forward_curve_has_ordered_bands(client: TestClient) -> None:
    body = client.get(
        "/api/v1/curve/hashprice", params={"months": 3, "paths": 500, "seed": 3}
    ).json()
    asof = resolve_asof(NetworkHistory.load()).date
    first = (asof.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    assert body["asof"] == asof.isoformat() and body["months"][0]["month"] == f"{first:%Y-%m}"
    assert len(body["months"]) == 3
    for m in body["months"]:
        assert m["p5_usd_per_ph_day"] < m["p50_usd_per_ph_day"] < m["p95_usd_per_ph_day"]
    again = client.get(
        "/api/v1/curve/hashprice", params={"months": 3, "paths": 500, "seed": 3}
    ).json()
    assert again["months"] == body["months"]  # same seed, same numbers


def test_an_authenticated_read_of_a_gated_computation_is_answered(
    client: TestClient, data_dir: Path
) -> None:
    # The guard reads no body of a GET, so the compute gate must see the client's channel as
    # it is (a replayed body followed by the real one looked like the client leaving).
    key = ServiceStore.in_data_dir(data_dir).create_key(Role.VIEWER)[1]
    params = {"months": 2, "paths": 300, "seed": 4}
    signed = client.get(
        "/api/v1/curve/hashprice", params=params, headers={"Authorization": f"Bearer {key}"}
    )
    assert signed.status_code == 200
    assert signed.json() == client.get("/api/v1/curve/hashprice", params=params).json()


def test_price_a_posted_spec_and_refuse_a_bad_one(client: TestClient) -> None:
    spec = {
        "type": "european_option",
        "underlying": "btc_usd",
        "option_type": "put",
        "strike": 70000,
        "expiry": "2026-06-30",
        "quantity": 1,
        "side": "buy",
    }
    mc = client.post("/api/v1/price", json={"spec": spec, "paths": 20_000, "seed": 7}).json()
    closed = client.post("/api/v1/price", json={"spec": spec, "engine": "analytic"}).json()
    assert mc["n_paths"] == 20_000
    assert abs(mc["value"] - closed["value"]) < 4 * mc["std_error"]
    for method in ("pseudo", "sobol"):
        body = {"spec": spec, "paths": 4_096, "seed": 7, "method": method}
        quick = client.post("/api/v1/price", json=body).json()
        assert quick["diagnostics"]["method"] == method
        assert abs(quick["value"] - closed["value"]) <= 4 * quick["std_error"] + 1e-6
    bad = client.post("/api/v1/price", json={"spec": dict(spec, quantity=-1)})
    assert bad.status_code == 422
    assert bad.json()["field"] == "quantity"
    too_many = client.post("/api/v1/price", json={"spec": spec, "paths": 10_000_000})
    assert too_many.status_code == 422
    assert too_many.json()["field"] == "paths"


def test_a_posted_compute_forward_is_valued_on_the_gpu_hour_index(client: TestClient) -> None:
    """A compute spec is priced on the bundled GPU quotes' index, as `hashmarket price` does: with
    no rate and the model's mean at the spot, the forward is worth GPU-hours × (spot − price)."""
    from hashmarket.index.compute import gpu_fixings
    from hashmarket.index.gpu_quotes import load_bundled_quotes

    spec = {
        "type": "compute_forward",
        "gpu_model": "H100",
        "gpus": 64,
        "fixed_price_usd_per_gpu_hour": 2.40,
        "start": "2026-03-01",
        "end": "2026-03-31",
        "term": "on-demand",
        "settlement": "daily",
        "side": "buy",
    }
    fixings = [
        f
        for f in gpu_fixings(load_bundled_quotes())
        if f.gpu_model == "H100" and f.term == "on-demand"
    ]
    spot = max(fixings, key=lambda f: f.period_start)
    answer = client.post("/api/v1/price", json={"spec": spec, "engine": "analytic"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["asof"] == spot.period_start.isoformat()
    gpu_hours = 64 * 24 * 31
    assert body["value"] == pytest.approx(gpu_hours * (float(spot.value) - 2.40), rel=1e-9)
    mc = client.post("/api/v1/price", json={"spec": spec, "paths": 1_000, "seed": 3}).json()
    assert mc["value"] == pytest.approx(body["value"], abs=4 * mc["std_error"] + 1e-6)


def test_forward_value_agrees_with_the_curve(client: TestClient) -> None:
    """A March forward's value is 10 PH/s × 31 days × (expected March hashprice − fixed price);
    the curve estimates the same expectation from its own paths."""
    curve = client.get(
        "/api/v1/curve/hashprice", params={"months": 2, "paths": 20_000, "seed": 2}
    ).json()
    march = curve["months"][1]  # the second month after the as-of month
    days = (dt.date.fromisoformat(march["end"]) - dt.date.fromisoformat(march["start"])).days + 1
    spec = {
        "type": "hashprice_forward",
        "notional_phs": 10,
        "fixed_price_per_ph_day": 38.0,
        "currency": "usd",
        "start": march["start"],
        "end": march["end"],
        "side": "buy",
    }
    forward = client.post("/api/v1/price", json={"spec": spec, "paths": 20_000, "seed": 1}).json()
    assert forward["asof"] == curve["asof"] == curve["data_asof"]["asof"]
    implied_mean = forward["value"] / (10 * days) + 38.0
    tolerance = (
        4
        * (forward["std_error"] ** 2 / (10 * days) ** 2 + march["std_error_usd_per_ph_day"] ** 2)
        ** 0.5
    )
    assert abs(implied_mean - march["mean_usd_per_ph_day"]) < tolerance


def test_latest_answers_end_at_the_asof_date(client: TestClient) -> None:
    """The index's default window, its chart series, the curve and breakeven's default
    hashprice all refer to one day: the resolver's as-of date."""
    history = NetworkHistory.load()
    expected = resolve_asof(history)
    asof = client.get("/api/v1/asof").json()
    assert asof["asof"] == expected.date.isoformat() and asof["complete"] is True
    assert (
        asof["coverage"]["price_usd"]["last"]
        == history.coverage().at["price_usd", "last"].isoformat()
    )
    latest = client.get("/api/v1/index/hashprice", params={"last": 3})
    assert latest.headers["X-Hashmarket-Asof"] == asof["asof"]
    assert latest.json()[-1]["date"] == asof["asof"]
    assert client.get("/api/v1/index/hashprice/series").json()["dates"][-1] == asof["asof"]
    loose = client.get("/api/v1/index/hashprice", params={"last": 1, "allow_subsidy_only": True})
    assert (
        loose.json()[-1]["date"] == resolve_asof(history, allow_subsidy_only=True).date.isoformat()
    )
    fixing = client.get(
        "/api/v1/index/fixings", params={"start": asof["asof"], "end": asof["asof"]}
    ).json()[0]
    breakeven = client.get(
        "/api/v1/miner/breakeven", params={"machine": "S21", "power_price_usd_per_kwh": 0.05}
    ).json()
    assert breakeven["hashprice_as_of"] == asof["asof"]
    assert round(breakeven["hashprice_usd_per_ph_day"], 2) == float(fixing["value"])
    later = (expected.date + dt.timedelta(days=1)).isoformat()
    refused = client.get("/api/v1/curve/hashprice", params={"asof": later, "paths": 100})
    assert refused.status_code == 422
    assert f"up to {expected.date}" in refused.json()["detail"]
