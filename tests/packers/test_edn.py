"""The EDN packer: each type read and written, strictness, hostile input, Sente's literals."""

from __future__ import annotations

import contextlib
import enum
import math
import time
from collections import OrderedDict, namedtuple
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

import edn_format
import pytest

from jupyter_sente.core.events import AJAX
from jupyter_sente.exceptions import DecodeError, EncodeError
from jupyter_sente.packers import get_packer
from jupyter_sente.packers.edn import PACKER, EdnPacker, dumps, loads
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

pytestmark = pytest.mark.usefixtures("edn_accelerate")  # with the compiled paths and without

UTC = timezone.utc


def test_packer_is_registered_as_edn() -> None:
    assert get_packer("edn") is PACKER
    assert PACKER.name == "edn"
    assert PACKER.max_depth == 1000
    assert PACKER.max_size == 16 * 1024 * 1024


# ------------------------------------------------------------------------------------------
# Sente's literal envelopes (reference section 2.2)

GOLDEN: list[tuple[Any, str]] = [
    ([[kw("my-app/req"), {kw("x"): 1}], None], "[[:my-app/req {:x 1}] nil]"),
    ([[kw("my-app/req"), {kw("x"): 1}], "a1b2c3"], '[[:my-app/req {:x 1}] "a1b2c3"]'),
    ([{kw("any"): "reply"}, "a1b2c3"], '[{:any "reply"} "a1b2c3"]'),
    (
        [[[kw("my-app/alert"), "hi"], [kw("my-app/alert"), "yo"]], None],
        '[[[:my-app/alert "hi"] [:my-app/alert "yo"]] nil]',
    ),
    (
        [[kw("chsk/handshake"), ["alice", None, None]], None],
        '[[:chsk/handshake ["alice" nil nil]] nil]',
    ),
    (
        [[kw("chsk/handshake"), [kw("sente/nil-uid"), None, {kw("some"): "data"}]], None],
        '[[:chsk/handshake [:sente/nil-uid nil {:some "data"}]] nil]',
    ),
    ([kw("chsk/ws-ping"), None], "[:chsk/ws-ping nil]"),
    ([[kw("chsk/ws-pong")], None], "[[:chsk/ws-pong] nil]"),
    ([[kw("chsk/ws-ping")], "a1b2c3"], '[[:chsk/ws-ping] "a1b2c3"]'),
    (["pong", "a1b2c3"], '["pong" "a1b2c3"]'),
    ([kw("chsk/timeout"), None], "[:chsk/timeout nil]"),
    ([kw("chsk/dummy-cb-200"), None], "[:chsk/dummy-cb-200 nil]"),
    ([[kw("my-app/req"), {kw("x"): 1}], AJAX], "[[:my-app/req {:x 1}] :ajax]"),
    ([{kw("any"): "reply"}, None], '[{:any "reply"} nil]'),
]


@pytest.mark.parametrize(("value", "text"), GOLDEN, ids=[t for _, t in GOLDEN])
def test_sente_envelopes_pack_to_their_literal_text(value: Any, text: str) -> None:
    assert PACKER.pack(value) == text


@pytest.mark.parametrize(("value", "text"), GOLDEN, ids=[t for _, t in GOLDEN])
def test_sente_envelopes_unpack_from_their_literal_text(value: Any, text: str) -> None:
    assert PACKER.unpack(text) == value
    assert PACKER.unpack(text) == edn_format.loads(text)


def test_maps_print_with_comma_and_space_like_pr_str() -> None:
    assert dumps({kw("a"): 1, kw("b"): 2}) == "{:a 1, :b 2}"
    assert dumps(ImmutableDict({kw("a"): 1})) == "{:a 1}"
    assert dumps({}) == "{}"


# ------------------------------------------------------------------------------------------
# Reading each type (the types are edn-format's, as edn_format.loads returns them)

