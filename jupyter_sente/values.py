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
    "FastKeyword",
    "ImmutableDict",
    "ImmutableList",
    "Keyword",
    "Symbol",
    "Tagged",
    "kw",
    "wire_keyword",
]

VECTOR_TYPES: Final = (list, ImmutableList)
MAP_TYPES: Final = (dict, ImmutableDict)
SET_TYPES: Final = (set, frozenset)


class FastKeyword(Keyword):  # type: ignore[misc]  # edn-format ships no type information
    """An edn-format ``Keyword`` whose hash is computed once (what :func:`kw` returns).

    edn-format's ``Keyword.__hash__`` builds a dict per call, which dominates any map keyed by
    keywords. This subclass caches that same hash in a slot and compares like the base class
    (equal to a plain ``Keyword`` of the same name, both ways), so the two mix freely as dict
    keys. The ``_edn`` slot caches the keyword's EDN text for the EDN writer.
    """

    __slots__ = ("_edn", "_hash")

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._hash: int = Keyword.__hash__(self)
        self._edn: str | None = None

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        # The base class compares __dict__ ({_name, _type}); slots are not in it.
        return other is self or (isinstance(other, Keyword) and other.__dict__ == self.__dict__)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __repr__(self) -> str:
        return f"Keyword({self._name})"


_keywords: dict[str, Keyword] = {}
# Keywords read from a peer are interned only while the table is this small, and only short
# names, so hostile input cannot grow the table without bound.
_MAX_WIRE_INTERNED = 100_000
_MAX_WIRE_INTERNED_NAME = 128


def kw(name: str) -> Keyword:
    """The keyword ``:name`` (interned: the same object for the same name)."""
    k = _keywords.get(name)
    if k is None:
        k = _keywords[name] = FastKeyword(name)
    return k


def wire_keyword(name: str) -> Keyword:
    """The keyword ``:name`` read from a peer: interned like :func:`kw` while the table is small."""
    k = _keywords.get(name)
    if k is None:
        k = FastKeyword(name)
        if len(_keywords) < _MAX_WIRE_INTERNED and len(name) <= _MAX_WIRE_INTERNED_NAME:
            _keywords[name] = k
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
