"""Hatch build hook: a wheel always carries the JS bundles, so installing it needs no npm."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLES = ("jupyter_sente/static/sente-client.js", "jupyter_sente/static/widgets.js")


class JsBundleHook(BuildHookInterface):  # type: ignore[type-arg]
    """Build the bundles from ``js/`` with npm when a wheel is built without them."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return  # an editable install serves the bundles from the tree (.ci/setup builds them)
        root = Path(self.root)
        if all((root / b).is_file() for b in BUNDLES):
            return
        npm = shutil.which("npm")
        if npm is None or not (root / "js" / "package.json").is_file():
            missing = ", ".join(b for b in BUNDLES if not (root / b).is_file())
            raise RuntimeError(
                f"the wheel needs the JS bundles ({missing}), and npm is not available to build "
                "them: run `npm ci && npm run build` in js/ (or `bash .ci/setup`) first"
            )
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=root / "js", check=True)
        subprocess.run([npm, "run", "build"], cwd=root / "js", check=True)
