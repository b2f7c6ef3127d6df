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
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
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

_Encoder = Callable[[Any, int], Any]


# ---------------------------------------------------------------------------------------------
# Encoding: value -> a tree of JSON-ready Python objects (then json does the text, in C).
# ``left`` is how many more levels of arrays/objects may be opened.


def _too_deep_to_encode() -> EncodeError:
    return EncodeError("value is nested too deeply to pack (or contains itself)")


def _enc(x: Any, left: int) -> Any:
    return (_ENCODERS.get(type(x)) or _encoder_for(x))(x, left)


def _enc_same(x: Any, left: int) -> Any:
    return x


def _enc_str(s: str, left: int) -> str:
    return "~" + s if s[:1] == "~" else s


def _enc_int(n: int, left: int) -> Any:
    if -MAX_SAFE_INT <= n <= MAX_SAFE_INT:
        return n
    if left <= 0:
        raise _too_deep_to_encode()
    return {"~#N": str(int(n))}


def _enc_float(f: float, left: int) -> Any:
    if f - f == 0.0:  # finite: inf - inf and nan - nan are nan
        return f
    if left <= 0:
        raise _too_deep_to_encode()
    return {"~#f": "NaN" if math.isnan(f) else ("Inf" if f > 0 else "-Inf")}


def _enc_keyword(k: Keyword, left: int) -> str:
    name: str = k.name
    if not name:
        raise EncodeError("a keyword needs a name")
    return "~:" + name


def _enc_symbol(s: Symbol, left: int) -> str:
    name: str = s.name
    if not name:
        raise EncodeError("a symbol needs a name")
    return "~$" + name


def _enc_char(c: str, left: int) -> str:
    if len(c) != 1:
        raise EncodeError(f"a char is one character, got {len(c)}")
    return "~c" + c


def _enc_vector(xs: Any, left: int) -> list[Any]:
    if left <= 0:
        raise _too_deep_to_encode()
    left -= 1
    encoders = _ENCODERS
    return [(encoders.get(type(v)) or _encoder_for(v))(v, left) for v in xs]


def _tagged(tag: str, payload: Any, left: int) -> dict[str, Any]:
    """``{"~#tag": [encoded items...]}`` for an iterable payload (two levels)."""
    if left <= 1:
        raise _too_deep_to_encode()
    return {tag: _enc_vector(payload, left - 1)}


def _enc_list(xs: tuple[Any, ...], left: int) -> dict[str, Any]:
    return _tagged("~#list", xs, left)


def _enc_set(xs: Any, left: int) -> dict[str, Any]:
    return _tagged("~#set", xs, left)


def _key_encoder_for(k: Any) -> _Encoder | None:
    """How to write map key ``k`` as an object name, or None if it is not string-like."""
    for cls in (Char, str, Keyword, Symbol):
        if isinstance(k, cls):
            encoder = _KEY_ENCODERS[type(k)] = _KEY_ENCODERS[cls]
            return encoder
    return None


def _enc_map(m: Any, left: int) -> dict[str, Any]:
    if left <= 0:
        raise _too_deep_to_encode()
    left -= 1
    encoders = _ENCODERS
    key_encoders = _KEY_ENCODERS
    out: dict[str, Any] = {}
    for k, v in m.items():
        key_encoder = key_encoders.get(type(k)) or _key_encoder_for(k)
        if key_encoder is None:
            return _enc_pairs(m, left + 1)
        out[key_encoder(k, 0)] = (encoders.get(type(v)) or _encoder_for(v))(v, left)
    return out


def _enc_pairs(m: Any, left: int) -> dict[str, Any]:
    if left <= 1:
        raise _too_deep_to_encode()
    return {"~#map": _enc_vector([x for kv in m.items() for x in kv], left - 1)}


def _enc_inst(d: datetime, left: int) -> dict[str, str]:
    if d.utcoffset() is None:
        raise EncodeError(f"#inst needs an aware datetime (with a timezone), got {d!r}")
    if left <= 0:
        raise _too_deep_to_encode()
    try:
        u = d.astimezone(timezone.utc)
    except OverflowError as e:
        raise EncodeError(f"datetime out of range in UTC: {d!r}") from e
    us = u.microsecond
    fraction = f"{us // 1000:03d}" if us % 1000 == 0 else f"{us:06d}"
    return {
        "~#inst": f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{fraction}Z"
    }


def _enc_uuid(u: UUID, left: int) -> dict[str, str]:
    if left <= 0:
        raise _too_deep_to_encode()
    return {"~#uuid": str(u)}


def _enc_decimal(d: Decimal, left: int) -> dict[str, str]:
    if not d.is_finite():
        raise EncodeError(f"only finite decimals can be packed, got {d!r}")
    if left <= 0:
        raise _too_deep_to_encode()
    return {"~#M": str(d)}


def _enc_tagged(t: Tagged, left: int) -> dict[str, Any]:
    if not isinstance(t.tag, str) or not t.tag:
        raise EncodeError(f"a tagged value needs a non-empty str tag, got {t.tag!r}")
    return _tagged("~#tag", (t.tag, t.value), left)


_ENCODERS: dict[type, _Encoder] = {
    type(None): _enc_same,
    bool: _enc_same,
    int: _enc_int,
    float: _enc_float,
    str: _enc_str,
    Char: _enc_char,
    Keyword: _enc_keyword,
    FastKeyword: _enc_keyword,
    Symbol: _enc_symbol,
    list: _enc_vector,
    ImmutableList: _enc_vector,
    tuple: _enc_list,
    dict: _enc_map,
    ImmutableDict: _enc_map,
    set: _enc_set,
    frozenset: _enc_set,
    datetime: _enc_inst,
    UUID: _enc_uuid,
    Decimal: _enc_decimal,
    Tagged: _enc_tagged,
}

_KEY_ENCODERS: dict[type, _Encoder] = {
    str: _enc_str,
    Char: _enc_char,
    Keyword: _enc_keyword,
    FastKeyword: _enc_keyword,
    Symbol: _enc_symbol,
}
"""Encoders of the map keys that are written as object names (to strings)."""

# Subclasses, in the order that settles overlaps (bool is an int, Char is a str).
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
    list,
    ImmutableList,
    tuple,
    dict,
    ImmutableDict,
    set,
    frozenset,
)


def _encoder_for(x: Any) -> _Encoder:
    for cls in _SUPERCLASSES:
        if isinstance(x, cls):
            # Remember the subclass (e.g. interned keywords): the table grows by types, not values.
            encoder = _ENCODERS[type(x)] = _ENCODERS[cls]
            return encoder
    raise EncodeError(f"cannot pack a value of type {type(x).__qualname__}: {_brief(x)}")


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _escape_surrogate(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


_JSON_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)


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
            text = _JSON_ENCODER.encode(_enc(value, self.max_depth))
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
