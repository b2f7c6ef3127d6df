"""The compiled EDN fast paths (``_edn_speedups``) answer exactly as the pure-Python code does.

For any input, their ``read``/``write`` give the pure-Python value or text, or ``edn._MISS``
(then edn.py runs its own code): a packer with them and one without give the same values (of
the same types), texts and errors. They take the common messages without giving up, leak no
references, share edn.py's atom cache, and are safe to call from several threads.

Without the compiled module these tests fail (it is part of the package); with
``JUPYTER_SENTE_PURE_PYTHON=1`` (the compiled paths turned off) the ones that need it skip.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import importlib
import math
import os
import subprocess
import sys
import threading
import tracemalloc
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_sente.core.envelope import envelope, handshake_payload
from jupyter_sente.core.events import AJAX, CHSK_WS_PING, NIL_UID
from jupyter_sente.exceptions import DecodeError, EncodeError
from jupyter_sente.packers import edn
from jupyter_sente.packers.edn import EdnPacker
from jupyter_sente.values import (
    Char,
    FastKeyword,
    ImmutableDict,
    ImmutableList,
    Keyword,
    Symbol,
    Tagged,
    kw,
)
from tests.same_value import same_value
from tests.strategies import edn_values, names

PURE_PYTHON = edn.pure_python_requested()
PURE_PYTHON_REASON = (
    "JUPYTER_SENTE_PURE_PYTHON=1 turns the compiled paths off: nothing to compare them with"
)
ROOT = Path(__file__).resolve().parents[2]

try:
    _module: ModuleType | None = importlib.import_module("jupyter_sente.packers._edn_speedups")
    _import_error = ""
except ImportError as e:
    _module, _import_error = None, str(e)

MISS = edn._MISS
C_MAX_DEPTH: int = getattr(_module, "C_MAX_DEPTH", 200)
DEPTHS = [0, 1, 2, 5, C_MAX_DEPTH - 1, C_MAX_DEPTH, C_MAX_DEPTH + 1, 1000]
SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def compiled() -> ModuleType:
    """The compiled module, importable whatever the environment says (else the test fails)."""
    if _module is None:
        pytest.fail(
            f"the compiled EDN speedups are not built ({_import_error}): build the package "
            "(its build hook compiles jupyter_sente/packers/_edn_speedups.c)"
        )
    return _module


@pytest.fixture(scope="module")
def speedups(compiled: ModuleType) -> ModuleType:
    """The compiled module, in use by edn.py (skips only when the environment turns it off)."""
    if PURE_PYTHON:
        pytest.skip(PURE_PYTHON_REASON)
    assert edn.PACKER.accelerated, "edn.py did not take up the compiled speedups"
    assert EdnPacker().accelerated
    assert not EdnPacker(accelerate=False).accelerated
    return compiled


# ------------------------------------------------------------------------------------------
# Comparing answers


def shape(x: Any) -> Any:
    """The exact Python types of ``x`` all the way down (``same_value`` compares kinds)."""
    t = type(x)
    if t is ImmutableList:
        return (t, type(x._list), tuple(map(shape, x)))
    if t is ImmutableDict:
        return (t, type(x.dict), tuple((shape(k), shape(v)) for k, v in x.items()))
    if t is list or t is tuple:
        return (t, tuple(map(shape, x)))
    if t is frozenset:
        return (t, tuple(sorted(map(shape, x), key=repr)))  # no strings: no escapes nest
    if t is Tagged:
        return (t, x.tag, shape(x.value))
    return t


def same_read(a: Any, b: Any) -> bool:
    """``a`` and ``b`` are the same value read, of exactly the same types."""
    return same_value(a, b) and shape(a) == shape(b)


def read_answer(packer: EdnPacker, text: str | bytes) -> tuple[str, Any]:
    try:
        return "value", packer.unpack(text)
    except DecodeError as e:
        return "error", (str(e), e.position)
    except Exception as e:  # any other exception: the same from both
        return "raised", (type(e), str(e))


def write_answer(packer: EdnPacker, value: Any) -> tuple[str, Any]:
    try:
        return "text", packer.pack(value)
    except Exception as e:  # EncodeError or another: the same from both
        return "raised", (type(e), str(e))


def same_answer(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    if a[0] != b[0]:
        return False
    return same_read(a[1], b[1]) if a[0] == "value" else bool(a[1] == b[1])


def assert_reads_alike(speedups: ModuleType, text: str, max_depth: int = 1000) -> Any:
    """Both packers read ``text`` alike, and the compiled ``read`` gives up or agrees."""
    pure = read_answer(EdnPacker(max_depth=max_depth, accelerate=False), text)
    fast = read_answer(EdnPacker(max_depth=max_depth), text)
    assert same_answer(fast, pure), (text, max_depth, fast, pure)
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        fast_bytes = read_answer(EdnPacker(max_depth=max_depth), text.encode())
        assert same_answer(fast_bytes, pure), (text, max_depth, fast_bytes, pure)
    direct = speedups.read(text, max_depth)
    if direct is not MISS:
        assert pure[0] == "value", (text, max_depth, direct, pure)
        assert same_read(direct, pure[1]), (text, max_depth, direct, pure)
    return direct


def assert_writes_alike(speedups: ModuleType, value: Any, max_depth: int = 1000) -> Any:
    """Both packers write ``value`` alike, and the compiled ``write`` gives up or agrees."""
    pure = write_answer(EdnPacker(max_depth=max_depth, accelerate=False), value)
    fast = write_answer(EdnPacker(max_depth=max_depth), value)
    assert fast == pure, (value, max_depth)
    direct = speedups.write(value, max_depth)
    if direct is not MISS:
        assert pure == ("text", direct), (value, max_depth, direct, pure)
    return direct


# ------------------------------------------------------------------------------------------
# Strategies: the common messages, and texts near and far from valid EDN

_ids = names.map(kw)
_int64 = st.integers(-(2**63), 2**63 - 1)
_common_scalars = st.one_of(
    st.none(),
    st.booleans(),
    _int64,
    st.floats(allow_nan=False, allow_infinity=False),  # ##NaN and ##Inf are tags to the C
    st.text(),
    _ids,
    st.datetimes(timezones=st.just(timezone.utc)),  # #inst
    st.uuids(),  # #uuid
)
_common_keys = st.one_of(_ids, st.text(), _int64)
_common_data = st.recursive(
    _common_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(ImmutableList),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(_common_keys, children, max_size=4),
        st.dictionaries(_common_keys, children, max_size=4).map(ImmutableDict),
        st.frozensets(_common_keys, max_size=4),
    ),
    max_leaves=20,
)
_events = st.builds(lambda i, d: [i, d], _ids, st.dictionaries(_ids, _common_data, max_size=5))
_cb_ids = st.one_of(st.none(), st.just(AJAX), st.from_regex(r"[0-9a-f]{6}", fullmatch=True))
common_messages = st.one_of(
    st.builds(envelope, _events, _cb_ids),
    st.builds(
        lambda uid, data: envelope(handshake_payload(uid, data)),
        st.one_of(st.none(), st.just(NIL_UID), st.text(max_size=10)),
        _common_data,
    ),
    st.builds(envelope, st.lists(_events, min_size=1, max_size=5)),  # a batch of pushes
    st.builds(envelope, st.just(CHSK_WS_PING)),
    _events,
    _common_data,
)
"""Events, envelopes, handshakes and batches of the usual data (the fast paths' whole job)."""

# Characters rich in EDN syntax, non-ASCII text and lone surrogates, to put into texts.
SOUP = [
    *'[]{}()#"\\;:, \n\t\v',
    *"0123456789",
    *"aeEnMNx+-./_",
    *("é", "日", "😀", "\xa0", "\x00", "\x1c", "\ud800", "\udc00"),
]
# Map keys and values, some equal to others in Python or Clojure, for duplicate-key texts.
KEY_FORMS = [
    *(":a", ":b", ":a/b", '"a"', "\\a", "a", "nil", "true", "false"),
    *("1", "1.0", "0", "-0", "0.0", "-0.0", "1N", "1M", "##NaN", "9" * 19),
    *("[1]", "(1)", "[]", "()", "{}", "{:a 1}", "#{1}", "#t 1", "[:a]"),
]


def nest(text: str, openers: list[str]) -> str:
    closers = {"[": "]", "(": ")", "{:k ": "}", "#{": "}", "#t ": "", "#_ 0 ": ""}
    return "".join(openers) + text + "".join(closers[o] for o in reversed(openers))


@st.composite
def texts(draw: st.DrawFn) -> str:
    """A text written by the packer, or a map of KEY_FORMS, then perhaps broken a few ways."""
    kind = draw(st.sampled_from(["value", "message", "map"]))
    if kind == "map":
        text = "{" + " ".join(draw(st.lists(st.sampled_from(KEY_FORMS), max_size=8))) + "}"
    else:
        value = draw(edn_values if kind == "value" else common_messages)
        text = EdnPacker(accelerate=False).pack(value)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["cut", "insert", "delete", "repeat", "nest", "soup"]))
        if how == "cut":
            text = text[:at]
        elif how == "insert":
            text = text[:at] + draw(st.sampled_from(SOUP)) + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + 1 :]
        elif how == "repeat":  # a piece again: duplicate keys and members, two values
            end = draw(st.integers(at, len(text)))
            text = text[:end] + " " + text[at:end] + text[end:]
        elif how == "nest":
            depth = draw(st.sampled_from([1, 2, C_MAX_DEPTH - 1, C_MAX_DEPTH, C_MAX_DEPTH + 1]))
            opener = draw(st.sampled_from(["[", "(", "{:k ", "#{", "#t ", "#_ 0 "]))
            text = nest(text, [opener] * depth if depth > 2 else [opener, "["][:depth])
        else:
            soup = draw(st.lists(st.sampled_from(SOUP), max_size=6))
            text = text[:at] + "".join(soup) + text[at:]
    return text


