"""Faults: the server restarts, the network goes silent, WebSocket upgrades are refused.

Each runs against the independent stub server and against jupyter-sente's own server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from jupyter_sente.client import Client, ReplyClosed, ReplyFailed, ReplyTimeout
from tests.client.conftest import MS, SCALE, OurServer, Recorder, S, fast_timing
from tests.client.proxy import Proxy
from tests.client.stub_server import StubServer

pytestmark = pytest.mark.asyncio

SERVERS = ["stub", "ours"]


@pytest_asyncio.fixture(params=SERVERS)
async def server(request: pytest.FixtureRequest) -> AsyncIterator[StubServer | OurServer]:
    live: StubServer | OurServer = StubServer() if request.param == "stub" else OurServer()
    await live.start()
    yield live
    await live.stop()


@pytest_asyncio.fixture
async def proxy(server: StubServer | OurServer) -> AsyncIterator[Proxy]:
    p = Proxy(server.port)
    await p.start()
    yield p
    await p.stop()


@pytest_asyncio.fixture
async def clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        await client.close()


async def started(clients: list[Client], recorder: Recorder, url: str, **options: Any) -> Client:
    options.setdefault("timing", fast_timing())
    client = Client(url, **options)
    client.on_default(recorder)
    clients.append(client)
    await client.start()
    await client.wait_open(5 * S)
    return client


def closes(recorder: Recorder) -> list[dict[str, Any]]:
    """``last-close`` of every open -> closed notification."""
    return [new["last-close"] for _, new, flip in recorder.states() if flip and not new["open?"]]


@pytest.mark.parametrize("type", ["auto", "ajax"])
async def test_server_restart_reconnects_with_backoff_and_resumes(
    server: StubServer | OurServer, clients: list[Client], recorder: Recorder, type: str
) -> None:
    client = await started(clients, recorder, server.url, type=type)
    client.on("my-app/alert", recorder)  # a handler of its own, registered before the outage
    transport = client.transport
    assert transport == ("ws" if type == "auto" else "ajax")
    pending = asyncio.ensure_future(client.request("my-app/silent", 10 * S))
    await asyncio.sleep(100 * MS)  # the request is out

    await server.stop()
    # the first retry is immediate and fails: the second waits, announced by udt-next-reconnect
    await recorder.wait(lambda: any("udt-next-reconnect" in new for _, new, _ in recorder.states()))
    with pytest.raises(ReplyClosed if transport == "ws" else ReplyFailed):
        await pending
    assert not client.is_open
    assert await client.send("my-app/hello") is False
    with pytest.raises(ReplyClosed):
        await client.request(("my-app/echo", 1), 1)

    await server.start()
    await client.wait_open(5 * S)
    assert client.transport == transport  # a WebSocket that once worked is never given up
    assert recorder.opens() == [True, False, True]
    assert closes(recorder)[0]["reason"] == "unexpected"
    assert "udt-next-reconnect" not in client.state
    if transport == "ws":
        assert client.state["last-ws-close"]["clean?"] is False
    assert await client.request(("my-app/echo", 5), 2 * S) == 5
    await client.send("my-app/push-me")
    await recorder.wait_count("my-app/alert", 2)
    assert recorder.data("my-app/alert") == ["hi", "yo"]


async def test_silent_network_is_noticed_within_the_ping_timeout_and_recovers(
    server: StubServer | OurServer, proxy: Proxy, clients: list[Client], recorder: Recorder
) -> None:
    timing = fast_timing()
    client = await started(
        clients, recorder, proxy.url(), type="auto", timing=timing, connect_timeout=500 * MS
    )
    assert client.transport == "ws"
    loop = asyncio.get_running_loop()
    proxy.silent = True
    silent_at = loop.time()
    await recorder.wait(lambda: len(closes(recorder)) == 1)
    noticed = loop.time() - silent_at
    assert closes(recorder)[0]["reason"] == "ws-ping-timeout"
    assert timing.ws_kalive_tick_ms is not None
    budget = (timing.ws_kalive_tick_ms + timing.ws_ping_timeout_ms) / 1000
    assert noticed <= budget + 300 * MS, f"noticed after {noticed:.3f} s, budget {budget:.3f} s"

    proxy.silent = False
    await client.wait_open(5 * S)
    assert client.transport == "ws"
    assert await client.request(("my-app/echo", [1, 2]), 2 * S) == [1, 2]


async def test_upgrade_refused_by_a_proxy_falls_back_to_ajax_and_everything_works(
    server: StubServer | OurServer, proxy: Proxy, clients: list[Client], recorder: Recorder
) -> None:
    proxy.refuse_upgrades = True
    client = await started(clients, recorder, proxy.url(), type="auto")
    await check_ajax_fallback(client, recorder)
    assert proxy.refused == 1
    await client.reconnect()  # a manual reconnect tries the WebSocket first again ...
    await client.wait_open(5 * S)
    assert client.transport == "ajax" and proxy.refused == 2
    assert closes(recorder)[-1]["reason"] == "requested-reconnect"
    proxy.refuse_upgrades = False  # ... and uses it once it works
    await client.reconnect()
    await client.wait_open(5 * S)
    assert client.transport == "ws"


async def test_upgrade_refused_by_the_server_falls_back_to_ajax(
    stub: StubServer, clients: list[Client], recorder: Recorder
) -> None:
    stub.refuse_ws = True  # 403, as Sente's CSRF check answers a bad token
    client = await started(clients, recorder, stub.url, type="auto")
    await check_ajax_fallback(client, recorder)
    assert [r.kind for r in stub.requests][:2] == ["ws", "poll"]


async def check_ajax_fallback(client: Client, recorder: Recorder) -> None:
    """The client is on Ajax after a refused upgrade, and requests, pushes, timeouts work."""
    assert client.transport == "ajax"
    state = client.state
    assert state["type"] == "ajax" and "last-ws-error" in state
    assert recorder.data("chsk/handshake")[0][3] is True
    stream = client.events()
    assert await client.request(("my-app/echo", {"k": "v"}), 2 * S) == {"k": "v"}
    assert await client.send("my-app/push-me") is True
    got = [await asyncio.wait_for(anext(stream), 5 * S) for _ in range(2)]
    assert [(m.id, m.data) for m in got] == [("my-app/alert", "hi"), ("my-app/alert", "yo")]
    with pytest.raises(ReplyTimeout):
        await client.request(("my-app/late", int(300 * SCALE)), 100 * MS)


async def test_ws_type_never_downgrades(
    server: StubServer | OurServer, proxy: Proxy, clients: list[Client], recorder: Recorder
) -> None:
    proxy.refuse_upgrades = True
    client = Client(proxy.url(), type="ws", timing=fast_timing())
    client.on_default(recorder)
    clients.append(client)
    await client.start()
    await recorder.wait(lambda: any("udt-next-reconnect" in new for _, new, _ in recorder.states()))
    assert client.state["type"] == "ws" and not client.is_open
    assert client.state["last-ws-error"] is not None
    assert proxy.refused >= 2 and proxy.passed == 0  # no Ajax poll, ever
