"""Alice and Bob at their browsers, on one real JupyterLab server with jupyter-sente.

The server is ``jupyter lab`` in a subprocess (it serves Notebook 7 too) with base URL
``/e2e/``, serving copies of the example notebooks; alice and bob log in with their own tokens
(``identity.py``) in two browser contexts of one headless Chromium. Bob reaches the server
through a proxy that can take him offline (``proxy.py``). Screenshots and the server log go to
``artifacts/e2e/`` (gitignored).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Playwright,
    sync_playwright,
)

from tests.e2e.chromium import lab_ui_args, launch_chromium, require_bundle
from tests.e2e.identity import ALICE_TOKEN, BOB_TOKEN
from tests.e2e.jupyter_process import REPO, JupyterProcess, copy_notebooks, start_jupyter
from tests.e2e.pages import CHAT_SEEN_SCRIPT, KERNEL_STATES_SCRIPT, PW_S
from tests.e2e.proxy import Proxy

ARTIFACTS = REPO / "artifacts" / "e2e"


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    """pytest-jupyter's loop fixture, off here: Playwright's sync API keeps its own loop marked
    as running in this thread, which pytest-jupyter's fixture would pick up and close."""
    yield


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    """pytest-jupyter's server cleanup, off with its loop."""
    yield


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterProcess]:
    """JupyterLab + Notebook 7 + jupyter-sente on the example notebooks (copies)."""
    require_bundle()
    state = tmp_path_factory.mktemp("e2e")
    ui_args = lab_ui_args(state)
    root = copy_notebooks(state / "notebooks", ["01-chat.ipynb", "02-live-dashboard.ipynb"])
    jp = start_jupyter(
        state,
        app="lab",
        root_dir=root,
        base_url="/e2e/",
        extra=ui_args,
    )
    try:
        yield jp
    finally:
        jp.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(jp.log_path, ARTIFACTS / "jupyter-lab.log")


@pytest.fixture(scope="session")
def proxy(lab: JupyterProcess) -> Iterator[Proxy]:
    """A proxy to the server that can take whoever uses it offline."""
    p = Proxy(lab.port)
    p.start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API, per module: it marks its loop as running in this thread while it
    lives, which later asyncio tests of the session must not see."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    b = launch_chromium(playwright)
    try:
        yield b
    finally:
        b.close()


@dataclass
class Person:
    """Someone at a browser: their own context (login cookie) and page."""

    name: str
    token: str
    origin: str
    base_url: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    def lab_url(self, notebook: str) -> str:
        """JupyterLab on ``notebook``, in a workspace of its own (reset: nothing else reopens)."""
        workspace = f"{self.name}-{uuid.uuid4().hex[:8]}"
        return f"{self.origin}{self.base_url}lab/workspaces/{workspace}/tree/{notebook}?token={self.token}&reset"

    def nb7_url(self, notebook: str) -> str:
        """Notebook 7 on ``notebook``."""
        return f"{self.origin}{self.base_url}notebooks/{notebook}?token={self.token}"

    def shot(self, name: str, top: Locator | None = None) -> Path:
        """Save a screenshot of the page as ``artifacts/e2e/<name>.png``, scrolled so that
        ``top`` is at the top of the notebook."""
        if top is not None:
            top.evaluate("e => e.scrollIntoView({ block: 'start' })")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture(scope="module")
def people(
    browser: Browser, lab: JupyterProcess, proxy: Proxy
) -> Iterator[Callable[[str], Person]]:
    """``people("alice")``: alice's browser (bob's goes through the proxy); closed at the end."""
    made: list[Person] = []

    def make(name: str) -> Person:
        token = {"alice": ALICE_TOKEN, "bob": BOB_TOKEN}[name]
        port = proxy.port if name == "bob" else lab.port
        ctx = browser.new_context(viewport={"width": 1100, "height": 1000})
        ctx.set_default_timeout(30 * PW_S)
        ctx.add_init_script(KERNEL_STATES_SCRIPT)
        ctx.add_init_script(CHAT_SEEN_SCRIPT)
        person = Person(name, token, f"http://127.0.0.1:{port}", lab.base_url, ctx, ctx.new_page())
        person.page.on("pageerror", lambda e: person.errors.append(str(e)))
        made.append(person)
        return person

    try:
        yield make
    finally:
        for p in made:
            p.context.close()
        lab.stop_sessions()
