"""Tornado appears only in the Tornado host; the server state machine's core needs no asyncio."""

from __future__ import annotations

import json
import subprocess
import sys


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_server_package_does_not_import_tornado() -> None:
    mods = imported_after("import jupyter_sente.server")
    assert "jupyter_sente.server.server" in mods
    assert not any(m.split(".")[0] in ("tornado", "jupyter_server") for m in mods)


def test_server_connection_state_machine_imports_no_io_framework() -> None:
    mods = imported_after("import jupyter_sente.core.server_conn")
    assert not any(m.split(".")[0] in ("asyncio", "tornado") for m in mods)
