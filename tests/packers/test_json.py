"""The JSON packer: its exact encoding (docs/packers.md), its errors and its limits."""

from __future__ import annotations

import enum
import json
import re
from collections import OrderedDict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from jupyter_sente.exceptions import DecodeError, EncodeError, UsageError
from jupyter_sente.packers import get_packer
from jupyter_sente.packers.json import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SIZE,
    MAX_SAFE_INT,
    PACKER,
    JsonPacker,
)
from jupyter_sente.values import Char, ImmutableDict, ImmutableList, Keyword, Symbol, Tagged, kw
from tests.same_value import same_value

UTC = timezone.utc

# (value, exact JSON text): the encoding, one case per rule of docs/packers.md
ENCODINGS: list[tuple[Any, str]] = [
    (None, "null"),
    (True, "true"),
    (False, "false"),
    (0, "0"),
    (-17, "-17"),
    (MAX_SAFE_INT, "9007199254740991"),
    (-MAX_SAFE_INT, "-9007199254740991"),
    (MAX_SAFE_INT + 1, '{"~#N":"9007199254740992"}'),
    (-MAX_SAFE_INT - 1, '{"~#N":"-9007199254740992"}'),
    (10**30, '{"~#N":"1000000000000000000000000000000"}'),
    (1.5, "1.5"),
    (1.0, "1.0"),
    (-0.0, "-0.0"),
    (1e300, "1e+300"),
    (float("nan"), '{"~#f":"NaN"}'),
    (float("inf"), '{"~#f":"Inf"}'),
    (float("-inf"), '{"~#f":"-Inf"}'),
    (Decimal("1.50"), '{"~#M":"1.50"}'),
    (Decimal("-2E+3"), '{"~#M":"-2E+3"}'),
    ("", '""'),
    ("hello", '"hello"'),
    ("日本 😀", '"日本 😀"'),
    ('a "quoted"\n\\', '"a \\"quoted\\"\\n\\\\"'),
    ("~", '"~~"'),
    ("~~", '"~~~"'),
    ("~:x", '"~~:x"'),
    ("a~b", '"a~b"'),
    ("lone \ud800 surrogate", '"lone \\ud800 surrogate"'),
    (kw("a"), '"~:a"'),
    (kw("my-app/req"), '"~:my-app/req"'),
    (Keyword("edn-format/kw"), '"~:edn-format/kw"'),
    (Symbol("a/sym"), '"~$a/sym"'),
    (Char("x"), '"~cx"'),
    (Char("~"), '"~c~"'),
    (Char("\n"), '"~c\\n"'),
    ([], "[]"),
    ([1, [2, "three"]], '[1,[2,"three"]]'),
    (ImmutableList([kw("a")]), '["~:a"]'),
    ((), '{"~#list":[]}'),
    ((1, kw("b")), '{"~#list":[1,"~:b"]}'),
    ({}, "{}"),
    ({"a": 1, "~b": 2}, '{"a":1,"~~b":2}'),
    ({kw("x"): 1, Symbol("s"): 2, Char("c"): 3}, '{"~:x":1,"~$s":2,"~cc":3}'),
    (ImmutableDict({kw("x"): [1]}), '{"~:x":[1]}'),
    ({"~#set": 1}, '{"~~#set":1}'),
    ({1: "one"}, '{"~#map":[1,"one"]}'),
    ({kw("a"): 1, 2: "b"}, '{"~#map":["~:a",1,2,"b"]}'),
    ({ImmutableList([1]): None}, '{"~#map":[[1],null]}'),
    (set(), '{"~#set":[]}'),
    (frozenset({kw("k")}), '{"~#set":["~:k"]}'),
    (
        datetime(2024, 1, 31, 12, 30, 15, 123000, tzinfo=UTC),
        '{"~#inst":"2024-01-31T12:30:15.123Z"}',
    ),
    (
        datetime(2024, 1, 31, 12, 30, 15, 123456, tzinfo=UTC),
        '{"~#inst":"2024-01-31T12:30:15.123456Z"}',
    ),
    (
        datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))),
        '{"~#inst":"2023-12-31T23:00:00.000Z"}',
    ),
    (
        UUID("6BA7B810-9DAD-11D1-80B4-00C04FD430C8"),
        '{"~#uuid":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}',
    ),
    (Tagged("my/point", [1, 2]), '{"~#tag":["my/point",[1,2]]}'),
    (Tagged("~odd", None), '{"~#tag":["~~odd",null]}'),
    (
        [[kw("chsk/handshake"), ["alice", None, None]], None],
        '[["~:chsk/handshake",["alice",null,null]],null]',
    ),
]


