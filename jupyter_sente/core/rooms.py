"""Rooms and presence as data: membership, presence state and diffs, request routing.

No I/O, no clock, no randomness: the server's room hub feeds joins, leaves and dropped
connections in and sends what comes back; clients merge presence with
:func:`apply_presence_diff`. The wire is ordinary Sente events in the ``sente.room``
namespace (``docs/protocol.md``); this module builds and reads their data maps.

Presence is one entry per uid with the identity (name, display name, initials, colour) and a
list of connections, each with its client-id and kind (``"tab"``, ``"kernel"`` or
``"program"``); diffs carry only the connections that joined or left, as in Phoenix.Presence.
Apply a diff's ``leaves`` before its ``joins`` (a connection that changed its meta is in both).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from jupyter_sente.core.events import is_event, is_event_id
from jupyter_sente.core.replies import PendingReplies
from jupyter_sente.exceptions import ProtocolError, UsageError
from jupyter_sente.values import MAP_TYPES, VECTOR_TYPES, Keyword, kw

__all__ = [
    "KINDS",
    "ROOM_EVENT",
    "ROOM_HANDLERS",
    "ROOM_JOIN",
    "ROOM_LEAVE",
    "ROOM_NAMESPACE",
    "ROOM_PRESENCE",
    "ROOM_PRESENCE_DIFF",
    "ROOM_PUBLISH",
    "ROOM_REPLY",
    "ROOM_REQUEST",
    "Identity",
    "Left",
    "Member",
    "Peer",
    "Rooms",
    "RoutedRequests",
    "apply_presence_diff",
    "check_room_name",
    "default_color",
    "is_room_event_id",
    "presence_members",
]

ROOM_NAMESPACE = "sente.room"

# Client -> server.
ROOM_JOIN = kw("sente.room/join")
ROOM_LEAVE = kw("sente.room/leave")
ROOM_HANDLERS = kw("sente.room/handlers")
ROOM_PUBLISH = kw("sente.room/publish")
ROOM_REQUEST = kw("sente.room/request")
ROOM_REPLY = kw("sente.room/reply")
# Server -> client pushes.
ROOM_EVENT = kw("sente.room/event")
ROOM_PRESENCE = kw("sente.room/presence")
ROOM_PRESENCE_DIFF = kw("sente.room/presence-diff")

K_ROOM = kw("room")
K_EVENT = kw("event")
K_INCLUDE_SELF = kw("include-self?")
K_TIMEOUT_MS = kw("timeout-ms")
K_REQUEST_ID = kw("request-id")
K_VALUE = kw("value")
K_FROM = kw("from")
K_IDS = kw("ids")
K_KIND = kw("kind")
K_META = kw("meta")
K_HANDLES = kw("handles")
K_STATE = kw("state")
K_JOINS = kw("joins")
K_LEAVES = kw("leaves")
K_UID = kw("uid")
K_NAME = kw("name")
K_DISPLAY_NAME = kw("display-name")
K_INITIALS = kw("initials")
K_COLOR = kw("color")
K_AVATAR_URL = kw("avatar-url")
K_CONNS = kw("conns")
K_CLIENT_ID = kw("client-id")
K_NOTEBOOK = kw("notebook")
K_OK = kw("ok?")
K_ERROR = kw("error")
K_DELIVERED = kw("delivered")

KIND_TAB = "tab"
KIND_KERNEL = "kernel"
KIND_PROGRAM = "program"
KINDS = (KIND_TAB, KIND_KERNEL, KIND_PROGRAM)

MAX_ROOM_NAME = 200

# Colours for identities that bring none (Jupyter's server-side identity usually has no colour).
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
)

T = TypeVar("T")


def default_color(uid: Hashable) -> str:
    """A stable colour for ``uid`` (the same in every process, unlike ``hash()``)."""
    digest = hashlib.sha256(str(uid).encode("utf-8")).digest()
    return _PALETTE[digest[0] % len(_PALETTE)]


def is_room_event_id(x: Any) -> bool:
    """True for ids in the reserved ``sente.room`` namespace."""
    return isinstance(x, Keyword) and x.name.startswith(ROOM_NAMESPACE + "/")


def check_room_name(room: Any) -> str:
    """``room`` if it is a usable room name; ``UsageError`` otherwise."""
    if not isinstance(room, str) or not room or len(room) > MAX_ROOM_NAME:
        raise UsageError(f"a room name is a non-empty string of at most {MAX_ROOM_NAME} characters")
    return room


@dataclass(frozen=True)
class Peer:
    """One connection, as rooms address it: the server (host) holding it, uid and client-id."""

    uid: Hashable
    client_id: str
    host: str = ""


@dataclass(frozen=True)
class Identity:
    """Who a uid is, for presence (Jupyter's ``User`` without its secrets)."""

    uid: Hashable
    name: str | None = None
    display_name: str | None = None
    initials: str | None = None
    color: str | None = None
    avatar_url: str | None = None

    def to_wire(self) -> dict[Keyword, Any]:
        """The identity part of a presence entry; a missing colour gets :func:`default_color`."""
        name = self.name or str(self.uid)
        return {
            K_UID: self.uid,
            K_NAME: name,
            K_DISPLAY_NAME: self.display_name or name,
            K_INITIALS: self.initials or name[:1].upper(),
            K_COLOR: self.color or default_color(self.uid),
            K_AVATAR_URL: self.avatar_url,
        }


@dataclass(frozen=True)
class Member:
    """A connection in a room: its peer, identity, kind, notebook (kernels) and free meta."""

    peer: Peer
    identity: Identity
    kind: str = KIND_TAB
    notebook: str | None = None
    meta: Any = None

    def conn_to_wire(self) -> dict[Keyword, Any]:
        """The connection's part of a presence entry."""
        conn: dict[Keyword, Any] = {K_CLIENT_ID: self.peer.client_id, K_KIND: self.kind}
        if self.notebook is not None:
            conn[K_NOTEBOOK] = self.notebook
        if self.meta is not None:
            conn[K_META] = self.meta
        return conn


def _entries(members: Iterable[Member]) -> dict[Hashable, dict[Keyword, Any]]:
    """Presence entries (uid -> identity + conns) for ``members``, in the order given."""
    out: dict[Hashable, dict[Keyword, Any]] = {}
    for m in members:
        entry = out.get(m.peer.uid)
        if entry is None:
            entry = out[m.peer.uid] = {**m.identity.to_wire(), K_CONNS: []}
        entry[K_CONNS].append(m.conn_to_wire())
    return out


def _diff(room: str, joins: Iterable[Member], leaves: Iterable[Member]) -> dict[Keyword, Any]:
    return {K_ROOM: room, K_JOINS: _entries(joins), K_LEAVES: _entries(leaves)}


@dataclass(frozen=True)
class Joined:
    """What a join changed: the full state for the joiner, the diff for ``others`` (or none)."""

    state: dict[Keyword, Any]
    diff: dict[Keyword, Any] | None
    others: list[Peer]
    new: bool


@dataclass(frozen=True)
class Left:
    """What a leave changed: the diff for the remaining members."""

    room: str
    diff: dict[Keyword, Any]
    others: list[Peer]
    member: Member


@dataclass
class _Room:
    members: dict[Peer, Member] = field(default_factory=dict)
    # event id -> handler peers, in registration order; a counter per id for round robin.
    handlers: dict[Keyword, list[Peer]] = field(default_factory=dict)
    turns: dict[Keyword, int] = field(default_factory=dict)


class Rooms:
    """Room membership, presence and handler registrations for the connections a hub knows."""

    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}
        self._of: dict[Peer, set[str]] = {}

    def join(self, room: str, member: Member) -> Joined:
        """Add (or update) ``member`` in ``room``.

        A uid has one identity per room. A kernel knows only its username, so it takes the
        identity its uid already has there; a tab or program brings the user's full identity,
        which the uid's other connections take too (the diff lists them again under joins).
        """
        r = self._rooms.setdefault(check_room_name(room), _Room())
        peer = member.peer
        old = r.members.get(peer)
        kin = [m for m in r.members.values() if m.peer.uid == peer.uid]
        relabelled: list[Member] = []
        if kin and member.kind == KIND_KERNEL:
            member = replace(member, identity=kin[0].identity)
        elif kin:
            relabelled = [
                replace(m, identity=member.identity)
                for m in kin
                if m.peer != peer and m.identity != member.identity
            ]
            for m in relabelled:
                r.members[m.peer] = m
        r.members[peer] = member
        self._of.setdefault(peer, set()).add(room)
        others = [p for p in r.members if p != peer]
        diff = (
            None
            if old == member and not relabelled
            else _diff(room, [*relabelled, member], [] if old is None else [old])
        )
        return Joined(self.presence(room), diff, others, old is None)

    def leave(self, room: str, peer: Peer) -> Left | None:
        """Remove ``peer`` from ``room``; ``None`` if it was not a member."""
        r = self._rooms.get(room)
        member = None if r is None else r.members.pop(peer, None)
        if r is None or member is None:
            return None
        for peers in r.handlers.values():
            if peer in peers:
                peers.remove(peer)
        r.handlers = {k: v for k, v in r.handlers.items() if v}
        rooms = self._of.get(peer)
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._of[peer]
        if not r.members:
            del self._rooms[room]
        return Left(room, _diff(room, [], [member]), list(r.members), member)

    def drop(self, peer: Peer) -> list[Left]:
        """Remove ``peer`` from every room (its connection is gone)."""
        out = []
        for room in sorted(self._of.get(peer, ())):
            left = self.leave(room, peer)
            if left is not None:
                out.append(left)
        return out

    def drop_host(self, host: str) -> list[Left]:
        """Remove every connection held by server ``host`` (it went away)."""
        peers = [p for p in self._of if p.host == host]
        return [left for p in peers for left in self.drop(p)]

    def set_handlers(self, room: str, peer: Peer, ids: Iterable[Keyword]) -> bool:
        """Make ``peer`` the handler of exactly ``ids`` in ``room``; False if it is not a member."""
        r = self._rooms.get(room)
        if r is None or peer not in r.members:
            return False
        wanted = set(ids)
        for ev_id, peers in list(r.handlers.items()):
            if peer in peers and ev_id not in wanted:
                peers.remove(peer)
                if not peers:
                    del r.handlers[ev_id]
        for ev_id in ids:
            peers = r.handlers.setdefault(ev_id, [])
            if peer not in peers:
                peers.append(peer)
        return True

    def handled_by(self, room: str, peer: Peer) -> list[Keyword]:
        """The event ids ``peer`` handles in ``room``."""
        r = self._rooms.get(room)
        if r is None:
            return []
        return [ev_id for ev_id, peers in r.handlers.items() if peer in peers]

    def handlers(self, room: str, event_id: Keyword) -> list[Peer]:
        """The peers handling ``event_id`` in ``room``, in registration order."""
        r = self._rooms.get(room)
        return [] if r is None else list(r.handlers.get(event_id, ()))

    def route(self, room: str, event_id: Keyword, requester: Peer | None = None) -> Peer | None:
        """The handler peer for the next request, round robin; the requester only as last resort."""
        r = self._rooms.get(room)
        peers = [] if r is None else r.handlers.get(event_id, [])
        if not peers:
            return None
        candidates = [p for p in peers if p != requester] or peers
        turn = r.turns.get(event_id, 0) if r is not None else 0
        if r is not None:
            r.turns[event_id] = turn + 1
        return candidates[turn % len(candidates)]

    def is_member(self, room: str, peer: Peer) -> bool:
        """True when ``peer`` is in ``room``."""
        r = self._rooms.get(room)
        return r is not None and peer in r.members

    def members(self, room: str) -> list[Peer]:
        """The peers in ``room``, in join order."""
        r = self._rooms.get(room)
        return [] if r is None else list(r.members)

    def member(self, room: str, peer: Peer) -> Member | None:
        """The member record of ``peer`` in ``room``."""
        r = self._rooms.get(room)
        return None if r is None else r.members.get(peer)

    def rooms_of(self, peer: Peer) -> frozenset[str]:
        """The rooms ``peer`` is in."""
        return frozenset(self._of.get(peer, ()))

    def rooms(self) -> list[str]:
        """Every room with at least one member."""
        return sorted(self._rooms)

    def presence(self, room: str) -> dict[Keyword, Any]:
        """The full presence state of ``room``: ``{:room r :state {uid entry}}``."""
        r = self._rooms.get(room)
        return {K_ROOM: room, K_STATE: _entries(() if r is None else r.members.values())}


