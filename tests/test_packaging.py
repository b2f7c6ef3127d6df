"""A built wheel carries what an install needs: the JS bundles, the enabling config, types, and
the compiled EDN speedups when a C compiler can build them."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.tags import sys_tags

ROOT = Path(__file__).parents[1]
BUNDLES = ("jupyter_sente/static/sente-client.js", "jupyter_sente/static/widgets.js")
SPEEDUPS_SOURCE = "jupyter_sente/packers/_edn_speedups.c"
SPEEDUPS = f"jupyter_sente/packers/_edn_speedups{sysconfig.get_config_var('EXT_SUFFIX')}"


def build_wheel(
    src: Path, out: Path, env: dict[str, str] | None = None, *, verbose: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            *(["-v"] if verbose else []),  # pip shows the build's own output only with -v
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


def speedups_env(**settings: str) -> dict[str, str]:
    """The environment with the speedups' build switches off, then ``settings`` on top."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("JUPYTER_SENTE_PURE_PYTHON", "JUPYTER_SENTE_REQUIRE_SPEEDUPS")
    }
    return {**env, **settings}


def extensions_in(names: set[str]) -> set[str]:
    return {n for n in names if n.endswith((".so", ".pyd"))}


@pytest.fixture(scope="module")
def speedups_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel built from the repository with the C compiler at hand."""
    out = tmp_path_factory.mktemp("wheel")
    done = build_wheel(ROOT, out, speedups_env())
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("jupyter_sente-*.whl")
    return wheel


def test_the_wheel_carries_the_speedups_compiled_for_this_platform(speedups_wheel: Path) -> None:
    names = set(zipfile.ZipFile(speedups_wheel).namelist())
    assert extensions_in(names) == {SPEEDUPS}
    assert SPEEDUPS_SOURCE not in names
    tag = "-".join(speedups_wheel.stem.split("-")[2:])
    assert tag != "py3-none-any"
    assert tag in {str(t) for t in sys_tags()}  # this interpreter's, with its platform
    wheel_meta = next(n for n in names if n.endswith(".dist-info/WHEEL"))
    assert "Root-Is-Purelib: false" in zipfile.ZipFile(speedups_wheel).read(wheel_meta).decode()


def test_the_wheels_speedups_import_and_are_built_from_the_source(
    speedups_wheel: Path, tmp_path: Path
) -> None:
    zipfile.ZipFile(speedups_wheel).extractall(tmp_path)
    # PYTHONPATH comes before the editable install's path entry, so the unzipped package wins
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import jupyter_sente.packers._edn_speedups as m; print(m.__file__); "
            "print(m.SOURCE_SHA256)",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    file, digest = done.stdout.split()
    assert Path(file) == tmp_path / SPEEDUPS
    assert digest == hashlib.sha256((ROOT / SPEEDUPS_SOURCE).read_bytes()).hexdigest()


def test_pure_python_setting_builds_a_pure_wheel_without_the_speedups(tmp_path: Path) -> None:
    done = build_wheel(ROOT, tmp_path, speedups_env(JUPYTER_SENTE_PURE_PYTHON="1"))
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = tmp_path.glob("jupyter_sente-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    assert not extensions_in(set(zipfile.ZipFile(wheel).namelist()))


def test_a_failing_compiler_gives_a_pure_wheel_and_a_warning(tmp_path: Path) -> None:
    done = build_wheel(ROOT, tmp_path, speedups_env(CC="false"), verbose=True)
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert f"could not compile the EDN speedups ({SPEEDUPS_SOURCE})" in output
    assert "`false " in output  # the command that failed
    assert "pure-Python EDN packer, which is slower" in output
    (wheel,) = tmp_path.glob("jupyter_sente-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    assert not extensions_in(set(zipfile.ZipFile(wheel).namelist()))


def test_a_failing_compiler_fails_the_build_when_speedups_are_required(tmp_path: Path) -> None:
    env = speedups_env(CC="false", JUPYTER_SENTE_REQUIRE_SPEEDUPS="1")
    done = build_wheel(ROOT, tmp_path, env)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "JUPYTER_SENTE_REQUIRE_SPEEDUPS is set and the EDN speedups" in output
    assert "`false " in output
    assert not list(tmp_path.glob("*.whl"))