# ------------------------------------------------------------------------------------------
# Differential: the same answers as pure Python, for anything


def test_the_default_packer_uses_the_compiled_paths(speedups: ModuleType) -> None:
    assert edn.PACKER.accelerated
    assert "accelerate=False" in repr(EdnPacker(accelerate=False))
    assert "accelerate" not in repr(EdnPacker())


@SETTINGS
@given(st.one_of(edn_values, common_messages), st.sampled_from(DEPTHS))
def test_packing_any_value_gives_the_pure_python_text_or_error(
    speedups: ModuleType, value: Any, max_depth: int
) -> None:
    assert_writes_alike(speedups, value, max_depth)
    assert_writes_alike(speedups, envelope([kw("my-app/ev"), {kw("k"): value}], "a1b2c3"))


@SETTINGS
@given(texts(), st.sampled_from(DEPTHS))
def test_unpacking_any_text_gives_the_pure_python_value_or_error(
    speedups: ModuleType, text: str, max_depth: int
) -> None:
    assert_reads_alike(speedups, text, max_depth)


@SETTINGS
@given(st.lists(st.sampled_from(SOUP + KEY_FORMS), max_size=12).map("".join))
def test_unpacking_syntax_soup_gives_the_pure_python_value_or_error(
    speedups: ModuleType, text: str
) -> None:
    assert_reads_alike(speedups, text)
    assert_reads_alike(speedups, "[" + text + "]", 3)


