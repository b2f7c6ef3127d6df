"""EDN packer: a fast, strict EDN reader and writer (Sente's default packer).

The reader and writer here are pure Python and define the behaviour. When the optional compiled
module ``_edn_speedups`` is built (wheels and ``.ci/setup`` build it), it serves the common
cases (vectors, lists, maps, strings, keywords, numbers, nil, booleans) about 4x faster and
hands everything else, errors included, back to the code here; the results are the same.

Values are edn-format's types, as ``edn_format.loads`` returns them: vector -> ``ImmutableList``,
list -> ``tuple``, map -> ``ImmutableDict``, set -> ``frozenset``, keyword -> ``Keyword`` (the
interned :class:`~jupyter_sente.values.FastKeyword`), symbol -> ``Symbol``, character ->
``Char``, ``#inst`` -> aware ``datetime``, ``#uuid`` -> ``uuid.UUID``, ``123N`` -> ``int``,
``1.5M`` -> ``Decimal``, other tags -> :class:`~jupyter_sente.values.Tagged`.

The writer prints like Clojure's ``pr-str``: maps as ``{:a 1, :b 2}``, floats as ``1.0``
(``##NaN``, ``##Inf``, ``##-Inf`` for the others), ``#inst "1970-01-01T00:00:00.000-00:00"``
(always UTC), ``#uuid "..."``. It also takes ``list``/``dict``/``set`` (vector, map, set).

The reader accepts exactly one EDN value (surrounded by whitespace, commas and ``;`` comments)
and raises :class:`~jupyter_sente.exceptions.DecodeError` with the character offset for anything
the EDN spec rejects. Choices where the spec, Clojure and edn-format differ ([ambiguous]):

* ``""`` (or only whitespace/comments) unpacks to ``None``, as in Sente.
* Symbols and keywords follow the spec: a name starts with a non-digit; ``-``, ``+`` or ``.``
  may start it only if no digit follows; ``/`` appears once between two non-empty parts, or
  alone (the symbol ``/``); ``ns//`` is accepted as in Clojure 1.5+ and tools.reader
  (``clojure.core//``). ``::``, ``:1``, ``:/``, ``/a``, ``a/``, ``a//b`` are rejected. Letters
  may be any Unicode letters (as in Clojure). Tags start with a letter.
* Numbers follow the spec: no leading zeros (``01`` is rejected, not octal), no ``0x10``, no
  radix (``2r1``) and no ratios (``22/7``), a fraction needs digits (``1.``, ``.5`` are
  rejected). ``##NaN``, ``##Inf``, ``##-Inf`` are read (Clojure 1.9+). Integers are limited to
  Python's int-string conversion limit (4300 digits) in both directions.
* Characters: ``\\c`` for one UTF-16 code unit other than space, tab, newline, return and
  form feed (those go by name; Clojure prints every other character raw, ``\\,`` included),
  ``\\uXXXX`` (not a surrogate),
  ``\\newline``, ``\\space``, ``\\tab``, ``\\return``, ``\\formfeed``, ``\\backspace``. Octal
  ``\\o123`` is not EDN and is rejected, so is a character outside the BMP (Clojure chars are
  16-bit). Strings accept the escapes ``\\t \\r \\n \\\\ \\" \\b \\f \\uXXXX``; a ``\\u``
  surrogate pair becomes one code point (a lone one stays, as in Java). Raw lone surrogates
  in the text (from ``surrogateescape``) are rejected.
* Whitespace is space, tab, newline, return, form feed, vertical tab and comma.
* Duplicate map keys and set members are rejected, as Clojure's reader does; duplicates are
  judged by Python equality, so ``#{1 true}`` or ``{"a" 1 \\a 2}`` are rejected too (Python
  cannot hold both), and so are ``#{[1] (1)}`` and ``{[] 1, () 2}`` (Clojure's reader
  rejects them: a vector equals a list there). The writer refuses such sets and maps too
  (``EncodeError``), so Clojure can always read what it writes.
* ``#inst`` takes an RFC 3339 timestamp whose trailing parts may be left out (``"2020"``,
  ``"2020-01-01T10:00"``), as Clojure does, and always gives an aware ``datetime`` (edn-format
  gives a ``date`` for date-only text); the offset given is kept, ``Z``/``-00:00`` is UTC,
  fractions beyond microseconds are truncated. ``#uuid`` takes the canonical 8-4-4-4-12 form.
* Not EDN, rejected: metadata ``^``, namespaced maps ``#:ns{}``, regexes, ``#(...)``, ``'``.
* Keywords read are interned (:func:`~jupyter_sente.values.wire_keyword`) while the table is
  small, so a peer cannot grow it without bound.
* Limits: ``max_depth`` (default 1000) nested collections/tags and ``max_size`` (default
  16 MiB, characters or bytes) per text; beyond them a ``DecodeError``. ``bytes`` are decoded
  as strict UTF-8 (a bad sequence is a ``DecodeError`` at its byte offset).

Writer choices: a naive ``datetime`` is an ``EncodeError`` (its instant is unknown); a ``date``
is written as midnight UTC; sub-millisecond datetimes get 6 fraction digits (Clojure reads and
truncates them). ``Decimal`` (``M``) and ``Char`` are Clojure-only (ClojureScript has neither).
Keyword, symbol and tag names that would not read back, ``Tagged`` with tag ``inst``/``uuid``,
non-finite ``Decimal``, astral or surrogate ``Char``, and any other type are an ``EncodeError``
naming the problem. Control characters in strings other than ``\\t \\n \\r \\b \\f`` are written as
``\\uXXXX``. Packing nests at most ``max_depth`` collections (a self-referencing list is an
``EncodeError``).
"""

