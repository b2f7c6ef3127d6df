"""The extension: enabled on install, options from config and command line, kernel variables."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_sente.jupyter.app import PAGE_CONFIG_KEY
from jupyter_sente.jupyter.kernel_auth import ENV_PACKER, ENV_SECRET, ENV_URL
from jupyter_sente.values import kw
from tests.extension.conftest import EDN, OWNER, sente_app


def test_the_installed_package_enables_the_extension(tmp_path: Path) -> None:
    # only the package's own jupyter-config file (in sys.prefix) can enable it here
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "NO_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    assert re.search(r"jupyter_sente\s+enabled", text), text
    assert re.search(r"jupyter_sente \S+ OK", text), text


def test_the_wheel_ships_the_config_file() -> None:
    root = Path(__file__).parents[2]
    shipped = root / "jupyter-config" / "jupyter_server_config.d" / "jupyter_sente.json"
    assert '"jupyter_sente": true' in shipped.read_text()
    assert (
        '"jupyter-config/jupyter_server_config.d" = "etc/jupyter/jupyter_server_config.d"'
        in (root / "pyproject.toml").read_text()
    )


class TestOptionsFromConfig:
    @pytest.fixture
    def sente_config(self) -> dict[str, Any]:
        return {"lp_timeout_ms": 1234, "packer": "json", "send_buf_ms_ws": 7}

    def test_config_file_options_reach_the_server(self, jp_serverapp: Any) -> None:
        options = sente_app(jp_serverapp).server.options
        assert (options.lp_timeout_ms, options.packer, options.send_buf_ms_ws) == (1234, "json", 7)

    def test_pages_learn_the_packer_from_their_page_config(self, jp_serverapp: Any) -> None:
        # JupyterLab and Notebook 7 put page_config_data into #jupyter-config-data
        page_config = jp_serverapp.web_app.settings["page_config_data"]
        assert page_config[PAGE_CONFIG_KEY] == {"packer": "json"}


class TestOptionsFromTheCommandLine:
    @pytest.fixture
    def jp_argv(self) -> list[str]:
        return ["--SenteApp.lp_timeout_ms=4321", "--SenteApp.max_message_bytes=2048"]

    def test_command_line_options_reach_the_server(self, jp_serverapp: Any) -> None:
        options = sente_app(jp_serverapp).server.options
        assert (options.lp_timeout_ms, options.max_message_bytes) == (4321, 2048)


async def test_kernel_variables_are_published_once_the_port_is_bound(
    jp_serverapp: Any, jp_http_port: int, jp_base_url: str
) -> None:
    app = sente_app(jp_serverapp)
    await asyncio.sleep(0)  # the URL goes out from a loop callback, after the port is fixed
    assert os.environ[ENV_SECRET] == app.kernel_secret
    assert os.environ[ENV_URL] == f"http://127.0.0.1:{jp_http_port}{jp_base_url}sente/chsk"
    assert os.environ[ENV_PACKER] == "edn"


async def test_stopping_the_extension_withdraws_the_kernel_variables(jp_serverapp: Any) -> None:
    await asyncio.sleep(0)
    await sente_app(jp_serverapp).stop_extension()
    assert not {ENV_SECRET, ENV_URL, ENV_PACKER} & set(os.environ)


class TestInvalidOptions:
    @pytest.fixture
    def sente_config(self) -> dict[str, Any]:
        return {"lp_timeout_ms": 70_000}

    async def test_an_invalid_option_fails_the_load_with_the_reason(
        self, capfd: pytest.CaptureFixture[str], jp_fetch: Any
    ) -> None:
        logged = capfd.readouterr().err
        assert "jupyter_sente | extension failed loading" in logged
        assert "lp-timeout-ms must be < 60000" in logged
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch("sente", "chsk", params={"client-id": "c1"})
        assert e.value.code == 404


class TestWithoutKernels:
    @pytest.fixture
    def sente_config(self) -> dict[str, Any]:
        return {"kernel_connections": False}

    async def test_no_secret_is_exported(self, jp_serverapp: Any) -> None:
        await asyncio.sleep(0)
        assert sente_app(jp_serverapp).kernel_secret is None
        assert ENV_SECRET not in os.environ


async def test_the_handshake_carries_the_jupyter_identity(jp_fetch: Any) -> None:
    r = await jp_fetch(
        "sente",
        "chsk",
        params={"client-id": "c1", "handshake?": "1"},
        headers={"Authorization": "token alice-token"},
    )
    payload, cb = EDN.unpack(r.body.decode())
    ev_id, (uid, nothing, data) = payload
    assert (ev_id, uid, nothing, cb) == (kw("chsk/handshake"), "alice", None, None)
    assert data[kw("name")] == "Alice Liddell" and data[kw("display-name")] == "Alice"
    assert data[kw("initials")] == "AL" and data[kw("kind")] == "tab"
    assert data[kw("color")].startswith("#")  # assigned: Jupyter identities rarely carry one


def test_the_owner_identity_is_configurable(jp_serverapp: Any) -> None:
    assert sente_app(jp_serverapp).owner_user.username == OWNER


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, jupyter_sente; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('jupyter_server', 'tornado', 'websockets', 'traitlets')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_package_logs_through_the_servers_handlers_unless_logging_is_configured(
    jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sente_app(jp_serverapp)
    ours = logging.getLogger("jupyter_sente")
    handler = logging.NullHandler()
    monkeypatch.setattr(app.log, "handlers", [handler])
    monkeypatch.setattr(ours, "handlers", [])
    monkeypatch.setattr(ours, "level", ours.level)
    app.hook_logging()  # pytest's own handlers are on the root logger: leave logging alone
    assert ours.handlers == []
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    app.hook_logging()  # a bare server: warnings would print without the server's format
    assert ours.handlers == [handler]
    assert ours.level == app.log.getEffectiveLevel()
