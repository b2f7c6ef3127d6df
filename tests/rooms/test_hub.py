"""The room hub against a recording port: routing, refusals, timers, policies, cleanup."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest

from jupyter_sente.core.rooms import Identity, Peer
from jupyter_sente.exceptions import UsageError
from jupyter_sente.rooms import Caller, JoinRequest, RoomHub
from jupyter_sente.values import kw

SCALE = float(os.environ.get("SENTE_TEST_TIME_SCALE", "1"))
MS = SCALE / 1000

ROOM, EVENT, OK, STATE = kw("room"), kw("event"), kw("ok?"), kw("state")
A = Caller(Peer("alice", "a-1"), Identity("alice"))
B = Caller(Peer("bob", "b-1"), Identity("bob"))
K = Caller(Peer("alice", "kernel-1"), Identity("alice"), kind="kernel", notebook="nb.ipynb")


class Port:
    """Records what the hub sends; the peers given are connected."""

    def __init__(self, *peers: Caller) -> None:
        self.reachable = {c.peer for c in peers}
        self.sent: list[tuple[Peer, list[Any]]] = []

    def connected(self, peer: Peer) -> bool:
        return peer in self.reachable

    def send(self, peer: Peer, event: list[Any], flush: bool = False) -> bool:
        if peer not in self.reachable:
            return False
        self.sent.append((peer, event))
        return True

    def to(self, caller: Caller, ev_id: str) -> list[Any]:
        return [e[1] for p, e in self.sent if p == caller.peer and e[0] == kw(ev_id)]


class Replies:
    """A reply function that keeps what it got."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.got = asyncio.Event()

    def __call__(self, value: Any) -> bool:
        self.values.append(value)
        self.got.set()
        return True


def join(hub: RoomHub, caller: Caller, room: str = "lobby", **data: Any) -> Any:
    r = Replies()
    hub.handle(
        caller, [kw("sente.room/join"), {ROOM: room, **{kw(k): v for k, v in data.items()}}], r
    )
    return r.values[0] if r.values else None


def test_events_outside_the_room_namespace_are_not_the_hubs() -> None:
    hub = RoomHub(Port(A))
    assert hub.handle(A, [kw("my-app/x"), 1]) is False
    assert hub.handle(A, [kw("sente.room/nonsense"), {}]) is True


def test_join_needs_a_connection_and_a_valid_room() -> None:
    hub = RoomHub(Port())  # nobody connected
    assert "open the channel socket" in join(hub, A)[kw("error")]
    hub = RoomHub(Port(A))
    assert join(hub, A, room="")[OK] is False
    bad = Replies()
    hub.handle(A, [kw("sente.room/join"), "lobby"], bad)
    assert bad.values[0][OK] is False


def test_only_the_host_makes_a_kernel_and_tabs_may_say_program() -> None:
    port = Port(A, K)
    hub = RoomHub(port)
    join(hub, A, kind="kernel")
    join(hub, K)
    state = hub.rooms.presence("lobby")[STATE]["alice"]
    assert [c[kw("kind")] for c in state[kw("conns")]] == ["tab", "kernel"]
    assert state[kw("conns")][1][kw("notebook")] == "nb.ipynb"
    join(hub, A, kind="program")
    kinds = {
        c[kw("client-id")]: c[kw("kind")]
        for c in hub.rooms.presence("lobby")[STATE]["alice"][kw("conns")]
    }
    assert kinds == {"a-1": "program", "kernel-1": "kernel"}


def test_a_tab_joining_after_its_kernel_shows_the_users_full_identity_to_everyone() -> None:
    tab = Caller(Peer("alice", "a-1"), Identity("alice", "Alice", "Alice", "AL", "#d62728"))
    port = Port(tab, B, K)
    hub = RoomHub(port)
    join(hub, K)  # a kernel knows only the username
    join(hub, B)
    join(hub, tab)
    (diff,) = port.to(B, "sente.room/presence-diff")
    entry = diff[kw("joins")]["alice"]
    assert (entry[kw("display-name")], entry[kw("initials")], entry[kw("color")]) == (
        "Alice",
        "AL",
        "#d62728",
    )
    assert [c[kw("client-id")] for c in entry[kw("conns")]] == ["kernel-1", "a-1"]
    # the kernel's own publishes now carry the full identity as well
    hub.handle(K, [kw("sente.room/publish"), {ROOM: "lobby", EVENT: [kw("nb/x"), 1]}])
    (pushed,) = port.to(B, "sente.room/event")
    assert pushed[kw("from")][kw("initials")] == "AL"
    assert pushed[kw("from")][kw("kind")] == "kernel"


def test_reserved_ids_cannot_be_published_or_handled() -> None:
    hub = RoomHub(Port(A))
    join(hub, A)
    for ev_id in ("chsk/handshake", "sente.room/join"):
        r = Replies()
        hub.handle(A, [kw("sente.room/publish"), {ROOM: "lobby", EVENT: [kw(ev_id), 1]}], r)
        assert r.values[0][OK] is False
    assert join(hub, A, handles=[kw("chsk/ws-ping")])[OK] is False