def apply_presence_diff(state: Mapping[Any, Any], diff: Mapping[Any, Any]) -> dict[Any, Any]:
    """The presence state after ``diff`` (leaves first, then joins); ``state`` is not changed.

    ``state`` maps uid to entry as in ``:sente.room/presence``'s ``:state``; ``diff`` is the data of
    ``:sente.room/presence-diff``. A uid whose last connection leaves disappears.
    """
    out: dict[Any, Any] = dict(state)
    for uid, entry in (diff.get(K_LEAVES) or {}).items():
        old = out.get(uid)
        if old is None:
            continue
        gone = {c.get(K_CLIENT_ID) for c in entry.get(K_CONNS) or ()}
        conns = [c for c in old.get(K_CONNS) or () if c.get(K_CLIENT_ID) not in gone]
        if conns:
            out[uid] = {**old, K_CONNS: conns}
        else:
            del out[uid]
    for uid, entry in (diff.get(K_JOINS) or {}).items():
        new_conns = list(entry.get(K_CONNS) or ())
        ids = {c.get(K_CLIENT_ID) for c in new_conns}
        old = out.get(uid)
        kept = (
            []
            if old is None
            else [c for c in old.get(K_CONNS) or () if c.get(K_CLIENT_ID) not in ids]
        )
        out[uid] = {**entry, K_CONNS: kept + new_conns}
    return out


