"""The asyncio client on its own thread, for code that is not async (notebook cells, scripts)."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar, overload

from jupyter_sente.client._client import Client
from jupyter_sente.client._events import EventLike, EventMsg, Handler, log, to_event
from jupyter_sente.exceptions import UsageError
from jupyter_sente.values import Keyword

__all__ = ["BlockingEventStream", "ThreadedClient"]

T = TypeVar("T")
H = TypeVar("H", bound=Handler)

#: Extra seconds a blocked caller waits beyond a request's own timeout, so that the client's
#: own ``:chsk/timeout`` (not the thread hand-off) is what ends a slow request.
_HANDOFF_MARGIN = 2.0


class BlockingEventStream:
    """Received events as a blocking iterator; it ends when the client closes or ``timeout`` passes idle."""

    def __init__(self, maxlen: int, timeout: float | None) -> None:
        self._items: deque[EventMsg] = deque(maxlen=maxlen)
        self._cond = threading.Condition()
        self._ended = False
        self._timeout = timeout
        self.dropped = 0

    def put(self, msg: EventMsg | None) -> None:
        """Deliver ``msg`` (from the client's thread); ``None`` ends the stream."""
        with self._cond:
            if msg is None:
                self._ended = True
            else:
                if len(self._items) == self._items.maxlen:
                    self.dropped += 1
                    log.warning("event stream full: dropped the oldest event")
                self._items.append(msg)
            self._cond.notify_all()

    def __iter__(self) -> Iterator[EventMsg]:
        return self

    def __next__(self) -> EventMsg:
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._ended, self._timeout)
            if self._items:
                return self._items.popleft()
            raise StopIteration


class ThreadedClient:
    """A :class:`Client` running on its own daemon thread and event loop.

    Every method may be called from any thread and blocks (with a timeout) until done.
    Handlers run on the client's thread, so they keep being called while the caller blocks
    (``time.sleep(30)`` in a notebook cell). From inside a handler, ``send`` is queued instead
    of waited for, and ``request`` is refused (it would block the thread that must deliver
    its reply). ``with ThreadedClient(url) as c: ...`` closes it at the end.
    """

    def __init__(self, url: str, *, open_timeout: float | None = 10.0, **options: Any) -> None:
        self._client = Client(url, **options)  # options are checked here, in the caller's thread
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(
            target=self._main,
            name=f"jupyter-sente-client-{self._client.client_id[:8]}",
            daemon=True,
        )
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            raise self._startup_error
        atexit.register(self.close)
        if open_timeout is not None:
            try:
                self.wait_open(open_timeout)
            except BaseException:
                self.close()
                raise

    def _main(self) -> None:
        asyncio.run(self._amain())

    async def _amain(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            await self._client.start()
        except BaseException as e:
            self._startup_error = e
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self._client.close()

    # -- what the application reads -------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The asyncio client (use it only from the client's thread, e.g. in a handler)."""
        return self._client

    @property
    def client_id(self) -> str:
        """This client's id."""
        return self._client.client_id

    @property
    def state(self) -> dict[str, Any]:
        """A copy of Sente's state map."""
        return self._client.state

    @property
    def is_open(self) -> bool:
        """True between a handshake and the next close."""
        return self._client.is_open

    @property
    def uid(self) -> Any:
        """The uid from the last handshake."""
        return self._client.uid

    @property
    def transport(self) -> str | None:
        """``"ws"`` or ``"ajax"`` while connected or connecting."""
        return self._client.transport

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
        """As :meth:`Client.on`; handlers run on the client's thread."""
        if handler is None:
            return self._client.on(event_id)
        return self._client.on(event_id, handler)

    def off(self, event_id: str | Keyword, handler: Handler | None = None) -> None:
        """As :meth:`Client.off`."""
        self._client.off(event_id, handler)

    def on_default(self, handler: Handler | None) -> Handler | None:
        """As :meth:`Client.on_default`."""
        return self._client.on_default(handler)

    def events(self, timeout: float | None = None, maxlen: int = 2048) -> BlockingEventStream:
        """Events received from now on; iteration stops when the client closes or none comes for ``timeout`` s."""
        stream = BlockingEventStream(maxlen, timeout)
        if self._closed:
            stream.put(None)
        else:
            self._client._subscribe(stream.put)
        return stream

    # -- calls ----------------------------------------------------------------------------------

    def wait_open(self, timeout: float | None = 10.0) -> None:
        """Block until open; ``TimeoutError`` after ``timeout`` seconds."""
        wait = None if timeout is None else timeout + _HANDOFF_MARGIN
        self._call(self._client.wait_open(timeout), wait)

    def send(self, event: EventLike, timeout: float = 10.0) -> bool:
        """As :meth:`Client.send`, blocking; from a handler it is queued and returns ``is_open``."""
        ev = to_event(event)  # a bad event raises here, in the caller
        if self._on_client_thread():
            if not self._client.is_open:
                return False
            self._client._spawn(self._client.send(ev))
            return True
        return self._call(self._client.send(ev), timeout)

    def request(self, event: EventLike, timeout: float = 10.0, *, raw: bool = False) -> Any:
        """As :meth:`Client.request`, blocking until the reply or Sente's outcome."""
        if self._on_client_thread():
            raise UsageError(
                "request() from a handler would block the thread that delivers its reply; "
                "use send(), or await client.request() in an async handler"
            )
        return self._call(self._client.request(event, timeout, raw=raw), timeout + _HANDOFF_MARGIN)

    def ping(self, timeout: float = 5.0) -> float:
        """As :meth:`Client.ping`, blocking: one round trip to the server, in seconds."""
        if self._on_client_thread():
            raise UsageError(
                "ping() from a handler would block the thread that delivers its answer; "
                "await client.ping() in an async handler"
            )
        return self._call(self._client.ping(timeout), timeout + _HANDOFF_MARGIN)

    def reconnect(self, timeout: float = 10.0) -> None:
        """As :meth:`Client.reconnect`."""
        self._call(self._client.reconnect(), timeout)

    def disconnect(self, timeout: float = 10.0) -> None:
        """As :meth:`Client.disconnect`."""
        self._call(self._client.disconnect(), timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Disconnect, stop the thread and its loop. Idempotent; from a handler it only asks."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        loop, stopping = self._loop, self._stopping
        if loop is None or stopping is None or not self._thread.is_alive():
            return
        if self._on_client_thread():
            stopping.set()
            return
        loop.call_soon_threadsafe(stopping.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the client thread did not stop within %s s", timeout)

    def __enter__(self) -> ThreadedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------

    def _on_client_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        loop = self._loop
        if self._on_client_thread():
            coro.close()
            raise UsageError(
                "this call would block the client's own thread (called from a handler)"
            )
        if self._closed or loop is None or not self._thread.is_alive():
            coro.close()
            raise UsageError("the client is closed")
        fut = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"no result within {timeout} s") from None