READS: list[tuple[str, Any, type]] = [
    ("nil", None, type(None)),
    ("true", True, bool),
    ("false", False, bool),
    ('"hello"', "hello", str),
    ("42", 42, int),
    ("-7", -7, int),
    ("+5", 5, int),
    ("-0", 0, int),
    ("0", 0, int),
    ("123N", 123, int),
    ("123456789012345678901234567890", 123456789012345678901234567890, int),
    ("1.5", 1.5, float),
    ("-1.5e-3", -1.5e-3, float),
    ("1E10", 1e10, float),
    ("0.0", 0.0, float),
    ("1.5M", Decimal("1.5"), Decimal),
    ("1M", Decimal("1"), Decimal),
    ("1e5M", Decimal("1E+5"), Decimal),
    ("\\a", "a", Char),
    ("\\newline", "\n", Char),
    ("\\space", " ", Char),
    ("\\tab", "\t", Char),
    ("\\return", "\r", Char),
    ("\\u00e9", "é", Char),
    ("\\u00E9", "é", Char),
    ("\\(", "(", Char),
    ("\\,", ",", Char),
    ("\\\\", "\\", Char),
    (":a", Keyword("a"), Keyword),
    (":my-app/req", Keyword("my-app/req"), Keyword),
    ("sym", Symbol("sym"), Symbol),
    ("ns/name", Symbol("ns/name"), Symbol),
    ("[1 2]", [1, 2], ImmutableList),
    ("(1 2)", (1, 2), tuple),
    ("{:a 1}", {Keyword("a"): 1}, ImmutableDict),
    ("#{1 2}", frozenset({1, 2}), frozenset),
    (
        '#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"',
        UUID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
        UUID,
    ),
    ('#inst "1985-04-12T23:20:50.520Z"', datetime(1985, 4, 12, 23, 20, 50, 520000, UTC), datetime),
]


@pytest.mark.parametrize(("text", "value", "kind"), READS, ids=[r[0] for r in READS])
def test_each_type_reads_as_edn_format_reads_it(text: str, value: Any, kind: type) -> None:
    ours = loads(text)
    assert ours == value
    assert type(ours) is kind or (kind is Keyword and type(ours) is FastKeyword)
    theirs = edn_format.loads(text)
    assert ours == theirs
    assert isinstance(theirs, kind)


def test_character_names_edn_format_lacks_are_read() -> None:
    assert loads("\\formfeed") == Char("\f")
    assert loads("\\backspace") == Char("\b")
    assert type(loads("\\formfeed")) is Char


def test_characters_clojure_prints_raw_are_read() -> None:
    assert loads("[\\\x1f \\\x85 \\\x0b \\\u00a0 \\é]") == ["\x1f", "\x85", "\x0b", "\xa0", "é"]


def test_string_escapes_are_read() -> None:
    assert loads(r'"t\tr\rn\nq\"b\\B\bF\fu\u00e9"') == 't\tr\rn\nq"b\\B\bF\fu\u00e9'


def test_a_utf16_surrogate_pair_escape_is_one_code_point() -> None:
    assert loads(r'"\ud83d\ude00"') == "\U0001f600"
    assert loads(r'"a\uD83D\uDE00b"') == "a\U0001f600b"


def test_a_lone_surrogate_escape_stays_as_in_java() -> None:
    assert loads(r'"\ud83d"') == "\ud83d"


def test_raw_non_ascii_and_newlines_in_strings_are_kept() -> None:
    assert loads('"日本語 😀\nline"') == "日本語 😀\nline"


def test_symbolic_floats_are_read() -> None:
    assert loads("##Inf") == math.inf
    assert loads("##-Inf") == -math.inf
    assert math.isnan(loads("##NaN"))


def test_keywords_are_interned_fast_keywords() -> None:
    value = loads("[:my-app/req :my-app/req]")
    assert value[0] is kw("my-app/req")
    assert value[1] is kw("my-app/req")
    assert type(value[0]) is FastKeyword


