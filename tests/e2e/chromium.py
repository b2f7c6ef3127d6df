"""What the browser and end-to-end tests share: Chromium, the widget bundle, a quiet JupyterLab."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright

from tests.e2e.jupyter_process import REPO

CHROMIUM = os.environ.get("SENTE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # root has no user namespace sandbox
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
BUNDLE = REPO / "jupyter_sente" / "static" / "widgets.js"


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless (no browser download); missing, it fails the test."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium (.ci/setup does)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def require_bundle() -> None:
    """Fail (not skip) when the widgets' JavaScript bundle is not built."""
    if not BUNDLE.is_file():
        pytest.fail(f"{BUNDLE} is not built: run `npm ci && npm run build` in js/")


def lab_ui_args(state: Path) -> list[str]:
    """JupyterLab's options for tests: settings (no news toast) and workspaces under ``state``,
    the app on ``window.jupyterapp``."""
    settings = state / "settings"
    news = settings / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    # no "would you like news?" toast over the notebook
    (news / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return [
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={state / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]
