"""Fixtures: start real channel-socket servers on loopback ports; stop them after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio

from jupyter_sente.server import ChannelSocketServer
from tests.server.helpers import TEST_OPTIONS, Live


@pytest_asyncio.fixture
async def start() -> AsyncIterator[Callable[..., Live]]:
    """``start(**options)``: a served ``ChannelSocketServer`` (test defaults: no CSRF, uid param)."""
    lives: list[Live] = []

    def start(**options: Any) -> Live:
        live = Live(ChannelSocketServer(**{**TEST_OPTIONS, **options})).start()
        lives.append(live)
        return live

    yield start
    for live in lives:
        await live.stop()
