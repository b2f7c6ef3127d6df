"""The client's connection machine and state map: inputs in, state and notifications out."""

from __future__ import annotations

import itertools

import pytest

from jupyter_sente.core.client_state import (
    CLOSE_REASONS,
    TRANSITIONS,
    ClientConnection,
    ConnInput,
    ConnState,
    closed_state_map,
    initial_state_map,
    state_change,
    transition,
)
from jupyter_sente.exceptions import TransitionError, UsageError


def no_backoff(n: int) -> int:
    raise AssertionError("the first attempt must not ask for a backoff")


def test_every_pair_outside_the_table_is_a_transition_error_naming_state_and_input() -> None:
    for state, event in itertools.product(ConnState, ConnInput):
        if (state, event) in TRANSITIONS:
            assert transition(state, event) is TRANSITIONS[state, event]
            continue
        with pytest.raises(TransitionError) as e:
            transition(state, event)
        assert (e.value.state, e.value.event) == (state.value, event.value)
        assert state.value in str(e.value) and event.value in str(e.value)


def test_disconnect_is_allowed_from_every_state() -> None:
    for state in ConnState:
        assert transition(state, ConnInput.DISCONNECT) is ConnState.DISCONNECTED


def test_initial_state_map_is_sentes() -> None:
    assert initial_state_map("auto", "tok") == {
        "type": "auto",
        "open?": False,
        "ever-opened?": False,
        "csrf-token": "tok",
    }
    with pytest.raises(UsageError):
        initial_state_map("smoke")


def test_closing_an_open_map_records_last_close_and_drops_next_reconnect() -> None:
    m = {"type": "ws", "open?": True, "udt-next-reconnect": 5}
    assert closed_state_map(m, "clean", 10) == {
        "type": "ws",
        "open?": False,
        "last-close": {"udt": 10, "reason": "clean"},
    }


def test_closing_a_closed_map_leaves_last_close_alone() -> None:
    m = {"open?": False, "last-close": {"udt": 1, "reason": "clean"}}
    assert closed_state_map(m, "unexpected", 10) == m


def test_close_reasons_are_sentes_and_others_are_refused() -> None:
    assert set(CLOSE_REASONS) == {
        "clean",
        "unexpected",
        "requested-disconnect",
        "requested-reconnect",
        "downgrading-ws-to-ajax",
        "ws-ping-timeout",
        "ws-error",
    }
    with pytest.raises(UsageError):
        closed_state_map({"open?": True}, "tired", 1)


def test_state_change_adds_transient_keys_only_when_open_flips() -> None:
    closed = {"open?": False, "ever-opened?": False}
    opened = {"open?": True, "ever-opened?": True}
    assert state_change(closed, dict(closed)) is None
    first = state_change(closed, opened)
    assert first is not None and first.open_changed
    assert first.new == {**opened, "open-changed?": True, "opened?": True, "first-open?": True}
    again = state_change({"open?": False, "ever-opened?": True}, opened)
    assert again is not None and "first-open?" not in again.new
    close = state_change(opened, {"open?": False, "ever-opened?": True})
    assert close is not None
    assert close.new == {
        "open?": False,
        "ever-opened?": True,
        "open-changed?": True,
        "closed?": True,
    }
    quiet = state_change(closed, {**closed, "last-ws-error": {"udt": 1}})
    assert quiet is not None and not quiet.open_changed and "open-changed?" not in quiet.new


def test_handshake_opens_and_reports_first_handshake_once() -> None:
    c = ClientConnection("auto")
    c.connect()
    assert c.state is ConnState.CONNECTING and c.take_changes() == []
    assert c.handshake("ws", "alice", {"hd": 1}) == ["alice", None, {"hd": 1}, True]
    assert c.is_open
    assert c.map == {
        "type": "ws",
        "open?": True,
        "ever-opened?": True,
        "csrf-token": None,
        "uid": "alice",
        "handshake-data": {"hd": 1},
    }
    (change,) = c.take_changes()
    assert change.new["first-open?"] is True
    assert c.lost("unexpected", 100, no_backoff) == 0
    c.retry()
    assert c.handshake("ws", "alice", None) == ["alice", None, None, False]


def test_first_retry_is_immediate_then_backoff_with_udt_next_reconnect() -> None:
    c = ClientConnection("ws")
    c.connect()
    c.handshake("ws", "u", None)
    c.take_changes()
    assert c.lost("clean", 1_000, no_backoff) == 0
    closed = c.take_changes()
    assert [ch.new["last-close"] for ch in closed] == [{"udt": 1_000, "reason": "clean"}]
    c.retry()
    asked: list[int] = []

    def backoff(n: int) -> int:
        asked.append(n)
        return 2_500

    assert c.lost("unexpected", 2_000, backoff) == 2_500
    assert asked == [2]
    assert c.map["udt-next-reconnect"] == 4_500
    assert c.map["last-close"]["reason"] == "clean"  # not open when lost again: kept
    c.retry()
    assert c.lost("unexpected", 3_000, lambda n: n * 1_000) == 3_000
    c.retry()
    c.handshake("ws", "u", None)
    assert "udt-next-reconnect" not in c.map and c.attempt == 0


def test_ws_close_is_recorded_with_the_close() -> None:
    c = ClientConnection("ws")
    c.connect()
    c.handshake("ws", "u", None)
    c.take_changes()
    close = {"udt": 5, "code": 1006, "reason": "", "clean?": False}
    c.lost("unexpected", 5, no_backoff, ws_close=close)
    (change,) = c.take_changes()
    assert change.new["last-ws-close"] == close and change.new["closed?"] is True


def test_restart_closes_and_resets_the_counter_without_waiting() -> None:
    c = ClientConnection("ws")
    c.connect()
    c.handshake("ws", "u", None)
    c.restart("ws-ping-timeout", 7)
    assert c.state is ConnState.CONNECTING and c.attempt == 0
    assert c.map["last-close"] == {"udt": 7, "reason": "ws-ping-timeout"}


def test_downgrade_keeps_type_auto_until_the_ajax_handshake() -> None:
    c = ClientConnection("auto")
    c.connect(fresh_transport=True)
    c.ws_error(3, "refused")
    c.downgrade(4)
    assert c.map["type"] == "auto" and c.map["last-ws-error"] == {"udt": 3, "ex": "refused"}
    assert "last-close" not in c.map  # never open: no last-close
    assert c.handshake("ajax", "u", None)[3] is True
    assert c.map["type"] == "ajax"


def test_an_auto_reconnect_makes_the_next_handshake_first_again() -> None:
    c = ClientConnection("auto")
    c.connect(fresh_transport=True)
    c.handshake("ws", "u", None)
    c.disconnect("requested-reconnect", 9)
    c.connect(fresh_transport=True)
    assert c.handshake("ws", "u", None)[3] is True  # Sente quirk §7.3.2
    changes = c.take_changes()
    assert "first-open?" not in changes[-1].new  # ... while the state's first-open? is not


def test_polled_opens_without_a_handshake_and_resets_the_counter() -> None:
    c = ClientConnection("ajax")
    c.connect()
    c.polled()
    assert c.is_open and c.map["open?"] is True and "uid" not in c.map


def test_illegal_moves_raise_transition_errors() -> None:
    c = ClientConnection()
    with pytest.raises(TransitionError):
        c.handshake("ws", "u", None)  # not connecting
    c.connect()
    with pytest.raises(TransitionError):
        c.retry()  # not waiting
    with pytest.raises(UsageError):
        c.handshake("carrier-pigeon", "u", None)
