"""The server's per-client connection state machine, as a table."""

from __future__ import annotations

import pytest

from jupyter_sente.core.server_conn import (
    NEW_CHANNEL_EVENT,
    TRANSITIONS,
    ConnEvent,
    ConnState,
    is_counted,
    transition,
)
from jupyter_sente.exceptions import TransitionError

S, E = ConnState, ConnEvent


def run(*events: ConnEvent, start: ConnState = S.HANDSHAKING) -> ConnState:
    state = start
    for event in events:
        state = transition(state, event)
    return state


def test_ws_client_opens_closes_and_is_gone_after_the_grace_period() -> None:
    assert run(E.OPEN) is S.OPEN
    assert run(E.OPEN, E.CLOSE) is S.CLOSED_IN_GRACE
    assert run(E.OPEN, E.CLOSE, E.GRACE_EXPIRED) is S.GONE


def test_ajax_client_repolls_within_the_grace_period() -> None:
    assert run(E.OPEN, E.CLOSE, E.REOPEN, E.CLOSE, E.REOPEN) is S.OPEN


def test_a_newer_channel_supersedes_an_open_one() -> None:
    assert run(E.OPEN, E.SUPERSEDED, E.SUPERSEDED) is S.OPEN


def test_handshake_without_a_poll_expires_quietly() -> None:
    assert run(E.HANDSHAKE, E.GRACE_EXPIRED) is S.GONE
    assert not is_counted(S.HANDSHAKING)


def test_asking_for_a_handshake_again_gives_up_the_held_poll() -> None:
    assert run(E.OPEN, E.HANDSHAKE) is S.CLOSED_IN_GRACE
    assert run(E.OPEN, E.CLOSE, E.HANDSHAKE, E.REOPEN) is S.OPEN


def test_a_channel_on_the_other_transport_replaces_the_entry_in_any_live_state() -> None:
    assert run(E.REPLACED) is S.GONE
    assert run(E.OPEN, E.REPLACED) is S.GONE
    assert run(E.OPEN, E.CLOSE, E.REPLACED) is S.GONE


def test_only_clients_with_a_channel_or_in_grace_count() -> None:
    assert {s for s in S if is_counted(s)} == {S.OPEN, S.CLOSED_IN_GRACE}


def test_new_channel_event_is_legal_in_every_state_that_has_one() -> None:
    for state, event in NEW_CHANNEL_EVENT.items():
        assert transition(state, event) is S.OPEN
    assert S.GONE not in NEW_CHANNEL_EVENT


@pytest.mark.parametrize(
    ("state", "event"),
    [(s, e) for s in S for e in E if (s, e) not in TRANSITIONS],
)
def test_every_move_not_in_the_table_is_a_transition_error(
    state: ConnState, event: ConnEvent
) -> None:
    with pytest.raises(TransitionError) as err:
        transition(state, event)
    assert (err.value.state, err.value.event) == (state.value, event.value)
    assert state.value in str(err.value) and event.value in str(err.value)


def test_gone_is_final() -> None:
    assert not [e for (s, e) in TRANSITIONS if s is S.GONE]
