"""Hypothesis strategies for wire values (the EDN value model of :mod:`jupyter_sente.values`).

``edn_values`` draws any value the EDN packer must round-trip: nested vectors (``list`` and
``ImmutableList``), EDN lists (``tuple``), maps (``dict`` and ``ImmutableDict``) and sets
(``set`` and ``frozenset``) with hashable keys, keywords and symbols with valid names, strings
with any unicode, ints of any size, floats (no NaN, so values compare equal), Decimals, chars,
UUIDs, aware datetimes with millisecond precision, and tagged values. ``edn_keys`` draws only
hashable values (usable as map keys and set members). The pieces are exported so other packers'
tests can build narrower strategies with :func:`make_edn_values`.
"""

from __future__ import annotations

import string
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from jupyter_sente.values import (
    Char,
    ImmutableDict,
    ImmutableList,
    Keyword,
    Symbol,
    Tagged,
    kw,
)

__all__ = [
    "chars",
    "datetimes",
    "decimals",
    "edn_keys",
    "edn_scalars",
    "edn_values",
    "floats",
    "keywords",
    "make_edn_values",
    "name_parts",
    "names",
    "strings",
    "symbols",
    "tag_names",
    "tagged",
    "uuids",
]


def _named(strategy: st.SearchStrategy[Any], name: str) -> st.SearchStrategy[Any]:
    """``strategy`` under a short repr: hypothesis warns when a strategy's repr is huge."""

    def draw_from(draw: st.DrawFn) -> Any:
        return draw(strategy)

    draw_from.__name__ = draw_from.__qualname__ = name
    return st.composite(draw_from)()


# EDN symbols: "begin with a non-numeric character and can contain alphanumeric characters and
# . * + ! - _ ? $ % & = < >"; ":" and "#" are allowed after the first character; "-", "+" or
# "." may start a name only if the next character (if any) is non-numeric.
_LETTERS = string.ascii_letters + "éßλ日"
_START = _LETTERS + "*!_?$%&=<>"
_CONSTITUENT = _START + string.digits + ".*+!-_?$%&=<>:#"

name_parts: st.SearchStrategy[str] = _named(
    st.one_of(
        st.builds(lambda a, b: a + b, st.sampled_from(_START), st.text(_CONSTITUENT, max_size=8)),
        st.sampled_from("-+."),
        st.builds(
            lambda a, b, c: a + b + c,
            st.sampled_from("-+."),
            st.sampled_from(_START + "-+.:#"),
            st.text(_CONSTITUENT, max_size=8),
        ),
    ).filter(lambda s: "::" not in s and not s.endswith(":")),
    "name_parts",
)
"""One part of a symbol or keyword name (the namespace or the name)."""

names: st.SearchStrategy[str] = _named(
    st.one_of(name_parts, st.builds(lambda ns, n: f"{ns}/{n}", name_parts, name_parts)),
    "names",
)
"""A symbol or keyword name: ``name`` or ``ns/name``."""

