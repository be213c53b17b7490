"""Bitcoin Core as a live source: a JSON-RPC client and an incremental block sync.

The client speaks JSON-RPC over HTTP POST with basic authentication, as ``bitcoin-cli`` does,
and reads both reply styles: JSON-RPC 2.0 (errors in an HTTP 200 body, Core 28 and later)
and the legacy 1.0 style (errors with HTTP 500 or 404). Requests are batched — one HTTP
request asks for a hundred blocks — over one kept-alive connection.

The sync asks the node for ``getblockchaininfo``, then for each new height ``getblockhash``,
``getblockheader`` and ``getblockstats`` (``totalfee``, ``subsidy``, ``txs``, ``height``,
``time``). Resuming, committing and following reorganisations are the shared mechanics of
:mod:`hashmarket.chain.sources.blocksync`.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import unquote, urlsplit

from hashmarket.chain.consensus import bits_to_difficulty
from hashmarket.chain.sources.blocks import BlockRecord
from hashmarket.chain.sources.blocksync import ChainChangedError, FetchedBlock
from hashmarket.errors import ConsensusError, SourceError, UsageError

DEFAULT_RPC_PORT = 8332
DEFAULT_TIMEOUT_S = 60.0
BLOCK_STATS = ("height", "time", "subsidy", "totalfee", "txs")
# Core's error codes the sync reacts to (src/rpc/protocol.h).
RPC_INVALID_PARAMETER = -8  # e.g. "Block height out of range"
RPC_INVALID_ADDRESS_OR_KEY = -5  # e.g. "Block not found"


class NodeRpcError(SourceError):
    """The node answered a call with a JSON-RPC error object."""

    def __init__(self, *, method: str, code: int, message: str) -> None:
        super().__init__("rpc_error", method=method, code=code, message=message)
        self.method = method
        self.code = code


@dataclass(frozen=True, slots=True)
class RpcEndpoint:
    """Where the node is and how to log in. ``url`` is for display and carries no secret."""

    url: str
    host: str
    port: int
    path: str
    https: bool
    user: str
    password: str

    @classmethod
    def parse(
        cls,
        url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        cookie_file: Path | None = None,
    ) -> RpcEndpoint:
        """Read ``http://[user:password@]host[:port][/path]`` (``http://`` may be left out)
        and take the credentials from the options, the cookie file, or the URL."""
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError("bad_option", option="--rpc-url", problem=f"{url!r} is not a URL")
        try:
            port = parts.port or DEFAULT_RPC_PORT
        except ValueError:
            raise UsageError(
                "bad_option", option="--rpc-url", problem=f"{url!r} has a bad port"
            ) from None
        given = [
            name
            for name, present in (
                ("--rpc-user/--rpc-password", user is not None or password is not None),
                ("--rpc-cookie", cookie_file is not None),
                ("credentials in --rpc-url", parts.username is not None),
            )
            if present
        ]
        if len(given) > 1:
            raise UsageError(
                "bad_option", option=given[0], problem=f"give only one of {', '.join(given)}"
            )
        if cookie_file is not None:
            user, password = read_cookie(cookie_file)
        elif parts.username is not None:
            user, password = unquote(parts.username), unquote(parts.password or "")
        elif (user is None) != (password is None):
            raise UsageError(
                "bad_option",
                option="--rpc-user" if user is None else "--rpc-password",
                problem="--rpc-user and --rpc-password go together",
            )
        host = parts.hostname
        shown_host = f"[{host}]" if ":" in host else host
        path = parts.path or "/"
        return cls(
            url=f"{parts.scheme}://{shown_host}:{port}{'' if path == '/' else path}",
            host=host,
            port=port,
            path=path,
            https=parts.scheme == "https",
            user=user or "",
            password=password or "",
        )


def read_cookie(path: Path) -> tuple[str, str]:
    """User and password from the cookie file Core writes: ``__cookie__:<hex password>``."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SourceError(
            "rpc_cookie", path=str(path), reason="no such file (is the node running?)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError("rpc_cookie", path=str(path), reason=str(exc)) from None
    user, colon, password = text.partition(":")
    if not colon or not user or not password:
        raise SourceError("rpc_cookie", path=str(path), reason="expected 'user:password'")
    return user, password