from __future__ import annotations

import math
import os
import re
import sys
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final

from edn_format import TaggedElement

from jupyter_sente.exceptions import DecodeError, EncodeError
from jupyter_sente.values import (
    Char,
    FastKeyword,
    ImmutableDict,
    ImmutableList,
    Keyword,
    Symbol,
    Tagged,
    wire_keyword,
)

__all__ = ["DEFAULT_MAX_DEPTH", "DEFAULT_MAX_SIZE", "PACKER", "EdnPacker", "dumps", "loads"]

DEFAULT_MAX_DEPTH: Final = 1000
DEFAULT_MAX_SIZE: Final = 16 * 1024 * 1024

# ---------------------------------------------------------------------------------------------
# Lexical grammar

_WS: Final = " \t\n\r\f\v,"  # EDN whitespace (commas included)
_WS_CLASS: Final = r" \t\n\r\f\v,"
_DELIM_CLASS: Final = _WS_CLASS + r'"();\[\]{}\\'
# One token per match, after skipping whitespace and comments. The alternatives are: a string,
# a bracket, "#inst"/"#uuid" with a plain string (one token: a fast path), "#_" or "#{", a
# character literal, any other run of constituent characters (numbers, symbols, keywords, tags,
# "##Inf"), a lone '"' or '\' (unterminated), or "" at the very end. Its quantifiers are
# possessive where Python has them (3.11+): none could backtrack into another match here, and
# the engine then saves no backtracking state, a fifth faster.
_P: Final = "+" if sys.version_info >= (3, 11) else ""
_TOKEN: Final = re.compile(
    rf"""[{_WS_CLASS}]*{_P}(?:;[^\n\r]*{_P}[{_WS_CLASS}]*{_P})*{_P}
    (
      "[^"\\]*{_P}(?:\\[\s\S][^"\\]*{_P})*{_P}"
    | [\[\](){{}}]
    | \#(?:inst|uuid)[{_WS_CLASS}]*{_P}"[^"\\]*{_P}"
    | \#[_{{]
    | \\[\s\S][^{_DELIM_CLASS}]*{_P}
    | [^{_DELIM_CLASS}]+{_P}
    | [\s\S]
    |
    )""",
    re.VERBOSE,
)
_tokenize: Final = _TOKEN.findall
# The same tokens for a text without ';' (so no comment), without the "" at the end. (A text
# ending in whitespace makes it try a match at each of those characters: give it none.)
_tokenize_uncommented: Final = re.compile(
    rf"""[{_WS_CLASS}]*{_P}
    (
      "[^"\\]*{_P}(?:\\[\s\S][^"\\]*{_P})*{_P}"
    | [\[\](){{}}]
    | \#(?:inst|uuid)[{_WS_CLASS}]*{_P}"[^"\\]*{_P}"
    | \#[_{{]
    | \\[\s\S][^{_DELIM_CLASS}]*{_P}
    | [^{_DELIM_CLASS}]+{_P}
    | [\s\S]
    )""",
    re.VERBOSE,
).findall

