"""The in-process backplane: servers sharing one :class:`MemoryHub` see each other's messages.

It is the default (one Jupyter server, nothing to configure) and the way to test routing
between several servers in one process. Messages are encoded exactly as on Redis, so a body
that Redis would refuse is refused here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from jupyter_sente.backplane.base import Backplane
from jupyter_sente.exceptions import UsageError

__all__ = ["DEFAULT_HUB", "MemoryBackplane", "MemoryHub"]


class MemoryHub:
    """Channel name -> the memory backplanes subscribed to it (each delivered on its own loop)."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[MemoryBackplane]] = {}

    def subscribers(self, channel: str) -> int:
        """How many backplanes listen to ``channel``."""
        return len(self._subscribers.get(channel, ()))

    def _add(self, channel: str, backplane: MemoryBackplane) -> None:
        self._subscribers.setdefault(channel, set()).add(backplane)

    def _remove(self, channel: str, backplane: MemoryBackplane) -> None:
        subs = self._subscribers.get(channel)
        if subs is not None:
            subs.discard(backplane)
            if not subs:
                del self._subscribers[channel]

    def _publish(self, channel: str, data: bytes, sender: MemoryBackplane) -> None:
        for backplane in tuple(self._subscribers.get(channel, ())):
            if backplane is not sender:
                backplane._put(channel, data)


#: The hub every :class:`MemoryBackplane` uses unless given another.
DEFAULT_HUB = MemoryHub()


class MemoryBackplane(Backplane):
    """A backplane over a :class:`MemoryHub`; each receiver has a bounded inbox.

    A receiver whose inbox holds ``max_pending`` messages drops the next ones (counted in
    ``dropped_overflow``), as Redis disconnects a subscriber over its output buffer limit.
    """

    backend = "memory"

    def __init__(
        self, *, hub: MemoryHub | None = None, max_pending: int = 10_000, **opts: Any
    ) -> None:
        super().__init__(**opts)
        if not isinstance(max_pending, int) or isinstance(max_pending, bool) or max_pending <= 0:
            raise UsageError(f"max_pending must be a positive integer, got {max_pending!r}")
        self.hub = DEFAULT_HUB if hub is None else hub
        self.max_pending = max_pending
        self._inbox: asyncio.Queue[tuple[str, bytes]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channels: set[str] = set()

    def _put(self, channel: str, data: bytes) -> None:
        loop = self._loop
        if self._inbox is None or loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._enqueue(channel, data)
        else:  # a publisher on another thread's loop: hand over safely
            loop.call_soon_threadsafe(self._enqueue, channel, data)

    def _enqueue(self, channel: str, data: bytes) -> None:
        inbox = self._inbox
        if inbox is None:
            return
        try:
            inbox.put_nowait((channel, data))
        except asyncio.QueueFull:
            self._stats.dropped_overflow += 1

    async def _open(self, channels: Collection[str]) -> None:
        self._inbox = asyncio.Queue(self.max_pending)
        self._loop = asyncio.get_running_loop()
        await self._subscribe(channels)

    async def _serve(self) -> None:
        inbox = self._inbox
        assert inbox is not None, "_serve runs only after _open"
        while True:
            channel, data = await inbox.get()
            await self._deliver(channel, data)

    async def _close(self) -> None:
        for channel in self._channels:
            self.hub._remove(channel, self)
        self._channels.clear()
        self._inbox = None
        self._loop = None

    async def _subscribe(self, channels: Collection[str]) -> None:
        for channel in channels:
            self.hub._add(channel, self)
            self._channels.add(channel)

    async def _unsubscribe(self, channels: Collection[str]) -> None:
        for channel in channels:
            self.hub._remove(channel, self)
            self._channels.discard(channel)

    def _send(self, channel: str, data: bytes) -> bool:
        self.hub._publish(channel, data, self)
        return True
