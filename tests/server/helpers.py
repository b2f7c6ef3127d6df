"""A real channel-socket server on a loopback port, driven with literal wire strings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.web import Application
from tornado.websocket import WebSocketClientConnection, websocket_connect

from jupyter_sente.server import ChannelSocketServer, EventMsg, RequestInfo
from jupyter_sente.tornado import ChannelSocketHandler, listen
from tests.waits import MS, SCALE, Changes, S  # noqa: F401  (MS: tests take it from here)
from tests.waits import Recorder as _Recorder


def ms(n: float) -> int:
    """``n`` ms as an option value, scaled."""
    return max(1, int(n * SCALE))


def uid_from_param(request: RequestInfo) -> str | None:
    """Test ``user_id_fn``: the uid is the ``uid`` query parameter (never do this for real)."""
    return request.param("uid")


#: Options every test server starts with (CSRF is tested on its own).
TEST_OPTIONS: dict[str, Any] = {"csrf_token_fn": None, "user_id_fn": uid_from_param}


class Recorder(_Recorder[EventMsg]):
    """Every event the server's router saw (the default handler), awaitable by condition."""

    def of(self, ev_id: str) -> list[EventMsg]:
        return [m for m in self.msgs if m.id.name == ev_id]

    async def wait(self, predicate: Callable[[], bool], timeout: float = 5 * S) -> None:
        await self.until(predicate, timeout)

    async def next(self, ev_id: str, n: int = 1, timeout: float = 5 * S) -> EventMsg:
        """The ``n``-th event with id ``ev_id`` (waiting for it)."""
        await self.wait(lambda: len(self.of(ev_id)) >= n, timeout)
        return self.of(ev_id)[n - 1]


class TrackedHandler(ChannelSocketHandler):
    """The Tornado handler, telling its ``Live`` when a WebSocket opens and closes."""

    live: Live

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.live.open_sockets.add(self)
        super().open(*args, **kwargs)
        self.live.poke()

    def on_close(self) -> None:
        self.live.open_sockets.discard(self)
        super().on_close()
        self.live.poke()


class Live(Changes):
    """A ``ChannelSocketServer`` served by Tornado on 127.0.0.1, and clients that speak raw wire.

    ``until(predicate)`` waits for a server-side condition: it is checked again whenever a
    request reaches the server, a socket opens or closes, or a connection or uid set changes.
    """

    def __init__(self, server: ChannelSocketServer, app: Application | None = None) -> None:
        super().__init__()
        self.server = server
        self.events = Recorder()
        server.on_default(self.events)
        self.open_sockets: set[ChannelSocketHandler] = set()
        tracked = type("TrackedHandler", (TrackedHandler,), {"live": self})
        self.app = app or Application([("/chsk", ChannelSocketHandler, {"server": server})])
        for rule in self.app.wildcard_router.rules:
            if rule.target is ChannelSocketHandler:
                rule.target = tracked
        server.watch_connections(lambda *_: self.poke())
        server.watch_connected_uids(lambda *_: self.poke())
        for name in ("ajax_get", "ajax_post", "ws_open", "ws_closed"):
            setattr(server, name, self._poking(getattr(server, name)))
        self.http: HTTPServer | None = None
        self.port = 0
        self._sockets: list[WebSocketClientConnection] = []

    def _poking(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            result = method(*args)
            self.poke()
            return result

        return call

    def start(self) -> Live:
        self.http, self.port = listen(self.app)
        return self

    async def stop(self) -> None:
        """Close every socket on both ends and wait for it (no socket left for the GC)."""
        self.server.close()
        for ws in self._sockets:
            stream = ws.protocol.stream if ws.protocol is not None else None
            ws.close()
            if stream is not None and not stream.closed():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(_drain(ws), 2 * S)
        if self.http is not None:
            self.http.stop()
            await self.http.close_all_connections()
        with contextlib.suppress(asyncio.TimeoutError):
            await self.until(lambda: not self.open_sockets, 2 * S)

    def url(self, path: str = "/chsk", scheme: str = "http", **params: Any) -> str:
        query = urlencode({k.replace("_", "-"): v for k, v in params.items() if v is not None})
        return f"{scheme}://127.0.0.1:{self.port}{path}" + (f"?{query}" if query else "")

    async def ws(
        self, client_id: str | None = "c1", *, headers: dict[str, str] | None = None, **params: Any
    ) -> WebSocketClientConnection:
        """A raw WebSocket (nothing read yet; the handshake is its first message)."""
        ws = await websocket_connect(
            _request(self.url(scheme="ws", client_id=client_id, **params), headers)
        )
        self._sockets.append(ws)
        return ws

    async def ws_open(self, client_id: str = "c1", **params: Any) -> WebSocketClientConnection:
        """A raw WebSocket whose handshake has been read."""
        ws = await self.ws(client_id, **params)
        first = await read(ws)
        assert first is not None
        assert first.startswith(("[[:chsk/handshake ", '[["~:chsk/handshake",')), first
        return ws

    async def get(
        self, client_id: str | None = "c1", *, headers: dict[str, str] | None = None, **params: Any
    ) -> HTTPResponse:
        """An Ajax GET (handshake or long-poll) with ``udt`` like the Sente client."""
        url = self.url(udt=1, client_id=client_id, **params)
        return await AsyncHTTPClient().fetch(
            url, headers=headers, raise_error=False, request_timeout=30 * S
        )

    async def post(
        self,
        ppstr: str | None,
        client_id: str | None = "c1",
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        **params: Any,
    ) -> HTTPResponse:
        """An Ajax POST: form fields ``udt``, ``client-id``, ``ppstr``; or a raw ``body`` (binary)."""
        if body is not None:
            params["client_id"] = client_id
        else:
            form = {"udt": "1", "client-id": client_id, "ppstr": ppstr}
            body = urlencode({k: v for k, v in form.items() if v is not None}).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return await AsyncHTTPClient().fetch(
            self.url(**params),
            method="POST",
            body=body,
            headers=headers,
            raise_error=False,
            request_timeout=30 * S,
        )


async def _drain(ws: WebSocketClientConnection) -> None:
    """Read until the close (the client's stream is closed when ``None`` arrives)."""
    while await ws.read_message() is not None:
        pass


def _request(url: str, headers: dict[str, str] | None) -> HTTPRequest:
    return HTTPRequest(url, headers=headers or {})


async def read(ws: WebSocketClientConnection, timeout: float = 5 * S) -> str | None:
    """The next text message (``None`` once closed)."""
    msg = await asyncio.wait_for(ws.read_message(), timeout)
    assert not isinstance(msg, bytes)
    return msg


async def read_until(
    ws: WebSocketClientConnection, predicate: Callable[[str], bool], timeout: float = 5 * S
) -> str:
    """Read messages until one matches (skipping keep-alive pings and the rest)."""

    async def loop() -> str:
        while True:
            msg = await ws.read_message()
            assert msg is not None, "closed before the expected message"
            assert isinstance(msg, str)
            if predicate(msg):
                return msg

    return await asyncio.wait_for(loop(), timeout)


def body(response: HTTPResponse) -> str:
    """The response body as text."""
    return response.body.decode() if response.body else ""
