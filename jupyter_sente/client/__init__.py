"""Sente's channel-socket client for Python: asyncio, plus a thread-backed facade.

::

    async with Client("http://localhost:8888/chsk") as client:      # WebSocket, else Ajax
        client.on("my-app/alert", lambda msg: print(msg.data))
        reply = await client.request(("my-app/echo", {"x": 1}), timeout=5)

    with ThreadedClient("http://localhost:8888/chsk") as client:     # from plain code
        reply = client.request(("my-app/echo", {"x": 1}), timeout=5)

Using it imports neither tornado, jupyter_server nor redis.
"""

from jupyter_sente.client._client import Client, ClientType, connect
from jupyter_sente.client._events import EventLike, EventMsg, EventStream, Handler
from jupyter_sente.client._threaded import BlockingEventStream, ThreadedClient
from jupyter_sente.core.timing import ClientTiming
from jupyter_sente.exceptions import ReplyClosed, ReplyError, ReplyFailed, ReplyTimeout

__all__ = [
    "BlockingEventStream",
    "Client",
    "ClientTiming",
    "ClientType",
    "EventLike",
    "EventMsg",
    "EventStream",
    "Handler",
    "ReplyClosed",
    "ReplyError",
    "ReplyFailed",
    "ReplyTimeout",
    "ThreadedClient",
    "connect",
]
