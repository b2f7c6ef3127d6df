"""The compiled EDN speedups this test run imports are built from the C source in the tree."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import pytest

from jupyter_sente.packers.edn import pure_python_requested

SOURCE = Path(__file__).parents[2] / "jupyter_sente" / "packers" / "_edn_speedups.c"
REBUILD = "run `python hatch_build.py` (or `bash .ci/setup`) to build it in place"


def test_the_imported_speedups_are_built_from_the_current_source() -> None:
    if pure_python_requested():
        pytest.skip("JUPYTER_SENTE_PURE_PYTHON is set: the pure-Python packer is under test")
    try:
        speedups = importlib.import_module("jupyter_sente.packers._edn_speedups")
    except ImportError as e:
        pytest.fail(
            f"the compiled EDN speedups do not import ({e}): {REBUILD}, "
            "or set JUPYTER_SENTE_PURE_PYTHON=1 to test without them"
        )
    current = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    assert current == speedups.SOURCE_SHA256, (
        f"{Path(speedups.__file__ or '').name} was built from other source than "
        f"jupyter_sente/packers/{SOURCE.name}: {REBUILD}"
    )
