"""A polite HTTP client for public data sources (a mempool instance, an exchange's API).

Polite to the server and clear to the user:

* every request has a timeout, and at most ``max_concurrency`` run at once;
* 429 and 5xx answers, connection errors and timeouts are retried with exponential backoff
  (doubling from ``backoff_base_s``, capped at ``backoff_cap_s``, with jitter so that many
  clients do not retry in step); a ``Retry-After`` header (seconds or an HTTP date) is
  honoured, and one asking for more than ``max_retry_after_s`` ends the sync at once;
* no wait runs past the caller's deadline: the last error is reported instead;
* requests say who is asking (``User-Agent: hashmarket/<version> (+project URL)``);
* every failure is a :class:`~hashmarket.errors.SourceError` of one line naming the URL and
  the problem: unreachable (``network unreachable (offline?)``), timed out, an HTTP status,
  or a body that is not the JSON it should be.
"""

from __future__ import annotations

import email.utils
import errno
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from hashmarket.errors import SourceError

PROJECT_URL = "https://github.com/hashmarket/hashmarket"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

T = TypeVar("T")
R = TypeVar("R")


def user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("hashmarket")
    except PackageNotFoundError:  # running from a source tree that is not installed
        release = "dev"
    return f"hashmarket/{release} (+{PROJECT_URL})"


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """How patient and how polite to be."""

    timeout_s: float = 10.0  # per request: connect, and between bytes of the reply
    attempts: int = 5  # tries per request, the first included
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    max_retry_after_s: float = 120.0  # a longer Retry-After ends the sync instead of waiting
    max_concurrency: int = 3


def parse_retry_after(value: str | None, *, now_s: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # HTTP dates are GMT
        return None
    return max(0.0, moment.timestamp() - now_s)


def backoff_s(attempt: int, policy: HttpPolicy, rng: random.Random) -> float:
    """The wait before retry ``attempt`` (1 = the first retry): half fixed, half jitter."""
    ceiling = min(policy.backoff_cap_s, policy.backoff_base_s * 2.0 ** (attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def unreachable_reason(exc: BaseException) -> str:
    """What a connection error means, in a few words (and whether being offline explains it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return "cannot resolve the host name (offline?)"
        if isinstance(seen, OSError) and seen.errno is not None:
            if seen.errno == errno.ENETUNREACH:
                return "network unreachable (offline?)"
            if seen.errno == errno.EHOSTUNREACH:
                return "host unreachable (offline?)"
            if seen.errno == errno.ECONNREFUSED:
                return "connection refused"
            return (seen.strerror or str(seen)).lower()
        seen = seen.__cause__ or seen.__context__
    text = str(exc).lower()
    if "name or service not known" in text or "name resolution" in text:
        return "cannot resolve the host name (offline?)"
    if "network is unreachable" in text:
        return "network unreachable (offline?)"
    if "connection refused" in text:
        return "connection refused"
    return text or type(exc).__name__


class HttpClient:
    """GET requests against one base URL, shared by threads (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        policy: HttpPolicy | None = None,
        deadline_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy or HttpPolicy()
        self.deadline_s = deadline_s  # time.monotonic() after which no wait may end
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.policy.max_concurrency)
        self._client = httpx.Client(
            timeout=self.policy.timeout_s,
            headers={"User-Agent": user_agent(), "Accept": "application/json, text/plain"},
            follow_redirects=True,
        )
        self.requests = 0  # HTTP requests sent, retries included

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def get_text(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        """The body of a successful GET as text."""
        return self._get(path, params).text

    def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        """The body of a successful GET parsed as JSON; a truncated or invalid body is a
        :class:`SourceError` naming the URL and where the JSON breaks."""
        response = self._get(path, params)
        try:
            return json.loads(response.content)
        except UnicodeDecodeError as exc:
            raise SourceError(
                "http_bad_json", url=str(response.url), problem=f"not UTF-8: {exc.reason}"
            ) from None
        except json.JSONDecodeError as exc:
            size = len(response.content)
            problem = f"{exc.msg.removesuffix(' at')} at byte {exc.pos} of {size}"
            if exc.pos >= size - 1 or exc.msg.startswith("Unterminated"):
                problem += "; the reply looks truncated"
            raise SourceError("http_bad_json", url=str(response.url), problem=problem) from None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``fn`` over ``items`` on up to ``max_concurrency`` threads, results in order; the
        first failure is raised once the others have finished."""
        work = list(items)
        if len(work) <= 1:
            return [fn(item) for item in work]
        with ThreadPoolExecutor(max_workers=min(len(work), self.policy.max_concurrency)) as pool:
            return list(pool.map(fn, work))

    # -- one request, retried ------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, str | int] | None) -> httpx.Response:
        url = self.url(path)
        policy = self.policy
        for attempt in range(1, policy.attempts + 1):
            last = attempt == policy.attempts
            try:
                with self._slots:
                    self.requests += 1
                    response = self._client.get(url, params=params)
            except httpx.TimeoutException:
                error = SourceError(
                    "http_timeout", url=url, timeout_s=policy.timeout_s, attempts=attempt
                )
                self._wait_or_raise(error, last=last, wait_s=self._backoff(attempt))
                continue
            except httpx.TransportError as exc:
                # Connection refused or reset, a name that does not resolve, a body cut short.
                error = SourceError(
                    "http_unreachable", url=origin(url), reason=unreachable_reason(exc)
                )
                self._wait_or_raise(error, last=last, wait_s=self._backoff(attempt))
                continue
            if response.status_code < 400:
                return response
            shown = str(response.url)
            if response.status_code not in RETRY_STATUSES:
                raise SourceError(
                    "http_status", url=shown, status=response.status_code, attempts=attempt
                )
            wait_s = self._backoff(attempt)
            told = parse_retry_after(response.headers.get("Retry-After"), now_s=time.time())
            if told is not None:
                if told > policy.max_retry_after_s:
                    raise SourceError(
                        "http_rate_limited",
                        url=origin(url),
                        status=response.status_code,
                        wait_s=told,
                    )
                wait_s = told
            error = SourceError(
                "http_status", url=shown, status=response.status_code, attempts=attempt
            )
            self._wait_or_raise(error, last=last, wait_s=wait_s)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _backoff(self, attempt: int) -> float:
        with self._rng_lock:
            return backoff_s(attempt, self.policy, self._rng)

    def _wait_or_raise(self, error: SourceError, *, last: bool, wait_s: float) -> None:
        if last:
            raise error
        if self.deadline_s is not None and time.monotonic() + wait_s > self.deadline_s:
            raise error
        self._sleep(wait_s)