def presence_members(state: Mapping[Any, Any]) -> list[Any]:
    """The entries of a presence state as a list sorted by uid (a stable order for display)."""
    return [state[uid] for uid in sorted(state, key=str)]


@dataclass(frozen=True)
class _Routed:
    room: str
    requester: Peer
    handler: Peer


class RoutedRequests(Generic[T]):
    """Room requests on their way to a handler peer: who may answer, until when, and who waits.

    ``token`` is the host's way back to the requester (its reply function). Every method hands
    tokens back; the host delivers the reply or Sente's ``:chsk/timeout`` / ``:chsk/closed``.
    """

    def __init__(self) -> None:
        self._pending: PendingReplies[T] = PendingReplies()
        self._routes: dict[str, _Routed] = {}

    def __len__(self) -> int:
        return len(self._routes)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._routes

    def add(
        self,
        request_id: str,
        *,
        room: str,
        requester: Peer,
        handler: Peer,
        deadline: float,
        token: T,
    ) -> None:
        """Wait until ``deadline`` for ``handler`` to answer ``request_id``."""
        self._pending.add(request_id, deadline, token)
        self._routes[request_id] = _Routed(room, requester, handler)

    def resolve(self, request_id: Any, responder: Peer) -> T | None:
        """The waiter for ``request_id`` if ``responder`` is the peer it was routed to, else ``None``."""
        route = self._routes.get(request_id) if isinstance(request_id, str) else None
        if route is None or route.handler != responder:
            return None
        del self._routes[request_id]
        got = self._pending.resolve(request_id, None)
        return None if got is None else got[0]

    def expire(self, now: float) -> list[T]:
        """The waiters whose deadline passed (they get ``:chsk/timeout``)."""
        out = []
        for token, _ in self._pending.expire(now):
            out.append(token)
        live = set(self._live_ids())
        for rid in [rid for rid in self._routes if rid not in live]:
            del self._routes[rid]
        return out

    def handler_gone(self, handler: Peer, room: str | None = None) -> list[T]:
        """The waiters routed to ``handler`` (in ``room``, or any room): it left, so ``:chsk/closed``."""
        out = []
        for rid, route in list(self._routes.items()):
            if route.handler == handler and (room is None or route.room == room):
                del self._routes[rid]
                got = self._pending.resolve(rid, None)
                if got is not None:
                    out.append(got[0])
        return out

    def next_deadline(self) -> float | None:
        """The earliest deadline, for the host's timer."""
        return self._pending.next_deadline()

    def close_all(self) -> list[T]:
        """Every waiter (the hub is closing: they get ``:chsk/closed``)."""
        self._routes.clear()
        return [token for token, _ in self._pending.close_all()]

    def _live_ids(self) -> Iterable[str]:
        return (rid for rid in self._routes if rid in self._pending)


