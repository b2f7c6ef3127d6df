"""Rooms across servers: a room hub's bridge over a backplane (``docs/backplane.md``).

Each server keeps its own connections; through the backplane it tells the others who of its
members is in which room (presence: a snapshot when the room gets its first local member and
every heartbeat, diffs in between, ``leave-all`` when it empties, goodbye on stop), forwards
publishes to the servers with members in the room, and routes requests to a handler peer on
another server and its reply back. Delivery between servers is at most once, like the rest;
presence heals itself by its heartbeats and queries, and at once after the backplane
reconnects (a snapshot and a query per room).

Made with a :class:`~jupyter_sente.server.BackplaneLink` (``attach_backplane``), the
federation shares that backplane with the server's per-uid sends and broadcasts; made with
a bare :class:`~jupyter_sente.backplane.Backplane`, it owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from jupyter_sente.backplane import Backplane, BackplaneMessage, new_message_id
from jupyter_sente.backplane.base import CONTROL_BYE
from jupyter_sente.backplane.presence import (
    EXPIRY_FACTOR,
    HEARTBEAT_MS,
    QUERY,
    LocalPresence,
    PresenceChange,
    RemotePresence,
)
from jupyter_sente.core.rooms import (
    K_AVATAR_URL,
    K_COLOR,
    K_DISPLAY_NAME,
    K_INITIALS,
    K_NAME,
    K_REQUEST_ID,
    Identity,
    Member,
    Peer,
)
from jupyter_sente.exceptions import PackError, ProtocolError, SenteError, UsageError
from jupyter_sente.rooms.hub import RoomHub
from jupyter_sente.server.backplane import BackplaneLink
from jupyter_sente.values import MAP_TYPES, VECTOR_TYPES, Keyword

__all__ = ["ROOM_KINDS", "RoomFederation"]

#: The backplane message kinds a federation handles.
ROOM_KINDS = ("room", "presence", "request", "reply", "control")

log = logging.getLogger("jupyter_sente.rooms")


def _key(peer: Peer) -> str:
    return json.dumps([str(peer.uid), peer.client_id])


class RoomFederation:
    """Makes ``hub``'s rooms span every server on ``backplane`` (same namespace and packer).

    ``backplane`` is a :class:`Backplane`, or the :class:`BackplaneLink` of the hub's server
    (then both share it, and starting or stopping the federation starts or stops the link).
    ``await start()`` after the loop runs, ``await stop()`` on shutdown (it says goodbye, so
    the other servers drop this one's members at once rather than after expiry).
    """

    def __init__(
        self,
        hub: RoomHub,
        backplane: Backplane | BackplaneLink,
        *,
        heartbeat_ms: int = HEARTBEAT_MS,
        expiry_factor: int = EXPIRY_FACTOR,
    ) -> None:
        if hub.bridge is not None:
            raise UsageError("this room hub is federated already")
        self.hub = hub
        self.link = backplane if isinstance(backplane, BackplaneLink) else None
        self.backplane = backplane.backplane if isinstance(backplane, BackplaneLink) else backplane
        self.heartbeat_ms = heartbeat_ms
        self.expiry_factor = expiry_factor
        self.local: dict[str, LocalPresence] = {}
        self.remote: dict[str, RemotePresence] = {}
        self._opening: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._session = (False, 0)  # (connected, reconnects) at the last tick
        hub.host_id = self.backplane.server_id  # request ids unique across servers
        hub.bridge = self
        if self.link is not None:
            self.link.route(ROOM_KINDS, self._on_message)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the backplane (or the link) and the heartbeat."""
        if self.link is not None:
            await self.link.start()
        else:
            await self.backplane.start(self._on_message)
        health = self.backplane.health()
        self._session = (health.connected, health.reconnects)
        self._ticker = asyncio.create_task(self._tick_loop(), name="room-federation-heartbeat")

    async def stop(self) -> None:
        """Stop the heartbeat and the backplane (which says goodbye); idempotent."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for task in list(self._tasks):
            task.cancel()
        if self.link is not None:
            await self.link.stop()
        else:
            await self.backplane.stop()
        self.hub.bridge = None

    # -- what the hub tells us (its RoomBridge side) ---------------------------------------

    def member_changed(self, room: str, member: Member, handles: list[Keyword]) -> None:
        """A local member joined ``room``, or changed its meta or handlers."""
        local = self.local.get(room)
        if local is None:
            local = self.local[room] = LocalPresence(self.heartbeat_ms)
            local.join(_key(member.peer), _meta(member, handles))
            self._opening.add(room)
            self._spawn(self._open_room(room))
            return
        body = local.join(_key(member.peer), _meta(member, handles))
        if body is not None and room not in self._opening:
            self._publish(BackplaneMessage("presence", room, body))

    def member_left(self, room: str, member: Member) -> None:
        """A local member left ``room`` (or its connection is gone)."""
        local = self.local.get(room)
        if local is None:
            return
        body = local.leave(_key(member.peer))
        if local.members:
            if body is not None and room not in self._opening:
                self._publish(BackplaneMessage("presence", room, body))
            return
        # the room's last local member: tell the others, stop listening, forget their members
        del self.local[room]
        self._opening.discard(room)
        self._publish(BackplaneMessage("presence", room, local.leave_all()))
        self.remote.pop(room, None)
        self.hub.forget_remote_room(room)
        self._spawn(self.backplane.unsubscribe_room(room))

    def publish(self, room: str, push: dict[Keyword, Any]) -> None:
        """A local publish in ``room``: the servers with members there deliver it."""
        self._publish(BackplaneMessage("room", room, {"op": "event", "push": push}))

    def forward_request(
        self, handler: Peer, room: str, push: dict[Keyword, Any], timeout_ms: int
    ) -> bool:
        """Send a routed request to ``handler``'s server; False if it could not go."""
        body = {
            "room": room,
            "to": [handler.uid, handler.client_id],
            "push": push,
            "timeout-ms": timeout_ms,
        }
        msg = BackplaneMessage("request", handler.host, body, id=new_message_id())
        return self._publish(msg)

    # -- what the other servers tell us ----------------------------------------------------

    async def _on_message(self, msg: BackplaneMessage) -> None:
        origin = msg.origin or ""
        try:
            if msg.kind == "presence" and msg.target in self.local:
                self._on_presence(msg.target, origin, msg.body)
            elif msg.kind == "room" and msg.target in self.local:
                body = msg.body
                if isinstance(body, MAP_TYPES) and body.get("op") == "event":
                    self.hub.remote_event(msg.target, body.get("push"))
            elif msg.kind == "request":
                self._on_request(msg)
            elif msg.kind == "reply":
                self._on_reply(origin, msg.body)
            elif msg.kind == "control" and msg.body == CONTROL_BYE:
                for room, remote in list(self.remote.items()):
                    self._apply(room, remote.drop_server(origin))
        except (ProtocolError, UsageError, PackError) as e:
            log.warning("room message %s from server %s dropped: %s", msg.kind, origin, e)

    def _on_presence(self, room: str, origin: str, body: Any) -> None:
        remote = self.remote.setdefault(room, RemotePresence(self.expiry_factor))
        change = remote.apply(origin, body, self._now_ms())
        self._apply(room, change)
        if change.query_wanted:
            self._publish(BackplaneMessage("presence", room, dict(QUERY)))
        if change.snapshot_wanted and room not in self._opening and room in self.local:
            self._publish(
                BackplaneMessage("presence", room, self.local[room].snapshot(self._now_ms()))
            )

    def _apply(self, room: str, change: PresenceChange) -> None:
        for (server, _), meta in change.left.items():
            peer = _peer(server, meta)
            if peer is not None:
                self.hub.remote_left(room, peer)
        for (server, _), meta in {**change.joined, **change.updated}.items():
            member = _member(server, meta)
            if member is not None:
                self.hub.remote_member(room, member, _handles(meta))

    def _on_request(self, msg: BackplaneMessage) -> None:
        body = msg.body
        origin, msg_id = msg.origin, msg.id
        if not isinstance(body, MAP_TYPES) or origin is None or msg_id is None:
            raise ProtocolError("a room request is {room, to, push, timeout-ms}")
        to = body.get("to")
        room = body.get("room")
        timeout = body.get("timeout-ms")
        if (
            not isinstance(to, VECTOR_TYPES)
            or len(to) != 2
            or not isinstance(room, str)
            or not isinstance(timeout, int)
        ):
            raise ProtocolError("a room request is {room, to, push, timeout-ms}")
        push = body.get("push")
        request_id = push.get(K_REQUEST_ID) if isinstance(push, MAP_TYPES) else None

        def reply(value: Any) -> bool:
            answer = {"request-id": request_id, "to": list(to), "value": value}
            return self._publish(BackplaneMessage("reply", origin, answer, id=msg_id))

        self.hub.relay_request(room, Peer(to[0], to[1]), push, timeout, reply)

    def _on_reply(self, origin: str, body: Any) -> None:
        if not isinstance(body, MAP_TYPES):
            raise ProtocolError("a room reply is {request-id, to, value}")
        to = body.get("to")
        if not isinstance(to, VECTOR_TYPES) or len(to) != 2:
            raise ProtocolError("a room reply names its handler peer in 'to'")
        self.hub.remote_reply(body.get("request-id"), Peer(to[0], to[1], origin), body.get("value"))

    # -- plumbing --------------------------------------------------------------------------

    async def _open_room(self, room: str) -> None:
        await self.backplane.subscribe_room(room)
        if room not in self.local:
            return  # emptied meanwhile
        self._opening.discard(room)
        now = self._now_ms()
        self._publish(BackplaneMessage("presence", room, self.local[room].snapshot(now)))
        self._publish(BackplaneMessage("presence", room, dict(QUERY)))

    async def _tick_loop(self) -> None:
        # heartbeats are due every heartbeat_ms; expiry is checked as often
        period = min(self.heartbeat_ms, 1_000) / 1000
        slack = period * 1000 / 2
        while True:
            await asyncio.sleep(period)
            now = self._now_ms()
            health = self.backplane.health()
            session, self._session = self._session, (health.connected, health.reconnects)
            if health.connected and session != self._session:
                # a new session: what was published while down is lost, so tell and ask again
                self._resync(now)
            for room, local in list(self.local.items()):
                due = local.next_heartbeat
                # half a period early rather than a whole period late: a tick that wakes a
                # hair before the due time must not stretch the heartbeat to two periods
                # (the others expire a server after 3 heartbeats of silence)
                if room not in self._opening and due is not None and now >= due - slack:
                    self._publish(BackplaneMessage("presence", room, local.snapshot(now)))
            for room, remote in list(self.remote.items()):
                self._apply(room, remote.expire(now))

    def _resync(self, now: float) -> None:
        for room, local in list(self.local.items()):
            if room not in self._opening:
                self._publish(BackplaneMessage("presence", room, local.snapshot(now)))
                self._publish(BackplaneMessage("presence", room, dict(QUERY)))

    def _publish(self, msg: BackplaneMessage) -> bool:
        try:
            return self.backplane.publish_nowait(msg)
        except SenteError as e:
            log.warning("could not send a %s message for the rooms: %s", msg.kind, e)
            return False

    def _spawn(self, aw: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(aw)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("room federation task failed: %s", task.exception())

    @staticmethod
    def _now_ms() -> float:
        return asyncio.get_running_loop().time() * 1000


def _meta(member: Member, handles: list[Keyword]) -> dict[str, Any]:
    """What the other servers learn of a local member."""
    return {
        "uid": member.peer.uid,
        "client-id": member.peer.client_id,
        "identity": member.identity.to_wire(),
        "kind": member.kind,
        "notebook": member.notebook,
        "meta": member.meta,
        "handles": list(handles),
    }


def _peer(server: str, meta: Any) -> Peer | None:
    if not isinstance(meta, MAP_TYPES):
        return None
    uid, cid = meta.get("uid"), meta.get("client-id")
    if uid is None or not isinstance(cid, str):
        return None
    return Peer(uid, cid, server)


def _member(server: str, meta: Any) -> Member | None:
    peer = _peer(server, meta)
    if peer is None:
        return None
    ident = meta.get("identity")
    ident = ident if isinstance(ident, MAP_TYPES) else {}
    identity = Identity(
        uid=peer.uid,
        name=ident.get(K_NAME),
        display_name=ident.get(K_DISPLAY_NAME),
        initials=ident.get(K_INITIALS),
        color=ident.get(K_COLOR),
        avatar_url=ident.get(K_AVATAR_URL),
    )
    kind = meta.get("kind")
    notebook = meta.get("notebook")
    return Member(
        peer,
        identity,
        kind if isinstance(kind, str) else "tab",
        notebook if isinstance(notebook, str) else None,
        meta.get("meta"),
    )


def _handles(meta: Any) -> list[Keyword]:
    handles = meta.get("handles") if isinstance(meta, MAP_TYPES) else None
    if not isinstance(handles, VECTOR_TYPES):
        return []
    return [h for h in handles if isinstance(h, Keyword)]