_START: Final = r"(?:[^\W\d]|[*!?$%&=<>])"
_CONST: Final = r"[\w.*+!\-?$%&=<>:#]"
_PART: Final = rf"(?:{_START}{_CONST}*|[-+.](?:(?:{_START}|[-+.:#]){_CONST}*)?)"
_NAME: Final = rf"(?!.*::)(?:{_PART}(?:(?<!:)/(?:{_PART}|/))?)"
_SYMBOL_RE: Final = re.compile(rf"/|{_NAME}")
_KEYWORD_RE: Final = re.compile(rf":{_NAME}")
_NUMBER_RE: Final = re.compile(r"([+-]?(?:0|[1-9][0-9]*))(?:(N)|(\.[0-9]+)?([eE][+-]?[0-9]+)?(M)?)")
_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_INST_RE: Final = re.compile(
    r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})(?:T([0-9]{2})(?::([0-9]{2})(?::([0-9]{2})"
    r"(?:\.([0-9]+))?)?)?)?)?)?(?:(Z)|([+-])([0-9]{2}):([0-9]{2}))?"
)
_INST_COMMON_RE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3}(?:[0-9]{3})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_STRING_ESCAPE_RE: Final = re.compile(r'\\(?:([tnrbf"\\])|u([0-9a-fA-F]{4})|)')
_STRING_ESCAPES: Final = {
    "t": "\t",
    "n": "\n",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "\\": "\\",
}
_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")
_NAMED_CHARS: Final = {
    "newline": "\n",
    "space": " ",
    "tab": "\t",
    "return": "\r",
    "formfeed": "\f",
    "backspace": "\b",
}
_NAMED_CHAR_VALUES: Final = frozenset(" \n\t\r\f")
_SYMBOLIC: Final = {"##Inf": float("inf"), "##-Inf": float("-inf"), "##NaN": float("nan")}
_DIGITS: Final = frozenset("0123456789")


class _Bad(Exception):
    """An invalid token; the reader adds the position (``delta`` is relative to the token)."""

    def __init__(self, reason: str, delta: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delta = delta


# ---------------------------------------------------------------------------------------------
# Reader

# Atoms already read (keywords, symbols, numbers, characters, nil/true/false): token -> value.
# Every value here is immutable, so sharing it between reads is safe.
_CONSTANTS: Final[dict[str, Any]] = {"nil": None, "true": True, "false": False, **_SYMBOLIC}
_atoms: dict[str, Any] = dict(_CONSTANTS)
_MAX_ATOMS: Final = 8192

_VEC, _LIST, _MAP, _SET, _TOP, _DISCARD, _TAG = range(7)
_OPENERS: Final = {"[": _VEC, "(": _LIST, "{": _MAP, "#{": _SET}
_CLOSER_OF: Final = {_VEC: "]", _LIST: ")", _MAP: "}", _SET: "}"}
_KIND_NAMES: Final = {
    _VEC: "vector",
    _LIST: "list",
    _MAP: "map",
    _SET: "set",
    _DISCARD: "#_",
    _TAG: "tag",
}
_MISS: Final = object()
_UTC: Final = timezone.utc
_new_object: Final = object.__new__
_set_attribute: Final = object.__setattr__
_UUID_SAFE_UNKNOWN: Final = uuid.SafeUUID.unknown
_new_list: Final = ImmutableList.__new__
_new_map: Final = ImmutableDict.__new__


def _read_atom(tok: str) -> Any:
    """The value of an atom token (not a string, bracket, tag or discard), cached when small."""
    c = tok[0]
    if c == ":":
        if _KEYWORD_RE.fullmatch(tok) is None or tok == ":/":
            raise _Bad(f"invalid keyword {tok[:80]!r}")
        v: Any = wire_keyword(tok[1:])
    elif tok.isdigit() and tok.isascii() and (c != "0" or len(tok) == 1):
        try:
            v = int(tok)
        except ValueError:  # longer than Python's int-string conversion limit
            raise _Bad(f"integer of {len(tok)} digits is too long") from None
        if len(tok) > 4:  # do not fill the cache with one-off numbers
            return v
    elif c in _DIGITS or (c in "+-" and len(tok) > 1 and tok[1] in _DIGITS):
        m = _NUMBER_RE.fullmatch(tok)
        if m is None:
            raise _Bad(f"invalid number {tok[:80]!r}")
        whole, _, frac, exp, dec = m.groups()
        if dec:
            try:
                v = Decimal(tok[:-1])
            except ArithmeticError:  # an exponent beyond the decimal module's limits
                raise _Bad(f"decimal {tok[:80]!r} is out of range") from None
        elif frac or exp:
            v = float(tok)
        else:
            try:
                v = int(whole)
            except ValueError:  # longer than Python's int-string conversion limit
                raise _Bad(f"integer of {len(whole)} digits is too long") from None
        if len(tok) > 4:
            return v
    elif c == "\\":
        v = _read_char(tok)
    elif c == '"':
        raise _Bad("unterminated string")
    else:
        if _SYMBOL_RE.fullmatch(tok) is None:
            raise _Bad(f"invalid symbol {tok[:80]!r}")
        v = Symbol(tok)
    if len(tok) <= 64:
        if len(_atoms) >= _MAX_ATOMS:
            _atoms.clear()
            _atoms.update(_CONSTANTS)
        _atoms[tok] = v
    return v


def _read_char(tok: str) -> Char:
    """The character of a ``\\c`` token."""
    if len(tok) == 2:
        c = tok[1]
        if c in _NAMED_CHAR_VALUES:  # Clojure prints any other character raw after "\\"
            raise _Bad("a whitespace character must be written by name (\\space, \\tab ...)")
        if ord(c) > 0xFFFF:
            raise _Bad("a character outside the BMP has no EDN (UTF-16) character literal")
        return Char(c)
    if len(tok) == 1:
        raise _Bad("backslash at end of input")
    named = _NAMED_CHARS.get(tok[1:])
    if named is not None:
        return Char(named)
    if len(tok) == 6 and tok[1] == "u" and re.fullmatch("[0-9a-fA-F]{4}", tok[2:]):
        code = int(tok[2:], 16)
        if 0xD800 <= code <= 0xDFFF:
            raise _Bad(f"character literal {tok!r} is a surrogate")
        return Char(chr(code))
    raise _Bad(f"invalid character literal {tok[:80]!r}")


def _unescape_match(m: re.Match[str]) -> str:
    simple, code = m.group(1, 2)
    if simple is not None:
        return _STRING_ESCAPES[simple]
    if code is not None:
        return chr(int(code, 16))
    raise _Bad("invalid escape in string", m.start() + 1)


def _read_string(body: str) -> str:
    """The value of a string token's body (between the quotes) that has a backslash."""
    s = _STRING_ESCAPE_RE.sub(_unescape_match, body)
    if not s.isascii() and _SURROGATE_RE.search(s) is not None:
        # \uXXXX pairs are UTF-16, as in Java: join them into one code point.
        s = s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return s


def _read_tag(tok: str) -> str:
    """The tag of a ``#tag`` token."""
    tag = tok[1:]
    if not tag[:1].isalpha() or _SYMBOL_RE.fullmatch(tag) is None:
        if tag[:1] == ":":
            raise _Bad("namespaced maps (#:ns{...}) are not EDN")
        if tag[:1] == "#":
            raise _Bad(f"unknown symbolic value {tok[:80]!r}")
        raise _Bad(f"# must be followed by {{, _ or a tag, not {tok[:80]!r}")
    return tag


def _read_tagged(tag: str, value: Any) -> Any:
    """The value of ``#tag value``."""
    if tag == "inst":
        if type(value) is not str:
            raise _Bad("#inst takes a string")
        return _read_inst(value)
    if tag == "uuid":
        if type(value) is not str or _UUID_RE.fullmatch(value) is None:
            raise _Bad("#uuid takes a string of 8-4-4-4-12 hex digits")
        # What uuid.UUID(hex) gives, at half the cost (UUID's own __setstate__ does the same).
        u = _new_object(uuid.UUID)
        _set_attribute(u, "int", int(value.replace("-", ""), 16))
        _set_attribute(u, "is_safe", _UUID_SAFE_UNKNOWN)
        return u
    return Tagged(tag, value)


def _read_inst(text: str) -> datetime:
    if _INST_COMMON_RE.fullmatch(text) is not None:  # Clojure's own form: a fast path
        try:
            return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] == "Z" else text)
        except ValueError as e:
            raise _Bad(f"#inst {text!r}: {e}") from None
    m = _INST_RE.fullmatch(text)
    if m is None:
        raise _Bad(f"#inst {text[:80]!r} is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second, frac, _, sign, off_h, off_m = m.groups()
    tz = timezone.utc
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            raise _Bad(f"#inst {text!r} has an invalid offset")
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset:
            tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0")[:6].ljust(6, "0")),
            tz,
        )
    except ValueError as e:
        raise _Bad(f"#inst {text!r}: {e}") from None


