"""The polite HTTP client's rules: Retry-After, backoff with jitter, reasons for failures."""

from __future__ import annotations

import errno
import random
import socket

import httpx
import pytest

from hashmarket.chain.sources.http import (
    HttpPolicy,
    backoff_s,
    parse_retry_after,
    unreachable_reason,
    user_agent,
)

NOW_S = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert parse_retry_after("120", now_s=NOW_S) == 120.0
    assert parse_retry_after(" 0 ", now_s=NOW_S) == 0.0
    # RFC 9110's example date, 90 s after "now"; a date in the past means "now".
    assert parse_retry_after("Wed, 21 Oct 2015 07:29:30 GMT", now_s=NOW_S) == 90.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now_s=NOW_S) == 0.0
    assert parse_retry_after(None, now_s=NOW_S) is None
    assert parse_retry_after("soon", now_s=NOW_S) is None
    assert parse_retry_after("-5", now_s=NOW_S) is None


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = HttpPolicy(backoff_base_s=0.5, backoff_cap_s=4.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]:
        waits = [backoff_s(attempt, policy, rng) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert max(waits) - min(waits) > ceiling / 4  # jittered, not in step


def test_reasons_for_unreachable_hosts() -> None:
    def wrapped(cause: BaseException) -> httpx.ConnectError:
        error = httpx.ConnectError("failed")
        error.__cause__ = cause
        return error

    assert unreachable_reason(wrapped(OSError(errno.ENETUNREACH, "Network is unreachable"))) == (
        "network unreachable (offline?)"
    )
    assert unreachable_reason(wrapped(socket.gaierror(-3, "Temporary failure"))) == (
        "cannot resolve the host name (offline?)"
    )
    assert unreachable_reason(wrapped(ConnectionRefusedError(errno.ECONNREFUSED, "x"))) == (
        "connection refused"
    )
    assert unreachable_reason(httpx.ConnectError("[Errno -2] Name or service not known")) == (
        "cannot resolve the host name (offline?)"
    )


def test_user_agent_names_the_project() -> None:
    agent = user_agent()
    assert agent.startswith("hashmarket/")
    assert agent.endswith("(+https://github.com/hashmarket/hashmarket)")


@pytest.mark.parametrize("status", [429, 503])
def test_a_long_retry_after_ends_at_once(status: int) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from hashmarket.chain.sources.http import HttpClient
    from hashmarket.errors import SourceError

    class Busy(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Retry-After", "3600")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with HttpClient(url) as client, pytest.raises(SourceError) as refused:
            client.get_text("x")
        assert client.requests == 1
    finally:
        server.shutdown()
        server.server_close()
    assert str(refused.value) == f"{url} answered HTTP {status} and asks to wait 3600 s; try later"
