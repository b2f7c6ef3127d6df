"""Server cost: our ChannelSocketServer against raw Tornado WebSockets and python-socketio.

Run ``python benchmarks/bench_server.py`` (``--quick`` for a short smoke run). One client
process (this one) drives three servers, each in its own subprocess so that its CPU time is
its own (``resource.getrusage`` in the server, read over a small HTTP endpoint):

* ``raw``: a minimal Tornado ``WebSocketHandler`` doing the same application work with the
  same EDN text frames (our EDN packer): a handshake frame on open, an echo reply, and a
  fan-out that packs the event once and writes that frame to every socket, one frame per
  message. It is the floor.
* ``socketio``: ``socketio.AsyncServer(async_mode="tornado")``; fan-out is ``emit`` to all
  (encoded once by python-socketio), the echo is an acknowledgement.
* ``ours``: ``ChannelSocketServer`` on its Tornado host; fan-out is ``broadcast`` (one batch
  packed once for all sockets per ``send_buf_ms_ws`` window), the echo is ``msg.reply``.

The client speaks WebSocket itself (a small asyncio protocol: frames from the server are
unmasked, so reading one is a header and a slice) and the Engine.IO/Socket.IO v4 text
packets by hand, so every target is driven by the same cheap client and the client's cost
does not decide the figures. No target compresses (the client offers no extension).

Scenarios: fan-out to S subscribers, paced (``--rate`` messages/s) and burst (as fast as
possible); request/reply from C clients each doing sequential round trips; a connect storm
of K WebSockets; memory per idle WebSocket (RSS delta of the server after the storm, / K).
A delivered event is one event received by one subscriber (a batch of 10 events counts 10).

Capacity (raw and ours only): W idle WebSockets (5,000) opened, at most 200 connecting at a
time, one keep-alive round (ours pings each, the client answers; raw, which sends no pings,
idles as long) and one broadcast to them;
then, on ours, P Ajax clients (1,000) that long-poll as Sente's client does (a handshake GET,
then a poll after every answer, on one keep-alive HTTP connection each) and one broadcast to
all W + P. It reports the server's RSS after each step, the time until each recipient read
each broadcast, and its CPU.

The targets for ``ours``, checked at the end (exit status 1 if one is missed):

* server CPU per delivered event <= 1.3x raw on paced fan-out, <= 1.0x on bursts;
* server CPU per reply <= 1.6x raw on request/reply;
* memory per idle WebSocket <= 1.5x raw;
* zero lost messages;
* capacity: every connection established (none refused, failed or closed), every idle
  WebSocket kept through the keep-alive round, every broadcast recipient reached within 30 s.

``--profile DIR`` runs cProfile in the server subprocesses around each scenario and writes
``DIR/<target>-<scenario>.prof`` and ``.txt`` (CPU figures then include the profiler, so the
targets are not checked).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (
    cpu_seconds,
    print_verdicts,
    raise_fd_limit,
    send_paced,
    serve_until_sigterm,
    stats_handler,
)

TARGETS = ("raw", "socketio", "ours")
#: The payload every message carries besides its sequence number (a chat line's size).
BODY = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor inc"
#: How long a scenario waits without progress before it counts what is missing as lost.
IDLE_TIMEOUT_S = 5.0
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- the servers: `bench_server.py --serve TARGET` ------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """Run one target's server (``args.serve``) until SIGTERM; print its port first."""
    raise_fd_limit()
    asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> None:
    import cProfile
    import io
    import pstats

    import tornado.web

    target, profile_dir = args.serve, args.profile
    profiler: list[cProfile.Profile] = []

    class ProfileHandler(tornado.web.RequestHandler):
        def get(self, op: str) -> None:
            if profile_dir is None:
                raise tornado.web.HTTPError(404)
            if op == "start":
                profiler[:] = [cProfile.Profile()]
                profiler[0].enable()
            elif profiler:
                profiler[0].disable()
                name = Path(profile_dir) / f"{target}-{self.get_argument('name')}"
                profiler[0].dump_stats(f"{name}.prof")
                out = io.StringIO()
                stats = pstats.Stats(profiler[0], stream=out).sort_stats("tottime")
                stats.print_stats(30)
                stats.sort_stats("cumulative").print_stats(30)
                Path(f"{name}.txt").write_text(out.getvalue())
                profiler.clear()

    routes: list[Any] = [
        ("/_bench/stats", stats_handler()),
        (r"/_bench/profile/(\w+)", ProfileHandler),
    ]
    routes += {"raw": _raw_routes, "socketio": _socketio_routes, "ours": _ours_routes}[target](args)
    await serve_until_sigterm(tornado.web.Application(routes))


def _raw_routes(_: argparse.Namespace) -> list[Any]:
    import tornado.websocket

    from jupyter_sente.core.envelope import handshake_payload
    from jupyter_sente.packers import get_packer
    from jupyter_sente.values import kw

    edn = get_packer("edn")
    publish, echo, msg = kw("bench/publish"), kw("bench/echo"), kw("bench/msg")
    subscribers: set[tornado.websocket.WebSocketHandler] = set()

    class RawHandler(tornado.websocket.WebSocketHandler):
        def check_origin(self, origin: str) -> bool:
            return True

        def open(self, *args: Any, **kwargs: Any) -> None:
            subscribers.add(self)
            hello = [handshake_payload(self.get_argument("uid", None)), None]
            self.write_message(edn.pack(hello).encode(), binary=False)

        def on_close(self) -> None:
            subscribers.discard(self)

        def on_message(self, message: str | bytes) -> None:
            (ev_id, data), cb_id = edn.unpack(message if isinstance(message, str) else "")
            if ev_id == publish:
                # the same text a Sente server sends for a batch of one event
                frame = edn.pack([[[msg, data]], None]).encode()
                for sub in tuple(subscribers):
                    with contextlib.suppress(tornado.websocket.WebSocketClosedError):
                        sub.write_message(frame, binary=False)
            elif ev_id == echo:
                self.write_message(edn.pack([data, cb_id]).encode(), binary=False)

    return [("/ws", RawHandler)]