@pytest.mark.parametrize(
    "text",
    [
        "/",
        "clojure.core//",
        "-",
        "+",
        ".",
        "..",
        "-a",
        "+a",
        ".a",
        "a.b",
        "a#b",
        "a:b",
        "*ns*/x?",
        "-.5",
    ],
)
def test_special_but_valid_symbols_are_read(text: str) -> None:
    assert loads(text) == Symbol(text)


def test_unicode_letters_are_allowed_in_names() -> None:
    assert loads(":日本/λ") == kw("日本/λ")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('#inst "2020"', datetime(2020, 1, 1, tzinfo=UTC)),
        ('#inst "2020-02"', datetime(2020, 2, 1, tzinfo=UTC)),
        ('#inst "2020-02-03"', datetime(2020, 2, 3, tzinfo=UTC)),
        ('#inst "2020-02-03T04"', datetime(2020, 2, 3, 4, tzinfo=UTC)),
        ('#inst "2020-02-03T04:05"', datetime(2020, 2, 3, 4, 5, tzinfo=UTC)),
        ('#inst "2020-02-03T04:05:06"', datetime(2020, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ('#inst "2020-02-03T04:05:06.7"', datetime(2020, 2, 3, 4, 5, 6, 700000, tzinfo=UTC)),
        ('#inst "2020-02-03T04:05:06.123456789Z"', datetime(2020, 2, 3, 4, 5, 6, 123456, UTC)),
        ('#inst "1970-01-01T00:00:00.000-00:00"', datetime(1970, 1, 1, tzinfo=UTC)),
        ('#inst "2020-01-01T10:00:00+05:30"', datetime(2020, 1, 1, 4, 30, tzinfo=UTC)),
        ('#inst "2020-01-01T10:00:00.000-08:00"', datetime(2020, 1, 1, 18, 0, tzinfo=UTC)),
        ('#inst "2020-01-01T10:00-08:00"', datetime(2020, 1, 1, 18, 0, tzinfo=UTC)),
        ('#inst"2020-01-01T10:00:00Z"', datetime(2020, 1, 1, 10, 0, tzinfo=UTC)),
        ('#inst #_ 1 "2020-01-01T10:00:00Z"', datetime(2020, 1, 1, 10, 0, tzinfo=UTC)),
        ('#inst ; c\n "2020-01-01T10:00:00Z"', datetime(2020, 1, 1, 10, 0, tzinfo=UTC)),
    ],
)
def test_inst_reads_rfc3339_with_optional_parts_as_an_aware_datetime(
    text: str, value: datetime
) -> None:
    got = loads(text)
    assert type(got) is datetime
    assert got.utcoffset() is not None
    assert got == value


def test_inst_keeps_the_offset_it_was_given() -> None:
    got = loads('#inst "2020-01-01T10:00:00+05:30"')
    assert got.utcoffset() == timedelta(hours=5, minutes=30)
    assert loads('#inst "2020-01-01T10:00:00Z"').tzinfo is UTC


def test_uuid_reads_upper_case_hex() -> None:
    assert loads('#uuid "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"') == UUID(
        "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
    )


