"""Envelopes [payload cb-id], cb ids and handshakes."""

from __future__ import annotations

import pytest

from jupyter_sente.core import envelope as env
from jupyter_sente.core.events import AJAX, CHSK_HANDSHAKE, CHSK_WS_PING, NIL_UID
from jupyter_sente.exceptions import ProtocolError, UsageError
from jupyter_sente.values import ImmutableList, kw


def test_envelope_is_always_two_elements() -> None:
    assert env.envelope([kw("a/b")]) == [[kw("a/b")], None]
    assert env.envelope("pong", "a1b2c3") == ["pong", "a1b2c3"]
    assert env.envelope([kw("a/b")], AJAX) == [[kw("a/b")], AJAX]


@pytest.mark.parametrize("cb", ["A1B2C3", "a1b2c", "a1b2c3d", 123, kw("other")])
def test_envelope_rejects_bad_cb_ids(cb: object) -> None:
    with pytest.raises(UsageError, match="cb-id"):
        env.envelope([kw("a/b")], cb)  # type: ignore[arg-type]


def test_open_envelope_reads_current_and_legacy_forms() -> None:
    assert env.open_envelope([[kw("a/b")], "a1b2c3"]) == ([kw("a/b")], "a1b2c3")
    assert env.open_envelope(ImmutableList([kw("chsk/ws-ping"), None])) == (CHSK_WS_PING, None)
    assert env.open_envelope([[kw("a/b")], AJAX]) == ([kw("a/b")], AJAX)
    # Sente >= 1.21 destructures a 1-element [x] to cb-id nil.
    assert env.open_envelope([[kw("a/b")]]) == ([kw("a/b")], None)


@pytest.mark.parametrize("x", [None, [], [1, 2, 3], "text", {"a": 1}, (1, None)])
def test_open_envelope_rejects_non_envelopes(x: object) -> None:
    with pytest.raises(ProtocolError, match="envelope"):
        env.open_envelope(x)


@pytest.mark.parametrize("cb", [1, kw("nope"), [1]])
def test_open_envelope_rejects_bad_cb_ids(cb: object) -> None:
    with pytest.raises(ProtocolError, match="cb-id"):
        env.open_envelope([[kw("a/b")], cb])


def test_cb_ids_are_six_lowercase_hex() -> None:
    assert env.make_cb_id(0) == "000000"
    assert env.make_cb_id(0xA1B2C3) == "a1b2c3"
    assert env.make_cb_id(0x1FFFFFF) == "ffffff"
    assert env.is_ws_cb_id("a1b2c3")
    assert not env.is_ws_cb_id("a1b2c3\n")


def test_handshake_payload_has_three_slots_and_nil_uid() -> None:
    assert env.handshake_payload("alice") == [CHSK_HANDSHAKE, ["alice", None, None]]
    assert env.handshake_payload(None, {"some": "data"}) == [
        CHSK_HANDSHAKE,
        [NIL_UID, None, {"some": "data"}],
    ]


def test_read_handshake_accepts_three_and_older_two_slot_bodies() -> None:
    assert env.read_handshake(env.handshake_payload("alice", 7)) == ("alice", 7)
    assert env.read_handshake([CHSK_HANDSHAKE, ["alice", None]]) == ("alice", None)
    assert env.is_handshake([CHSK_HANDSHAKE])
    assert not env.is_handshake([kw("chsk/other"), []])
    with pytest.raises(ProtocolError):
        env.read_handshake([CHSK_HANDSHAKE, "alice"])
    with pytest.raises(ProtocolError):
        env.read_handshake([kw("a/b"), ["alice", None, None]])


def test_server_ping_is_the_bare_keyword() -> None:
    assert env.is_server_ping(CHSK_WS_PING)
    assert not env.is_server_ping([CHSK_WS_PING])
    assert not env.is_server_ping("chsk/ws-ping")
