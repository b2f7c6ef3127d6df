"""``same_value(a, b)``: equality of wire values that also checks their kinds.

Python's ``==`` says ``Char("a") == "a"``, ``1 == 1.0 == True``, ``Decimal("1.50") == 1.5``
and ``nan != nan``; a packer round trip must give back the same *kind* of value, so tests
compare with this instead. Vectors (``list``/``ImmutableList``), maps (``dict``/
``ImmutableDict``) and sets (``set``/``frozenset``) are each one kind; EDN lists (``tuple``)
are another.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from jupyter_sente.values import Char, ImmutableDict, ImmutableList, Keyword, Symbol, Tagged

__all__ = ["kind_of", "same_value"]


def kind_of(x: Any) -> str:
    """The wire kind of ``x``: ``"vector"``, ``"keyword"``, ``"char"``, ``"int"``, ..."""
    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "bool"),
        (int, "int"),
        (float, "float"),
        (Decimal, "decimal"),
        (Char, "char"),
        (str, "str"),
        (Keyword, "keyword"),
        (Symbol, "symbol"),
        ((list, ImmutableList), "vector"),
        (tuple, "list"),
        ((dict, ImmutableDict), "map"),
        ((set, frozenset), "set"),
        (datetime, "inst"),
        (UUID, "uuid"),
        (Tagged, "tagged"),
    ]
    if x is None:
        return "nil"
    for cls, kind in kinds:
        if isinstance(x, cls):
            return kind
    return type(x).__qualname__


def same_value(a: Any, b: Any) -> bool:
    """True if ``a`` and ``b`` are the same wire value, kinds included (NaN is NaN)."""
    kind = kind_of(a)
    if kind != kind_of(b):
        return False
    if kind == "float":
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return bool(a == b and math.copysign(1.0, a) == math.copysign(1.0, b))
    if kind == "decimal":
        return bool(a.as_tuple() == b.as_tuple())
    if kind == "inst":
        return a.utcoffset() is not None and b.utcoffset() is not None and a == b
    if kind in ("vector", "list"):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if kind == "map":
        return _same_map(a, b)
    if kind == "set":
        members = {m: m for m in b}
        return len(a) == len(b) and all(m in members and same_value(m, members[m]) for m in a)
    if kind == "tagged":
        return bool(a.tag == b.tag) and same_value(a.value, b.value)
    return bool(a == b)


def _same_map(a: Mapping[Any, Any], b: Mapping[Any, Any]) -> bool:
    if len(a) != len(b):
        return False
    keys = {k: k for k in b}  # dict lookup finds the equal key; same_value then checks its kind
    return all(k in keys and same_value(k, keys[k]) and same_value(v, b[k]) for k, v in a.items())