# -- reading and building the data maps of room events -------------------------------------------


def _get(data: Any, key: Keyword, default: Any = None) -> Any:
    return data.get(key, default) if isinstance(data, MAP_TYPES) else default


def read_room(data: Any) -> str:
    """The ``:room`` of a room event's data; ``ProtocolError`` if it is missing or not a name."""
    room = _get(data, K_ROOM)
    try:
        return check_room_name(room)
    except UsageError as e:
        raise ProtocolError(f"room event without a valid :room ({e})") from None


def read_event(data: Any) -> Any:
    """The ``:event`` ``[id data]`` carried by a publish or request; ``ProtocolError`` if invalid."""
    ev = _get(data, K_EVENT)
    if not is_event(ev):
        raise ProtocolError("room publish/request needs :event [ns/id data]")
    return ev


def read_ids(data: Any, key: Keyword = K_IDS) -> list[Keyword]:
    """The event ids under ``key`` (``:ids`` of a handler registration); ``ProtocolError`` if invalid."""
    ids = _get(data, key, [])
    if not isinstance(ids, (*VECTOR_TYPES, tuple, set, frozenset)) or not all(
        is_event_id(i) for i in ids
    ):
        raise ProtocolError(f"{key} must be a vector of event ids like :ns/name")
    return list(ids)


def join_data(
    room: str, *, kind: str | None = None, meta: Any = None, handles: Sequence[Keyword] = ()
) -> dict[Keyword, Any]:
    """The data of ``[:sente.room/join data]``."""
    data: dict[Keyword, Any] = {K_ROOM: check_room_name(room)}
    if kind is not None:
        data[K_KIND] = kind
    if meta is not None:
        data[K_META] = meta
    if handles:
        data[K_HANDLES] = list(handles)
    return data