def test_uuid_read_by_the_fast_path_behaves_as_a_uuid() -> None:
    u = loads('#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"')
    assert str(u) == "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
    assert u.version == 1
    assert hash(u) == hash(UUID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6"))
    assert {u: 1}[UUID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")] == 1


def test_unknown_tags_read_as_tagged_values() -> None:
    assert loads("#my/point [1 2]") == Tagged("my/point", ImmutableList([1, 2]))
    assert loads("#a #b 1") == Tagged("a", Tagged("b", 1))
    assert loads('{#t 1 "x"}') == ImmutableDict({Tagged("t", 1): "x"})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[1 #_ 2 3]", [1, 3]),
        ("#_ 1 2", 2),
        ("2 #_ 1", 2),
        ("#_#_ 1 2 3", 3),
        ("[#_ [1 [2]] 3]", [3]),
        ("{:a #_ :b 1}", {kw("a"): 1}),
        ("#a #_ 1 2", Tagged("a", 2)),
        ("[#_ #a 1]", []),
        ("#_ 1", None),
    ],
)
def test_discard_drops_the_next_value(text: str, value: Any) -> None:
    assert loads(text) == value


def test_commas_are_whitespace_and_comments_run_to_end_of_line() -> None:
    text = "; head\n[1,2 ,, 3 ; the three\n\t:a;x\r\n:b] ; tail"
    assert loads(text) == [1, 2, 3, kw("a"), kw("b")]


@pytest.mark.parametrize("text", ["", "   ", " , \n\t", "; only a comment", "#_ 1"])
def test_blank_text_unpacks_to_nil_as_in_sente(text: str) -> None:
    assert loads(text) is None


def test_bytes_are_decoded_as_utf8() -> None:
    assert loads('["é" :a]'.encode()) == ["é", kw("a")]
    assert loads(bytearray(b"[1]")) == [1]


def test_a_vector_and_a_list_with_other_items_may_share_a_set() -> None:
    assert loads("#{[1] (2) [(1)] ((2))}") == frozenset(
        {ImmutableList([1]), (2,), ImmutableList([(1,)]), ((2,),)}
    )
    assert dumps({(1,), (2,)}) in ("#{(1) (2)}", "#{(2) (1)}")


def test_values_are_usable_as_map_keys_and_set_members() -> None:
    text = "{[1 2] :vec, (1 3) :list, {:a 1} :map, #{1} :set, :k :kw, nil :nil}"
    value = loads(text)
    assert value[ImmutableList([1, 2])] == kw("vec")
    assert value[(1, 3)] == kw("list")
    assert value[ImmutableDict({kw("a"): 1})] == kw("map")
    assert value[frozenset({1})] == kw("set")
    assert value[Keyword("k")] == kw("kw")
    assert value[None] == kw("nil")


# ------------------------------------------------------------------------------------------
# Writing each type


WRITES: list[tuple[Any, str]] = [
    (None, "nil"),
    (True, "true"),
    (False, "false"),
    (0, "0"),
    (-42, "-42"),
    (2**70, "1180591620717411303424"),
    (1.0, "1.0"),
    (-0.5, "-0.5"),
    (1e16, "1e+16"),
    (1.5e-7, "1.5e-07"),
    (math.inf, "##Inf"),
    (-math.inf, "##-Inf"),
    (math.nan, "##NaN"),
    (Decimal("1.50"), "1.50M"),
    (Decimal("-3"), "-3M"),
    (Decimal("1E+5"), "1E+5M"),
    ("plain", '"plain"'),
    ("", '""'),
    ('q"b\\n\nt\tr\rB\bF\f', '"q\\"b\\\\n\\nt\\tr\\rB\\bF\\f"'),
    ("nul\x00esc\x1b", '"nul\\u0000esc\\u001B"'),
    ("日本語 😀", '"日本語 😀"'),
    ("\ud800", '"\\uD800"'),
    (kw("a"), ":a"),
    (kw("my-app/req"), ":my-app/req"),
    (Keyword("plain/kw"), ":plain/kw"),
    (Symbol("sym"), "sym"),
    (Symbol("ns/sym"), "ns/sym"),
    (Symbol("/"), "/"),
    (Char("a"), "\\a"),
    (Char("\n"), "\\newline"),
    (Char(" "), "\\space"),
    (Char("\t"), "\\tab"),
    (Char("\r"), "\\return"),
    (Char("\f"), "\\formfeed"),
    (Char("\b"), "\\backspace"),
    (Char("é"), "\\u00E9"),
    (Char("\x00"), "\\u0000"),
    (Char(","), "\\,"),
    ([1, "a"], '[1 "a"]'),
    (ImmutableList([1, [2]]), "[1 [2]]"),
    ([], "[]"),
    ((1, 2), "(1 2)"),
    ((), "()"),
    ({kw("a"): [1], "b": {}}, '{:a [1], "b" {}}'),
    ({1}, "#{1}"),
    (frozenset(), "#{}"),
    (datetime(1970, 1, 1, tzinfo=UTC), '#inst "1970-01-01T00:00:00.000-00:00"'),
    (datetime(2024, 1, 31, 12, 30, 15, 123000, UTC), '#inst "2024-01-31T12:30:15.123-00:00"'),
    (
        datetime(2024, 1, 31, 12, 30, tzinfo=timezone(timedelta(hours=2))),
        '#inst "2024-01-31T10:30:00.000-00:00"',
    ),
    (datetime(2024, 1, 31, 0, 0, 0, 123456, UTC), '#inst "2024-01-31T00:00:00.123456-00:00"'),
    (date(2024, 1, 31), '#inst "2024-01-31T00:00:00.000-00:00"'),
    (UUID("F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"), '#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"'),
    (Tagged("my/point", [1, 2]), "#my/point [1 2]"),
    (Tagged("x", Tagged("y", None)), "#x #y nil"),
]


@pytest.mark.parametrize(("value", "text"), WRITES, ids=[t for _, t in WRITES])
def test_each_type_is_written_as_clojure_prints_it(value: Any, text: str) -> None:
    assert dumps(value) == text


def test_sets_write_every_member_once() -> None:
    text = dumps({kw("live"), kw("host/a")})
    assert text in ("#{:live :host/a}", "#{:host/a :live}")


def test_subclasses_of_known_types_are_written_as_their_base() -> None:
    class Color(enum.IntEnum):
        RED = 1

    class Name(str):
        pass

    Point = namedtuple("Point", "x y")
    assert dumps(Color.RED) == "1"
    assert dumps(Name("n")) == '"n"'
    assert dumps(OrderedDict([(kw("a"), 1)])) == "{:a 1}"
    assert dumps(Point(1, 2)) == "(1 2)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "object"),
        (b"bytes", "bytes"),
        (Fraction(22, 7), "Fraction"),
        (1j, "complex"),
        (Keyword("a b"), "keyword"),
        (Keyword(""), "keyword"),
        (Keyword("1a"), "keyword"),
        (Keyword("/"), "keyword"),
        (kw("bad name"), "keyword"),
        (Symbol("nil"), "symbol"),
        (Symbol("a//b"), "symbol"),
        (Symbol(""), "symbol"),
        (Tagged("inst", "2020"), "tag"),
        (Tagged("uuid", "x"), "tag"),
        (Tagged("1a", 1), "tag"),
        (Tagged("", 1), "tag"),
        (Char("😀"), "character"),
        (Char("\ud800"), "character"),
        (Decimal("NaN"), "Decimal"),
        (Decimal("Infinity"), "Decimal"),
        (datetime(2020, 1, 1), "naive"),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), "out of range"),
        ([1, {kw("a"): object()}], "object"),
        ({object(): 1}, "object"),
        ({ImmutableList([1]), (1,)}, "equal in Clojure"),
        ({(): 1, ImmutableList([]): 2}, "equal in Clojure"),
        ({Tagged("t", (1,)): 1, Tagged("t", ImmutableList([1])): 2}, "equal in Clojure"),
    ],
    ids=repr,
)
def test_values_without_an_edn_form_are_an_encode_error_naming_why(
    value: Any, message: str
) -> None:
    with pytest.raises(EncodeError, match=message):
        dumps(value)