@SETTINGS
@given(common_messages)
def test_the_common_messages_take_the_compiled_paths_both_ways(
    speedups: ModuleType, value: Any
) -> None:
    text = speedups.write(value, 1000)
    assert text is not MISS, value
    assert text == EdnPacker(accelerate=False).pack(value)
    back = speedups.read(text, 1000)
    assert back is not MISS, text
    pure = EdnPacker(accelerate=False).unpack(text)
    assert same_read(back, pure), text
    assert same_value(back, value), text
    assert hash(back) == hash(pure)  # the vectors and maps built in C are whole


# ------------------------------------------------------------------------------------------
# Hostile and edge inputs, one by one

READS = [
    # blank, unterminated, stray
    *("", " ", " ,\n\t\v\f\r", ";", "; only a comment", ";c\n1", "1 ;c", "[1 ; c\n 2]"),
    *("[", "{", "(", "[1 2", "{:a", "[[]", '"abc', '"abc\\"', '"\\', '["a" "b'),
    *("]", "}", ")", "[1]]", "(1]", "[1)", "{:a 1]", "1]"),
    # tags, sets, discards, characters
    *("#", "#t 1", "#t", "[#t]", "#my/t [1]", "#1 2", "#:a{:b 1}", "#{1 2}", "#{1 1}", "#{}"),
    *("#_ 1", "#_", "#_ 1 2", "[#_ 1 2]", "[1 #_ 2]", "[1 #_]", '#inst "2020"', "#inst 1"),
    *('#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"', '#uuid "x"', "#[1]", '#"a"'),
    *("\\a", "[\\a \\b]", "\\", "[\\ ]", "\\space", "\\u0041", "\\ud800", "\\ab", "\\😀"),
    # strings and escapes
    *('"a\\nb"', '"\\t\\r\\n\\\\\\"\\b\\f"', '"\\u00e9"', '"\\u00E9"', '"\\ud83d\\ude00"'),
    *('"\\ud800"', '"\\udc00x"', '"\\q"', '"\\x41"', '"\\101"', '"\\u12"', '"\\u12g4"', '"\\"'),
    *('"a\nb"', '"#"', '";"', '"日本語 😀"', '"\x00"'),
    # numbers
    *("0", "-0", "+0", "00", "01", "-01", "+01", "-", "+", "--1", "+-1", "-a", "+a", "1a"),
    *("1" * 18, "-" + "9" * 18, "9" * 19, "-" + "9" * 19, "1" * 30, "-" + "1" * 30),
    *("9223372036854775807", "9223372036854775808", "-9223372036854775808"),
    *("-9223372036854775809", "1" * 4300, "1" * 4301, "-" + "1" * 4301, f"[{'1' * 4301}]"),
    *("1.", ".5", "-.5", "1e5", "1E5", "1e", "1e+5", "1.5e-3", "-0.0", "1.5M", "1M", "1e5M"),
    *(
        "5N",
        "-5N",
        "1.5N",
        "05N",
        "0x10",
        "2r1",
        "22/7",
        "1e999",
        "-1e999",
        "1e9999999999999999999M",
    ),
    *("##NaN", "##Inf", "##-Inf", "##Foo", "[##NaN ##Inf]", "{##NaN 1 ##NaN 2}"),
    # keywords and symbols
    *(":", "::a", ":a/", ":/", ":a", ":a/b", ":a//", ":1", ":a::b", ":a:", ":é", ":日本"),
    *("a", "a/b", "/", "a//b", "clojure.core//", "/a", "a/", "nil/a", "-a", ".a", ".5a"),
    *("nil", "true", "false", "nils", "é", "日本語", "a#", "a#b", "a:b", "@a", "'a", "^:a [1]"),
    # non-ASCII, controls, lone surrogates
    *("😀", "\xa0", "[1\xa02]", "\x00", "[\x00]", "\x1c", "\ufeff1", "[é 日本 😀]"),
    *("\ud800", '"\ud800"', '["a" "\udfff"]', ":\ud800", "[1 \udc00]"),
    # two values
    *("1 2", "[1] [2]", "1 [2]", ":a :b", '"a" "b"', "nil nil", "[1]1", "{}{}"),
    # maps: duplicates (in Python or in Clojure), collection keys, odd forms
    *("{:a 1 :a 2}", "{1 1.0}", "{1 1, 1.0 2}", "{true 1 1 2}", "{0 1 -0 2}", "{0.0 1 -0.0 2}"),
    *('{"a" 1 "a" 2}', '{"a" 1 \\a 2}', "{nil 1 nil 2}", "{1 1N}", "{1.5 1 1.5M 2}"),
    *("{[1] 1 (1) 2}", "{[1] 1 [1] 2}", "{[] 1 () 2}", "{[1] 1}", "{(1) 1 :b 2}", "{{} 1 {} 2}"),
    *("{[1] 1 :b 2}", "{{:a [[]]} 1, {:a [()]} 2}", "{:a 1 :b}", "{:a}", "{1}", "{1 2 3}"),
    *("{}", "{:a {:a {:a 1}}}", "[{:a 1} {:a 1}]", "(1 (2 [3 {:k (4)}]))"),
    # sets, #inst, #uuid
    *("#{1 1.0}", "#{1 true}", "#{[1] (1)}", "#{[1] [2]}", "#{[1]}", "#{#{}}", "#{1 #_ 2}"),
    *("# {1}", "#{ 1 ,}", "[#{:a :b} #{}]", "{#{1} 1 #{1} 2}", "{#{1} 1 #{2} 2}", "#{1 ;c\n}"),
    *('#inst "2020-01-01T00:00:00.123Z"', '#inst"2020"', '#inst\n,"2020"', '#inst "2020-13-01"'),
    *('#inst "2020-01-01T10:00:00+02:00"', '#inst "a\\"b"', '#inst "\u0032020"', '#instant "1"'),
    *('#inst/x "2020"', "#inst 2020", '#inst "2020" 1', '#inst "2020', '[#inst "2020"]', "#inst"),
    *(
        '#uuid "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"',
        '#uuid"f81d4fae-7dec-11d0-a765-00a0c91e6bf6"',
    ),
    *('{#inst "2020" 1 #inst "2020-01-01T00:00Z" 2}', '#{#inst "2020" #inst "2020-01-01"}'),
    *('#{#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6" 1}', '#uu "x"', "#uuid", '#_ #inst "2020"'),
    # common messages
    '[[:my-app/ev {:a 1, :b "x", :c [1.5 nil true false -7]}] "a1b2c3"]',
    '[[:chsk/handshake [:sente/nil-uid nil {:some "data"}]] nil]',
    '[[[:my-app/alert "hi"] [:my-app/alert "yo"]] nil]',
    "[:chsk/ws-ping nil]",
]


