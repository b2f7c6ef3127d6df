"""The EDN reader's fast paths (an envelope's payload read alone, the lean reader for texts
without '#') give exactly what the full reader gives: the same values, the same errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_sente.exceptions import DecodeError, EncodeError
from jupyter_sente.packers import edn
from jupyter_sente.packers.edn import PACKER, EdnPacker
from jupyter_sente.values import Char, Keyword, kw
from tests.packers.test_edn_properties import same
from tests.strategies import edn_values

pytestmark = pytest.mark.usefixtures("edn_accelerate")  # with the compiled paths and without

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that make envelopes, near-envelopes and the traps of reading a payload alone.
PIECES = [
    *("[", "]", "{", "}", "(", ")", "#{", "#_", " ", ",", "\n", ";c\n", ";c"),
    *('"s"', '"a b"', '"a;b"', '"#"', '"\\n"', '"\\q"', '"', "\\a", "\\", "\\,", "\\space"),
    *(":k", ":a/b", "1", "-2", "1.5", "01", "nil", "true", "sym", "a/b", "##Inf", "#tag"),
    *('#inst "2020"', '#uuid "x"', ' "a1b2c3"', " nil", '"a1b2c3"', ":x 1", "[1]", "(1)"),
    *("\xa0", "\x1c", "é"),
]
TAILS = [' "a1b2c3"]', " nil]", ',"0f0f0f"]', "]", ' "A1B2C3"]', ' "a1b2c"]']


def read(packer: EdnPacker, text: str) -> tuple[str, Any]:
    try:
        return "value", packer.unpack(text)
    except DecodeError as e:
        return "error", (str(e), e.position)


def full_tokenize(text: str) -> list[str]:
    tokens: list[str] = edn._tokenize(text)
    while tokens and not tokens[-1]:
        tokens.pop()
    return tokens


def full_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn the fast paths off: every text goes through the full reader and tokenizer."""
    monkeypatch.setattr(edn, "_read_envelope", lambda text, max_depth: edn._MISS)
    monkeypatch.setattr(edn, "_read_plain", lambda tokens, max_depth: edn._MISS)
    monkeypatch.setattr(edn, "_tokenize_uncommented", full_tokenize)


@SETTINGS
@given(st.lists(st.sampled_from(PIECES), max_size=10).map("".join))
def test_the_tokenizer_for_texts_without_comments_gives_the_same_tokens(text: str) -> None:
    text = text.replace(";", "")
    if text[-1:] not in (" ", "\t", "\n", "\r", "\f", "\v", ","):
        assert edn._tokenize_uncommented(text) == full_tokenize(text)


