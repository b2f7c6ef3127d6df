"""Real server processes: the extension loads in `jupyter server`, `lab` and `notebook`, and a
kernel of a server started on port 0 gets the real URL and joins a room with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client import BlockingKernelClient

from tests.extension.conftest import S

TOKEN = "startup-test-token"


class ServerProcess:
    """``jupyter <app>`` in its own session with its own config, data and runtime dirs."""

    def __init__(self, app: str, tmp_path: Path, *extra: str) -> None:
        self.runtime = tmp_path / "runtime"
        root = tmp_path / "root"
        root.mkdir()
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
            "JUPYTER_DATA_DIR": str(tmp_path / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "IPYTHONDIR": str(tmp_path / "ipython"),
        }
        for name in ("JUPYTER_SENTE_URL", "JUPYTER_SENTE_KERNEL_SECRET"):
            env.pop(name, None)
        args = [
            sys.executable,
            "-m",
            "jupyter",
            app,
            "--port=0",
            "--no-browser",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            *extra,
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
        self.log = tmp_path / "server.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def info(self, timeout: float = 60 * S) -> dict[str, Any]:
        """The server's runtime info file (written once it listens)."""
        deadline = time.monotonic() + timeout
        path = self.runtime / f"jpserver-{self.proc.pid}.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited:\n{self.log.read_text()}")
            if path.exists():
                try:
                    return json.loads(path.read_text())  # type: ignore[no-any-return]
                except json.JSONDecodeError:
                    pass  # half written
            time.sleep(0.05)
        raise AssertionError(f"no {path.name} within {timeout} s:\n{self.log.read_text()}")

    def ready(self, timeout: float = 60 * S) -> dict[str, Any]:
        """The runtime info once the server answers (the file comes before the port is bound)."""
        info = self.info(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.api("api/status")
                return info
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        url = self.info()["url"].rstrip("/") + "/" + path
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            url, data=data, method=method, headers={"Authorization": f"token {TOKEN}"}
        )
        with urllib.request.urlopen(req, timeout=30 * S) as r:
            return json.loads(r.read() or b"null")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20 * S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def start(app: str, *extra: str) -> ServerProcess:
        p = ServerProcess(app, tmp_path, *extra)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_the_extension_loads_in_jupyterlab_and_notebook_7(server_process: Any, app: str) -> None:
    server = server_process(app)
    server.ready()
    assert server.api("api/status")["kernels"] == 0
    assert "jupyter_sente | extension was successfully loaded" in server.log.read_text()


CELL = """
import os, jupyter_sente as sente
print(os.environ["JUPYTER_SENTE_URL"])
room = sente.room("lobby")
me = room.members[0]
print(me["uid"], me["conns"][0]["kind"], me["conns"][0]["client-id"])
"""


def test_a_server_on_port_0_gives_its_kernels_the_bound_url(server_process: Any) -> None:
    server = server_process("server", "--SenteApp.kernel_username=owner")
    port = server.ready()["port"]
    assert port != 0
    kernel = server.api("api/kernels", "POST", {"name": "python3"})
    kc = BlockingKernelClient(connection_file=str(server.runtime / f"kernel-{kernel['id']}.json"))
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60 * S)
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                errors.append("\n".join(msg["content"]["traceback"]))

        reply = kc.execute_interactive(CELL, output_hook=hook, timeout=60 * S)
        assert reply["content"]["status"] == "ok", "\n".join(errors)
    finally:
        kc.stop_channels()
    url, who = "".join(out).strip().splitlines()
    assert url == f"http://127.0.0.1:{port}/sente/chsk"
    assert who == f"owner kernel kernel-{kernel['id']}"
    assert "SenteKernel" not in server.log.read_text()
