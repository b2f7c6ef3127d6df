"""The Jupyter server extension: ``SenteApp`` and its channel-socket handler.

Importing this package is light; ``SenteApp`` (which imports jupyter_server) loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_sente.jupyter.app import SenteApp

__all__ = ["SenteApp"]


def __getattr__(name: str) -> Any:
    if name == "SenteApp":
        from jupyter_sente.jupyter.app import SenteApp  # noqa: PLC0415 (lazy: jupyter_server)

        return SenteApp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
