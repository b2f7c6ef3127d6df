"""Rooms across two servers on one in-memory backplane: presence, publish, requests, goodbye."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from jupyter_sente.backplane import MemoryBackplane, MemoryHub
from jupyter_sente.client import Client, ClientTiming, EventMsg
from jupyter_sente.core.rooms import apply_presence_diff
from jupyter_sente.rooms.attach import attach_rooms
from jupyter_sente.rooms.federation import RoomFederation
from jupyter_sente.server import ChannelSocketServer, RequestInfo
from jupyter_sente.tornado import listen, make_app
from jupyter_sente.values import kw

SCALE = float(os.environ.get("SENTE_TEST_TIME_SCALE", "1"))
S = SCALE
MS = SCALE / 1000

ROOM, EVENT, STATE, CONNS = kw("room"), kw("event"), kw("state"), kw("conns")


def uid_param(request: RequestInfo) -> str | None:
    return request.param("uid")


class Node:
    """One server: a channel socket on a loopback port, its room hub, federated."""

    def __init__(self, bus: MemoryHub, name: str) -> None:
        self.server = ChannelSocketServer(
            csrf_token_fn=None, user_id_fn=uid_param, ms_allow_reconnect_before_close_ws=100
        )
        self.hub = attach_rooms(self.server)
        self.backplane = MemoryBackplane(hub=bus, server_id=name)
        self.federation = RoomFederation(self.hub, self.backplane, heartbeat_ms=int(500 * SCALE))
        self.http, port = listen(make_app(self.server, "/chsk"))
        self.url = f"http://127.0.0.1:{port}/chsk"

    async def stop(self) -> None:
        await self.federation.stop()
        self.hub.close()
        self.server.close()
        self.http.stop()


class Member:
    """A client of one node, recording what it receives."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.msgs: list[EventMsg] = []
        self.changed = asyncio.Event()
        client.on_default(self._got)
        for ev_id in ("sente.room/event", "sente.room/presence", "sente.room/presence-diff"):
            client.on(ev_id, self._got)

    def _got(self, msg: EventMsg) -> None:
        self.msgs.append(msg)
        self.changed.set()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5 * S) -> Any:
        async def until() -> Any:
            while not (value := predicate()):
                self.changed.clear()
                await self.changed.wait()
            return value

        return await asyncio.wait_for(until(), timeout)

    def presence(self, room: str) -> dict[Any, list[str]]:
        state: dict[Any, Any] = {}
        for m in self.msgs:
            if m.id == "sente.room/presence" and m.data[ROOM] == room:
                state = dict(m.data[STATE])
            elif m.id == "sente.room/presence-diff" and m.data[ROOM] == room:
                state = apply_presence_diff(state, m.data)
        return {u: sorted(c[kw("client-id")] for c in e[CONNS]) for u, e in state.items()}

    def events(self, ev_id: str) -> list[Any]:
        return [
            m.data
            for m in self.msgs
            if m.id == "sente.room/event" and m.data[EVENT][0] == kw(ev_id)
        ]


@pytest_asyncio.fixture
async def nodes() -> AsyncIterator[tuple[Node, Node, Callable[..., Any]]]:
    bus = MemoryHub()
    a, b = Node(bus, "server-a"), Node(bus, "server-b")
    await a.federation.start()
    await b.federation.start()
    clients: list[Client] = []

    async def connect(node: Node, uid: str, client_id: str) -> Member:
        client = Client(
            node.url,
            type="ws",
            params={"uid": uid},
            client_id=client_id,
            timing=ClientTiming(backoff_cap_ms=200),
        )
        member = Member(client)
        clients.append(client)
        await client.start()
        await client.wait_open(5 * S)
        return member

    yield a, b, connect
    for c in clients:
        await c.close()
    for node in (a, b):
        await node.stop()


def join(room: str, **extra: Any) -> list[Any]:
    return [kw("sente.room/join"), {ROOM: room, **{kw(k): v for k, v in extra.items()}}]


@pytest.mark.asyncio
async def test_presence_publish_and_requests_span_two_servers(nodes: Any) -> None:
    a, b, connect = nodes
    alice = await connect(a, "alice", "a-1")
    bob = await connect(b, "bob", "b-1")
    await alice.client.request(join("lobby"), timeout=5 * S)
    await bob.client.request(join("lobby", handles=[kw("q/double")]), timeout=5 * S)
    both = {"alice": ["a-1"], "bob": ["b-1"]}
    await alice.wait_for(lambda: alice.presence("lobby") == both)
    await bob.wait_for(lambda: bob.presence("lobby") == both)

    # a publish on server A reaches the member on server B
    await alice.client.send(
        [kw("sente.room/publish"), {ROOM: "lobby", EVENT: [kw("chat/post"), {kw("text"): "hi"}]}]
    )
    (pushed,) = await bob.wait_for(lambda: bob.events("chat/post"))
    assert pushed[kw("from")][kw("uid")] == "alice"

    # a request on A is routed to the handler on B, and its reply comes back
    async def answer() -> None:
        (routed,) = await bob.wait_for(lambda: bob.events("q/double"))
        value = routed[EVENT][1] * 2
        await bob.client.send(
            [
                kw("sente.room/reply"),
                {kw("request-id"): routed[kw("request-id")], kw("value"): value},
            ]
        )

    answering = asyncio.ensure_future(answer())
    ask = [kw("sente.room/request"), {ROOM: "lobby", EVENT: [kw("q/double"), 21]}]
    assert await alice.client.request(ask, timeout=5 * S) == 42
    await answering

    # the handler on B leaves while a request waits: closed
    waiting = asyncio.ensure_future(alice.client.request(ask, timeout=5 * S, raw=True))
    await bob.wait_for(lambda: len(bob.events("q/double")) == 2)
    await bob.client.send([kw("sente.room/leave"), {ROOM: "lobby"}])
    assert await waiting == kw("chsk/closed")
    await alice.wait_for(lambda: alice.presence("lobby") == {"alice": ["a-1"]})


@pytest.mark.asyncio
async def test_a_stopping_server_takes_its_members_with_it(nodes: Any) -> None:
    a, b, connect = nodes
    alice = await connect(a, "alice", "a-1")
    bob = await connect(b, "bob", "b-1")
    await bob.client.request(join("lobby"), timeout=5 * S)
    await alice.client.request(join("lobby"), timeout=5 * S)
    await alice.wait_for(lambda: "bob" in alice.presence("lobby"))
    await b.federation.stop()  # says goodbye on the backplane
    await alice.wait_for(lambda: alice.presence("lobby") == {"alice": ["a-1"]})


@pytest.mark.asyncio
async def test_a_server_that_goes_silent_expires(nodes: Any) -> None:
    a, b, connect = nodes
    alice = await connect(a, "alice", "a-1")
    bob = await connect(b, "bob", "b-1")
    await bob.client.request(join("lobby"), timeout=5 * S)
    await alice.client.request(join("lobby"), timeout=5 * S)
    await alice.wait_for(lambda: "bob" in alice.presence("lobby"))
    # B's heartbeat stops without a goodbye: after 3 heartbeats (1.5 s) A drops its members
    assert b.federation._ticker is not None
    b.federation._ticker.cancel()
    t0 = asyncio.get_running_loop().time()
    await alice.wait_for(lambda: alice.presence("lobby") == {"alice": ["a-1"]}, timeout=5 * S)
    assert asyncio.get_running_loop().time() - t0 >= 1.0 * S
