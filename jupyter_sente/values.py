"""The EDN value model on the wire: edn-format's own types, plus what it lacks.

Vectors are ``ImmutableList`` (or ``list`` when we build them), EDN lists are ``tuple``,
maps are ``ImmutableDict`` (or ``dict``), sets are ``frozenset`` (or ``set``), keywords,
symbols and characters are edn-format's ``Keyword``, ``Symbol`` and ``Char``, ``#inst`` is
an aware ``datetime``, ``#uuid`` is ``uuid.UUID``, ``123N`` is ``int``, ``1.5M`` is
``Decimal``, and any other tag is a :class:`Tagged`.
"""

from __future__ import annotations

from typing import Any, Final

from edn_format import Char, ImmutableDict, ImmutableList, Keyword, Symbol, TaggedElement

__all__ = [
    "MAP_TYPES",
    "SET_TYPES",
    "VECTOR_TYPES",
    "Char",
    "ImmutableDict",
    "ImmutableList",
    "Keyword",
    "Symbol",
    "Tagged",
    "kw",
]

VECTOR_TYPES: Final = (list, ImmutableList)
MAP_TYPES: Final = (dict, ImmutableDict)
SET_TYPES: Final = (set, frozenset)

_keywords: dict[str, Keyword] = {}


def kw(name: str) -> Keyword:
    """The keyword ``:name`` (interned: the same object for the same name)."""
    k = _keywords.get(name)
    if k is None:
        k = _keywords[name] = Keyword(name)
    return k


class Tagged(TaggedElement):  # type: ignore[misc]  # edn-format ships no type information
    """A tagged value ``#tag value`` whose tag has no reader here."""

    __slots__ = ("tag", "value")

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tagged) and (self.tag, self.value) == (other.tag, other.value)

    def __hash__(self) -> int:
        return hash((Tagged, self.tag, self.value))

    def __repr__(self) -> str:
        return f"Tagged({self.tag!r}, {self.value!r})"