@pytest.mark.parametrize("text", READS, ids=[repr(t)[:40] for t in READS])
@pytest.mark.parametrize("max_depth", [0, 1, 1000])
def test_each_hostile_or_edge_text_reads_alike(
    speedups: ModuleType, text: str, max_depth: int
) -> None:
    assert_reads_alike(speedups, text, max_depth)


def nesting(value: Any) -> tuple[int, Any]:
    """How many collections nest in ``value`` (one item each), and the innermost item."""
    depth = 0
    while isinstance(value, (ImmutableList, tuple, ImmutableDict)):
        (value,) = value.values() if isinstance(value, ImmutableDict) else value
        depth += 1
    return depth, value


@pytest.mark.parametrize("accelerate", [True, False], ids=["accelerated", "pure"])
@pytest.mark.parametrize("max_depth", [0, 1, 5, C_MAX_DEPTH, C_MAX_DEPTH + 1, 1000])
@pytest.mark.parametrize("opener", ["[", "(", "{:k "])
def test_exactly_max_depth_nested_is_read_and_one_more_is_an_error(
    speedups: ModuleType, accelerate: bool, max_depth: int, opener: str
) -> None:
    packer = EdnPacker(max_depth=max_depth, accelerate=accelerate)
    assert nesting(packer.unpack(nest("1", [opener] * max_depth))) == (max_depth, 1)
    with pytest.raises(DecodeError, match=f"max_depth={max_depth}") as caught:
        packer.unpack(nest("1", [opener] * (max_depth + 1)))
    assert caught.value.position == max_depth * len(opener)


# (Not 1000: Python's recursion limit stops the pure-Python writer first, under pytest.)
@pytest.mark.parametrize("accelerate", [True, False], ids=["accelerated", "pure"])
@pytest.mark.parametrize("max_depth", [0, 1, 5, C_MAX_DEPTH, C_MAX_DEPTH + 1])
def test_exactly_max_depth_nested_is_written_and_one_more_is_an_error(
    speedups: ModuleType, accelerate: bool, max_depth: int
) -> None:
    packer = EdnPacker(max_depth=max_depth, accelerate=accelerate)
    value: Any = 1
    for _ in range(max_depth):
        value = [value]
    assert packer.pack(value) == "[" * max_depth + "1" + "]" * max_depth
    with pytest.raises(EncodeError, match=f"max_depth={max_depth}"):
        packer.pack([value])


