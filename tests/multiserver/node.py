"""One plain Tornado server on a Redis backplane: channel socket, rooms, federation.

Used in the test process, and as a subprocess that a test kills without a goodbye::

    python -m tests.multiserver.node REDIS_URL NAMESPACE SERVER_ID HEARTBEAT_MS

prints ``PORT <n>`` once it serves and the backplane is connected, then runs until killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from jupyter_sente.backplane import RedisBackplane
from jupyter_sente.rooms.attach import attach_rooms
from jupyter_sente.rooms.federation import RoomFederation
from jupyter_sente.server import ChannelSocketServer, RequestInfo, attach_backplane
from jupyter_sente.tornado import listen, make_app

#: Multiply every timed wait by this on slow machines.
SCALE = float(os.environ.get("SENTE_TEST_TIME_SCALE", "1"))

#: Reconnect fast, notice faults within about a second, and stay patient enough that a busy
#: machine does not fake a fault.
FAST = {
    "backoff_factor_ms": 20,
    "backoff_cap_ms": 100,
    "connect_timeout_ms": round(1000 * SCALE),
    "command_timeout_ms": round(1000 * SCALE),
    "ping_interval_ms": 200,
    "ping_timeout_ms": round(1000 * SCALE),
}
#: Grace before a closed WebSocket client is gone (short: tests watch clients go).
GRACE_MS = 100


def uid_param(request: RequestInfo) -> str | None:
    """The uid is the ``uid`` query parameter (a test server trusts its clients)."""
    return request.param("uid")


class Node:
    """A channel-socket server with rooms, attached to a Redis backplane, on a loopback port."""

    def __init__(
        self, redis_url: str, namespace: str, server_id: str, heartbeat_ms: int, **opts: Any
    ) -> None:
        self.name = server_id
        self.server = ChannelSocketServer(
            csrf_token_fn=None,
            user_id_fn=uid_param,
            ms_allow_reconnect_before_close_ws=GRACE_MS,
        )
        self.hub = attach_rooms(self.server)
        backplane = RedisBackplane(
            redis_url, server_id=server_id, namespace=namespace, **FAST | opts
        )
        self.link = attach_backplane(self.server, backplane)
        self.backplane = backplane
        self.federation = RoomFederation(self.hub, self.link, heartbeat_ms=heartbeat_ms)
        self.http, self.port = listen(make_app(self.server, "/chsk"))
        self.url = f"http://127.0.0.1:{self.port}/chsk"

    async def start(self) -> None:
        await self.federation.start()  # starts the link and its backplane

    def subscribed(self, space: str, name: str) -> bool:
        """True once the backplane confirmed its subscription to that channel."""
        return self.backplane.channel(space, name) in self.backplane.health().subscribed

    async def stop(self) -> None:
        await self.federation.stop()
        self.hub.close()
        self.server.close()
        self.http.stop()


async def _main(redis_url: str, namespace: str, server_id: str, heartbeat_ms: int) -> None:
    node = Node(redis_url, namespace, server_id, heartbeat_ms)
    await node.start()
    if not await node.backplane.wait_connected(10 * SCALE):
        raise SystemExit(f"{server_id}: no backplane connection")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"PORT {node.port}", flush=True)
    await stop.wait()
    await node.stop()


if __name__ == "__main__":
    url, ns, sid, hb = sys.argv[1:5]
    asyncio.run(_main(url, ns, sid, int(hb)))
