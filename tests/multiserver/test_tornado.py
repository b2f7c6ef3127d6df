"""Plain Tornado servers in this process sharing one real Redis: sends, broadcasts, rooms, faults."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

from jupyter_sente.values import kw
from tests.backplane.conftest import RedisServer
from tests.backplane.helpers import seconds, until
from tests.multiserver.conftest import HEARTBEAT_MS, Connect, MakeNodes
from tests.multiserver.helpers import (
    FROM,
    REQUEST_ID,
    join,
    publish,
    reply,
    request,
)

pytestmark = [pytest.mark.redis, pytest.mark.asyncio]

ROOT = Path(__file__).resolve().parents[2]


async def test_send_to_a_uid_reaches_it_on_every_server_and_broadcast_reaches_all(
    nodes: MakeNodes, connect: Connect
) -> None:
    a, b, c = await nodes(3)
    alice_a = await connect(a, "alice", "a-1")
    alice_c = await connect(c, "alice", "a-2")  # a second tab, on another server
    bob = await connect(b, "bob", "b-1")
    await until(lambda: a.subscribed("uid", "alice") and c.subscribed("uid", "alice"))
    await until(lambda: b.subscribed("uid", "bob"))
    assert not b.subscribed("uid", "alice")  # a server listens only to its own uids

    a.server.send("alice", ["test/hello", {"n": 1}])  # alice has a tab here and one on C
    b.server.send("alice", ["test/hello", {"n": 2}])  # none here: both are elsewhere
    for tab in (alice_a, alice_c):
        await tab.wait_for(lambda t=tab: len(t.of("test/hello")) == 2)
        assert sorted(d["n"] for d in tab.of("test/hello")) == [1, 2]

    c.server.broadcast(["test/all", "everyone"])
    for client in (alice_a, alice_c, bob):
        await client.wait_for(lambda cl=client: cl.of("test/all") == ["everyone"])
    assert bob.of("test/hello") == []  # B never listened to alice's channel

    # alice's tab on C goes: C stops listening to her channel (after the grace period)
    await alice_c.client.close()
    await until(lambda: not c.subscribed("uid", "alice"), what="C unsubscribed alice")
    assert a.subscribed("uid", "alice")


async def test_rooms_presence_publish_and_requests_span_three_servers(
    nodes: MakeNodes, connect: Connect
) -> None:
    a, b, c = await nodes(3)
    alice = await connect(a, "alice", "a-1")
    bob = await connect(b, "bob", "b-1")
    carol = await connect(c, "carol", "c-1")
    await alice.client.request(join("lobby"), timeout=seconds(5))
    await bob.client.request(join("lobby", handles=[kw("q/double")]), timeout=seconds(5))
    await carol.client.request(join("lobby"), timeout=seconds(5))
    everyone = {"alice": ["a-1"], "bob": ["b-1"], "carol": ["c-1"]}
    for member in (alice, bob, carol):
        await member.wait_for(lambda m=member: m.presence("lobby") == everyone)

    # a publish on C reaches the members on A and B, once each
    await carol.client.send(publish("lobby", "chat/post", {kw("text"): "hi"}))
    for member in (alice, bob):
        (pushed,) = await member.wait_for(lambda m=member: m.room_events("chat/post"))
        assert pushed[FROM][kw("uid")] == "carol"

    # a request from A is routed to the handler on B; the reply goes back to A
    async def answer() -> None:
        (routed,) = await bob.wait_for(lambda: bob.room_events("q/double"))
        assert routed[REQUEST_ID].startswith("server-a.")  # the requester's server
        await bob.client.send(reply(routed[REQUEST_ID], routed[kw("event")][1] * 2))

    answering = asyncio.ensure_future(answer())
    assert await alice.client.request(request("lobby", "q/double", 21), timeout=seconds(5)) == 42
    await answering
    assert carol.room_events("q/double") == []  # routed to one handler, not published


async def test_redis_restart_local_delivery_goes_on_drops_are_counted_then_all_resumes(
    nodes: MakeNodes,
    connect: Connect,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="jupyter_sente.backplane")
    # a heartbeat far beyond the test: only the resync after the reconnect can heal presence
    a, b = await nodes(2, heartbeat_ms=600_000)
    alice = await connect(a, "alice", "a-1")
    carol = await connect(a, "carol", "c-1")  # on the same server as alice
    bob = await connect(b, "bob", "b-1")
    for member in (alice, carol, bob):
        await member.client.request(join("lobby"), timeout=seconds(5))
    everyone = {"alice": ["a-1"], "bob": ["b-1"], "carol": ["c-1"]}
    await alice.wait_for(lambda: alice.presence("lobby") == everyone)
    await until(lambda: b.subscribed("uid", "bob"))

    redis_server.kill()
    await until(lambda: not a.link.health().connected and not b.link.health().connected)
    for node in (a, b):
        assert not node.server.backplane.health().ok  # what a health check reads
        warned = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and node.name in r.getMessage()
        ]
        assert any("lost its connection" in w for w in warned), warned

    # while Redis is down: local room publishes and sends still arrive; remote ones drop
    await alice.client.send(publish("lobby", "chat/post", {kw("text"): "during"}))
    await carol.wait_for(lambda: carol.room_events("chat/post"))
    dropped = a.link.health().dropped_while_down
    a.server.send("bob", ["test/direct", "during"])
    # dropped and counted at the end of this loop turn (with whatever else it sent)
    await until(lambda: a.link.health().dropped_while_down > dropped, what="the drop")
    a.server.send("carol", ["test/direct", "local"])
    await carol.wait_for(lambda: carol.of("test/direct") == ["local"])
    # carol leaves: alice sees it now, bob cannot (the presence diff is dropped)
    await carol.client.request([kw("sente.room/leave"), {kw("room"): "lobby"}], timeout=seconds(5))
    now = {"alice": ["a-1"], "bob": ["b-1"]}
    await alice.wait_for(lambda: alice.presence("lobby") == now)
    assert bob.presence("lobby") == everyone

    redis_server.start()  # same port
    await until(lambda: a.link.health().ok and b.link.health().ok, timeout=10, what="reconnect")
    await until(lambda: b.subscribed("uid", "bob") and b.subscribed("room", "lobby"))
    for node in (a, b):
        assert node.link.health().reconnects == 1
    assert any("connected again" in r.getMessage() for r in caplog.records)

    # presence is right again on both sides (resynced as soon as the session is back), and
    # cross-server delivery resumes; what was dropped never comes late
    for member in (alice, bob):
        await member.wait_for(lambda m=member: m.presence("lobby") == now)
    await alice.client.send(publish("lobby", "chat/post", {kw("text"): "after"}))
    a.server.send("bob", ["test/direct", "after"])
    await bob.wait_for(lambda: bob.of("test/direct") == ["after"])
    await bob.wait_for(lambda: bob.room_events("chat/post"))
    texts = [e[kw("event")][1][kw("text")] for e in bob.room_events("chat/post")]
    assert texts == ["after"]


async def test_a_killed_server_members_expire_from_the_others_presence_as_a_diff(
    nodes: MakeNodes, connect: Connect, redis_server: RedisServer, namespace: str
) -> None:
    (a,) = await nodes(1)
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.multiserver.node"),
        *(redis_server.url, namespace, "server-killed", str(HEARTBEAT_MS)),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), seconds(30))
        assert line.startswith(b"PORT "), line
        url = f"http://127.0.0.1:{int(line.split()[1])}/chsk"
        alice = await connect(a, "alice", "a-1")
        bob = await connect(url, "bob", "b-1")
        await alice.client.request(join("lobby"), timeout=seconds(5))
        await bob.client.request(join("lobby"), timeout=seconds(5))
        await alice.wait_for(lambda: alice.presence("lobby") == {"alice": ["a-1"], "bob": ["b-1"]})
        seen = len(alice.msgs)

        proc.kill()  # no goodbye
        loop = asyncio.get_running_loop()
        killed = loop.time()
        await alice.wait_for(lambda: alice.presence("lobby") == {"alice": ["a-1"]}, timeout=10)
        took = loop.time() - killed
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    # it went by a presence diff, after 3 heartbeats of silence (checked every heartbeat), so
    # between 1.5 and 4 heartbeats after the kill (docs/backplane.md)
    assert [i for i in alice.diffs_dropping("lobby", "bob") if i >= seen]
    heartbeat = HEARTBEAT_MS / 1000
    assert heartbeat * 0.9 <= took <= 4 * heartbeat + seconds(1), took
