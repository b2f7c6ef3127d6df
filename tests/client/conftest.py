"""Fixtures for the client's tests: the stub server, fast timings, an event recorder."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from jupyter_sente.client import ClientTiming, EventMsg
from tests.client.stub_server import StubServer

#: Waits are in these units, scaled for slow machines by SENTE_TEST_TIME_SCALE.
SCALE = float(os.environ.get("SENTE_TEST_TIME_SCALE", "1"))
S = 1.0 * SCALE  # one second
MS = S / 1000


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


class Recorder:
    """Collects every event a client emits; tests await conditions on what it saw."""

    def __init__(self) -> None:
        self.msgs: list[EventMsg] = []
        self._changed = asyncio.Event()

    def __call__(self, msg: EventMsg) -> None:
        self.msgs.append(msg)
        self._changed.set()

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
        async def until() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

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
