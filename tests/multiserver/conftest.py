"""Several servers sharing one real redis-server; clients on each.

The ``redis_server`` fixture is the backplane tests' own: a redis-server per test on a free
port, which FAILS the test (never skips it) when redis-server is not installed.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio

from jupyter_sente.client import Client, ClientTiming
from tests.backplane.conftest import RedisServer, redis_server
from tests.backplane.helpers import seconds
from tests.multiserver.helpers import Recorded
from tests.multiserver.node import SCALE, Node

__all__ = ["redis_server"]  # a fixture for the tests here

#: Room presence heartbeat of the test servers: others drop a silent server after 3 of them.
HEARTBEAT_MS = round(500 * SCALE)

MakeNodes = Callable[..., Awaitable[list[Node]]]
Connect = Callable[..., Awaitable[Recorded]]


@pytest_asyncio.fixture
async def namespace() -> str:
    return f"t{secrets.token_hex(4)}"


@pytest_asyncio.fixture
async def nodes(redis_server: RedisServer, namespace: str) -> AsyncIterator[MakeNodes]:
    """``await nodes(3)``: servers ``server-a``, ``server-b`` ... on the Redis, started.

    ``opts`` go to the :class:`RedisBackplane` (over the tests' fast reconnect options).
    """
    made: list[Node] = []

    async def make(n: int, heartbeat_ms: int = HEARTBEAT_MS, **opts: Any) -> list[Node]:
        new = [
            Node(
                redis_server.url,
                namespace,
                f"server-{chr(97 + len(made) + i)}",
                heartbeat_ms,
                **opts,
            )
            for i in range(n)
        ]
        made.extend(new)
        for node in new:
            await node.start()
            assert await node.backplane.wait_connected(seconds(5))
        return new

    yield make
    for node in made:
        await node.stop()


@pytest_asyncio.fixture
async def connect() -> AsyncIterator[Connect]:
    """``await connect(node_or_url, uid, client_id)``: an open WebSocket client, recording.

    ``uid`` goes as the query parameter the test nodes read (``None``: none); ``options`` go
    to the :class:`Client` (``headers=`` for a Jupyter server's token).
    """
    made: list[Client] = []

    async def make(where: Node | str, uid: str | None, client_id: str, **options: Any) -> Recorded:
        url = where if isinstance(where, str) else where.url
        client = Client(
            url,
            type="ws",
            params={} if uid is None else {"uid": uid},
            client_id=client_id,
            timing=ClientTiming(backoff_cap_ms=200),
            **options,
        )
        rec = Recorded(client)
        made.append(client)
        await client.start()
        await client.wait_open(seconds(5))
        return rec

    yield make
    for client in made:
        await client.close()
