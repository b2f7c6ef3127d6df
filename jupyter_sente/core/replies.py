"""The pending-reply table: requests waiting for ``[reply cb-id]``, with deadlines passed in."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from jupyter_sente.core.envelope import make_cb_id
from jupyter_sente.core.events import CHSK_CLOSED, CHSK_ERROR, CHSK_TIMEOUT
from jupyter_sente.exceptions import (
    ReplyClosed,
    ReplyError,
    ReplyFailed,
    ReplyTimeout,
    UsageError,
)
from jupyter_sente.values import Keyword

__all__ = ["PendingReplies", "reply_error"]

T = TypeVar("T")

_ERRORS: dict[Keyword, type[ReplyError]] = {
    CHSK_TIMEOUT: ReplyTimeout,
    CHSK_CLOSED: ReplyClosed,
    CHSK_ERROR: ReplyFailed,
}


def reply_error(value: Any, what: str = "request") -> ReplyError | None:
    """The exception for a reserved reply value (``:chsk/timeout`` ...), ``None`` for a real reply."""
    if not isinstance(value, Keyword):
        return None
    cls = _ERRORS.get(value)
    if cls is None:
        return None
    return cls(f"{what} ended with {value}")


class PendingReplies(Generic[T]):
    """cb-id -> ``(deadline, token)``; each entry resolves at most once.

    ``token`` is whatever the host needs back (a future, a callback). Every method returns the
    ``(token, value)`` pairs to deliver, so the host decides how and where to call them.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, T]] = {}
        self._deadlines: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, cb_id: object) -> bool:
        return cb_id in self._entries

    def new_cb_id(self, random_bits: Callable[[], int]) -> str:
        """A 6-hex cb-id not already pending, from the caller's source of 24-bit randoms."""
        for _ in range(64):
            cb_id = make_cb_id(random_bits())
            if cb_id not in self._entries:
                return cb_id
        raise UsageError("no free cb-id: too many pending requests")

    def add(self, cb_id: str, deadline: float, token: T) -> None:
        """Wait for a reply to ``cb_id`` until ``deadline``."""
        if cb_id in self._entries:
            raise UsageError(f"cb-id {cb_id!r} is already pending")
        self._entries[cb_id] = (deadline, token)
        heapq.heappush(self._deadlines, (deadline, cb_id))

    def resolve(self, cb_id: Any, value: Any) -> tuple[T, Any] | None:
        """The waiter for ``cb_id`` and its value, or ``None`` for an unknown or spent cb-id."""
        entry = self._entries.pop(cb_id, None) if isinstance(cb_id, str) else None
        return None if entry is None else (entry[1], value)

    def expire(self, now: float) -> list[tuple[T, Any]]:
        """Every waiter whose deadline is ``<= now``, with ``:chsk/timeout``."""
        due: list[tuple[T, Any]] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, cb_id = heapq.heappop(self._deadlines)
            entry = self._entries.get(cb_id)
            if entry is not None and entry[0] == deadline:
                del self._entries[cb_id]
                due.append((entry[1], CHSK_TIMEOUT))
        return due

    def close_all(self, value: Keyword = CHSK_CLOSED) -> list[tuple[T, Any]]:
        """Every waiter, with ``value`` (``:chsk/closed`` by default): the channel went away."""
        out = [(token, value) for _, token in self._entries.values()]
        self._entries.clear()
        self._deadlines.clear()
        return out

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, for the host's timer."""
        while self._deadlines:
            deadline, cb_id = self._deadlines[0]
            entry = self._entries.get(cb_id)
            if entry is not None and entry[0] == deadline:
                return deadline
            heapq.heappop(self._deadlines)
        return None
