"""A built wheel carries what an install needs: the JS bundles, the enabling config, types."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
BUNDLES = ("jupyter_sente/static/sente-client.js", "jupyter_sente/static/widgets.js")


def build_wheel(
    src: Path, out: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(src),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_the_wheel_ships_the_bundles_the_server_config_and_types(tmp_path: Path) -> None:
    done = build_wheel(ROOT, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = tmp_path.glob("jupyter_sente-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for bundle in (*BUNDLES, "jupyter_sente/static/demo.js", "jupyter_sente/py.typed"):
        assert bundle in names
    assert any(
        n.endswith("data/etc/jupyter/jupyter_server_config.d/jupyter_sente.json") for n in names
    )


def test_a_wheel_without_bundles_or_npm_fails_saying_what_to_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "hatch_build.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for tree in ("jupyter_sente", "jupyter-config"):
        shutil.copytree(ROOT / tree, src / tree, ignore=shutil.ignore_patterns("__pycache__"))
    for bundle in BUNDLES:
        (src / bundle).unlink()
    # no npm on PATH: only the interpreter's own folder
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    done = build_wheel(src, tmp_path / "out", env)
    assert done.returncode != 0
    assert "npm ci && npm run build" in done.stdout + done.stderr
