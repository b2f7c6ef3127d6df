"""A :class:`ChannelSocketServer` across servers: per-uid sends and broadcasts over a backplane.

``attach_backplane(server, backplane)`` makes ``server.send(uid, event)`` reach the clients of
``uid`` on every server of the backplane, and ``server.broadcast(event)`` every client of every
server. The server delivers to its own clients first, as without a backplane, then publishes
the event; the other servers deliver it through ``deliver_local``. A server listens to a
uid's channel only while that uid has a connection there (``connected_uids.any``).

The sends and broadcasts of one turn of the event loop travel together: one backplane
message per target (uid, or everyone) carries them all, in order (up to
:data:`MAX_EVENTS_PER_MESSAGE`), as Sente's batching does for a client. A burst then costs a
few backplane messages rather than one per event.

Messages of other kinds (rooms, presence, requests, goodbyes) go to the handlers given to
:meth:`BackplaneLink.route`: a :class:`~jupyter_sente.rooms.federation.RoomFederation` made
with the link registers itself there. Delivery between servers is at most once
(``docs/backplane.md``): what is published while the backplane is down is dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Hashable, Iterable
from typing import Any

from jupyter_sente.backplane import Backplane, BackplaneHealth, BackplaneMessage, OnMessage
from jupyter_sente.core.events import CHSK_CLOSE, is_event, is_reserved_id
from jupyter_sente.exceptions import MessageTooLarge, SenteError, UsageError
from jupyter_sente.server.connections import ConnectedUids
from jupyter_sente.server.server import EVERYONE, ChannelSocketServer
from jupyter_sente.values import MAP_TYPES, VECTOR_TYPES

__all__ = ["MAX_EVENTS_PER_MESSAGE", "BackplaneLink", "attach_backplane", "uid_target"]

log = logging.getLogger("jupyter_sente.server")

#: The kinds the link handles itself; every other kind goes to a routed handler.
_OWN_KINDS = frozenset({"uid", "broadcast"})
#: The most events one backplane message carries (a message over the backplane's
#: ``max_message_bytes`` is split in halves until its parts fit).
MAX_EVENTS_PER_MESSAGE = 256

#: Events waiting for the end of the loop turn, by (kind, uid): ``[[event, flush], ...]``.
_Pending = dict[tuple[str, Hashable], list[list[Any]]]


def uid_target(uid: Hashable, backplane: Backplane) -> str:
    """The backplane target (channel name part) of ``uid``: the uid itself for a non-empty str.

    Other uids (numbers, ``NIL_UID``) are named by their packed text, prefixed with ``~``. A
    str uid that looks the same only shares a channel: the body carries the exact uid.
    """
    if isinstance(uid, str) and uid:
        return uid
    return "~" + backplane.packer.pack(uid)


class BackplaneLink:
    """Relays a server's sends and broadcasts to the other servers on ``backplane``, and back.

    Made by :func:`attach_backplane`. ``await start()`` on the server's loop (the room
    federation's ``start()`` calls it), ``await stop()`` on shutdown; both are idempotent.
    """

    def __init__(self, server: ChannelSocketServer, backplane: Backplane) -> None:
        self.server = server
        self.backplane = backplane
        self._routes: dict[str, OnMessage] = {}
        self._running = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: _Pending = {}
        self._flush_handle: asyncio.Handle | None = None
        self._unwatch = server.watch_connected_uids(self._uids_changed)
        #: Relayed sends the backplane refused (too large, or a body it cannot encode).
        self.refused = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the backplane (if not yet) and listen to the uids connected here."""
        if self._running:
            return
        self._running = True
        for uid in self.server.connected_uids.any:
            self._want_uid(uid, True)
        await self.backplane.start(self._on_message)

    async def stop(self) -> None:
        """Stop relaying and stop the backplane (which says goodbye to the others)."""
        self._unwatch()
        if self.server.relay is self:
            self.server.relay = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self._running:
            self._flush()  # what this turn sent still goes, before the goodbye
        self._running = False
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        await self.backplane.stop()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running

    def health(self) -> BackplaneHealth:
        """The backplane's :meth:`~jupyter_sente.backplane.Backplane.health`."""
        return self.backplane.health()

    def route(self, kinds: Iterable[str], handler: OnMessage) -> None:
        """Hand received messages of ``kinds`` to ``handler`` (``uid`` and ``broadcast`` are ours)."""
        for kind in kinds:
            if kind in _OWN_KINDS:
                raise UsageError(f"{kind!r} messages are the link's own")
            if kind in self._routes and self._routes[kind] is not handler:
                raise UsageError(f"{kind!r} messages already go to {self._routes[kind]!r}")
            self._routes[kind] = handler

    # -- the server's side (ChannelSocketServer.send / broadcast call these) ---------------

    def send(self, uid: Hashable, event: list[Any], flush: bool) -> None:
        """Relay a per-uid send to the other servers (after the local delivery)."""
        self._add(("uid", uid), event, flush)

    def broadcast(self, event: list[Any], flush: bool) -> None:
        """Relay a broadcast to the other servers (after the local delivery)."""
        self._add(("broadcast", None), event, flush)

    def _add(self, key: tuple[str, Hashable], event: list[Any], flush: bool) -> None:
        if not self._running:
            return
        group = self._pending.get(key)
        if group is None:
            group = self._pending[key] = []
        group.append([event, flush])
        if len(group) >= MAX_EVENTS_PER_MESSAGE:
            del self._pending[key]
            self._publish(key, group)
        if self._flush_handle is None and self._pending:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        pending, self._pending = self._pending, {}
        for key, group in pending.items():
            self._publish(key, group)

    def _publish(self, key: tuple[str, Hashable], group: list[list[Any]]) -> None:
        kind, uid = key
        if kind == "uid":
            body = {"uid": uid, "events": group}
            msg = BackplaneMessage("uid", uid_target(uid, self.backplane), body)
        else:
            msg = BackplaneMessage("broadcast", None, {"events": group})
        try:
            # False (down, or queue full) is counted by the backplane: at most once
            self.backplane.publish_nowait(msg)
        except MessageTooLarge as e:
            if len(group) > 1:
                half = len(group) // 2
                self._publish(key, group[:half])
                self._publish(key, group[half:])
                return
            self._refused(msg, e)
        except SenteError as e:
            self._refused(msg, e)

    def _refused(self, msg: BackplaneMessage, error: SenteError) -> None:
        # too large or not encodable: the local clients got it; the others cannot
        self.refused += 1
        log.warning("a %s send did not go to the other servers: %s", msg.kind, error)

    # -- what the other servers send -------------------------------------------------------

    def _on_message(self, msg: BackplaneMessage) -> Awaitable[None] | None:
        if msg.kind in _OWN_KINDS:
            self._deliver(msg)
            return None
        handler = self._routes.get(msg.kind)
        if handler is None:
            return None
        return handler(msg)

    def _deliver(self, msg: BackplaneMessage) -> None:
        body = msg.body
        events = body.get("events") if isinstance(body, MAP_TYPES) else None
        if not isinstance(events, VECTOR_TYPES):
            log.warning("dropped a %s message from server %s: no events", msg.kind, msg.origin)
            return
        target: Any = EVERYONE
        if msg.kind == "uid":
            target = body.get("uid")
            try:
                hash(target)
                if target is None:
                    raise TypeError
            except TypeError:
                log.warning("dropped a uid message from server %s: bad uid %r", msg.origin, target)
                return
        deliver = self.server.deliver_local
        for item in events:
            event: Any = item[0] if isinstance(item, VECTOR_TYPES) and len(item) == 2 else None
            # what send() accepts: an event, no chsk id but [:chsk/close]
            if is_event(event) and (
                not is_reserved_id(event[0]) or (event[0] == CHSK_CLOSE and len(event) == 1)
            ):
                deliver(target, list(event), flush=item[1] is True)
            else:
                log.warning("dropped an event from server %s: %.80r", msg.origin, item)

    # -- which uids to listen to -----------------------------------------------------------

    def _uids_changed(self, old: ConnectedUids, new: ConnectedUids) -> None:
        if not self._running:
            return
        for uid in new.any - old.any:
            self._want_uid(uid, True)
        for uid in old.any - new.any:
            self._want_uid(uid, False)

    def _want_uid(self, uid: Hashable, wanted: bool) -> None:
        target = uid_target(uid, self.backplane)
        bp = self.backplane
        aw = bp.subscribe_uid(target) if wanted else bp.unsubscribe_uid(target)
        task = asyncio.ensure_future(aw)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("backplane uid subscription failed: %s", task.exception())


def attach_backplane(server: ChannelSocketServer, backplane: Backplane) -> BackplaneLink:
    """Make ``server``'s sends and broadcasts span every server on ``backplane``; the link.

    Sets ``server.backplane`` (for ``server.backplane.health()``) and ``server.relay``. Call
    ``await link.start()`` once the loop runs (or let a room federation made with the link
    start it) and ``await link.stop()`` on shutdown.
    """
    if server.relay is not None:
        raise UsageError("this server is attached to a backplane already")
    link = BackplaneLink(server, backplane)
    server.backplane = backplane
    server.relay = link
    return link
