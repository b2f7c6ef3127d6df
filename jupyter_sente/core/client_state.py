"""The client's connection state machine and Sente's client state map, without I/O.

Two views of one connection:

* the **machine** (:class:`ConnState`, :data:`TRANSITIONS`, :func:`transition`): where the
  connection is in its life, with the moves allowed between states as a table;
* the **state map** (Sente's ``state`` atom, §5.6): a plain dict with Sente's keys that the
  application reads, and whose every change is announced as ``[old new open-changed?]``.

:class:`ClientConnection` keeps both in step, plus the reconnect counter. Times (``udt``, Unix
ms) are passed in; the backoff is a function passed in; nothing here reads a clock.

::

    IDLE ─connect─▶ CONNECTING ─handshake, polled─▶ OPEN ─lost─▶ RETRY_WAIT ─retry─▶ CONNECTING
                    CONNECTING ─lost─▶ RETRY_WAIT       OPEN ─restart─▶ CONNECTING
                    CONNECTING ─restart, downgrade─▶ CONNECTING
    (any) ─disconnect─▶ DISCONNECTED ─connect─▶ CONNECTING
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from jupyter_sente.exceptions import TransitionError, UsageError

__all__ = [
    "CLIENT_TYPES",
    "CLOSE_REASONS",
    "TRANSITIONS",
    "TRANSPORTS",
    "ClientConnection",
    "ConnInput",
    "ConnState",
    "StateChange",
    "closed_state_map",
    "initial_state_map",
    "state_change",
    "transition",
]

#: ``type`` option values; the state map's ``type`` is ``auto`` until the first handshake.
CLIENT_TYPES = ("auto", "ws", "ajax")
#: The transports a handshake can arrive on.
TRANSPORTS = ("ws", "ajax")
#: ``last-close`` reasons, as Sente names them (``:clean`` ... without the colon).
CLOSE_REASONS = (
    "clean",
    "unexpected",
    "requested-disconnect",
    "requested-reconnect",
    "downgrading-ws-to-ajax",
    "ws-ping-timeout",
    "ws-error",
)


class ConnState(enum.Enum):
    """Where a client connection is in its life."""

    IDLE = "idle"  # constructed, never asked to connect
    CONNECTING = "connecting"  # a socket or a handshake poll is under way, no handshake yet
    OPEN = "open"  # a handshake arrived (Sente's ``open? true``)
    RETRY_WAIT = "retry-wait"  # the connection was lost; the next attempt is scheduled
    DISCONNECTED = "disconnected"  # the application disconnected; no attempt until it connects


class ConnInput(enum.Enum):
    """What can happen to a client connection."""

    CONNECT = "connect"  # the application (re)connects: the retry counter restarts
    HANDSHAKE = "handshake"  # ``[:chsk/handshake ...]`` arrived on the current socket or poll
    POLLED = "polled"  # an Ajax poll succeeded (Sente sets ``open? true`` on each)
    LOST = "lost"  # the socket closed or failed, or a poll or POST failed
    RETRY = "retry"  # the backoff wait is over
    RESTART = (
        "restart"  # the client drops the socket and reconnects at once (ping timeout, send error)
    )
    DOWNGRADE = "downgrade"  # ``auto``: the WebSocket failed before any handshake, switch to Ajax
    DISCONNECT = "disconnect"  # the application disconnected


_S, _I = ConnState, ConnInput

#: (state, input) -> next state; any pair not here is a :class:`TransitionError`.
TRANSITIONS: Mapping[tuple[ConnState, ConnInput], ConnState] = {
    (_S.IDLE, _I.CONNECT): _S.CONNECTING,
    (_S.IDLE, _I.DISCONNECT): _S.DISCONNECTED,
    (_S.CONNECTING, _I.HANDSHAKE): _S.OPEN,
    (_S.CONNECTING, _I.POLLED): _S.OPEN,
    (_S.CONNECTING, _I.LOST): _S.RETRY_WAIT,
    (_S.CONNECTING, _I.RESTART): _S.CONNECTING,
    (_S.CONNECTING, _I.DOWNGRADE): _S.CONNECTING,
    (_S.CONNECTING, _I.DISCONNECT): _S.DISCONNECTED,
    (_S.OPEN, _I.HANDSHAKE): _S.OPEN,
    (_S.OPEN, _I.POLLED): _S.OPEN,
    (_S.OPEN, _I.LOST): _S.RETRY_WAIT,
    (_S.OPEN, _I.RESTART): _S.CONNECTING,
    (_S.OPEN, _I.DISCONNECT): _S.DISCONNECTED,
    (_S.RETRY_WAIT, _I.RETRY): _S.CONNECTING,
    (_S.RETRY_WAIT, _I.DISCONNECT): _S.DISCONNECTED,
    (_S.DISCONNECTED, _I.CONNECT): _S.CONNECTING,
    (_S.DISCONNECTED, _I.DISCONNECT): _S.DISCONNECTED,
}


def transition(state: ConnState, event: ConnInput) -> ConnState:
    """The state after ``event`` in ``state``; ``TransitionError`` if the table has no such move."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise TransitionError("client connection", state.value, event.value) from None