def _offset(text: str, index: int) -> int:
    """The character offset of token ``index`` (only on the error path)."""
    for i, m in enumerate(_TOKEN.finditer(text)):
        if i == index:
            return m.start(1)
    return len(text)


def _raise_duplicate(values: list[Any], what: str, where: str) -> None:
    """Raise for the first value of ``values`` equal to an earlier one."""
    seen: set[Any] = set()
    for k in values:
        if k in seen:
            raise _Bad(f"duplicate {what} {k!r} in {where}")
        seen.add(k)
    raise AssertionError("no duplicate")  # pragma: no cover


# Types whose values are equal in Clojure exactly when they are in Python. Collections are
# not: in Clojure a vector equals a list with the same items ([1] = (1)), in Python not.
_PLAIN_TYPES: Final = frozenset(
    {str, int, float, bool, type(None), FastKeyword, Keyword, Symbol, Char, Decimal}
    | {datetime, date, uuid.UUID}
)


def _clojure_form(x: Any) -> Any:
    """A stand-in for ``x`` that is equal to another's exactly when Clojure's ``=`` would be."""
    t = type(x)
    if t is ImmutableList or t is list or t is tuple:
        return ("seq", tuple(map(_clojure_form, x)))
    if t is ImmutableDict or t is dict:
        return ("map", frozenset((_clojure_form(k), _clojure_form(v)) for k, v in x.items()))
    if t is frozenset or t is set:
        return ("set", frozenset(map(_clojure_form, x)))
    if t is Tagged:
        return ("tag", x.tag, _clojure_form(x.value))
    return x


def _check_clojure_duplicates(
    keys: Any, what: str, where: str, error: Callable[[str], Exception]
) -> None:
    """Raise ``error`` if two of ``keys`` are equal in Clojure (Clojure's reader rejects that)."""
    try:
        if len({_clojure_form(k) for k in keys}) == len(keys):
            return
    except RecursionError:
        raise error(f"a {what} of this {where} nests too deep to compare") from None
    raise error(f"two {what}s of a {where} are equal in Clojure (a vector equals a list)")


def _read_plain(tokens: list[str], max_depth: int) -> Any:
    """The one value of ``tokens`` from a text without '#', or ``_MISS``; the common case, fast.

    It reads vectors, maps, lists, strings and atoms as the full reader does, but keeps no
    token positions: on an error (or no value, or more than one) it gives up, and the full
    reader reads the tokens again and reports the error where it is.
    """
    get = _atoms.get
    miss = _MISS
    out: list[Any] = []
    items = out
    kind = ""  # the innermost open collection's opening bracket ("" at the top)
    stack: list[tuple[str, list[Any]]] = []
    try:
        for tok in tokens:
            v = get(tok, miss)
            if v is miss:
                c = tok[0]
                if c == '"':
                    if tok == '"':
                        return miss  # unterminated
                    v = tok[1:-1]
                    if "\\" in v:
                        v = _read_string(v)
                elif c in "[{(":  # a bracket is a token of its own
                    if len(stack) >= max_depth:
                        return miss
                    stack.append((kind, items))
                    kind = c
                    items = []
                    continue
                elif c in "]})":
                    if kind == "{" and c == "}":
                        n = len(items)
                        if n & 1:
                            return miss
                        pairs = iter(items)
                        # no strict=: a keyword argument makes zip parse its arguments slowly
                        d = dict(zip(pairs, pairs))  # noqa: B905 (an even count, checked)
                        if len(d) * 2 != n:
                            return miss  # a duplicate key
                        if n > 2 and not _PLAIN_TYPES.issuperset(map(type, d)):
                            _check_clojure_duplicates(d, "key", "map", _Bad)
                        v = _new_map(ImmutableDict)
                        v.dict = d
                        v.hash = None
                    elif kind == "[" and c == "]":
                        v = _new_list(ImmutableList)
                        v._list = items
                        v._hash = None
                    elif kind == "(" and c == ")":
                        v = tuple(items)
                    else:
                        return miss
                    kind, items = stack.pop()
                else:
                    v = _read_atom(tok)
            items.append(v)
    except _Bad:
        return miss
    return out[0] if len(out) == 1 and not kind else _MISS


