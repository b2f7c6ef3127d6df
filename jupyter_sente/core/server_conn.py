"""The server's per-client connection state machine, as data (Sente's ``conns_`` entries, §4.6).

One machine per (transport, uid, client-id): a WebSocket client, or an Ajax client whose
long-polls come and go. The channel under it changes (a reconnect or a repoll brings a new
one, with a new conn-id); the machine says when the client counts as connected and when it
is gone::

    HANDSHAKING --open--> OPEN --close--> CLOSED_IN_GRACE --grace-expired--> GONE
         |                 ^ |                  |
         |                 | +--superseded--+   +--reopen--> OPEN
         |                 +----------------+   +--handshake--> CLOSED_IN_GRACE
         +--handshake--> HANDSHAKING            (Ajax client asked again)
         +--grace-expired--> GONE               (handshake answered, never polled)

``OPEN --handshake--> CLOSED_IN_GRACE``: an Ajax client that asks for a handshake again has
given up its held poll; it keeps its place (no uidport noise) while it polls again.

``--replaced--> GONE`` (from any state but GONE): the client opened a channel on the other
transport (a WebSocket, or a held long-poll), which wins; this entry goes at once.
"""

from __future__ import annotations

import enum
from typing import Final

from jupyter_sente.exceptions import TransitionError

__all__ = [
    "COUNTED_STATES",
    "NEW_CHANNEL_EVENT",
    "TRANSITIONS",
    "ConnEvent",
    "ConnState",
    "is_counted",
    "transition",
]


class ConnState(enum.Enum):
    """Where a client connection is."""

    HANDSHAKING = "handshaking"  # handshake sent, no channel yet; not in connected-uids
    OPEN = "open"  # a live channel: an open WebSocket or a held long-poll
    CLOSED_IN_GRACE = "closed-in-grace"  # no channel; waiting for a reconnect or repoll
    GONE = "gone"  # removed; the uid may leave connected-uids


class ConnEvent(enum.Enum):
    """What happened to a client connection."""

    OPEN = "open"  # first channel: WebSocket opened, or first long-poll held
    CLOSE = "close"  # the current channel closed (poll answered, socket closed)
    SUPERSEDED = "superseded"  # a newer channel took over while this one was still open
    REOPEN = "reopen"  # a channel came back within the grace period (reconnect or repoll)
    HANDSHAKE = "handshake"  # an Ajax client asked for a handshake
    GRACE_EXPIRED = "grace-expired"  # the grace period passed without a new channel
    REPLACED = "replaced"  # the client has a channel on the other transport now


_S = ConnState
_E = ConnEvent

TRANSITIONS: Final[dict[tuple[ConnState, ConnEvent], ConnState]] = {
    (_S.HANDSHAKING, _E.OPEN): _S.OPEN,
    (_S.HANDSHAKING, _E.HANDSHAKE): _S.HANDSHAKING,
    (_S.HANDSHAKING, _E.GRACE_EXPIRED): _S.GONE,
    (_S.HANDSHAKING, _E.REPLACED): _S.GONE,
    (_S.OPEN, _E.CLOSE): _S.CLOSED_IN_GRACE,
    (_S.OPEN, _E.SUPERSEDED): _S.OPEN,
    (_S.OPEN, _E.HANDSHAKE): _S.CLOSED_IN_GRACE,
    (_S.OPEN, _E.REPLACED): _S.GONE,
    (_S.CLOSED_IN_GRACE, _E.REOPEN): _S.OPEN,
    (_S.CLOSED_IN_GRACE, _E.HANDSHAKE): _S.CLOSED_IN_GRACE,
    (_S.CLOSED_IN_GRACE, _E.GRACE_EXPIRED): _S.GONE,
    (_S.CLOSED_IN_GRACE, _E.REPLACED): _S.GONE,
}

#: The event a new channel (WebSocket opened, long-poll held) is, by the state it finds.
NEW_CHANNEL_EVENT: Final[dict[ConnState, ConnEvent]] = {
    _S.HANDSHAKING: _E.OPEN,
    _S.OPEN: _E.SUPERSEDED,
    _S.CLOSED_IN_GRACE: _E.REOPEN,
}

#: States in which the client's uid counts in ``connected-uids``.
COUNTED_STATES: Final = frozenset((_S.OPEN, _S.CLOSED_IN_GRACE))


def transition(state: ConnState, event: ConnEvent) -> ConnState:
    """The state after ``event``; ``TransitionError`` (naming both) for a move not in the table."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise TransitionError("server connection", state.value, event.value) from None


def is_counted(state: ConnState) -> bool:
    """True when a client in ``state`` puts its uid in ``connected-uids``."""
    return state in COUNTED_STATES