def test_the_compiled_paths_read_and_write_up_to_their_own_depth(speedups: ModuleType) -> None:
    deepest = "[" * C_MAX_DEPTH + "]" * C_MAX_DEPTH
    assert assert_reads_alike(speedups, deepest) is not MISS
    assert assert_reads_alike(speedups, "[" + deepest + "]") is MISS  # edn.py reads deeper ones
    value = edn.PACKER.unpack(deepest)
    assert assert_writes_alike(speedups, value) is not MISS
    assert assert_writes_alike(speedups, [value]) is MISS


class Color(enum.IntEnum):
    RED = 1


class Flavour(str, enum.Enum):
    SWEET = "sweet"


class Name(str):
    pass


class Ratio(float):
    pass


class Items(list):  # type: ignore[type-arg]
    pass


class Vector(ImmutableList):  # type: ignore[misc]
    pass


def _odd_list(items: Any) -> ImmutableList:
    v = ImmutableList([])
    v._list = items
    return v


def _odd_map(d: Any) -> ImmutableDict:
    v = ImmutableDict({})
    v.dict = d
    return v


def _self_referencing() -> list[Any]:
    loop: list[Any] = [1]
    loop.append(loop)
    return loop


def _self_referencing_map() -> dict[Any, Any]:
    loop: dict[Any, Any] = {}
    loop[kw("me")] = loop
    return loop


def _self_referencing_vector() -> ImmutableList:
    items: list[Any] = []
    v = _odd_list(items)
    items.append(v)
    return v


def keyed(key: Any) -> dict[Any, Any]:
    return {key: 1}


NAN = float("nan")
WRITES: list[Any] = [
    # numbers
    *(0, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**100, 10**4299, 10**4300),
    *(True, False, None, Color.RED, 1.5, -0.0, 1e300, 5e-324, NAN, math.inf, -math.inf),
    *(Ratio(1.5), Decimal("1.5"), Decimal("NaN")),
    # strings
    *("", "a", "a1b2c3", 'q"q', "b\\s", "\x00\x01\x1f\x7f", "\n\t\r\b\f", "\u2028"),
    *("\ud800", "\udfff", "\ud83d\ude00", "é日😀", "a b", Name("n"), Name('q"'), Flavour.SWEET),
    # keywords, symbols, chars, tags
    *(kw("a"), kw("ns/a"), kw("bad name"), kw(""), kw("1a"), kw("a/"), kw("/"), kw("a::b")),
    *(kw(":a"), kw("a/b/c"), Keyword("a"), Keyword("bad name"), FastKeyword("fresh/name")),
    *(Symbol("s"), Symbol("nil"), Symbol("a//b"), Char("a"), Char("\n"), Char("\ud800")),
    *(Tagged("t", [1]), Tagged("inst", "2020"), Tagged("1a", 1)),
    # other types
    *(uuid.UUID(int=7), datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2020, 1, 1)),
    *(object(), b"bytes", 1j, len),
    # collections
    *([], (), {}, set(), {1, 2}, frozenset({kw("a")}), {ImmutableList([1]), (1,)}),
    *([1, [2, (3,)]], Items([1]), Vector([1]), OrderedDict([(kw("a"), 1)])),
    *(_self_referencing(), _self_referencing_map(), _self_referencing_vector()),
    *(_odd_list((1, 2)), _odd_list(Items([1])), _odd_list(None)),
    *(_odd_map(OrderedDict([(1, 2)])), _odd_map([(1, 2)]), _odd_map(None)),
    ImmutableList.__new__(ImmutableList),  # no _list
    ImmutableDict.__new__(ImmutableDict),  # no dict
    FastKeyword.__new__(FastKeyword),  # no name, no text
    # map keys of each type
    *map(keyed, (kw("a"), "s", 'q"', 1, 2**64, 1.5, NAN, None, True, Char("c"), Name("n"))),
    *map(keyed, (Symbol("s"), (1,), frozenset(), ImmutableList([1]), Color.RED)),
    *map(keyed, (Decimal(1), uuid.UUID(int=1), Keyword("a"), kw("bad name"), object())),
    {kw("a"): 1, (1,): 2, ImmutableList([1]): 3},
    {(): 1, ImmutableList([]): 2},
]


def case_id(value: Any) -> str:
    try:
        return repr(value)[:40]
    except (ValueError, AttributeError, RecursionError):  # too long, odd internals, a loop
        return type(value).__name__


@pytest.mark.parametrize("value", WRITES, ids=case_id)
def test_each_odd_or_edge_value_writes_alike(speedups: ModuleType, value: Any) -> None:
    for max_depth in (0, 1, 1000):
        assert_writes_alike(speedups, value, max_depth)
        assert_writes_alike(speedups, [value], max_depth)
        assert_writes_alike(speedups, {kw("k"): value}, max_depth)
        assert_writes_alike(speedups, [[kw("my-app/ev"), {kw("k"): value}], "a1b2c3"], max_depth)
        assert_writes_alike(speedups, [value, None], max_depth)


