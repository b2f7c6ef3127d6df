"""JSON packer: every EDN wire value as compact JSON, with transit-like escapes.

Sente has no JSON packer; this encoding is ours, and ``docs/packers.md`` is its full
specification (a JS implementation mirrors it). In short:

* ``null``, ``true``/``false``, strings, integers within ±(2**53 - 1) and finite floats are
  themselves; vectors (``list``, ``ImmutableList``) are arrays.
* A string that starts with ``~`` is an escape: ``"~:ns/name"`` keyword, ``"~$name"`` symbol,
  ``"~cX"`` char, ``"~~..."`` a string that itself starts with ``~``.
* A map whose keys are all strings, keywords, symbols or chars is an object whose names are
  those keys as escaped strings (``{"~:x":1}``); any other map is ``{"~#map":[k1,v1,...]}``.
* Other values are one-entry *tagged objects* ``{"~#TAG": payload}``: ``set``, ``list``
  (EDN list, Python ``tuple``), ``map``, ``inst`` (UTC RFC 3339 text), ``uuid``, ``M``
  (Decimal text), ``N`` (integer text beyond ±(2**53 - 1)), ``f`` (``"NaN"``, ``"Inf"`` or
  ``"-Inf"``) and ``tag`` (``[name, value]``, a :class:`~jupyter_sente.values.Tagged`).

Output is compact (no spaces) and keeps non-ASCII characters as they are. ``unpack`` raises
only :class:`~jupyter_sente.exceptions.DecodeError`: for text that is not JSON, for escapes
and tagged objects this encoding does not define, and for text over ``max_size`` characters
or nested deeper than ``max_depth`` arrays and objects.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any, Final
from uuid import UUID

from jupyter_sente.exceptions import DecodeError, EncodeError, PackError, UsageError
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

__all__ = ["DEFAULT_MAX_DEPTH", "DEFAULT_MAX_SIZE", "MAX_SAFE_INT", "PACKER", "JsonPacker"]

MAX_SAFE_INT: Final = 2**53 - 1
"""Largest integer written as a JSON number (JavaScript's ``Number.MAX_SAFE_INTEGER``)."""
DEFAULT_MAX_SIZE: Final = 8 * 1024 * 1024
"""Longest text, in characters (bytes for bytes input), that ``unpack`` reads and ``pack`` writes."""
DEFAULT_MAX_DEPTH: Final = 256
"""Deepest nesting of JSON arrays and objects that ``unpack`` reads and ``pack`` writes."""


# ---------------------------------------------------------------------------------------------
# Writing: value -> JSON text, directly (no intermediate tree). ``left`` is how many more
# levels of arrays/objects may be opened; a tagged object counts as the JSON it is.

_Writer = Callable[[Any, int], str]
_quote: Final = encode_basestring  # json's own string writer (C): escapes " \ and controls


def _too_deep_to_encode() -> EncodeError:
    return EncodeError("value is nested too deeply to pack (or contains itself)")


def _write(x: Any, left: int) -> str:
    return (_WRITERS.get(type(x)) or _writer_for(x))(x, left)


def _w_none(x: None, left: int) -> str:
    return "null"


def _w_bool(b: bool, left: int) -> str:
    return "true" if b else "false"


def _w_int(n: int, left: int) -> str:
    if -MAX_SAFE_INT <= n <= MAX_SAFE_INT:
        return int.__repr__(n)
    if left <= 0:
        raise _too_deep_to_encode()
    return '{"~#N":"' + int.__repr__(n) + '"}'


def _w_float(f: float, left: int) -> str:
    if f - f == 0.0:  # finite: inf - inf and nan - nan are nan
        return float.__repr__(f)
    if left <= 0:
        raise _too_deep_to_encode()
    return '{"~#f":"' + ("NaN" if math.isnan(f) else ("Inf" if f > 0 else "-Inf")) + '"}'


def _w_str(s: str, left: int) -> str:
    return _quote(s) if s[:1] != "~" else _quote("~" + s)


# The text of each keyword by name: keywords repeat (event ids, map keys). Bounded, as names
# can come from peers.
_KEYWORD_TEXTS: dict[str, str] = {}
_MAX_KEYWORD_TEXTS: Final = 50_000


def _w_keyword(k: Keyword, left: int) -> str:
    name: str = k.name
    text = _KEYWORD_TEXTS.get(name)
    if text is None:
        if not name:
            raise EncodeError("a keyword needs a name")
        text = _quote("~:" + name)
        if len(_KEYWORD_TEXTS) < _MAX_KEYWORD_TEXTS and len(name) <= 128:
            _KEYWORD_TEXTS[name] = text
    return text


def _w_symbol(s: Symbol, left: int) -> str:
    name: str = s.name
    if not name:
        raise EncodeError("a symbol needs a name")
    return _quote("~$" + name)


def _w_char(c: str, left: int) -> str:
    if len(c) != 1:
        raise EncodeError(f"a char is one character, got {len(c)}")
    return _quote("~c" + c)


def _w_items(xs: Iterable[Any], left: int) -> str:
    """The items of an array, comma-separated (``left`` already counts the array)."""
    writers = _WRITERS
    keyword_texts = _KEYWORD_TEXTS
    parts: list[str] = []
    add = parts.append
    for x in xs:
        # The commonest items are written inline, without a call.
        t = type(x)
        if t is str:
            add(_quote(x) if x[:1] != "~" else _quote("~" + x))
        elif t is FastKeyword:
            add(keyword_texts.get(x._name) or _w_keyword(x, left))
        elif t is int and -MAX_SAFE_INT <= x <= MAX_SAFE_INT:
            add(int.__repr__(x))
        else:
            add((writers.get(t) or _writer_for(x))(x, left))
    return ",".join(parts)


def _w_vector(xs: Iterable[Any], left: int) -> str:
    if left <= 0:
        raise _too_deep_to_encode()
    return "[" + _w_items(xs, left - 1) + "]"


def _w_immutable_list(xs: ImmutableList, left: int) -> str:
    # Its wrapped list iterates in C; the Sequence protocol would call __getitem__ per item.
    return _w_vector(xs._list, left)


def _w_tagged_items(tag: str, xs: Iterable[Any], left: int) -> str:
    """``{"~#tag":[items...]}``: two levels."""
    if left <= 1:
        raise _too_deep_to_encode()
    return '{"~#' + tag + '":[' + _w_items(xs, left - 2) + "]}"


def _w_list(xs: tuple[Any, ...], left: int) -> str:
    return _w_tagged_items("list", xs, left)


def _w_set(xs: Iterable[Any], left: int) -> str:
    return _w_tagged_items("set", xs, left)


def _w_map(m: Mapping[Any, Any], left: int) -> str:
    if left <= 0:
        raise _too_deep_to_encode()
    left -= 1
    writers = _WRITERS
    key_writers = _KEY_WRITERS
    keyword_texts = _KEYWORD_TEXTS
    parts: list[str] = []
    add = parts.append
    for k, v in m.items():
        # As in _w_items, the commonest keys and values are written inline.
        tk = type(k)
        if tk is FastKeyword:
            name = keyword_texts.get(k._name) or _w_keyword(k, left)
        elif tk is str:
            name = _quote(k) if k[:1] != "~" else _quote("~" + k)
        else:
            key_writer = key_writers.get(tk) or _key_writer_for(k)
            if key_writer is None:
                return _w_tagged_items("map", [x for kv in m.items() for x in kv], left + 1)
            name = key_writer(k, left)
        t = type(v)
        if t is str:
            add(name + ":" + (_quote(v) if v[:1] != "~" else _quote("~" + v)))
        elif t is FastKeyword:
            add(name + ":" + (keyword_texts.get(v._name) or _w_keyword(v, left)))
        elif t is int and -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
            add(name + ":" + int.__repr__(v))
        else:
            add(name + ":" + (writers.get(t) or _writer_for(v))(v, left))
    return "{" + ",".join(parts) + "}"


def _w_immutable_map(m: ImmutableDict, left: int) -> str:
    return _w_map(m.dict, left)  # the wrapped dict's items() is C; Mapping's is not


def _w_leaf(tag: str, text: str, left: int) -> str:
    """``{"~#tag":"text"}``: one level."""
    if left <= 0:
        raise _too_deep_to_encode()
    return '{"~#' + tag + '":' + _quote(text) + "}"


def _w_inst(d: datetime, left: int) -> str:
    if d.utcoffset() is None:
        raise EncodeError(f"#inst needs an aware datetime (with a timezone), got {d!r}")
    try:
        u = d.astimezone(timezone.utc)
    except OverflowError as e:
        raise EncodeError(f"datetime out of range in UTC: {d!r}") from e
    us = u.microsecond
    fraction = f"{us // 1000:03d}" if us % 1000 == 0 else f"{us:06d}"
    text = (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{fraction}Z"
    )
    return _w_leaf("inst", text, left)


def _w_uuid(u: UUID, left: int) -> str:
    return _w_leaf("uuid", str(u), left)


def _w_decimal(d: Decimal, left: int) -> str:
    if not d.is_finite():
        raise EncodeError(f"only finite decimals can be packed, got {d!r}")
    return _w_leaf("M", str(d), left)


def _w_tagged(t: Tagged, left: int) -> str:
    if not isinstance(t.tag, str) or not t.tag:
        raise EncodeError(f"a tagged value needs a non-empty str tag, got {t.tag!r}")
    if left <= 1:
        raise _too_deep_to_encode()
    return '{"~#tag":[' + _w_str(t.tag, 0) + "," + _write(t.value, left - 2) + "]}"


_WRITERS: dict[type, _Writer] = {
    type(None): _w_none,
    bool: _w_bool,
    int: _w_int,
    float: _w_float,
    str: _w_str,
    Char: _w_char,
    Keyword: _w_keyword,
    FastKeyword: _w_keyword,
    Symbol: _w_symbol,
    list: _w_vector,
    ImmutableList: _w_immutable_list,
    tuple: _w_list,
    dict: _w_map,
    ImmutableDict: _w_immutable_map,
    set: _w_set,
    frozenset: _w_set,
    datetime: _w_inst,
    UUID: _w_uuid,
    Decimal: _w_decimal,
    Tagged: _w_tagged,
}

_KEY_WRITERS: dict[type, _Writer] = {
    str: _w_str,
    Char: _w_char,
    Keyword: _w_keyword,
    FastKeyword: _w_keyword,
    Symbol: _w_symbol,
}
"""Writers of the map keys that become object names (they write strings)."""

# For subclasses, in the order that settles overlaps (bool is an int, Char is a str).
_SUPERCLASSES: tuple[type, ...] = (
    bool,
    Char,
    str,
    int,
    float,
    Keyword,
    Symbol,
    Tagged,
    datetime,
    UUID,
    Decimal,
    ImmutableList,
    list,
    tuple,
    ImmutableDict,
    dict,
    set,
    frozenset,
)


def _writer_for(x: Any) -> _Writer:
    for cls in _SUPERCLASSES:
        if isinstance(x, cls):
            # Remember the subclass: the table grows by types, not values.
            writer = _WRITERS[type(x)] = _WRITERS[cls]
            return writer
    raise EncodeError(f"cannot pack a value of type {type(x).__qualname__}: {_brief(x)}")


def _key_writer_for(k: Any) -> _Writer | None:
    """How to write map key ``k`` as an object name, or None if it is not string-like."""
    for cls in (Char, str, Keyword, Symbol):
        if isinstance(k, cls):
            writer = _KEY_WRITERS[type(k)] = _KEY_WRITERS[cls]
            return writer
    return None


_SURROGATE: Final = re.compile("[\\ud800-\\udfff]")


def _escape_surrogate(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


# ---------------------------------------------------------------------------------------------
# Decoding: json gives lists, dicts, str, int, float, bool, None; the walk below turns
# escapes and tagged objects into values. ``left`` as above.


def _too_deep_to_decode() -> DecodeError:
    return DecodeError("text is nested too deeply")


def _dec_list(xs: list[Any], left: int) -> list[Any]:
    """``xs`` with its items decoded, in place (json's lists are ours to change)."""
    if left <= 0:
        raise _too_deep_to_decode()
    left -= 1
    escapes = _ESCAPES
    for i, v in enumerate(xs):
        t = type(v)
        if t is str:
            if v[:1] == "~":
                xs[i] = escapes.get(v) or _dec_str(v)
        elif t is list:
            _dec_list(v, left)
        elif t is dict:
            xs[i] = _dec_object(v, left)
    return xs


def _dec_object(d: dict[str, Any], left: int) -> Any:
    if left <= 0:
        raise _too_deep_to_decode()
    left -= 1
    if len(d) == 1:
        ((name, payload),) = d.items()
        if name[:2] == "~#":
            return _dec_tagged(name, payload, left)
    escapes = _ESCAPES
    out: dict[Any, Any] = {}
    for k, v in d.items():
        t = type(v)
        if t is str:
            value = (escapes.get(v) or _dec_str(v)) if v[:1] == "~" else v
        elif t is list:
            value = _dec_list(v, left)
        elif t is dict:
            value = _dec_object(v, left)
        else:
            value = v
        out[(escapes.get(k) or _dec_str(k)) if k[:1] == "~" else k] = value
    if len(out) != len(d):  # a char key equals the same 1-character str key in Python
        raise DecodeError("map has duplicate keys")
    return out


def _dec_any(x: Any, left: int) -> Any:
    t = type(x)
    if t is str:
        return _dec_str(x) if x[:1] == "~" else x
    if t is list:
        return _dec_list(x, left)
    if t is dict:
        return _dec_object(x, left)
    return x


# Decoded keywords, symbols and chars by their escaped text: most texts repeat a few event ids
# and map keys. Bounded, since the texts come from peers.
_ESCAPES: dict[str, Any] = {}
_MAX_ESCAPES: Final = 50_000
_MAX_ESCAPE_LENGTH: Final = 130


def _dec_str(s: str) -> Any:
    """The value of an escaped string (``s`` starts with ``~``)."""
    kind = s[1:2]
    value: Any
    if kind == "~":
        return s[1:]
    if kind == ":":
        if len(s) == 2:
            raise DecodeError("keyword escape '~:' needs a name")
        value = wire_keyword(s[2:])
    elif kind == "$":
        if len(s) == 2:
            raise DecodeError("symbol escape '~$' needs a name")
        value = Symbol(s[2:])
    elif kind == "c":
        if len(s) != 3:
            raise DecodeError(f"char escape '~c' needs exactly one character, got {_brief(s)}")
        value = Char(s[2])
    elif kind == "#":
        raise DecodeError(f"{_brief(s)}: '~#' names a tag only as the one key of an object")
    else:
        raise DecodeError(f"unknown escape in string {_brief(s)} (a literal '~' is written '~~')")
    if len(s) <= _MAX_ESCAPE_LENGTH and len(_ESCAPES) < _MAX_ESCAPES:
        _ESCAPES[s] = value
    return value


def _payload_array(tag: str, payload: Any, left: int) -> list[Any]:
    if type(payload) is not list:
        raise DecodeError(f"{tag} needs an array, got {_brief(payload)}")
    return _dec_list(payload, left)


def _payload_text(tag: str, payload: Any, pattern: re.Pattern[str], what: str) -> str:
    if type(payload) is not str or pattern.fullmatch(payload) is None:
        raise DecodeError(f"{tag} needs {what}, got {_brief(payload)}")
    return payload


_INST = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")
_SPECIAL_FLOATS: Final = {"NaN": float("nan"), "Inf": float("inf"), "-Inf": float("-inf")}


def _read_inst(text: str) -> datetime:
    m = _INST.fullmatch(text)
    if m is None:
        raise DecodeError(f"~#inst needs RFC 3339 text like 2024-01-31T12:00:00.000Z, got {text!r}")
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = m.groups()
    tz = timezone.utc
    try:
        if sign is not None:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            tz = timezone(-offset if sign == "-" else offset)
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=tz,
        )
    except ValueError as e:
        raise DecodeError(f"~#inst {text!r} is not a valid time: {e}") from None


def _dec_tagged(tag: str, payload: Any, left: int) -> Any:
    if tag == "~#set":
        members = [_freeze(m) for m in _payload_array(tag, payload, left)]
        s = frozenset(members)
        if len(s) != len(members):
            raise DecodeError("set has duplicate members")
        return s
    if tag == "~#list":
        return tuple(_payload_array(tag, payload, left))
    if tag == "~#map":
        flat = _payload_array(tag, payload, left)
        if len(flat) % 2:
            raise DecodeError("~#map needs an even number of items [k1, v1, k2, v2, ...]")
        m = {_freeze(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        if 2 * len(m) != len(flat):
            raise DecodeError("map has duplicate keys")
        return m
    if tag == "~#inst":
        return _read_inst(_payload_text(tag, payload, _INST, "RFC 3339 text"))
    if tag == "~#uuid":
        return UUID(_payload_text(tag, payload, _UUID, "a UUID like 8-4-4-4-12 hex digits"))
    if tag == "~#M":
        return Decimal(_payload_text(tag, payload, _DECIMAL, "decimal text like -1.5E+3"))
    if tag == "~#N":
        try:
            return int(_payload_text(tag, payload, _INTEGER, "integer text"))
        except ValueError as e:  # beyond int's digit limit
            raise DecodeError(f"~#N: {e}") from None
    if tag == "~#f":
        if type(payload) is str and payload in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[payload]
        raise DecodeError(f'~#f needs "NaN", "Inf" or "-Inf", got {_brief(payload)}')
    if tag == "~#tag":
        pair = _payload_array(tag, payload, left)
        if len(pair) != 2 or type(pair[0]) is not str or not pair[0]:
            raise DecodeError(
                f"~#tag needs [name, value] with a non-empty name, got {_brief(payload)}"
            )
        return Tagged(pair[0], pair[1])
    raise DecodeError(f"unknown tag {tag!r}")


def _freeze(x: Any) -> Any:
    """``x`` made hashable (to be a map key or set member): vectors and maps become immutable."""
    t = type(x)
    if t is list:
        return ImmutableList([_freeze(v) for v in x], copy=False)
    if t is dict:
        return ImmutableDict({k: _freeze(v) for k, v in x.items()})
    if t is tuple:
        return tuple(_freeze(v) for v in x)
    if t is Tagged:
        return Tagged(x.tag, _freeze(x.value))
    return x


def _reject_constant(name: str) -> Any:
    raise DecodeError(f'{name} is not JSON (non-finite floats are written {{"~#f": ...}})')


_JSON_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


def _brief(x: Any, limit: int = 60) -> str:
    try:
        r = repr(x)
    except Exception:  # e.g. an int beyond the digit limit; the message must not fail
        return f"<{type(x).__qualname__}>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------


class JsonPacker:
    """The JSON packer; ``max_size`` (characters) and ``max_depth`` (nesting) bound both ways."""

    name = "json"

    def __init__(
        self, *, max_size: int = DEFAULT_MAX_SIZE, max_depth: int = DEFAULT_MAX_DEPTH
    ) -> None:
        for option, value in (("max_size", max_size), ("max_depth", max_depth)):
            if type(value) is not int or value < 1:
                raise UsageError(f"{option} must be a positive int, got {value!r}")
        self.max_size = max_size
        self.max_depth = max_depth

    def __repr__(self) -> str:
        return f"JsonPacker(max_size={self.max_size}, max_depth={self.max_depth})"

    def pack(self, value: Any) -> str:
        """The JSON text for ``value``; ``EncodeError`` if it has none or exceeds the limits."""
        try:
            text = _write(value, self.max_depth)
        except PackError:
            raise
        except RecursionError:
            raise _too_deep_to_encode() from None
        except (ValueError, TypeError, OverflowError) as e:
            raise EncodeError(f"cannot pack {_brief(value)}: {e}") from e
        if not text.isascii() and _SURROGATE.search(text):
            # Only a Python str holds a lone surrogate; escaped, the text stays valid UTF-8
            # (and reads back the same), as JSON.stringify writes it.
            text = _SURROGATE.sub(_escape_surrogate, text)
        if len(text) > self.max_size:
            raise EncodeError(
                f"packed text is {len(text)} characters, over max_size {self.max_size}"
            )
        return text

    def unpack(self, text: str | bytes | bytearray | memoryview) -> Any:
        """The value of JSON ``text`` (str, or UTF-8 bytes); ``DecodeError`` if it is not valid."""
        if not isinstance(text, str):
            text = self._text_of(text)
        if len(text) > self.max_size:
            raise DecodeError(f"text is {len(text)} characters, over max_size {self.max_size}")
        try:
            tree = _JSON_DECODER.decode(text)
        except json.JSONDecodeError as e:
            raise DecodeError(f"invalid JSON: {e.msg}", e.pos) from None
        except RecursionError:
            raise _too_deep_to_decode() from None
        except PackError:
            raise
        except ValueError as e:  # integer beyond int's digit limit
            raise DecodeError(f"invalid JSON: {e}") from None
        # Most texts need no walk: without "~" there are no escapes, and fewer brackets than
        # max_depth cannot nest deeper than it.
        if "~" not in text and text.count("[") + text.count("{") <= self.max_depth:
            return tree
        try:
            return _dec_any(tree, self.max_depth)
        except RecursionError:
            raise _too_deep_to_decode() from None

    def _text_of(self, data: bytes | bytearray | memoryview) -> str:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError(f"expected JSON text (str or UTF-8 bytes), got {type(data).__name__}")
        if len(data) > self.max_size:
            raise DecodeError(f"text is {len(data)} bytes, over max_size {self.max_size}")
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(f"invalid UTF-8: {e.reason}", e.start) from None


PACKER: Final = JsonPacker()
