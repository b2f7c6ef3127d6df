"""The envelope ``[payload cb-id]`` that carries every message, and what goes in it.

cb-id is ``None`` (no reply wanted), a 6-character hex string (WebSocket request id) or the
keyword ``:ajax`` (Ajax POST that wants its reply in the response body). Legacy 1-element
envelopes ``[x]`` read as cb-id ``None``, as Sente >= 1.21 reads them.
"""

from __future__ import annotations

import re
from typing import Any, TypeAlias

from jupyter_sente.core.events import AJAX, CHSK_HANDSHAKE, CHSK_WS_PING, NIL_UID
from jupyter_sente.exceptions import ProtocolError, UsageError
from jupyter_sente.values import VECTOR_TYPES, Keyword

__all__ = [
    "CbId",
    "envelope",
    "handshake_payload",
    "is_handshake",
    "is_ws_cb_id",
    "make_cb_id",
    "open_envelope",
    "read_handshake",
]

CbId: TypeAlias = "str | Keyword | None"

_CB_ID = re.compile(r"[0-9a-f]{6}\Z")


def is_ws_cb_id(x: Any) -> bool:
    """True for a WebSocket callback id: 6 lowercase hex characters."""
    return isinstance(x, str) and _CB_ID.match(x) is not None


def make_cb_id(random_bits: int) -> str:
    """A 6-hex cb-id from 24 random bits supplied by the caller (the core has no RNG)."""
    return f"{random_bits & 0xFFFFFF:06x}"


def envelope(payload: Any, cb_id: CbId = None) -> list[Any]:
    """``[payload cb-id]``, always two elements."""
    if cb_id is not None and cb_id != AJAX and not is_ws_cb_id(cb_id):
        raise UsageError(f"cb-id must be None, :ajax or 6 hex characters, got {cb_id!r}")
    return [payload, cb_id]


def open_envelope(x: Any) -> tuple[Any, CbId]:
    """Split a received envelope into ``(payload, cb_id)``; raise ``ProtocolError`` if it is not one.

    Accepts ``[x cb-id]`` and the legacy ``[x]``. A cb-id that is neither nil, ``:ajax`` nor a
    string is a protocol error. Strings of another length are accepted as ids (Sente does not
    check them; a reply echoes them back unchanged).
    """
    if not isinstance(x, VECTOR_TYPES) or not 1 <= len(x) <= 2:
        raise ProtocolError(f"an envelope is a vector [payload cb-id], got {_brief(x)}")
    payload = x[0]
    cb_id = x[1] if len(x) == 2 else None
    if cb_id is not None and cb_id != AJAX and not isinstance(cb_id, str):
        raise ProtocolError(f"cb-id must be nil, :ajax or a string, got {_brief(cb_id)}")
    return payload, cb_id


def handshake_payload(uid: Any, handshake_data: Any = None) -> list[Any]:
    """``[:chsk/handshake [uid nil handshake-data]]``; a ``None`` uid goes out as ``:sente/nil-uid``."""
    return [CHSK_HANDSHAKE, [NIL_UID if uid is None else uid, None, handshake_data]]


def is_handshake(payload: Any) -> bool:
    """True for any vector whose first element is ``:chsk/handshake`` (as Sente's client tests)."""
    return isinstance(payload, VECTOR_TYPES) and len(payload) >= 1 and payload[0] == CHSK_HANDSHAKE


def read_handshake(payload: Any) -> tuple[Any, Any]:
    """``(uid, handshake_data)`` from a handshake payload; older 2-element forms read data ``None``."""
    if not is_handshake(payload) or len(payload) != 2:
        raise ProtocolError(f"not a handshake: {_brief(payload)}")
    body = payload[1]
    if not isinstance(body, VECTOR_TYPES) or not 1 <= len(body) <= 3:
        raise ProtocolError(f"handshake body must be [uid nil data], got {_brief(body)}")
    uid = body[0]
    data = body[2] if len(body) == 3 else None
    return uid, data


def is_server_ping(payload: Any) -> bool:
    """True for the server's keep-alive ping: the bare keyword ``:chsk/ws-ping``."""
    return isinstance(payload, Keyword) and payload == CHSK_WS_PING


def _brief(x: Any, limit: int = 80) -> str:
    r = repr(x)
    return r if len(r) <= limit else r[: limit - 3] + "..."
