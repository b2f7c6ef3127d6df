"""The plain-Python view: what cell code writes and reads instead of EDN values."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_sente.core.events import CHSK_HANDSHAKE
from jupyter_sente.exceptions import UsageError
from jupyter_sente.packers import PACKER_NAMES, Packer, get_packer
from jupyter_sente.packers.plain import (
    event_from_plain,
    event_to_plain,
    from_plain,
    is_keyword_name,
    to_plain,
)
from jupyter_sente.values import Char, ImmutableDict, ImmutableList, Symbol, Tagged, kw
from tests.same_value import same_value
from tests.strategies import datetimes, decimals, names

UTC = timezone.utc


def same_plain(a: Any, b: Any) -> bool:
    """Equal, with the same Python types all the way down (list is not tuple, 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if type(a) is Decimal:
        return bool(a.as_tuple() == b.as_tuple())
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same_plain(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        keys = {k: k for k in b}
        return len(a) == len(b) and all(
            k in keys and same_plain(k, keys[k]) and same_plain(v, b[k]) for k, v in a.items()
        )
    if type(a) in (set, frozenset):
        members = {m: m for m in b}
        return len(a) == len(b) and all(m in members and same_plain(m, members[m]) for m in a)
    return bool(a == b)


# ------------------------------------------------------------------------------------------
# wire -> plain


@pytest.mark.parametrize(
    ("wire", "plain"),
    [
        (kw("chat/post"), "chat/post"),
        (kw("text"), "text"),
        (Symbol("ns/sym"), "ns/sym"),
        (Char("c"), "c"),
        ("str", "str"),
        (None, None),
        (1, 1),
        (1.5, 1.5),
        (True, True),
        (ImmutableList([kw("a"), 1]), ["a", 1]),
        ((1, 2), [1, 2]),
        ({kw("text"): "hi", kw("n"): [1, 2]}, {"text": "hi", "n": [1, 2]}),
        (ImmutableDict({kw("user/id"): {kw("x"): 1}}), {"user/id": {"x": 1}}),
        (frozenset({kw("a"), "b", 3}), {"a", "b", 3}),
        ({ImmutableList([1, kw("a")]): "v"}, {(1, "a"): "v"}),
        ({(1, 2): "v"}, {(1, 2): "v"}),
        ({frozenset({kw("a")}): 1}, {frozenset({"a"}): 1}),
        (frozenset({ImmutableList([1, 2]), frozenset({3})}), {(1, 2), frozenset({3})}),
        ({1: kw("one")}, {1: "one"}),
    ],
    ids=repr,
)
def test_to_plain_turns_keywords_into_str_and_collections_into_builtins(
    wire: Any, plain: Any
) -> None:
    assert same_plain(to_plain(wire), plain)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 1, 1, tzinfo=UTC),
        UUID(int=3),
        Decimal("1.50"),
        Tagged("my/tag", [kw("a")]),
        b"bytes stay bytes",
    ],
    ids=repr,
)
def test_to_plain_keeps_other_values_as_they_are(value: Any) -> None:
    assert to_plain(value) is value


def test_a_keyword_key_that_collides_with_a_str_key_keeps_its_wire_form() -> None:
    # whichever comes first on the wire, the str key owns the name "a"
    assert same_plain(to_plain({kw("a"): 1, "a": 2}), {kw("a"): 1, "a": 2})
    assert same_plain(to_plain({"a": 2, kw("a"): 1}), {"a": 2, kw("a"): 1})
    assert same_plain(to_plain({kw("a"): 1, Symbol("a"): 2}), {"a": 1, Symbol("a"): 2})


def test_a_keyword_member_that_collides_with_a_str_member_keeps_its_wire_form() -> None:
    assert same_plain(to_plain(frozenset({kw("a"), "a"})), {kw("a"), "a"})


def test_to_plain_keeps_map_order() -> None:
    plain = to_plain({kw("z"): 1, kw("a"): 2, "m": 3})
    assert list(plain) == ["z", "a", "m"]


# ------------------------------------------------------------------------------------------
# plain -> wire


@pytest.mark.parametrize(
    ("plain", "wire"),
    [
        ({"text": "hi"}, {kw("text"): "hi"}),
        (
            {"user/id": 1, "user-name": 2, "_x?": 3},
            {kw("user/id"): 1, kw("user-name"): 2, kw("_x?"): 3},
        ),
        (
            {"two words": 1, "": 2, "1st": 3, "a/b/c": 4, ":x": 5, "x:": 6},
            {"two words": 1, "": 2, "1st": 3, "a/b/c": 4, ":x": 5, "x:": 6},
        ),
        ({1: "int keys stay"}, {1: "int keys stay"}),
        ({(1, "a"): "tuple key"}, {ImmutableList([1, "a"]): "tuple key"}),
        ({frozenset({"a"}): 1}, {frozenset({"a"}): 1}),
        ([1, (2, 3), ["x"]], [1, [2, 3], ["x"]]),
        ((1, 2), [1, 2]),
        ({"a", (1, 2)}, frozenset({"a", ImmutableList([1, 2])})),
        ("chat/post", "chat/post"),
        ({kw("explicit"): kw("kw")}, {kw("explicit"): kw("kw")}),
        ({"nested": {"deeper": [{"k": None}]}}, {kw("nested"): {kw("deeper"): [{kw("k"): None}]}}),
    ],
    ids=repr,
)
def test_from_plain_keywordizes_keys_and_makes_sequences_vectors(plain: Any, wire: Any) -> None:
    assert same_value(from_plain(plain), wire)