keywords: st.SearchStrategy[Keyword] = st.one_of(
    names.map(kw),
    names.map(Keyword),  # plain edn-format keywords mix with interned ones
)
symbols: st.SearchStrategy[Symbol] = names.filter(lambda s: s not in ("nil", "true", "false")).map(
    Symbol
)
strings: st.SearchStrategy[str] = st.text()
# Drawn as code points: hypothesis may replay a drawn str subclass as a raw choice and fail.
chars: st.SearchStrategy[Char] = (
    st.integers(0, 0xFFFF)  # Clojure chars are UTF-16 code units
    .filter(lambda c: not 0xD800 <= c <= 0xDFFF)
    .map(lambda c: Char(chr(c)))
)
floats: st.SearchStrategy[float] = st.floats(allow_nan=False)
decimals = st.decimals(allow_nan=False, allow_infinity=False)
uuids = st.uuids()
_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
datetimes: st.SearchStrategy[datetime] = st.datetimes(
    min_value=datetime(1000, 1, 1),
    max_value=datetime(9000, 12, 31),
    timezones=st.one_of(st.just(timezone.utc), _offsets),
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
"""Aware datetimes with millisecond precision (what ``#inst`` carries in Clojure)."""

tag_names: st.SearchStrategy[str] = st.builds(
    lambda a, b: a + b, st.sampled_from(string.ascii_letters), st.text(_CONSTITUENT, max_size=6)
).filter(lambda s: s not in ("inst", "uuid") and "::" not in s and not s.endswith(":"))
tag_names = _named(
    st.one_of(tag_names, st.builds(lambda ns, n: f"{ns}/{n}", tag_names, name_parts)), "tag_names"
)
"""Tags of user-defined tagged values (start with a letter; never ``inst`` or ``uuid``)."""

edn_scalars: st.SearchStrategy[Any] = _named(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        floats,
        decimals,
        strings,
        chars,
        keywords,
        symbols,
        uuids,
        datetimes,
    ),
    "edn_scalars",
)


def tagged(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Tagged]:
    """Tagged values ``#tag value`` over ``values``."""
    return st.builds(Tagged, tag_names, values)


def _clojure_form(x: Any) -> Any:
    """What Clojure's ``=`` compares: there a vector equals a list with the same items."""
    if isinstance(x, (list, tuple, ImmutableList)):
        return ("seq", tuple(map(_clojure_form, x)))
    if isinstance(x, (dict, ImmutableDict)):
        return ("map", frozenset((_clojure_form(k), _clojure_form(v)) for k, v in x.items()))
    if isinstance(x, (set, frozenset)):
        return ("set", frozenset(map(_clojure_form, x)))
    if isinstance(x, Tagged):
        return ("tag", x.tag, _clojure_form(x.value))
    return x


def _distinct_in_clojure(keys: Any) -> bool:
    """No two of ``keys`` are equal in Clojure (its reader rejects such sets and maps)."""
    return len({_clojure_form(k) for k in keys}) == len(keys)


def make_edn_values(
    scalars: st.SearchStrategy[Any] = edn_scalars,
    *,
    max_leaves: int = 30,
    with_tagged: bool = True,
) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """The pair ``(values, keys)`` of strategies built from ``scalars``.

    ``keys`` draws hashable values only (immutable containers); ``values`` may also use
    ``list``, ``dict`` and ``set``. No set or map holds two members or keys that Clojure
    holds equal (a vector and a list with the same items), as Clojure could not read it.
    """

    def hashable(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        options = [
            st.lists(children, max_size=5).map(ImmutableList),
            st.lists(children, max_size=5).map(tuple),
            st.frozensets(children, max_size=5).filter(_distinct_in_clojure),
            st.dictionaries(children, children, max_size=5)
            .filter(_distinct_in_clojure)
            .map(ImmutableDict),
        ]
        if with_tagged:
            options.append(tagged(children))
        return st.one_of(options)

    keys = _named(st.recursive(scalars, hashable, max_leaves=max_leaves // 3 or 1), "edn_keys")

    def any_value(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        options = [
            st.lists(children, max_size=5),
            st.lists(children, max_size=5).map(ImmutableList),
            st.lists(children, max_size=5).map(tuple),
            st.dictionaries(keys, children, max_size=5).filter(_distinct_in_clojure),
            st.dictionaries(keys, children, max_size=5)
            .filter(_distinct_in_clojure)
            .map(ImmutableDict),
            st.sets(keys, max_size=5).filter(_distinct_in_clojure),
            st.frozensets(keys, max_size=5).filter(_distinct_in_clojure),
        ]
        if with_tagged:
            options.append(tagged(children))
        return st.one_of(options)

    values = _named(
        st.recursive(st.one_of(scalars, keys), any_value, max_leaves=max_leaves), "edn_values"
    )
    return values, keys


edn_values, edn_keys = make_edn_values()
