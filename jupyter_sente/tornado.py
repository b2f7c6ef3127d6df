"""The Tornado host: one handler on one path turns requests into calls on a ``ChannelSocketServer``.

GET with ``Upgrade: websocket`` is the WebSocket; any other GET is an Ajax handshake or
long-poll; POST is an Ajax send. Sente's own checks (CSRF token, allowed origins) run in the
server on every request, so Tornado's XSRF and origin checks are turned off for this handler
only. Everything here is translation; no protocol logic.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from jupyter_sente.server import ChannelSocketServer, HttpExchange, HttpResponse, RequestInfo
from jupyter_sente.server.server import WsSocket

__all__ = [
    "ChannelSocketHandler",
    "TornadoWebSocketChannel",
    "channel_socket_routes",
    "listen",
    "make_app",
    "request_info",
]

log = logging.getLogger("jupyter_sente.server")


def request_info(handler: tornado.web.RequestHandler) -> RequestInfo:
    """The host-independent view of ``handler``'s request (``native`` is the handler)."""
    r = handler.request
    return RequestInfo(
        method=r.method or "GET",
        path=r.path,
        headers={name.lower(): value for name, value in r.headers.items()},
        query=_decoded(r.query_arguments),
        form=_decoded(r.body_arguments),
        remote_ip=r.remote_ip,
        native=handler,
    )


def _decoded(args: Mapping[str, list[bytes]]) -> dict[str, list[str]]:
    return {k: [v.decode("utf-8", "replace") for v in vs] for k, vs in args.items()}


class TornadoWebSocketChannel:
    """A :class:`~jupyter_sente.server.ServerChannel` over an open Tornado WebSocket.

    ``buffered_amount`` counts bytes handed to ``write_message`` whose write future has not
    resolved yet: they sit in the IOStream buffer because the peer is not reading. A write
    that went straight to the kernel (the stream holds nothing after it) is not counted.
    """

    __slots__ = ("_buffered", "_closed", "_handler", "_stream")

    def __init__(self, handler: tornado.websocket.WebSocketHandler) -> None:
        self._handler = handler
        ws = handler.ws_connection
        self._stream = getattr(ws, "stream", None)
        self._buffered = 0
        self._closed = False

    @property
    def is_open(self) -> bool:
        ws = self._handler.ws_connection
        return not self._closed and ws is not None and not ws.is_closing()

    @property
    def buffered_amount(self) -> int:
        return self._buffered

    def send(self, data: bytes) -> bool:
        if self._closed:
            return False
        try:
            # bytes with binary=False: a text frame, without encoding the text again per peer
            written = self._handler.write_message(data, binary=False)
        except tornado.websocket.WebSocketClosedError:
            return False
        stream = self._stream
        if stream is None or stream.writing():
            # only a write left in the IOStream buffer needs tracking: a done-callback on
            # every frame would cost an extra event-loop callback per frame
            size = len(data)
            self._buffered += size
            written.add_done_callback(functools.partial(self._written, size))
        return True

    def _written(self, size: int, future: Any) -> None:
        self._buffered -= size
        if not future.cancelled():
            future.exception()  # a closed socket's error is expected; mark it retrieved

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self._closed = True
        self._handler.close(code, reason)

    def abort(self) -> None:
        self._closed = True
        if self._stream is not None and not self._stream.closed():
            self._stream.close()


class ChannelSocketHandler(tornado.websocket.WebSocketHandler):
    """Sente's two Ring handlers on one path: GET (WebSocket or Ajax poll) and POST (Ajax send).

    Route it with ``{"server": server}`` as its initialize arguments (see
    :func:`channel_socket_routes`).
    """

    server: ChannelSocketServer

    def initialize(self, server: ChannelSocketServer) -> None:
        self.server = server
        self._upgrade_request: RequestInfo | None = None
        self._socket: WsSocket | None = None
        self._exchange: HttpExchange | None = None

    # Sente checks the CSRF token and the origin itself, on every request (allowed_origins)
    def check_xsrf_cookie(self) -> None:
        return None

    def check_origin(self, origin: str) -> bool:
        return True

    def check_trusted_origin(self, origin: str) -> bool:
        return True

    @property
    def max_message_size(self) -> int:
        # Tornado's cap while reading a frame; above max_message_bytes the server closes
        # with a clear reason, above twice that Tornado drops the frame unread
        return 2 * self.server.options.max_message_bytes

    async def get(self, *args: Any, **kwargs: Any) -> None:
        request = request_info(self)
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            await self._answer(self.server.ajax_get(request))
            return
        refused = self.server.check_request(request)
        if refused is not None:
            self._respond(refused)
            return
        self._upgrade_request = request
        await super().get(*args, **kwargs)

    async def post(self, *args: Any, **kwargs: Any) -> None:
        await self._answer(self.server.ajax_post(request_info(self), self.request.body))

    def open(self, *args: Any, **kwargs: Any) -> None:
        assert self._upgrade_request is not None
        try:
            self._socket = self.server.ws_open(self._upgrade_request, TornadoWebSocketChannel(self))
        except Exception:
            log.exception("could not open a channel socket for %s", self.request.remote_ip)
            self.close(1011, "server error")

    def on_message(self, message: str | bytes) -> None:
        if self._socket is not None:
            self.server.ws_message(self._socket, message)

    def on_close(self) -> None:
        if self._socket is not None:
            self.server.ws_closed(self._socket)
        elif self._exchange is not None:
            self._exchange.abort()

    async def _answer(self, exchange: HttpExchange) -> None:
        self._exchange = exchange
        response = await exchange.response
        if response is None:
            # the server closed this channel ([:chsk/close]) or the client went away
            self.request.connection.close()  # type: ignore[union-attr]
            return
        self._respond(response)

    def _respond(self, response: HttpResponse) -> None:
        if self.request.connection.stream.closed():  # type: ignore[union-attr]
            return
        self.set_status(response.status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        for name, value in response.headers.items():
            self.set_header(name, value)
        self.finish(response.body_bytes)


def channel_socket_routes(
    server: ChannelSocketServer, path: str = "/chsk"
) -> list[tuple[str, type[ChannelSocketHandler], dict[str, Any]]]:
    """The route(s) serving ``server`` at ``path``, for a ``tornado.web.Application``."""
    return [(path, ChannelSocketHandler, {"server": server})]


def make_app(
    server: ChannelSocketServer, path: str = "/chsk", **settings: Any
) -> tornado.web.Application:
    """A Tornado application serving only ``server`` at ``path``."""
    return tornado.web.Application(channel_socket_routes(server, path), **settings)


def listen(
    app: tornado.web.Application, port: int = 0, address: str = "127.0.0.1"
) -> tuple[tornado.httpserver.HTTPServer, int]:
    """Serve ``app`` on ``address:port`` (port 0: any free one); returns the server and its port."""
    sockets = tornado.netutil.bind_sockets(port, address)
    http = tornado.httpserver.HTTPServer(app)
    http.add_sockets(sockets)
    return http, sockets[0].getsockname()[1]
