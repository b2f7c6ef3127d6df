"""Rooms on a real channel-socket server: what ``attach_rooms`` sends, and how soon."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from jupyter_sente.client import Client, EventMsg
from jupyter_sente.rooms.attach import attach_rooms
from jupyter_sente.server import ChannelSocketServer, RequestInfo
from jupyter_sente.tornado import listen, make_app
from jupyter_sente.values import kw

SCALE = float(os.environ.get("SENTE_TEST_TIME_SCALE", "1"))
S = SCALE

ROOM, EVENT = kw("room"), kw("event")
#: A batching window far longer than a loopback round trip.
WINDOW_MS = int(1000 * SCALE)


def uid_param(request: RequestInfo) -> str | None:
    return request.param("uid")


@pytest_asyncio.fixture
async def connect() -> AsyncIterator[Callable[[str], Awaitable[Client]]]:
    server = ChannelSocketServer(
        csrf_token_fn=None,
        user_id_fn=uid_param,
        send_buf_ms_ws=WINDOW_MS,
        send_buf_ms_ajax=WINDOW_MS,
    )
    hub = attach_rooms(server)
    http, port = listen(make_app(server, "/chsk"))
    clients: list[Client] = []

    async def connect(uid: str) -> Client:
        client = Client(
            f"http://127.0.0.1:{port}/chsk", type="ws", params={"uid": uid}, client_id=f"{uid}-1"
        )
        clients.append(client)
        await client.start()
        await client.wait_open(5 * S)
        return client

    yield connect
    for c in clients:
        await c.close()
    hub.close()
    server.close()
    http.stop()
    await http.close_all_connections()


@pytest.mark.asyncio
async def test_a_routed_request_and_its_reply_skip_the_batching_window(
    connect: Callable[[str], Awaitable[Client]],
) -> None:
    alice, bob = await connect("alice"), await connect("bob")

    async def double(msg: EventMsg) -> None:
        routed = msg.data
        if routed[EVENT][0] == kw("q/double") and kw("request-id") in routed:
            await bob.send(
                [
                    kw("sente.room/reply"),
                    {kw("request-id"): routed[kw("request-id")], kw("value"): routed[EVENT][1] * 2},
                ]
            )

    bob.on("sente.room/event", double)
    join = [kw("sente.room/join"), {ROOM: "lobby", kw("handles"): [kw("q/double")]}]
    assert (await bob.request(join, timeout=5 * S))[kw("ok?")] is True
    assert (await alice.request([kw("sente.room/join"), {ROOM: "lobby"}], timeout=5 * S))[
        kw("ok?")
    ] is True

    loop = asyncio.get_running_loop()
    ask = [kw("sente.room/request"), {ROOM: "lobby", EVENT: [kw("q/double"), 21]}]
    for _ in range(3):
        t0 = loop.time()
        assert await alice.request(ask, timeout=5 * S) == 42
        # a push waiting for its window would take WINDOW_MS at least
        assert loop.time() - t0 < WINDOW_MS / 2000


@pytest.mark.asyncio
async def test_room_publishes_stay_batched(connect: Callable[[str], Awaitable[Client]]) -> None:
    alice, bob = await connect("alice"), await connect("bob")
    got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    bob.on("sente.room/event", lambda msg: got.done() or got.set_result(msg.data))
    for client in (bob, alice):
        await client.request([kw("sente.room/join"), {ROOM: "lobby"}], timeout=5 * S)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await alice.send([kw("sente.room/publish"), {ROOM: "lobby", EVENT: [kw("chat/post"), 1]}])
    assert (await asyncio.wait_for(got, 5 * S))[EVENT][1] == 1
    # Sente batches pushes; only requests, which someone waits on, go at once
    assert loop.time() - t0 >= WINDOW_MS / 1000 * 0.9
