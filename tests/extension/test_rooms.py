"""Rooms over the Jupyter-hosted channel socket: join, presence diffs, publish, routed requests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_sente.backplane import MemoryBackplane
from jupyter_sente.core.rooms import apply_presence_diff
from jupyter_sente.values import kw
from tests.extension.conftest import GRACE_MS, MS, Recorder, S, sente_app

ROOM = kw("room")
STATE = kw("state")
CONNS = kw("conns")
CLIENT_ID = kw("client-id")
EVENT = kw("event")
FROM = kw("from")
REQUEST_ID = kw("request-id")
OK = kw("ok?")


def join(room: str, **extra: Any) -> list[Any]:
    return [kw("sente.room/join"), {ROOM: room, **{kw(k): v for k, v in extra.items()}}]


def conns(state: dict[Any, Any]) -> dict[Any, list[str]]:
    """uid -> sorted client-ids of a presence state."""
    return {uid: sorted(c[CLIENT_ID] for c in e[CONNS]) for uid, e in state.items()}


class PresenceMirror:
    """What a member knows of a room: the full state, then every diff applied."""

    def __init__(self, rec: Recorder, room: str) -> None:
        self.rec = rec
        self.room = room

    def diffs(self) -> list[Any]:
        return [
            m.data for m in self.rec.of("sente.room/presence-diff") if m.data[ROOM] == self.room
        ]

    def state(self) -> dict[Any, Any]:
        full = [
            m for m in self.rec.msgs if m.id == "sente.room/presence" and m.data[ROOM] == self.room
        ]
        if not full:
            return {}
        start = self.rec.msgs.index(full[-1])
        state = dict(full[-1].data[STATE])
        for m in self.rec.msgs[start + 1 :]:
            if m.id == "sente.room/presence-diff" and m.data[ROOM] == self.room:
                state = apply_presence_diff(state, m.data)
        return state

    async def until(self, expected: dict[Any, list[str]]) -> None:
        await self.rec.wait_for(lambda: conns(self.state()) == expected)


async def test_join_replies_with_the_state_and_pushes_it(clients: Any) -> None:
    alice, rec = await clients("alice", client_id="a-1")
    reply = await alice.request(join("lobby"), timeout=5 * S)
    assert reply[OK] is True and conns(reply[STATE]) == {"alice": ["a-1"]}
    await PresenceMirror(rec, "lobby").until({"alice": ["a-1"]})


async def test_presence_diffs_for_join_second_tab_leave_and_disconnect(clients: Any) -> None:
    bob, bob_rec = await clients("bob", client_id="b-1")
    await bob.request(join("lobby"), timeout=5 * S)
    view = PresenceMirror(bob_rec, "lobby")
    await view.until({"bob": ["b-1"]})

    alice1, _ = await clients("alice", client_id="a-1")
    await alice1.request(join("lobby"), timeout=5 * S)
    await view.until({"alice": ["a-1"], "bob": ["b-1"]})

    alice2, _ = await clients("alice", client_id="a-2")  # a second tab of the same user
    await alice2.request(join("lobby"), timeout=5 * S)
    await view.until({"alice": ["a-1", "a-2"], "bob": ["b-1"]})
    entry = view.state()["alice"]
    assert entry[kw("name")] == "Alice Liddell" and [c[kw("kind")] for c in entry[CONNS]] == [
        "tab",
        "tab",
    ]

    left = await alice2.request([kw("sente.room/leave"), {ROOM: "lobby"}], timeout=5 * S)
    assert left[OK] is True
    await view.until({"alice": ["a-1"], "bob": ["b-1"]})

    # a disconnect without leave: the member goes only after the grace period
    gone_at = asyncio.get_running_loop().time()
    await alice1.close()
    await view.until({"bob": ["b-1"]})
    waited = asyncio.get_running_loop().time() - gone_at
    assert waited >= 0.9 * GRACE_MS * MS
    # every change came as a diff, with only the connections that changed
    assert [sorted(d[kw("joins")]) + sorted(d[kw("leaves")]) for d in view.diffs()] == [
        ["alice"],
        ["alice"],
        ["alice"],
        ["alice"],
    ]


async def test_a_quick_reconnect_keeps_the_member(clients: Any) -> None:
    bob, bob_rec = await clients("bob", client_id="b-1")
    await bob.request(join("lobby"), timeout=5 * S)
    alice, _ = await clients("alice", client_id="a-1")
    await alice.request(join("lobby"), timeout=5 * S)
    view = PresenceMirror(bob_rec, "lobby")
    await view.until({"alice": ["a-1"], "bob": ["b-1"]})
    await alice.reconnect()
    await alice.wait_open(5 * S)
    await asyncio.sleep(2 * GRACE_MS * MS)  # past the grace period: nothing may have changed
    assert conns(view.state()) == {"alice": ["a-1"], "bob": ["b-1"]}
    assert len(view.diffs()) == 1


async def test_publish_reaches_members_and_the_sender_only_when_asked(clients: Any) -> None:
    alice, alice_rec = await clients("alice", client_id="a-1")
    bob, bob_rec = await clients("bob", client_id="b-1")
    _outsider, out_rec = await clients("bob", client_id="b-2")  # same uid, not in the room
    for c in (alice, bob):
        await c.request(join("lobby"), timeout=5 * S)

    def got(rec: Recorder, text: str) -> list[Any]:
        return [
            m.data
            for m in rec.of("sente.room/event")
            if m.data[EVENT] == [kw("chat/post"), {kw("text"): text}]
        ]

    ack = await alice.request(
        [kw("sente.room/publish"), {ROOM: "lobby", EVENT: [kw("chat/post"), {kw("text"): "one"}]}],
        timeout=5 * S,
    )
    assert ack[OK] is True and ack[kw("delivered")] == 1
    pushed = await bob_rec.wait_for(lambda: got(bob_rec, "one"))
    assert pushed[0][FROM][kw("uid")] == "alice" and pushed[0][FROM][CLIENT_ID] == "a-1"
    await alice.send(
        [
            kw("sente.room/publish"),
            {
                ROOM: "lobby",
                EVENT: [kw("chat/post"), {kw("text"): "two"}],
                kw("include-self?"): True,
            },
        ]
    )
    await alice_rec.wait_for(lambda: got(alice_rec, "two"))
    await bob_rec.wait_for(lambda: got(bob_rec, "two"))
    assert got(alice_rec, "one") == []  # not to itself unless asked
    assert out_rec.of("sente.room/event") == []  # per connection, not per uid


async def test_outsiders_cannot_publish_or_request(clients: Any) -> None:
    alice, _ = await clients("alice")
    refused = await alice.request(
        [kw("sente.room/publish"), {ROOM: "lobby", EVENT: [kw("chat/post"), {}]}], timeout=5 * S
    )
    assert refused[OK] is False and "not in room" in refused[kw("error")]
    value = await alice.request(
        [kw("sente.room/request"), {ROOM: "lobby", EVENT: [kw("q/x"), 1]}], timeout=5 * S, raw=True
    )
    assert value == kw("chsk/error")


async def answer_requests(client: Any, rec: Recorder, *, count: int, fn: Any) -> list[Any]:
    """Act as a handler peer: answer ``count`` routed requests with ``fn(data)``."""
    seen: list[Any] = []
    while len(seen) < count:
        pending = [
            m.data
            for m in rec.of("sente.room/event")
            if REQUEST_ID in m.data and m.data not in seen
        ]
        if not pending:
            await rec.wait_for(
                lambda: [
                    m
                    for m in rec.of("sente.room/event")
                    if REQUEST_ID in m.data and m.data not in seen
                ]
            )
            continue
        for data in pending:
            seen.append(data)
            value = fn(data[EVENT][1])
            await client.send(
                [kw("sente.room/reply"), {REQUEST_ID: data[REQUEST_ID], kw("value"): value}]
            )
    return seen


async def test_a_request_is_routed_to_a_handler_peer_and_its_reply_comes_back(clients: Any) -> None:
    bob, bob_rec = await clients("bob", client_id="b-1")
    await bob.request(join("lobby", handles=[kw("dash/query")]), timeout=5 * S)
    alice, alice_rec = await clients("alice", client_id="a-1")
    await alice.request(join("lobby"), timeout=5 * S)
    ask = [kw("sente.room/request"), {ROOM: "lobby", EVENT: [kw("dash/query"), {kw("q"): 21}]}]
    answering = asyncio.ensure_future(
        answer_requests(bob, bob_rec, count=1, fn=lambda d: {kw("double"): d[kw("q")] * 2})
    )
    assert await alice.request(ask, timeout=5 * S) == {kw("double"): 42}
    (routed,) = await answering
    assert routed[FROM][kw("uid")] == "alice"
    assert alice_rec.of("sente.room/event") == []  # the request went to the handler only


async def test_request_outcomes_when_nobody_answers(clients: Any) -> None:
    bob, _ = await clients("bob", client_id="b-1")
    await bob.request(join("lobby", handles=[kw("dash/slow")]), timeout=5 * S)
    alice, _ = await clients("alice", client_id="a-1")
    await alice.request(join("lobby"), timeout=5 * S)

    def ask(ev_id: str, timeout_ms: int) -> list[Any]:
        return [
            kw("sente.room/request"),
            {ROOM: "lobby", EVENT: [kw(ev_id), None], kw("timeout-ms"): timeout_ms},
        ]

    # no member handles it: closed at once
    assert await alice.request(ask("dash/none", 5000), timeout=5 * S, raw=True) == kw("chsk/closed")
    # the handler does not answer in time: the server's timeout
    t0 = asyncio.get_running_loop().time()
    outcome = await alice.request(ask("dash/slow", int(300 * S)), timeout=5 * S, raw=True)
    assert outcome == kw("chsk/timeout")
    assert asyncio.get_running_loop().time() - t0 >= 0.25 * S
    # the handler peer leaves while the request waits: closed
    waiting = asyncio.ensure_future(alice.request(ask("dash/slow", 5000), timeout=5 * S, raw=True))
    await asyncio.sleep(100 * MS)
    await bob.send([kw("sente.room/leave"), {ROOM: "lobby"}])
    assert await waiting == kw("chsk/closed")


async def test_handler_registration_can_change_after_join(clients: Any) -> None:
    bob, bob_rec = await clients("bob", client_id="b-1")
    await bob.request(join("lobby"), timeout=5 * S)
    alice, _ = await clients("alice", client_id="a-1")
    await alice.request(join("lobby"), timeout=5 * S)
    ask = [kw("sente.room/request"), {ROOM: "lobby", EVENT: [kw("dash/q"), 1]}]
    assert await alice.request(ask, timeout=5 * S, raw=True) == kw("chsk/closed")
    ok = await bob.request(
        [kw("sente.room/handlers"), {ROOM: "lobby", kw("ids"): [kw("dash/q")]}], timeout=5 * S
    )
    assert ok[OK] is True
    answering = asyncio.ensure_future(answer_requests(bob, bob_rec, count=1, fn=lambda d: d + 1))
    assert await alice.request(ask, timeout=5 * S) == 2
    await answering


async def test_an_ajax_client_takes_part_in_rooms(clients: Any) -> None:
    alice, _ = await clients("alice", client_id="a-1")
    bob, bob_rec = await clients("bob", client_id="b-1", type="ajax")
    assert bob.transport == "ajax"
    await bob.request(join("lobby"), timeout=5 * S)
    await alice.request(join("lobby"), timeout=5 * S)
    await alice.send(
        [kw("sente.room/publish"), {ROOM: "lobby", EVENT: [kw("chat/post"), {kw("text"): "hi"}]}]
    )
    await bob_rec.wait_for(lambda: bob_rec.of("sente.room/event"))


def only_lobby(join: Any) -> bool:
    """A test room policy: only the lobby, and kernels may join anything."""
    return bool(join.room == "lobby" or join.caller.kind == "kernel")


class TestRoomPolicy:
    @pytest.fixture
    def sente_config(self) -> dict[str, Any]:
        return {"room_policy": f"{__name__}.only_lobby"}

    async def test_the_policy_decides_who_joins_which_room(self, clients: Any) -> None:
        alice, _ = await clients("alice")
        assert (await alice.request(join("lobby"), timeout=5 * S))[OK] is True
        refused = await alice.request(join("staff"), timeout=5 * S)
        assert refused[OK] is False and "not allowed" in refused[kw("error")]


async def async_policy(join: Any) -> bool:
    await asyncio.sleep(0.01)
    return bool(join.caller.identity.uid != "bob")


class TestAsyncRoomPolicy:
    @pytest.fixture
    def sente_config(self) -> dict[str, Any]:
        return {"room_policy": f"{__name__}.async_policy"}

    async def test_an_async_policy_is_awaited(self, clients: Any) -> None:
        alice, _ = await clients("alice")
        bob, _ = await clients("bob")
        assert (await alice.request(join("lobby"), timeout=5 * S))[OK] is True
        assert (await bob.request(join("lobby"), timeout=5 * S))[OK] is False


class TestBackplane:
    @pytest.fixture
    def sente_config(self) -> dict[str, Any]:
        return {"backplane_url": "memory://", "backplane_namespace": "ext-test"}

    async def test_rooms_are_announced_to_the_other_servers(
        self, clients: Any, jp_serverapp: Any
    ) -> None:
        # another server on the same in-memory backplane sees the extension's presence
        other = MemoryBackplane(namespace="ext-test", server_id="other-server")
        seen: list[Any] = []
        got = asyncio.Event()

        def on_message(msg: Any) -> None:
            seen.append(msg)
            got.set()

        await other.start(on_message)
        await other.subscribe_room("lobby")
        try:
            alice, _ = await clients("alice", client_id="a-1")
            await alice.request(join("lobby"), timeout=5 * S)

            def snapshot() -> list[Any]:
                return [m for m in seen if m.kind == "presence" and m.body.get("op") == "snapshot"]

            while not snapshot():
                got.clear()
                await asyncio.wait_for(got.wait(), 5 * S)
            (members,) = [m.body["members"] for m in snapshot()]
            (meta,) = members.values()
            assert (meta["uid"], meta["client-id"], meta["kind"]) == ("alice", "a-1", "tab")
            federation = sente_app(jp_serverapp).federation
            assert federation is not None and federation.backplane.health().connected
        finally:
            await other.stop()