def _read(text: str, max_depth: int, empty: Any = None) -> Any:
    """The one EDN value of ``text`` (``empty`` if it holds none)."""
    if not text.isascii():
        m = _SURROGATE_RE.search(text)
        if m is not None:
            raise DecodeError("text holds a lone surrogate (not valid Unicode)", m.start())
    if ";" in text or text[-1:] in _WS:
        tokens: list[str] = _tokenize(text)
        while tokens and not tokens[-1]:  # "" matches only at the end
            tokens.pop()
    else:
        tokens = _tokenize_uncommented(text)
    if "#" not in text:  # no tag, set or #_ (nor a string with a '#'): the lean reader first
        v = _read_plain(tokens, max_depth)
        if v is not _MISS:
            return v
    n = len(tokens)
    get = _atoms.get
    out: list[Any] = []
    items = out
    append = out.append
    kind = _TOP
    start = 0  # token index where the innermost open collection (or tag, #_) began
    closed = 0  # token index where the last closed collection began
    pending = True  # kind is _TOP, _DISCARD or _TAG: a finished value needs a look
    stack: list[tuple[int, list[Any], int]] = []
    push = stack.append
    pop = stack.pop
    # The token index is n - left() - 1; computed only where needed, not per token.
    it: Any = iter(tokens)
    left = it.__length_hint__
    i = -1  # the token index an error is reported at, when it is not the current token
    try:
        for tok in it:
            v = get(tok, _MISS)
            if v is _MISS:
                c = tok[0]
                if c == '"':
                    if tok == '"':
                        raise _Bad("unterminated string")
                    v = tok[1:-1]
                    if "\\" in v:
                        v = _read_string(v)
                elif c in "]})":
                    if kind >= _TOP or tok != _CLOSER_OF[kind]:
                        if kind >= _TOP:
                            what = "nothing" if kind == _TOP else f"a {_KIND_NAMES[kind]}"
                            raise _Bad(f"unexpected {tok}: {what} is open")
                        raise _Bad(f"unexpected {tok}: the {_KIND_NAMES[kind]} is not closed")
                    if kind == _VEC:
                        v = _new_list(ImmutableList)
                        v._list = items
                        v._hash = None
                    elif kind == _MAP:
                        if len(items) & 1:
                            i = start
                            raise _Bad("a map needs an even number of forms")
                        pairs = iter(items)
                        d = dict(zip(pairs, pairs))  # noqa: B905 (as in _read_plain)
                        if len(d) * 2 != len(items):
                            i = start
                            _raise_duplicate(items[::2], "key", "map")
                        if len(d) > 1 and not _PLAIN_TYPES.issuperset(map(type, d)):
                            i = start
                            _check_clojure_duplicates(d, "key", "map", _Bad)
                        v = _new_map(ImmutableDict)
                        v.dict = d
                        v.hash = None
                    elif kind == _SET:
                        v = frozenset(items)
                        if len(v) != len(items):
                            i = start
                            _raise_duplicate(items, "member", "set")
                        if len(v) > 1 and not _PLAIN_TYPES.issuperset(map(type, v)):
                            i = start
                            _check_clojure_duplicates(v, "member", "set", _Bad)
                    else:
                        v = tuple(items)
                    closed = start
                    kind, items, start = pop()
                    append = items.append
                    pending = kind >= _TOP
                elif c in "[{(" or tok == "#{":
                    if len(stack) >= max_depth:
                        raise _Bad(f"nested deeper than max_depth={max_depth}")
                    push((kind, items, start))
                    kind = _OPENERS[tok]
                    items = []
                    append = items.append
                    start = n - left() - 1
                    pending = False
                    continue
                elif c == "#":
                    if tok[-1] == '"':  # "#inst \"...\"" or "#uuid \"...\"" in one token
                        v = _read_tagged(tok[1:5], tok[tok.index('"') + 1 : -1])
                    else:
                        if len(stack) >= max_depth:
                            raise _Bad(f"nested deeper than max_depth={max_depth}")
                        push((kind, items, start))
                        if tok == "#_":
                            kind = _DISCARD
                            items = []
                        else:
                            kind = _TAG
                            items = [_read_tag(tok)]
                        append = items.append
                        start = n - left() - 1
                        pending = True
                        continue
                else:
                    v = _read_atom(tok)
            append(v)
            if pending:
                vstart = closed if tok[0] in "]})" else n - left() - 1
                while kind == _TAG and len(items) == 2:
                    i = start
                    v = _read_tagged(items[0], items[1])
                    vstart = start
                    kind, items, start = pop()
                    append = items.append
                    append(v)
                i = -1
                if kind == _DISCARD and items:
                    kind, items, start = pop()
                    append = items.append
                elif kind == _TOP and len(out) > 1:
                    i = vstart
                    raise _Bad("more than one value (unpack reads exactly one)")
                pending = kind >= _TOP
    except _Bad as e:
        if i < 0:
            i = n - left() - 1
        raise DecodeError(e.reason, _offset(text, i) + e.delta) from None
    if kind != _TOP:
        what = _KIND_NAMES[kind]
        raise DecodeError(
            f"unexpected end of input: the {what} at {_offset(text, start)} is not closed",
            len(text),
        )
    return out[0] if out else empty