@pytest.mark.parametrize(("value", "text"), ENCODINGS, ids=[t for _, t in ENCODINGS])
def test_value_packs_to_its_documented_text(value: Any, text: str) -> None:
    assert PACKER.pack(value) == text


@pytest.mark.parametrize(("value", "text"), ENCODINGS, ids=[t for _, t in ENCODINGS])
def test_documented_text_unpacks_to_the_value(value: Any, text: str) -> None:
    assert same_value(PACKER.unpack(text), value)


def test_get_packer_json_is_the_module_packer() -> None:
    assert get_packer("json") is PACKER
    assert PACKER.name == "json"
    assert (PACKER.max_size, PACKER.max_depth) == (DEFAULT_MAX_SIZE, DEFAULT_MAX_DEPTH)


def test_set_members_and_map_keys_come_back_hashable() -> None:
    text = '{"~#set":[[1,{"~:a":[2]}],{"~#tag":["t",[3]]},{"~#list":[[4]]}]}'
    value = PACKER.unpack(text)
    assert value == frozenset(
        {
            ImmutableList([1, ImmutableDict({kw("a"): ImmutableList([2])})]),
            Tagged("t", ImmutableList([3])),
            (ImmutableList([4]),),
        }
    )
    keyed = PACKER.unpack('{"~#map":[[1,2],"v",{"k":1},"w"]}')
    assert keyed == {ImmutableList([1, 2]): "v", ImmutableDict({"k": 1}): "w"}


def test_vectors_and_maps_come_back_as_list_and_dict() -> None:
    value = PACKER.unpack('[["~:e",{"~:x":[1]}],null]')
    assert type(value) is list
    assert type(value[0][1]) is dict
    assert type(value[0][1][kw("x")]) is list


def test_subclasses_pack_like_their_base_types() -> None:
    class Color(enum.IntEnum):
        RED = 1

    class Name(str):
        pass

    value = [Color.RED, Name("~n"), OrderedDict([("a", 1)]), True]
    assert PACKER.pack(value) == '[1,"~~n",{"a":1},true]'


