"""Run EDN packer tests twice: with the compiled fast paths (when built) and with pure Python.

``edn_accelerate`` (a module-scoped fixture, ``True`` then ``False``) turns the compiled paths
off for ``False``: in ``edn.PACKER`` (what ``get_packer("edn")``, ``dumps`` and ``loads`` use)
and in every ``EdnPacker()`` made meanwhile, as ``EdnPacker(accelerate=False)`` would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from jupyter_sente.packers import edn

__all__ = ["edn_accelerate", "pure_python_edn"]


@contextlib.contextmanager
def pure_python_edn() -> Iterator[None]:
    """Within it, the EDN packers read and write with pure Python alone."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(edn, "_speedups", None)  # EdnPacker() made now is pure
        patch.setattr(edn.PACKER, "_fast_read", None)
        patch.setattr(edn.PACKER, "_fast_write", None)
        assert not edn.PACKER.accelerated
        yield


@pytest.fixture(params=[True, False], ids=["accelerated", "pure"], scope="module")
def edn_accelerate(request: pytest.FixtureRequest) -> Iterator[bool]:
    """``True`` (the compiled paths, when built), then ``False`` (pure Python alone)."""
    if request.param:
        yield True
    else:
        with pure_python_edn():
            yield False
