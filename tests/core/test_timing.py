"""Sente's timing rules, driven by time passed in: no test here sleeps."""

from __future__ import annotations

import math

import pytest

from jupyter_sente.core.timing import (
    SEND_RETRY_BACKOFF_MS,
    BatchWindow,
    ClientTiming,
    KeepAlive,
    KeepAliveAction,
    ServerTiming,
    exp_backoff_ms,
    reconnect_delay_ms,
    send_retry_delay_ms,
)
from jupyter_sente.exceptions import UsageError


def test_server_defaults_are_sentes() -> None:
    t = ServerTiming()
    assert (t.ws_kalive_ms, t.ws_ping_timeout_ms, t.lp_timeout_ms) == (25_000, 10_000, 20_000)
    assert (t.send_buf_ms_ws, t.send_buf_ms_ajax) == (30, 100)
    assert t.ms_allow_reconnect_before_close_ws == 2_500
    assert t.ms_allow_reconnect_before_close_ajax == 5_000
    assert t.ws_kalive_tick_ms == 12_500  # halved internally since Sente 1.21


def test_client_defaults_are_sentes() -> None:
    t = ClientTiming()
    assert (t.ws_kalive_ms, t.ws_ping_timeout_ms, t.ajax_timeout_ms) == (20_000, 5_000, 60_000)
    assert t.ws_kalive_tick_ms == 10_000


def test_lp_timeout_must_stay_below_the_client_xhr_timeout() -> None:
    with pytest.raises(UsageError, match="lp-timeout-ms must be < 60000"):
        ServerTiming(lp_timeout_ms=60_000)
    assert ServerTiming(lp_timeout_ms=59_999).lp_timeout_ms == 59_999


@pytest.mark.parametrize("field", ["send_buf_ms_ws", "send_buf_ms_ajax", "lp_timeout_ms"])
@pytest.mark.parametrize("bad", [0, -1, 1.5, None, True])
def test_timing_options_must_be_positive_integers(field: str, bad: object) -> None:
    with pytest.raises(UsageError, match=field):
        ServerTiming(**{field: bad})  # type: ignore[arg-type]


def test_keep_alive_may_be_disabled() -> None:
    assert ServerTiming(ws_kalive_ms=None).ws_kalive_tick_ms is None
    assert ClientTiming(ws_kalive_ms=None).ws_kalive_tick_ms is None


@pytest.mark.parametrize("n", range(1, 6))
def test_backoff_is_uniform_in_sentes_interval(n: int) -> None:
    lo, hi = 500 * 2**n, 1000 * 2**n
    assert exp_backoff_ms(n, 0.0, cap_ms=None) == lo
    assert lo <= exp_backoff_ms(n, 0.999_999, cap_ms=None) < hi
    assert exp_backoff_ms(n, 0.5, cap_ms=None) == (lo + hi) // 2


def test_backoff_is_capped_at_30_s_by_default() -> None:
    assert exp_backoff_ms(5, 0.0) == 16_000
    assert exp_backoff_ms(6, 0.0) == 30_000
    assert exp_backoff_ms(1000, 0.9) == 30_000
    assert exp_backoff_ms(1000, 0.9, cap_ms=None) == math.floor((2**36 + 0.9 * 2**36) * 500)


def test_backoff_rejects_rand_outside_unit_interval() -> None:
    with pytest.raises(UsageError):
        exp_backoff_ms(2, 1.0)


def test_first_reconnect_is_immediate_then_backoff() -> None:
    assert reconnect_delay_ms(1, 0.7) == 0
    assert reconnect_delay_ms(2, 0.0) == 2_000
    assert 4_000 <= reconnect_delay_ms(3, 0.5) < 8_000


def test_send_retries_make_six_attempts_with_jitter() -> None:
    delays = [send_retry_delay_ms(i, 0.0) for i in range(6)]
    assert delays == [90, 180, 360, 720, 720, None]
    assert [send_retry_delay_ms(i, 0.999) for i in range(5)] == [
        b + int(0.999 * b) for b in SEND_RETRY_BACKOFF_MS
    ]


def test_server_keep_alive_pings_silence_then_closes_if_still_silent() -> None:
    k = KeepAlive(now=0, interval_ms=12_500, ping_timeout_ms=10_000)
    assert k.deadline == 12_500
    assert k.tick(12_500) is KeepAliveAction.PING
    assert k.deadline == 22_500  # waits ws-ping-timeout for the pong
    assert k.tick(22_500) is KeepAliveAction.CLOSE


def test_server_keep_alive_activity_defers_the_ping() -> None:
    k = KeepAlive(now=0, interval_ms=12_500, ping_timeout_ms=10_000)
    k.activity(5_000)
    assert k.tick(12_500) is KeepAliveAction.NONE
    assert k.deadline == 25_000
    assert k.tick(25_000) is KeepAliveAction.PING
    k.activity(26_000)  # the pong
    assert k.tick(35_000) is KeepAliveAction.NONE
    assert not k.ping_outstanding


def test_keep_alive_without_ping_timeout_only_pings_again() -> None:
    k = KeepAlive(now=0, interval_ms=10_000, ping_timeout_ms=None)
    assert k.tick(10_000) is KeepAliveAction.PING
    assert k.deadline == 20_000
    assert k.tick(20_000) is KeepAliveAction.PING


def test_batch_window_opens_on_first_item_and_flushes_everything() -> None:
    w: BatchWindow[str] = BatchWindow(30)
    assert w.add("a", now=100) == 130
    assert w.add("b", now=110) is None  # same window, Sente's later flush finds nothing
    assert len(w) == 2
    assert w.take() == ["a", "b"]
    assert w.deadline is None
    assert w.add("c", now=135) == 165  # a new window
