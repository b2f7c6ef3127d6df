"""Fixtures of the packer tests."""

from __future__ import annotations

from tests.edn_paths import edn_accelerate

__all__ = ["edn_accelerate"]