def test_readers_accept_more_than_writers_write() -> None:
    # not what a writer produces, but well defined: non-canonical forms read as their value
    assert same_value(PACKER.unpack('{"~#N":"5"}'), 5)
    assert same_value(
        PACKER.unpack("123456789012345678901234567890"), 123456789012345678901234567890
    )
    assert same_value(PACKER.unpack('{"~#map":["a",1]}'), {"a": 1})
    assert same_value(
        PACKER.unpack('{"~#uuid":"6BA7B810-9DAD-11D1-80B4-00C04FD430C8"}'),
        UUID(int=0x6BA7B8109DAD11D180B400C04FD430C8),
    )
    assert same_value(
        PACKER.unpack('{"~#inst":"2024-01-01T01:00:00+01:00"}'), datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert same_value(
        PACKER.unpack('{"~#inst":"2024-01-01T00:00:00.123456789Z"}'),
        datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
    )
    assert PACKER.unpack(" [ 1 , 2 ] \n") == [1, 2]


def test_duplicate_names_in_an_object_keep_the_last_as_json_parse_does() -> None:
    assert PACKER.unpack('{"a":1,"a":2}') == {"a": 2}


def test_texts_without_a_tilde_unpack_as_plain_json() -> None:
    text = '{"a":[1,2.5,"x"],"b":{"c":null}}'
    assert PACKER.unpack(text) == json.loads(text)


def test_bytes_are_read_as_utf8() -> None:
    assert PACKER.unpack('["~:k","日本"]'.encode()) == [kw("k"), "日本"]
    assert PACKER.unpack(bytearray(b"[1]")) == [1]
    assert PACKER.unpack(memoryview(b"[2]")) == [2]


# ------------------------------------------------------------------------------------------
# Decode errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"~"', "unknown escape"),
        ('"~x"', "unknown escape"),
        ('["~ ok"]', "unknown escape"),
        ('"~:"', "needs a name"),
        ('"~$"', "needs a name"),
        ('"~c"', "exactly one character"),
        ('"~cab"', "exactly one character"),
        ('"~#set"', "one key of an object"),
        ('{"~#set":[1],"b":2}', "one key of an object"),
        ('{"~x":1}', "unknown escape"),
        ('{"~#nope":1}', "unknown tag"),
        ('{"~#set":1}', "needs an array"),
        ('{"~#set":[1,1]}', "duplicate"),
        ('{"~#set":[1,true]}', "duplicate"),
        ('{"~#list":"ab"}', "needs an array"),
        ('{"~#map":[1]}', "even number"),
        ('{"~#map":[1,2,1,3]}', "duplicate"),
        ('{"~#map":{"a":1}}', "needs an array"),
        ('{"~ca":1,"a":2}', "duplicate"),
        ('{"~#inst":"2024-01-31"}', "RFC 3339"),
        ('{"~#inst":"2024-02-30T00:00:00Z"}', "not a valid time"),
        ('{"~#inst":"2024-01-01T00:00:00+24:00"}', "not a valid time"),
        ('{"~#inst":"2024-01-01t00:00:00z"}', "RFC 3339"),
        ('{"~#inst":1}', "RFC 3339"),
        ('{"~#uuid":"not-a-uuid"}', "UUID"),
        ('{"~#uuid":"{6ba7b810-9dad-11d1-80b4-00c04fd430c8}"}', "UUID"),
        ('{"~#M":"1.5.5"}', "decimal"),
        ('{"~#M":"NaN"}', "decimal"),
        ('{"~#M":1.5}', "decimal"),
        ('{"~#N":"1e5"}', "integer"),
        ('{"~#N":12}', "integer"),
        ('{"~#N":"' + "9" * 5000 + '"}', "~#N"),
        ('{"~#f":"nan"}', "NaN"),
        ('{"~#f":1}', "NaN"),
        ('{"~#tag":["t"]}', "[name, value]"),
        ('{"~#tag":["",1]}', "[name, value]"),
        ('{"~#tag":["~:t",1]}', "[name, value]"),
        ('{"~#tag":{"t":1}}', "needs an array"),
        ("NaN", "not JSON"),
        ("[Infinity]", "not JSON"),
        ("-Infinity", "not JSON"),
        ("9" * 5000, "digit"),
    ],
    ids=lambda x: x[:40],
)
def test_text_outside_the_encoding_is_a_decode_error(text: str, message: str) -> None:
    with pytest.raises(DecodeError, match="(?i)" + re.escape(message)):
        PACKER.unpack(text)


@pytest.mark.parametrize(
    ("text", "position"),
    [("", 0), ("[1,2", 4), ('{"a" 1}', 5), ("[1] x", 4), ("[01]", 2), ("\ufeff[1]", 0)],
)
def test_invalid_json_is_a_decode_error_with_its_position(text: str, position: int) -> None:
    with pytest.raises(DecodeError) as caught:
        PACKER.unpack(text)
    assert caught.value.position == position


def test_invalid_utf8_is_a_decode_error_at_the_bad_byte() -> None:
    with pytest.raises(DecodeError, match="UTF-8") as caught:
        PACKER.unpack(b'["ok","\xff"]')
    assert caught.value.position == 7


@pytest.mark.parametrize("text", [None, 42, ["[1]"]])
def test_unpacking_something_that_is_not_text_is_a_decode_error(text: Any) -> None:
    with pytest.raises(DecodeError, match="expected JSON text"):
        PACKER.unpack(text)


