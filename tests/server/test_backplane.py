"""``attach_backplane``: a server's sends and broadcasts reach the clients of other servers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from jupyter_sente.backplane import CONTROL_BYE, BackplaneMessage, MemoryBackplane, MemoryHub
from jupyter_sente.client import Client, ClientTiming
from jupyter_sente.core.events import ALL_USERS_WITHOUT_UID, NIL_UID
from jupyter_sente.exceptions import UsageError
from jupyter_sente.server import BackplaneLink, ChannelSocketServer, attach_backplane
from jupyter_sente.server.backplane import uid_target
from jupyter_sente.tornado import listen, make_app
from jupyter_sente.values import kw
from tests.backplane.helpers import Inbox, until
from tests.multiserver.helpers import Recorded
from tests.server.helpers import TEST_OPTIONS, S

pytestmark = pytest.mark.asyncio


class Served:
    """A server on a loopback port, linked to a memory backplane."""

    def __init__(self, bus: MemoryHub, name: str, **backplane_opts: Any) -> None:
        self.server = ChannelSocketServer(**TEST_OPTIONS, ms_allow_reconnect_before_close_ws=100)
        self.backplane = MemoryBackplane(hub=bus, server_id=name, **backplane_opts)
        self.link = attach_backplane(self.server, self.backplane)
        self.http, port = listen(make_app(self.server, "/chsk"))
        self.url = f"http://127.0.0.1:{port}/chsk"

    def listens_to(self, uid: Any) -> bool:
        channel = self.backplane.channel("uid", uid_target(uid, self.backplane))
        return channel in self.backplane.health().subscribed


Serve = Callable[..., Awaitable[Served]]
Connect = Callable[..., Awaitable[Recorded]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    bus = MemoryHub()
    made: list[Served] = []

    async def make(name: str, **backplane_opts: Any) -> Served:
        served = Served(bus, name, **backplane_opts)
        made.append(served)
        await served.link.start()
        return served

    yield make
    for s in made:
        await s.link.stop()
        s.server.close()
        s.http.stop()


@pytest_asyncio.fixture
async def connect() -> AsyncIterator[Connect]:
    made: list[Client] = []

    async def make(served: Served, uid: str | None, client_id: str) -> Recorded:
        params = {} if uid is None else {"uid": uid}
        client = Client(
            served.url,
            type="ws",
            params=params,
            client_id=client_id,
            timing=ClientTiming(backoff_cap_ms=200),
        )
        rec = Recorded(client)
        made.append(client)
        await client.start()
        await client.wait_open(5 * S)
        return rec

    yield make
    for client in made:
        await client.close()


async def test_send_and_broadcast_reach_the_clients_of_another_server(
    serve: Serve, connect: Connect
) -> None:
    a, b = await serve("server-a"), await serve("server-b")
    alice = await connect(b, "alice", "a-1")
    anon = await connect(b, None, "anon-1")  # uid NIL_UID: not a str, named by its packed text
    bob = await connect(a, "bob", "b-1")
    await until(lambda: b.listens_to("alice") and b.listens_to(NIL_UID))
    assert not a.listens_to("alice") and a.listens_to("bob")
    assert uid_target(NIL_UID, a.backplane).startswith("~")

    a.server.send("alice", ["test/hello", "alice"])
    a.server.send(ALL_USERS_WITHOUT_UID, ["test/hello", "anonymous"])
    await alice.wait_for(lambda: alice.of("test/hello") == ["alice"])
    await anon.wait_for(lambda: anon.of("test/hello") == ["anonymous"])

    a.server.broadcast(["test/all", 1], flush=True)
    for client in (alice, anon, bob):
        await client.wait_for(lambda c=client: c.of("test/all") == [1])
    assert bob.of("test/hello") == []


async def test_the_sends_of_one_loop_turn_travel_as_one_message_per_target(
    serve: Serve, connect: Connect
) -> None:
    a, b = await serve("server-a"), await serve("server-b")
    alice = await connect(b, "alice", "a-1")
    bob = await connect(b, "bob", "b-1")
    await until(lambda: b.listens_to("alice") and b.listens_to("bob"))
    received = b.backplane.health().received
    for n in range(300):  # more than one message holds: 256 + 44
        a.server.send("alice", ["test/n", n])
    a.server.broadcast(["test/all", 1])
    a.server.send("bob", ["test/n", 0])
    await alice.wait_for(lambda: len(alice.of("test/n")) == 300)
    assert alice.of("test/n") == list(range(300))  # in order
    await bob.wait_for(lambda: bob.of("test/all") == [1] and bob.of("test/n") == [0])
    assert b.backplane.health().received - received == 4  # alice 2, bob 1, everyone 1


async def test_a_send_the_backplane_refuses_still_reaches_local_clients(
    serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = await serve("server-a", max_message_bytes=400), await serve("server-b")
    bob = await connect(a, "bob", "b-1")
    alice = await connect(b, "alice", "a-1")
    await until(lambda: b.listens_to("alice"))
    a.server.send("bob", ["test/big", "x" * 500])
    await bob.wait_for(lambda: bob.of("test/big"))
    await until(lambda: a.link.refused == 1, what="the refusal")
    assert a.backplane.health().refused_too_large == 1
    # together too large, one by one not: split until the parts fit
    for n in range(8):
        a.server.send("alice", ["test/n", f"{n}" * 100])
    await alice.wait_for(lambda: len(alice.of("test/n")) == 8)
    assert [t[0] for t in alice.of("test/n")] == [str(n) for n in range(8)]
    assert a.link.refused == 1
    assert any(
        r.levelno == logging.WARNING and "did not go to the other servers" in r.getMessage()
        for r in caplog.records
    )


async def test_stop_says_goodbye_and_leaves_the_server_local(
    serve: Serve, connect: Connect
) -> None:
    a, b = await serve("server-a"), await serve("server-b")
    controls = Inbox()
    b.link.route(["control"], controls)
    bob = await connect(a, "bob", "b-1")
    alice = await connect(b, "alice", "a-1")
    await until(lambda: b.listens_to("alice"))
    a.server.send("alice", ["test/last", 1])  # in the same turn as the stop: still goes
    await a.link.stop()
    await a.link.stop()  # idempotent
    await alice.wait_for(lambda: alice.of("test/last") == [1])
    assert a.server.relay is None and not a.link.running
    (bye,) = await controls.wait_count(1)
    assert (bye.origin, bye.body) == ("server-a", CONTROL_BYE)
    a.server.send("bob", ["test/still", "local"])  # no backplane to publish on: fine
    await bob.wait_for(lambda: bob.of("test/still") == ["local"])


async def test_a_server_takes_one_link_and_a_kind_goes_to_one_handler() -> None:
    server = ChannelSocketServer(**TEST_OPTIONS)
    assert server.backplane is None and server.relay is None  # no backplane: all local
    link = attach_backplane(server, MemoryBackplane(hub=MemoryHub()))
    assert isinstance(link, BackplaneLink) and server.relay is link
    assert server.backplane is link.backplane
    with pytest.raises(UsageError, match="attached to a backplane already"):
        attach_backplane(server, MemoryBackplane(hub=MemoryHub()))
    with pytest.raises(UsageError, match="the link's own"):
        link.route(["uid"], Inbox())
    first = Inbox()
    link.route(["room", "presence"], first)
    link.route(["room"], first)  # the same handler again: fine
    with pytest.raises(UsageError, match="already go to"):
        link.route(["room"], Inbox())


async def test_malformed_messages_and_reserved_events_from_another_server_are_dropped(
    serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = await serve("server-a"), await serve("server-b")
    bob = await connect(a, "bob", "b-1")
    await b.backplane.publish(BackplaneMessage("broadcast", None, {"event": "not events"}))
    forged = [[kw("chsk/handshake"), ["x", None, None, True]], False]
    good = [[kw("test/ok"), 1], False]
    await b.backplane.publish(BackplaneMessage("broadcast", None, {"events": [forged, good]}))
    await bob.wait_for(lambda: bob.of("test/ok") == [1])
    messages = [r.getMessage() for r in caplog.records]
    assert any("no events" in m for m in messages)
    assert any("dropped an event from server server-b" in m for m in messages)
    assert [h[0] for h in bob.of("chsk/handshake")] == ["bob"]  # its own handshake only
    assert a.backplane.health().handler_errors == 0
