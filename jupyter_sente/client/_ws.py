"""A ``websockets`` connection that hands each message to a callback as it arrives.

``websockets`` queues incoming messages for ``recv()``; a channel socket needs no queue: it
dispatches every frame at once (a reply to its waiter, a push to the handlers). Overriding
``process_event`` (the hook ``websockets`` documents for subclasses) saves a task switch and
a queue per message, which is most of what a request costs beyond the bare socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode

__all__ = ["READ_SIZE", "DispatchingConnection"]

#: Bytes read from the socket at a time. asyncio's selector transport reads up to 256 KiB into
#: a new buffer per read; with glibc's allocator a buffer that large is mapped, shrunk and
#: unmapped on every read (three system calls and a page fault per message) unless the
#: allocator's dynamic threshold happens to have grown past it. Below the default threshold
#: (128 KiB) the buffer comes from the heap.
READ_SIZE = 64 * 1024


class DispatchingConnection(ClientConnection):
    """Calls ``on_message(self, data)`` per message and ``on_lost(self)`` when closed.

    ``data`` is the message's bytes, text or binary alike (the packers are text: the
    client decodes it, and drops what is not UTF-8). Both run inside the protocol's
    callbacks: they must not raise (the client's dispatch catches everything) nor block.
    """

    def __init__(
        self,
        *args: Any,
        on_message: Callable[[DispatchingConnection, bytes], None],
        on_lost: Callable[[DispatchingConnection], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._on_message = on_message
        self._on_lost = on_lost
        self._fragments: list[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(getattr(transport, "max_size", None), int):  # asyncio's own transports
            transport.max_size = READ_SIZE  # type: ignore[attr-defined]
        super().connection_made(transport)

    def process_event(self, event: Any) -> None:
        if self.response is None or not isinstance(event, Frame):
            super().process_event(event)  # the handshake response
            return
        opcode = event.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if event.fin:
                data = event.data
                self._on_message(self, data if type(data) is bytes else bytes(data))
            else:
                self._fragments = [bytes(event.data)]
        elif opcode is Opcode.CONT and self._fragments is not None:
            self._fragments.append(bytes(event.data))
            if event.fin:
                data = b"".join(self._fragments)
                self._fragments = None
                self._on_message(self, data)
        else:
            super().process_event(event)  # control frames: pongs for websockets' own pings

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._on_lost(self)
