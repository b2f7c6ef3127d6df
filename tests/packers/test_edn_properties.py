"""Properties of the EDN packer: round trips, agreement with edn-format, any input is safe."""

from __future__ import annotations

import decimal
import math
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import edn_format
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_sente.exceptions import DecodeError
from jupyter_sente.packers.edn import dumps, loads
from jupyter_sente.values import Char, Keyword, Symbol, Tagged
from tests.strategies import edn_values, make_edn_values

pytestmark = pytest.mark.usefixtures("edn_accelerate")  # with the compiled paths and without

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def kind(x: Any) -> str:
    """The EDN kind of ``x`` (vector/list/map/set are one kind whatever their Python type)."""
    for types, name in (
        (bool, "bool"),
        (int, "int"),
        (float, "float"),
        (Decimal, "decimal"),
        (Char, "char"),
        (str, "string"),
        (Keyword, "keyword"),
        (Symbol, "symbol"),
        (datetime, "inst"),
        (date, "date"),
        (UUID, "uuid"),
        (Tagged, "tagged"),
        (tuple, "list"),
        ((list, edn_format.ImmutableList), "vector"),
        (Mapping, "map"),
        ((set, frozenset), "set"),
    ):
        if isinstance(x, types):
            return name
    return "nil" if x is None else type(x).__name__


def same(a: Any, b: Any) -> bool:
    """``a`` and ``b`` are the same EDN value, of the same kinds all the way down."""
    k = kind(a)
    if k != kind(b):
        return False
    if k == "float":
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if k == "decimal":
        return str(a) == str(b)
    if k == "inst":
        return bool(a == b) and b.utcoffset() is not None
    if k in ("vector", "list"):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if k == "set":
        b_members = {m: m for m in b}
        return len(a) == len(b) and all(m in b_members and same(m, b_members[m]) for m in a)
    if k == "map":
        b_keys = {m: m for m in b}
        return len(a) == len(b) and all(
            m in b_keys and same(m, b_keys[m]) and same(a[m], b[b_keys[m]]) for m in a
        )
    if k == "tagged":
        return bool(a.tag == b.tag) and same(a.value, b.value)
    return bool(a == b)


def agree(ours: Any, theirs: Any) -> bool:
    """Our reading of a text agrees with edn-format's, up to its documented differences."""
    if type(theirs) is date:  # edn-format reads a date-only #inst as a date, we as an instant
        return bool(ours == datetime(theirs.year, theirs.month, theirs.day, tzinfo=timezone.utc))
    if kind(theirs) == "decimal" and kind(ours) == "decimal":
        # edn-format multiplies by 1 in the default context, rounding to 28 digits
        return bool(theirs == decimal.getcontext().plus(ours))
    if kind(ours) != kind(theirs):
        return False
    if kind(ours) in ("vector", "list"):
        return len(ours) == len(theirs) and all(
            agree(x, y) for x, y in zip(ours, theirs, strict=True)
        )
    if kind(ours) == "map":  # both keep the order of the text
        return len(ours) == len(theirs) and all(
            agree(k, tk) and agree(v, tv)
            for (k, v), (tk, tv) in zip(ours.items(), theirs.items(), strict=True)
        )
    if kind(ours) == "set":
        return len(ours) == len(theirs) and all(any(agree(m, t) for t in theirs) for m in ours)
    if kind(ours) == "tagged":
        return bool(ours.tag == theirs.tag) and agree(ours.value, theirs.value)
    return same(ours, theirs)


def read_with_edn_format(text: str) -> tuple[bool, Any]:
    """``(True, value)`` if edn-format reads ``text``, else ``(False, None)``."""
    try:
        return True, edn_format.loads(text)
    except Exception:  # edn-format raises many kinds of errors on bad input
        return False, None


def read_with_ours(text: str | bytes) -> tuple[bool, Any]:
    """``(True, value)`` if we read ``text``, ``(False, None)`` on a DecodeError (nothing else)."""
    try:
        return True, loads(text)
    except DecodeError:
        return False, None


# ------------------------------------------------------------------------------------------
# Round trips


@SETTINGS
@given(edn_values)
def test_any_value_round_trips_with_its_kinds(value: Any) -> None:
    text = dumps(value)
    assert same(loads(text), value), text


@SETTINGS
@given(edn_values)
def test_what_we_write_reads_back_to_the_same_text(value: Any) -> None:
    text = dumps(value)
    again = dumps(loads(text))
    if "#{" not in text:  # a set may iterate in another order once rebuilt
        assert again == text
    assert len(again) == len(text)


# ------------------------------------------------------------------------------------------
# Agreement with edn_format.loads wherever both read a text

# edn-format cannot write our Tagged values; the rest of the model it writes.
_values_without_tags, _ = make_edn_values(with_tagged=False)


