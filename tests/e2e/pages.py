"""Driving a notebook page (JupyterLab 4 or Notebook 7) and the widgets on it, with Playwright."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page

from tests.e2e.jupyter_process import S

#: One second in Playwright's unit (ms), scaled like every wait.
PW_S = 1000.0 * S

# The kernel indicator's first "idle" comes before any kernel exists; cells run then are
# dropped. Every state it takes is recorded, and "ready" is idle after something else.
KERNEL_STATES_SCRIPT = """
window.__kstates = [];
new MutationObserver((ms) => {
  for (const m of ms) window.__kstates.push(m.target.getAttribute("data-status"));
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-status"] });
"""
KERNEL_READY = """() => window.__kstates.some((s) => s !== "idle")
  && document.querySelector(".jp-Notebook-ExecutionIndicator")?.dataset.status === "idle" """

# When each chat line appeared on this page (Date.now(): one clock for every page of the
# browser), to measure delivery between two people without the test's own delays.
CHAT_SEEN_SCRIPT = """
window.__chatSeen = [];
new MutationObserver((ms) => {
  for (const m of ms) for (const n of m.addedNodes)
    if (n.classList?.contains("jps-chat-msg")) window.__chatSeen.push({ t: Date.now(), text: n.textContent });
}).observe(document, { subtree: true, childList: true });
"""

# The notebook panel of `path` in the app (window.jupyterapp: expose_app_in_browser), ready.
_PANEL = """
async function panel(path) {
  const app = window.jupyterapp;
  await app.started;
  if (app.restored) await app.restored;
  let nb;
  while (!(nb = [...app.shell.widgets("main")].find((w) => w.context?.path === path)))
    await new Promise((r) => setTimeout(r, 50));
  await nb.context.ready;
  await nb.sessionContext.ready;
  return [app, nb];
}
"""
RUN_ALL = (
    "async (path) => {"
    + _PANEL
    + """
  const [app, nb] = await panel(path);
  await app.commands.execute("notebook:run-all-cells", { widgetId: nb.id });
}"""
)
# Runs cells by id; with wait false, returns once they were sent to the kernel.
RUN_CELLS = (
    "async ([path, ids, wait]) => {"
    + _PANEL
    + """
  const [, nb] = await panel(path);
  const runs = [];
  for (const id of ids) {
    const cell = nb.content.widgets.find((c) => c.model.id === id);
    if (!cell) throw new Error(`no cell ${id} in ${path}`);
    const run = cell.constructor.execute(cell, nb.sessionContext);
    runs.push(run);
    if (wait) await run;
  }
  if (!wait) return [];
  return (await Promise.all(runs)).map((reply) => reply?.content?.status ?? "none");
}"""
)


def open_notebook(page: Page, url: str) -> None:
    """Open a notebook page and wait until its kernel can run cells."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_function(KERNEL_READY, timeout=60 * PW_S)


def run_all(page: Page, path: str) -> None:
    """Run every cell of the open notebook ``path`` (as Run > Run All Cells), until done."""
    page.evaluate(RUN_ALL, path)


def run_cells(page: Page, path: str, *ids: str, wait: bool = True) -> list[str]:
    """Run the cells with these ids, in order; their statuses ("ok"), or [] without ``wait``."""
    statuses: list[str] = page.evaluate(RUN_CELLS, [path, list(ids), wait])
    return statuses


def kernel_status(page: Page) -> str:
    """The kernel indicator's state: idle, busy, ..."""
    status: str = page.eval_on_selector(".jp-Notebook-ExecutionIndicator", "e => e.dataset.status")
    return status


def widget(page: Page, kind: str) -> Locator:
    """The (first) jupyter-sente widget of a kind on the page: chat, presence, liveplot..."""
    return page.locator(f".jps-widget.jps-{kind}").first


def wait_connected(page: Page, kind: str, transport: str | None = None) -> None:
    """Wait until a widget of this kind shows its page's socket connected (over ``transport``)."""
    sel = f'.jps-{kind} .jps-status[data-phase="connected"]'
    if transport is not None:
        sel += f'[data-transport="{transport}"]'
    page.wait_for_selector(sel, timeout=30 * PW_S)


def send_chat(page: Page, text: str) -> float:
    """Type ``text`` into the page's chat box and send it; when it was sent (Date.now(), ms)."""
    chat = widget(page, "chat")
    chat.locator("input.jps-input").fill(text)
    sent: float = chat.locator("form").evaluate(
        "form => { const t = Date.now(); form.requestSubmit(); return t; }"
    )
    return sent


def wait_chat_line(page: Page, pattern: str, timeout: float = 10.0) -> Locator:
    """Wait for a chat line matching ``pattern`` (a regex); that line."""
    line = widget(page, "chat").locator(".jps-chat-msg", has_text=re.compile(pattern)).first
    line.wait_for(timeout=timeout * PW_S)
    return line


def seen_at(page: Page, text: str) -> float:
    """When the first chat line containing ``text`` appeared on the page (Date.now(), ms)."""
    seen: list[dict[str, Any]] = page.evaluate("window.__chatSeen")
    times = [e["t"] for e in seen if text in e["text"]]
    assert times, f"no chat line with {text!r} on the page"
    return float(times[0])


def chat_count(page: Page, text: str) -> int:
    """How many chat lines containing ``text`` the page shows."""
    return widget(page, "chat").locator(".jps-chat-msg", has_text=text).count()


def page_socket(page: Page, call: str) -> Any:
    """Call a method of the page's shared channel socket (the one every widget view uses)."""
    return page.evaluate(f'() => window[Symbol.for("jupyter-sente.page-socket")].{call}')


def dataset(locator: Locator, name: str) -> str:
    """A data attribute of an element."""
    value: str = locator.evaluate(f"e => e.dataset.{name} ?? ''")
    return value