# -- the state map -------------------------------------------------------------------------------


def initial_state_map(type: str = "auto", csrf_token: Any = None) -> dict[str, Any]:
    """Sente's initial state: ``{type, open? false, ever-opened? false, csrf-token}``."""
    if type not in CLIENT_TYPES:
        raise UsageError(f"client type must be one of {', '.join(CLIENT_TYPES)}, got {type!r}")
    return {"type": type, "open?": False, "ever-opened?": False, "csrf-token": csrf_token}


def closed_state_map(m: Mapping[str, Any], reason: str, udt: int) -> dict[str, Any]:
    """Sente's ``chsk-state->closed``: not open, no next reconnect; ``last-close`` only if it was open."""
    if reason not in CLOSE_REASONS:
        raise UsageError(f"close reason must be one of {', '.join(CLOSE_REASONS)}, got {reason!r}")
    new = {k: v for k, v in m.items() if k != "udt-next-reconnect"}
    new["open?"] = False
    if m.get("open?"):
        new["last-close"] = {"udt": udt, "reason": reason}
    return new


class StateChange(NamedTuple):
    """The data of ``[:chsk/state [old new open-changed?]]``."""

    old: Mapping[str, Any]
    new: Mapping[str, Any]
    open_changed: bool


def state_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> StateChange | None:
    """The ``:chsk/state`` notification for ``old -> new``, ``None`` when nothing changed.

    When ``open?`` flipped, ``new`` carries Sente's transient keys (only those that are true):
    ``open-changed?``, ``opened?`` or ``closed?``, and ``first-open?`` on the first open ever.
    """
    if old == new:
        return None
    old_open, new_open = bool(old.get("open?")), bool(new.get("open?"))
    if old_open == new_open:
        return StateChange(old, new, False)
    shown = dict(new)
    shown["open-changed?"] = True
    if new_open:
        shown["opened?"] = True
        if not old.get("ever-opened?"):
            shown["first-open?"] = True
    else:
        shown["closed?"] = True
    return StateChange(old, shown, True)


# -- the connection ------------------------------------------------------------------------------


