"""jupyter-sente: Sente's realtime channel sockets for Jupyter."""

from __future__ import annotations

from typing import Any

from jupyter_sente._version import __version__
from jupyter_sente.exceptions import (
    ReplyClosed,
    ReplyError,
    ReplyFailed,
    ReplyTimeout,
    SenteError,
    UsageError,
)

__all__ = [
    "Chat",
    "EventLog",
    "Inspector",
    "LivePlot",
    "Message",
    "Presence",
    "ReplyClosed",
    "ReplyError",
    "ReplyFailed",
    "ReplyTimeout",
    "Room",
    "SenteError",
    "UsageError",
    "__version__",
    "room",
    "rooms",
]

# The cell API (jupyter_sente.room(...)) loads the client on first use, so that importing
# the package stays light: no jupyter_server, tornado or asyncio client until needed.
_KERNEL_API = ("Message", "Room", "room", "rooms")
# The widgets (``sente.Chat("lobby")``) load anywidget and ipywidgets on first use, for the same reason.
_WIDGETS = ("Chat", "EventLog", "Inspector", "LivePlot", "Presence")


def __getattr__(name: str) -> Any:
    if name in _KERNEL_API:
        from jupyter_sente import kernel  # noqa: PLC0415 (lazy, see above)

        return getattr(kernel, name)
    if name in _WIDGETS:
        from jupyter_sente import widgets  # noqa: PLC0415 (lazy, see above)

        return getattr(widgets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The server extension (jupyter_server finds it through this hook)."""
    from jupyter_sente.jupyter.app import SenteApp  # noqa: PLC0415 (lazy: jupyter_server)

    return [{"module": "jupyter_sente.jupyter.app", "app": SenteApp}]