@SETTINGS
@given(
    st.lists(st.sampled_from(PIECES), max_size=8).map("".join),
    st.sampled_from(["", *TAILS]),
    st.sampled_from([0, 1, 2, 1000]),
)
def test_fast_paths_read_as_the_full_reader_does(body: str, tail: str, max_depth: int) -> None:
    text = "[" + body + tail if tail else body
    packer = EdnPacker(max_depth=max_depth)
    fast = read(packer, text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        full_reader(monkeypatch)
        full = read(EdnPacker(max_depth=max_depth, accelerate=False), text)
    assert fast[0] == full[0], (text, fast, full)
    if fast[0] == "value":
        assert same(fast[1], full[1]), (text, fast, full)
    else:
        assert fast[1] == full[1], text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            '[{:x 1, :msg "hello"} "a1b2c3"]',
            [{kw("x"): 1, kw("msg"): "hello"}, "a1b2c3"],
        ),
        ('[nil "a1b2c3"]', [None, "a1b2c3"]),
        ("[[:a] nil]", [[kw("a")], None]),
        ('[ "a1b2c3"]', ["a1b2c3"]),  # no payload: a vector of one string
        ('[#_1 "a1b2c3"]', ["a1b2c3"]),
        ('[1 2 "a1b2c3"]', [1, 2, "a1b2c3"]),  # two values before the cb-id
        ('[\\, "a1b2c3"]', [Char(","), "a1b2c3"]),
        ('[\\,"a1b2c3"]', [Char(","), "a1b2c3"]),  # the comma is the character, not a separator
    ],
)
def test_envelope_shaped_texts_read_whole(text: str, value: Any) -> None:
    assert PACKER.unpack(text) == value


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ('[1 ;c "a1b2c3"]', "the vector at 0 is not closed", 15),  # the comment runs to the end
        ('[1 "a1b2c3"] [2 "a1b2c3"]', "more than one value", 13),
        ('[#inst "a1b2c3"]', "RFC 3339", 1),
        ('[\\ "a1b2c3"]', "written by name", 1),
        ('[{:a} "a1b2c3"]', "even number of forms", 1),
        ('[{:a 1 :a 2} "a1b2c3"]', "duplicate key", 1),
        ('[{[1] 1 (1) 2} "a1b2c3"]', "equal in Clojure", 1),
        (
            "[1 {:a 1 :a 2}]",
            "duplicate key",
            3,
        ),  # the lean reader gives up, the full one says where
        ('[1 "a]', "unterminated string", 3),
        ("[1 2)", r"unexpected \)", 4),
    ],
)
def test_errors_are_reported_where_they_are(text: str, message: str, position: int) -> None:
    with pytest.raises(DecodeError, match=message) as caught:
        PACKER.unpack(text)
    assert caught.value.position == position


def test_an_envelope_counts_as_a_nesting_level() -> None:
    assert EdnPacker(max_depth=1).unpack('[1 "a1b2c3"]') == [1, "a1b2c3"]
    with pytest.raises(DecodeError, match="max_depth=1"):
        EdnPacker(max_depth=1).unpack('[[1] "a1b2c3"]')
    with pytest.raises(DecodeError, match="max_depth=0"):
        EdnPacker(max_depth=0).unpack('[1 "a1b2c3"]')


CB_IDS = ["a1b2c3", None, "", "x y", 'a"b', "\x01", "é", "\uff21\uff22"]


def pack(max_depth: int, value: Any) -> tuple[str, str]:
    try:
        return "text", EdnPacker(max_depth=max_depth).pack(value)
    except EncodeError as e:
        return "error", str(e)


EVENT_IDS = [kw("my-app/ev"), kw("ev"), Keyword("my-app/ev"), "my-app/ev", 1]


@SETTINGS
@given(
    edn_values | st.builds(lambda k, v: [k, {kw("k"): v}], st.sampled_from(EVENT_IDS), edn_values),
    st.sampled_from(CB_IDS),
    st.sampled_from([0, 1, 2, 3, 1000]),
)
def test_an_envelope_packs_as_any_vector_of_two(value: Any, cb_id: Any, max_depth: int) -> None:
    # the fast paths of an envelope and of an event [id {...}] in it: "[" + payload + " " +
    # cb-id + "]", one nesting level down
    whole = pack(max_depth, [value, cb_id])
    payload = pack(max_depth - 1, value) if max_depth > 0 else ("error", "")
    if payload[0] == "text":
        assert whole == ("text", "[" + payload[1] + " " + PACKER.pack(cb_id) + "]")
    else:
        assert whole[0] == "error"
        assert f"max_depth={max_depth}" in whole[1] or payload[1] in whole[1]


def test_alphanumeric_strings_are_written_as_they_are() -> None:
    assert PACKER.pack([{kw("msg"): "hello"}, "a1b2c3"]) == '[{:msg "hello"} "a1b2c3"]'
    assert PACKER.pack(["\uff21\uff22", "²"]) == '["\uff21\uff22" "²"]'
    assert PACKER.pack(['a"b', "a\\b", "\x01"]) == '["a\\"b" "a\\\\b" "\\u0001"]'