UNWRITABLE = [
    *(_self_referencing(), _self_referencing_map(), _self_referencing_vector()),
    *(kw("bad name"), kw(""), kw("a/"), Keyword("bad name"), Symbol("nil"), Char("\ud800")),
    *(10**4300, datetime(2020, 1, 1), Decimal("NaN"), Tagged("inst", "2020"), object()),
    *({ImmutableList([1]), (1,)}, {(): 1, ImmutableList([]): 2}),
]


@pytest.mark.parametrize("value", UNWRITABLE, ids=case_id)
@pytest.mark.parametrize("accelerate", [True, False], ids=["accelerated", "pure"])
def test_values_without_an_edn_text_are_an_encode_error_either_way(
    speedups: ModuleType, value: Any, accelerate: bool
) -> None:
    for wrapped in (value, [value], [[kw("my-app/ev"), {kw("k"): value}], "a1b2c3"]):
        with pytest.raises(EncodeError):
            EdnPacker(accelerate=accelerate).pack(wrapped)


class Meddling(tzinfo):
    """A timezone whose ``utcoffset()`` changes something (the collection being written)."""

    def __init__(self, meddle: Callable[[], object]) -> None:
        self.meddle = meddle

    def utcoffset(self, dt: datetime | None) -> timedelta:
        self.meddle()
        return timedelta(0)

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> str:
        return "meddling"


def meddled(kind: str) -> tuple[Any, list[int]]:
    """A fresh value holding an instant whose timezone changes the value when it is written.

    Returns the value and a list that counts the calls of the timezone's ``utcoffset()``.
    """
    calls: list[int] = []
    value: Any = [None, None]
    target: Any = value
    if kind == "event":
        # Its text cached first: edn.py writes an event by its own path only then (a path that
        # takes the event's items before writing them, so the items appended are not written).
        EdnPacker(accelerate=False).pack(kw("my-app/ev"))
        target = [kw("my-app/ev"), {}]
        value = [target, "a1b2c3"]

    def meddle() -> None:
        calls.append(1)
        if kind == "replace":
            target[1] = "a1b2c3"  # the second item of an envelope [x nil]
        elif isinstance(target, list):
            target.append(len(target))
        elif isinstance(target, dict):
            target[len(target)] = 1
        else:
            target.add(len(target))

    if kind == "map":
        value = target = {kw("a"): 1}
    elif kind == "set":
        value = target = set()
    instant = datetime(2020, 1, 1, tzinfo=Meddling(meddle))
    if kind == "event":
        target[1][kw("t")] = instant
    elif kind == "map":
        target[kw("t")] = instant
    elif kind == "set":
        target.add(instant)
    else:
        value[0] = instant
    calls.clear()
    return value, calls


@pytest.mark.parametrize("kind", ["map", "set", "list", "replace", "event"])
def test_a_value_changed_by_its_timezone_while_written_gets_the_pure_python_answer(
    speedups: ModuleType, kind: str
) -> None:
    # The compiled writer runs no code of the value's own (a tzinfo's utcoffset()): it leaves
    # such an instant to edn.py, so that code runs once, as without it.
    pure = write_answer(EdnPacker(accelerate=False), meddled(kind)[0])
    assert write_answer(EdnPacker(), meddled(kind)[0]) == pure
    value, calls = meddled(kind)
    assert speedups.write(value, 1000) is MISS
    assert not calls


# ------------------------------------------------------------------------------------------
# Memory: no reference leaked, on any path

# Texts the compiled code reads, then ones it gives up on (some after a call into edn.py that
# raised), each through another path of it.
GOOD_TEXTS = [
    '[[:my-app/ev {:a 1, :b "x\\ny", :c [1.5 nil true false -7], :d (:k)}] "a1b2c3"]',
    '[[:chsk/handshake ["alice" nil {:some "data", :n 123456789012345678901}]] nil]',
    '[[[:my-app/alert "hi"] [:my-app/alert "yo"]] nil]',
    "[" + " ".join(f'"{i}" :k{i % 7}' for i in range(10)) + "]",
    '[#{1 :a "s"} #inst "2020-01-01T00:00:00.123Z" #uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"]',
]
BAD_TEXTS = [
    *('"\\q"', "[1 2", "{:a 1 :a 2}", "{:a 1 :b}", "{[1] 1 (1) 2}", "#{1 1}", "#{[1] [2]}"),
    *(":a::b", "[1 ; c\n]", "[1] 2", "]", "\ud800", '#uuid "x"', "#t 1", "\\a"),
]
# Values the compiled code writes (some through edn.py's functions), then ones it gives up on.
GOOD_VALUES = [
    [[kw("my-app/ev"), {kw("a"): 1, kw("b"): "x\ny", kw("c"): [1.5, None, True, -7]}], "a1b2c3"],
    [kw("long"), "x" * 1000, "é" * 1000],  # past the writer's first buffer
    envelope(handshake_payload("alice", {kw("some"): ("data", ImmutableList([1]))})),
    [Keyword("a"), 2**70, {1, 2}, Symbol("s"), Char("c"), Decimal("1.5"), uuid.UUID(int=7)],
    {datetime(2020, 1, 1, tzinfo=timezone.utc): frozenset({kw("a")})},
]
BAD_VALUES = [
    *(kw("bad name"), Tagged("t", 1), Color.RED, Name("n"), {(1,): 2}, [1, object()]),
    *({kw("k"): {kw("bad name"): 1}}, _odd_list((1,)), {ImmutableList([1]), (2,)}),
    *(datetime(2020, 1, 1), Char("\ud800"), 10**5000, Symbol("nil")),
]


