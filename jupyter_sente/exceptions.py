"""The one exception tree of jupyter-sente.

::

    SenteError
    ├── UsageError            the caller misused the API (invalid event to send, bad option)
    │   ├── TransitionError   an illegal move in a connection state machine (names state + event)
    │   └── MessageTooLarge   a backplane message over its ``max_message_bytes`` (names both sizes)
    ├── PackError             a value could not be packed or a text could not be unpacked
    │   ├── EncodeError       pack(): the value has no representation in this packer
    │   └── DecodeError       unpack(): the text is not valid (carries ``position``)
    ├── ProtocolError         the peer broke the protocol (e.g. an envelope that is not [x cb-id])
    └── ReplyError            a request ended without a reply (Sente's reserved callback values)
        ├── ReplyTimeout      ``:chsk/timeout``
        ├── ReplyClosed       ``:chsk/closed``
        └── ReplyFailed       ``:chsk/error``

Garbage from a peer is a ``PackError``/``ProtocolError`` that the server turns into
``[:chsk/bad-event x]`` or a close, never a crash; misuse by the caller is a ``UsageError``.
"""

from __future__ import annotations

__all__ = [
    "DecodeError",
    "EncodeError",
    "MessageTooLarge",
    "PackError",
    "ProtocolError",
    "ReplyClosed",
    "ReplyError",
    "ReplyFailed",
    "ReplyTimeout",
    "SenteError",
    "TransitionError",
    "UsageError",
]


class SenteError(Exception):
    """Base of every error raised by jupyter-sente."""


class UsageError(SenteError, ValueError):
    """The caller used the API in a way it does not allow."""


class TransitionError(UsageError):
    """A state machine was asked for a move its table does not have."""

    def __init__(self, machine: str, state: str, event: str) -> None:
        super().__init__(f"{machine}: no transition from state {state!r} on event {event!r}")
        self.machine = machine
        self.state = state
        self.event = event


class PackError(SenteError, ValueError):
    """A packer could not pack a value or unpack a text (the one error packers raise)."""


class EncodeError(PackError):
    """The value has no representation in this packer."""


class DecodeError(PackError):
    """The text is not valid for this packer; ``position`` is the character offset."""

    def __init__(self, message: str, position: int | None = None) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{message}{where}")
        self.reason = message
        self.position = position


class ProtocolError(SenteError):
    """The peer sent something the Sente protocol does not allow."""


class ReplyError(SenteError):
    """A request ended without a reply; ``value`` is Sente's reserved keyword for why."""

    value_name = "chsk/error"


class ReplyTimeout(ReplyError):
    """No reply before the deadline (``:chsk/timeout``)."""

    value_name = "chsk/timeout"


class ReplyClosed(ReplyError):
    """The channel was closed, or not open, when the request was made (``:chsk/closed``)."""

    value_name = "chsk/closed"


class ReplyFailed(ReplyError):
    """The transport failed while sending or waiting (``:chsk/error``)."""

    value_name = "chsk/error"


class MessageTooLarge(UsageError):
    """A backplane refused a message whose encoded size is over its ``max_message_bytes``."""

    def __init__(self, size: int, limit: int, what: str = "backplane message") -> None:
        super().__init__(f"{what} is {size} bytes encoded, over the limit of {limit} bytes")
        self.size = size
        self.limit = limit
