"""Test-wide settings: keep Jupyter's state out of the real home directory."""

from __future__ import annotations

import os
import tempfile

_state = tempfile.mkdtemp(prefix="jupyter-sente-tests-")
for var, sub in (
    ("JUPYTER_CONFIG_DIR", "config"),
    ("JUPYTER_DATA_DIR", "data"),
    ("JUPYTER_RUNTIME_DIR", "runtime"),
    ("IPYTHONDIR", "ipython"),
):
    os.environ.setdefault(var, os.path.join(_state, sub))

# pytest-jupyter has no entry point; pytest allows pytest_plugins only in the root conftest.
# Its fixtures (jp_serverapp, jp_fetch, jp_ws_fetch) serve tests/extension; its autouse
# jp_asyncio_loop / jp_server_cleanup run for every test (cheap: measured in the report).
pytest_plugins = ["pytest_jupyter.jupyter_server"]
