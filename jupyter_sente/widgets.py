"""Notebook widgets that live on the browser page's channel socket.

``Chat``, ``Presence``, ``LivePlot``, ``EventLog`` and ``Inspector`` are anywidget classes. Their
views talk to the Jupyter server directly, over the one channel socket each browser page
opens (``{base_url}sente/chsk``, authenticated like the page), not through the kernel: every
collaborator who has the notebook open sees the room live, with or without a kernel. The
Python objects carry configuration only (room, event id, options), as synced traits.

The JavaScript is ``static/widgets.js``, built from ``js/src/widgets/`` (``docs/widgets.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
from traitlets import Bool, Float, Int, Unicode, validate

from jupyter_sente.core.events import make_event
from jupyter_sente.core.rooms import ROOM_NAMESPACE, check_room_name
from jupyter_sente.exceptions import UsageError

__all__ = ["Chat", "EventLog", "Inspector", "LivePlot", "Presence", "SenteWidget"]

BUNDLE = Path(__file__).parent / "static" / "widgets.js"

# Shown instead of the widget when the package was installed from a checkout without `npm run
# build`: a clear message beats an import error in a notebook (where nobody reads tracebacks).
_MISSING_BUNDLE_ESM = """
export default {
  render({ el }) {
    el.textContent = "jupyter-sente: the widget bundle (jupyter_sente/static/widgets.js) is not "
      + "built. In a source checkout run `npm ci && npm run build` in js/, then restart the kernel.";
    el.style.cssText = "padding:8px;border-left:3px solid var(--jp-error-color1,#d32f2f)";
  },
};
"""


def _esm() -> Path | str:
    return BUNDLE if BUNDLE.is_file() else _MISSING_BUNDLE_ESM


def check_event_id(value: str) -> str:
    """``value`` as an event id ``"ns/name"`` a room may carry; ``UsageError`` otherwise."""
    name = value[1:] if value.startswith(":") else value
    event = make_event(name)  # refuses malformed ids and Sente's reserved chsk/*
    if event[0].name.startswith(ROOM_NAMESPACE + "/"):
        raise UsageError(f"event id {value!r} is in the reserved {ROOM_NAMESPACE!r} namespace")
    return name


class SenteWidget(anywidget.AnyWidget):
    """The widgets' common base: one ESM bundle, the view chosen by ``_sente_view``."""

    _esm = _esm()
    _sente_view = Unicode("").tag(sync=True)


class _RoomWidget(SenteWidget):
    """A widget on one room."""

    room = Unicode(help="The room (any non-empty name of at most 200 characters).").tag(sync=True)

    @validate("room")
    def _check_room(self, proposal: dict[str, Any]) -> str:
        return check_room_name(proposal["value"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.room!r})"


class Chat(_RoomWidget):
    """A chat box on ``room``: messages with sender name and colour since the view opened.

    A message is ``[event {"text": ...}]``; a kernel can post one with
    ``jupyter_sente.room(room).publish("chat/post", {"text": "hi"})``.
    """

    _sente_view = Unicode("chat").tag(sync=True)
    event = Unicode("chat/post", help="The event id of messages.").tag(sync=True)
    placeholder = Unicode("Message (Enter sends)").tag(sync=True)

    def __init__(self, room: str, *, event: str = "chat/post", **kwargs: Any) -> None:
        super().__init__(room=room, event=event, **kwargs)

    @validate("event")
    def _check_event(self, proposal: dict[str, Any]) -> str:
        return check_event_id(proposal["value"])


class Presence(_RoomWidget):
    """Who is in ``room``: users (Jupyter identity, colour) with their tabs and kernels."""

    _sente_view = Unicode("presence").tag(sync=True)

    def __init__(self, room: str, **kwargs: Any) -> None:
        super().__init__(room=room, **kwargs)


class LivePlot(_RoomWidget):
    """A streaming line chart of the numbers published as ``event`` in ``room``.

    Event data: a number (series ``"y"``); a dict of series to numbers, with an optional
    ``"x"`` (else the arrival time, in seconds since the view opened); ``{"series": s, "x": x,
    "y": y}``; or ``{"points": [...]}`` with several of those. The newest ``max_points`` points
    of each series are kept.
    """

    _sente_view = Unicode("liveplot").tag(sync=True)
    event = Unicode(help="The event id whose data are plotted.").tag(sync=True)
    max_points = Int(10_000, help="Points kept per series.").tag(sync=True)
    height = Int(240, help="Height of the chart, in CSS pixels.").tag(sync=True)
    title = Unicode("", help="Shown in the header (default: the event id).").tag(sync=True)

    def __init__(
        self,
        room: str,
        event: str,
        *,
        max_points: int = 10_000,
        height: int = 240,
        title: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            room=room, event=event, max_points=max_points, height=height, title=title, **kwargs
        )

    @validate("event")
    def _check_event(self, proposal: dict[str, Any]) -> str:
        return check_event_id(proposal["value"])

    @validate("max_points")
    def _check_max_points(self, proposal: dict[str, Any]) -> int:
        value: int = proposal["value"]
        if not 2 <= value <= 1_000_000:
            raise UsageError(f"max_points must be between 2 and 1000000, got {value}")
        return value

    @validate("height")
    def _check_height(self, proposal: dict[str, Any]) -> int:
        value: int = proposal["value"]
        if not 80 <= value <= 4000:
            raise UsageError(f"height must be between 80 and 4000 pixels, got {value}")
        return value


class EventLog(_RoomWidget):
    """A live log of every event in ``room`` (and who joins and leaves), with a filter box."""

    _sente_view = Unicode("eventlog").tag(sync=True)
    max_rows = Int(1000, help="Rows kept (the oldest go first).").tag(sync=True)
    show_presence = Bool(True, help="Log joins and leaves too.").tag(sync=True)

    def __init__(
        self, room: str, *, max_rows: int = 1000, show_presence: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(room=room, max_rows=max_rows, show_presence=show_presence, **kwargs)

    @validate("max_rows")
    def _check_max_rows(self, proposal: dict[str, Any]) -> int:
        value: int = proposal["value"]
        if not 10 <= value <= 100_000:
            raise UsageError(f"max_rows must be between 10 and 100000, got {value}")
        return value


class Inspector(SenteWidget):
    """The page's connection, for teaching: transport, state timeline, handshake, round trip,
    push batching; buttons to disconnect, reconnect and force Ajax (for every widget of the page).
    """

    _sente_view = Unicode("inspector").tag(sync=True)
    ping_interval = Float(5.0, help="Seconds between round-trip measurements; 0: on demand.").tag(
        sync=True
    )

    def __init__(self, *, ping_interval: float = 5.0, **kwargs: Any) -> None:
        super().__init__(ping_interval=ping_interval, **kwargs)

    @validate("ping_interval")
    def _check_ping_interval(self, proposal: dict[str, Any]) -> float:
        value: float = proposal["value"]
        if value != 0 and not 0.5 <= value <= 3600:
            raise UsageError(f"ping_interval must be 0 or 0.5..3600 seconds, got {value}")
        return value

    def __repr__(self) -> str:
        return "Inspector()"
