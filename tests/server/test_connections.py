"""The connection table: entries by (transport, uid, client-id) and the uid sets they make."""

from __future__ import annotations

from jupyter_sente.core.server_conn import ConnEvent
from jupyter_sente.server import ConnectedUids, Connection, RequestInfo
from jupyter_sente.server.connections import ConnectionTable

E = ConnEvent
REQ = RequestInfo("GET", "/chsk")


def conn(kind: str, uid: str, client_id: str) -> Connection:
    return Connection(kind, uid, client_id, "abc123", REQ)  # type: ignore[arg-type]


def test_uid_enters_any_once_and_leaves_when_its_last_client_is_gone() -> None:
    table = ConnectionTable()
    ws, ajax = conn("ws", "alice", "t1"), conn("ajax", "alice", "t2")
    table.add(ws)
    table.add(ajax)
    assert table.apply(ws, E.OPEN).entered_any
    change = table.apply(ajax, E.OPEN)
    assert change.changed and not change.entered_any
    alice = frozenset({"alice"})
    assert table.uids == ConnectedUids(alice, alice, alice)
    table.apply(ws, E.CLOSE)
    assert table.uids == ConnectedUids(alice, alice, alice)  # in grace: still connected
    change = table.apply(ws, E.GRACE_EXPIRED)
    assert change.changed and not change.left_any
    assert table.uids == ConnectedUids(frozenset(), alice, alice)
    table.apply(ajax, E.CLOSE)
    assert table.apply(ajax, E.GRACE_EXPIRED).left_any
    assert table.uids == ConnectedUids()
    assert len(table) == 0 and table.of_uid("ws", "alice") == []


def test_moves_that_keep_the_count_change_nothing() -> None:
    table = ConnectionTable()
    c = conn("ws", "bob", "t1")
    table.add(c)
    table.apply(c, E.OPEN)
    snapshot = table.uids
    assert not table.apply(c, E.SUPERSEDED).changed
    assert not table.apply(c, E.CLOSE).changed
    assert not table.apply(c, E.REOPEN).changed
    assert table.uids is snapshot


def test_handshake_only_entries_never_count() -> None:
    table = ConnectionTable()
    c = conn("ajax", "carol", "t1")
    table.add(c)
    assert not table.apply(c, E.HANDSHAKE).changed
    assert not table.apply(c, E.GRACE_EXPIRED).changed
    assert table.uids == ConnectedUids() and len(table) == 0


def test_entries_are_listed_and_counted_per_transport_until_gone() -> None:
    table = ConnectionTable()
    a, b, c = conn("ws", "dan", "t1"), conn("ajax", "dan", "t2"), conn("ws", "eve", "t3")
    for entry in (a, b, c):
        table.add(entry)
    assert table.all() == [a, b, c]
    assert table.all("ws") == [a, c] and table.all("ajax") == [b]
    assert (table.count("ws"), table.count("ajax")) == (2, 1)
    table.apply(b, E.HANDSHAKE)
    table.apply(b, E.GRACE_EXPIRED)
    assert table.all("ajax") == [] and table.count("ajax") == 0
    assert table.all() == [a, c]
