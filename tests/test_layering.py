"""Layers import nothing above them: checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("asyncio", "tornado", "jupyter_server", "anywidget", "ipywidgets", "redis")


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    "statement",
    [
        "import jupyter_sente.core.events, jupyter_sente.core.envelope",
        "import jupyter_sente.core.timing, jupyter_sente.core.replies",
        "from jupyter_sente.packers import get_packer; get_packer('edn'); get_packer('json')",
    ],
)
def test_core_and_packers_import_no_io_framework(statement: str) -> None:
    mods = imported_after(statement)
    leaked = sorted(m for m in mods if m.split(".")[0] in HEAVY)
    assert leaked == [], f"{statement!r} pulled in {leaked}"