def _socketio_routes(_: argparse.Namespace) -> list[Any]:
    import socketio  # type: ignore[import-untyped]

    sio = socketio.AsyncServer(async_mode="tornado")

    async def publish(sid: str, data: Any) -> None:
        await sio.emit("msg", data)

    async def echo(sid: str, data: Any) -> Any:
        return data

    sio.on("publish", publish)
    sio.on("echo", echo)
    return [("/socket.io/", socketio.get_tornado_handler(sio))]


def _ours_routes(args: argparse.Namespace) -> list[Any]:
    import tornado.web

    from jupyter_sente.server import ChannelSocketServer, EventMsg, RequestInfo
    from jupyter_sente.tornado import channel_socket_routes
    from jupyter_sente.values import kw

    def uid_param(request: RequestInfo) -> str | None:
        return request.param("uid")

    # no CSRF token (the bench's clients are no browsers) and the uid from the URL, so an Ajax
    # client needs no cookie; polls are held for longer than the capacity scenario runs
    server = ChannelSocketServer(
        csrf_token_fn=None,
        user_id_fn=uid_param,
        lp_timeout_ms=50_000,
        ws_kalive_ms=args.ws_kalive_ms,
    )
    msg_id = kw("bench/msg")

    class CountsHandler(tornado.web.RequestHandler):
        """Open WebSockets and held long-polls, which the capacity scenario waits for.

        Not part of /_bench/stats: counting walks every connection, which a CPU figure
        taken around a scenario should not include.
        """

        def get(self) -> None:
            conns = server.connections()
            self.write(
                {kind: sum(c.is_open for c in conns if c.kind == kind) for kind in ("ws", "ajax")}
            )

    @server.on("bench/publish")
    def publish(msg: EventMsg) -> None:
        if args.ours_publish == "broadcast":
            server.broadcast([msg_id, msg.data])
        else:
            for uid in server.connected_uids.ws:
                server.send(uid, [msg_id, msg.data])

    @server.on("bench/echo")
    def echo(msg: EventMsg) -> None:
        assert msg.reply is not None
        msg.reply(msg.data)

    return [*channel_socket_routes(server, "/chsk"), ("/_bench/counts", CountsHandler)]


# -- the client: one WebSocket --------------------------------------------------------------


class Sink:
    """What a scenario does with the events and replies its connections receive."""

    def events(self, conn: WsConn, seqs: list[str], now: float) -> None:
        conn.stray += len(seqs)

    def reply(self, conn: WsConn, rid: str, now: float) -> None:
        conn.stray += 1

    def pinged(self, conn: WsConn, now: float) -> None:
        """The server's keep-alive ping arrived (the connection has answered it)."""


IGNORE = Sink()


