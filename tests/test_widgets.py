"""The widget classes' Python side: synced configuration traits, validation, the bundle.

What the views do is tested in a real browser (tests/browser/) and in js/test/widgets.test.js.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_sente import widgets
from jupyter_sente.exceptions import UsageError
from jupyter_sente.widgets import Chat, EventLog, Inspector, LivePlot, Presence

SYNCED = {
    Chat: {"room", "event", "placeholder"},
    Presence: {"room"},
    LivePlot: {"room", "event", "max_points", "height", "title"},
    EventLog: {"room", "max_rows", "show_presence"},
    Inspector: {"ping_interval"},
}


def make(cls: type[widgets.SenteWidget]) -> widgets.SenteWidget:
    if cls is Inspector:
        return Inspector()
    if cls is LivePlot:
        return LivePlot("dash", "dash/point")
    return cls("lobby")


@pytest.mark.parametrize("cls", list(SYNCED))
def test_each_widget_syncs_its_view_name_and_configuration_only(
    cls: type[widgets.SenteWidget],
) -> None:
    w = make(cls)
    own = {
        name
        for name in w.trait_names(sync=True)
        if not name.startswith("_") and name not in {"layout", "tabbable", "tooltip"}
    }
    assert own == SYNCED[cls]
    assert w._sente_view == cls.__name__.lower()
    w.close()


def test_the_widgets_share_the_built_bundle() -> None:
    assert widgets.BUNDLE.is_file(), "run `npm run build` in js/ (.ci/setup does)"
    chat, plot = Chat("lobby"), LivePlot("dash", "dash/point")
    assert chat._esm == plot._esm == widgets.BUNDLE.read_text(encoding="utf-8")
    chat.close()
    plot.close()


def test_without_a_built_bundle_the_widget_says_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(widgets, "BUNDLE", tmp_path / "widgets.js")
    esm = widgets._esm()
    assert isinstance(esm, str)
    assert "npm ci && npm run build" in esm


def test_defaults_and_repr() -> None:
    chat = Chat("lobby")
    assert (chat.room, chat.event) == ("lobby", "chat/post")
    assert repr(chat) == "Chat('lobby')"
    plot = LivePlot("dash", ":dash/point")  # an EDN-style id is taken without its colon
    assert (plot.event, plot.max_points, plot.height) == ("dash/point", 10_000, 240)
    assert repr(Inspector()) == "Inspector()"
    log = EventLog("lobby", max_rows=50, show_presence=False)
    assert (log.max_rows, log.show_presence) == (50, False)


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda: Chat(""),
        lambda: Presence("x" * 201),
        lambda: Chat("lobby", event="post"),
        lambda: Chat("lobby", event="chsk/handshake"),
        lambda: LivePlot("dash", "sente.room/join"),
        lambda: LivePlot("dash", "dash/point", max_points=1),
        lambda: LivePlot("dash", "dash/point", height=10),
        lambda: EventLog("lobby", max_rows=0),
        lambda: Inspector(ping_interval=0.1),
    ],
)
def test_bad_configuration_is_a_usage_error(make_bad: object) -> None:
    with pytest.raises(UsageError):
        make_bad()  # type: ignore[operator]


def test_a_changed_room_is_validated_too() -> None:
    chat = Chat("lobby")
    chat.room = "elsewhere"
    with pytest.raises(UsageError):
        chat.room = ""
    assert chat.room == "elsewhere"


def test_importing_the_widgets_pulls_in_no_server_or_client() -> None:
    code = (
        "import sys, jupyter_sente.widgets\n"
        "heavy = ('tornado', 'jupyter_server', 'websockets', 'jupyter_sente.client', "
        "'jupyter_sente.kernel', 'jupyter_sente.server')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
