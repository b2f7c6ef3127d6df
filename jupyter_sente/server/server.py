"""``ChannelSocketServer``: Sente's channel-socket server on asyncio, for any host.

A host (``jupyter_sente.tornado``, the Jupyter extension) moves bytes and calls in:
:meth:`~ChannelSocketServer.check_request` then :meth:`~ChannelSocketServer.ws_open`,
:meth:`~ChannelSocketServer.ws_message`, :meth:`~ChannelSocketServer.ws_closed` for a
WebSocket; :meth:`~ChannelSocketServer.ajax_get` and :meth:`~ChannelSocketServer.ajax_post`
for Ajax, whose answers it awaits. Everything else (connections, uids, batching, retries,
keep-alive, routing) happens here, on the event loop the host runs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, TypeVar, cast

from jupyter_sente.core.envelope import handshake_payload, open_envelope
from jupyter_sente.core.events import (
    ALL_USERS_WITHOUT_UID,
    CHSK_CLOSE,
    CHSK_DUMMY_CB_200,
    CHSK_TIMEOUT,
    CHSK_UIDPORT_CLOSE,
    CHSK_UIDPORT_OPEN,
    CHSK_WS_PING,
    CHSK_WS_PONG,
    NIL_UID,
    PONG,
    bad_event,
    event_data,
    is_event,
    is_reserved_id,
)
from jupyter_sente.core.server_conn import NEW_CHANNEL_EVENT, ConnEvent, ConnState, is_counted
from jupyter_sente.core.timing import (
    SEND_RETRY_BACKOFF_MS,
    BatchWindow,
    KeepAlive,
    KeepAliveAction,
    send_retry_delay_ms,
)
from jupyter_sente.exceptions import PackError, ProtocolError, UsageError
from jupyter_sente.packers import Packer, get_packer
from jupyter_sente.server.channel import (
    CONTENT_TYPE,
    AjaxPoll,
    HttpExchange,
    ServerChannel,
    Transport,
)
from jupyter_sente.server.connections import (
    ConnectedUids,
    Connection,
    ConnectionTable,
    ConnKey,
    UidChange,
)
from jupyter_sente.server.options import ServerOptions
from jupyter_sente.server.request import HttpResponse, RequestInfo
from jupyter_sente.server.router import EventMsg, Handler, Router
from jupyter_sente.server.security import reject_request
from jupyter_sente.values import VECTOR_TYPES, ImmutableList, Keyword, kw

if TYPE_CHECKING:
    from jupyter_sente.backplane import Backplane
    from jupyter_sente.server.backplane import BackplaneLink

__all__ = [
    "EVERYONE",
    "ChannelSocketServer",
    "ClientTarget",
    "ConnectionWatcher",
    "Target",
    "UidsWatcher",
    "WsSocket",
]

log = logging.getLogger("jupyter_sente.server")

#: How much of an offending packet goes into logs and ``[:chsk/bad-event x]``.
PREFIX_CHARS: Final = 80

UidsWatcher: TypeAlias = Callable[[ConnectedUids, ConnectedUids], None]
ConnectionWatcher: TypeAlias = Callable[[Literal["open", "close"], Connection], None]
H = TypeVar("H", bound=Handler)

_TRANSPORTS: Final[tuple[Transport, Transport]] = ("ws", "ajax")

#: A pushed event with its number (per server, in the order of ``deliver_local``).
_Item: TypeAlias = "tuple[int, list[Any]]"


class _Everyone:
    """The target of a broadcast: every client of this server."""

    _instance: _Everyone | None = None

    def __new__(cls) -> _Everyone:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EVERYONE"


EVERYONE: Final = _Everyone()


@dataclass(frozen=True)
class ClientTarget:
    """The target of a send to one client (all its connections: WebSocket and Ajax)."""

    uid: Hashable
    client_id: str


#: Where :meth:`ChannelSocketServer.deliver_local` delivers: a uid, one client, or everyone.
Target: TypeAlias = "Hashable | ClientTarget | _Everyone"


class WsSocket:
    """The server's record of one WebSocket; the host keeps it and passes it back.

    It is also the :class:`ServerChannel` the connection entry holds, so every write goes
    through the server's send-queue bound.
    """

    __slots__ = (
        "_server",
        "channel",
        "client_id",
        "closed",
        "conn_id",
        "connection",
        "keepalive",
        "logged",
        "request",
        "source",
        "timer",
        "uid",
    )

    def __init__(
        self,
        server: ChannelSocketServer,
        channel: ServerChannel,
        *,
        conn_id: str,
        request: RequestInfo,
        uid: Hashable,
        client_id: str,
    ) -> None:
        self._server = server
        self.channel = channel
        self.conn_id = conn_id
        self.request = request
        self.uid = uid
        self.client_id = client_id
        self.connection: Connection | None = None
        self.keepalive: KeepAlive | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.logged: set[str] = set()
        self.source = _Source(uid, client_id, request, "ws", None, self.logged, self)

    @property
    def is_open(self) -> bool:
        return not self.closed and self.channel.is_open

    @property
    def buffered_amount(self) -> int:
        return self.channel.buffered_amount

    def send(self, data: bytes) -> bool:
        return self._server._write(self, data)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.channel.close(code, reason)
        self._server.ws_closed(self)

    def abort(self) -> None:
        self.channel.abort()
        self._server.ws_closed(self)

    def __repr__(self) -> str:
        return f"WsSocket(uid={self.uid!r}, client_id={self.client_id!r}, conn_id={self.conn_id!r})"


@dataclass(eq=False)
class _Batch:
    """One flushed batch, packed once for all its recipients; ``seqs`` number its events."""

    seqs: tuple[int, ...]
    events: list[list[Any]]
    data: bytes
    made_at: float


@dataclass
class _Retry:
    """A batch waiting for its client to (re)connect or repoll."""

    key: ConnKey
    batch: _Batch
    retry: int
    timer: asyncio.TimerHandle | None = None


@dataclass
class _Source:
    """Where a received packet came from: what its event message and its log lines name."""

    uid: Hashable
    client_id: str
    request: RequestInfo
    transport: Transport
    conn: Connection | None
    logged: set[str]
    who: object


class ChannelSocketServer:
    """Sente's channel-socket server: clients by (uid, client-id), push, routing, keep-alive.

    Options are :class:`~jupyter_sente.server.options.ServerOptions` (or its field names as
    keywords). Every method runs on the event loop of the host; nothing here is thread-safe.
    """

    def __init__(self, options: ServerOptions | None = None, /, **overrides: Any) -> None:
        self.options = ServerOptions.build(options, **overrides)
        self.packer: Packer = get_packer(self.options.packer)
        self.router = Router()
        self._table = ConnectionTable()
        self._uid_watchers: list[UidsWatcher] = []
        self._conn_watchers: list[ConnectionWatcher] = []
        self._windows: dict[tuple[Transport, Any], BatchWindow[_Item]] = {}
        # Ajax windows kept without a timer while the server has no Ajax entry at all
        self._ajax_held: dict[Any, BatchWindow[_Item]] = {}
        self._next_seq = 0
        longest_window = max(self.options.send_buf_ms_ws, self.options.send_buf_ms_ajax)
        # how long a client's entry remembers the batches it sent (for the entry that may
        # replace it: a batch made before a window's length could still wait there), and how
        # long a replacing entry skips them (a window, then Sente's retries)
        self._ledger_ms = longest_window + 1000
        self._skip_ms = longest_window + 2 * sum(SEND_RETRY_BACKOFF_MS) + 1000
        self._ajax_held_ends: deque[tuple[float, Any]] = deque()
        self._retries: dict[ConnKey, list[_Retry]] = {}
        self._sockets: set[WsSocket] = set()
        self._post_logged: dict[str, set[str]] = {}
        self._ping = self._pack([CHSK_WS_PING, None])
        self._timeout = self._pack([CHSK_TIMEOUT, None])
        self._dummy = self._pack([CHSK_DUMMY_CB_200, None])
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Set by ``attach_backplane`` (``server/backplane.py``): sends and broadcasts then
        #: reach the clients of every server on the backplane too.
        self.backplane: Backplane | None = None
        self.relay: BackplaneLink | None = None

    # -- the application's side ------------------------------------------------------------

    def on(self, ev_id: Keyword | str) -> Callable[[H], H]:
        """Decorator: ``@server.on("my-app/echo")`` handles that event id."""
        return self.router.on(ev_id)

    def on_default(self, handler: H) -> H:
        """Decorator: the handler for events without their own handler."""
        return self.router.on_default(handler)

    @property
    def connected_uids(self) -> ConnectedUids:
        """Sente's ``connected-uids``: ``{ws, ajax, any}`` as frozensets (a snapshot)."""
        return self._table.uids

    def watch_connected_uids(self, watcher: UidsWatcher) -> Callable[[], None]:
        """Call ``watcher(old, new)`` on every change of ``connected_uids``; returns the unwatch."""
        self._uid_watchers.append(watcher)
        return lambda: _discard(self._uid_watchers, watcher)

    def watch_connections(self, watcher: ConnectionWatcher) -> Callable[[], None]:
        """Call ``watcher("open" | "close", connection)`` when a client starts or stops counting.

        "open" comes with the first channel (WebSocket open, first long-poll); "close" after
        the grace period, when the client did not come back. Returns the unwatch.
        """
        self._conn_watchers.append(watcher)
        return lambda: _discard(self._conn_watchers, watcher)

    def connections(
        self, uid: Hashable | None = None, transport: Transport | None = None
    ) -> list[Connection]:
        """The client entries (of one uid, of one transport), in any state but gone."""
        if uid is None:
            return self._table.all(transport)
        kinds = _TRANSPORTS if transport is None else (transport,)
        return [c for k in kinds for c in self._table.of_uid(k, uid)]

    def send(self, uid: Hashable, event: Any, flush: bool = False) -> None:
        """Push ``event`` to every client of ``uid`` (Sente's ``send-fn``), batched per transport.

        ``ALL_USERS_WITHOUT_UID`` reaches anonymous clients; ``[:chsk/close]`` closes the
        uid's channels; ``flush=True`` skips the batching window.
        """
        if uid is None:
            raise UsageError(
                "cannot send to uid None: use ALL_USERS_WITHOUT_UID for clients without a uid"
            )
        if isinstance(uid, Keyword) and uid == ALL_USERS_WITHOUT_UID:
            uid = NIL_UID
        event = self._outgoing(event)
        self.deliver_local(uid, event, flush=flush)
        if self.relay is not None:
            self.relay.send(uid, event, flush)

    def send_to_client(
        self, uid: Hashable, client_id: str, event: Any, flush: bool = False
    ) -> None:
        """Push ``event`` to one client (its WebSocket and Ajax connections), batched like :meth:`send`."""
        if uid is None:
            raise UsageError("cannot send to uid None: anonymous clients have uid NIL_UID")
        self.deliver_local(ClientTarget(uid, client_id), self._outgoing(event), flush=flush)

    def broadcast(self, event: Any, flush: bool = False) -> None:
        """Push ``event`` to every client; each batch is packed once for all of them."""
        event = self._outgoing(event)
        self.deliver_local(EVERYONE, event, flush=flush)
        if self.relay is not None:
            self.relay.broadcast(event, flush)

    def deliver_local(self, target: Target, event: list[Any], *, flush: bool = False) -> None:
        """Deliver a validated event to this server's clients of ``target``.

        The one path of :meth:`send`, :meth:`send_to_client` and :meth:`broadcast`, and the
        entry point of a backplane delivering what another server sent.
        """
        loop = self._bind_loop()
        if self._closed:
            return
        if event[0] == CHSK_CLOSE:
            if flush:
                self._ajax_held.pop(target, None)  # flushed to no one
                for kind in _TRANSPORTS:
                    window = self._windows.get((kind, target))
                    if window is not None:
                        self._flush((kind, target), window)
            self._close_target(target)
            return
        now = loop.time() * 1000
        item = (self._next_seq, event)
        self._next_seq += 1
        for kind in _TRANSPORTS:
            key = (kind, target)
            window = self._windows.get(key)
            if window is None:
                if kind == "ajax" and not self._table.count("ajax"):
                    self._hold_ajax(target, item, now, flush)
                    continue
                ms = self.options.send_buf_ms_ws if kind == "ws" else self.options.send_buf_ms_ajax
                window = self._windows[key] = BatchWindow(ms)
            deadline = window.add(item, now)
            if flush:
                self._flush(key, window)
            elif deadline is not None:
                loop.call_at(deadline / 1000, self._flush, key, window)

    def close(self) -> None:
        """Close every channel and stop every timer (server shutdown).

        Every client is gone at once, without a grace period: ``connected_uids`` becomes
        empty (its watchers are called once), connection watchers get ``"close"`` for each
        client that counted. No ``chsk/uidport-close`` is routed: the server is shutting down.
        """
        self._closed = True
        old = self._table.uids
        for sock in list(self._sockets):
            sock.close(1001, "server shutting down")
        for conn in self._table.all():
            if conn._grace is not None:
                conn._grace.cancel()
                conn._grace = None
            if conn.channel is not None and conn.channel.is_open:
                conn.channel.close()
            self._gone_at_close(conn)
        new = self._table.uids
        if new != old:
            for watcher in list(self._uid_watchers):
                _call_watcher(watcher, old, new)
        for entries in self._retries.values():
            for entry in entries:
                if entry.timer is not None:
                    entry.timer.cancel()
        self._retries.clear()
        self._windows.clear()
        self._ajax_held.clear()
        self._ajax_held_ends.clear()

    # -- the host's side -------------------------------------------------------------------

    def check_request(self, request: RequestInfo) -> HttpResponse | None:
        """The response that refuses ``request``, or ``None``: client-id, then Sente's pipeline.

        Hosts call it before upgrading a WebSocket; ``ajax_get`` and ``ajax_post`` call it.
        """
        if request.client_id is None:
            return HttpResponse(
                400,
                "client-id is required: send a non-blank client-id query parameter "
                "(Sente clients do)",
                {"Content-Type": CONTENT_TYPE},
            )
        return reject_request(self.options, request)

    def ws_open(self, request: RequestInfo, channel: ServerChannel) -> WsSocket:
        """A WebSocket opened (after :meth:`check_request` passed): handshake, register, keep alive."""
        client_id = request.client_id
        if client_id is None:
            raise UsageError("ws_open needs a request with a client-id: call check_request first")
        self._bind_loop()
        uid = self._user_id(request)
        handshake = self._pack_handshake(uid, request)
        sock = WsSocket(
            self, channel, conn_id=_new_conn_id(), request=request, uid=uid, client_id=client_id
        )
        self._sockets.add(sock)
        self._write(sock, handshake)
        if sock.closed:
            return sock
        conn = self._attach(sock, "ws", uid, client_id, request)
        tick_ms = self.options.timing.ws_kalive_tick_ms
        if tick_ms is not None:
            sock.keepalive = KeepAlive(_now_ms(), tick_ms, self.options.ws_ping_timeout_ms)
            self._schedule_keepalive(sock)
        self._resume(conn)
        return sock

    def ws_message(self, sock: WsSocket, data: str | bytes) -> None:
        """A WebSocket frame arrived."""
        if sock.closed:
            return
        size = len(data) if isinstance(data, bytes) else _utf8_len(data)
        limit = self.options.max_message_bytes
        if size > limit:
            reason = f"message of {size} bytes is over max_message_bytes ({limit})"
            self._log_once(sock.logged, "too-big", "closing WebSocket of %r: %s", sock, reason)
            sock.close(1009, reason)
            return
        if sock.keepalive is not None:
            sock.keepalive.activity(_now_ms())
        src = sock.source
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
        except UnicodeDecodeError:
            self._bad_package(src, repr(data[:PREFIX_CHARS]), "not UTF-8")
            return
        opened = self._open(src, text)
        if opened is None:
            return
        payload, cb_id, ok = opened
        if not ok:
            self._emit(src, bad_event(payload))
        elif _is_unit(payload, CHSK_WS_PONG):
            self._emit(src, [CHSK_WS_PONG])
        elif _is_unit(payload, CHSK_WS_PING):
            if cb_id is not None:
                self._write(sock, self._pack([PONG, cb_id]))
            self._emit(src, [CHSK_WS_PING])
        else:
            event = self._incoming(src, payload)
            self._emit(src, event, None if cb_id is None else self._ws_reply(sock, cb_id))

    def ws_closed(self, sock: WsSocket) -> None:
        """The WebSocket closed (idempotent): its client enters the grace period."""
        if sock.closed:
            return
        sock.closed = True
        self._sockets.discard(sock)
        if sock.timer is not None:
            sock.timer.cancel()
            sock.timer = None
        if sock.connection is not None:
            self._detach(sock.connection, sock, self.options.ms_allow_reconnect_before_close_ws)

    def ajax_get(self, request: RequestInfo) -> HttpExchange:
        """An Ajax GET: a handshake (answered at once) or a long-poll (held)."""
        self._bind_loop()
        refused = self.check_request(request)
        if refused is not None:
            return HttpExchange(refused)
        client_id = request.client_id
        assert client_id is not None  # checked above
        uid = self._user_id(request)
        conn = self._table.get("ajax", uid, client_id)
        if conn is None or request.has_param("handshake?"):
            data = self._pack_handshake(uid, request)
            if conn is None:
                conn = Connection("ajax", uid, client_id, _new_conn_id(), request)
                self._add_entry(conn)
            else:
                conn.channel = None  # a held poll, if any, is given up: it times out alone
                self._apply(conn, ConnEvent.HANDSHAKE)
                conn.conn_id = _new_conn_id()
                conn.request = request
            self._start_grace(conn, self.options.ms_allow_reconnect_before_close_ajax)
            return HttpExchange(_ok(data))
        loop = _running_loop()

        def poll_done(_: HttpExchange) -> None:
            timer.cancel()
            self._detach(conn, poll, self.options.ms_allow_reconnect_before_close_ajax)

        poll = AjaxPoll(poll_done)
        timer = loop.call_later(self.options.lp_timeout_ms / 1000, poll.send, self._timeout)
        self._attach(poll, "ajax", uid, client_id, request)
        self._resume(conn)
        return poll

    def ajax_post(self, request: RequestInfo, body: bytes = b"") -> HttpExchange:
        """An Ajax POST carrying one event; the answer is its reply, a timeout or a dummy."""
        self._bind_loop()
        limit = self.options.max_message_bytes
        if len(body) > limit:
            return HttpExchange(
                HttpResponse(
                    413,
                    f"message of {len(body)} bytes is over max_message_bytes ({limit})",
                    {"Content-Type": CONTENT_TYPE},
                )
            )
        refused = self.check_request(request)
        if refused is not None:
            return HttpExchange(refused)
        client_id = request.client_id
        assert client_id is not None  # checked above
        uid = self._user_id(request)
        conn = self._table.get("ajax", uid, client_id)
        src = _Source(
            uid,
            client_id,
            request,
            "ajax",
            conn,
            conn._logged if conn is not None else self._logged_for_post(client_id),
            f"Ajax client {client_id!r} of uid {uid!r}",
        )
        if request.has_param("binary?"):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                self._bad_package(src, repr(body[:PREFIX_CHARS]), "not UTF-8")
                return HttpExchange(_bad_request("the body is not UTF-8"))
        else:
            ppstr = request.param("ppstr")
            if ppstr is None:
                return HttpExchange(_bad_request("ppstr is required (the packed event)"))
            text = ppstr
        opened = self._open(src, text)
        if opened is None:
            return HttpExchange(_bad_request(f"the packet is not valid {self.packer.name}"))
        payload, cb_id, ok = opened
        event = self._incoming(src, payload) if ok else bad_event(payload)
        if cb_id is None:
            self._emit(src, event)
            return HttpExchange(_ok(self._dummy))
        loop = _running_loop()
        exchange = HttpExchange()
        timer = loop.call_later(
            self.options.lp_timeout_ms / 1000, exchange.answer, _ok(self._timeout)
        )
        exchange._on_done = lambda _: timer.cancel()

        def reply(value: Any) -> bool:
            if exchange.done:
                return False
            return exchange.answer(_ok(self._pack([value, None])))

        self._emit(src, event, reply)
        return exchange

    # -- connections -----------------------------------------------------------------------

    def _attach(
        self,
        channel: ServerChannel,
        kind: Transport,
        uid: Hashable,
        client_id: str,
        request: RequestInfo,
    ) -> Connection:
        conn_id = channel.conn_id if isinstance(channel, WsSocket) else _new_conn_id()
        conn = self._table.get(kind, uid, client_id)
        if conn is None:
            conn = Connection(kind, uid, client_id, conn_id, request)
            self._add_entry(conn)
        event = NEW_CHANNEL_EVENT[conn.state]
        conn.channel = channel
        conn.conn_id = conn_id
        conn.request = request
        if conn._grace is not None:
            conn._grace.cancel()
            conn._grace = None
        if isinstance(channel, WsSocket):
            channel.connection = channel.source.conn = conn
        self._apply(conn, event)
        other = self._table.other(conn)
        if other is not None:
            self._replace(other, conn)
        return conn

    def _replace(self, old: Connection, new: Connection) -> None:
        """The client's channel on the other transport wins: ``old`` gets nothing more and goes.

        Batches ``old`` sent lately may still wait for ``new`` (in a window or a retry, since
        each transport batches every push): ``new`` skips their events for a while, so a
        client that switches transport gets each push at most once.
        """
        now = _now_ms()
        skip = {seq for batch in old._sent for seq in batch.seqs}
        for conn in (old, new):
            if conn._skip and now <= conn._skip_until:
                skip |= conn._skip
        if skip:
            new._skip = frozenset(skip)
            new._skip_until = now + self._skip_ms
        for entry in self._retries.pop(old.key, ()):
            if entry.timer is not None:
                entry.timer.cancel()
        if old._grace is not None:
            old._grace.cancel()
            old._grace = None
        # a superseded channel is left alone (as within one transport); its close is ignored
        old.channel = None
        old._sent.clear()
        self._apply(old, ConnEvent.REPLACED)

    def _add_entry(self, conn: Connection) -> None:
        self._table.add(conn)
        if conn.kind == "ajax" and self._ajax_held:
            self._release_held_ajax()

    def _detach(self, conn: Connection, channel: ServerChannel, grace_ms: int) -> None:
        if conn.channel is not channel or conn.state is not ConnState.OPEN:
            return  # a superseded channel: the newest one decides
        conn.channel = None
        self._apply(conn, ConnEvent.CLOSE)
        self._start_grace(conn, grace_ms)

    def _start_grace(self, conn: Connection, grace_ms: int) -> None:
        if conn._grace is not None:
            conn._grace.cancel()
            conn._grace = None
        if self._closed:
            return
        conn._grace = _running_loop().call_later(
            grace_ms / 1000, self._grace_expired, conn, conn.conn_id
        )

    def _gone_at_close(self, conn: Connection) -> None:
        """Remove ``conn`` (server shutdown): its grace period ends now; uid watchers wait."""
        counted = is_counted(conn.state)
        conn.channel = None
        if conn.state is ConnState.OPEN:
            self._table.apply(conn, ConnEvent.CLOSE)
        self._table.apply(conn, ConnEvent.GRACE_EXPIRED)
        if counted:
            for watcher in list(self._conn_watchers):
                _call_watcher(watcher, "close", conn)

    def _grace_expired(self, conn: Connection, conn_id: str) -> None:
        conn._grace = None
        if conn.conn_id != conn_id or conn.state is ConnState.OPEN:
            return
        if self._table.get(*conn.key) is conn and conn.state is not ConnState.GONE:
            self._apply(conn, ConnEvent.GRACE_EXPIRED)

    def _apply(self, conn: Connection, event: ConnEvent) -> None:
        old = self._table.uids if self._uid_watchers else None
        was = is_counted(conn.state)
        change = self._table.apply(conn, event)
        now = is_counted(conn.state)
        if was != now:
            for watcher in list(self._conn_watchers):
                _call_watcher(watcher, "open" if now else "close", conn)
        self._uids_changed(change, old, conn)

    def _uids_changed(self, change: UidChange, old: ConnectedUids | None, conn: Connection) -> None:
        if change.changed and old is not None:
            new = self._table.uids
            for watcher in list(self._uid_watchers):
                _call_watcher(watcher, old, new)
        if change.entered_any or change.left_any:
            src = _Source(
                conn.uid, conn.client_id, conn.request, conn.kind, conn, conn._logged, conn
            )
            ev_id = CHSK_UIDPORT_OPEN if change.entered_any else CHSK_UIDPORT_CLOSE
            # after the move has finished: a handler may open or close connections itself
            _running_loop().call_soon(self._emit, src, [ev_id, conn.uid])

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, which must be the one the server first ran on."""
        loop = _running_loop()
        if self._loop is None or self._loop.is_closed():
            self._loop = loop
        elif loop is not self._loop:
            raise UsageError(
                "the channel-socket server runs on one event loop: call it from that loop's "
                "thread (loop.call_soon_threadsafe from others)"
            )
        return loop

    def _user_id(self, request: RequestInfo) -> Hashable:
        uid = cast(Hashable, self.options.user_id_fn(request))
        if uid is None:
            return cast(Hashable, NIL_UID)
        try:
            hash(uid)
        except TypeError:
            raise UsageError(f"user_id_fn must return a hashable uid, got {uid!r}") from None
        return uid

    # -- receiving -------------------------------------------------------------------------

    def _open(self, src: _Source, text: str) -> tuple[Any, Any, bool] | None:
        """``(payload, cb_id, True)``, or ``(value, None, False)`` for a value that is no envelope.

        ``None`` (after logging once and emitting ``[:chsk/bad-event prefix]``) for a text the
        packer cannot read.
        """
        try:
            value = self.packer.unpack(text)
        except PackError as e:
            self._bad_package(src, text[:PREFIX_CHARS], str(e))
            return None
        try:
            payload, cb_id = open_envelope(value)
        except ProtocolError as e:
            self._log_once(src.logged, "bad-envelope", "%s sent a bad envelope: %s", src.who, e)
            return value, None, False
        return payload, cb_id, True

    def _bad_package(self, src: _Source, prefix: str, why: str) -> None:
        self._log_once(
            src.logged,
            "bad-package",
            "%s sent an undecodable packet (%s): %r",
            src.who,
            why,
            prefix,
        )
        self._emit(src, bad_event(prefix))

    def _incoming(self, src: _Source, payload: Any) -> list[Any]:
        """A received payload as an event: valid, or ``[:chsk/bad-event payload]``.

        Clients may not send ids in the reserved ``chsk`` namespace other than the pings: a
        forged ``[:chsk/uidport-open ...]`` becomes a bad event.
        """
        if is_event(payload) and (
            not is_reserved_id(payload[0])
            or (len(payload) == 1 and payload[0] in (CHSK_WS_PING, CHSK_WS_PONG))
        ):
            return list(payload)
        self._log_once(
            src.logged, "bad-event", "%s sent an invalid event: %s", src.who, _brief(payload)
        )
        return bad_event(payload)

    def _ws_reply(self, sock: WsSocket, cb_id: Any) -> Callable[[Any], bool]:
        def reply(value: Any) -> bool:
            if not sock.is_open:
                return False
            return self._write(sock, self._pack([value, cb_id]))

        return reply

    def _emit(
        self, src: _Source, event: list[Any], reply: Callable[[Any], bool] | None = None
    ) -> None:
        msg = EventMsg(
            event=event,
            id=event[0],
            data=event_data(event),
            uid=src.uid,
            client_id=src.client_id,
            request=src.request,
            transport=src.transport,
            server=self,
            reply=reply,
            connection=src.conn,
        )
        self.router.dispatch(msg)

    # -- sending ---------------------------------------------------------------------------

    def _outgoing(self, event: Any) -> list[Any]:
        """A push event, validated: ``UsageError`` for an invalid one or a reserved ``chsk`` id."""
        if isinstance(event, (tuple, ImmutableList)):
            event = list(event)
        if isinstance(event, list) and event and isinstance(event[0], str):
            event = [kw(event[0]), *event[1:]]
        if not is_event(event):
            raise UsageError(f"Invalid event: {_brief(event)} (want [:ns/id] or [:ns/id data])")
        if is_reserved_id(event[0]) and not (event[0] == CHSK_CLOSE and len(event) == 1):
            raise UsageError(
                f"cannot push {event[0]}: clients reject pushed events in the chsk namespace"
            )
        return list(event)

    def _flush(self, key: tuple[Transport, Any], window: BatchWindow[_Item]) -> None:
        if self._windows.get(key) is not window:
            return  # flushed already (flush=True) or the server closed
        del self._windows[key]
        items = window.take()
        kind, target = key
        recipients = self._recipients(kind, target)
        if not recipients or not items:
            return
        now = _now_ms()
        batch = self._make_batch(items, now)
        if batch is None:
            return
        for conn in recipients:
            # the entries came from the table just now: try them directly; a failed send
            # takes the general path (lookup by key, then Sente's retries)
            if not self._send_now(conn, batch, now):
                self._attempt(conn.key, batch, 0)

    def _hold_ajax(self, target: Any, item: _Item, now: float, flush: bool) -> None:
        """With no Ajax entry at all: keep ``event`` as its Ajax window would, with no timer.

        Sente finds a window's recipients when it closes, so an Ajax client that handshakes
        while the window is open still gets its batch; :meth:`_release_held_ajax` makes the
        windows still open real ones then. Windows that closed are dropped (to no one).
        """
        held, ends = self._ajax_held, self._ajax_held_ends
        while ends and ends[0][0] <= now:
            _, old = ends.popleft()
            window = held.get(old)
            if window is not None and window.deadline is not None and window.deadline <= now:
                del held[old]
        if flush:
            held.pop(target, None)
            return
        window = held.get(target)
        if window is None:
            window = held[target] = BatchWindow(self.options.send_buf_ms_ajax)
        deadline = window.add(item, now)
        if deadline is not None:
            ends.append((deadline, target))

    def _release_held_ajax(self) -> None:
        """The first Ajax entry came: the held windows still open flush when they would have."""
        loop = _running_loop()
        now = loop.time() * 1000
        for target, window in self._ajax_held.items():
            if window.deadline is not None and window.deadline > now:
                key: tuple[Transport, Any] = ("ajax", target)
                self._windows[key] = window
                loop.call_at(window.deadline / 1000, self._flush, key, window)
        self._ajax_held.clear()
        self._ajax_held_ends.clear()

    def _recipients(self, kind: Transport, target: Any) -> list[Connection]:
        if target is EVERYONE:
            return self._table.all(kind)
        if isinstance(target, ClientTarget):
            conn = self._table.get(kind, target.uid, target.client_id)
            return [] if conn is None else [conn]
        return self._table.of_uid(kind, target)

    def _make_batch(self, items: list[_Item], now: float) -> _Batch | None:
        seqs = tuple(seq for seq, _ in items)
        events = [event for _, event in items]
        try:
            return _Batch(seqs, events, self._pack([events, None]), now)
        except PackError:
            pass
        good: list[_Item] = []
        for seq, event in items:
            try:
                self._pack([event])
            except PackError as e:
                log.error(
                    "dropped an event the %s packer cannot pack: %s (%s)",
                    self.packer.name,
                    _brief(event),
                    e,
                )
            else:
                good.append((seq, event))
        if not good:
            return None
        events = [event for _, event in good]
        return _Batch(tuple(seq for seq, _ in good), events, self._pack([events, None]), now)

    def _attempt(self, key: ConnKey, batch: _Batch, retry: int) -> None:
        """Deliver ``batch`` to the client ``key`` now, else retry (Sente's backoff, 6 attempts)."""
        conn = self._table.get(*key)
        if conn is not None and self._send_now(conn, batch, _now_ms()):
            return
        if self._closed:
            return
        delay = send_retry_delay_ms(retry, random.random())
        if delay is None:
            log.debug("gave up delivering a batch to %r", key)
            return
        entry = _Retry(key, batch, retry + 1)
        entry.timer = _running_loop().call_later(delay / 1000, self._retry_due, entry)
        self._retries.setdefault(key, []).append(entry)

    def _send_now(self, conn: Connection, batch: _Batch, now: float) -> bool:
        """Write ``batch`` to ``conn``'s live channel; False when it has none or the send failed."""
        channel = conn.channel
        if conn.state is not ConnState.OPEN or channel is None:
            return False
        data = batch.data
        if conn._skip:
            part = self._unsent_part(conn, batch, now)
            if part is None:
                return True  # every event of it went out on the other transport
            data = part
        if isinstance(channel, WsSocket):
            # _write checks that the socket is open itself
            if not self._write(channel, data):
                return False
            if channel.keepalive is not None:
                channel.keepalive.activity(now)
        elif not (channel.is_open and channel.send(data)):
            return False
        self._record(conn, batch, now)
        return True

    def _unsent_part(self, conn: Connection, batch: _Batch, now: float) -> bytes | None:
        """``batch`` packed without the events ``conn`` skips; ``None`` if that leaves none."""
        if now > conn._skip_until:
            conn._skip = frozenset()
            return batch.data
        skip = conn._skip
        if skip.isdisjoint(batch.seqs):
            return batch.data
        rest = [ev for seq, ev in zip(batch.seqs, batch.events, strict=True) if seq not in skip]
        return self._pack([rest, None]) if rest else None

    def _record(self, conn: Connection, batch: _Batch, now: float) -> None:
        """Remember ``batch`` as sent to ``conn``, for an entry that may replace it."""
        sent = conn._sent
        sent.append(batch)
        cutoff = now - self._ledger_ms
        # while the client has an entry on the other transport, that one may replace this
        # entry at any time and must see everything sent since it came: keep it all
        if sent[0].made_at < cutoff and self._table.other(conn) is None:
            while sent and sent[0].made_at < cutoff:
                sent.popleft()

    def _retry_due(self, entry: _Retry) -> None:
        waiting = self._retries.get(entry.key)
        if waiting is None or entry not in waiting:
            return
        waiting.remove(entry)
        if not waiting:
            del self._retries[entry.key]
        self._attempt(entry.key, entry.batch, entry.retry)

    def _resume(self, conn: Connection) -> None:
        """A channel came (back): deliver the batches waiting for this client now, oldest first."""
        entries = self._retries.pop(conn.key, None)
        if not entries:
            return
        keep: list[_Retry] = []
        for entry in entries:
            if conn.is_open:
                if entry.timer is not None:
                    entry.timer.cancel()
                self._attempt(conn.key, entry.batch, entry.retry)
            else:
                keep.append(entry)  # an Ajax poll takes one batch; the rest wait for the next
        if keep:
            self._retries.setdefault(conn.key, [])[:0] = keep

    def _close_target(self, target: Any) -> None:
        for kind in _TRANSPORTS:
            for conn in self._recipients(kind, target):
                channel = conn.channel
                if channel is not None and channel.is_open:
                    channel.close(1000, "closed by the server")

    def _write(self, sock: WsSocket, data: bytes) -> bool:
        """Write to a WebSocket; close it when its unsent backlog passes ``max_send_queue_bytes``."""
        # no is_open check first: a channel's send returns False once it is closed
        if sock.closed or not sock.channel.send(data):
            return False
        limit = self.options.max_send_queue_bytes
        backlog = sock.channel.buffered_amount
        if backlog > limit:
            reason = f"send queue over max_send_queue_bytes ({limit}): the client is not reading"
            self._log_once(
                sock.logged, "overflow", "closing %r: %d bytes queued, %s", sock, backlog, reason
            )
            sock.channel.close(1008, reason)
            sock.abort()
            return False
        return True

    def _schedule_keepalive(self, sock: WsSocket) -> None:
        assert sock.keepalive is not None
        sock.timer = _running_loop().call_at(
            sock.keepalive.deadline / 1000, self._keepalive_tick, sock
        )

    def _keepalive_tick(self, sock: WsSocket) -> None:
        sock.timer = None
        if sock.closed or sock.keepalive is None:
            return
        if not sock.channel.is_open:
            self.ws_closed(sock)
            return
        action = sock.keepalive.tick(_now_ms())
        if action is KeepAliveAction.PING:
            self._write(sock, self._ping)
        elif action is KeepAliveAction.CLOSE:
            log.info("closing %r: no activity within ws_ping_timeout_ms after a ping", sock)
            sock.close(1000, "no reply to the keep-alive ping")
            return
        if not sock.closed:
            self._schedule_keepalive(sock)

    # -- packing and logging ---------------------------------------------------------------

    def _pack(self, value: Any) -> bytes:
        return self.packer.pack(value).encode("utf-8")

    def _pack_handshake(self, uid: Hashable, request: RequestInfo) -> bytes:
        fn = self.options.handshake_data_fn
        data = None if fn is None else fn(request)
        return self._pack([handshake_payload(uid, data), None])

    def _log_once(self, logged: set[str], what: str, msg: str, *args: Any) -> None:
        """Log ``what`` once per connection (repeats go to debug)."""
        if what in logged:
            log.debug(msg, *args)
            return
        logged.add(what)
        log.warning(msg, *args)

    def _logged_for_post(self, client_id: str) -> set[str]:
        # POSTs from a client with no long-poll entry: remember a bounded number of client-ids
        logged = self._post_logged.get(client_id)
        if logged is None:
            if len(self._post_logged) >= 1024:
                self._post_logged.pop(next(iter(self._post_logged)))
            logged = self._post_logged[client_id] = set()
        return logged


def _ok(data: bytes) -> HttpResponse:
    return HttpResponse(200, data, {"Content-Type": CONTENT_TYPE})


def _bad_request(why: str) -> HttpResponse:
    return HttpResponse(400, f"Bad request: {why}", {"Content-Type": CONTENT_TYPE})


def _is_unit(payload: Any, ev_id: Keyword) -> bool:
    """True for the 1-element event ``[ev_id]``."""
    return isinstance(payload, VECTOR_TYPES) and len(payload) == 1 and payload[0] == ev_id


def _utf8_len(text: str) -> int:
    # most frames are ASCII or far below the limit: skip the encode when it cannot matter
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _new_conn_id() -> str:
    return secrets.token_hex(3)


def _now_ms() -> float:
    return _running_loop().time() * 1000


def _running_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise UsageError(
            "the channel-socket server runs on its event loop: call it from that loop's thread"
        ) from None


def _discard(items: list[Any], item: Any) -> None:
    if item in items:
        items.remove(item)


def _call_watcher(watcher: Callable[..., None], *args: Any) -> None:
    try:
        watcher(*args)
    except Exception:
        log.exception("watcher %r failed", watcher)


def _brief(x: Any, limit: int = PREFIX_CHARS) -> str:
    r = repr(x)
    return r if len(r) <= limit else r[: limit - 3] + "..."