def test_from_plain_keeps_str_values_as_strings() -> None:
    value = from_plain({"status": "ok", "tags": ["a/b", "c"]})
    assert value == {kw("status"): "ok", kw("tags"): ["a/b", "c"]}
    assert all(type(v) is str for v in value[kw("tags")])


def test_from_plain_can_leave_keys_as_strings() -> None:
    assert same_value(
        from_plain({"text": {"inner": 1}}, keywordize_keys=False), {"text": {"inner": 1}}
    )


def test_keys_that_collide_once_keywordized_are_a_usage_error() -> None:
    with pytest.raises(UsageError, match="collide"):
        from_plain({"a": 1, kw("a"): 2})


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "text",
        "chat/post",
        "user-id",
        "x1",
        "_",
        "*earmuffs*",
        "a.b",
        "-x",
        "+",
        ".",
        "é/λ",
        "nil",
        "a:b",
        "a#",
    ],
)
def test_keyword_names(name: str) -> None:
    assert is_keyword_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1x",
        "-1",
        "+2",
        ".3",
        "a b",
        "a/b/c",
        "/a",
        "a/",
        ":a",
        "a:",
        "a::b",
        "#a",
        "a,b",
        "日本 語",
    ],
)
def test_not_keyword_names(name: str) -> None:
    assert not is_keyword_name(name)


# ------------------------------------------------------------------------------------------
# events


def test_event_to_plain_gives_id_and_data() -> None:
    assert event_to_plain([kw("chat/post"), {kw("text"): "hi"}]) == ("chat/post", {"text": "hi"})
    assert event_to_plain(ImmutableList([kw("chat/ping")])) == ("chat/ping", None)


@pytest.mark.parametrize(
    "ev", [[], [kw("no-namespace")], ["chat/post", 1], [kw("a/b"), 1, 2], None]
)
def test_event_to_plain_of_a_non_event_is_a_usage_error(ev: Any) -> None:
    with pytest.raises(UsageError, match="not an event"):
        event_to_plain(ev)


def test_event_from_plain_builds_the_wire_event() -> None:
    assert same_value(
        event_from_plain("chat/post", {"text": "hi"}), [kw("chat/post"), {kw("text"): "hi"}]
    )
    assert same_value(event_from_plain("chat/ping"), [kw("chat/ping")])
    assert same_value(
        event_from_plain("chat/post", {"text": 1}, keywordize_keys=False),
        [kw("chat/post"), {"text": 1}],
    )


@pytest.mark.parametrize(
    "ev_id", ["no-namespace", "chat/", "/post", "chat post/x", "", 42, kw("a/b")]
)
def test_event_from_plain_with_an_invalid_id_is_a_usage_error(ev_id: Any) -> None:
    with pytest.raises(UsageError):
        event_from_plain(ev_id, 1)


def test_event_from_plain_refuses_reserved_ids_unless_allowed() -> None:
    with pytest.raises(UsageError, match="reserved"):
        event_from_plain("chsk/handshake", 1)
    assert event_from_plain("chsk/handshake", allow_reserved=True) == [CHSK_HANDSHAKE]


# ------------------------------------------------------------------------------------------
# round trip through every packer

keyword_keys = names.filter(is_keyword_name)
plain_keys = st.one_of(keyword_keys, st.text(max_size=10), st.integers())
plain_members = st.one_of(
    st.text(max_size=10),
    st.integers(),
    st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=3).map(tuple),
)
plain_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    decimals,
    datetimes,
    st.uuids(),
)
plain_values = st.recursive(
    plain_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(plain_keys, children, max_size=5),
        st.sets(plain_members, max_size=5),
    ),
    max_leaves=25,
)


@pytest.fixture(params=PACKER_NAMES, scope="module")
def packer(request: pytest.FixtureRequest) -> Packer:
    return get_packer(request.param)


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # see test_contract.py
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=plain_values)
def test_plain_values_survive_the_wire(packer: Packer, value: Any) -> None:
    back = to_plain(packer.unpack(packer.pack(from_plain(value))))
    assert same_plain(back, value), (value, back)


@settings(max_examples=100, deadline=None)
@given(
    ev_id=names.filter(lambda n: "/" in n and is_keyword_name(n) and not n.startswith("chsk/")),
    data=plain_values,
)
def test_plain_events_survive_the_wire(packer: Packer, ev_id: str, data: Any) -> None:
    ev = event_from_plain(ev_id, data)
    back = event_to_plain(packer.unpack(packer.pack(ev)))
    assert back[0] == ev_id
    assert same_plain(back[1], data)