class BitcoinCoreRpc:
    """A JSON-RPC client for one node, over one kept-alive HTTP connection."""

    def __init__(self, endpoint: RpcEndpoint, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        token = base64.b64encode(f"{endpoint.user}:{endpoint.password}".encode()).decode()
        self._headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._ids = itertools.count(1)
        self._conn: http.client.HTTPConnection | None = None
        self._used = False  # whether the open connection has carried a request already

    def __enter__(self) -> BitcoinCoreRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def call(self, method: str, *params: Any) -> Any:
        """One call; its result, or :class:`NodeRpcError` for the node's error object."""
        return self.batch([(method, list(params))])[0]

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one HTTP request; results in the same order.

        The first error object among the replies is raised as :class:`NodeRpcError`.
        """
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        requests = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            for i, (method, params) in zip(ids, calls, strict=True)
        ]
        single = len(calls) == 1
        reply = self._post(json.dumps(requests[0] if single else requests).encode())
        replies = [reply] if single and isinstance(reply, dict) else reply
        if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
            raise SourceError("rpc_bad_reply", detail="expected a JSON object or array")
        by_id = {r.get("id"): r for r in replies}
        results = []
        for i, (method, _) in zip(ids, calls, strict=True):
            r = by_id.get(i)
            if r is None:
                raise SourceError("rpc_bad_reply", detail=f"no reply to {method} (id {i})")
            error = r.get("error")
            if error is not None:
                raise _rpc_error(method, error)
            if "result" not in r:
                raise SourceError("rpc_bad_reply", detail=f"the reply to {method} has no result")
            results.append(r["result"])
        return results

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            e = self.endpoint
            factory = http.client.HTTPSConnection if e.https else http.client.HTTPConnection
            self._conn = factory(e.host, e.port, timeout=self.timeout_s)
            self._used = False
        return self._conn

    def _post(self, body: bytes) -> Any:
        url = self.endpoint.url
        for attempt in range(2):
            conn = self._connection()
            reused = self._used
            try:
                conn.request("POST", self.endpoint.path, body=body, headers=self._headers)
                self._used = True
                response = conn.getresponse()
                status, payload = response.status, response.read()
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
                # The exceptions of a dropped connection. An idle kept-alive connection may have
                # been closed by the node (its rpcservertimeout); calls only read, so a
                # second try on a new connection is safe.
                self.close()
                if reused and attempt == 0:
                    continue
                reason = str(exc) or type(exc).__name__
                raise SourceError("rpc_disconnected", url=url, reason=reason) from None
            except TimeoutError:
                self.close()
                raise SourceError(
                    "rpc_unreachable", url=url, reason=f"no reply within {self.timeout_s:g} s"
                ) from None
            except OSError as exc:
                self.close()
                reason = exc.strerror or str(exc) or type(exc).__name__
                raise SourceError("rpc_unreachable", url=url, reason=reason.lower()) from None
            except http.client.HTTPException as exc:
                self.close()
                raise SourceError("rpc_bad_reply", detail=f"{type(exc).__name__}: {exc}") from None
            return _decode(status, payload, url)
        raise AssertionError("unreachable")  # the loop returns or raises


def _decode(status: int, payload: bytes, url: str) -> Any:
    if status == 401:  # Core's answer to a wrong password: 401 with an empty body
        raise SourceError("rpc_auth", url=url, status=status)
    try:
        reply = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        if status != 200:
            raise SourceError("rpc_http", url=url, status=status) from None
        raise SourceError("rpc_bad_reply", detail="the body is not JSON") from None
    # Legacy JSON-RPC 1.0 replies carry errors with HTTP 404 or 500; pass those on.
    has_error = isinstance(reply, dict) and reply.get("error") is not None
    if status != 200 and not has_error:
        raise SourceError("rpc_http", url=url, status=status)
    return reply


def _rpc_error(method: str, error: Any) -> SourceError:
    if isinstance(error, dict) and isinstance(error.get("code"), int):
        return NodeRpcError(method=method, code=error["code"], message=str(error.get("message")))
    return SourceError("rpc_bad_reply", detail=f"the error of {method} is {error!r}")


# -- the sync ------------------------------------------------------------------------------


class CoreReader:
    """The node as a :class:`~hashmarket.chain.sources.blocksync.ChainReader`."""

    def __init__(self, rpc: BitcoinCoreRpc, *, allow_chain: bool) -> None:
        self.rpc = rpc
        self.allow_chain = allow_chain

    @property
    def url(self) -> str:
        return self.rpc.endpoint.url

    def chain_tip(self) -> tuple[str, int]:
        return _chain_info(self.rpc, allow_chain=self.allow_chain)

    def block_hash(self, height: int) -> str | None:
        return _node_hash(self.rpc, height)

    def fetch(self, heights: range) -> list[FetchedBlock]:
        return _fetch_blocks(self.rpc, heights)

    def default_start(self, tip: int) -> int:
        return 0  # a node has every block: start at genesis


def _chain_info(rpc: BitcoinCoreRpc, *, allow_chain: bool) -> tuple[str, int]:
    info = rpc.call("getblockchaininfo")
    if not isinstance(info, dict):
        raise SourceError("rpc_bad_reply", detail="getblockchaininfo did not return an object")
    chain = info.get("chain")
    blocks, headers = info.get("blocks"), info.get("headers")
    if not isinstance(chain, str) or not _is_int(blocks) or not _is_int(headers):
        raise SourceError(
            "rpc_bad_reply", detail="getblockchaininfo lacks chain, blocks or headers"
        )
    if chain != "main" and not allow_chain:
        raise SourceError("rpc_chain", chain=chain)
    if info.get("initialblockdownload") is True or blocks < headers:
        raise SourceError("rpc_syncing", blocks=blocks, headers=headers)
    return chain, int(blocks)


def _node_hash(rpc: BitcoinCoreRpc, height: int) -> str | None:
    try:
        value = rpc.call("getblockhash", height)
    except NodeRpcError as exc:
        if exc.code == RPC_INVALID_PARAMETER:  # above the node's tip
            return None
        raise
    return _hash(value, "getblockhash")


def _fetch_blocks(rpc: BitcoinCoreRpc, heights: range) -> list[FetchedBlock]:
    try:
        hashes = rpc.batch([("getblockhash", [h]) for h in heights])
        block_hashes = [_hash(v, "getblockhash") for v in hashes]
        # By hash, not height: header and stats then describe the same block even if the
        # node's chain changes between the two calls.
        replies = rpc.batch(
            [("getblockheader", [b, True]) for b in block_hashes]
            + [("getblockstats", [b, list(BLOCK_STATS)]) for b in block_hashes]
        )
    except NodeRpcError as exc:
        if exc.code in (RPC_INVALID_PARAMETER, RPC_INVALID_ADDRESS_OR_KEY):
            raise ChainChangedError() from None  # the height or block went away: a reorg
        raise
    n = len(block_hashes)
    return [
        _block(h, b, header, stats)
        for h, b, header, stats in zip(heights, block_hashes, replies[:n], replies[n:], strict=True)
    ]


def _block(height: int, block_hash: str, header: Any, stats: Any) -> FetchedBlock:
    if not isinstance(header, dict) or not isinstance(stats, dict):
        raise SourceError("rpc_bad_reply", detail=f"block {height}: header or stats not objects")
    fields = {
        "header hash": (header.get("hash"), block_hash),
        "header height": (header.get("height"), height),
        "stats height": (stats.get("height"), height),
        "stats time": (stats.get("time"), header.get("time")),
    }
    for what, (got, expected) in fields.items():
        if got != expected:
            raise SourceError(
                "rpc_bad_reply", detail=f"block {height}: {what} is {got!r}, expected {expected!r}"
            )
    time_s = _count(header.get("time"), "time", height)
    subsidy_sats = _count(stats.get("subsidy"), "subsidy", height)
    fees_sats = _count(stats.get("totalfee"), "totalfee", height)
    tx_count = _count(stats.get("txs"), "txs", height)
    bits_hex = header.get("bits")
    try:
        if not isinstance(bits_hex, str) or len(bits_hex) != 8:
            raise ValueError(bits_hex)
        bits = int(bits_hex, 16)
        bits_to_difficulty(bits)
    except (ValueError, ConsensusError):
        raise SourceError("rpc_bad_reply", detail=f"block {height}: bits is {bits_hex!r}") from None
    prev = header.get("previousblockhash")
    return FetchedBlock(
        BlockRecord(
            height=height,
            block_hash=block_hash,
            time_s=time_s,
            bits=bits,
            subsidy_sats=subsidy_sats,
            fees_sats=fees_sats,
            tx_count=tx_count,
        ),
        prev_hash=None if prev is None else _hash(prev, "previousblockhash"),
    )


def _count(value: object, what: str, height: int) -> int:
    if not _is_int(value) or value < 0:
        raise SourceError("rpc_bad_reply", detail=f"block {height}: {what} is {value!r}")
    return value


def _hash(value: Any, what: str) -> str:
    if (
        not isinstance(value, str)
        or len(value) != 64
        or not all(c in "0123456789abcdef" for c in value)
    ):
        raise SourceError("rpc_bad_reply", detail=f"{what} is not a block hash: {value!r}")
    return value


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
