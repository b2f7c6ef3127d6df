"""What the client hands to the application: event messages, and the streams that carry them."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from jupyter_sente.core.events import make_event
from jupyter_sente.exceptions import UsageError
from jupyter_sente.values import VECTOR_TYPES, Keyword

__all__ = ["EventLike", "EventMsg", "EventStream", "Handler", "to_event"]

log = logging.getLogger("jupyter_sente.client")

#: An event as the API takes it: ``[Keyword, data]`` (a wire value), ``("ns/id", data)`` or ``"ns/id"``.
EventLike: TypeAlias = Sequence[Any] | str


@dataclass(frozen=True)
class EventMsg:
    """One event received by the client (a push, or one of Sente's ``chsk/*`` notifications).

    ``event`` is the event as it came, ``[id]`` or ``[id data]``; ``id`` is its id as a
    ``"ns/name"`` string; ``data`` is its data (``None`` for ``[id]``).
    """

    event: Sequence[Any]
    id: str
    data: Any

    @classmethod
    def of(cls, event: Sequence[Any]) -> EventMsg:
        """The message for a valid event."""
        return cls(event, event[0].name, event[1] if len(event) > 1 else None)


#: A handler gets each matching :class:`EventMsg`; it may be a plain or an ``async`` function.
Handler: TypeAlias = Callable[[EventMsg], Awaitable[None] | None]


#: ids already checked by :func:`make_event` (``"ns/name"`` or keyword -> keyword), so that a
#: hot loop of sends does not validate the same id again and again
_checked_ids: dict[str | Keyword, Keyword] = {}
_MAX_CHECKED_IDS = 4096


def to_event(event: EventLike) -> list[Any]:
    """The wire event for an API argument; ``UsageError`` if it is not one (or is a ``chsk/`` id)."""
    if (type(event) is tuple or type(event) is list) and len(event) == 2:
        first = event[0]
        if type(first) is str:  # the usual ("ns/id", data) with an id seen before
            k = _checked_ids.get(first)
            if k is not None:
                return [k, event[1]]
    if (type(event) is tuple or type(event) is list) and 1 <= len(event) <= 2:
        first = event[0]
        k = _checked_ids.get(first) if type(first) is str or isinstance(first, Keyword) else None
        if k is not None:
            return [k, event[1]] if len(event) == 2 else [k]
    if isinstance(event, str):
        return _checked(event, make_event(event))
    if isinstance(event, (*VECTOR_TYPES, tuple)) and 1 <= len(event) <= 2:
        ev_id = event[0]
        if isinstance(ev_id, (str, Keyword)):
            return _checked(ev_id, make_event(ev_id, *event[1:]))
    raise UsageError(
        f"an event is [id] or [id data] with id a keyword or an 'ns/name' str, got {event!r}"
    )


def _checked(ev_id: str | Keyword, event: list[Any]) -> list[Any]:
    if len(_checked_ids) < _MAX_CHECKED_IDS:
        _checked_ids[ev_id] = event[0]
    return event


class EventStream:
    """Received events as an async iterator; it ends when the client closes.

    Like Sente's receive channel it has a sliding buffer: when the reader falls
    ``maxlen`` events behind, the oldest are dropped (and a warning is logged).
    """

    def __init__(self, maxlen: int, unsubscribe: Callable[[EventStream], None]) -> None:
        self._items: deque[EventMsg] = deque(maxlen=maxlen)
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._unsubscribe = unsubscribe
        self.dropped = 0

    def put(self, msg: EventMsg | None) -> None:
        """Deliver ``msg``; ``None`` ends the stream."""
        if msg is None:
            self._ended = True
        else:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
                log.warning("event stream full: dropped the oldest event")
            self._items.append(msg)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        """Stop receiving; what is buffered can still be read."""
        self._unsubscribe(self)
        self.put(None)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> EventMsg:
        while not self._items:
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()
