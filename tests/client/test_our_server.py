"""The client against jupyter-sente's own server: the same wire, seen from both ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from jupyter_sente.client import Client
from jupyter_sente.client._ws import READ_SIZE
from tests.client.conftest import SCALE, OurServer, Recorder, S, fast_timing

pytestmark = pytest.mark.asyncio

TYPES = ["ws", "ajax"]


@pytest_asyncio.fixture
async def make_client(recorder: Recorder) -> AsyncIterator[Any]:
    clients: list[Client] = []

    async def make(url: str, *, wait: bool = True, **options: Any) -> Client:
        options.setdefault("timing", fast_timing())
        client = Client(url, **options)
        client.on_default(recorder)
        clients.append(client)
        await client.start()
        if wait:
            await client.wait_open(5 * S)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.mark.parametrize("type", TYPES)
async def test_handshake_request_and_push(
    ours: OurServer, make_client: Any, recorder: Recorder, type: str
) -> None:
    client = await make_client(ours.url, type=type)
    assert recorder.data("chsk/handshake") == [["bob", None, None, True]]
    assert client.state["type"] == type and client.uid == "bob"
    assert await client.request(("my-app/echo", {"n": [1, 2.5, None]}), 2 * S) == {
        "n": [1, 2.5, None]
    }
    client.on("my-app/alert", recorder)
    await client.send("my-app/push-me")
    await recorder.wait_count("my-app/alert", 2)
    assert recorder.data("my-app/alert") == ["hi", "yo"]


async def test_server_pings_are_answered_with_pongs(make_client: Any, recorder: Recorder) -> None:
    server = OurServer(ws_kalive_ms=int(300 * SCALE), ws_ping_timeout_ms=int(1_000 * SCALE))
    await server.start()
    try:
        await make_client(server.url, type="ws", timing=fast_timing(ws_kalive_ms=None))
        await recorder.wait_count("chsk/ws-ping")  # the server's bare :chsk/ws-ping, emitted
        await server.wait_seen("chsk/ws-pong", 2)  # and answered, again and again
        assert recorder.opens() == [True]
    finally:
        await server.stop()


async def test_client_pings_get_the_servers_pong(make_client: Any, recorder: Recorder) -> None:
    server = OurServer(ws_kalive_ms=None)
    await server.start()
    try:
        await make_client(server.url, type="ws")  # fast_timing: a ping after 200 ms of silence
        await server.wait_seen("chsk/ws-ping", 2)
        assert "chsk/ws-ping" not in recorder.ids()  # the server never pinged us
        assert recorder.opens() == [True]  # the first ping's "pong" came in time
    finally:
        await server.stop()


@pytest.mark.parametrize("type", ["auto", "ajax"])
async def test_csrf_token_is_accepted_on_every_transport(make_client: Any, type: str) -> None:
    server = OurServer(csrf_token_fn=lambda request: "s3cret")
    await server.start()
    try:
        client = await make_client(server.url, type=type, csrf_token=lambda: "s3cret")
        assert client.transport == ("ws" if type == "auto" else "ajax")
        assert await client.request(("my-app/echo", 1), 2 * S) == 1
        assert await client.send(("my-app/hello", 1)) is True
    finally:
        await server.stop()


async def test_bad_csrf_token_downgrades_then_backs_off(
    make_client: Any, recorder: Recorder
) -> None:
    server = OurServer(csrf_token_fn=lambda request: "s3cret")
    await server.start()
    try:
        client = await make_client(server.url, type="auto", csrf_token="wrong", wait=False)
        await recorder.wait(lambda: any("udt-next-reconnect" in s[1] for s in recorder.states()))
        assert client.state["type"] == "auto" and not client.is_open
        assert "last-ws-error" in client.state  # the refused upgrade, then Ajax polls refused
        assert client.transport in (None, "ajax")
    finally:
        await server.stop()


async def test_websocket_reads_stay_below_the_mmap_threshold(
    ours: OurServer, make_client: Any
) -> None:
    client = await make_client(ours.url, type="ws")
    assert client._session is not None and client._session.ws is not None
    assert client._session.ws.transport.max_size == READ_SIZE
    big = "x" * (5 * READ_SIZE)  # a message of several reads arrives whole
    assert await client.request(("my-app/echo", big), 5 * S) == big