def test_an_edn_format_tagged_element_that_is_not_ours_is_an_encode_error() -> None:
    class Other(edn_format.TaggedElement):  # type: ignore[misc]
        def __str__(self) -> str:
            return "#other 1"

    with pytest.raises(EncodeError, match="Tagged"):
        dumps(Other())


def test_a_self_referencing_list_is_an_encode_error() -> None:
    value: list[Any] = [1]
    value.append(value)
    with pytest.raises(EncodeError, match="deeper"):
        dumps(value)
    looped: dict[Any, Any] = {}
    looped[kw("me")] = looped
    with pytest.raises(EncodeError, match="deeper"):
        dumps(looped)


def test_pack_depth_is_limited_by_max_depth() -> None:
    packer = EdnPacker(max_depth=3)
    assert packer.pack([[[1]]]) == "[[[1]]]"
    with pytest.raises(EncodeError, match="max_depth=3"):
        packer.pack([[[[1]]]])
    with pytest.raises(EncodeError, match="max_depth=3"):
        packer.pack({kw("a"): ({(1,)},)})
    assert packer.pack({kw("a"): ({1},)}) == "{:a (#{1})}"
    with pytest.raises(EncodeError, match="max_depth=3"):
        packer.pack([[Tagged("t", [1])]])


def test_very_deep_values_are_an_encode_error_not_a_recursion_error() -> None:
    value: Any = 1
    for _ in range(100_000):
        value = [value]
    with pytest.raises(EncodeError):
        dumps(value)
    with pytest.raises(EncodeError):
        EdnPacker(max_depth=10**9).pack(value)