# The envelope of a request or a reply, ``[<payload> "<6 hex>"]`` (or ``[<payload> nil]``),
# is most of the traffic: its payload is read alone and the vector built around it, which
# skips the tokens and the bookkeeping of the outer vector. The result is the full reader's
# exactly: the text splits into the same tokens ("[", the payload's, the cb-id, "]") because
# a separator ends any token, except inside a ';' comment, which would run past the payload
# alone (so no ';' at all). The payload is read one nesting level shallower, and any text
# whose payload is not exactly one value (none, two, an error) goes to the full reader,
# which reports errors at their places in the whole text. The payload ends with a character
# that is not whitespace, so its tokenizer tries no match in whitespace at its end.
_ENVELOPE: Final = re.compile(
    rf'\[([^;]*[^;{_WS_CLASS}])[{_WS_CLASS}]+(?:"([0-9a-f]{{6}})"|nil)\]\Z'
).match


def _read_envelope(text: str, max_depth: int) -> Any:
    """The envelope ``text`` read by its payload alone, or ``_MISS`` (use the full reader)."""
    m = _ENVELOPE(text)
    if m is None or max_depth < 1:
        return _MISS
    payload_text, cb_id = m.groups()
    if payload_text.isascii() and "#" not in payload_text:  # what _read would do, a call less
        payload = _read_plain(_tokenize_uncommented(payload_text), max_depth - 1)
    else:
        try:
            payload = _read(payload_text, max_depth - 1, _MISS)
        except DecodeError:
            return _MISS
    if payload is _MISS:
        return _MISS
    v = _new_list(ImmutableList)
    v._list = [payload, cb_id]
    v._hash = None
    return v


# ---------------------------------------------------------------------------------------------
# Writer

_STRING_NEEDS_ESCAPE: Final = re.compile('[\x00-\x1f"\\\\\ud800-\udfff]').search
_STRING_ESCAPE: Final = re.compile('[\x00-\x1f"\\\\\ud800-\udfff]').sub
_WRITE_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\b": "\\b",
    "\f": "\\f",
}
_CHAR_NAMES: Final = {v: "\\" + k for k, v in _NAMED_CHARS.items()}
_keyword_texts: dict[str, str] = {}


def _escape_match(m: re.Match[str]) -> str:
    c = m.group()
    return _WRITE_ESCAPES.get(c) or f"\\u{ord(c):04X}"


def _write_str(s: str) -> str:
    if s.isalnum() or _STRING_NEEDS_ESCAPE(s) is None:  # alphanumeric: no escape, no regex
        return '"' + s + '"'
    return '"' + _STRING_ESCAPE(_escape_match, s) + '"'


def _keyword_text(k: Keyword) -> str:
    """The EDN text of a keyword, or ``EncodeError`` if its name would not read back."""
    if type(k) is FastKeyword:
        t: str | None = k._edn
        if t is None:
            t = k._edn = _keyword_text_of(k.name)
        return t
    return _keyword_text_of(k.name)


def _keyword_text_of(name: Any) -> str:
    t = _keyword_texts.get(name)
    if t is None:
        t = ":" + name if isinstance(name, str) else ""
        if _KEYWORD_RE.fullmatch(t) is None or t == ":/":
            raise EncodeError(f"keyword name {name!r} would not read back as a keyword")
        if len(_keyword_texts) < _MAX_ATOMS:
            _keyword_texts[name] = t
    return t


def _write_symbol(s: Symbol) -> str:
    name = s.name
    if (
        not isinstance(name, str)
        or _SYMBOL_RE.fullmatch(name) is None
        or name in ("nil", "true", "false")
    ):
        raise EncodeError(f"symbol name {name!r} would not read back as a symbol")
    return str(name)


def _write_char(c: str) -> str:
    t = _CHAR_NAMES.get(c)
    if t is not None:
        return t
    code = ord(c)
    if 0x21 <= code <= 0x7E:
        return "\\" + c
    if code > 0xFFFF or 0xD800 <= code <= 0xDFFF:
        raise EncodeError(f"character U+{code:04X} has no EDN (UTF-16) character literal")
    return f"\\u{code:04X}"


def _write_float(x: float) -> str:
    if x - x == 0:  # finite (inf - inf and nan - nan are nan)
        return float.__repr__(x)
    if math.isnan(x):
        return "##NaN"
    return "##Inf" if x > 0 else "##-Inf"


def _write_int(x: int) -> str:
    try:
        return int.__repr__(x)
    except ValueError:  # more digits than Python's int-string conversion limit
        raise EncodeError("integer too large to write (Python's int-string limit)") from None


def _write_decimal(x: Decimal) -> str:
    if not x.is_finite():
        raise EncodeError(f"Decimal {x} has no EDN form")
    return str(x) + "M"


def _write_datetime(x: datetime) -> str:
    if x.tzinfo is not _UTC:
        if x.tzinfo is None or x.utcoffset() is None:
            raise EncodeError("a naive datetime has no instant: give it a tzinfo")
        try:
            x = x.astimezone(_UTC)
        except OverflowError:
            raise EncodeError(f"datetime {x} is out of range in UTC") from None
    # isoformat ends in "+00:00" here; Clojure prints "-00:00".
    spec = "milliseconds" if x.microsecond % 1000 == 0 else "microseconds"
    return '#inst "' + x.isoformat(timespec=spec)[:-6] + '-00:00"'


def _write_date(x: date) -> str:
    return f'#inst "{x.year:04d}-{x.month:02d}-{x.day:02d}T00:00:00.000-00:00"'


def _write_uuid(x: uuid.UUID) -> str:
    return '#uuid "' + str(x) + '"'


def _tag_text(tag: Any) -> str:
    if (
        not isinstance(tag, str)
        or not tag[:1].isalpha()
        or _SYMBOL_RE.fullmatch(tag) is None
        or tag in ("inst", "uuid")
    ):
        raise EncodeError(f"tag {tag!r} would not read back as a tag of a Tagged value")
    return "#" + tag + " "


