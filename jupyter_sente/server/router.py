"""Server event messages and the router that hands them to handlers by event id."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from jupyter_sente.core.events import is_event_id
from jupyter_sente.exceptions import UsageError
from jupyter_sente.server.channel import Transport
from jupyter_sente.server.request import RequestInfo
from jupyter_sente.values import Keyword, kw

if TYPE_CHECKING:
    from jupyter_sente.server.connections import Connection
    from jupyter_sente.server.server import ChannelSocketServer

__all__ = ["EventMsg", "Handler", "Router"]

log = logging.getLogger("jupyter_sente.server")

Handler: TypeAlias = Callable[["EventMsg"], "Awaitable[Any] | Any"]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class EventMsg:
    """One event from a client (Sente's server event-msg, §4.8).

    ``reply`` is ``None`` unless the client asked for a reply: on a WebSocket it sends
    ``[value cb-id]`` and may be called again; on Ajax the first call answers the POST.
    It returns False when the reply could not be sent (channel gone, already answered).
    ``connection`` is the client's entry (for a POST: its Ajax long-poll entry, if any).
    """

    event: list[Any]
    id: Keyword
    data: Any
    uid: Hashable
    client_id: str
    request: RequestInfo
    transport: Transport
    server: ChannelSocketServer = field(repr=False)
    reply: Callable[[Any], bool] | None = field(default=None, repr=False)
    connection: Connection | None = field(default=None, repr=False)

    @property
    def wants_reply(self) -> bool:
        """True when the client is waiting for a reply."""
        return self.reply is not None


def _event_id(ev_id: Keyword | str) -> Keyword:
    k = kw(ev_id) if isinstance(ev_id, str) else ev_id
    if not is_event_id(k):
        raise UsageError(
            f"an event id is a namespace-qualified keyword like :ns/name, got {ev_id!r}"
        )
    return k


class Router:
    """Handlers by event id plus a default; sync handlers run inline, async ones as tasks.

    A handler's exception is logged with its event and never reaches the server.
    """

    def __init__(self) -> None:
        self._handlers: dict[Keyword, Handler] = {}
        self._default: Handler | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def on(self, ev_id: Keyword | str) -> Callable[[H], H]:
        """Decorator: ``@router.on("my-app/echo")`` handles that event id (replacing any handler)."""
        k = _event_id(ev_id)

        def register(handler: H) -> H:
            self._handlers[k] = handler
            return handler

        return register

    def add(self, ev_id: Keyword | str, handler: Handler) -> None:
        """Handle ``ev_id`` with ``handler`` (replacing any)."""
        self._handlers[_event_id(ev_id)] = handler

    def remove(self, ev_id: Keyword | str) -> None:
        """Stop handling ``ev_id`` (no error if it had no handler)."""
        self._handlers.pop(_event_id(ev_id), None)

    def on_default(self, handler: H) -> H:
        """Decorator: the handler for every event id without its own handler."""
        self._default = handler
        return handler

    def handler_for(self, ev_id: Keyword) -> Handler | None:
        """The handler that would run for ``ev_id``."""
        return self._handlers.get(ev_id, self._default)

    def dispatch(self, msg: EventMsg) -> None:
        """Run the handler for ``msg`` (inline if sync, as a task if it returns an awaitable)."""
        handler = self.handler_for(msg.id)
        if handler is None:
            log.debug("no handler for %s from uid %r", msg.id, msg.uid)
            return
        try:
            result = handler(msg)
        except Exception:
            log.exception("handler for %s failed on event %s", msg.id, _brief(msg.event))
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(lambda t: self._task_done(t, msg))

    def _task_done(self, task: asyncio.Task[Any], msg: EventMsg) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "handler for %s failed on event %s",
                msg.id,
                _brief(msg.event),
                exc_info=(type(exc), exc, exc.__traceback__),
            )

    async def drain(self) -> None:
        """Wait for the async handlers running now."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _brief(x: Any, limit: int = 200) -> str:
    r = repr(x)
    return r if len(r) <= limit else r[: limit - 3] + "..."