# ------------------------------------------------------------------------------------------
# Strictness: one test per rule of the spec (edn-format accepts many of these)

STRICT: list[tuple[str, str, int, str]] = [
    # (rule id, text, position, message fragment)
    ("colon-alone", ":", 0, "keyword"),
    ("double-colon-keyword", "::a", 0, "keyword"),
    ("keyword-with-double-colon-inside", ":a::b", 0, "keyword"),
    ("keyword-slash-alone", ":/", 0, "keyword"),
    ("keyword-starting-with-digit", ":1", 0, "keyword"),
    ("keyword-ns-empty-name", ":a/", 0, "keyword"),
    ("symbol-two-slashes-inside", "a//b", 0, "symbol"),
    ("symbol-leading-slash", "/a", 0, "symbol"),
    ("symbol-trailing-slash", "a/", 0, "symbol"),
    ("symbol-two-namespaces", "a/b/c", 0, "symbol"),
    ("symbol-name-starting-with-digit", "a/1b", 0, "symbol"),
    ("symbol-dot-digit", ".5", 0, "symbol"),
    ("symbol-illegal-character", "a@b", 0, "symbol"),
    ("symbol-quote", "'a", 0, "symbol"),
    ("number-leading-zero", "01", 0, "number"),
    ("number-leading-zero-float", "01.5", 0, "number"),
    ("number-hex", "0x10", 0, "number"),
    ("number-radix", "2r101", 0, "number"),
    ("number-ratio", "22/7", 0, "number"),
    ("number-trailing-dot", "1.", 0, "number"),
    ("number-with-letters", "1a", 0, "number"),
    ("number-float-with-N", "1.5N", 0, "number"),
    ("number-empty-exponent", "1e", 0, "number"),
    ("decimal-exponent-out-of-range", "[1 1e9999999999999999999M]", 3, "out of range"),
    ("number-inside-vector", "[1 2x]", 3, "number"),
    ("char-two-letters", "\\ab", 0, "character"),
    ("char-unknown-name", "\\newlines", 0, "character"),
    ("char-octal", "\\o123", 0, "character"),
    ("char-short-unicode", "\\u12", 0, "character"),
    ("char-surrogate", "\\ud800", 0, "surrogate"),
    ("char-astral", "\\😀", 0, "BMP"),
    ("char-backslash-space", "[\\ ]", 1, "whitespace"),
    ("char-backslash-at-end", "[1 \\", 3, "backslash"),
    ("unclosed-vector", "[1 2", 4, "vector at 0 is not closed"),
    ("unclosed-nested", "{:a [1}", 6, "vector is not closed"),
    ("stray-close-brace", "}", 0, "nothing is open"),
    ("stray-close-after-value", "[1]]", 3, "nothing is open"),
    ("mismatched-close", "(1]", 2, "list is not closed"),
    ("odd-map", "{:a 1 :b}", 0, "even number"),
    ("duplicate-map-key", "{:a 1 :a 2}", 0, "duplicate key"),
    ("duplicate-map-key-python-equal", "{1 :a true :b}", 0, "duplicate key"),
    ("duplicate-set-member", "[0 #{1 2 1}]", 3, "duplicate member"),
    ("set-members-equal-in-clojure", "#{[1] (1)}", 0, "equal in Clojure"),
    ("map-keys-equal-in-clojure", "{{:a [[]]} 1, {:a [()]} 2}", 0, "equal in Clojure"),
    ("trailing-value", "[1] 2", 4, "more than one value"),
    ("trailing-container", "1 [2]", 2, "more than one value"),
    ("trailing-garbage-symbol", "nil x", 4, "more than one value"),
    ("string-invalid-escape", '"ab\\qc"', 3, "escape"),
    ("string-escape-x", '"\\x41"', 1, "escape"),
    ("string-octal-escape", '"\\101"', 1, "escape"),
    ("string-short-unicode-escape", '"\\u12"', 1, "escape"),
    ("string-unterminated", '[1 "abc', 3, "unterminated"),
    ("string-escaped-final-quote", '"abc\\"', 0, "unterminated"),
    ("inst-not-a-timestamp", '#inst "yesterday"', 0, "RFC 3339"),
    ("inst-bad-month", '#inst "2020-13-01T00:00:00Z"', 0, "month"),
    ("inst-bad-day", '#inst "2021-02-29"', 0, "day"),
    ("inst-bad-offset", '#inst "2020-01-01T00:00:00+24:00"', 0, "offset"),
    ("inst-lowercase-t", '#inst "2020-01-01t00:00:00Z"', 0, "RFC 3339"),
    ("inst-not-a-string", "#inst 1", 0, "string"),
    ("inst-char-payload", "#inst \\a", 0, "string"),
    ("uuid-not-canonical", '#uuid "f81d4fae7dec11d0a76500a0c91e6bf6"', 0, "8-4-4-4-12"),
    ("uuid-bad-hex", '#uuid "g81d4fae-7dec-11d0-a765-00a0c91e6bf6"', 0, "8-4-4-4-12"),
    ("uuid-not-a-string", "#uuid 1", 0, "string"),
    ("hash-alone", "#", 0, "# must be followed"),
    ("hash-before-bracket", "#[1]", 0, "# must be followed"),
    ("hash-before-string-regex", '#"a"', 0, "# must be followed"),
    ("tag-not-a-symbol", "#1 2", 0, "# must be followed"),
    ("tag-not-alphabetic", "#-a 2", 0, "# must be followed"),
    ("tag-bad-symbol", "#a//b 1", 0, "# must be followed"),
    ("tag-without-value", "[#a]", 3, "a tag is open"),
    ("tag-at-end", "#a", 2, "tag at 0 is not closed"),
    ("namespaced-map", "#:a{:b 1}", 0, "namespaced"),
    ("unknown-symbolic-value", "##Foo", 0, "symbolic"),
    ("discard-without-value", "[#_]", 3, "#_ is open"),
    ("discard-at-end", "#_", 2, "#_ at 0 is not closed"),
    ("metadata", "^:a [1]", 0, "symbol"),
    ("non-breaking-space-is-not-whitespace", "[1\u00a02]", 1, "number"),
]