def _read_and_write(speedups: ModuleType, rounds: int) -> None:
    deep_values = [_self_referencing(), _self_referencing_map(), [[[[1]]]]]
    for i in range(rounds):
        for text in (*GOOD_TEXTS, *BAD_TEXTS):
            speedups.read(text, 1000)
        speedups.read("[[[[1]]]]", 3)  # too deep: given up midway
        for value in (*GOOD_VALUES, *BAD_VALUES):
            speedups.write(value, 1000)
        for value in deep_values:
            speedups.write(value, 3)
        if i % 50 == 0:  # through the packers too: edn.py takes over, and raises
            for text in (*GOOD_TEXTS, *BAD_TEXTS):
                with contextlib.suppress(DecodeError):
                    edn.PACKER.unpack(text)
            for value in (*GOOD_VALUES, *BAD_VALUES):
                with contextlib.suppress(EncodeError):
                    edn.PACKER.pack(value)


def live_blocks() -> tuple[int, int]:
    """How many blocks tracemalloc sees allocated, and their bytes (after a full collection)."""
    gc.collect()
    return len(tracemalloc.take_snapshot().traces), tracemalloc.get_traced_memory()[0]


def test_reading_and_writing_20000_times_leaks_nothing(speedups: ModuleType) -> None:
    shared = [MISS, None, True, False, kw("my-app/ev"), kw("a"), *GOOD_TEXTS, *BAD_TEXTS]
    shared += [*GOOD_VALUES, *BAD_VALUES, edn._atoms.get(":a")]
    tracemalloc.start()
    try:
        _read_and_write(speedups, 1000)  # caches filled, free lists warm
        blocks, size = live_blocks()
        refs = [sys.getrefcount(x) for x in shared]
        _read_and_write(speedups, 20_000)
        more_blocks, more_size = live_blocks()
        refs_grown = [sys.getrefcount(x) - n for x, n in zip(shared, refs, strict=True)]
    finally:
        tracemalloc.stop()
    # An object leaked on any path would be one more block per round, 20,000 (320 kB or more).
    # Without a leak, fewer than 300 blocks (20 kB) are left over after warm-up with pymalloc,
    # and about 2,000 (110 kB, the pure-Python fallback's, not the compiled code's) with
    # PYTHONMALLOC=malloc (as under valgrind): 5,000 is a bound both keep, and a leak exceeds.
    grown = more_blocks - blocks
    assert grown < 5_000, f"{grown} blocks ({more_size - size} bytes) more after 20,000 rounds"
    # A reference leaked per round to a shared object would add 20,000 to its count.
    assert max(refs_grown) < 100, dict(zip(map(case_id, shared), refs_grown, strict=True))


# ------------------------------------------------------------------------------------------
# The atom cache and keyword interning, shared with edn.py


def test_the_compiled_reader_fills_and_uses_edn_pys_atom_cache(speedups: ModuleType) -> None:
    name = f"speedups-test/k{uuid.uuid4().hex}"
    symbol = f"sym-{uuid.uuid4().hex[:8]}"
    assert ":" + name not in edn._atoms
    first = speedups.read(f"[:{name} {symbol}]", 1000)
    assert first is not MISS
    keyword = first[0]
    assert keyword is kw(name)  # interned by wire_keyword, as a pure-Python read does
    assert type(keyword) is FastKeyword
    assert edn._atoms[":" + name] is keyword
    again = EdnPacker(accelerate=False).unpack(f"{{:{name} {symbol}}}")
    ((key, value),) = again.items()
    assert key is keyword
    assert value is first[1]  # the symbol, cached by the compiled read


def test_atoms_read_by_pure_python_first_are_the_same_objects_to_the_compiled_reader(
    speedups: ModuleType,
) -> None:
    name = f"speedups-test/p{uuid.uuid4().hex}"
    pure = EdnPacker(accelerate=False).unpack(f"(:{name} 1.25 x{name[-6:]})")
    fast = speedups.read(f"[:{name} 1.25 x{name[-6:]}]", 1000)
    assert fast is not MISS
    assert all(a is b for a, b in zip(pure, fast, strict=True))


