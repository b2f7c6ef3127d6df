"""Events ``[id]`` / ``[id data]``, Sente's reserved ids and values, and their validation."""

from __future__ import annotations

from typing import Any

from jupyter_sente.exceptions import UsageError
from jupyter_sente.values import VECTOR_TYPES, Keyword, kw

__all__ = [
    "AJAX",
    "ALL_USERS_WITHOUT_UID",
    "CHSK_BAD_EVENT",
    "CHSK_CLOSE",
    "CHSK_CLOSED",
    "CHSK_DUMMY_CB_200",
    "CHSK_ERROR",
    "CHSK_HANDSHAKE",
    "CHSK_RECV",
    "CHSK_STATE",
    "CHSK_TIMEOUT",
    "CHSK_UIDPORT_CLOSE",
    "CHSK_UIDPORT_OPEN",
    "CHSK_WS_PING",
    "CHSK_WS_PONG",
    "NIL_UID",
    "PONG",
    "RESERVED_NAMESPACE",
    "SKIP_CSRF_CHECK",
    "as_event",
    "bad_event",
    "event_data",
    "event_id",
    "is_event",
    "is_event_id",
    "is_reply_error",
    "is_reserved_id",
    "make_event",
]

RESERVED_NAMESPACE = "chsk"

CHSK_HANDSHAKE = kw("chsk/handshake")
CHSK_WS_PING = kw("chsk/ws-ping")
CHSK_WS_PONG = kw("chsk/ws-pong")
CHSK_TIMEOUT = kw("chsk/timeout")
CHSK_DUMMY_CB_200 = kw("chsk/dummy-cb-200")
CHSK_CLOSED = kw("chsk/closed")
CHSK_ERROR = kw("chsk/error")
CHSK_STATE = kw("chsk/state")
CHSK_RECV = kw("chsk/recv")
CHSK_BAD_EVENT = kw("chsk/bad-event")
CHSK_UIDPORT_OPEN = kw("chsk/uidport-open")
CHSK_UIDPORT_CLOSE = kw("chsk/uidport-close")
CHSK_CLOSE = kw("chsk/close")
AJAX = kw("ajax")
NIL_UID = kw("sente/nil-uid")
ALL_USERS_WITHOUT_UID = kw("sente/all-users-without-uid")
SKIP_CSRF_CHECK = kw("sente/skip-CSRF-check")
PONG = "pong"

_REPLY_ERRORS = frozenset((CHSK_CLOSED, CHSK_TIMEOUT, CHSK_ERROR))


def is_event_id(x: Any) -> bool:
    """True for a namespace-qualified keyword such as ``:my-app/req``."""
    if not isinstance(x, Keyword):
        return False
    ns, sep, name = x.name.partition("/")
    return bool(sep and ns and name)


def is_event(x: Any) -> bool:
    """True for a vector of length 1 or 2 whose first element is an event id."""
    return isinstance(x, VECTOR_TYPES) and 1 <= len(x) <= 2 and is_event_id(x[0])


def bad_event(x: Any) -> list[Any]:
    """``[:chsk/bad-event x]``: what an invalid event becomes."""
    return [CHSK_BAD_EVENT, x]


def as_event(x: Any) -> Any:
    """``x`` if it is a valid event, else ``[:chsk/bad-event x]`` (Sente's validation)."""
    return x if is_event(x) else bad_event(x)


def event_id(ev: Any) -> Keyword:
    """The id of a valid event."""
    return ev[0]  # type: ignore[no-any-return,unused-ignore]


def event_data(ev: Any) -> Any:
    """The data of a valid event, ``None`` for ``[id]``."""
    return ev[1] if len(ev) > 1 else None


def is_reserved_id(x: Any) -> bool:
    """True for ids in Sente's reserved ``chsk`` namespace."""
    return isinstance(x, Keyword) and x.name.startswith(RESERVED_NAMESPACE + "/")


def is_reply_error(x: Any) -> bool:
    """Sente's ``cb-error?``: one of ``:chsk/closed``, ``:chsk/timeout``, ``:chsk/error``."""
    return isinstance(x, Keyword) and x in _REPLY_ERRORS


def make_event(ev_id: Keyword | str, *data: Any, allow_reserved: bool = False) -> list[Any]:
    """Build ``[id]`` or ``[id data]``; a str id is ``"ns/name"``. Raises ``UsageError``."""
    k = kw(ev_id) if isinstance(ev_id, str) else ev_id
    if len(data) > 1:
        raise UsageError(f"an event carries at most one data value, got {len(data)}")
    if not is_event_id(k):
        raise UsageError(
            f"event id must be a namespace-qualified keyword like :ns/name, got {ev_id!r}"
        )
    if is_reserved_id(k) and not allow_reserved:
        raise UsageError(f"event id {k} is in Sente's reserved 'chsk' namespace")
    return [k, *data]