@pytest.mark.parametrize(
    ("text", "position", "message"), [r[1:] for r in STRICT], ids=[r[0] for r in STRICT]
)
def test_invalid_edn_is_a_decode_error_at_its_position(
    text: str, position: int, message: str
) -> None:
    with pytest.raises(DecodeError, match=message) as caught:
        loads(text)
    assert caught.value.position == position, caught.value


def test_decode_error_message_names_the_position() -> None:
    with pytest.raises(DecodeError, match="at position 5"):
        loads("[1 2 }")


def test_lone_surrogates_in_the_text_are_rejected() -> None:
    text = b'["a" "\xff"]'.decode("utf-8", "surrogateescape")
    with pytest.raises(DecodeError, match="surrogate") as caught:
        loads(text)
    assert caught.value.position == 6


def test_invalid_utf8_bytes_are_a_decode_error_at_the_byte_offset() -> None:
    with pytest.raises(DecodeError, match="UTF-8") as caught:
        loads(b'["ok" "\xc3\x28"]')
    assert caught.value.position == 7


def test_input_that_is_not_text_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="str or bytes"):
        PACKER.unpack(42)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Hostile input: a clear DecodeError, quickly, never a RecursionError or a hang


def test_100000_nested_vectors_are_a_depth_error() -> None:
    t0 = time.perf_counter()
    with pytest.raises(DecodeError, match="max_depth=1000") as caught:
        loads("[" * 100_000 + "]" * 100_000)
    assert caught.value.position == 1000
    assert time.perf_counter() - t0 < 5