class ClientConnection:
    """A client connection's machine state, Sente's state map and its reconnect counter.

    Each method applies one input; the state-map changes it made are appended to
    :attr:`changes` (drain them with :meth:`take_changes`), one per change, as Sente emits
    one ``:chsk/state`` per swap of its atom.
    """

    def __init__(self, type: str = "auto", csrf_token: Any = None) -> None:
        self.type = type
        self.state = ConnState.IDLE
        self.map: dict[str, Any] = initial_state_map(type, csrf_token)
        #: reconnect attempts since the last success or (re)connect, counted from 1
        self.attempt = 0
        #: whether the current transport implementation ever completed a handshake
        self.transport_opened = False
        self.changes: list[StateChange] = []

    @property
    def is_open(self) -> bool:
        """True between a handshake and the next close."""
        return self.state is ConnState.OPEN

    def take_changes(self) -> list[StateChange]:
        """The state-map changes made since the last call, oldest first."""
        out, self.changes = self.changes, []
        return out

    def _move(self, event: ConnInput) -> None:
        self.state = transition(self.state, event)

    def _swap(self, new: dict[str, Any]) -> None:
        change = state_change(self.map, new)
        if change is not None:
            self.map = new
            self.changes.append(change)

    def connect(self, *, fresh_transport: bool = False) -> None:
        """Start connecting; ``fresh_transport`` makes the next handshake a first one again.

        Sente's ``:auto`` socket builds a new implementation on every connect, so its
        ``:chsk/handshake`` says ``first?`` again after a reconnect (quirk §7.3.2).
        """
        self._move(ConnInput.CONNECT)
        self.attempt = 0
        if fresh_transport:
            self.transport_opened = False

    def handshake(self, transport: str, uid: Any, handshake_data: Any) -> list[Any]:
        """Record a handshake; returns the app's handshake data ``[uid nil hd first-handshake?]``."""
        if transport not in TRANSPORTS:
            raise UsageError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
        self._move(ConnInput.HANDSHAKE)
        self.attempt = 0
        first = not self.transport_opened
        self.transport_opened = True
        new = {k: v for k, v in self.map.items() if k != "udt-next-reconnect"}
        new.update(
            {
                "type": transport,
                "open?": True,
                "ever-opened?": True,
                "uid": uid,
                "handshake-data": handshake_data,
            }
        )
        self._swap(new)
        return [uid, None, handshake_data, first]

    def polled(self) -> None:
        """An Ajax poll succeeded: open, and the retry counter restarts."""
        self._move(ConnInput.POLLED)
        self.attempt = 0
        if not self.map.get("open?"):
            self._swap({**self.map, "open?": True})

    def ws_error(self, udt: int, error: Any) -> None:
        """Record ``last-ws-error {udt ex}`` (no move: a close or downgrade follows)."""
        self._swap({**self.map, "last-ws-error": {"udt": udt, "ex": error}})

    def lost(
        self,
        reason: str,
        udt: int,
        backoff_ms: Callable[[int], int],
        *,
        ws_close: Mapping[str, Any] | None = None,
    ) -> int:
        """The connection went away: close, count the attempt; returns the wait before the next.

        The first attempt after a success is immediate; attempt ``n >= 2`` waits
        ``backoff_ms(n)`` and records ``udt-next-reconnect``. ``ws_close`` is recorded as
        ``last-ws-close`` in the same change, as Sente's ``on-close`` does.
        """
        self._move(ConnInput.LOST)
        new = closed_state_map(self.map, reason, udt)
        if ws_close is not None:
            new["last-ws-close"] = dict(ws_close)
        self._swap(new)
        self.attempt += 1
        if self.attempt == 1:
            return 0
        wait = max(0, int(backoff_ms(self.attempt)))
        self._swap({**self.map, "udt-next-reconnect": udt + wait})
        return wait

    def retry(self) -> None:
        """The backoff wait is over: try again."""
        self._move(ConnInput.RETRY)

    def restart(self, reason: str, udt: int) -> None:
        """Drop the socket and connect again at once (Sente's internal ``chsk-reconnect!``)."""
        self._move(ConnInput.RESTART)
        self._swap(closed_state_map(self.map, reason, udt))
        self.attempt = 0

    def downgrade(self, udt: int) -> None:
        """``auto``: give up the WebSocket for Ajax, for the rest of this connection."""
        self._move(ConnInput.DOWNGRADE)
        self._swap(closed_state_map(self.map, "downgrading-ws-to-ajax", udt))
        self.transport_opened = False

    def disconnect(self, reason: str, udt: int) -> None:
        """The application disconnected (``requested-disconnect`` or ``requested-reconnect``)."""
        self._move(ConnInput.DISCONNECT)
        self._swap(closed_state_map(self.map, reason, udt))
