"""Hatch build hook: a wheel carries the JS bundles, and the compiled EDN speedups when it can.

Run ``python hatch_build.py`` to rebuild the speedups in place after editing the C source.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLES = ("jupyter_sente/static/sente-client.js", "jupyter_sente/static/widgets.js")

SPEEDUPS_SOURCE = "jupyter_sente/packers/_edn_speedups.c"
PURE_PYTHON_ENV = "JUPYTER_SENTE_PURE_PYTHON"
REQUIRE_SPEEDUPS_ENV = "JUPYTER_SENTE_REQUIRE_SPEEDUPS"


class CompileError(Exception):
    """No C compiler, or it rejected the source; the message holds the command and its output."""


def env_flag(name: str) -> bool:
    """Whether the environment variable is set to something other than empty, 0, false or no."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def source_sha256(source: Path) -> str:
    """The hex SHA-256 of the source's bytes, which the module exposes as ``SOURCE_SHA256``."""
    return hashlib.sha256(source.read_bytes()).hexdigest()


def extension_name() -> str:
    """The file name of the compiled module for this interpreter."""
    return "_edn_speedups" + str(sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def in_place_path(root: Path) -> Path:
    """Where the editable install imports the compiled module from: next to its source."""
    return (root / SPEEDUPS_SOURCE).with_name(extension_name())


def is_built_from(built: Path, digest: str) -> bool:
    """Whether ``built`` exists and embeds ``digest`` (its ``SOURCE_SHA256`` is a string literal)."""
    return built.is_file() and digest.encode("ascii") in built.read_bytes()


def _config_words(name: str) -> list[str]:
    return shlex.split(str(sysconfig.get_config_var(name) or ""))


def compiler_commands(source: Path, obj: Path, out: Path, digest: str) -> list[list[str]]:
    """The compile and link commands, from this Python's build configuration.

    As setuptools does, ``CC``, ``LDSHARED``, ``CFLAGS``, ``CPPFLAGS`` and ``LDFLAGS`` from the
    environment replace or extend the configured ones.
    """
    cc = str(sysconfig.get_config_var("CC") or "")
    ldshared = str(sysconfig.get_config_var("LDSHARED") or "")
    if "CC" in os.environ:
        # the configured link command starts with the configured compiler: swap in the new one
        if "LDSHARED" not in os.environ and ldshared.startswith(cc):
            ldshared = os.environ["CC"] + ldshared[len(cc) :]
        cc = os.environ["CC"]
    ldshared = os.environ.get("LDSHARED", ldshared)
    if not cc.strip() or not ldshared.strip():
        raise CompileError(
            "this Python's build configuration names no C compiler (sysconfig's CC and LDSHARED); "
            "set CC and LDSHARED to use one"
        )
    extra = shlex.split(os.environ.get("CFLAGS", "")) + shlex.split(os.environ.get("CPPFLAGS", ""))
    paths = sysconfig.get_paths()
    includes = dict.fromkeys(["-I" + paths["include"], "-I" + paths["platinclude"]])
    compile_cmd = [
        *shlex.split(cc),
        *_config_words("CFLAGS"),
        "-O2",  # after the configured flags, so it wins over theirs; the environment's win over it
        *extra,
        *_config_words("CCSHARED"),
        *includes,
        f'-DJS_SOURCE_SHA256="{digest}"',
        "-c",
        str(source),
        "-o",
        str(obj),
    ]
    link_cmd = [
        *shlex.split(ldshared),
        *extra,
        *shlex.split(os.environ.get("LDFLAGS", "")),
        str(obj),
        "-o",
        str(out),
    ]
    return [compile_cmd, link_cmd]


def compile_speedups(source: Path, out: Path) -> None:
    """Compile ``source`` into the module file ``out``; raise `CompileError` saying what failed.

    The file is linked beside ``out`` and renamed over it, so a process that has the old one
    loaded keeps a whole file.
    """
    digest = source_sha256(source)
    partial = out.with_name(out.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="jupyter-sente-cc-") as tmp:
        for cmd in compiler_commands(source, Path(tmp) / "_edn_speedups.o", partial, digest):
            try:
                done = subprocess.run(
                    cmd, capture_output=True, text=True, errors="replace", check=False
                )
            except OSError as e:
                raise CompileError(f"cannot run the C compiler `{cmd[0]}`: {e}") from None
            if done.returncode != 0:
                partial.unlink(missing_ok=True)
                output = (done.stdout + done.stderr).strip() or "(no output)"
                raise CompileError(
                    f"`{shlex.join(cmd)}` exited with status {done.returncode}:\n{output}"
                )
    os.replace(partial, out)


def build_in_place(root: Path, *, force: bool = False) -> bool:
    """Compile the speedups next to their source unless the file there is built from these bytes.

    Returns whether it compiled.
    """
    source = root / SPEEDUPS_SOURCE
    out = in_place_path(root)
    if not force and is_built_from(out, source_sha256(source)):
        return False
    compile_speedups(source, out)
    return True


def fallback_warning(error: CompileError) -> str:
    """What the build says when it goes on without the speedups."""
    return (
        f"WARNING: could not compile the EDN speedups ({SPEEDUPS_SOURCE}): {error}\n"
        "WARNING: building without them: jupyter-sente will use its pure-Python EDN packer, "
        "which is slower. Install a C compiler and the Python headers to get them, or set "
        f"{REQUIRE_SPEEDUPS_ENV}=1 to make this an error."
    )


class JsBundleHook(BuildHookInterface):  # type: ignore[type-arg]
    """Build the JS bundles with npm when missing, and compile the EDN speedups for a wheel."""

    PLUGIN_NAME = "custom"

    _build_dir: tempfile.TemporaryDirectory[str] | None = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if version != "editable":
            # an editable install serves the bundles from the tree (.ci/setup builds them)
            self._ensure_bundles()
        self._build_speedups(version, build_data)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._build_dir is not None:
            self._build_dir.cleanup()
            self._build_dir = None

    def _ensure_bundles(self) -> None:
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

    def _build_speedups(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        source = root / SPEEDUPS_SOURCE
        if not source.is_file():
            return  # a tree without the C source has only the pure-Python packer to offer
        if env_flag(PURE_PYTHON_ENV):
            self.app.display_info(
                f"{PURE_PYTHON_ENV} is set: not compiling the EDN speedups (pure-Python packer)"
            )
            return
        try:
            if version == "editable":
                if build_in_place(root):
                    self.app.display_info(f"compiled {in_place_path(root).relative_to(root)}")
                return
            self._build_dir = tempfile.TemporaryDirectory(prefix="jupyter-sente-build-")
            built = Path(self._build_dir.name) / extension_name()
            compile_speedups(source, built)
        except CompileError as e:
            if env_flag(REQUIRE_SPEEDUPS_ENV):
                raise RuntimeError(
                    f"{REQUIRE_SPEEDUPS_ENV} is set and the EDN speedups ({SPEEDUPS_SOURCE}) "
                    f"did not compile: {e}"
                ) from None
            if version == "editable":
                # a module built from older source must not be imported in place of the pure one
                in_place_path(root).unlink(missing_ok=True)
            self.app.display_warning(fallback_warning(e))
            return
        build_data["force_include"][str(built)] = f"jupyter_sente/packers/{built.name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True


def main(argv: list[str]) -> int:
    """Compile the speedups in place (``--force``: even when the built file is current)."""
    root = Path(__file__).resolve().parent
    if env_flag(PURE_PYTHON_ENV):
        print(f"{PURE_PYTHON_ENV} is set: not compiling the EDN speedups")
        return 0
    try:
        compiled = build_in_place(root, force="--force" in argv)
    except CompileError as e:
        print(f"could not compile {SPEEDUPS_SOURCE}: {e}", file=sys.stderr)
        return 1
    out = in_place_path(root).relative_to(root)
    print(f"compiled {out}" if compiled else f"{out} is up to date with {SPEEDUPS_SOURCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