def test_nesting_exactly_max_depth_is_read() -> None:
    packer = EdnPacker(max_depth=10)
    assert packer.unpack("[" * 10 + "]" * 10) == [[[[[[[[[[]]]]]]]]]]
    with pytest.raises(DecodeError, match="max_depth=10"):
        packer.unpack("[" * 11 + "]" * 11)
    assert loads("[" * 1000 + "]" * 1000) is not None


@pytest.mark.parametrize("prefix", ["#a ", "#_ ", "{:k ", "#{", "("])
def test_deep_tags_discards_and_collections_are_limited_too(prefix: str) -> None:
    with pytest.raises(DecodeError, match="max_depth"):
        loads(prefix * 100_000 + "1")


def test_a_10_mb_string_is_read_within_the_default_size_limit() -> None:
    big = "x" * (10 * 1024 * 1024)
    t0 = time.perf_counter()
    assert loads(f'["{big}"]') == [big]
    assert time.perf_counter() - t0 < 5


def test_text_over_max_size_is_rejected_before_reading() -> None:
    packer = EdnPacker(max_size=1024)
    with pytest.raises(DecodeError, match="max_size=1024") as caught:
        packer.unpack('"' + "x" * 2000 + '"')
    assert caught.value.position == 1024
    with pytest.raises(DecodeError, match="max_size=1024"):
        packer.unpack(b"[" + b"1 " * 1000 + b"]")
    with pytest.raises(DecodeError, match="max_size"):
        loads(" " * (16 * 1024 * 1024 + 1))


@pytest.mark.parametrize(
    "text",
    [
        '"' + "a" * 1_000_000,  # unterminated long string
        '"' + "\\a" * 500_000,  # unterminated, full of backslashes
        "1" + " " * 1_000_000,  # long trailing whitespace
        ";" * 1_000_000,  # only comment
        "[" + "1 " * 500_000,  # long unclosed vector
        "9" * 100_000,  # an integer too long for Python's int conversion limit
        '"\\' * 300_000,  # many unterminated string starts
    ],
    ids=[
        "long-unterminated",
        "backslashes",
        "trailing-ws",
        "comment",
        "unclosed",
        "long-int",
        "quotes",
    ],
)
def test_pathological_texts_finish_quickly(text: str) -> None:
    t0 = time.perf_counter()
    with contextlib.suppress(DecodeError):
        loads(text)
    assert time.perf_counter() - t0 < 5


def test_every_truncation_of_a_document_is_a_value_or_a_decode_error() -> None:
    text = dumps(
        [
            {kw("a"): "x\ny", kw("b/c"): 1.5, kw("s"): frozenset({1, 2})},
            (Symbol("s"), Char("\n"), Decimal("1.5")),
            datetime(2020, 1, 1, tzinfo=UTC),
            UUID(int=7),
            Tagged("t", [None, True]),
        ]
    )
    for n in range(len(text)):
        with contextlib.suppress(DecodeError):
            loads(text[:n])
