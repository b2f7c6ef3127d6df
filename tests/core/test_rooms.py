"""Rooms as data: membership, presence state and diffs, handler routing, routed requests."""

from __future__ import annotations

import pytest

from jupyter_sente.core.rooms import (
    K_CLIENT_ID,
    K_COLOR,
    K_CONNS,
    K_JOINS,
    K_KIND,
    K_LEAVES,
    K_META,
    K_NAME,
    K_NOTEBOOK,
    K_STATE,
    Identity,
    Member,
    Peer,
    Rooms,
    RoutedRequests,
    apply_presence_diff,
    check_room_name,
    default_color,
    join_data,
    presence_members,
    read_event,
    read_ids,
    read_room,
)
from jupyter_sente.exceptions import ProtocolError, UsageError
from jupyter_sente.values import kw

ALICE = Identity("alice", "Alice", color="#000000")
BOB = Identity("bob")
A1 = Peer("alice", "tab-1")
A2 = Peer("alice", "tab-2")
AK = Peer("alice", "kernel-1")
B1 = Peer("bob", "tab-9")


def member(peer: Peer, identity: Identity, kind: str = "tab", **kw_: object) -> Member:
    return Member(peer, identity, kind, **kw_)  # type: ignore[arg-type]


def conn_ids(state: dict, uid: str) -> list[str]:
    return [c[K_CLIENT_ID] for c in state[uid][K_CONNS]]


def test_join_gives_full_state_to_joiner_and_a_diff_to_the_others() -> None:
    rooms = Rooms()
    first = rooms.join("lobby", member(A1, ALICE))
    assert first.new and first.others == []
    second = rooms.join("lobby", member(B1, BOB))
    assert second.others == [A1]
    assert sorted(second.state[K_STATE]) == ["alice", "bob"]
    assert second.diff is not None
    assert list(second.diff[K_JOINS]) == ["bob"] and second.diff[K_LEAVES] == {}


def test_presence_has_one_entry_per_uid_with_each_connection_and_its_kind() -> None:
    rooms = Rooms()
    rooms.join("lobby", member(A1, ALICE))
    rooms.join("lobby", member(AK, ALICE, "kernel", notebook="a.ipynb"))
    state = rooms.presence("lobby")[K_STATE]
    assert list(state) == ["alice"]
    conns = state["alice"][K_CONNS]
    assert [(c[K_CLIENT_ID], c[K_KIND]) for c in conns] == [
        ("tab-1", "tab"),
        ("kernel-1", "kernel"),
    ]
    assert conns[1][K_NOTEBOOK] == "a.ipynb"
    assert state["alice"][K_NAME] == "Alice" and state["alice"][K_COLOR] == "#000000"


def test_identity_without_colour_gets_a_stable_default() -> None:
    wire = BOB.to_wire()
    assert wire[K_COLOR] == default_color("bob") == default_color("bob")
    assert wire[K_NAME] == "bob"


def test_rejoining_unchanged_sends_no_diff_but_a_changed_meta_sends_leave_and_join() -> None:
    rooms = Rooms()
    rooms.join("lobby", member(A1, ALICE))
    rooms.join("lobby", member(B1, BOB))
    assert rooms.join("lobby", member(A1, ALICE)).diff is None
    changed = rooms.join("lobby", member(A1, ALICE, meta={"cursor": 3}))
    assert changed.diff is not None and not changed.new
    assert conn_ids(changed.diff[K_LEAVES], "alice") == ["tab-1"]
    assert changed.diff[K_JOINS]["alice"][K_CONNS][0][K_META] == {"cursor": 3}


def test_leave_and_drop_produce_diffs_and_forget_empty_rooms() -> None:
    rooms = Rooms()
    rooms.join("lobby", member(A1, ALICE))
    rooms.join("other", member(A1, ALICE))
    rooms.join("lobby", member(B1, BOB))
    left = rooms.leave("lobby", B1)
    assert left is not None and left.others == [A1]
    assert conn_ids(left.diff[K_LEAVES], "bob") == ["tab-9"]
    assert rooms.leave("lobby", B1) is None
    dropped = rooms.drop(A1)
    assert sorted(x.room for x in dropped) == ["lobby", "other"]
    assert rooms.rooms() == [] and rooms.rooms_of(A1) == frozenset()


def test_drop_host_removes_every_connection_of_that_server() -> None:
    rooms = Rooms()
    remote = Peer("carol", "tab-3", host="h2")
    rooms.join("lobby", member(A1, ALICE))
    rooms.join("lobby", member(remote, Identity("carol")))
    gone = rooms.drop_host("h2")
    assert [x.member.peer for x in gone] == [remote]
    assert rooms.members("lobby") == [A1]


def test_applying_diffs_to_the_initial_state_gives_the_current_state() -> None:
    rooms = Rooms()
    state = rooms.join("lobby", member(A1, ALICE)).state[K_STATE]
    diffs = []
    for m in (member(A2, ALICE), member(B1, BOB), member(AK, ALICE, "kernel")):
        j = rooms.join("lobby", m)
        assert j.diff is not None
        diffs.append(j.diff)
    j = rooms.join("lobby", member(A2, ALICE, meta="x"))
    assert j.diff is not None
    diffs.append(j.diff)
    for peer in (A1, B1):
        left = rooms.leave("lobby", peer)
        assert left is not None
        diffs.append(left.diff)
    for d in diffs:
        state = apply_presence_diff(state, d)
    expected = rooms.presence("lobby")[K_STATE]
    assert {u: sorted(conn_ids(state, u)) for u in state} == {
        u: sorted(conn_ids(expected, u)) for u in expected
    }
    assert [e[K_NAME] for e in presence_members(state)] == ["Alice"]


