"""The Redis pub/sub backplane (``redis.asyncio``, imported only when one is made).

One session is one Redis client with two connections: a pub/sub connection read by a reader
task, and a publishing connection used only by a writer task that pipelines whatever
:meth:`publish` queued, so publishing never waits on Redis and keeps each server's order.
The reader pings Redis when the connection is idle and ends the session when no answer
comes, so a half-open connection is noticed too. Any error in either task ends the session;
the base class then reconnects with backoff and resubscribes: no listener dies silently
(python-socketio issue #1581).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jupyter_sente.backplane.base import Backplane
from jupyter_sente.core.timing import KeepAlive, KeepAliveAction
from jupyter_sente.exceptions import UsageError

__all__ = ["DEFAULT_URL", "RedisBackplane", "redact_url"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
_BATCH = 512  # PUBLISH commands per pipeline round-trip


def _import_redis() -> tuple[Any, Any, Any]:
    """``redis.asyncio``, its ``Retry`` and ``NoBackoff``, or an ImportError saying what to install."""
    try:
        import redis.asyncio as aioredis  # noqa: PLC0415  # optional dependency, imported lazily
        from redis.asyncio.retry import Retry  # noqa: PLC0415
        from redis.backoff import NoBackoff  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(
            "the Redis backplane needs the redis package (redis-py >= 5): "
            "pip install 'jupyter-sente[redis]'"
        ) from exc
    return aioredis, Retry, NoBackoff


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and errors)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


class _NoPong(ConnectionError):
    """Redis did not answer a PING on the pub/sub connection in time."""


class RedisBackplane(Backplane):
    """A backplane over Redis pub/sub at ``url`` (``redis://`` or ``rediss://``).

    ``connect_timeout_ms`` bounds connecting; ``command_timeout_ms`` bounds a publish batch and
    a subscribe confirmation; the pub/sub connection is pinged after ``ping_interval_ms`` of
    silence and dropped when ``ping_timeout_ms`` more pass without an answer. At most
    ``max_queued`` messages wait for the writer; more are dropped (counted). Extra keyword
    arguments for ``redis.asyncio.Redis.from_url`` go in ``redis_options``.
    """

    backend = "redis"

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        connect_timeout_ms: int = 2_000,
        command_timeout_ms: int = 2_000,
        ping_interval_ms: int = 5_000,
        ping_timeout_ms: int = 5_000,
        max_queued: int = 10_000,
        redis_options: Mapping[str, Any] | None = None,
        **opts: Any,
    ) -> None:
        super().__init__(**opts)
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in ("redis", "rediss"):
            raise UsageError(
                f"a Redis backplane URL starts with redis:// or rediss://, got {redact_url(url)!r}"
            )
        for name, value in (
            ("connect_timeout_ms", connect_timeout_ms),
            ("command_timeout_ms", command_timeout_ms),
            ("ping_interval_ms", ping_interval_ms),
            ("ping_timeout_ms", ping_timeout_ms),
            ("max_queued", max_queued),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        self._aioredis, self._retry_cls, self._no_backoff = _import_redis()
        self.url = url
        self.connect_timeout_ms = connect_timeout_ms
        self.command_timeout_ms = command_timeout_ms
        self.ping_interval_ms = ping_interval_ms
        self.ping_timeout_ms = ping_timeout_ms
        self.max_queued = max_queued
        self.redis_options = dict(redis_options or {})
        self._client: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._queue: deque[tuple[str, bytes]] = deque()
        self._queued = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._confirmed: set[str] = set()
        self._confirmations = asyncio.Event()

    def _describe(self) -> str:
        return redact_url(self.url)

    # ---- session ---------------------------------------------------------------------------

    async def _open(self, channels: Collection[str]) -> None:
        options: dict[str, Any] = {
            "socket_connect_timeout": self.connect_timeout_ms / 1000,
            "socket_timeout": self.command_timeout_ms / 1000,
            "socket_keepalive": True,
            # Retrying is the base class's job, with backoff and a log line per outage.
            "retry": self._retry_cls(self._no_backoff(), 0),
            "client_name": f"jupyter-sente-{self.namespace}-{self.server_id}",
        }
        options.update(self.redis_options)
        self._client = self._aioredis.Redis.from_url(self.url, **options)
        self._pubsub = self._client.pubsub()
        self._confirmed.clear()
        self._idle.set()
        # Connects the pub/sub connection (bounded by the connect timeout); the reader starts
        # after, as redis-py reads nothing before a connection exists.
        await asyncio.wait_for(self._send_subscribe(channels), self.connect_timeout_ms / 1000)
        self._reader = asyncio.create_task(
            self._read_loop(), name=f"backplane-read-{self.server_id}"
        )
        await self._await_confirmed(channels)
        self._writer = asyncio.create_task(
            self._write_loop(), name=f"backplane-write-{self.server_id}"
        )

    async def _serve(self) -> None:
        tasks = {t for t in (self._reader, self._writer) if t is not None}
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = None if task.cancelled() else task.exception()
            if exc is not None:
                raise exc
        raise ConnectionError("a Redis session task ended")

    async def _close(self) -> None:
        tasks = [t for t in (self._reader, self._writer) if t is not None]
        self._reader = self._writer = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
            for task in tasks:  # retrieve, so no "exception never retrieved" warning
                if not task.cancelled():
                    task.exception()
        # What the writer had not sent is lost with the session (at most once).
        self._stats.dropped_while_down += len(self._queue)
        self._queue.clear()
        self._idle.set()
        self._confirmed.clear()
        self._confirmations.set()
        pubsub, client = self._pubsub, self._client
        self._pubsub = self._client = None
        if pubsub is not None:
            await _quietly(pubsub.aclose())
        if client is not None:
            await _quietly(client.aclose())

    async def _subscribe(self, channels: Collection[str]) -> None:
        await self._send_subscribe(channels)
        await self._await_confirmed(channels)

    async def _unsubscribe(self, channels: Collection[str]) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            return
        try:
            await asyncio.wait_for(pubsub.unsubscribe(*channels), self.command_timeout_ms / 1000)
        except Exception:
            await self._abort()
            raise

    async def _send_subscribe(self, channels: Collection[str]) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            raise ConnectionError("no Redis session")
        try:
            await pubsub.subscribe(*channels)
        except Exception:
            await self._abort()
            raise

    async def _await_confirmed(self, channels: Collection[str]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.command_timeout_ms / 1000
        wanted = set(channels)
        while not wanted <= self._confirmed:
            reader = self._reader
            if reader is None or reader.done():
                exc = None if reader is None or reader.cancelled() else reader.exception()
                raise ConnectionError(
                    f"the Redis reader ended before the subscription was confirmed ({exc!r})"
                )
            self._confirmations.clear()
            left = deadline - loop.time()
            try:
                await asyncio.wait_for(self._confirmations.wait(), max(left, 0.0))
            except asyncio.TimeoutError:
                await self._abort()
                raise ConnectionError(
                    f"Redis did not confirm a subscription within {self.command_timeout_ms} ms"
                ) from None

    async def _abort(self) -> None:
        """Break the pub/sub connection so the reader fails and the session restarts."""
        pubsub = self._pubsub
        if pubsub is not None and pubsub.connection is not None:
            await _quietly(pubsub.connection.disconnect(nowait=True))

    # ---- tasks -----------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        pubsub = self._pubsub
        loop = asyncio.get_running_loop()
        keep_alive = KeepAlive(loop.time() * 1000, self.ping_interval_ms, self.ping_timeout_ms)
        while True:
            wait_s = max(0.0, keep_alive.deadline / 1000 - loop.time())
            message = await pubsub.get_message(timeout=wait_s)
            now_ms = loop.time() * 1000
            if message is not None:
                keep_alive.activity(now_ms)
                await self._on_redis_message(message)
            if now_ms >= keep_alive.deadline:
                action = keep_alive.tick(now_ms)
                if action is KeepAliveAction.PING:
                    await pubsub.ping()
                elif action is KeepAliveAction.CLOSE:
                    raise _NoPong(f"Redis did not answer a PING within {self.ping_timeout_ms} ms")

    async def _on_redis_message(self, message: Mapping[str, Any]) -> None:
        kind = message.get("type")
        channel = _text(message.get("channel"))
        if kind == "message":
            data = message.get("data")
            if isinstance(data, str):
                data = data.encode()
            if isinstance(data, bytes) and channel is not None:
                await self._deliver(channel, data)
        elif kind == "subscribe" and channel is not None:
            self._confirmed.add(channel)
            self._confirmations.set()
        elif kind == "unsubscribe" and channel is not None:
            self._confirmed.discard(channel)

    async def _write_loop(self) -> None:
        client = self._client
        timeout_s = self.command_timeout_ms / 1000
        while True:
            if not self._queue:
                self._idle.set()
                self._queued.clear()
                await self._queued.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(_BATCH, len(self._queue)))]
            pipe = client.pipeline(transaction=False)
            for channel, data in batch:
                pipe.publish(channel, data)
            try:
                await asyncio.wait_for(pipe.execute(), timeout_s)
            except BaseException:
                self._stats.dropped_while_down += len(batch)
                raise

    def _send(self, channel: str, data: bytes) -> bool:
        if len(self._queue) >= self.max_queued:
            return False
        self._queue.append((channel, data))
        self._idle.clear()
        self._queued.set()
        return True

    async def _flush(self, timeout_s: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


async def _quietly(awaitable: Any) -> None:
    """Await a cleanup step; a broken connection may fail it, and that changes nothing."""
    # Cleanup after a failure: the failure itself was already reported.
    with contextlib.suppress(Exception):
        await awaitable