_SCALARS: Final[dict[type, Callable[[Any], str]]] = {
    str: _write_str,
    int: _write_int,
    float: _write_float,
    bool: lambda x: "true" if x else "false",
    type(None): lambda x: "nil",
    FastKeyword: _keyword_text,
    Keyword: _keyword_text,
    Symbol: _write_symbol,
    Char: _write_char,
    Decimal: _write_decimal,
    datetime: _write_datetime,
    date: _write_date,
    uuid.UUID: _write_uuid,
}
# Subclasses (IntEnum, str enums, OrderedDict ...) are written as their first base found here.
_SCALAR_BASES: Final[tuple[tuple[type, Callable[[Any], str]], ...]] = (
    (bool, _SCALARS[bool]),
    (int, _write_int),
    (float, _write_float),
    (Char, _write_char),
    (str, _write_str),
    (Keyword, _keyword_text),
    (Symbol, _write_symbol),
    (Decimal, _write_decimal),
    (datetime, _write_datetime),
    (date, _write_date),
    (uuid.UUID, _write_uuid),
)


def _make_writer(max_depth: int) -> Callable[[Any], str]:
    """A function that writes one value as EDN, nesting at most ``max_depth`` collections."""
    scalars = _SCALARS
    scalar = scalars.get
    write_str = _write_str
    needs_escape = _STRING_NEEDS_ESCAPE
    fast_kw = FastKeyword
    immutable_list = ImmutableList
    immutable_dict = ImmutableDict

    def write(x: Any, depth: int) -> str:
        t = type(x)
        f = scalar(t)
        if f is not None:
            return f(x)
        if t is list:
            return "[" + write_seq(x, depth) + "]"
        if t is immutable_list:
            return "[" + write_seq(x._list, depth) + "]"
        if t is dict:
            return "{" + write_map(x, depth) + "}"
        if t is immutable_dict:
            return "{" + write_map(x.dict, depth) + "}"
        if t is tuple:
            return "(" + write_seq(x, depth) + ")"
        if t is frozenset or t is set:
            return write_set(x, depth)
        return write_other(x, depth)

    def write_seq(xs: Any, depth: int) -> str:
        if depth >= max_depth:
            raise EncodeError(f"value nests deeper than max_depth={max_depth} (a cycle?)")
        depth += 1
        parts: list[str] = []
        add = parts.append
        for x in xs:
            t = type(x)
            if t is str:
                add('"' + x + '"' if x.isalnum() or needs_escape(x) is None else write_str(x))
            elif t is fast_kw:
                add(x._edn or _keyword_text(x))
            else:
                f = scalar(t)
                if f is not None:
                    add(f(x))
                elif t is list:  # the usual collections without a call to write()
                    add("[" + write_seq(x, depth) + "]")
                elif t is dict:
                    add("{" + write_map(x, depth) + "}")
                else:
                    add(write(x, depth))
        return " ".join(parts)

    def write_map(d: dict[Any, Any], depth: int) -> str:
        if depth >= max_depth:
            raise EncodeError(f"value nests deeper than max_depth={max_depth} (a cycle?)")
        depth += 1
        parts: list[str] = []
        add = parts.append
        compare = False
        for k, x in d.items():
            if type(k) is fast_kw:
                ks = k._edn or _keyword_text(k)
            else:
                f = scalar(type(k))
                if f is not None:
                    ks = f(k)
                else:
                    ks = write(k, depth)
                    compare = True
            t = type(x)
            if t is str:
                if x.isalnum() or needs_escape(x) is None:  # isalnum: no escape, no regex
                    add(ks + ' "' + x + '"')
                else:
                    add(ks + " " + write_str(x))
            elif t is fast_kw:
                add(ks + " " + (x._edn or _keyword_text(x)))
            else:
                f = scalar(t)
                if f is not None:
                    add(ks + " " + f(x))
                elif t is list:
                    add(ks + " [" + write_seq(x, depth) + "]")
                elif t is dict:
                    add(ks + " {" + write_map(x, depth) + "}")
                else:
                    add(ks + " " + write(x, depth))
        if compare and len(d) > 1:
            _check_clojure_duplicates(d, "key", "map", EncodeError)
        return ", ".join(parts)

    def write_set(xs: Any, depth: int) -> str:
        text = write_seq(xs, depth)
        if len(xs) > 1 and not _PLAIN_TYPES.issuperset(map(type, xs)):
            _check_clojure_duplicates(xs, "member", "set", EncodeError)
        return "#{" + text + "}"

    def write_other(x: Any, depth: int) -> str:
        if isinstance(x, Tagged):
            if depth >= max_depth:
                raise EncodeError(f"value nests deeper than max_depth={max_depth} (a cycle?)")
            return _tag_text(x.tag) + write(x.value, depth + 1)
        for base, f in _SCALAR_BASES:
            if isinstance(x, base):
                return f(x)
        if isinstance(x, (list, ImmutableList)):
            return "[" + write_seq(x, depth) + "]"
        if isinstance(x, (dict, ImmutableDict)):
            return "{" + write_map(dict(x.items()), depth) + "}"
        if isinstance(x, tuple):
            return "(" + write_seq(x, depth) + ")"
        if isinstance(x, (set, frozenset)):
            return write_set(x, depth)
        if isinstance(x, TaggedElement):
            raise EncodeError(
                f"cannot pack {type(x).__qualname__}: use jupyter_sente.values.Tagged"
            )
        raise EncodeError(f"cannot pack a value of type {type(x).__qualname__}")

    def dumps(value: Any) -> str:
        try:
            if type(value) is list:
                if len(value) == 2 and max_depth > 0:
                    # An envelope [x "cb-id"] or [x nil]: the text write_seq gives, built
                    # without a list of parts (an alphanumeric string needs no escape).
                    x, cb = value
                    if type(cb) is str and cb.isalnum():
                        tail = ' "' + cb + '"]'
                    elif cb is None:
                        tail = " nil]"
                    else:
                        return "[" + write_seq(value, 0) + "]"
                    if type(x) is list:
                        if len(x) == 2 and type(x[1]) is dict:
                            k = x[0]  # an event [:id {...}], the usual payload: as write_seq
                            if type(k) is fast_kw and k._edn is not None:
                                return f"[[{k._edn} {{{write_map(x[1], 2)}}}]{tail}"
                        return "[[" + write_seq(x, 1) + "]" + tail
                    return "[" + write(x, 1) + tail
                return "[" + write_seq(value, 0) + "]"
            return write(value, 0)
        except RecursionError:
            raise EncodeError(
                "value nests deeper than Python's recursion limit (a cycle?)"
            ) from None

    return dumps