def test_a_tab_gives_its_full_identity_to_a_kernel_of_its_uid_that_joined_first() -> None:
    rooms = Rooms()
    kernel_only = Identity("alice")  # a kernel connects with the username alone
    state = rooms.join("lobby", member(AK, kernel_only, "kernel")).state[K_STATE]
    bob = rooms.join("lobby", member(B1, BOB))
    assert bob.diff is not None
    state = apply_presence_diff(state, bob.diff)
    assert state["alice"][K_NAME] == "alice"
    tab = rooms.join("lobby", member(A1, ALICE))
    assert tab.diff is not None and tab.diff[K_LEAVES] == {}
    assert tab.diff[K_JOINS]["alice"][K_NAME] == "Alice"
    assert sorted(conn_ids(tab.diff[K_JOINS], "alice")) == ["kernel-1", "tab-1"]
    assert set(tab.others) == {AK, B1}
    expected = rooms.presence("lobby")[K_STATE]
    assert expected["alice"][K_NAME] == "Alice" and expected["alice"][K_COLOR] == "#000000"
    assert apply_presence_diff(state, tab.diff) == expected
    kernel = rooms.member("lobby", AK)
    assert kernel is not None and kernel.identity == ALICE and kernel.kind == "kernel"


def test_a_kernel_joining_after_a_tab_keeps_the_tabs_identity() -> None:
    rooms = Rooms()
    state = rooms.join("lobby", member(A1, ALICE)).state[K_STATE]
    joined = rooms.join("lobby", member(AK, Identity("alice"), "kernel"))
    assert joined.diff is not None
    assert joined.diff[K_JOINS]["alice"][K_NAME] == "Alice"
    state = apply_presence_diff(state, joined.diff)
    assert state == rooms.presence("lobby")[K_STATE]
    assert state["alice"][K_NAME] == "Alice"
    # the tab leaves; the kernel keeps the identity, and joining again changes nothing
    left = rooms.leave("lobby", A1)
    assert left is not None
    assert rooms.presence("lobby")[K_STATE]["alice"][K_NAME] == "Alice"
    assert rooms.join("lobby", member(AK, Identity("alice"), "kernel")).diff is None


def test_handlers_route_round_robin_and_avoid_the_requester_when_they_can() -> None:
    rooms = Rooms()
    q = kw("dash/query")
    for p in (A1, AK, B1):
        rooms.join("lobby", member(p, ALICE if p.uid == "alice" else BOB))
    assert rooms.set_handlers("lobby", AK, [q])
    assert rooms.set_handlers("lobby", B1, [q])
    assert [rooms.route("lobby", q, A1) for _ in range(4)] == [AK, B1, AK, B1]
    assert rooms.route("lobby", q, AK) == B1
    assert rooms.set_handlers("lobby", B1, [])
    assert rooms.route("lobby", q, AK) == AK  # only the requester itself handles it
    assert rooms.route("lobby", kw("dash/other"), A1) is None


def test_handlers_need_membership_and_end_with_it() -> None:
    rooms = Rooms()
    q = kw("dash/query")
    assert not rooms.set_handlers("lobby", A1, [q])
    rooms.join("lobby", member(A1, ALICE))
    rooms.join("lobby", member(B1, BOB))
    rooms.set_handlers("lobby", A1, [q])
    rooms.leave("lobby", A1)
    assert rooms.handlers("lobby", q) == []


def test_routed_request_resolves_only_from_its_handler() -> None:
    table: RoutedRequests[str] = RoutedRequests()
    table.add("r1", room="lobby", requester=A1, handler=B1, deadline=100.0, token="w1")
    assert table.resolve("r1", A2) is None
    assert table.resolve("r1", B1) == "w1"
    assert table.resolve("r1", B1) is None
    assert len(table) == 0


def test_routed_requests_expire_and_fail_when_their_handler_goes() -> None:
    table: RoutedRequests[str] = RoutedRequests()
    table.add("r1", room="lobby", requester=A1, handler=B1, deadline=100.0, token="w1")
    table.add("r2", room="lobby", requester=A1, handler=AK, deadline=50.0, token="w2")
    table.add("r3", room="other", requester=A1, handler=AK, deadline=500.0, token="w3")
    assert table.next_deadline() == 50.0
    assert table.expire(60.0) == ["w2"]
    assert table.handler_gone(AK, "lobby") == []
    assert table.handler_gone(AK) == ["w3"]
    assert table.expire(1000.0) == ["w1"]
    assert len(table) == 0 and table.next_deadline() is None


def test_room_names_and_event_data_are_validated() -> None:
    assert check_room_name("lobby") == "lobby"
    for bad in ("", 3, "x" * 201, None):
        with pytest.raises(UsageError):
            check_room_name(bad)
    with pytest.raises(ProtocolError):
        read_room({kw("room"): ""})
    with pytest.raises(ProtocolError):
        read_room("lobby")
    with pytest.raises(ProtocolError):
        read_event({kw("event"): ["not-a-keyword"]})
    with pytest.raises(ProtocolError):
        read_ids({kw("ids"): [kw("no-namespace")]})
    assert read_ids({}) == []
    data = join_data("lobby", kind="program", handles=[kw("a/b")])
    assert read_room(data) == "lobby" and read_ids(data, kw("handles")) == [kw("a/b")]