class WsConn(asyncio.Protocol):
    """A client WebSocket: the upgrade, unmasked frames in, masked text frames out."""

    def __init__(self, index: int, flavour: Flavour, host: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        self.index = index
        self.flavour = flavour
        self.sink: Sink = IGNORE
        self.ready: asyncio.Future[float] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.stray = 0
        self.waiter: tuple[str, asyncio.Future[float]] | None = None
        self.started = 0.0  # when its TCP connect began (set by connect_all)
        self._request = (host, path)
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._upgraded = False
        self._key = base64.b64encode(os.urandom(16)).decode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        host, path = self._request
        transport.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buf = self._buf
        buf += data
        if not self._upgraded and not self._upgrade(buf):
            return
        pos, n = 0, len(buf)
        while n - pos >= 2:
            b0, size, head = buf[pos], buf[pos + 1] & 0x7F, 2
            if size == 126:
                if n - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif size == 127:
                if n - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            end = pos + head + size
            if end > n:
                break
            opcode = b0 & 0x0F
            if not b0 & 0x80:
                self._fail(ConnectionError("fragmented frame (the servers here never send one)"))
                return
            if opcode == 1:
                self.flavour.on_text(self, buf[pos + head : end].decode(), now)
            elif opcode == 8:
                self.close()
            elif opcode == 9:
                self._send_frame(0x8A, bytes(buf[pos + head : end]))
            pos = end
        if pos:
            del buf[:pos]

    def _upgrade(self, buf: bytearray) -> bool:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = buf[:end].decode("latin-1")
        del buf[: end + 4]
        accept = base64.b64encode(hashlib.sha1((self._key + WS_GUID).encode()).digest()).decode()
        if not head.startswith("HTTP/1.1 101") or accept not in head:
            self._fail(ConnectionError(f"upgrade refused: {head.splitlines()[0]!r}"))
            return False
        self._upgraded = True
        self.flavour.on_upgraded(self)
        return True

    def _fail(self, exc: BaseException) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        if self.waiter is not None and not self.waiter[1].done():
            self.waiter[1].set_exception(ConnectionError("closed"))

    def send_text(self, text: str) -> None:
        self._send_frame(0x81, text.encode())

    def _send_frame(self, first: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            header = bytes((first, 0x80 | n))
        elif n < 1 << 16:
            header = bytes((first, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((first, 0x80 | 127)) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(header + mask + masked)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class Flavour:
    """One target's wire: where to connect, what the frames say, how to read them."""

    name = ""
    seq = re.compile(":seq (\\d+)")

    def path(self, index: int) -> str:
        raise NotImplementedError

    def publish(self, seq: int) -> str:
        raise NotImplementedError

    def request(self, seq: int) -> tuple[str, str]:
        """The request frame and the reply id that answers it."""
        raise NotImplementedError

    def on_upgraded(self, conn: WsConn) -> None:
        pass

    def on_text(self, conn: WsConn, text: str, now: float) -> None:
        raise NotImplementedError


class EdnFlavour(Flavour):
    """Sente's wire (ours) and the raw baseline, which sends the same EDN texts."""

    _reply = re.compile('"([0-9a-f]{6})"\\]$')

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self._path = path

    def path(self, index: int) -> str:
        return f"{self._path}?client-id=c{index}&uid=u{index}"

    def publish(self, seq: int) -> str:
        return f'[[:bench/publish {{:seq {seq}, :body "{BODY}"}}] nil]'

    def request(self, seq: int) -> tuple[str, str]:
        rid = f"{seq & 0xFFFFFF:06x}"
        return f'[[:bench/echo {{:seq {seq}, :body "{BODY}"}}] "{rid}"]', rid

    def on_text(self, conn: WsConn, text: str, now: float) -> None:
        if text.startswith("[[[") or text.startswith("[[]"):
            conn.sink.events(conn, self.seq.findall(text), now)
        elif text.startswith("[[:chsk/handshake"):
            if not conn.ready.done():
                conn.ready.set_result(now)
        elif text.startswith("[:chsk/ws-ping"):
            conn.send_text("[[:chsk/ws-pong] nil]")
            conn.sink.pinged(conn, now)
        else:
            m = self._reply.search(text)
            if m is None:
                raise ValueError(f"unexpected frame: {text[:80]!r}")
            conn.sink.reply(conn, m.group(1), now)


class SocketIoFlavour(Flavour):
    """Engine.IO v4 over a WebSocket, carrying Socket.IO v4 packets to the default namespace."""

    name = "socketio"
    seq = re.compile('"seq": ?(\\d+)')
    _ack = re.compile("43(\\d+)")

    def path(self, index: int) -> str:
        return "/socket.io/?EIO=4&transport=websocket"

    def publish(self, seq: int) -> str:
        return f'42["publish",{{"seq":{seq},"body":"{BODY}"}}]'

    def request(self, seq: int) -> tuple[str, str]:
        return f'42{seq}["echo",{{"seq":{seq},"body":"{BODY}"}}]', str(seq)

    def on_text(self, conn: WsConn, text: str, now: float) -> None:
        if text.startswith("42"):
            conn.sink.events(conn, self.seq.findall(text), now)
        elif text.startswith("43"):
            m = self._ack.match(text)
            assert m is not None
            conn.sink.reply(conn, m.group(1), now)
        elif text == "2":
            conn.send_text("3")  # Engine.IO ping: pong, or the server drops us
        elif text.startswith("40"):
            if not conn.ready.done():
                conn.ready.set_result(now)
        elif text.startswith("0"):
            conn.send_text("40")  # Engine.IO open: connect to the default namespace
        else:
            raise ValueError(f"unexpected packet: {text[:80]!r}")


FLAVOURS: dict[str, Callable[[], Flavour]] = {
    "raw": lambda: EdnFlavour("raw", "/ws"),
    "socketio": SocketIoFlavour,
    "ours": lambda: EdnFlavour("ours", "/chsk"),
}


# -- the client: one Ajax client ----------------------------------------------------------


class PollConn(asyncio.Protocol):
    """An Ajax client's long-polls on one keep-alive HTTP connection, as a browser makes them.

    A GET with ``handshake?`` first, then a poll after every answer (a push, a timeout) until
    :meth:`close`. The bench's ``ours`` server checks no CSRF token and takes the uid from the
    URL, so the polls carry neither a cookie nor a token.
    """

    def __init__(self, index: int, host: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        self.index = index
        self.sink: Reach | None = None
        self.started = 0.0  # when its TCP connect began
        self.handshaken: asyncio.Future[float] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.failure: str | None = None  # why the server or the network ended it
        self._request = (host, f"{path}?client-id=p{index}&uid=p{index}")
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._body_size: int | None = None  # of the response whose head has been read
        self._status = 0
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._get(handshake=True)

    def _get(self, handshake: bool) -> None:
        host, path = self._request
        # udt: Sente's cache-buster; handshake? is sent only by a client that is not open
        query = f"{path}&udt={int(time.time() * 1000)}" + ("&handshake%3F=1" if handshake else "")
        assert self._transport is not None
        self._transport.write(
            f"GET {query} HTTP/1.1\r\nHost: {host}\r\nX-Requested-With: XMLHTTPRequest\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buf = self._buf
        buf += data
        while True:
            if self._body_size is None:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = buf[:end].decode("latin-1").split("\r\n")
                del buf[: end + 4]
                self._status = int(head[0].split()[1])
                sizes = [
                    h.split(":", 1)[1] for h in head[1:] if h.lower().startswith("content-length:")
                ]
                if not sizes:
                    self._fail("a response without Content-Length (Tornado always sends one)")
                    return
                self._body_size = int(sizes[0])
            if len(buf) < self._body_size:
                return
            body = bytes(buf[: self._body_size])
            del buf[: self._body_size]
            self._body_size = None
            self._answered(body.decode(), now)

    def _answered(self, text: str, now: float) -> None:
        if self._status != 200:
            self._fail(f"HTTP {self._status}: {text[:80]!r}")
            return
        if text.startswith("[[:chsk/handshake"):
            if not self.handshaken.done():
                self.handshaken.set_result(now)
        elif text.startswith("[[["):
            if self.sink is not None:
                self.sink.arrived(self, EdnFlavour.seq.findall(text), now)
        elif not text.startswith("[:chsk/timeout"):
            self._fail(f"unexpected answer: {text[:80]!r}")
            return
        if not self._closing:
            self._get(handshake=False)

    def _fail(self, why: str) -> None:
        self.failure = self.failure or why
        if not self.handshaken.done():
            self.handshaken.set_exception(ConnectionError(why))
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closing:
            self._fail(f"connection lost: {exc or 'closed by the server'}")
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()


# -- the client: servers, scenarios, results ---------------------------------------------


@dataclass
class Result:
    """One scenario on one target."""

    scenario: str
    target: str
    unit: str  # what `delivered` counts: "event", "reply", "conn"
    delivered: int = 0
    expected: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    rss_per_conn: float | None = None
    duplicates: int = 0
    offered: float | None = None  # events/s a paced scenario asks for
    rss_range: tuple[float, float] | None = None  # server RSS before and after (capacity)
    dropped: int = 0  # connections that ended (closed, reset, an error) before the scenario did

    @property
    def lost(self) -> int:
        return self.expected - self.delivered

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(p * len(s)))] * 1000

    @property
    def cpu_per(self) -> float:
        """Server CPU µs per delivered unit."""
        return self.server_cpu / self.delivered * 1e6 if self.delivered else float("nan")

    @property
    def client_cpu_per(self) -> float:
        return self.client_cpu / self.delivered * 1e6 if self.delivered else float("nan")


class ServerProc:
    """One target's server subprocess."""

    def __init__(
        self, target: str, args: argparse.Namespace, ws_kalive_ms: int | None = None
    ) -> None:
        self.target = target
        self.args = args
        self.ws_kalive_ms = ws_kalive_ms  # ours's keep-alive, when not its default
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> ServerProc:
        cmd = [sys.executable, __file__, "--serve", self.target, "--ours-publish"]
        cmd.append(self.args.ours_publish)
        if self.args.profile:
            cmd += ["--profile", self.args.profile]
        if self.ws_kalive_ms is not None:
            cmd += ["--ws-kalive-ms", str(self.ws_kalive_ms)]
        self.proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not line.startswith(b"PORT "):
            raise RuntimeError(f"{self.target} server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def get(self, path: str) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        data = await reader.read()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"GET {path}: {head[:80]!r}")
        return body

    async def stats(self, collect: bool = False) -> dict[str, float]:
        return dict(json.loads(await self.get("/_bench/stats" + ("?gc=1" if collect else ""))))

    async def counts(self) -> dict[str, int]:
        """Ours only: its open WebSockets (``ws``) and held long-polls (``ajax``)."""
        return dict(json.loads(await self.get("/_bench/counts")))

    async def profile(self, op: str, name: str = "") -> None:
        if self.args.profile:
            slug = re.sub("[^A-Za-z0-9=]+", "-", name)
            await self.get(f"/_bench/profile/{op}?name={slug}")


T = TypeVar("T")


async def _gather_opened(opening: Iterable[Awaitable[T]]) -> tuple[list[T], int]:
    """Open connections concurrently: those opened, and how many failed (a Ctrl-C still stops)."""
    done = await asyncio.gather(*opening, return_exceptions=True)
    for d in done:
        if isinstance(d, BaseException) and not isinstance(d, Exception):
            raise d
    opened = [d for d in done if not isinstance(d, BaseException)]
    return opened, len(done) - len(opened)


async def connect_all(
    server: ServerProc, flavour: Flavour, indices: range, in_flight: int | None = None
) -> tuple[list[WsConn], int]:
    """Open WebSockets ``indices`` and wait for their handshakes; returns (conns, failed).

    All at once, or at most ``in_flight`` connecting (TCP connect to handshake) at a time.
    """
    loop = asyncio.get_running_loop()
    host = f"127.0.0.1:{server.port}"
    limit = asyncio.Semaphore(in_flight or len(indices) or 1)

    async def one(i: int) -> WsConn:
        def factory() -> WsConn:
            return WsConn(i, flavour, host, flavour.path(i))

        async with limit:
            started = time.perf_counter()
            _, conn = await loop.create_connection(factory, "127.0.0.1", server.port)
            conn.started = started
            await asyncio.wait_for(conn.ready, 30)
        return conn

    return await _gather_opened(one(i) for i in indices)


async def close_all(conns: list[WsConn]) -> None:
    for c in conns:
        c.close()
    if conns:
        await asyncio.wait([c.closed for c in conns], timeout=10)


class Progress:
    """Wake the waiting scenario when its count is complete; time out when it stalls."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.last = time.perf_counter()
        self.done = asyncio.Event()

    def add(self, n: int, now: float) -> None:
        self.count += n
        self.last = now
        if self.count >= self.expected:
            self.done.set()

    async def wait(self) -> None:
        while not self.done.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.done.wait(), 0.5)
            if time.perf_counter() - self.last > IDLE_TIMEOUT_S:
                return


class FanoutSink(Sink):
    def __init__(self, conns: list[WsConn], n_msgs: int) -> None:
        self.sent_at = [0.0] * n_msgs
        self.seen = [bytearray(n_msgs) for _ in conns]
        self.by_conn = {id(c): i for i, c in enumerate(conns)}
        self.latencies: list[float] = []
        self.duplicates = 0
        self.progress = Progress(len(conns) * n_msgs)

    def events(self, conn: WsConn, seqs: list[str], now: float) -> None:
        seen = self.seen[self.by_conn[id(conn)]]
        lat = self.latencies
        sent_at = self.sent_at
        for s in seqs:
            seq = int(s)
            if seen[seq]:
                self.duplicates += 1
                continue
            seen[seq] = 1
            lat.append(now - sent_at[seq])
        self.progress.add(len(seqs), now)


async def fanout(
    server: ServerProc, conns: list[WsConn], name: str, n_msgs: int, rate: float | None
) -> Result:
    """``conns[0]`` publishes ``n_msgs`` (at ``rate``/s, or all at once); all receive each."""
    sink = FanoutSink(conns, n_msgs)
    for c in conns:
        c.sink = sink
    pub, flavour = conns[0], conns[0].flavour
    frames = [flavour.publish(seq) for seq in range(n_msgs)]
    await server.profile("start")
    before, cli0 = await server.stats(), cpu_seconds()
    t0 = await send_paced(frames, rate, pub.send_text, sink.sent_at)
    await sink.progress.wait()
    cli1, after = cpu_seconds(), await server.stats()
    await server.profile("stop", name)
    for c in conns:
        c.sink = IGNORE
    unique = sum(sum(seen) for seen in sink.seen)
    return Result(
        scenario=name,
        target=flavour.name,
        unit="event",
        delivered=unique,
        expected=len(conns) * n_msgs,
        seconds=sink.progress.last - t0,
        latencies=sink.latencies,
        server_cpu=after["cpu"] - before["cpu"],
        client_cpu=cli1 - cli0,
        duplicates=sink.duplicates,
        offered=None if rate is None else rate * len(conns),
    )


class ReplySink(Sink):
    def reply(self, conn: WsConn, rid: str, now: float) -> None:
        waiter = conn.waiter
        if waiter is None or waiter[0] != rid or waiter[1].done():
            conn.stray += 1
            return
        waiter[1].set_result(now)


async def request_reply(
    server: ServerProc, conns: list[WsConn], name: str, seconds: float
) -> Result:
    """Each connection does sequential round trips for ``seconds``."""
    loop = asyncio.get_running_loop()
    flavour = conns[0].flavour
    sink = ReplySink()
    latencies: list[float] = []
    sent = 0

    async def client(conn: WsConn, deadline: float) -> None:
        nonlocal sent
        seq = 0
        while time.perf_counter() < deadline:
            seq += 1
            frame, rid = flavour.request(seq)
            fut: asyncio.Future[float] = loop.create_future()
            conn.waiter = (rid, fut)
            t = time.perf_counter()
            sent += 1
            conn.send_text(frame)
            latencies.append(await fut - t)

    for c in conns:
        c.sink = sink
    await server.profile("start")
    before, cli0 = await server.stats(), cpu_seconds()
    t0 = time.perf_counter()
    tasks = [asyncio.ensure_future(client(c, t0 + seconds)) for c in conns]
    _, pending = await asyncio.wait(tasks, timeout=seconds + IDLE_TIMEOUT_S)
    t1 = time.perf_counter()
    cli1, after = cpu_seconds(), await server.stats()
    await server.profile("stop", name)
    for task in pending:
        task.cancel()
    for c in conns:
        c.sink = IGNORE
        c.waiter = None
    return Result(
        scenario=name,
        target=flavour.name,
        unit="reply",
        delivered=len(latencies),
        expected=sent,
        seconds=t1 - t0,
        latencies=latencies,
        server_cpu=after["cpu"] - before["cpu"],
        client_cpu=cli1 - cli0,
    )


class Reach(Sink):
    """When one broadcast (its ``seq``) first arrived at each recipient."""

    def __init__(self, recipients: int, seq: int) -> None:
        self.seq = str(seq)
        self.at: dict[int, float] = {}  # id(recipient) -> arrival
        self.progress = Progress(recipients)

    def events(self, conn: WsConn, seqs: list[str], now: float) -> None:
        self.arrived(conn, seqs, now)

    def arrived(self, recipient: object, seqs: list[str], now: float) -> None:
        if self.seq in seqs and id(recipient) not in self.at:
            self.at[id(recipient)] = now
            self.progress.add(1, now)


class KeepAlive(Sink):
    """When the server's first keep-alive ping arrived at each connection."""

    def __init__(self, conns: int) -> None:
        self.at: dict[int, float] = {}  # id(conn) -> arrival
        self.after_open: list[float] = []  # each ping's time since its connection's handshake
        self.progress = Progress(conns)

    def pinged(self, conn: WsConn, now: float) -> None:
        if id(conn) not in self.at:
            self.at[id(conn)] = now
            self.after_open.append(now - conn.ready.result())
            self.progress.add(1, now)


async def keepalive_round(
    server: ServerProc, conns: list[WsConn], name: str, kalive_ms: int
) -> Result:
    """Wait until the server has pinged every idle WebSocket once (the client answers each)."""
    keepalive = KeepAlive(len(conns))
    for c in conns:
        c.sink = keepalive
    await server.profile("start")
    before, cli0 = await server.stats(), cpu_seconds()
    t0 = time.perf_counter()
    # the first ping comes half a ws_kalive_ms after the open; a later one, a full one
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(keepalive.progress.done.wait(), kalive_ms / 1000 + IDLE_TIMEOUT_S)
    cli1, after = cpu_seconds(), await server.stats()
    await server.profile("stop", name)
    for c in conns:
        c.sink = IGNORE
    return Result(
        scenario=name,
        target=conns[0].flavour.name,
        unit="conn",
        delivered=sum(id(c) in keepalive.at and not c.closed.done() for c in conns),
        expected=len(conns),
        seconds=max(keepalive.at.values(), default=t0) - t0,
        latencies=keepalive.after_open,
        server_cpu=after["cpu"] - before["cpu"],
        client_cpu=cli1 - cli0,
    )


async def broadcast_reach(
    server: ServerProc,
    publisher: WsConn,
    conns: list[WsConn],
    polls: list[PollConn],
    *,
    seq: int,
    name: str,
    within_s: float,
) -> Result:
    """``publisher`` publishes once; the time until each of ``conns`` and ``polls`` has it."""
    reach = Reach(len(conns) + len(polls), seq)
    for c in conns:
        c.sink = reach
    for p in polls:
        p.sink = reach
    await server.profile("start")
    before, cli0 = await server.stats(), cpu_seconds()
    t0 = time.perf_counter()
    publisher.send_text(publisher.flavour.publish(seq))
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(reach.progress.done.wait(), within_s)
    cli1, after = cpu_seconds(), await server.stats()
    await server.profile("stop", name)
    for c in conns:
        c.sink = IGNORE
    for p in polls:
        p.sink = None
    return Result(
        scenario=name,
        target=publisher.flavour.name,
        unit="event",
        delivered=len(reach.at),
        expected=reach.progress.expected,
        seconds=max(reach.at.values(), default=t0) - t0,
        latencies=[at - t0 for at in reach.at.values()],
        server_cpu=after["cpu"] - before["cpu"],
        client_cpu=cli1 - cli0,
    )


async def open_polls(
    server: ServerProc, indices: range, in_flight: int
) -> tuple[list[PollConn], int]:
    """Start Ajax clients ``indices`` (at most ``in_flight`` handshaking at a time); (polls, failed)."""
    loop = asyncio.get_running_loop()
    host = f"127.0.0.1:{server.port}"
    limit = asyncio.Semaphore(in_flight)

    async def one(i: int) -> PollConn:
        async with limit:
            started = time.perf_counter()
            _, poll = await loop.create_connection(
                lambda: PollConn(i, host, "/chsk"), "127.0.0.1", server.port
            )
            poll.started = started
            await asyncio.wait_for(poll.handshaken, 30)
        return poll

    return await _gather_opened(one(i) for i in indices)


async def until_counted(server: ServerProc, kind: str, n: int, within_s: float) -> int:
    """Wait until ours has ``n`` open channels of ``kind`` (or ``within_s`` passed); returns it."""
    deadline = time.perf_counter() + within_s
    while True:
        count = (await server.counts())[kind]
        if count == n or time.perf_counter() > deadline:
            return count
        await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Sizes:
    storm: int  # K: also the subscribers of the big fan-out and the idle connections
    small: int  # S of the small fan-out
    clients: int  # C of request/reply
    rate: float
    paced_s: float
    burst: int
    rr_s: float
    idle_ws: int  # W: idle WebSockets of the capacity scenario
    kalive_ms: int  # ours's ws_kalive_ms there: the idle WebSockets see one keep-alive round
    polls: int  # P: Ajax clients long-polling in the capacity scenario, besides the W
    reach_s: float  # a broadcast recipient without it after this long counts as lost


FULL = Sizes(
    storm=500, small=100, clients=50, rate=50, paced_s=3, burst=200, rr_s=3,
    idle_ws=5000, kalive_ms=25_000, polls=1000, reach_s=30,
)  # fmt: skip
QUICK = Sizes(
    storm=60, small=20, clients=5, rate=50, paced_s=0.6, burst=40, rr_s=0.6,
    idle_ws=200, kalive_ms=2_000, polls=50, reach_s=10,
)  # fmt: skip
#: Connections of the capacity scenario in their TCP connect or handshake at any one time.
CAPACITY_IN_FLIGHT = 200
#: The targets of the capacity scenario: long-polls are ours only; raw is the WebSocket floor.
CAPACITY_TARGETS = ("raw", "ours")


async def storm_and_big_fanout(target: str, args: argparse.Namespace, z: Sizes) -> list[Result]:
    """Connect storm, idle memory, then paced and burst fan-out to the same K subscribers."""
    flavour = FLAVOURS[target]()
    results = []
    async with ServerProc(target, args) as server:
        warm, _ = await connect_all(server, flavour, range(z.storm, z.storm + 1))
        await close_all(warm)
        await asyncio.sleep(0.2)
        before, cli0 = await server.stats(collect=True), cpu_seconds()
        await server.profile("start")
        t0 = time.perf_counter()
        conns, _ = await connect_all(server, flavour, range(z.storm))
        t1 = time.perf_counter()
        await server.profile("stop", "storm")
        cli1, after = cpu_seconds(), await server.stats()
        await asyncio.sleep(0.3)  # let the last writes and handshakes settle before RSS
        settled = await server.stats(collect=True)
        results.append(
            Result(
                scenario=f"connect storm K={z.storm}",
                target=target,
                unit="conn",
                delivered=len(conns),
                expected=z.storm,
                seconds=t1 - t0,
                latencies=[c.ready.result() - t0 for c in conns],
                server_cpu=after["cpu"] - before["cpu"],
                client_cpu=cli1 - cli0,
                rss_per_conn=(settled["rss"] - before["rss"]) / max(1, len(conns)),
            )
        )
        # the storm's connections subscribe (a failed one shows as lost in the storm's row)
        n_paced = max(1, round(z.rate * z.paced_s))
        s = z.storm
        results.append(await fanout(server, conns, f"fanout S={s} paced", n_paced, z.rate))
        results.append(await fanout(server, conns, f"fanout S={s} burst", z.burst, None))
        await close_all(conns)
    return results


async def small_fanout(target: str, args: argparse.Namespace, z: Sizes) -> list[Result]:
    flavour = FLAVOURS[target]()
    async with ServerProc(target, args) as server:
        conns, failed = await connect_all(server, flavour, range(z.small))
        if failed:
            raise RuntimeError(f"{target}: {failed} of {z.small} subscribers failed to connect")
        n_paced = max(1, round(z.rate * z.paced_s))
        results = [
            await fanout(server, conns, f"fanout S={z.small} paced", n_paced, z.rate),
            await fanout(server, conns, f"fanout S={z.small} burst", z.burst, None),
        ]
        await close_all(conns)
    return results


async def reqrep(target: str, args: argparse.Namespace, z: Sizes) -> list[Result]:
    flavour = FLAVOURS[target]()
    async with ServerProc(target, args) as server:
        conns, failed = await connect_all(server, flavour, range(z.clients))
        if failed:
            raise RuntimeError(f"{target}: {failed} of {z.clients} clients failed to connect")
        result = await request_reply(server, conns, f"request/reply C={z.clients}", z.rr_s)
        await close_all(conns)
    return [result]


async def capacity(target: str, args: argparse.Namespace, z: Sizes) -> list[Result]:
    """W idle WebSockets and a broadcast to them; for ours, P long-polls held as well and a
    broadcast to all W + P. Memory is the server's RSS (garbage collected) after each step."""
    flavour = FLAVOURS[target]()
    w = z.idle_ws
    p = z.polls if target == "ours" else 0
    async with ServerProc(target, args, z.kalive_ms) as server:
        warm, _ = await connect_all(server, flavour, range(w, w + 1))
        warm_polls, _ = await open_polls(server, range(p, p + 1), 1) if p else ([], 0)
        await close_all(warm)
        for poll in warm_polls:
            poll.close()
        if target == "ours":  # the counts the scenario waits for start from zero
            await until_counted(server, "ws", 0, 5)
            await until_counted(server, "ajax", 0, 5)
        await asyncio.sleep(0.2)

        await server.profile("start")
        before, cli0 = await server.stats(collect=True), cpu_seconds()
        t0 = time.perf_counter()
        conns, _ = await connect_all(server, flavour, range(w), CAPACITY_IN_FLIGHT)
        t1 = time.perf_counter()
        cli1, after = cpu_seconds(), await server.stats()
        await server.profile("stop", f"capacity: W={w} WS")
        await asyncio.sleep(0.3)  # let the last writes settle before RSS
        with_ws = await server.stats(collect=True)
        ws_row = Result(
            scenario=f"capacity: W={w} WS",
            target=target,
            unit="conn",
            delivered=len(conns),
            expected=w,
            seconds=t1 - t0,
            latencies=[c.ready.result() - c.started for c in conns],
            server_cpu=after["cpu"] - before["cpu"],
            client_cpu=cli1 - cli0,
            rss_range=(before["rss"], with_ws["rss"]),
        )
        if not conns:
            return [ws_row]
        publisher = conns[0]
        rows = [ws_row]
        # idle, before any push (a push counts as activity and puts the first ping off a round)
        if target == "ours":
            rows.append(await keepalive_round(server, conns, "capacity: keep-alive", z.kalive_ms))
        else:  # raw Tornado sends no pings: it idles as long, so both broadcast after the same
            await asyncio.sleep(z.kalive_ms / 2000)
        rows += [
            await broadcast_reach(
                server, publisher, conns, [], seq=0, name="capacity: bcast to W", within_s=z.reach_s
            ),
        ]

        polls: list[PollConn] = []
        if p:
            await server.profile("start")
            before, cli0 = await server.stats(), cpu_seconds()
            t0 = time.perf_counter()
            polls, _ = await open_polls(server, range(p), CAPACITY_IN_FLIGHT)
            # established: the server holds a poll of each (a handshake alone is not a channel);
            # the counting is in this step's CPU, a few ms against a second or so
            held = await until_counted(server, "ajax", len(polls), z.reach_s)
            t1 = time.perf_counter()
            cli1, after = cpu_seconds(), await server.stats()
            await server.profile("stop", f"capacity: P={p} polls")
            await asyncio.sleep(0.3)
            with_polls = await server.stats(collect=True)
            poll_row = Result(
                scenario=f"capacity: P={p} polls",
                target=target,
                unit="conn",
                delivered=held,
                expected=p,
                seconds=t1 - t0,
                latencies=[q.handshaken.result() - q.started for q in polls],
                server_cpu=after["cpu"] - before["cpu"],
                client_cpu=cli1 - cli0,
                rss_range=(with_ws["rss"], with_polls["rss"]),
            )
            rows += [
                poll_row,
                await broadcast_reach(
                    server,
                    publisher,
                    conns,
                    polls,
                    seq=1,
                    name="capacity: bcast to W+P",
                    within_s=z.reach_s,
                ),
            ]
            poll_row.dropped = sum(q.failure is not None for q in polls)
        # established connections that ended before the scenario did
        ws_row.dropped = sum(c.closed.done() for c in conns)
        for poll in polls:
            poll.close()
        await close_all(conns)
        if polls:
            await asyncio.wait([q.closed for q in polls], timeout=10)
    return rows


# -- the report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    scenario_prefix: str  # checked on every scenario whose name starts with this
    max_ratio: float
    what: str


CHECKS = (
    Check("fanout S=", 1.3, "paced"),
    Check("fanout S=", 1.0, "burst"),
    Check("request/reply", 1.6, ""),
)
MAX_MEMORY_RATIO = 1.5
UNITS = {"event": "events", "reply": "replies", "conn": "connections"}


GROUPS = {
    "storm": storm_and_big_fanout,
    "small": small_fanout,
    "reqrep": reqrep,
    "capacity": capacity,
}


def report(results: list[Result], check: bool, reach_s: float) -> int:
    by = {(r.scenario, r.target): r for r in results}
    scenarios = list(dict.fromkeys(r.scenario for r in results))
    print()
    print(
        f"{'scenario':<22} {'target':<9} {'delivered':>9} {'per s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'lost':>5} {'srv µs':>8} {'vs raw':>7} {'cli µs':>7}"
    )
    print("(srv µs / cli µs: server / client CPU per delivered event, reply or connection)")
    for scenario in scenarios:
        for target in TARGETS:
            r = by.get((scenario, target))
            if r is None:
                continue
            raw = by.get((scenario, "raw"))
            ratio = r.cpu_per / raw.cpu_per if raw and raw.delivered else float("nan")
            print(
                f"{scenario:<22} {target:<9} {r.delivered:>9} {r.rate:>9.0f} {r.pct(0.5):>8.1f} "
                f"{r.pct(0.99):>8.1f} {r.lost:>5} {r.cpu_per:>8.1f} {ratio:>6.2f}x "
                f"{r.client_cpu_per:>7.1f}"
            )
    storms = [r for r in results if r.rss_per_conn is not None]
    raw_mem = next((r.rss_per_conn for r in storms if r.target == "raw"), None)
    for r in storms:
        assert r.rss_per_conn is not None
        ratio = r.rss_per_conn / raw_mem if raw_mem else float("nan")
        print(
            f"{'idle memory':<22} {r.target:<9} {r.delivered:>9} {'':>9} {'':>8} {'':>8} "
            f"{'':>5} {r.rss_per_conn / 1024:>6.1f}KB {ratio:>6.2f}x   (RSS per idle WebSocket)"
        )
    report_capacity(results)
    for r in results:
        if r.duplicates:
            print(f"note: {r.target} {r.scenario}: {r.duplicates} duplicate deliveries")
        if r.offered and r.rate < 0.9 * r.offered:
            print(
                f"note: {r.target} did not keep pace in {r.scenario} ({r.rate:.0f} of "
                f"{r.offered:.0f} events/s): its figures include a growing backlog"
            )

    print()
    verdicts: list[tuple[bool, str]] = []
    for scenario in scenarios:
        ours, raw = by.get((scenario, "ours")), by.get((scenario, "raw"))
        if raw is not None and raw.lost:
            print(f"warning: the raw baseline lost {raw.lost} in {scenario}; compare with care")
        if ours is None or scenario.startswith("capacity"):  # capacity: its own verdicts
            continue
        verdicts.append(
            (
                ours.lost == 0,
                f"{scenario}: ours lost {ours.lost} of {ours.expected} {UNITS[ours.unit]}",
            )
        )
        for c in CHECKS:
            if raw is None or not scenario.startswith(c.scenario_prefix) or c.what not in scenario:
                continue
            ratio = ours.cpu_per / raw.cpu_per
            verdicts.append(
                (
                    ratio <= c.max_ratio,
                    f"{scenario}: ours server CPU per {ours.unit} {ratio:.2f}x raw "
                    f"({ours.cpu_per:.1f} vs {raw.cpu_per:.1f} µs; target <= {c.max_ratio:g}x)",
                )
            )
    ours_mem = next((r.rss_per_conn for r in storms if r.target == "ours"), None)
    if ours_mem is not None and raw_mem:
        ratio = ours_mem / raw_mem
        verdicts.append(
            (
                ratio <= MAX_MEMORY_RATIO,
                f"idle memory: ours {ours_mem / 1024:.1f} KB per WebSocket, {ratio:.2f}x raw "
                f"({raw_mem / 1024:.1f} KB; target <= {MAX_MEMORY_RATIO:g}x)",
            )
        )
    verdicts += capacity_verdicts([r for r in results if r.target == "ours"], reach_s)
    if not check:
        print("targets not checked (profiling: the CPU figures include the profiler)")
        for _, line in verdicts:
            print(f"{'-':<5} {line}")
        return 0
    return print_verdicts(verdicts)


def report_capacity(results: list[Result]) -> None:
    """Per target: each step's connections, the server's RSS, and the broadcast that followed."""
    rows = [r for r in results if r.scenario.startswith("capacity")]
    if not rows:
        return
    print(
        "capacity (RSS: the server's, after a GC; reach: from the publisher's write until the "
        "last recipient read the broadcast)"
    )
    raw_per_ws = None
    for target in TARGETS:
        mine = [r for r in rows if r.target == target]
        for i, opened in enumerate(mine):
            if opened.rss_range is None:
                continue
            start, end = opened.rss_range
            per = (end - start) / max(1, opened.delivered)
            ratio = ""
            if opened.scenario.endswith(" WS"):
                raw_per_ws = per if target == "raw" else raw_per_ws
                ratio = f", {per / raw_per_ws:.2f}x raw" if raw_per_ws else ""
            line = (
                f"  {target:<4} +{opened.delivered} {_kind(opened)} in {opened.seconds:.1f} s: "
                f"RSS {start / 2**20:.0f} -> {end / 2**20:.0f} MB ({per / 1024:.1f} KB each{ratio})"
            )
            bcast = next((r for r in mine[i:] if r.unit == "event"), None)
            if bcast is not None:
                line += (
                    f"; then a broadcast reached {bcast.delivered} of {bcast.expected}, the last "
                    f"after {bcast.seconds:.2f} s"
                )
            print(line)
        if mine:
            cpu = sum(r.server_cpu for r in mine)
            print(f"  {target:<4} server CPU in the capacity scenario's steps: {cpu:.2f} s")


def _kind(opened: Result) -> str:
    return "WebSockets" if opened.scenario.endswith(" WS") else "long-polls"


def capacity_verdicts(ours: list[Result], reach_s: float) -> list[tuple[bool, str]]:
    """Every connection of ours established and kept; every broadcast reached everyone."""
    rows = [r for r in ours if r.scenario.startswith("capacity")]
    opened = [r for r in rows if r.rss_range is not None]
    verdicts = []
    if opened:
        what = " and ".join(f"{r.delivered} of {r.expected} {_kind(r)}" for r in opened)
        failed, dropped = sum(r.lost for r in opened), sum(r.dropped for r in opened)
        verdicts.append(
            (
                failed == 0 and dropped == 0,
                f"capacity: ours established {what}; {failed} refused or failed, "
                f"{dropped} closed or reset later",
            )
        )
    for r in rows:
        if r.unit == "event":
            verdicts.append(
                (
                    r.lost == 0,
                    f"{r.scenario}: ours reached {r.delivered} of {r.expected} recipients; "
                    f"{r.lost} lost (not reached within {reach_s:g} s)",
                )
            )
        elif r.rss_range is None:  # the keep-alive round
            verdicts.append(
                (
                    r.lost == 0,
                    f"{r.scenario}: ours pinged {r.delivered} of {r.expected} idle WebSockets "
                    "and kept them open (the client answers each ping)",
                )
            )
    return verdicts


async def run(args: argparse.Namespace) -> int:
    raise_fd_limit()
    z = QUICK if args.quick else FULL
    if args.rate:
        z = dataclasses.replace(z, rate=args.rate)
    targets = [t for t in TARGETS if t in args.targets.split(",")]
    if "socketio" in targets:
        try:
            import socketio  # noqa: F401
        except ImportError:
            print("python-socketio is not installed (pip install .[bench]); skipping it")
            targets.remove("socketio")
    results: list[Result] = []
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; rate {z.rate:g}/s")
    started = time.perf_counter()
    # scenario groups in the outer loop: a change of background load hits every target alike
    for name in args.groups.split(","):
        group = GROUPS[name]
        for target in targets:
            if group is capacity and target not in CAPACITY_TARGETS:
                continue
            print(f"{time.perf_counter() - started:6.1f}s {group.__name__} {target}", flush=True)
            results += await group(target, args, z)
    print(f"{time.perf_counter() - started:6.1f}s done; load average {os.getloadavg()[0]:.2f}")
    return report(results, check=not args.profile, reach_s=z.reach_s)


def main() -> int:
    from jupyter_sente.core.timing import ServerTiming

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small, short smoke run")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset")
    parser.add_argument(
        "--groups",
        default=",".join(GROUPS),
        help=f"comma-separated scenario groups, in the order given (default: {','.join(GROUPS)})",
    )
    parser.add_argument("--profile", metavar="DIR", help="cProfile each scenario in the servers")
    parser.add_argument("--rate", type=float, help="paced fan-out rate in messages/s (default 50)")
    parser.add_argument(
        "--ours-publish",
        choices=("broadcast", "send"),
        default="broadcast",
        help="how our server fans out: broadcast (default) or send() per connected uid",
    )
    parser.add_argument("--serve", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--ws-kalive-ms", type=int, default=ServerTiming.ws_kalive_ms, help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    if args.serve:
        serve(args)
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
