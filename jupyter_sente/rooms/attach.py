"""Rooms on a :class:`~jupyter_sente.server.ChannelSocketServer`: route its room events to a hub.

``attach_rooms(server)`` registers the ``sente.room/*`` handlers on the server's router,
sends through ``send_to_client`` (one connection, batched like every push except routed
requests, which go at once) and tells the hub when a client is gone for good (after Sente's
grace period, so a reconnect keeps its rooms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_sente.core.rooms import (
    ROOM_HANDLERS,
    ROOM_JOIN,
    ROOM_LEAVE,
    ROOM_PUBLISH,
    ROOM_REPLY,
    ROOM_REQUEST,
    Identity,
    Peer,
)
from jupyter_sente.rooms.hub import (
    DEFAULT_REQUEST_TIMEOUT_MS,
    MAX_REQUEST_TIMEOUT_MS,
    Caller,
    RoomHub,
    RoomPolicy,
)
from jupyter_sente.server import ChannelSocketServer, Connection, EventMsg

__all__ = ["CallerFn", "ServerRoomPort", "attach_rooms", "default_caller"]

#: Who sent an event, for rooms: identity, kind and notebook from the event's request.
CallerFn = Callable[[EventMsg], Caller]

ROOM_EVENT_IDS = (ROOM_JOIN, ROOM_LEAVE, ROOM_HANDLERS, ROOM_PUBLISH, ROOM_REQUEST, ROOM_REPLY)


def default_caller(msg: EventMsg) -> Caller:
    """A caller known by its uid only (plain Tornado apps; the Jupyter extension adds identities)."""
    return Caller(Peer(msg.uid, msg.client_id), Identity(msg.uid))


class ServerRoomPort:
    """Sends room traffic to one client of a :class:`ChannelSocketServer`."""

    def __init__(self, server: ChannelSocketServer) -> None:
        self.server = server

    def send(self, peer: Peer, event: list[Any], flush: bool = False) -> bool:
        """Push ``event`` to ``peer``; False if the server has no connection for it."""
        if not self.connected(peer):
            return False
        self.server.send_to_client(peer.uid, peer.client_id, event, flush=flush)
        return True

    def connected(self, peer: Peer) -> bool:
        """True while the server has an entry (any transport, open or in grace) for ``peer``."""
        return any(c.client_id == peer.client_id for c in self.server.connections(peer.uid))


def attach_rooms(
    server: ChannelSocketServer,
    *,
    caller: CallerFn = default_caller,
    policy: RoomPolicy | None = None,
    default_request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS,
    max_request_timeout_ms: int = MAX_REQUEST_TIMEOUT_MS,
) -> RoomHub:
    """A :class:`RoomHub` serving the ``sente.room/*`` events of ``server``; returns the hub.

    ``hub.close()`` (before ``server.close()``) fails the requests still waiting.
    """
    port = ServerRoomPort(server)
    hub = RoomHub(
        port,
        policy=policy,
        default_request_timeout_ms=default_request_timeout_ms,
        max_request_timeout_ms=max_request_timeout_ms,
    )

    def on_room_event(msg: EventMsg) -> None:
        hub.handle(caller(msg), msg.event, msg.reply)

    for ev_id in ROOM_EVENT_IDS:
        server.router.add(ev_id, on_room_event)

    def on_connection(what: str, conn: Connection) -> None:
        # A client may hold a WebSocket and an Ajax entry; it is gone when neither is left.
        if what == "close":
            peer = Peer(conn.uid, conn.client_id)
            if not port.connected(peer):
                hub.connection_gone(peer)

    server.watch_connections(on_connection)
    return hub