def test_a_request_without_a_callback_is_refused_quietly() -> None:
    port = Port(A, B)
    hub = RoomHub(port)
    join(hub, A)
    join(hub, B, handles=[kw("q/x")])
    assert hub.handle(A, [kw("sente.room/request"), {ROOM: "lobby", EVENT: [kw("q/x"), 1]}])
    assert port.to(B, "sente.room/event") == []


@pytest.mark.asyncio
async def test_the_hub_times_routed_requests_out_on_its_loop() -> None:
    port = Port(A, B)
    hub = RoomHub(port, max_request_timeout_ms=int(50 * SCALE))
    join(hub, A)
    join(hub, B, handles=[kw("q/x")])
    r = Replies()
    t0 = asyncio.get_running_loop().time()
    # asks for 10 s; the hub's cap (50 ms) wins
    hub.handle(
        A,
        [
            kw("sente.room/request"),
            {ROOM: "lobby", EVENT: [kw("q/x"), 1], kw("timeout-ms"): 10_000},
        ],
        r,
    )
    await asyncio.wait_for(r.got.wait(), 2 * SCALE)
    assert r.values == [kw("chsk/timeout")]
    assert asyncio.get_running_loop().time() - t0 >= 45 * MS
    # the late answer goes nowhere
    (routed,) = port.to(B, "sente.room/event")
    hub.handle(
        B, [kw("sente.room/reply"), {kw("request-id"): routed[kw("request-id")], kw("value"): 1}]
    )
    assert r.values == [kw("chsk/timeout")]


@pytest.mark.asyncio
async def test_only_the_chosen_handler_may_answer() -> None:
    port = Port(A, B)
    hub = RoomHub(port)
    join(hub, A)
    join(hub, B, handles=[kw("q/x")])
    r = Replies()
    hub.handle(A, [kw("sente.room/request"), {ROOM: "lobby", EVENT: [kw("q/x"), 1]}], r)
    (routed,) = port.to(B, "sente.room/event")
    rid = routed[kw("request-id")]
    hub.handle(A, [kw("sente.room/reply"), {kw("request-id"): rid, kw("value"): "forged"}])
    hub.handle(B, [kw("sente.room/reply"), {kw("request-id"): rid, kw("value"): "real"}])
    assert r.values == ["real"]
    hub.close()


@pytest.mark.asyncio
async def test_a_handler_gone_for_good_closes_its_requests_and_leaves_its_rooms() -> None:
    port = Port(A, B)
    hub = RoomHub(port)
    join(hub, A)
    join(hub, B, handles=[kw("q/x")])
    r = Replies()
    hub.handle(A, [kw("sente.room/request"), {ROOM: "lobby", EVENT: [kw("q/x"), 1]}], r)
    hub.connection_gone(B.peer)
    assert r.values == [kw("chsk/closed")]
    (diff,) = port.to(A, "sente.room/presence-diff")[-1:]
    assert list(diff[kw("leaves")]) == ["bob"]
    assert hub.rooms.members("lobby") == [A.peer]


@pytest.mark.asyncio
async def test_closing_the_hub_closes_waiting_requests() -> None:
    port = Port(A, B)
    hub = RoomHub(port)
    join(hub, A)
    join(hub, B, handles=[kw("q/x")])
    r = Replies()
    hub.handle(A, [kw("sente.room/request"), {ROOM: "lobby", EVENT: [kw("q/x"), 1]}], r)
    hub.close()
    assert r.values == [kw("chsk/closed")]


@pytest.mark.asyncio
async def test_a_failing_async_policy_refuses_the_join() -> None:
    async def broken(join: JoinRequest) -> bool:
        raise RuntimeError("policy store down")

    hub = RoomHub(Port(A), policy=broken)
    r = Replies()
    hub.handle(A, [kw("sente.room/join"), {ROOM: "lobby"}], r)
    await asyncio.wait_for(r.got.wait(), 2 * SCALE)
    assert r.values[0][OK] is False
    assert hub.rooms.members("lobby") == []


def test_str_keys_are_read_as_keywords() -> None:
    hub = RoomHub(Port(A))
    r = Replies()
    hub.handle(A, [kw("sente.room/join"), {"room": "lobby"}], r)
    assert r.values[0][OK] is True


def test_invalid_timeouts_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        RoomHub(Port(), max_request_timeout_ms=0)


def test_the_room_model_imports_no_io() -> None:
    code = (
        "import sys, jupyter_sente.core.rooms; print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('asyncio', 'tornado', 'jupyter_server')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_kernel_api_imports_no_server() -> None:
    code = (
        "import sys, jupyter_sente.kernel; print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('tornado', 'jupyter_server', 'redis')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
