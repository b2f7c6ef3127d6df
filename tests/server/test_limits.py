"""Bad input and limits: the offender is refused or closed, everyone else keeps being served."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.websocket import WebSocketClientConnection

from jupyter_sente.packers import get_packer
from jupyter_sente.server import EventMsg
from jupyter_sente.tornado import TornadoWebSocketChannel
from jupyter_sente.values import kw
from tests.server.helpers import SCALE, Live, S, body, ms, read

Start = Callable[..., Live]


def echo(msg: EventMsg) -> None:
    assert msg.reply is not None
    msg.reply(msg.data)


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "jupyter_sente.server"
        and r.levelno >= logging.WARNING
        and text in r.getMessage()
    ]


# -- client-id --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ajax_get_without_client_id_is_a_400_that_says_so(start: Start) -> None:
    live = start()
    response = await live.get(None)
    assert response.code == 400
    assert "client-id is required" in body(response)


@pytest.mark.asyncio
async def test_ws_upgrade_without_client_id_is_a_400(start: Start) -> None:
    live = start()
    with pytest.raises(HTTPClientError) as refused:
        await live.ws(None)
    assert refused.value.code == 400


@pytest.mark.asyncio
async def test_post_without_client_id_is_a_400_and_no_event(start: Start) -> None:
    live = start()
    response = await live.post("[[:my-app/req 1] nil]", None)
    assert response.code == 400
    assert "client-id is required" in body(response)
    assert live.events.of("my-app/req") == []


# -- garbage from a client --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_undecodable_ws_packets_become_bad_events_logged_once_per_connection(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    live = start()
    live.server.on("my-app/echo")(echo)
    ws = await live.ws_open("c1")
    garbage = "[[:my-app/x " + "{" * 200
    ws.write_message(garbage)
    ws.write_message("]]] not edn")
    first = await live.events.next("chsk/bad-event")
    assert first.event == [kw("chsk/bad-event"), garbage[:80]]
    assert (await live.events.next("chsk/bad-event", 2)).data == "]]] not edn"
    ws.write_message('[[:my-app/echo "still usable"] "abc123"]')
    assert await read(ws) == '["still usable" "abc123"]'
    assert len(warnings_about(caplog, "undecodable")) == 1
    other = await live.ws_open("c2")
    other.write_message("{{{")
    await live.events.next("chsk/bad-event", 3)
    assert len(warnings_about(caplog, "undecodable")) == 2  # once per connection
    assert garbage[:80] in warnings_about(caplog, "undecodable")[0].getMessage()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("frame", "bad"),
    [
        ("[[:not-qualified 1] nil]", [kw("not-qualified"), 1]),
        ('[["my-app/str" 1] nil]', ["my-app/str", 1]),
        ("[[:my-app/x 1 2] nil]", [kw("my-app/x"), 1, 2]),
        ('[[:chsk/uidport-open "forged"] nil]', [kw("chsk/uidport-open"), "forged"]),
        ("{:not :an-envelope}", {kw("not"): kw("an-envelope")}),
        ("[1 2 3]", [1, 2, 3]),
    ],
)
async def test_invalid_ws_events_become_bad_events(start: Start, frame: str, bad: Any) -> None:
    live = start()
    live.server.on("my-app/echo")(echo)
    ws = await live.ws_open()
    ws.write_message(frame)
    msg = await live.events.next("chsk/bad-event")
    assert msg.data == bad
    assert live.events.of("chsk/uidport-open")[0].data != "forged"
    ws.write_message('[[:my-app/echo 1] "abc123"]')
    assert await read(ws) == '[1 "abc123"]'


@pytest.mark.asyncio
async def test_invalid_event_with_cb_id_may_still_be_answered(start: Start) -> None:
    live = start()

    @live.server.on("chsk/bad-event")
    def refuse(msg: EventMsg) -> None:
        assert msg.reply is not None
        msg.reply(kw("my-app/refused"))

    ws = await live.ws_open()
    ws.write_message('[[:oops] "abc123"]')
    assert await read(ws) == '[:my-app/refused "abc123"]'


@pytest.mark.asyncio
async def test_undecodable_post_is_a_400_and_a_bad_event(start: Start) -> None:
    live = start()
    response = await live.post("[[:my-app/x", "c1")
    assert response.code == 400
    assert (await live.events.next("chsk/bad-event")).data == "[[:my-app/x"
    assert body(await live.post("[[:my-app/y] nil]", "c1")) == "[:chsk/dummy-cb-200 nil]"


@pytest.mark.asyncio
async def test_post_without_ppstr_is_a_400(start: Start) -> None:
    live = start()
    response = await live.post(None, "c1")
    assert response.code == 400
    assert "ppstr" in body(response)


# -- message size -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ws_message_over_the_limit_closes_with_1009_and_a_reason(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    live = start(max_message_bytes=1000)
    ws = await live.ws_open()
    ws.write_message('[[:my-app/big "' + "x" * 1200 + '"] nil]')
    assert await read(ws) is None
    assert ws.close_code == 1009
    assert ws.close_reason is not None and "max_message_bytes (1000)" in ws.close_reason
    assert len(warnings_about(caplog, "max_message_bytes")) == 1
    assert live.events.of("my-app/big") == []


@pytest.mark.asyncio
async def test_ws_message_far_over_the_limit_is_not_even_read(start: Start) -> None:
    live = start(max_message_bytes=1000)
    ws = await live.ws_open()
    ws.write_message("x" * 5000)
    assert await read(ws) is None
    assert ws.close_code in (1009, None)  # Tornado's own cap ("message too big") or a reset
    assert live.events.of("chsk/bad-event") == []


@pytest.mark.asyncio
async def test_post_over_the_limit_is_a_413(start: Start) -> None:
    live = start(max_message_bytes=1000)
    response = await live.post('[[:my-app/big "' + "x" * 1200 + '"] nil]', "c1")
    assert response.code == 413
    assert "max_message_bytes (1000)" in body(response)
    assert live.events.of("my-app/big") == []


# -- a client that stops reading --------------------------------------------------------------


async def raw_upgrade(port: int, query: str) -> socket.socket:
    """A WebSocket upgraded by hand on a socket with a tiny receive buffer, then never read."""
    loop = asyncio.get_running_loop()
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await loop.sock_connect(raw, ("127.0.0.1", port))
    request = (
        f"GET /chsk?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(raw, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await asyncio.wait_for(loop.sock_recv(raw, 1024), 5 * S)
    assert head.startswith(b"HTTP/1.1 101")
    return raw


@pytest.mark.asyncio
async def test_a_client_that_stops_reading_is_closed_and_others_keep_their_latency(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    live = start(max_send_queue_bytes=256 * 1024, ms_allow_reconnect_before_close_ws=ms(50))
    stalled_gone = asyncio.Event()
    live.server.watch_connections(
        lambda what, conn: stalled_gone.set() if (what, conn.uid) == ("close", "stalled") else None
    )
    normal = await live.ws_open("n1", uid="normal")
    packer = get_packer("edn")

    async def round_trip(i: int, pad: str) -> float:
        began = time.monotonic()
        live.server.broadcast([kw("my-app/flood"), {kw("i"): i, kw("pad"): pad}], flush=True)
        [[[_, data]], _] = packer.unpack(await read(normal) or "")
        assert data[kw("i")] == i
        return time.monotonic() - began

    baseline = [await round_trip(i, "") for i in range(20)]
    raw = await raw_upgrade(live.port, "client-id=s1&uid=stalled")
    try:
        pad = "x" * 64 * 1024
        during = []
        for i in range(400):  # up to 26 MB: far past the kernel's socket buffers
            during.append(await round_trip(i, pad))
            if stalled_gone.is_set():
                break
        await asyncio.wait_for(stalled_gone.wait(), 5 * S)
    finally:
        raw.close()
    assert len(during) < 400, "the stalled client was never closed"
    assert len(warnings_about(caplog, "max_send_queue_bytes")) == 1
    assert statistics.median(during) < max(10 * statistics.median(baseline), 0.02 * SCALE)
    assert max(during) < 0.5 * SCALE
    assert live.server.connected_uids.any == frozenset({"normal"})


@pytest.mark.asyncio
async def test_the_tornado_backlog_counts_only_bytes_the_socket_has_not_taken(
    start: Start,
) -> None:
    live = start()
    raw = await raw_upgrade(live.port, "client-id=b1&uid=backlog")
    loop = asyncio.get_running_loop()
    drained: asyncio.Task[None] | None = None
    try:
        await live.until(lambda: len(live.open_sockets) == 1)
        [handler] = live.open_sockets
        channel = TornadoWebSocketChannel(handler)
        assert channel.send(b'[[:my-app/small "x"] nil]')
        assert channel.buffered_amount == 0, "a write the kernel took at once is no backlog"
        frame = b"x" * 64 * 1024
        for _ in range(1000):  # the unread socket fills the kernel's buffers
            assert channel.send(frame)
            if channel.buffered_amount:
                break
        assert 0 < channel.buffered_amount <= len(frame)

        async def drain() -> None:
            while await loop.sock_recv(raw, 1 << 20):
                pass

        drained = asyncio.ensure_future(drain())
        # writes complete in order: once this one has, every earlier one has been counted off
        await asyncio.wait_for(handler.write_message("[[:my-app/last] nil]"), 5 * S)
        assert channel.buffered_amount == 0
    finally:
        raw.close()
        if drained is not None:
            drained.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await drained


# -- many clients -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_hundreds_of_long_polls_and_websockets_on_one_process(start: Start) -> None:
    n_ws, n_polls = 300, 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * (n_ws + n_polls) + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    live = start(lp_timeout_ms=ms(30_000), send_buf_ms_ajax=ms(20), send_buf_ms_ws=ms(20))
    client = AsyncHTTPClient(force_instance=True, max_clients=n_polls + 10)
    sockets: list[WebSocketClientConnection] = []
    polls: list[asyncio.Future[Any]] = []
    try:
        for first in range(0, n_ws, 50):  # in groups: the listen backlog is 128
            sockets += await asyncio.gather(
                *(live.ws_open(f"w{i}", uid=f"ws-user{i}") for i in range(first, first + 50))
            )
        for i in range(n_polls):
            url = live.url(client_id=f"p{i}", uid=f"poll-user{i}")
            assert (await client.fetch(url)).code == 200  # handshake
            polls.append(asyncio.ensure_future(client.fetch(url, request_timeout=60 * S)))
        await live.until(lambda: len(live.server.connected_uids.any) == n_ws + n_polls, 20 * S)
        live.server.broadcast([kw("my-app/hello"), "everyone"])
        expected = '[[[:my-app/hello "everyone"]] nil]'
        received = await asyncio.wait_for(
            asyncio.gather(*(read(ws, 20 * S) for ws in sockets)), 20 * S
        )
        assert received == [expected] * n_ws
        answers = await asyncio.wait_for(asyncio.gather(*polls), 20 * S)
        assert [a.body.decode() for a in answers] == [expected] * n_polls
    finally:
        for poll in polls:
            poll.cancel()
        client.close()
        for ws in sockets:
            ws.close()