@SETTINGS
@given(edn_values)
def test_reader_agrees_with_edn_format_on_texts_we_write(value: Any) -> None:
    text = dumps(value)
    # edn-format misreads \formfeed and \backspace (as \f or \b and a symbol): not compared
    if "\\formfeed" in text or "\\backspace" in text:
        return
    ok, theirs = read_with_edn_format(text)
    if ok:
        assert agree(loads(text), theirs), text


@SETTINGS
@given(_values_without_tags)
def test_reader_reads_and_agrees_on_everything_edn_format_writes(value: Any) -> None:
    text = edn_format.dumps(value)
    ok, theirs = read_with_edn_format(text)
    assert ok, text
    ours_ok, ours = read_with_ours(text)
    assert ours_ok, text
    assert agree(ours, theirs), text


VALID_ATOMS = [
    "nil", "true", "false", "0", "-1", "+7", "42N", "1.5", "-2e3", "3M", "1.5M", "1e2M",
    "##Inf", "##-Inf", "##NaN", ":a", ":ns/b", ":a.b/c-d", "sym", "ns/sym", "/", "-", ".",
    "-a", "a#", "a:b", '"s"', '"a\\nb\\t\\"q\\\\"', '"\\u00e9"', '""', "\\a", "\\newline",
    "\\space", "\\tab", "\\u00e9", "\\(", '#inst "2020-01-01T00:00:00Z"',
    '#inst "2020-01-01T10:00:00.123+02:00"', '#inst "2020-06-15"', '#inst "2020"',
    '#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"',
]  # fmt: skip
BRACKETS = ["[", "]", "(", ")", "{", "}", "#{"]
TOKENS = [
    *VALID_ATOMS,
    "#_", "#_ 1",
    *BRACKETS,
    # invalid in EDN (edn-format accepts some of these)
    "01", "0x1F", "22/7", "1.", ".5", ":", "::a", "a//b", "/a", "a/", "\\ab", "#", "#:a",
    "^", "'", "@", "~", "`", ":1", "1a", '"\\q"', '"\\x41"', "\\o12",
    "#my/tag", "#1", "\\", '"', "#inst 1", '#uuid "x"', "##Foo", "\\ud800",
]  # fmt: skip
# Not in the soups: "clojure.core//" (edn-format reads the symbol "clojure.core" and drops the
# rest), "\formfeed"/"\backspace" (it reads "\f" and a symbol), "\ud83d\ude00" in a string
# (it keeps two surrogates; Java, and we, join them).
SEPARATORS = [" ", "", ",", "\n", " ; note\n", "\t"]


@st.composite
def token_soups(draw: st.DrawFn) -> str:
    """Texts made of EDN tokens, brackets and junk, glued with whitespace (or nothing)."""
    pool = draw(st.sampled_from([TOKENS, [*VALID_ATOMS, *BRACKETS, "#_"]]))
    tokens = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=14))
    out = []
    for t in tokens:
        out.append(t)
        out.append(draw(st.sampled_from(SEPARATORS)))
    text = "".join(out)
    # In a vector, so that texts of several values (which edn-format reads as the first) count.
    return "[" + text + "]" if draw(st.booleans()) else text


@SETTINGS
@given(token_soups())
def test_reader_agrees_with_edn_format_on_token_soups(text: str) -> None:
    ours_ok, ours = read_with_ours(text)  # anything but a DecodeError fails the test
    ok, theirs = read_with_edn_format(text)
    if ours_ok and ok:
        assert agree(ours, theirs), text


@SETTINGS
@given(st.lists(st.sampled_from(VALID_ATOMS), min_size=1, max_size=10))
def test_valid_atoms_in_a_vector_read_like_edn_format(atoms: list[str]) -> None:
    text = "[" + " ".join(atoms) + "]"
    ok, theirs = read_with_edn_format(text)
    ours_ok, ours = read_with_ours(text)
    assert ours_ok, text
    if ok:
        assert agree(ours, theirs), text


# ------------------------------------------------------------------------------------------
# Any input: a value or a DecodeError, never another exception

EDN_CHARS = "[]{}()#_:;\"\\ ,\n\t0123456789abceEfiMnNstux+-./^@'~`é😀\x00"


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_are_a_value_or_a_decode_error(data: bytes) -> None:
    read_with_ours(data)
    read_with_ours(data.decode("utf-8", "surrogateescape"))
    read_with_ours(data.decode("latin-1"))


@SETTINGS
@given(st.text(alphabet=EDN_CHARS, max_size=200))
def test_random_edn_like_text_is_a_value_or_a_decode_error(text: str) -> None:
    read_with_ours(text)


@SETTINGS
@given(edn_values, st.data())
def test_truncated_or_corrupted_texts_are_a_value_or_a_decode_error(
    value: Any, data: st.DataObject
) -> None:
    text = dumps(value)
    cut = data.draw(st.integers(0, len(text)))
    read_with_ours(text[:cut])
    if text:
        at = data.draw(st.integers(0, len(text) - 1))
        junk = data.draw(st.sampled_from(list(EDN_CHARS)))
        read_with_ours(text[:at] + junk + text[at + 1 :])
