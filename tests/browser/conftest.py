"""A real JupyterLab server with the extension, Debian's Chromium driven by Playwright, and
notebooks written, opened and run by the tests.

The server runs as a subprocess for the whole session (Playwright and Chromium per module), on
a loopback port, with a base URL other than ``/`` (to catch code that ignores it), token auth,
and its own config, data, runtime, settings and workspace directories. Every test gets a fresh browser context (its own
login cookie, so its own anonymous Jupyter user), opens its notebook in a workspace of its
own with ``&reset`` (JupyterLab would otherwise restore every notebook opened before), and
deletes the sessions (kernels) it started. Chromium missing is a failure, not a skip.
Screenshots go to ``artifacts/browser/`` (gitignored), with the server's log.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.e2e.chromium import (  # noqa: F401  (BUNDLE: tests take it from here)
    BUNDLE,
    lab_ui_args,
    launch_chromium,
    require_bundle,
)
from tests.e2e.jupyter_process import REPO, free_port
from tests.e2e.pages import KERNEL_READY, KERNEL_STATES_SCRIPT, PW_S
from tests.waits import S

ARTIFACTS = REPO / "artifacts" / "browser"
BASE_URL = "/sente-test/"


@dataclass
class JupyterServer:
    """The JupyterLab subprocess: its URL, token, notebook directory and REST API."""

    origin: str
    token: str
    root: Path
    log: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        """The server's base URL (origin + base_url)."""
        return self.origin + BASE_URL

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the REST API with the token; the decoded JSON answer (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10 * S) as res:
            text = res.read()
        return json.loads(text) if text else None

    def write_notebook(self, stem: str, cells: list[str]) -> str:
        """Write a notebook of code cells; its name, unique to this call."""
        name = f"{stem}-{uuid.uuid4().hex[:8]}.ipynb"
        nb = {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"c{i}",
                    "metadata": {},
                    "outputs": [],
                    "source": source,
                }
                for i, source in enumerate(cells)
            ],
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (self.root / name).write_text(json.dumps(nb), encoding="utf-8")
        return name

    def lab_url(self, notebook: str) -> str:
        """JupyterLab on ``notebook``, in a workspace of its own, reset."""
        workspace = uuid.uuid4().hex[:12]
        return f"{self.url}lab/workspaces/{workspace}/tree/{notebook}?token={self.token}&reset"

    def nb7_url(self, notebook: str) -> str:
        """Notebook 7 on ``notebook``."""
        return f"{self.url}notebooks/{notebook}?token={self.token}"

    def delete_sessions(self) -> None:
        """Shut down every session (and its kernel): kernels outlive their pages."""
        for session in self.api("GET", "api/sessions"):
            try:
                self.api("DELETE", f"api/sessions/{session['id']}")
            except urllib.error.HTTPError as e:
                if e.code != 404:  # gone meanwhile
                    raise


def _wait_until_up(server: JupyterServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited with {server.proc.returncode}; see {server.log}:\n"
                + server.log.read_text(errors="replace")[-3000:]
            )
        try:
            server.api("GET", "api/status")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    """pytest-jupyter's loop fixture, switched off here (no pytest-jupyter server in these tests).

    Playwright's sync API keeps its own loop marked as running in this thread between calls;
    pytest-jupyter's fixture would pick that loop up and then try to close it.
    """
    yield


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    """pytest-jupyter's server cleanup, switched off with its loop (see jp_asyncio_loop)."""
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item (the page fixture screenshots failures)."""
    report = yield
    setattr(item, f"sente_report_{report.when}", report)
    return report


@contextmanager
def running_jupyter(base: Path, log_name: str, *extra_args: str) -> Iterator[JupyterServer]:
    """JupyterLab (and Notebook 7) with jupyter_sente on a free loopback port, its state under
    ``base``, its log in ``artifacts/browser/<log_name>``; stopped on exit."""
    require_bundle()
    root = base / "notebooks"
    root.mkdir()
    ui_args = lab_ui_args(base)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / log_name
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "IPYTHONDIR": str(base / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONWARNINGS": "ignore",  # kernels' deprecation chatter is not what we test
    }
    port = free_port()
    token = secrets.token_hex(16)
    args = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={BASE_URL}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.jpserver_extensions={'jupyter_sente': True}",
        *ui_args,
        *extra_args,
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = JupyterServer(f"http://127.0.0.1:{port}", token, root, log, proc)
    try:
        _wait_until_up(server, 60 * S)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10 * S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10 * S)


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """The tests' JupyterLab server (default options: the EDN packer)."""
    with running_jupyter(tmp_path_factory.mktemp("jupyter"), "jupyter-server.log") as server:
        yield server


@pytest.fixture(scope="module")
def json_jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A second server whose extension speaks JSON (``SenteApp.packer = "json"``)."""
    base = tmp_path_factory.mktemp("jupyter-json")
    with running_jupyter(base, "jupyter-server-json.log", "--SenteApp.packer=json") as server:
        yield server


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API, per module: it marks its loop as running in this thread while it
    lives, which later asyncio tests of the session must not see."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless (no browser download: Playwright drives the system one)."""
    b = launch_chromium(playwright)
    expect.set_options(timeout=20 * PW_S)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def context(browser: Browser, jupyter_server: JupyterServer) -> Iterator[BrowserContext]:
    """A fresh browser context (cookies: a new anonymous Jupyter user) for one test."""
    ctx = browser.new_context(viewport={"width": 1000, "height": 1300})
    ctx.set_default_timeout(30 * PW_S)
    ctx.add_init_script(KERNEL_STATES_SCRIPT)
    try:
        yield ctx
    finally:
        ctx.close()
        jupyter_server.delete_sessions()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page of the test's context; its uncaught errors are kept in ``page.sente_errors``, its
    console warnings in ``page.sente_warnings``.

    A failed test leaves a screenshot, ``artifacts/browser/failed-<test>.png``.
    """
    pg = context.new_page()
    errors: list[str] = []
    warnings: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    pg.sente_errors = errors  # type: ignore[attr-defined]
    pg.sente_warnings = warnings  # type: ignore[attr-defined]
    yield pg
    report = getattr(request.node, "sente_report_call", None)
    if report is not None and report.failed:
        screenshot(pg, f"failed-{request.node.name}")


def open_and_run(page: Page, url: str) -> None:
    """Open a notebook page, wait for its kernel, and run all its cells."""
    page.goto(url)
    run_all(page)


def run_all(page: Page) -> None:
    """Wait for the open notebook's kernel, then run all its cells (menu Run > Run All)."""
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_function(KERNEL_READY, timeout=60 * PW_S)
    page.click('.lm-MenuBar-itemLabel:text-is("Run")')
    page.click('li.lm-Menu-item[data-command="runmenu:run-all"]')


def anywidget_warnings(page: Page) -> list[str]:
    """The page's console warnings from anywidget (e.g. "Direct export of a 'render' will likely
    be deprecated"): it names the widget model it warns about, and these pages have only ours."""
    seen: list[str] = page.sente_warnings  # type: ignore[attr-defined]
    return [w for w in seen if w.startswith("[anywidget]")]


def screenshot(page: Page, name: str, *widgets: str) -> None:
    """Save a screenshot of the page, and one of each widget (CSS selector) scrolled into view,
    under artifacts/browser/."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    for selector in widgets:
        kind = selector.strip(".").replace("jps-", "")
        page.locator(selector).first.screenshot(path=str(ARTIFACTS / f"{name}-{kind}.png"))
