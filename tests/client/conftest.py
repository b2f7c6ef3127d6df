"""Fixtures for the client's tests: the stub server, fast timings, an event recorder."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from jupyter_sente.client import ClientTiming, EventMsg
from jupyter_sente.values import kw
from tests.client.stub_server import StubServer, _free_port
from tests.waits import MS, SCALE, Changes, S  # noqa: F401  (MS: tests take it from here)
from tests.waits import Recorder as _Recorder


def fast_timing(**overrides: Any) -> ClientTiming:
    """Client timings short enough for tests (keep-alive ping after 200 ms of silence)."""
    options: dict[str, Any] = {
        "ws_kalive_ms": int(400 * SCALE),
        "ws_ping_timeout_ms": int(300 * SCALE),
        "ajax_timeout_ms": int(5_000 * SCALE),
        "backoff_cap_ms": int(150 * SCALE),
        **overrides,
    }
    return ClientTiming(**options)


class Recorder(_Recorder[EventMsg]):
    """Collects every event a client emits; tests await conditions on what it saw."""

    def ids(self) -> list[str]:
        return [m.id for m in self.msgs]

    def data(self, ev_id: str) -> list[Any]:
        return [m.data for m in self.msgs if m.id == ev_id]

    def states(self) -> list[Any]:
        """The ``[old new open-changed?]`` of every ``chsk/state`` so far."""
        return self.data("chsk/state")

    def opens(self) -> list[bool]:
        """The ``open?`` of every state change that flipped it, in order."""
        return [new["open?"] for _, new, changed in self.states() if changed]

    async def wait(self, predicate: Callable[[], bool], timeout: float = 5 * S) -> None:
        await self.until(predicate, timeout)

    async def wait_count(self, ev_id: str, n: int = 1, timeout: float = 5 * S) -> None:
        await self.wait(lambda: len(self.data(ev_id)) >= n, timeout)


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[StubServer]:
    server = StubServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


class OurServer:
    """jupyter-sente's own server (Tornado host) with the stub's test events, on a fixed port.

    uid is "bob" (Sente's CSRF check off, as the stub); ``my-app/echo`` replies with its data,
    ``my-app/late`` replies "late" after its data in ms, ``my-app/silent`` never replies,
    ``my-app/push-me`` pushes ``[:my-app/alert "hi"]`` then ``[:my-app/alert "yo"]``.
    """

    def __init__(self, **options: Any) -> None:
        self.options = {
            "csrf_token_fn": None,
            "user_id_fn": lambda request: "bob",
            "lp_timeout_ms": int(1_000 * SCALE),
            "ws_kalive_ms": int(2_000 * SCALE),
            **options,
        }
        self.port = _free_port()
        self.server: Any = None
        self.seen: list[str] = []  # ids of the events the server's router got, in order
        self._seen_changed = Changes()
        self._http: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/chsk"

    async def start(self) -> None:
        """Listen on the port, with a fresh server (as a restarted process has)."""
        from jupyter_sente.server import ChannelSocketServer
        from jupyter_sente.tornado import listen, make_app

        server = ChannelSocketServer(**self.options)

        @server.on("my-app/echo")
        def echo(msg: Any) -> None:
            msg.reply(msg.data)

        @server.on("my-app/late")
        def late(msg: Any) -> None:
            loop = asyncio.get_running_loop()
            loop.call_later(int(msg.data) / 1000, msg.reply, "late")

        @server.on("my-app/push-me")
        def push(msg: Any) -> None:
            server.send(msg.uid, [kw("my-app/alert"), "hi"])
            server.send(msg.uid, [kw("my-app/alert"), "yo"])

        @server.on_default
        def record(msg: Any) -> None:
            self.seen.append(msg.id.name)  # my-app/silent and the rest: no reply
            self._seen_changed.poke()

        self.server = server
        self._http, _ = listen(make_app(server), self.port)

    async def wait_seen(self, ev_id: str, n: int = 1, timeout: float = 5 * S) -> None:
        """Wait until the server's router got ``n`` events ``ev_id``."""
        await self._seen_changed.until(lambda: self.seen.count(ev_id) >= n, timeout)

    async def stop(self) -> None:
        """Go away: close every channel and connection, stop listening."""
        if self._http is None:
            return
        self.server.close()
        self._http.stop()
        await self._http.close_all_connections()
        self._http = None


@pytest_asyncio.fixture
async def ours() -> AsyncIterator[OurServer]:
    server = OurServer()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(autouse=True)
async def no_loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Fail a test whose event loop saw an unhandled error ("Task exception was never retrieved")."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield errors
    loop.set_exception_handler(previous)
    assert errors == [], f"the event loop saw unhandled errors: {errors}"


class LoopThread:
    """An event loop on its own thread, to serve sync tests (ThreadedClient's)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="test-server", daemon=True
        )
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10 * S) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def drain() -> None:
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)

        self.run(drain())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture
def stub_thread() -> Iterator[tuple[StubServer, LoopThread]]:
    """The stub server running on its own thread (for tests that block the main thread)."""
    lt = LoopThread()
    server = StubServer()
    lt.run(server.start())
    yield server, lt
    lt.run(server.stop())
    lt.close()
