"""An independent stub Sente server, written from the protocol reference's literal strings.

It does not use jupyter-sente's packers or server: every frame it writes is a literal from
reference §2.2 (or one built by string substitution), and it reads the client's frames with
a regular expression. A client that passes against it follows Sente's wire, not just ours.

What it does with the events a client sends (``data`` is the literal EDN text of the data):

* ``[[:chsk/ws-ping] "cb"]`` -> ``["pong" "cb"]`` (unless ``answer_pings`` is off)
* ``[[:my-app/echo data] cb]`` -> ``[data cb]`` (WS) or ``[data nil]`` (Ajax POST body)
* ``[[:my-app/late ms] cb]`` -> ``["late" cb]`` after ``ms`` milliseconds
* ``[[:my-app/silent] cb]`` -> no reply (Ajax: ``[:chsk/timeout nil]`` after the lp-timeout)
* ``[[:my-app/push-me] nil]`` -> pushes the batch ``[[[:my-app/alert "hi"] [:my-app/alert "yo"]] nil]``
* ``[[:my-app/push-later ms] nil]`` -> pushes the same batch ``ms`` milliseconds later
* ``[[:my-app/push-chsk] nil]`` -> pushes ``[[[:chsk/uidport-open "x"] [:my-app/alert "ok"]] nil]``
* ``[[:my-app/ping-me] nil]`` -> sends the server ping ``[:chsk/ws-ping nil]`` (WS)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from tornado.httpserver import HTTPServer
from tornado.web import Application
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from tests.waits import Changes

HANDSHAKE = '[[:chsk/handshake ["alice" nil nil]] nil]'
SERVER_PING = "[:chsk/ws-ping nil]"
BATCH = '[[[:my-app/alert "hi"] [:my-app/alert "yo"]] nil]'
CHSK_BATCH = '[[[:chsk/uidport-open "x"] [:my-app/alert "ok"]] nil]'
LP_TIMEOUT = "[:chsk/timeout nil]"
DUMMY_CB_200 = "[:chsk/dummy-cb-200 nil]"
PONG_REPLY = '["pong" "{cb}"]'

# [[:ns/id data] cb] with cb nil, "6hex" or :ajax; data is kept as literal text
FRAME = re.compile(
    r"\A\[\[:(?P<id>[^\s\],]+/[^\s\],]+)(?:[\s,]+(?P<data>.*?))?\][\s,]+"
    r'(?P<cb>nil|"[0-9a-f]{6}"|:ajax)\]\Z',
    re.DOTALL,
)


@dataclass
class Received:
    """One event a client sent, as seen on the wire."""

    transport: str  # "ws" or "ajax"
    frame: str
    id: str
    data: str | None
    cb: str  # 'nil', ':ajax' or '"abcdef"'


@dataclass
class Request:
    """One HTTP request (WS upgrade, poll or POST): what the client put in it."""

    kind: str  # "ws", "poll" or "post"
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)


class StubServer:
    """A Sente server on a loopback port, for the client's tests (runs on the test's loop)."""

    def __init__(
        self,
        *,
        refuse_ws: bool = False,
        answer_pings: bool = True,
        lp_timeout_ms: int = 1_000,
        uid: str = "alice",
    ) -> None:
        self.refuse_ws = refuse_ws
        self.answer_pings = answer_pings
        self.lp_timeout_ms = lp_timeout_ms
        self.handshake = HANDSHAKE.replace('"alice"', f'"{uid}"')
        self.port = _free_port()
        self.received: list[Received] = []
        self.requests: list[Request] = []
        self.pongs = 0
        self.ws_closes: list[tuple[int | None, str | None]] = []
        self.ws_handlers: set[_Chsk] = set()
        self._polls: dict[str, asyncio.Future[str]] = {}
        self._queued: dict[str, list[str]] = {}
        self._server: HTTPServer | None = None
        self._changes = Changes()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        """The channel socket's endpoint."""
        return f"http://127.0.0.1:{self.port}/chsk"

    async def start(self) -> None:
        """Listen (again, after :meth:`stop`) on the same port."""
        app = Application([(r"/chsk", _Chsk, {"stub": self})])
        self._server = HTTPServer(app)
        self._server.listen(self.port, "127.0.0.1")

    async def stop(self) -> None:
        """Go away like a crashed server: stop listening and cut every connection."""
        if self._server is None:
            return
        self._server.stop()
        for handler in list(self.ws_handlers):
            if handler.ws_connection is not None and handler.ws_connection.stream is not None:
                handler.ws_connection.stream.close()
        self.ws_handlers.clear()
        await self._server.close_all_connections()
        self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    # -- what tests do ---------------------------------------------------------------------------

    def push(self, text: str) -> None:
        """Send ``text`` (a whole envelope) to every WS client and every Ajax client's next poll."""
        for handler in list(self.ws_handlers):
            with contextlib.suppress(WebSocketClosedError):
                handler.write_message(text)
        for client_id in {r.query.get("client-id", "") for r in self.requests if r.kind == "poll"}:
            self._deliver(client_id, text)

    def ping_all(self) -> None:
        """Send Sente's server ping, the bare keyword, to every WS client."""
        for handler in list(self.ws_handlers):
            with contextlib.suppress(WebSocketClosedError):
                handler.write_message(SERVER_PING)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever the server sees something."""
        await self._changes.until(predicate, timeout)

    def received_ids(self) -> list[str]:
        """The ids of the events received so far, in order."""
        return [r.id for r in self.received]

    # -- internals -------------------------------------------------------------------------------

    def _note(self) -> None:
        self._changes.poke()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _deliver(self, client_id: str, text: str) -> None:
        waiter = self._polls.pop(client_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(text)
        else:
            self._queued.setdefault(client_id, []).append(text)

    def _read(self, transport: str, frame: str) -> Received | None:
        m = FRAME.match(frame)
        if m is None:
            return None
        got = Received(transport, frame, m["id"], m["data"], m["cb"])
        self.received.append(got)
        self._note()
        return got


class _Chsk(WebSocketHandler):
    """GET: WebSocket upgrade or Ajax handshake/poll; POST: Ajax send (one path, as Sente)."""

    stub: StubServer

    def initialize(self, stub: StubServer) -> None:
        self.stub = stub
        self.is_ws = False
        self.poll_waiter: asyncio.Future[str] | None = None

    def check_xsrf_cookie(self) -> None:
        pass  # the stub checks nothing: tests look at what the client sent instead

    def _query(self) -> dict[str, str]:
        return {k: v[-1].decode() for k, v in self.request.query_arguments.items()}

    async def get(self, *args: Any, **kwargs: Any) -> None:
        stub = self.stub
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            stub.requests.append(Request("ws", self._query(), dict(self.request.headers)))
            stub._note()
            if stub.refuse_ws:
                self.set_status(403)
                self.finish("Bad CSRF token")
                return
            self.is_ws = True
            await super().get(*args, **kwargs)
            return
        query = self._query()
        stub.requests.append(Request("poll", query, dict(self.request.headers)))
        stub._note()
        client_id = query.get("client-id", "")
        if not client_id:
            self.set_status(500)
            self.finish("Client's Ring request doesn't have a client id.")
            return
        if "handshake?" in query:
            self.finish(stub.handshake)
            return
        queued = stub._queued.get(client_id)
        if queued:
            self.finish(queued.pop(0))
            return
        waiter = asyncio.get_running_loop().create_future()
        stub._polls[client_id] = self.poll_waiter = waiter
        try:
            body = await asyncio.wait_for(waiter, stub.lp_timeout_ms / 1000)
        except asyncio.TimeoutError:
            body = LP_TIMEOUT
        except asyncio.CancelledError:
            return
        finally:
            if stub._polls.get(client_id) is waiter:
                del stub._polls[client_id]
        if self.request.connection.stream.closed():  # type: ignore[union-attr]
            stub._queued.setdefault(client_id, []).insert(0, body)  # not delivered: keep it
            return
        self.finish(body)

    async def post(self, *args: Any) -> None:
        stub = self.stub
        form = dict(parse_qsl(self.request.body.decode(), keep_blank_values=True))
        stub.requests.append(Request("post", self._query(), dict(self.request.headers), form))
        got = stub._read("ajax", form.get("ppstr", ""))
        if got is None:
            self.set_status(400)
            self.finish("bad ppstr")
            return
        client_id = form.get("client-id", "")
        if got.cb != ":ajax":
            _effects(stub, got, lambda text: stub._deliver(client_id, text))
            self.finish(DUMMY_CB_200)
            return
        if got.id == "my-app/echo":
            self.finish(f"[{got.data or 'nil'} nil]")
        elif got.id == "my-app/late":
            await asyncio.sleep(int(got.data or "0") / 1000)
            self.finish('["late" nil]')
        else:  # silent: Sente's server answers :chsk/timeout after lp-timeout-ms
            await asyncio.sleep(stub.lp_timeout_ms / 1000)
            self.finish(LP_TIMEOUT)

    def on_connection_close(self) -> None:
        if self.poll_waiter is not None and not self.poll_waiter.done():
            self.poll_waiter.cancel()
        super().on_connection_close()

    # -- WebSocket -------------------------------------------------------------------------------

    def open(self, *args: str, **kwargs: str) -> None:
        self.stub.ws_handlers.add(self)
        self.stub._note()
        self.write_message(self.stub.handshake)

    def on_message(self, message: str | bytes) -> None:
        stub = self.stub
        frame = message if isinstance(message, str) else message.decode()
        got = stub._read("ws", frame)
        if got is None:
            return
        if got.id == "chsk/ws-ping" and got.cb != "nil":
            if stub.answer_pings:
                self.write_message(PONG_REPLY.format(cb=got.cb.strip('"')))
        elif got.id == "chsk/ws-pong":
            stub.pongs += 1
        elif got.cb != "nil":
            if got.id == "my-app/echo":
                self.write_message(f"[{got.data or 'nil'} {got.cb}]")
            elif got.id == "my-app/late":
                stub._spawn(self._late(int(got.data or "0"), got.cb))
        else:
            _effects(stub, got, self.write_message)

    async def _late(self, ms: int, cb: str) -> None:
        await asyncio.sleep(ms / 1000)
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(f'["late" {cb}]')

    def on_close(self) -> None:
        if self.is_ws:
            self.stub.ws_closes.append((self.close_code, self.close_reason))
        self.stub.ws_handlers.discard(self)
        self.stub._note()


def _effects(stub: StubServer, got: Received, send: Callable[[str], Any]) -> None:
    """What an event sent without a callback makes the server do."""
    if got.id == "my-app/push-me":
        send(BATCH)
    elif got.id == "my-app/push-later":
        asyncio.get_running_loop().call_later(int(got.data or "0") / 1000, _quietly, send, BATCH)
    elif got.id == "my-app/push-chsk":
        send(CHSK_BATCH)
    elif got.id == "my-app/ping-me":
        send(SERVER_PING)


def _quietly(send: Callable[[str], Any], text: str) -> None:
    with contextlib.suppress(WebSocketClosedError):
        send(text)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
