"""The client imports no server framework; its state machine imports no I/O at all."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    ("statement", "forbidden"),
    [
        (
            "import jupyter_sente.client",
            ("tornado", "jupyter_server", "redis", "anywidget", "ipywidgets", "aiohttp"),
        ),
        ("import jupyter_sente.core.client_state", ("asyncio", "tornado", "websockets")),
    ],
)
def test_import_pulls_in_nothing_forbidden(statement: str, forbidden: tuple[str, ...]) -> None:
    leaked = sorted(m for m in imported_after(statement) if m.split(".")[0] in forbidden)
    assert leaked == [], f"{statement!r} pulled in {leaked}"
