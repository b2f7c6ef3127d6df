"""The public surface is what the docs say, and importing it stays light."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import jupyter_sente

TOP_LEVEL = {
    "__version__",
    # the cell API (README "Cell API", docs/extension.md)
    "room",
    "rooms",
    "Room",
    "Message",
    # widgets (docs/widgets.md)
    "Chat",
    "Presence",
    "LivePlot",
    "EventLog",
    "Inspector",
    # outcomes a cell catches
    "SenteError",
    "UsageError",
    "ReplyError",
    "ReplyTimeout",
    "ReplyClosed",
    "ReplyFailed",
}

SUBPACKAGES = {
    "jupyter_sente.packers": {"get_packer", "Packer", "PackError", "PACKER_NAMES"},
    "jupyter_sente.server": {"ChannelSocketServer", "EventMsg", "Router"},
    "jupyter_sente.client": {"Client", "ThreadedClient", "connect"},
    "jupyter_sente.backplane": {"make_backplane", "Backplane", "BackplaneMessage"},
}


def test_top_level_exports_are_the_documented_ones() -> None:
    assert set(jupyter_sente.__all__) == TOP_LEVEL
    assert set(jupyter_sente.__all__) <= set(dir(jupyter_sente))


@pytest.mark.parametrize("name", sorted(TOP_LEVEL))
def test_each_top_level_export_resolves(name: str) -> None:
    assert getattr(jupyter_sente, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = jupyter_sente.no_such_thing  # type: ignore[attr-defined]


@pytest.mark.parametrize(("module", "names"), sorted(SUBPACKAGES.items()))
def test_subpackages_export_their_documented_names(module: str, names: set[str]) -> None:
    mod = importlib.import_module(module)
    assert names <= set(mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which is missing"


def test_importing_the_package_pulls_in_no_server_or_widget_framework() -> None:
    code = "import sys, json, jupyter_sente; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy = ("tornado", "jupyter_server", "anywidget", "ipywidgets", "redis", "websockets")
    leaked = sorted(m for m in json.loads(out.stdout) if m.split(".")[0] in heavy)
    assert leaked == []
