"""``hashmarket serve`` answers a WebSocket that offers per-message deflate without it, unless
started with ``--ws-compression``: the market feed's frames go to every subscriber, and
compressing each copy again cost the orders sent meanwhile 4-6 times their median wait."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import websockets

from hashmarket.api.keys import Role, ServiceStore
from tests.integration.test_api_idempotency import serve


async def _extensions_and_snapshot(base: str, secret: str) -> tuple[str | None, dict]:
    url = base.replace("http://", "ws://") + f"/api/v1/market/ws?key={secret}"
    async with websockets.connect(url, compression="deflate") as ws:  # as browsers offer it
        await ws.send(json.dumps({"op": "subscribe", "market": "HASHPOWER"}))
        (snapshot,) = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert ws.response is not None  # the handshake's, once connected
        return ws.response.headers.get("Sec-WebSocket-Extensions"), snapshot


@pytest.mark.parametrize("options", [(), ("--ws-compression",)])
def test_the_feed_is_deflated_only_when_asked(tmp_path: Path, options: tuple[str, ...]) -> None:
    secret = ServiceStore.in_data_dir(tmp_path).create_key(Role.VIEWER)[1]
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with serve(tmp_path, url, workers=1, options=options) as base:
        extensions, snapshot = asyncio.run(_extensions_and_snapshot(base, secret))
    assert snapshot["type"] == "snapshot" and snapshot["market"] == "HASHPOWER"
    if options:
        assert extensions is not None and "permessage-deflate" in extensions
    else:
        assert extensions is None
