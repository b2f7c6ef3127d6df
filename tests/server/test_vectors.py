"""The server against the shared golden wire vectors (tests/vectors/wire.json), both packers.

Each client-to-server text is sent as is; each server-to-client text must come back exactly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from jupyter_sente.server import EventMsg
from jupyter_sente.values import kw
from tests.server.helpers import Live, body, ms, read

Start = Callable[..., Live]
PACKERS = ("edn", "json")
WIRE = {
    v["name"]: v
    for v in json.loads((Path(__file__).parent.parent / "vectors" / "wire.json").read_text())[
        "vectors"
    ]
}
FORM = json.loads((Path(__file__).parent.parent / "vectors" / "wire.json").read_text())[
    "form_fields"
]
REPLY = {kw("any"): "reply"}
CLIENT_ID = FORM["client-id"]


def text(name: str, packer: str) -> str:
    return str(WIRE[name][packer])


def replying(msg: EventMsg) -> None:
    if msg.reply is not None:
        msg.reply(REPLY)


@pytest.mark.asyncio
@pytest.mark.parametrize("packer", PACKERS)
async def test_ws_handshakes(start: Start, packer: str) -> None:
    live = start(packer=packer)
    ws = await live.ws(CLIENT_ID, uid="alice")
    assert await read(ws) == text("handshake", packer)
    anon = start(packer=packer, handshake_data_fn=lambda request: {kw("some"): "data"})
    ws = await anon.ws(CLIENT_ID)
    assert await read(ws) == text("handshake-nil-uid", packer)


@pytest.mark.asyncio
@pytest.mark.parametrize("packer", PACKERS)
async def test_ajax_handshakes(start: Start, packer: str) -> None:
    live = start(packer=packer)
    assert body(await live.get(CLIENT_ID, uid="alice")) == text("handshake", packer)
    anon = start(packer=packer, handshake_data_fn=lambda request: {kw("some"): "data"})
    assert body(await anon.get(CLIENT_ID)) == text("handshake-nil-uid", packer)


@pytest.mark.asyncio
@pytest.mark.parametrize("packer", PACKERS)
async def test_ws_request_reply_ping_pong(start: Start, packer: str) -> None:
    live = start(packer=packer)
    live.server.on("my-app/req")(replying)
    ws = await live.ws_open(CLIENT_ID, uid="alice")
    ws.write_message(text("ws-send-with-cb", packer))
    assert await read(ws) == text("ws-reply", packer)
    ws.write_message(text("ws-send-no-cb", packer))
    ws.write_message(text("client-ping", packer))
    assert await read(ws) == text("pong-reply", packer)
    ws.write_message(text("client-pong", packer))
    await live.events.next("chsk/ws-pong")
    assert [m.id for m in live.events.msgs if m.id.name.startswith("chsk/ws-")] == [
        kw("chsk/ws-ping"),
        kw("chsk/ws-pong"),
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("packer", PACKERS)
async def test_server_ping(start: Start, packer: str) -> None:
    live = start(packer=packer, ws_kalive_ms=ms(100), ws_ping_timeout_ms=ms(5_000))
    ws = await live.ws_open(CLIENT_ID)
    assert await read(ws) == text("server-ping", packer)


@pytest.mark.asyncio
@pytest.mark.parametrize("packer", PACKERS)
async def test_push_batch_over_ws_and_long_poll(start: Start, packer: str) -> None:
    live = start(packer=packer, send_buf_ms_ajax=ms(50))
    ws = await live.ws_open("tab-ws", uid="alice")
    await live.get(CLIENT_ID, uid="alice")
    poll = asyncio.ensure_future(live.get(CLIENT_ID, uid="alice"))
    await live.until(lambda: any(c.is_open for c in live.server.connections("alice", "ajax")))
    live.server.send("alice", [kw("my-app/alert"), "hi"])
    live.server.send("alice", [kw("my-app/alert"), "yo"])
    assert await read(ws) == text("push-batch", packer)
    assert body(await poll) == text("push-batch", packer)


@pytest.mark.asyncio
@pytest.mark.parametrize("packer", PACKERS)
async def test_poll_timeout(start: Start, packer: str) -> None:
    live = start(packer=packer, lp_timeout_ms=ms(100))
    await live.get(CLIENT_ID, uid="alice")
    assert body(await live.get(CLIENT_ID, uid="alice")) == text("poll-timeout", packer)


async def post_form(live: Live, name: str, packer: str) -> str:
    form = WIRE[name]["form"][packer]
    response = await AsyncHTTPClient().fetch(
        live.url(),
        method="POST",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
        raise_error=False,
    )
    assert response.code == 200
    return body(response)


@pytest.mark.asyncio
@pytest.mark.parametrize("packer", PACKERS)
async def test_ajax_posts(start: Start, packer: str) -> None:
    live = start(packer=packer, lp_timeout_ms=ms(200))
    live.server.on("my-app/req")(replying)
    assert await post_form(live, "ajax-send-no-cb", packer) == text("ajax-dummy-reply", packer)
    assert await post_form(live, "ajax-send-with-cb", packer) == text("ajax-reply", packer)
    assert live.events.of("my-app/req") == []  # the handler had them
    live.server.router.remove("my-app/req")
    timed_out = await post_form(live, "ajax-send-with-cb", packer)
    assert timed_out == text("ajax-reply-timeout", packer)
    received: list[Any] = [m.event for m in live.events.of("my-app/req")]
    assert received == [[kw("my-app/req"), {kw("x"): 1}]]
