"""The seam between the server and a host's transports, and the Ajax exchanges the server answers.

A host (Tornado, jupyter_server) implements :class:`ServerChannel` for a WebSocket; the
server implements it itself for a held long-poll (:class:`AjaxPoll`), since answering a poll
is just resolving a future that the host awaits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal, Protocol, TypeAlias

from jupyter_sente.server.request import HttpResponse

__all__ = [
    "CONTENT_TYPE",
    "AjaxPoll",
    "HttpExchange",
    "ServerChannel",
    "Transport",
]

Transport: TypeAlias = Literal["ws", "ajax"]

#: Content type of packed envelopes in Ajax responses (Sente's client ignores it).
CONTENT_TYPE = "text/plain; charset=utf-8"


class ServerChannel(Protocol):
    """One live transport to one client: an open WebSocket or a held long-poll.

    ``send`` takes the UTF-8 bytes of one packed message (a text frame, or a poll's body) and
    returns False when the channel is no longer open. ``buffered_amount`` is what ``send`` has
    accepted but the socket has not yet taken: the server closes a channel whose backlog grows
    past ``max_send_queue_bytes``. ``abort`` drops the connection at once, without a close
    handshake (for a peer that stopped reading).
    """

    @property
    def is_open(self) -> bool: ...

    @property
    def buffered_amount(self) -> int: ...

    def send(self, data: bytes) -> bool: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...

    def abort(self) -> None: ...


class HttpExchange:
    """One Ajax request's answer; the host awaits ``response`` and writes it.

    A ``None`` response means: drop the connection without answering (Sente closes the
    channel on ``[:chsk/close]``). Only the first answer counts.
    """

    def __init__(self, response: HttpResponse | None = None) -> None:
        self.response: asyncio.Future[HttpResponse | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._on_done: Callable[[HttpExchange], None] | None = None
        if response is not None:
            self.response.set_result(response)

    @property
    def done(self) -> bool:
        """True once answered (or aborted)."""
        return self.response.done()

    def answer(self, response: HttpResponse | None) -> bool:
        """Resolve with ``response``; False if already answered."""
        if self.response.done():
            return False
        self.response.set_result(response)
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done(self)
        return True

    def abort(self) -> None:
        """The host's call when the client went away before the answer."""
        self.answer(None)


class AjaxPoll(HttpExchange):
    """A held long-poll as a :class:`ServerChannel`: the first send answers it and closes it."""

    def __init__(self, on_done: Callable[[HttpExchange], None]) -> None:
        super().__init__()
        self._on_done = on_done

    @property
    def is_open(self) -> bool:
        return not self.done

    @property
    def buffered_amount(self) -> int:
        return 0

    def send(self, data: bytes) -> bool:
        return self.answer(HttpResponse(200, data, {"Content-Type": CONTENT_TYPE}))

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.answer(None)
