"""Sente's timing rules as pure functions and small schedulers; times are ms passed in."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from jupyter_sente.exceptions import UsageError

__all__ = [
    "CLIENT_AJAX_TIMEOUT_MS",
    "SEND_RETRY_BACKOFF_MS",
    "BatchWindow",
    "ClientTiming",
    "KeepAlive",
    "KeepAliveAction",
    "ServerTiming",
    "exp_backoff_ms",
    "reconnect_delay_ms",
    "send_retry_delay_ms",
]

#: The Sente client's default XHR timeout; the server's lp-timeout must stay below it.
CLIENT_AJAX_TIMEOUT_MS = 60_000
#: Backoff bases (ms) between attempts to deliver a batch to a client (Sente >= 1.20).
SEND_RETRY_BACKOFF_MS = (90, 180, 360, 720, 720)
#: Sente's backoff has no cap; ours caps reconnect waits at 30 s.
BACKOFF_CAP_MS = 30_000

T = TypeVar("T")


def _positive(name: str, value: int | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise UsageError(f"{name} must be a positive integer of ms, got {value!r}")


@dataclass(frozen=True)
class ServerTiming:
    """The server's timing options, with Sente's names and defaults."""

    ws_kalive_ms: int | None = 25_000
    ws_ping_timeout_ms: int | None = 10_000
    lp_timeout_ms: int = 20_000
    send_buf_ms_ws: int = 30
    send_buf_ms_ajax: int = 100
    ms_allow_reconnect_before_close_ws: int = 2_500
    ms_allow_reconnect_before_close_ajax: int = 5_000

    def __post_init__(self) -> None:
        _positive("ws_kalive_ms", self.ws_kalive_ms, optional=True)
        _positive("ws_ping_timeout_ms", self.ws_ping_timeout_ms, optional=True)
        _positive("lp_timeout_ms", self.lp_timeout_ms)
        if self.lp_timeout_ms >= CLIENT_AJAX_TIMEOUT_MS:
            raise UsageError(":lp-timeout-ms must be < 60000 (the client's default XHR timeout)")
        _positive("send_buf_ms_ws", self.send_buf_ms_ws)
        _positive("send_buf_ms_ajax", self.send_buf_ms_ajax)
        _positive("ms_allow_reconnect_before_close_ws", self.ms_allow_reconnect_before_close_ws)
        _positive("ms_allow_reconnect_before_close_ajax", self.ms_allow_reconnect_before_close_ajax)

    @property
    def ws_kalive_tick_ms(self) -> int | None:
        """Sente halves ws-kalive-ms internally: the keep-alive loop ticks this often."""
        return None if self.ws_kalive_ms is None else self.ws_kalive_ms // 2


@dataclass(frozen=True)
class ClientTiming:
    """The client's timing options, with Sente's names and defaults (and a backoff cap)."""

    ws_kalive_ms: int | None = 20_000
    ws_ping_timeout_ms: int = 5_000
    ajax_timeout_ms: int = CLIENT_AJAX_TIMEOUT_MS
    backoff_cap_ms: int | None = BACKOFF_CAP_MS

    def __post_init__(self) -> None:
        _positive("ws_kalive_ms", self.ws_kalive_ms, optional=True)
        _positive("ws_ping_timeout_ms", self.ws_ping_timeout_ms)
        _positive("ajax_timeout_ms", self.ajax_timeout_ms)
        _positive("backoff_cap_ms", self.backoff_cap_ms, optional=True)

    @property
    def ws_kalive_tick_ms(self) -> int | None:
        """Sente halves ws-kalive-ms internally: the client pings after this much silence."""
        return None if self.ws_kalive_ms is None else self.ws_kalive_ms // 2


def exp_backoff_ms(
    attempt: int, rand: float, *, factor: int = 1000, cap_ms: int | None = BACKOFF_CAP_MS
) -> int:
    """Encore's ``exp-backoff``: uniform in [factor/2 * 2^n, factor * 2^n) for ``rand`` in [0, 1), capped."""
    if not 0.0 <= rand < 1.0:
        raise UsageError(f"rand must be in [0, 1), got {rand!r}")
    b: int = 2 ** min(max(attempt, 0), 36)
    wait = math.floor((b + rand * b) * 0.5 * factor)
    return wait if cap_ms is None else min(wait, cap_ms)


def reconnect_delay_ms(attempt: int, rand: float, *, cap_ms: int | None = BACKOFF_CAP_MS) -> int:
    """Wait before reconnect attempt ``attempt`` (counted from 1): the first is immediate."""
    return 0 if attempt <= 1 else exp_backoff_ms(attempt, rand, cap_ms=cap_ms)


def send_retry_delay_ms(retry: int, rand: float) -> int | None:
    """Wait before delivery retry ``retry`` (0-based) of a batch, ``None`` once all 6 attempts are spent."""
    if retry >= len(SEND_RETRY_BACKOFF_MS):
        return None
    b = SEND_RETRY_BACKOFF_MS[retry]
    return b + math.floor(rand * b)


class KeepAliveAction(enum.Enum):
    """What a keep-alive tick asks the host to do."""

    NONE = "none"  # there was activity; nothing to send
    PING = "ping"  # send a ping
    CLOSE = "close"  # the ping went unanswered: close the connection


class KeepAlive:
    """One connection's keep-alive schedule (Sente's server loop, §4.7; the client's, §5.4).

    Call :meth:`activity` on every frame that counts, and :meth:`tick` when ``deadline`` passes.
    With ``ping_timeout_ms`` set, a ping that sees no activity before the next tick closes the
    connection; with ``None`` (the client, which times its ping through the reply table) a
    silent tick only asks for another ping.
    """

    def __init__(self, now: float, interval_ms: int, ping_timeout_ms: int | None) -> None:
        self.interval_ms = interval_ms
        self.ping_timeout_ms = ping_timeout_ms
        self.last_activity = now
        self.last_check = now
        self.ping_outstanding = False
        self.deadline: float = now + interval_ms

    def activity(self, now: float) -> None:
        """Record traffic that proves the peer is alive."""
        self.last_activity = now

    def tick(self, now: float) -> KeepAliveAction:
        """Decide at ``now`` (>= ``deadline``) and move ``deadline`` on."""
        active = self.last_activity > self.last_check
        self.last_check = now
        if active:
            self.ping_outstanding = False
            self.deadline = now + self.interval_ms
            return KeepAliveAction.NONE
        if self.ping_outstanding:
            return KeepAliveAction.CLOSE
        self.ping_outstanding = self.ping_timeout_ms is not None
        self.deadline = now + (self.ping_timeout_ms or self.interval_ms)
        return KeepAliveAction.PING


class BatchWindow(Generic[T]):
    """Sente's send buffer for one (uid, transport): the first item opens a window of ``window_ms``.

    Equivalent to Sente's per-send flush with ev-uuids: a flush takes everything buffered, and
    the flushes scheduled by later sends of the same window find nothing of theirs left.
    """

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.items: list[T] = []
        self.deadline: float | None = None

    def add(self, item: T, now: float) -> float | None:
        """Buffer ``item``; returns the flush deadline when this item opened a new window."""
        self.items.append(item)
        if self.deadline is None:
            self.deadline = now + self.window_ms
            return self.deadline
        return None

    def take(self) -> list[T]:
        """Everything buffered, in order; the window closes."""
        items, self.items, self.deadline = self.items, [], None
        return items

    def __len__(self) -> int:
        return len(self.items)
