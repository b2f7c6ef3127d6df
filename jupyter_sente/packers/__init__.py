"""Packers turn wire values into text and back: ``get_packer("edn")`` (default) or ``"json"``.

Every packer has ``name``, ``pack(value) -> str`` and ``unpack(text) -> value`` over the value
model of :mod:`jupyter_sente.values`, and raises only :class:`~jupyter_sente.exceptions.PackError`
(``EncodeError`` from ``pack``, ``DecodeError`` from ``unpack``) on bad input.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

from jupyter_sente.exceptions import PackError, UsageError

__all__ = ["PACKER_NAMES", "PackError", "Packer", "get_packer"]


@runtime_checkable
class Packer(Protocol):
    """The packer contract (Sente's IPacker2, synchronous and text-only)."""

    name: str

    def pack(self, value: Any) -> str:
        """The text for ``value``; ``EncodeError`` if it has none."""
        ...

    def unpack(self, text: str) -> Any:
        """The value of ``text``; ``DecodeError`` if it is not valid."""
        ...


_MODULES = {"edn": "jupyter_sente.packers.edn", "json": "jupyter_sente.packers.json"}
PACKER_NAMES = tuple(_MODULES)
_cache: dict[str, Packer] = {}


def get_packer(name: str | Packer = "edn") -> Packer:
    """The packer called ``name`` (``"edn"`` or ``"json"``); a ``Packer`` instance is returned as is."""
    if not isinstance(name, str):
        if isinstance(name, Packer):
            return name
        raise UsageError(f"a packer is a name in {PACKER_NAMES} or a Packer, got {name!r}")
    packer = _cache.get(name)
    if packer is None:
        if name not in _MODULES:
            raise UsageError(f"unknown packer {name!r}; choose one of {', '.join(PACKER_NAMES)}")
        packer = _cache[name] = importlib.import_module(_MODULES[name]).PACKER
    return packer
