"""The room hub: joins, leaves, publishes, presence and routed requests over a channel socket.

The hub speaks the ``sente.room`` events of ``docs/protocol.md``. It takes each room event
with who sent it (:class:`Caller`) and a reply function, keeps the data model of
:mod:`jupyter_sente.core.rooms`, and sends through a :class:`RoomPort` (one connection at a
time). Timers for routed requests run on the asyncio loop it is created on.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from jupyter_sente.core.events import (
    CHSK_CLOSED,
    CHSK_ERROR,
    CHSK_TIMEOUT,
    event_id,
    is_reserved_id,
)
from jupyter_sente.core.rooms import (
    K_CLIENT_ID,
    K_DELIVERED,
    K_ERROR,
    K_EVENT,
    K_FROM,
    K_HANDLES,
    K_INCLUDE_SELF,
    K_KIND,
    K_META,
    K_OK,
    K_REQUEST_ID,
    K_ROOM,
    K_STATE,
    K_TIMEOUT_MS,
    K_VALUE,
    KIND_KERNEL,
    KIND_PROGRAM,
    KIND_TAB,
    ROOM_EVENT,
    ROOM_HANDLERS,
    ROOM_JOIN,
    ROOM_LEAVE,
    ROOM_PRESENCE,
    ROOM_PRESENCE_DIFF,
    ROOM_PUBLISH,
    ROOM_REPLY,
    ROOM_REQUEST,
    Identity,
    Left,
    Member,
    Peer,
    Rooms,
    RoutedRequests,
    is_room_event_id,
    read_event,
    read_ids,
    read_room,
)
from jupyter_sente.exceptions import ProtocolError, UsageError
from jupyter_sente.values import MAP_TYPES, Keyword, kw

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT_MS",
    "MAX_REQUEST_TIMEOUT_MS",
    "Caller",
    "JoinRequest",
    "ReplyFn",
    "RoomHub",
    "RoomPolicy",
    "RoomPort",
    "allow_all",
]

log = logging.getLogger("jupyter_sente.rooms")

#: The timeout of a routed request that names none (``:timeout-ms``), in ms.
DEFAULT_REQUEST_TIMEOUT_MS = 10_000
#: The upper bound on any routed request's timeout, in ms.
MAX_REQUEST_TIMEOUT_MS = 60_000

ReplyFn: TypeAlias = Callable[[Any], Any]


@dataclass(frozen=True)
class Caller:
    """Who sent a room event: the connection, its identity, its kind and (kernels) its notebook."""

    peer: Peer
    identity: Identity
    kind: str = KIND_TAB
    notebook: str | None = None


@dataclass(frozen=True)
class JoinRequest:
    """What a room policy decides on."""

    room: str
    caller: Caller
    meta: Any = None


#: ``policy(join) -> bool`` (or an awaitable of it): may this caller join this room?
RoomPolicy: TypeAlias = Callable[[JoinRequest], bool | Awaitable[bool]]


def allow_all(join: JoinRequest) -> bool:
    """The default policy: any authenticated user of the server may join any room."""
    return True


class RoomPort(Protocol):
    """How the hub reaches one connection; ``send`` returns False if it is not connected.

    ``flush=True`` skips the push batching window (routed requests: someone waits on them).
    """

    def send(self, peer: Peer, event: list[Any], flush: bool = False) -> bool: ...

    def connected(self, peer: Peer) -> bool: ...


class RoomBridge(Protocol):
    """What the hub tells a bridge to other servers (a backplane); see ``rooms/federation.py``."""

    def member_changed(self, room: str, member: Member, handles: list[Keyword]) -> None: ...

    def member_left(self, room: str, member: Member) -> None: ...

    def publish(self, room: str, push: dict[Keyword, Any]) -> None: ...

    def forward_request(
        self, handler: Peer, room: str, push: dict[Keyword, Any], timeout_ms: int
    ) -> bool: ...


@dataclass
class _Waiter:
    reply: ReplyFn
    requester: Peer
    event_id: Keyword
    room: str


class RoomHub:
    """Rooms for the connections of one server.

    ``handle`` returns False for an event outside the ``sente.room`` namespace, so a host can
    give every event to the hub first. Call :meth:`connection_gone` when a connection is
    removed for good (after Sente's grace period), and :meth:`close` on shutdown.
    """

    def __init__(
        self,
        port: RoomPort,
        *,
        host_id: str = "",
        policy: RoomPolicy | None = None,
        default_request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS,
        max_request_timeout_ms: int = MAX_REQUEST_TIMEOUT_MS,
    ) -> None:
        if default_request_timeout_ms <= 0 or max_request_timeout_ms <= 0:
            raise UsageError("request timeouts must be positive numbers of ms")
        self.port = port
        self.host_id = host_id
        self.policy: RoomPolicy = policy or allow_all
        self.default_request_timeout_ms = default_request_timeout_ms
        self.max_request_timeout_ms = max_request_timeout_ms
        self.rooms = Rooms()
        self.requests: RoutedRequests[_Waiter] = RoutedRequests()
        self._ids = itertools.count(1)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Set by a federation (``rooms/federation.py``): rooms then span servers.
        self.bridge: RoomBridge | None = None

    # -- entry points ----------------------------------------------------------------------

    def handle(self, caller: Caller, event: Any, reply: ReplyFn | None = None) -> bool:
        """Act on a ``sente.room/*`` event from ``caller``; False if ``event`` is not one.

        Runs inline, so a client's room events take effect in the order they came; only a join
        whose policy answers with an awaitable finishes later (in a task).
        """
        ev_id = event[0] if len(event) else None
        if not is_room_event_id(ev_id):
            return False
        data = _keywordize(event[1]) if len(event) > 1 else None
        try:
            if ev_id == ROOM_JOIN:
                self._join(caller, data, reply)
            elif ev_id == ROOM_LEAVE:
                self._leave(caller, data, reply)
            elif ev_id == ROOM_HANDLERS:
                self._handlers(caller, data, reply)
            elif ev_id == ROOM_PUBLISH:
                self._publish(caller, data, reply)
            elif ev_id == ROOM_REQUEST:
                self._request(caller, data, reply)
            elif ev_id == ROOM_REPLY:
                self._reply(caller, data)
            else:
                raise ProtocolError(f"unknown room event {ev_id}")
        except ProtocolError as e:
            self._refuse(caller, ev_id, e, reply)
        return True

    def connection_gone(self, peer: Peer) -> None:
        """``peer`` is gone for good: leave its rooms and fail the requests routed to it."""
        for left in self.rooms.drop(peer):
            self._announce_leave(left)
        self._fail_routed(self.requests.handler_gone(peer))

    def close(self) -> None:
        """Stop the timer and fail every routed request with ``:chsk/closed``."""
        for task in self._tasks:
            task.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._fail_routed(self.requests.close_all())

    # -- what a federation (the bridge to other servers) calls -------------------------------

    def remote_member(self, room: str, member: Member, handles: list[Keyword]) -> None:
        """A member of another server joined ``room`` or changed; tell the local members."""
        joined = self.rooms.join(room, member)
        self.rooms.set_handlers(room, member.peer, handles)
        if joined.diff is not None:
            self._send_local(joined.others, [ROOM_PRESENCE_DIFF, joined.diff])

    def remote_left(self, room: str, peer: Peer) -> None:
        """A member of another server left ``room`` (or its server went away)."""
        left = self.rooms.leave(room, peer)
        if left is not None:
            self._announce_leave(left)
            self._fail_routed(self.requests.handler_gone(peer, room))

    def remote_event(self, room: str, push: Any) -> None:
        """A publish from another server: deliver it to the local members of ``room``."""
        self._send_local(self.rooms.members(room), [ROOM_EVENT, push])

    def relay_request(
        self, room: str, to: Peer, push: Any, timeout_ms: int, reply: ReplyFn
    ) -> None:
        """A request another server routed to local member ``to``; ``reply`` carries the answer back."""
        if not self.rooms.is_member(room, to) or not isinstance(push, MAP_TYPES):
            reply(CHSK_CLOSED)
            return
        request_id = push.get(K_REQUEST_ID)
        ev = push.get(K_EVENT)
        if not isinstance(request_id, str) or request_id in self.requests:
            reply(CHSK_ERROR)
            return
        timeout = min(max(1, timeout_ms), self.max_request_timeout_ms)
        waiter = _Waiter(reply, Peer("", "", "remote"), event_id(ev), room)
        self.requests.add(
            request_id,
            room=room,
            requester=waiter.requester,
            handler=to,
            deadline=self._now_ms() + timeout,
            token=waiter,
        )
        if not self.port.send(to, [ROOM_EVENT, push], flush=True):
            self._fail_routed(self.requests.handler_gone(to, room))
            return
        self._arm_timer()

    def remote_reply(self, request_id: Any, responder: Peer, value: Any) -> None:
        """The answer to a request this server forwarded to ``responder`` on another server."""
        waiter = self.requests.resolve(request_id, responder)
        if waiter is not None:
            waiter.reply(value)

    def forget_remote_room(self, room: str) -> None:
        """No local member is left in ``room``: drop what other servers said about it."""
        for peer in [p for p in self.rooms.members(room) if p.host]:
            self.remote_left(room, peer)

    # -- the events ------------------------------------------------------------------------

    def _join(self, caller: Caller, data: Any, reply: ReplyFn | None) -> None:
        room = read_room(data)
        kind = self._kind(caller, data)
        meta = data.get(K_META)
        handles = read_ids(data, K_HANDLES)
        if any(is_reserved_id(i) or is_room_event_id(i) for i in handles):
            raise ProtocolError("reserved event ids cannot have handlers")
        allowed = self.policy(JoinRequest(room, caller, meta))
        member = Member(caller.peer, caller.identity, kind, caller.notebook, meta)
        if inspect.isawaitable(allowed):
            task = asyncio.ensure_future(self._join_later(allowed, member, room, handles, reply))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._admit(bool(allowed), member, room, handles, reply)

    async def _join_later(
        self,
        allowed: Awaitable[bool],
        member: Member,
        room: str,
        handles: list[Keyword],
        reply: ReplyFn | None,
    ) -> None:
        try:
            ok = bool(await allowed)
        except Exception:
            log.exception("room policy failed for %s joining %r", member.peer.uid, room)
            ok = False
        try:
            self._admit(ok, member, room, handles, reply)
        except ProtocolError as e:
            self._refuse(Caller(member.peer, member.identity, member.kind), ROOM_JOIN, e, reply)

    def _admit(
        self,
        allowed: bool,
        member: Member,
        room: str,
        handles: list[Keyword],
        reply: ReplyFn | None,
    ) -> None:
        if not allowed:
            raise ProtocolError(f"not allowed to join room {room!r}")
        peer = member.peer
        if not self.port.connected(peer):
            # pushes need a channel; a peer without one would never be cleaned up
            raise ProtocolError("open the channel socket (WebSocket or long-poll) before joining")
        joined = self.rooms.join(room, member)
        if handles:
            self.rooms.set_handlers(room, peer, handles)
        if reply is not None:
            reply({K_OK: True, K_ROOM: room, K_STATE: joined.state[K_STATE]})
        self.port.send(peer, [ROOM_PRESENCE, joined.state])
        if joined.diff is not None:
            self._send_local(joined.others, [ROOM_PRESENCE_DIFF, joined.diff])
        if self.bridge is not None:
            # the stored member: a kernel's identity may have become its user's full one
            stored = self.rooms.member(room, peer) or member
            self.bridge.member_changed(room, stored, self.rooms.handled_by(room, peer))

    def _leave(self, caller: Caller, data: Any, reply: ReplyFn | None) -> None:
        room = read_room(data)
        left = self.rooms.leave(room, caller.peer)
        if left is not None:
            self._announce_leave(left)
            self._fail_routed(self.requests.handler_gone(caller.peer, room))
        if reply is not None:
            reply({K_OK: left is not None, K_ROOM: room})

    def _handlers(self, caller: Caller, data: Any, reply: ReplyFn | None) -> None:
        room = read_room(data)
        ids = read_ids(data)
        if any(is_reserved_id(i) or is_room_event_id(i) for i in ids):
            raise ProtocolError("reserved event ids cannot have handlers")
        if not self.rooms.set_handlers(room, caller.peer, ids):
            raise ProtocolError(f"not in room {room!r}")
        member = self.rooms.member(room, caller.peer)
        if self.bridge is not None and member is not None:
            self.bridge.member_changed(room, member, self.rooms.handled_by(room, caller.peer))
        if reply is not None:
            reply({K_OK: True, K_ROOM: room})

    def _publish(self, caller: Caller, data: Any, reply: ReplyFn | None) -> None:
        room = read_room(data)
        ev = self._user_event(data)
        member = self.rooms.member(room, caller.peer)
        if member is None:
            raise ProtocolError(f"not in room {room!r}")
        include_self = data.get(K_INCLUDE_SELF) is True
        body = {K_ROOM: room, K_EVENT: ev, K_FROM: self._from(member)}
        push = [ROOM_EVENT, body]
        sent = 0
        for peer in self.rooms.members(room):
            if peer.host:
                continue  # on another server: the bridge delivers there
            if (peer != caller.peer or include_self) and self.port.send(peer, push):
                sent += 1
        if self.bridge is not None and self._has_remote_members(room):
            self.bridge.publish(room, body)
        if reply is not None:
            reply({K_OK: True, K_ROOM: room, K_DELIVERED: sent})

    def _request(self, caller: Caller, data: Any, reply: ReplyFn | None) -> None:
        room = read_room(data)
        ev = self._user_event(data)
        if reply is None:
            raise ProtocolError("a room request needs a reply (send it with a callback)")
        member = self.rooms.member(room, caller.peer)
        if member is None:
            raise ProtocolError(f"not in room {room!r}")
        handler = self.rooms.route(room, event_id(ev), caller.peer)
        if handler is None:
            reply(CHSK_CLOSED)
            return
        timeout = data.get(K_TIMEOUT_MS, self.default_request_timeout_ms)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            raise ProtocolError(":timeout-ms must be a positive integer")
        timeout = min(timeout, self.max_request_timeout_ms)
        request_id = f"{self.host_id}.{next(self._ids)}" if self.host_id else str(next(self._ids))
        deadline = self._now_ms() + timeout
        waiter = _Waiter(reply, caller.peer, event_id(ev), room)
        self.requests.add(
            request_id,
            room=room,
            requester=caller.peer,
            handler=handler,
            deadline=deadline,
            token=waiter,
        )
        push = {K_ROOM: room, K_EVENT: ev, K_FROM: self._from(member), K_REQUEST_ID: request_id}
        if handler.host:
            sent = self.bridge is not None and self.bridge.forward_request(
                handler, room, push, timeout
            )
        else:
            # at once: the requester waits, and a batching window would add to every round trip
            sent = self.port.send(handler, [ROOM_EVENT, push], flush=True)
        if not sent:
            self._fail_routed(self.requests.handler_gone(handler, room))
            return
        self._arm_timer()

    def _reply(self, caller: Caller, data: Any) -> None:
        if not isinstance(data, MAP_TYPES):
            raise ProtocolError("a room reply is {:request-id id :value v}")
        waiter = self.requests.resolve(data.get(K_REQUEST_ID), caller.peer)
        if waiter is None:
            log.debug("late or unknown room reply from %s", caller.peer.uid)
            return
        waiter.reply(data.get(K_VALUE))

    # -- helpers ---------------------------------------------------------------------------

    def _kind(self, caller: Caller, data: Any) -> str:
        """Kernels are kernels (the host knows); others may say ``program``, else ``tab``."""
        if caller.kind == KIND_KERNEL:
            return KIND_KERNEL
        claimed = data.get(K_KIND)
        return KIND_PROGRAM if claimed == KIND_PROGRAM else KIND_TAB

    @staticmethod
    def _refuse(caller: Caller, ev_id: Any, error: ProtocolError, reply: ReplyFn | None) -> None:
        log.info("room event %s from %s refused: %s", ev_id, caller.peer.uid, error)
        if reply is None:
            return
        # a request's reply is the handler's value, so a refusal there is Sente's :chsk/error
        reply(CHSK_ERROR if ev_id == ROOM_REQUEST else {K_OK: False, K_ERROR: str(error)})

    @staticmethod
    def _user_event(data: Any) -> Any:
        ev = read_event(data)
        if is_reserved_id(event_id(ev)) or is_room_event_id(event_id(ev)):
            raise ProtocolError(f"{event_id(ev)} is reserved; rooms carry application events")
        return ev

    @staticmethod
    def _from(member: Member) -> dict[Keyword, Any]:
        return {
            **member.identity.to_wire(),
            K_CLIENT_ID: member.peer.client_id,
            K_KIND: member.kind,
        }

    def _announce_leave(self, left: Left) -> None:
        self._send_local(left.others, [ROOM_PRESENCE_DIFF, left.diff])
        if self.bridge is not None and not left.member.peer.host:
            self.bridge.member_left(left.room, left.member)

    def _send_local(self, peers: list[Peer], event: list[Any]) -> None:
        for peer in peers:
            if not peer.host:
                self.port.send(peer, event)

    def _has_remote_members(self, room: str) -> bool:
        return any(p.host for p in self.rooms.members(room))

    @staticmethod
    def _fail_routed(waiters: list[_Waiter]) -> None:
        for w in waiters:
            w.reply(CHSK_CLOSED)

    def _now_ms(self) -> float:
        return self._get_loop().time() * 1000.0

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _arm_timer(self) -> None:
        deadline = self.requests.next_deadline()
        if deadline is None or (self._timer_at is not None and self._timer_at <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._get_loop().call_at(deadline / 1000.0, self._expire)

    def _expire(self) -> None:
        self._timer = None
        self._timer_at = None
        # asyncio may run a timer up to its clock resolution early: allow 1 ms
        for w in self.requests.expire(self._now_ms() + 1.0):
            w.reply(CHSK_TIMEOUT)
        self._arm_timer()


def _keywordize(data: Any) -> Any:
    """The top level of a room event's map with str keys read as keywords (``"room"`` = ``:room``).

    The protocol uses keywords; clients whose packer has no keywords (plain JSON) still work.
    """
    if not isinstance(data, MAP_TYPES) or all(not isinstance(k, str) for k in data):
        return data
    return {kw(k) if isinstance(k, str) else k: v for k, v in data.items()}
