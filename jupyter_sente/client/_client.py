"""The asyncio channel-socket client: WebSocket first, Ajax long-poll fallback (Sente's client).

The protocol decisions live in the core (:mod:`jupyter_sente.core.client_state` for the
connection and its state map, :mod:`~jupyter_sente.core.replies` for pending requests,
:mod:`~jupyter_sente.core.timing` for backoff and keep-alive); this module moves bytes,
owns the timers and calls the application's handlers.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
import ssl as _ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, NamedTuple, TypeVar, cast, overload
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect as _ws_connect
from websockets.exceptions import ConnectionClosed

from jupyter_sente.client._events import EventLike, EventMsg, EventStream, Handler, to_event
from jupyter_sente.client._http import HttpClient
from jupyter_sente.client._ws import DispatchingConnection
from jupyter_sente.core.client_state import CLIENT_TYPES, ClientConnection, ConnState
from jupyter_sente.core.envelope import is_handshake, is_server_ping, open_envelope, read_handshake
from jupyter_sente.core.events import (
    AJAX,
    CHSK_CLOSED,
    CHSK_DUMMY_CB_200,
    CHSK_ERROR,
    CHSK_HANDSHAKE,
    CHSK_STATE,
    CHSK_TIMEOUT,
    CHSK_WS_PING,
    CHSK_WS_PONG,
    PONG,
    is_event,
    is_reply_error,
    is_reserved_id,
)
from jupyter_sente.core.replies import PendingReplies, reply_error
from jupyter_sente.core.timing import ClientTiming, KeepAlive, KeepAliveAction, exp_backoff_ms
from jupyter_sente.exceptions import PackError, ProtocolError, ReplyFailed, UsageError
from jupyter_sente.packers import Packer, get_packer
from jupyter_sente.values import VECTOR_TYPES, ImmutableList, Keyword

__all__ = ["Client", "ClientType", "connect"]

log = logging.getLogger("jupyter_sente.client")

ClientType = Literal["auto", "ws", "ajax"]
H = TypeVar("H", bound=Handler)

_AJAX_HEADERS = {"X-Requested-With": "XMLHTTPRequest"}
_FORM = "application/x-www-form-urlencoded;charset=UTF-8"
_WS_PONG_FRAME = [[CHSK_WS_PONG], None]


class _Outcome(NamedTuple):
    """How a transport session ended: ``lost`` (retry with backoff), ``restart`` or ``downgrade``."""

    kind: str
    reason: str = "unexpected"
    ws_close: Mapping[str, Any] | None = None


class _Session:
    """One transport attempt: a WebSocket, or a run of Ajax polls, until it ends."""

    __slots__ = ("comms", "end", "transport", "ws")

    def __init__(self, transport: str, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.ws: DispatchingConnection | None = None
        self.comms = 0  # frames sent and received: the keep-alive's activity, counted cheaply
        self.end: asyncio.Future[_Outcome] = loop.create_future()

    def finish(self, outcome: _Outcome) -> None:
        """End the session (the first outcome wins)."""
        if not self.end.done():
            self.end.set_result(outcome)


def _query_value(v: Any) -> str:
    if isinstance(v, Keyword):
        return str(v.name)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _udt() -> int:
    return int(time.time() * 1000)


class Client:
    """A Sente channel-socket client on the running asyncio loop.

    ``url`` is the channel socket's endpoint (``http(s)://`` or ``ws(s)://``, e.g.
    ``http://host:8888/chsk``). Construct it, then ``await start()`` (or use ``async with``,
    or :func:`connect`). Not thread-safe: call it from its loop (see
    :class:`~jupyter_sente.client.ThreadedClient` for other threads).
    """

    def __init__(
        self,
        url: str,
        *,
        type: ClientType = "auto",
        packer: str | Packer = "edn",
        params: Mapping[str | Keyword, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        csrf_token: str | Callable[[], str | None] | None = None,
        client_id: str | None = None,
        timing: ClientTiming | None = None,
        backoff_ms: Callable[[int], int] | None = None,
        connect_timeout: float = 10.0,
        ssl: _ssl.SSLContext | None = None,
        ws_options: Mapping[str, Any] | None = None,
        recv_buffer: int = 2048,
    ) -> None:
        if type not in CLIENT_TYPES:
            raise UsageError(f"type must be one of {', '.join(CLIENT_TYPES)}, got {type!r}")
        if client_id is not None and (not isinstance(client_id, str) or not client_id.strip()):
            raise UsageError(f"client_id must be a non-blank str, got {client_id!r}")
        if connect_timeout <= 0 or recv_buffer <= 0:
            raise UsageError("connect_timeout and recv_buffer must be positive")
        self._http_url, self._ws_url = _endpoint_urls(url)
        self.url = url
        self.type: ClientType = type
        self.client_id = client_id or _uuid4()
        self._packer = get_packer(packer)
        self._params = [(_query_value(k), _query_value(v)) for k, v in (params or {}).items()]
        self._headers = dict(headers or {})
        self._csrf_token = csrf_token
        self.timing = timing or ClientTiming()
        self._rng = random.Random()
        self._cb_bits = functools.partial(self._rng.getrandbits, 24)  # no Python frame per call
        cap = self.timing.backoff_cap_ms
        self._backoff_ms = backoff_ms or (
            lambda n: exp_backoff_ms(n, self._rng.random(), cap_ms=cap)
        )
        self._connect_timeout = connect_timeout
        self._ws_options: dict[str, Any] = {
            "ping_interval": None,  # Sente's own keep-alive (§5.4) runs instead
            "close_timeout": self.timing.ws_ping_timeout_ms / 1000,
            "max_size": None,
            "proxy": None,  # as the Ajax transport: talk to the server itself
            **({"ssl": ssl} if ssl is not None else {}),
            **(ws_options or {}),
        }
        self._recv_buffer = recv_buffer

        self._conn = ClientConnection(type, csrf_token)
        self._pending: PendingReplies[asyncio.Future[Any]] = PendingReplies()
        self._http = HttpClient(ssl)
        self._use_ajax = type == "ajax"
        self._session: _Session | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opened: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._handlers: dict[str, tuple[Handler, ...]] = {}
        self._default_handler: Handler | None = None
        self._streams: list[Callable[[EventMsg | None], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()  # async handlers, pongs: cancelled at close
        self._closing: set[asyncio.Task[Any]] = set()  # WebSocket closes: awaited at close
        self._closed = False

    # -- what the application reads -------------------------------------------------------------

    @property
    def state(self) -> dict[str, Any]:
        """A copy of Sente's state map (``type``, ``open?``, ``uid``, ``last-close`` ...)."""
        return dict(self._conn.map)

    @property
    def is_open(self) -> bool:
        """True between a handshake and the next close."""
        return self._conn.is_open

    @property
    def uid(self) -> Any:
        """The uid from the last handshake (``None`` before the first)."""
        return self._conn.map.get("uid")

    @property
    def transport(self) -> str | None:
        """``"ws"`` or ``"ajax"`` while a transport is connected or connecting, else ``None``."""
        return None if self._session is None else self._session.transport

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    # -- handlers and streams -------------------------------------------------------------------

    @overload
    def on(self, event_id: str | Keyword) -> Callable[[H], H]: ...

    @overload
    def on(self, event_id: str | Keyword, handler: H) -> H: ...

    def on(self, event_id: str | Keyword, handler: H | None = None) -> H | Callable[[H], H]:
        """Call ``handler(msg)`` for every received event with this id; usable as a decorator.

        Ids are ``"ns/name"`` (or keywords), including Sente's ``"chsk/state"``,
        ``"chsk/handshake"`` and ``"chsk/ws-ping"``. A handler may be ``async``; it then runs
        as a task. Handler errors are logged, never raised into the client.
        """
        key = event_id.name if isinstance(event_id, Keyword) else event_id
        if not isinstance(key, str) or "/" not in key:
            raise UsageError(f"event_id must be 'ns/name' or a keyword, got {event_id!r}")

        def register(fn: H) -> H:
            # copy-on-write: a ThreadedClient registers from another thread while the loop reads
            self._handlers = {**self._handlers, key: (*self._handlers.get(key, ()), fn)}
            return fn

        return register if handler is None else register(handler)

    def off(self, event_id: str | Keyword, handler: Handler | None = None) -> None:
        """Remove ``handler`` (or every handler) for ``event_id``."""
        key = event_id.name if isinstance(event_id, Keyword) else event_id
        kept = tuple(h for h in self._handlers.get(key, ()) if handler is not None and h != handler)
        handlers = {k: v for k, v in self._handlers.items() if k != key}
        if kept:
            handlers[key] = kept
        self._handlers = handlers

    def on_default(self, handler: Handler | None) -> Handler | None:
        """Call ``handler(msg)`` for events that have no handler of their own (``None`` removes it)."""
        self._default_handler = handler
        return handler

    def events(self, maxlen: int | None = None) -> EventStream:
        """Every event received from now on, as an async iterator that ends when the client closes."""
        stream = EventStream(maxlen or self._recv_buffer, self._unsubscribe_stream)
        if self._closed:
            stream.put(None)
        else:
            self._streams = [*self._streams, stream.put]
        return stream

    def _subscribe(self, put: Callable[[EventMsg | None], None]) -> None:
        self._streams = [*self._streams, put]

    def _unsubscribe(self, put: Callable[[EventMsg | None], None]) -> None:
        self._streams = [p for p in self._streams if p != put]

    def _unsubscribe_stream(self, stream: EventStream) -> None:
        self._unsubscribe(stream.put)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting (Sente's ``chsk-connect!``); returns at once. Idempotent."""
        self._bind()
        if self._closed:
            raise UsageError("the client is closed")
        if self._supervisor is None:
            self._begin()

    async def wait_open(self, timeout: float | None = None) -> None:
        """Wait until the client is open; ``TimeoutError`` after ``timeout`` seconds."""
        self._bind()
        assert self._opened is not None
        if self._closed:
            raise UsageError("the client is closed")
        if not self._conn.is_open:
            try:
                await asyncio.wait_for(self._opened.wait(), timeout)
            except asyncio.TimeoutError:  # Python 3.10's is not the builtin one
                raise TimeoutError(f"the client did not open within {timeout} s") from None

    async def disconnect(self) -> None:
        """Close the connection and stop reconnecting (``last-close`` reason ``requested-disconnect``)."""
        self._bind()
        await self._stop("requested-disconnect")

    async def reconnect(self) -> None:
        """Close and connect again now (``requested-reconnect``); ``auto`` tries WebSocket first again."""
        self._bind()
        if self._closed:
            raise UsageError("the client is closed")
        await self._stop("requested-reconnect")
        self._begin()

    async def close(self) -> None:
        """Disconnect, end the event streams and release everything. Idempotent."""
        self._bind()
        if self._closed:
            return
        await self._stop("requested-disconnect")
        self._closed = True
        for put in self._streams:
            put(None)
        self._streams = []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._tasks:
            tasks = set(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        if self._closing:  # each is bounded by the close timeout
            await asyncio.wait(self._closing)
        await self._http.aclose()

    async def __aenter__(self) -> Client:
        """Start, and wait (``connect_timeout``) until open; on failure, close and raise."""
        try:
            await self.start()
            await self.wait_open(self._connect_timeout)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sending ---------------------------------------------------------------------------------

    async def send(self, event: EventLike) -> bool:
        """Send an event without asking for a reply; False (and a warning) when not open.

        Over WebSocket it returns once the frame is written; over Ajax once the POST is
        answered. Nothing is queued while closed, as in Sente.
        """
        ev = to_event(event)
        session = self._session
        if session is None or not self._conn.is_open:
            log.warning("send %s: the channel socket is not open; nothing sent", ev[0])
            return False
        if session.transport == "ajax":
            timeout = self.timing.ajax_timeout_ms / 1000
            reply = await self._post(session, ev, False, timeout)
            return not is_reply_error(reply)
        return await self._ws_send(session, self._packer.pack([ev, None]))

    async def request(self, event: EventLike, timeout: float = 10.0, *, raw: bool = False) -> Any:
        """Send an event and return the reply, within ``timeout`` seconds.

        Raises :class:`~jupyter_sente.exceptions.ReplyTimeout`, ``ReplyClosed`` or
        ``ReplyFailed`` for Sente's ``:chsk/timeout``, ``:chsk/closed`` and ``:chsk/error``;
        with ``raw=True`` those keywords are returned instead, as Sente's callbacks get them.
        """
        ev = to_event(event)
        if not timeout > 0:
            raise UsageError(f"a request needs a positive timeout, got {timeout!r}")
        session = self._session
        if session is None or self._conn.state is not ConnState.OPEN:
            log.warning("request %s: the channel socket is not open", ev[0])
            value: Any = CHSK_CLOSED
        elif session.transport == "ws":
            # _ws_register and _ws_send inlined: a call and a coroutine less on the hot path
            loop = self._loop
            assert loop is not None
            cb_id = self._pending.new_cb_id(self._cb_bits)
            text = self._packer.pack([ev, cb_id])
            fut: asyncio.Future[Any] = loop.create_future()
            deadline = loop.time() * 1000.0 + timeout * 1000.0
            self._pending.add(cb_id, deadline, fut)
            if self._timer is None or deadline < self._timer_at:
                self._arm_timer(deadline)
            ws = session.ws
            try:
                if ws is None:
                    value = self._ws_send_failed(session, None)
                else:
                    try:
                        await ws.send(text)
                    except (ConnectionClosed, OSError) as e:
                        value = self._ws_send_failed(session, e)
                    else:
                        session.comms += 1
                        value = await fut
            finally:
                if not fut.done():  # not sent, or the caller gave up: forget the cb-id
                    self._pending.resolve(cb_id, None)
        else:
            value = await self._post(session, ev, True, timeout)
        if raw or not isinstance(value, Keyword):
            return value
        error = reply_error(value, f"request {ev[0]}")
        if error is not None:
            raise error
        return value

    async def ping(self, timeout: float = 5.0) -> float:
        """One round trip to the server, in seconds, as the JS client's ``ping()``.

        Over WebSocket it sends Sente's keep-alive ping ``[[:chsk/ws-ping] cb-id]`` and waits for
        the server's ``"pong"``. Ajax has no ping in Sente: it POSTs ``[[:chsk/ws-ping] nil]``,
        which the server answers at once with ``:chsk/dummy-cb-200``. Either way the server's
        router sees the event ``[:chsk/ws-ping]``. Raises ``ReplyClosed`` when not open,
        ``ReplyTimeout``, or ``ReplyFailed`` (a failed send, or an answer that is not the
        expected one). A failed ping does not reconnect; the keep-alive does that.
        """
        if not timeout > 0:
            raise UsageError(f"a ping needs a positive timeout, got {timeout!r}")
        session = self._session
        start = time.perf_counter()
        if session is None or self._conn.state is not ConnState.OPEN:
            answer: Any = CHSK_CLOSED
            expected: Any = PONG
        elif session.transport == "ws":
            answer = await self._ws_request(session, [CHSK_WS_PING], timeout * 1000)
            expected = PONG
        else:
            answer = await self._post(session, [CHSK_WS_PING], False, timeout)
            expected = CHSK_DUMMY_CB_200
        if answer == expected:
            return time.perf_counter() - start
        error = reply_error(answer, "ping")
        raise error if error is not None else ReplyFailed(f"ping answered {answer!r}")

    def _ws_register(
        self, ev: list[Any], timeout_ms: float
    ) -> tuple[str, str, asyncio.Future[Any]]:
        """A cb-id, the frame ``[ev cb-id]`` and the future its reply (or timeout) resolves."""
        loop = self._running_loop()
        cb_id = self._pending.new_cb_id(self._cb_bits)
        text = self._packer.pack([ev, cb_id])
        fut: asyncio.Future[Any] = loop.create_future()
        deadline = loop.time() * 1000.0 + timeout_ms
        self._pending.add(cb_id, deadline, fut)
        if self._timer is None or deadline < self._timer_at:
            self._arm_timer(deadline)
        return cb_id, text, fut

    async def _ws_request(self, session: _Session, ev: list[Any], timeout_ms: float) -> Any:
        cb_id, text, fut = self._ws_register(ev, timeout_ms)
        if not await self._ws_send(session, text):
            self._pending.resolve(cb_id, None)
            return CHSK_ERROR
        try:
            return await fut
        finally:
            if not fut.done():
                self._pending.resolve(cb_id, None)

    async def _ws_send(self, session: _Session, text: str) -> bool:
        ws = session.ws
        if ws is None:
            self._ws_send_failed(session, None)
            return False
        try:
            await ws.send(text)
        except (ConnectionClosed, OSError) as e:
            self._ws_send_failed(session, e)
            return False
        session.comms += 1
        return True

    def _ws_send_failed(self, session: _Session, error: Exception | None) -> Keyword:
        """Restart the session after a failed send (``error`` None: no socket yet); ``:chsk/error``."""
        if error is None:
            session.finish(_Outcome("restart", "ws-error"))
        else:
            log.warning("WebSocket send failed (%s); reconnecting", error)
            if self._session is session and self._conn.is_open:
                session.finish(_Outcome("restart", "ws-error"))
        return CHSK_ERROR

    def _arm_timer(self, deadline_ms: float) -> None:
        if self._timer is not None:
            if self._timer_at <= deadline_ms:
                return
            self._timer.cancel()
        self._timer_at = deadline_ms
        self._timer = self._running_loop().call_at(deadline_ms / 1000, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        # asyncio may run a timer up to its clock resolution early: allow 1 ms
        for fut, value in self._pending.expire(self._running_loop().time() * 1000 + 1):
            if not fut.done():
                fut.set_result(value)
        nxt = self._pending.next_deadline()
        if nxt is not None:
            self._arm_timer(nxt)

    # -- Ajax POST -------------------------------------------------------------------------------

    async def _post(
        self, session: _Session, ev: list[Any], want_reply: bool, timeout: float
    ) -> Any:
        ppstr = self._packer.pack([ev, AJAX if want_reply else None])
        body = urlencode([("udt", str(_udt())), ("client-id", self.client_id), ("ppstr", ppstr)])
        headers = {**_AJAX_HEADERS, "Content-Type": _FORM, **self._headers}
        token = self._csrf()
        if token is not None:
            headers["X-CSRF-Token"] = token
        try:
            resp = await asyncio.wait_for(
                self._http.request("POST", self._http_url, headers, body.encode()), timeout
            )
        except asyncio.TimeoutError:
            return CHSK_TIMEOUT
        except OSError as e:
            return self._post_failed(session, f"POST failed: {e}")
        if resp.status != 200:
            return self._post_failed(session, f"POST answered {resp.status} {resp.reason}")
        if not resp.body:
            log.warning("POST answered with an empty body")
            return CHSK_ERROR
        try:
            reply, _ = open_envelope(self._packer.unpack(resp.body.decode("utf-8")))
        except (PackError, ProtocolError, UnicodeDecodeError) as e:
            log.warning("POST answered with an unreadable body: %s", e)
            return CHSK_ERROR
        if not want_reply and reply != CHSK_DUMMY_CB_200:
            log.warning("reply without a request: %r", reply)
        return reply

    def _post_failed(self, session: _Session, why: str) -> Keyword:
        if self._conn.state is ConnState.DISCONNECTED or self._closed:
            return CHSK_CLOSED
        log.warning("%s; reconnecting", why)
        if self._session is session:
            session.finish(_Outcome("lost", "unexpected"))
        return CHSK_ERROR

    def _csrf(self) -> str | None:
        token = self._csrf_token
        if callable(token):
            token = token()
        if token is None or not str(token).strip():
            return None
        return str(token)

    # -- the connection loop ---------------------------------------------------------------------

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._opened = asyncio.Event()
        elif self._loop is not loop:
            raise UsageError("a Client belongs to the event loop it was first used on")

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def _begin(self) -> None:
        self._use_ajax = self.type == "ajax"
        self._conn.connect(fresh_transport=self.type == "auto")
        self._flush_changes()
        self._supervisor = self._running_loop().create_task(self._supervise())
        self._supervisor.add_done_callback(_log_crash)

    async def _stop(self, reason: str) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if self._conn.state is not ConnState.DISCONNECTED:
            self._conn.disconnect(reason, _udt())
            self._flush_changes()
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.wait({supervisor})
        self._fail_pending()
        self._http.abort()

    def _fail_pending(self) -> None:
        for fut, value in self._pending.close_all(CHSK_CLOSED):
            if not fut.done():
                fut.set_result(value)

    async def _supervise(self) -> None:
        loop = self._running_loop()
        while True:
            session = _Session("ajax" if self._use_ajax else "ws", loop)
            self._session = session
            try:
                if session.transport == "ws":
                    outcome = await self._run_ws(session)
                else:
                    outcome = await self._run_ajax(session)
            finally:
                self._session = None
                self._fail_pending()
            if outcome.kind == "downgrade":
                log.warning("WebSocket failed before any handshake: downgrading to Ajax")
                self._use_ajax = True
                self._conn.downgrade(_udt())
                self._flush_changes()
                continue
            if outcome.kind == "restart":
                self._conn.restart(outcome.reason, _udt())
                self._flush_changes()
                continue
            wait = self._conn.lost(
                outcome.reason, _udt(), self._backoff_ms, ws_close=outcome.ws_close
            )
            self._flush_changes()
            if wait:
                log.info("reconnect attempt %d in %d ms", self._conn.attempt, wait)
                await asyncio.sleep(wait / 1000)
            self._conn.retry()

    # -- WebSocket -------------------------------------------------------------------------------

    def _ws_connect_url(self) -> str:
        split = self._ws_url
        query = parse_qsl(split.query, keep_blank_values=True)
        query += [(k, v) for k, v in self._params if k not in ("client-id", "csrf-token")]
        query.append(("client-id", self.client_id))
        token = self._csrf()
        if token is not None:
            query.append(("csrf-token", token))
        return urlunsplit(split._replace(query=urlencode(query)))

    async def _run_ws(self, session: _Session) -> _Outcome:
        on_message = functools.partial(self._on_ws_frame, session)
        on_lost = functools.partial(self._on_ws_lost, session)
        connection = functools.partial(
            DispatchingConnection, on_message=on_message, on_lost=on_lost
        )
        try:
            ws = await _ws_connect(
                self._ws_connect_url(),
                additional_headers=self._headers,
                open_timeout=self._connect_timeout,
                create_connection=cast(Any, connection),
                **self._ws_options,
            )
        except asyncio.CancelledError:
            raise
        except Exception as e:  # refused, upgrade rejected, timeout, TLS: the browser's onerror
            log.warning("WebSocket connection failed: %s", e)
            self._conn.ws_error(_udt(), e)
            self._flush_changes()
            if self.type == "auto" and not self._conn.transport_opened:
                return _Outcome("downgrade")
            close = {"udt": _udt(), "code": 1006, "reason": "", "clean?": False}
            return _Outcome("lost", "unexpected", close)
        session.ws = cast(DispatchingConnection, ws)
        loop = self._running_loop()
        keepalive: asyncio.Task[None] | None = None
        tick_ms = self.timing.ws_kalive_tick_ms
        if tick_ms is not None:
            ka = KeepAlive(loop.time() * 1000, tick_ms, None)
            keepalive = loop.create_task(self._ws_keepalive(session, ka))
        try:
            return await asyncio.shield(session.end)
        finally:
            if keepalive is not None:
                keepalive.cancel()
                await asyncio.wait({keepalive})
            if session.end.done():  # lost or restarting: do not hold the reconnect up
                closing = self._running_loop().create_task(ws.close(1000, "CLOSE_NORMAL"))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            else:  # disconnect(): close cleanly before returning
                await ws.close(1000, "CLOSE_NORMAL")

    def _on_ws_lost(self, session: _Session, ws: DispatchingConnection) -> None:
        code = ws.close_code if ws.close_code is not None else 1006
        close = {
            "udt": _udt(),
            "code": code,
            "reason": ws.close_reason or "",
            "clean?": code == 1000,
        }
        session.finish(_Outcome("lost", "clean" if code == 1000 else "unexpected", close))

    def _on_ws_frame(self, session: _Session, ws: DispatchingConnection, data: bytes) -> None:
        """Dispatch one message in Sente's client order (§2.5); called by the connection."""
        session.comms += 1
        if (
            session.ws is None
        ):  # messages that came with the upgrade response, before connect() returned
            session.ws = ws
        try:
            msg = self._packer.unpack(data.decode())
        except (PackError, UnicodeDecodeError) as e:
            log.warning("dropped an unreadable frame: %s", e)
            return
        # A reply [payload "cb-id"] is the hot path: checked first, on the list itself (an EDN
        # vector is edn-format's ImmutableList, whose len and [] are Python-level calls).
        items = msg._list if type(msg) is ImmutableList else msg
        if type(items) is list and len(items) == 2:
            payload, cb_id = items
            if type(cb_id) is str:
                hit = self._pending.resolve(cb_id, payload)
                if hit is not None:
                    fut = hit[0]
                    if not fut.done():
                        fut.set_result(payload)
                    return
        try:
            payload, cb_id = open_envelope(msg)
        except ProtocolError as e:
            log.warning("dropped an unreadable frame: %s", e)
            return
        try:
            if is_handshake(payload):
                self._on_handshake("ws", payload)
            elif cb_id is not None:
                log.warning("reply without a pending request (late or unknown cb-id %r)", cb_id)
            elif is_server_ping(payload):
                self._emit([CHSK_WS_PING])
                if self._conn.is_open:
                    self._spawn(self._ws_send(session, self._packer.pack(_WS_PONG_FRAME)))
            else:
                self._receive_batch(payload)
        except Exception:  # a bug must not break websockets' protocol callback
            log.exception("failed to dispatch a frame")

    async def _ws_keepalive(self, session: _Session, ka: KeepAlive) -> None:
        loop = self._running_loop()
        timeout_ms = self.timing.ws_ping_timeout_ms
        seen = session.comms
        while True:
            await asyncio.sleep(max(0.0, ka.deadline / 1000 - loop.time()))
            now = loop.time() * 1000
            if session.comms != seen:  # frames went by since the last tick: the peer is alive
                seen = session.comms
                ka.activity(now)
            if ka.tick(now) is not KeepAliveAction.PING:
                continue
            if self._conn.is_open:
                reply = await self._ws_request(session, [CHSK_WS_PING], timeout_ms)
            else:
                reply = CHSK_CLOSED  # a socket that never handshook: Sente's ping gets :chsk/closed
            if reply != PONG and self._session is session:
                log.warning("no answer to the keep-alive ping (%s): reconnecting", reply)
                session.finish(_Outcome("restart", "ws-ping-timeout"))
                return

    # -- Ajax long-poll --------------------------------------------------------------------------

    async def _run_ajax(self, session: _Session) -> _Outcome:
        poll = self._running_loop().create_task(self._poll(session))
        try:
            return await asyncio.shield(session.end)
        finally:
            poll.cancel()
            await asyncio.wait({poll})

    async def _poll(self, session: _Session) -> None:
        base = self._http_url
        base_query = parse_qsl(base.query, keep_blank_values=True)
        params = [(k, v) for k, v in self._params if k not in ("udt", "client-id", "handshake?")]
        timeout = self.timing.ajax_timeout_ms / 1000
        while True:
            query = [*base_query, *params, ("udt", str(_udt())), ("client-id", self.client_id)]
            if not self._conn.is_open:
                query.append(("handshake?", "1"))
            headers = {**_AJAX_HEADERS, **self._headers}
            token = self._csrf()
            if token is not None:  # Sente sends the header even without a token (quirk §7.3.3)
                headers["X-CSRF-Token"] = token
            url = base._replace(query=urlencode(query))
            try:
                resp = await asyncio.wait_for(self._http.request("GET", url, headers), timeout)
            except asyncio.TimeoutError:
                continue  # the client-side poll timeout is not a failure: poll again
            except OSError as e:
                log.warning("long-poll failed: %s", e)
                session.finish(_Outcome("lost", "unexpected"))
                return
            if resp.status != 200:
                log.warning("long-poll answered %s %s", resp.status, resp.reason)
                session.finish(_Outcome("lost", "unexpected"))
                return
            try:
                payload, _ = open_envelope(self._packer.unpack(resp.body.decode("utf-8")))
            except (PackError, ProtocolError, UnicodeDecodeError) as e:
                log.warning("long-poll answered an unreadable body: %s", e)
                session.finish(_Outcome("lost", "unexpected"))
                return
            if is_handshake(payload):
                self._on_handshake("ajax", payload)
            else:
                self._conn.polled()
                self._flush_changes()
                if payload != CHSK_TIMEOUT:
                    self._receive_batch(payload)

    # -- what arrives ----------------------------------------------------------------------------

    def _on_handshake(self, transport: str, payload: Any) -> None:
        try:
            uid, data = read_handshake(payload)
        except ProtocolError as e:
            log.warning("dropped a bad handshake: %s", e)
            return
        handshake = self._conn.handshake(transport, uid, data)
        self._flush_changes()
        self._emit([CHSK_HANDSHAKE, handshake])

    def _receive_batch(self, payload: Any) -> None:
        if not isinstance(payload, VECTOR_TYPES):
            log.warning("dropped a message that is not a vector of events: %r", payload)
            return
        for ev in payload:
            if not is_event(ev):
                log.warning("dropped a pushed value that is not an event: %r", ev)
            elif is_reserved_id(ev[0]):
                log.warning("dropped a pushed event in Sente's reserved chsk namespace: %r", ev)
            else:
                self._emit(ev)

    def _flush_changes(self) -> None:
        changes = self._conn.take_changes()
        if self._opened is not None:
            if self._conn.is_open:
                self._opened.set()
            else:
                self._opened.clear()
        for change in changes:
            self._emit([CHSK_STATE, [dict(change.old), dict(change.new), change.open_changed]])

    def _emit(self, ev: Any) -> None:
        msg = EventMsg.of(ev)
        handlers = self._handlers.get(msg.id)
        if handlers is None and self._default_handler is not None:
            handlers = (self._default_handler,)
        for handler in handlers or ():
            try:
                result = handler(msg)
            except Exception:
                log.exception("handler %r failed on %s", handler, msg.id)
                continue
            if inspect.isawaitable(result):
                self._spawn(_guard(result, handler, msg.id))
        for put in self._streams:
            put(msg)

    def _spawn(self, aw: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(aw, loop=self._running_loop())
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the connection loop crashed; the client stays closed", exc_info=task.exception())


async def _guard(aw: Awaitable[Any], handler: object, ev_id: str) -> None:
    try:
        await aw
    except Exception:
        log.exception("handler %r failed on %s", handler, ev_id)


def _endpoint_urls(url: str) -> tuple[SplitResult, SplitResult]:
    split = urlsplit(url)
    schemes = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
    if split.scheme not in schemes or not split.netloc:
        raise UsageError(f"url must be http(s):// or ws(s):// with a host, got {url!r}")
    ws_scheme = schemes[split.scheme]
    http_scheme = "https" if ws_scheme == "wss" else "http"
    path = split.path or "/"
    return (
        split._replace(scheme=http_scheme, path=path, fragment=""),
        split._replace(scheme=ws_scheme, path=path, fragment=""),
    )


def _uuid4() -> str:
    return str(uuid.uuid4())


async def connect(url: str, *, open_timeout: float | None = 10.0, **options: Any) -> Client:
    """A started :class:`Client`, open (``TimeoutError`` if not within ``open_timeout`` s; ``None``: no wait)."""
    client = Client(url, **options)
    await client.start()
    if open_timeout is not None:
        try:
            await client.wait_open(open_timeout)
        except BaseException:
            await client.close()
            raise
    return client
