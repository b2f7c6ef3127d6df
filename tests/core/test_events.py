"""Event validation and Sente's reserved ids."""

from __future__ import annotations

import edn_format
import pytest

from jupyter_sente.core import events as ev
from jupyter_sente.exceptions import UsageError
from jupyter_sente.values import ImmutableList, Keyword, Symbol, kw


@pytest.mark.parametrize(
    "x",
    [
        [kw("my-app/req")],
        [kw("my-app/req"), {"x": 1}],
        ImmutableList([kw("a/b"), None]),
        [edn_format.Keyword("a.b.c/d-e"), 1],
    ],
)
def test_valid_events_pass_through(x: object) -> None:
    assert ev.is_event(x)
    assert ev.as_event(x) is x


@pytest.mark.parametrize(
    "x",
    [
        [],
        [kw("no-namespace")],
        [kw("a/b"), 1, 2],
        [kw("/b")],
        [kw("a/")],
        ["my-app/req", 1],
        [Symbol("a/b")],
        (kw("a/b"), 1),  # an EDN list, not a vector, as in Sente's (vector? x)
        kw("a/b"),
        None,
        {"a": 1},
    ],
)
def test_invalid_events_become_bad_event(x: object) -> None:
    assert not ev.is_event(x)
    assert ev.as_event(x) == [kw("chsk/bad-event"), x]


def test_reserved_ids_are_the_chsk_namespace() -> None:
    assert ev.is_reserved_id(ev.CHSK_HANDSHAKE)
    assert ev.is_reserved_id(kw("chsk/anything"))
    assert not ev.is_reserved_id(kw("chskx/a"))
    assert not ev.is_reserved_id(kw("sente/nil-uid"))
    assert not ev.is_reserved_id("chsk/handshake")


def test_reply_errors_are_exactly_the_three_reserved_values() -> None:
    assert {k for k in map(kw, ["chsk/closed", "chsk/timeout", "chsk/error"])} == {
        ev.CHSK_CLOSED,
        ev.CHSK_TIMEOUT,
        ev.CHSK_ERROR,
    }
    for k in (ev.CHSK_CLOSED, ev.CHSK_TIMEOUT, ev.CHSK_ERROR):
        assert ev.is_reply_error(k)
    for x in ("chsk/timeout", ev.CHSK_DUMMY_CB_200, None, "pong", kw("chsk/state")):
        assert not ev.is_reply_error(x)


def test_make_event_from_str_id_and_data() -> None:
    assert ev.make_event("chat/post", {"text": "hi"}) == [kw("chat/post"), {"text": "hi"}]
    assert ev.make_event(kw("chat/ping")) == [kw("chat/ping")]


@pytest.mark.parametrize("bad", ["post", "/post", "chat/", ""])
def test_make_event_rejects_unqualified_ids(bad: str) -> None:
    with pytest.raises(UsageError, match="namespace-qualified"):
        ev.make_event(bad)


def test_make_event_guards_the_reserved_namespace() -> None:
    with pytest.raises(UsageError, match="reserved"):
        ev.make_event("chsk/close")
    assert ev.make_event("chsk/close", allow_reserved=True) == [ev.CHSK_CLOSE]


def test_make_event_takes_at_most_one_data_value() -> None:
    with pytest.raises(UsageError, match="at most one"):
        ev.make_event("a/b", 1, 2)


def test_event_accessors() -> None:
    assert ev.event_id([kw("a/b"), 2]) == kw("a/b")
    assert ev.event_data([kw("a/b"), 2]) == 2
    assert ev.event_data([kw("a/b")]) is None


def test_reserved_values_have_sentes_names() -> None:
    names = {
        ev.CHSK_HANDSHAKE: "chsk/handshake",
        ev.CHSK_WS_PING: "chsk/ws-ping",
        ev.CHSK_WS_PONG: "chsk/ws-pong",
        ev.CHSK_TIMEOUT: "chsk/timeout",
        ev.CHSK_DUMMY_CB_200: "chsk/dummy-cb-200",
        ev.CHSK_UIDPORT_OPEN: "chsk/uidport-open",
        ev.CHSK_UIDPORT_CLOSE: "chsk/uidport-close",
        ev.AJAX: "ajax",
        ev.NIL_UID: "sente/nil-uid",
        ev.ALL_USERS_WITHOUT_UID: "sente/all-users-without-uid",
        ev.SKIP_CSRF_CHECK: "sente/skip-CSRF-check",
    }
    for k, name in names.items():
        assert isinstance(k, Keyword)
        assert k.name == name
    assert ev.PONG == "pong"
