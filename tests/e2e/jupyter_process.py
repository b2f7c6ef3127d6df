"""A real Jupyter server in a subprocess, with jupyter-sente, alice and bob, and a REST helper.

Kernels it starts inherit its environment, including the loopback URL and kernel secret the
extension exports: that is what the notebook and end-to-end tests need (an in-process
pytest-jupyter server would share the test's environment and event loop instead).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.waits import S

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
#: The server's own token (REST calls of the tests); users log in with theirs (identity.py).
SERVER_TOKEN = "e2e-server-token"
#: The uid kernels connect as: alice owns the server, bob is her guest.
KERNEL_USER = "alice"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class JupyterProcess:
    """A running ``jupyter server`` or ``jupyter lab``: its URL, root and runtime directories."""

    proc: subprocess.Popen[bytes]
    port: int
    root_dir: Path
    runtime_dir: Path
    log_path: Path
    base_url: str = "/"

    @property
    def url(self) -> str:
        """The server's URL, base URL included."""
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    @property
    def chsk_url(self) -> str:
        return f"{self.url}sente/chsk"

    def api(self, method: str, path: str, body: Any = None, *, token: str = SERVER_TOKEN) -> Any:
        """Call the REST API (``path`` under ``/api/``); the decoded JSON answer, or None."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}api/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30 * S) as res:
            text = res.read()
        return json.loads(text) if text else None

    def start_session(self, notebook: str) -> dict[str, Any]:
        """Start a kernel for ``notebook`` (as the front ends do); the session's JSON."""
        session: dict[str, Any] = self.api(
            "POST",
            "sessions",
            {"path": notebook, "name": notebook, "type": "notebook", "kernel": {"name": "python3"}},
        )
        return session

    def stop_sessions(self) -> None:
        """Shut down every session's kernel (kernels outlive the pages that started them)."""
        for s in self.api("GET", "sessions"):
            try:
                self.api("DELETE", f"sessions/{s['id']}")
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise

    def connection_file(self, kernel_id: str) -> Path:
        """Where the server wrote the kernel's connection file."""
        return self.runtime_dir / f"kernel-{kernel_id}.json"

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's log (for failure messages)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (it shuts its kernels down) and wait for it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15 * S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5 * S)


def start_jupyter(
    state: Path,
    *,
    app: str = "server",
    root_dir: Path = NOTEBOOKS,
    base_url: str = "/",
    extra: Sequence[str] = (),
    startup_timeout: float = 60.0,
) -> JupyterProcess:
    """Start ``jupyter <app>`` on a free loopback port with its state under ``state``.

    ``base_url`` must start and end with ``/``.
    Jupyter's config, data, runtime and IPython directories are fresh ones under ``state``;
    alice and bob log in with their tokens (:mod:`tests.e2e.identity`); kernels connect as
    alice. Returns once ``/api/status`` answers.
    """
    dirs = {
        "JUPYTER_CONFIG_DIR": state / "config",
        "JUPYTER_DATA_DIR": state / "data",
        "JUPYTER_RUNTIME_DIR": state / "runtime",
        "IPYTHONDIR": state / "ipython",
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **{k: str(v) for k, v in dirs.items()},
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        # the kernels' matplotlib and friends stay out of the real home too
        "MPLCONFIGDIR": str(state / "mpl"),
    }
    port = free_port()
    log_path = state / f"jupyter-{app}.log"
    args = [
        sys.executable,
        "-m",
        "jupyter",
        app,
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        f"--ServerApp.base_url={base_url}",
        f"--IdentityProvider.token={SERVER_TOKEN}",
        "--ServerApp.identity_provider_class=tests.e2e.identity.TwoUsers",
        "--ServerApp.jpserver_extensions=jupyter_sente=True",
        f"--SenteApp.kernel_username={KERNEL_USER}",
        "--ServerApp.shutdown_no_activity_timeout=0",
        *extra,
    ]
    if hasattr(os, "getuid") and os.getuid() == 0:
        args.append("--allow-root")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            args,
            cwd=state,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    jp = JupyterProcess(proc, port, root_dir, dirs["JUPYTER_RUNTIME_DIR"], log_path, base_url)
    deadline = time.monotonic() + startup_timeout * S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter {app} exited with {proc.returncode}:\n{jp.log_tail()}")
        try:
            jp.api("GET", "status")
            return jp
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                jp.stop()
                raise RuntimeError(
                    f"jupyter {app} did not answer within {startup_timeout * S:.0f} s:\n"
                    f"{jp.log_tail()}"
                ) from None
            time.sleep(0.1)


def copy_notebooks(dest: Path, names: Sequence[str]) -> Path:
    """Copy the example notebooks ``names`` into ``dest`` (tests run copies, never the originals)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(NOTEBOOKS / name, dest / name)
    return dest