# ---------------------------------------------------------------------------------------------
# Packer


class EdnPacker:
    """The EDN packer (Sente's ``:edn``), with limits on nesting depth and text size.

    When the compiled speedups are built (``accelerated`` is then true), they read and write the
    common values (vectors, lists, maps, strings, keywords, numbers, nil, booleans) and leave
    everything else to the pure-Python reader and writer, which give the same results:
    ``accelerate=False`` uses the pure-Python code alone.
    """

    name = "edn"

    def __init__(
        self,
        *,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_size: int = DEFAULT_MAX_SIZE,
        accelerate: bool = True,
    ) -> None:
        self.max_depth = max_depth
        self.max_size = max_size
        self._write = _make_writer(max_depth)
        self._fast_read: Callable[[str, int], Any] | None = None
        self._fast_write: Callable[[Any, int], Any] | None = None
        if accelerate and _speedups is not None:
            self._fast_read = _speedups.read
            self._fast_write = _speedups.write

    @property
    def accelerated(self) -> bool:
        """Whether the compiled speedups serve this packer's common cases."""
        return self._fast_read is not None

    def pack(self, value: Any) -> str:
        """The EDN text of ``value``; ``EncodeError`` if it has none."""
        if self._fast_write is not None:
            text = self._fast_write(value, self.max_depth)
            if text is not _MISS:
                return text  # type: ignore[no-any-return]
        return self._write(value)

    def unpack(self, text: str | bytes) -> Any:
        """The one value of the EDN ``text`` (``None`` for blank text); ``DecodeError`` if invalid."""
        if not isinstance(text, str):
            if not isinstance(text, (bytes, bytearray)):
                raise DecodeError(f"EDN text must be str or bytes, not {type(text).__qualname__}")
            if len(text) > self.max_size:
                raise DecodeError(f"text longer than max_size={self.max_size}", self.max_size)
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as e:
                raise DecodeError(f"invalid UTF-8: {e.reason}", e.start) from None
        if len(text) > self.max_size:
            raise DecodeError(f"text longer than max_size={self.max_size}", self.max_size)
        if self._fast_read is not None:
            v = self._fast_read(text, self.max_depth)
            if v is not _MISS:
                return v
        elif text[:1] == "[":
            v = _read_envelope(text, self.max_depth)
            if v is not _MISS:
                return v
        return _read(text, self.max_depth)

    def __repr__(self) -> str:
        extra = "" if self.accelerated else ", accelerate=False"
        return f"EdnPacker(max_depth={self.max_depth}, max_size={self.max_size}{extra})"


def pure_python_requested() -> bool:
    """Whether ``JUPYTER_SENTE_PURE_PYTHON`` asks for the pure-Python packer alone.

    Any value but empty, ``0``, ``false`` or ``no`` does; ``hatch_build.py`` reads it alike (it
    cannot import the package it builds) and then compiles nothing.
    """
    value = os.environ.get("JUPYTER_SENTE_PURE_PYTHON", "")
    return value.strip().lower() not in ("", "0", "false", "no")


def _load_speedups() -> Any:
    """The compiled speedups, configured with this module's pieces; ``None`` if not built.

    ``JUPYTER_SENTE_PURE_PYTHON=1`` in the environment turns them off (the pure-Python code
    alone then reads and writes).
    """
    if pure_python_requested():
        return None
    try:
        from jupyter_sente.packers import _edn_speedups  # noqa: PLC0415 (optional, env-gated)
    except ImportError:
        return None
    _edn_speedups.configure(
        _MISS,
        _atoms,
        _read_atom,  # its _Bad is an Exception: the speedups give up on it
        _read_string,
        _read_tagged,
        _write_str,
        _keyword_text,
        _SCALARS,
        _PLAIN_TYPES,
        FastKeyword,
        ImmutableList,
        ImmutableDict,
    )
    return _edn_speedups


_speedups: Final = _load_speedups()


PACKER = EdnPacker()


def dumps(value: Any) -> str:
    """The EDN text of ``value`` (with the default limits)."""
    return PACKER.pack(value)


def loads(text: str | bytes) -> Any:
    """The one value of the EDN ``text`` (with the default limits)."""
    return PACKER.unpack(text)