# ------------------------------------------------------------------------------------------
# Encode errors


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "cannot pack a value of type object"),
        ({"a": {1, object()}}, "cannot pack"),
        (date(2024, 1, 1), "cannot pack a value of type date"),
        (datetime(2024, 1, 1), "aware datetime"),
        (Decimal("Infinity"), "finite decimals"),
        (Decimal("sNaN"), "finite decimals"),
        (Keyword(""), "keyword needs a name"),
        ({Keyword(""): 1}, "keyword needs a name"),
        (Symbol(""), "symbol needs a name"),
        (Tagged("", 1), "non-empty str tag"),
        (Tagged(Symbol("t"), 1), "non-empty str tag"),
        (10**5000, "cannot pack"),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), "out of range"),
    ],
    ids=lambda x: x if isinstance(x, str) else type(x).__name__,
)
def test_values_outside_the_encoding_are_an_encode_error(value: Any, message: str) -> None:
    with pytest.raises(EncodeError, match=re.escape(message)):
        PACKER.pack(value)


# ------------------------------------------------------------------------------------------
# Limits


def nested(depth: int, leaf: Any = None) -> Any:
    value: Any = [] if leaf is None else [leaf]
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "depth"),
    [
        (nested(3), 3),
        (nested(2, frozenset({1})), 4),
        (nested(2, (1,)), 4),
        (nested(2, {1: 2}), 4),
        (nested(2, {"a": 2}), 3),
        (nested(2, Tagged("t", 1)), 4),
        (nested(2, UUID(int=1)), 3),
        (nested(2, float("nan")), 3),
        (nested(2, 2**60), 3),
    ],
)
def test_depth_counts_json_arrays_and_objects(value: Any, depth: int) -> None:
    text = JsonPacker(max_depth=depth).pack(value)
    assert same_value(JsonPacker(max_depth=depth).unpack(text), value)
    with pytest.raises(EncodeError, match="nested too deeply"):
        JsonPacker(max_depth=depth - 1).pack(value)
    with pytest.raises(DecodeError, match="nested too deeply"):
        JsonPacker(max_depth=depth - 1).unpack(text)


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    assert JsonPacker(max_depth=1).unpack('["[[[[{{{{"]') == ["[[[[{{{{"]


def test_deep_text_without_escapes_is_checked_too() -> None:
    with pytest.raises(DecodeError, match="nested too deeply"):
        JsonPacker(max_depth=3).unpack("[[[[1]]]]")


def test_very_deep_text_is_a_decode_error_not_a_recursion_error() -> None:
    with pytest.raises(DecodeError, match="nested too deeply"):
        PACKER.unpack("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DecodeError, match="nested too deeply"):
        PACKER.unpack('{"a":' * 100_000 + "1" + "}" * 100_000)


def test_ten_megabyte_string_is_over_the_default_size_limit() -> None:
    huge = '"' + "x" * 10_000_000 + '"'
    with pytest.raises(DecodeError, match="over max_size"):
        PACKER.unpack(huge)
    with pytest.raises(EncodeError, match="over max_size"):
        PACKER.pack("x" * 10_000_000)


def test_size_limit_is_configurable() -> None:
    small = JsonPacker(max_size=8)
    assert small.unpack("[1,2,33]") == [1, 2, 33]
    assert small.pack([1, 2, 33]) == "[1,2,33]"
    with pytest.raises(DecodeError, match="9 characters, over max_size 8"):
        small.unpack("[1,2,333]")
    with pytest.raises(DecodeError, match="9 bytes, over max_size 8"):
        small.unpack(b"[1,2,333]")
    with pytest.raises(EncodeError, match="over max_size 8"):
        small.pack([1, 2, 333])


@pytest.mark.parametrize(
    "options",
    [{"max_size": 0}, {"max_depth": 0}, {"max_depth": -1}, {"max_size": 1.5}, {"max_depth": True}],
)
def test_invalid_limits_are_a_usage_error(options: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        JsonPacker(**options)


def test_repr_names_the_limits() -> None:
    assert repr(JsonPacker(max_size=10, max_depth=5)) == "JsonPacker(max_size=10, max_depth=5)"