def test_the_atom_cache_stays_shared_after_it_is_cleared(
    speedups: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    atoms = edn._atoms
    monkeypatch.setattr(edn, "_MAX_ATOMS", len(atoms) + 2)
    tokens = [f":speedups-test/c{uuid.uuid4().hex[:8]}" for _ in range(5)]
    for tok in tokens:  # the third one finds the cache full: it is cleared, then added
        assert speedups.read(tok, 1000) is kw(tok[1:])
    assert edn._atoms is atoms
    assert tokens[0] not in atoms
    assert tokens[-1] in atoms
    assert atoms["nil"] is None and atoms["true"] is True  # the constants are kept
    assert EdnPacker(accelerate=False).unpack(tokens[-1]) is kw(tokens[-1][1:])


# ------------------------------------------------------------------------------------------
# Threads


def test_threads_packing_and_unpacking_at_once_get_right_answers(speedups: ModuleType) -> None:
    n_threads, rounds = 4, 200
    shared = [[kw("my-app/shared"), {kw("n"): 1, kw("s"): "a\nb"}], "a1b2c3"]
    cases: list[list[tuple[Any, str]]] = []
    for t in range(n_threads):
        # names longer than the atom cache keeps and floats of more than 4 characters are
        # read by a call into edn.py each time, escapes too: the threads interleave there
        long_kw = kw(f"thread-{t}/" + "x" * 70)
        values = [
            shared,
            [[long_kw, {long_kw: [t, 1.2345 + t, f't{t}\n"', None, True]}], None],
            {kw(f"t{t}"): ImmutableList([(t, -t), {"k": [t] * 5}]), "s": f"é{t}😀\x01"},
        ]
        cases.append([(v, EdnPacker(accelerate=False).pack(v)) for v in values])
    barrier = threading.Barrier(n_threads)
    failures: list[Any] = []

    def work(mine: list[tuple[Any, str]]) -> None:
        barrier.wait()
        for _ in range(rounds):
            for value, text in mine:
                written = edn.PACKER.pack(value)
                back = edn.PACKER.unpack(text)
                if written != text or not same_value(back, value):
                    failures.append((value, written, back))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(mine,)) for mine in cases]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not failures, failures[:3]


# ------------------------------------------------------------------------------------------
# The module's own checks


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("read", ()),
        ("read", ("1",)),
        ("read", ("1", 1, 2)),
        ("read", (1, 1)),
        ("read", (b"1", 1)),
        ("read", (None, 1)),
        ("read", ("1", "1")),
        ("read", ("1", 1.0)),
        ("read", ("1", None)),
        ("write", ()),
        ("write", (1,)),
        ("write", (1, 1, 2)),
        ("write", (1, "1")),
        ("write", (1, 1.5)),
        ("write", (1, None)),
        ("configure", ()),
        ("configure", (MISS,)),
        ("configure", tuple(range(12))),
        ("configure", (MISS, {}, len, len, len, len, len, {}, frozenset(), 1, list, dict)),
        ("configure", (MISS, {}, len, len, len, 1, len, {}, frozenset(), str, list, dict)),
        ("configure", (MISS, [], len, len, len, len, len, {}, frozenset(), str, list, dict)),
        ("configure", (MISS, {}, len, len, len, len, len, [], frozenset(), str, list, dict)),
        ("configure", (MISS, {}, len, len, len, len, len, {}, [], str, list, dict)),
    ],
    ids=lambda x: x if isinstance(x, str) else repr(x)[:30],
)
def test_wrong_argument_types_are_a_type_error(
    compiled: ModuleType, name: str, args: tuple[Any, ...]
) -> None:
    with pytest.raises(TypeError):
        getattr(compiled, name)(*args)


def test_keyword_arguments_are_a_type_error(compiled: ModuleType) -> None:
    with pytest.raises(TypeError):
        compiled.read(text="1", max_depth=1)
    with pytest.raises(TypeError):
        compiled.write(value=1, max_depth=1)


@pytest.mark.parametrize("max_depth", [-1, -(10**30), 10**30, True])
def test_any_int_is_a_max_depth(speedups: ModuleType, max_depth: int) -> None:
    assert speedups.read("7", max_depth) == 7
    assert speedups.write(7, max_depth) == "7"
    nested = speedups.read("[[7]]", max_depth)
    assert nested is MISS if max_depth < 2 else nested == [[7]]


def run_python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "JUPYTER_SENTE_PURE_PYTHON"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_reading_or_writing_before_configure_is_a_runtime_error(compiled: ModuleType) -> None:
    out = run_python(
        "from jupyter_sente.packers import _edn_speedups as s\n"
        "for call in (lambda: s.read('1', 1), lambda: s.write(1, 1)):\n"
        "    try:\n"
        "        call()\n"
        "    except RuntimeError as e:\n"
        "        print('RuntimeError:', e)\n"
    )
    assert out.count("RuntimeError: _edn_speedups.configure() was not called") == 2


@pytest.mark.parametrize(("setting", "accelerated"), [("1", False), ("0", True), ("", True)])
def test_the_pure_python_switch_turns_the_compiled_paths_off(
    compiled: ModuleType, setting: str, accelerated: bool
) -> None:
    out = run_python(
        "from jupyter_sente.packers import edn\n"
        "print(edn.PACKER.accelerated, edn.EdnPacker().accelerated)\n",
        JUPYTER_SENTE_PURE_PYTHON=setting,
    )
    assert out.split() == [str(accelerated)] * 2
