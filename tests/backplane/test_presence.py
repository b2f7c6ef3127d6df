"""Presence across servers: local bodies, remote merging, gaps and expiry (time passed in)."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_sente.backplane.presence import (
    EXPIRY_FACTOR,
    HEARTBEAT_MS,
    QUERY,
    LocalPresence,
    PresenceChange,
    RemotePresence,
)
from jupyter_sente.exceptions import ProtocolError, UsageError
from jupyter_sente.packers import get_packer

ANN = {"uid": "ann", "name": "Ann", "kind": "tab", "connections": 1}
BOB = {"uid": "bob", "name": "Bob", "kind": "kernel", "connections": 1}


def test_local_joins_and_leaves_are_numbered_diffs() -> None:
    local = LocalPresence()
    assert local.join("ann/t1", ANN) == {
        "op": "diff",
        "seq": 1,
        "heartbeat_ms": HEARTBEAT_MS,
        "joins": {"ann/t1": ANN},
        "leaves": [],
    }
    assert local.join("ann/t1", dict(ANN)) is None  # unchanged
    assert local.leave("bob/k1") is None  # not here
    body = local.leave("ann/t1")
    assert body is not None and (body["seq"], body["leaves"]) == (2, ["ann/t1"])
    assert dict(local.members) == {}


def test_local_snapshot_is_the_heartbeat_and_schedules_the_next() -> None:
    local = LocalPresence(heartbeat_ms=1000)
    local.join("ann/t1", ANN)
    body = local.snapshot(now=50_000)
    assert body == {"op": "snapshot", "seq": 2, "heartbeat_ms": 1000, "members": {"ann/t1": ANN}}
    assert local.next_heartbeat == 51_000
    assert local.leave_all() == {"op": "leave-all", "seq": 3}
    assert (dict(local.members), local.next_heartbeat) == ({}, None)


def test_remote_snapshot_then_diffs_report_joins_updates_and_leaves() -> None:
    local, remote = LocalPresence(), RemotePresence()
    local.join("ann/t1", ANN)
    change = remote.apply("srv-a", local.snapshot(0), now=0)
    assert change.joined == {("srv-a", "ann/t1"): ANN} and not change.left
    body = local.join("bob/k1", BOB)
    assert remote.apply("srv-a", body, now=10).joined == {("srv-a", "bob/k1"): BOB}
    moved = ANN | {"connections": 2}
    change = remote.apply("srv-a", local.join("ann/t1", moved), now=20)
    assert change.updated == {("srv-a", "ann/t1"): moved}
    change = remote.apply("srv-a", local.leave("bob/k1"), now=30)
    assert change.left == {("srv-a", "bob/k1"): BOB}
    assert remote.members() == {("srv-a", "ann/t1"): moved}
    assert not change.query_wanted


def test_a_diff_after_a_gap_or_from_a_stranger_asks_for_snapshots() -> None:
    local, remote = LocalPresence(), RemotePresence()
    remote.apply("srv-a", local.snapshot(0), now=0)
    local.join("ann/t1", ANN)  # this diff is lost on the way
    change = remote.apply("srv-a", local.join("bob/k1", BOB), now=1)
    assert change.query_wanted and change.joined == {("srv-a", "bob/k1"): BOB}
    assert remote.apply("srv-b", LocalPresence().join("cy/t", {}), now=1).query_wanted
    # The next snapshot makes it whole.
    change = remote.apply("srv-a", local.snapshot(2), now=2)
    assert change.joined == {("srv-a", "ann/t1"): ANN} and not change.query_wanted


def test_a_query_asks_for_this_servers_snapshot() -> None:
    change = RemotePresence().apply("srv-a", dict(QUERY), now=0)
    assert change.snapshot_wanted and not change


def test_leave_all_and_drop_server_remove_every_member_of_that_server() -> None:
    remote = RemotePresence()
    a, b = LocalPresence(), LocalPresence()
    a.join("ann/t1", ANN)
    b.join("bob/k1", BOB)
    remote.apply("srv-a", a.snapshot(0), now=0)
    remote.apply("srv-b", b.snapshot(0), now=0)
    assert remote.apply("srv-a", a.leave_all(), now=1).left == {("srv-a", "ann/t1"): ANN}
    assert remote.drop_server("srv-b").left == {("srv-b", "bob/k1"): BOB}
    assert remote.drop_server("srv-b") == PresenceChange()
    assert (len(remote), remote.servers()) == (0, frozenset())


def test_a_silent_server_expires_after_three_of_its_heartbeats() -> None:
    assert EXPIRY_FACTOR == 3
    remote = RemotePresence()
    fast, slow = LocalPresence(heartbeat_ms=1000), LocalPresence(heartbeat_ms=5000)
    fast.join("ann/t1", ANN)
    slow.join("bob/k1", BOB)
    remote.apply("srv-fast", fast.snapshot(0), now=0)
    remote.apply("srv-slow", slow.snapshot(0), now=0)
    assert remote.next_expiry() == 3000
    assert not remote.expire(3000)  # exactly three heartbeats: still here
    assert remote.expire(3001).left == {("srv-fast", "ann/t1"): ANN}
    remote.apply("srv-slow", slow.snapshot(14_000), now=14_000)  # a heartbeat renews
    assert not remote.expire(16_000)
    assert remote.next_expiry() == 29_000
    assert remote.expire(29_001).left == {("srv-slow", "bob/k1"): BOB}
    assert remote.next_expiry() is None


def test_bodies_survive_the_json_packer() -> None:
    packer = get_packer("json")
    local, remote = LocalPresence(), RemotePresence()
    local.join("ann/t1", ANN | {"colour": "#ff0000", "rooms": {"lobby"}})
    body = packer.unpack(packer.pack(local.snapshot(0)))
    assert remote.apply("srv-a", body, now=0).joined == {
        ("srv-a", "ann/t1"): dict(local.members)["ann/t1"]
    }


@pytest.mark.parametrize(
    "body",
    [
        ["snapshot"],
        {"op": "dance", "seq": 1, "heartbeat_ms": 1000},
        {"op": "diff", "seq": "1", "heartbeat_ms": 1000},
        {"op": "diff", "seq": 1, "heartbeat_ms": 0},
        {"op": "diff", "seq": 1, "heartbeat_ms": 10**9},
        {"op": "diff", "seq": 1, "heartbeat_ms": 1000, "leaves": "ann"},
        {"op": "diff", "seq": 1, "heartbeat_ms": 1000, "joins": {1: {}}},
        {"op": "snapshot", "seq": 1, "heartbeat_ms": 1000, "members": []},
    ],
)
def test_garbage_presence_is_a_protocol_error(body: Any) -> None:
    with pytest.raises(ProtocolError):
        RemotePresence().apply("srv-a", body, now=0)


def test_bad_local_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        LocalPresence(heartbeat_ms=0)
    with pytest.raises(UsageError):
        LocalPresence().join(3, ANN)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        RemotePresence(expiry_factor=0)
