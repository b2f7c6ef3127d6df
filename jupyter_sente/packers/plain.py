"""The plain-Python view of wire values, for cell code: str keys and ids, lists, dicts, sets.

Users write and read ``{"text": "hi"}`` and ``"chat/post"``; the wire carries
``{:text "hi"}`` and ``:chat/post``. This layer sits on top of every packer (it maps values,
not texts). ``docs/packers.md`` has the full table; in short:

``to_plain`` (wire -> plain)
    keywords, symbols and chars become ``str`` (a keyword without its colon: ``:chat/post`` ->
    ``"chat/post"``); vectors and EDN lists become ``list``; maps become ``dict`` with their
    keys converted; sets become ``set``. Keys and set members must stay hashable, so there a
    vector or list becomes a ``tuple`` and a set a ``frozenset``. If converting a map key would
    collide with another key of the same map (``:a`` next to ``"a"``), the key that was not
    already a ``str`` keeps its wire form, so nothing is lost. Everything else (numbers,
    ``str``, ``None``, ``datetime``, ``UUID``, ``Decimal``, ``Tagged``) is returned unchanged.

``from_plain`` (plain -> wire)
    ``dict`` -> map whose ``str`` keys become keywords when they are valid keyword names
    (``"text"`` -> ``:text``; ``"two words"`` stays a string); ``list`` and ``tuple`` ->
    vector (Python code writes tuples meaning sequences); ``set``/``frozenset`` -> set; ``str``
    values stay strings. Everything else, including keywords written explicitly, is unchanged.

For the plain domain (``None``, ``bool``, ``int``, ``float``, ``str``, ``datetime``, ``UUID``,
``Decimal``; ``list``, ``dict`` with keyword-name ``str`` keys, ``set`` of hashable ones),
``to_plain(unpack(pack(from_plain(x)))) == x``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from jupyter_sente.core.events import event_data, event_id, is_event, make_event
from jupyter_sente.exceptions import UsageError
from jupyter_sente.values import Char, ImmutableList, Keyword, Symbol, kw

__all__ = [
    "event_from_plain",
    "event_to_plain",
    "from_plain",
    "is_keyword_name",
    "to_plain",
]

# An EDN symbol part: starts with a non-digit; "-", "+" or "." may start it only if no digit
# follows; then letters, digits and . * + ! - _ ? $ % & = < > and, after the first, : and #.
_PART = r"(?:[^\W\d]|[*!_?$%&=<>]|[-+.](?![0-9]))[\w.*+!\-?$%&=<>:#]*"
_KEYWORD_NAME: Final = re.compile(rf"(?:{_PART}/)?{_PART}")


def is_keyword_name(name: str) -> bool:
    """True if ``name`` (``"text"``, ``"chat/post"``) reads back as the keyword ``:name``."""
    return (
        _KEYWORD_NAME.fullmatch(name) is not None
        and "::" not in name
        and not name.endswith(":")
        and not name.startswith(":")
    )


# --------------------------------------------------------------------------------------------
# wire -> plain


def to_plain(value: Any) -> Any:
    """The plain-Python view of a wire value (see the module docstring)."""
    t = type(value)
    if t is str or value is None or t is int or t is float or t is bool:
        return value
    if isinstance(value, Keyword | Symbol):
        return value.name
    if isinstance(value, Char):
        return str(value)
    if isinstance(value, list | ImmutableList | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return _map_to_plain(value)
    if isinstance(value, set | frozenset):
        return _set_to_plain(value, set)
    return value


def _key_to_plain(key: Any) -> Any:
    """A map key or set member in plain form: still hashable."""
    if type(key) is str:
        return key
    if isinstance(key, Keyword | Symbol):
        return key.name
    if isinstance(key, Char):
        return str(key)
    if isinstance(key, list | ImmutableList | tuple):
        return tuple(_key_to_plain(v) for v in key)
    if isinstance(key, set | frozenset):
        return _set_to_plain(key, frozenset)
    return key


def _map_to_plain(m: Mapping[Any, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    converted: dict[Any, Any] = {}  # plain key -> the wire key it came from (not a str)
    for k, v in m.items():
        pk = _key_to_plain(k)
        if pk is not k and pk in out:
            pk = k  # collides with a key already there: keep the wire form
        elif pk is k and type(k) is str and k in converted:
            # A str key takes its name back from a converted key that got there first.
            wire_key = converted.pop(k)
            out[wire_key] = out.pop(k)
        elif pk is not k:
            converted[pk] = k
        out[pk] = to_plain(v)
    return out


def _set_to_plain(s: Any, kind: type[set[Any]] | type[frozenset[Any]]) -> Any:
    out: set[Any] = set()
    converted: dict[Any, Any] = {}  # as in _map_to_plain
    for member in s:
        pm = _key_to_plain(member)
        if pm is not member and pm in out:
            pm = member
        elif pm is member and type(member) is str and member in converted:
            out.discard(member)
            out.add(converted.pop(member))
        elif pm is not member:
            converted[pm] = member
        out.add(pm)
    return kind(out)


# --------------------------------------------------------------------------------------------
# plain -> wire


def from_plain(value: Any, *, keywordize_keys: bool = True) -> Any:
    """The wire value for a plain-Python value (see the module docstring)."""
    t = type(value)
    if t is str or value is None or t is int or t is float or t is bool:
        return value
    if isinstance(value, list | tuple | ImmutableList):
        return [from_plain(v, keywordize_keys=keywordize_keys) for v in value]
    if isinstance(value, Mapping):
        out = {
            _key_from_plain(k, keywordize_keys): from_plain(v, keywordize_keys=keywordize_keys)
            for k, v in value.items()
        }
        if len(out) != len(value):
            raise UsageError(f"map keys collide once str keys become keywords: {list(value)!r}")
        return out
    if isinstance(value, set | frozenset):
        return frozenset(_member_from_plain(v, keywordize_keys) for v in value)
    return value


def _key_from_plain(key: Any, keywordize_keys: bool) -> Any:
    if keywordize_keys and type(key) is str and is_keyword_name(key):
        return kw(key)
    return _member_from_plain(key, keywordize_keys)


def _member_from_plain(x: Any, keywordize_keys: bool) -> Any:
    """A hashable wire value (map key or set member): sequences become immutable vectors."""
    if isinstance(x, tuple | list | ImmutableList):
        return ImmutableList([_member_from_plain(v, keywordize_keys) for v in x], copy=False)
    if isinstance(x, set | frozenset):
        return frozenset(_member_from_plain(v, keywordize_keys) for v in x)
    return from_plain(x, keywordize_keys=keywordize_keys)


# --------------------------------------------------------------------------------------------
# events


def event_to_plain(ev: Any) -> tuple[str, Any]:
    """``(id, data)`` of a valid event in plain form: ``[:chat/post {:text "hi"}]`` ->
    ``("chat/post", {"text": "hi"})``; ``data`` is ``None`` for ``[id]``. ``UsageError`` if
    ``ev`` is not an event."""
    if not is_event(ev):
        raise UsageError(f"not an event [ns/id data]: {ev!r}")
    return event_id(ev).name, to_plain(event_data(ev))


def event_from_plain(
    ev_id: str, data: Any = None, *, keywordize_keys: bool = True, allow_reserved: bool = False
) -> list[Any]:
    """The event ``[:ev-id data]`` (``[:ev-id]`` when ``data`` is None) from plain values.

    ``ev_id`` is ``"ns/name"``; ``UsageError`` if it is not a valid id (see
    :func:`~jupyter_sente.core.events.make_event`).
    """
    if not isinstance(ev_id, str) or not is_keyword_name(ev_id):
        raise UsageError(f"event id must be a str like 'chat/post', got {ev_id!r}")
    if data is None:
        return make_event(ev_id, allow_reserved=allow_reserved)
    return make_event(
        ev_id, from_plain(data, keywordize_keys=keywordize_keys), allow_reserved=allow_reserved
    )
