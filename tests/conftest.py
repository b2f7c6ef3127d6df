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
