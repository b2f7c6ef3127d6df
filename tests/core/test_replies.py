"""The pending-reply table: at most once, deadlines passed in."""

from __future__ import annotations

import itertools

import pytest

from jupyter_sente.core.events import CHSK_CLOSED, CHSK_ERROR, CHSK_TIMEOUT
from jupyter_sente.core.replies import PendingReplies, reply_error
from jupyter_sente.exceptions import ReplyClosed, ReplyFailed, ReplyTimeout, UsageError
from jupyter_sente.values import kw


def test_reply_resolves_once() -> None:
    t: PendingReplies[str] = PendingReplies()
    t.add("a1b2c3", deadline=1_000, token="waiter")
    assert "a1b2c3" in t
    assert t.resolve("a1b2c3", {"any": "reply"}) == ("waiter", {"any": "reply"})
    assert t.resolve("a1b2c3", "again") is None
    assert len(t) == 0


def test_unknown_or_non_string_cb_ids_resolve_nothing() -> None:
    t: PendingReplies[str] = PendingReplies()
    assert t.resolve("ffffff", 1) is None
    assert t.resolve(None, 1) is None
    assert t.resolve(kw("ajax"), 1) is None


def test_expire_times_out_only_due_entries_in_deadline_order() -> None:
    t: PendingReplies[str] = PendingReplies()
    t.add("000001", 300, "late")
    t.add("000002", 100, "early")
    t.add("000003", 200, "middle")
    assert t.next_deadline() == 100
    assert t.expire(199) == [("early", CHSK_TIMEOUT)]
    assert t.expire(300) == [("middle", CHSK_TIMEOUT), ("late", CHSK_TIMEOUT)]
    assert t.next_deadline() is None


def test_a_resolved_entry_does_not_time_out_later() -> None:
    t: PendingReplies[int] = PendingReplies()
    t.add("000001", 100, 1)
    t.resolve("000001", "ok")
    assert t.expire(1_000) == []
    assert t.next_deadline() is None


def test_close_all_answers_every_waiter_with_closed() -> None:
    t: PendingReplies[int] = PendingReplies()
    t.add("000001", 100, 1)
    t.add("000002", 200, 2)
    assert sorted(t.close_all()) == [(1, CHSK_CLOSED), (2, CHSK_CLOSED)]
    assert t.close_all(CHSK_ERROR) == []
    assert t.expire(10_000) == []


def test_duplicate_cb_id_is_a_usage_error() -> None:
    t: PendingReplies[int] = PendingReplies()
    t.add("000001", 100, 1)
    with pytest.raises(UsageError, match="already pending"):
        t.add("000001", 200, 2)


def test_new_cb_id_skips_pending_ids() -> None:
    t: PendingReplies[int] = PendingReplies()
    t.add("000001", 100, 1)
    bits = itertools.chain([1, 1, 2])
    assert t.new_cb_id(lambda: next(bits)) == "000002"
    with pytest.raises(UsageError, match="no free cb-id"):
        t.new_cb_id(lambda: 1)


def test_reply_error_maps_reserved_values_to_exceptions() -> None:
    assert isinstance(reply_error(CHSK_TIMEOUT), ReplyTimeout)
    assert isinstance(reply_error(CHSK_CLOSED), ReplyClosed)
    assert isinstance(reply_error(CHSK_ERROR), ReplyFailed)
    assert reply_error("pong") is None
    assert reply_error(kw("chsk/dummy-cb-200")) is None
    assert "chsk/timeout" in str(reply_error(CHSK_TIMEOUT, "echo"))
