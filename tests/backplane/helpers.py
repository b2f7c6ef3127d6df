"""Waiting for backplane messages and states, with scaled timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from jupyter_sente.backplane import BackplaneMessage

#: Multiply every timed wait by this on slow machines.
TIME_SCALE = float(os.environ.get("SENTE_TEST_TIME_SCALE", "1"))


def seconds(value: float) -> float:
    """``value`` seconds, scaled for slow machines."""
    return value * TIME_SCALE


class Inbox:
    """An ``on_message`` callback that records messages and lets a test wait for them."""

    def __init__(self) -> None:
        self.messages: list[BackplaneMessage] = []
        self._changed = asyncio.Event()

    def __call__(self, msg: BackplaneMessage) -> None:
        self.messages.append(msg)
        self._changed.set()

    def bodies(self) -> list[object]:
        return [m.body for m in self.messages]

    async def wait_for(
        self, done: Callable[[list[BackplaneMessage]], bool], timeout: float = 5.0
    ) -> list[BackplaneMessage]:
        """Wait until ``done(messages)``; fail after ``timeout`` (scaled) seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds(timeout)
        while not done(self.messages):
            self._changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"timed out; received {self.messages!r}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return self.messages

    async def wait_count(self, n: int, timeout: float = 5.0) -> list[BackplaneMessage]:
        return await self.wait_for(lambda ms: len(ms) >= n, timeout)

    async def wait_body(self, body: object, timeout: float = 5.0) -> BackplaneMessage:
        """Wait for a message with this body; that message."""
        await self.wait_for(lambda ms: any(m.body == body for m in ms), timeout)
        return next(m for m in self.messages if m.body == body)


async def until(check: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``check`` (a state with no event to await, e.g. a health counter) until true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds(timeout)
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
