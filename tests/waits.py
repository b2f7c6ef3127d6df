"""Waiting in tests: time units scaled for slow machines, and conditions awaited as things change."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Generic, TypeVar

#: Waits are in these units, scaled for slow machines by SENTE_TEST_TIME_SCALE.
SCALE = float(os.environ.get("SENTE_TEST_TIME_SCALE", "1"))
S = 1.0 * SCALE  # one second
MS = S / 1000

T = TypeVar("T")
M = TypeVar("M")


class Changes:
    """Something tests watch: ``poke()`` when it changes; ``until(predicate)`` waits for a state."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def poke(self) -> None:
        """Something changed: waiters check their condition again."""
        self._changed.set()

    async def until(self, predicate: Callable[[], T], timeout: float = 5 * S) -> T:
        """Wait until ``predicate()`` is truthy, checked again on every change; its value."""

        async def loop() -> T:
            while not (value := predicate()):
                self._changed.clear()
                await self._changed.wait()
            return value

        return await asyncio.wait_for(loop(), timeout)


class Recorder(Changes, Generic[M]):
    """A handler that keeps every message it is called with, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.msgs: list[M] = []

    def __call__(self, msg: M) -> None:
        self.msgs.append(msg)
        self.poke()
