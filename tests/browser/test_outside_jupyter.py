"""The widget bundle where it cannot go live: a page without Jupyter's page config (VS Code, a
static HTML export) and a Jupyter server without the extension. Each shows a clear message,
not a blank box. The pages render a view as anywidget would, with a stand-in model.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import BASE_URL, BUNDLE, JupyterServer, screenshot

pytestmark = pytest.mark.browser


def widget_page(config: dict[str, str] | None, view: str) -> str:
    """An HTML page that renders one widget view from ./widgets.js, with or without Jupyter's
    page config."""
    config_tag = (
        ""
        if config is None
        else f'<script id="jupyter-config-data" type="application/json">{json.dumps(config)}</script>'
    )
    values = {"_sente_view": view, "room": "lobby", "event": "chat/post", "placeholder": ""}
    return f"""<!doctype html>
<html><head><meta charset="utf-8">{config_tag}</head>
<body><div id="out" style="width: 560px"></div>
<script type="module">
import widget from "./widgets.js";
const values = {json.dumps(values)};
const model = {{ get: (k) => values[k], on() {{}}, off() {{}} }};
widget.render({{ model, el: document.getElementById("out") }});
</script></body></html>"""


def serve(page: Page, prefix: str, html: str) -> None:
    """Serve ``html`` at ``{prefix}page.html`` and the bundle at ``{prefix}widgets.js``."""

    def page_html(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=html)

    def bundle(route: Route) -> None:
        route.fulfill(status=200, content_type="text/javascript", path=str(BUNDLE))

    page.route(prefix + "page.html", page_html)
    page.route(prefix + "widgets.js", bundle)


def test_a_page_without_jupyter_says_there_is_no_server(page: Page) -> None:
    serve(page, "http://static.test/export/", widget_page(None, "chat"))
    page.goto("http://static.test/export/page.html")
    chat = page.locator(".jps-chat")
    expect(chat.locator(".jps-status")).to_have_attribute("data-phase", "unavailable")
    expect(chat.get_by_role("alert")).to_contain_text("No Jupyter server behind this page")
    expect(chat.locator(".jps-body")).to_be_hidden()
    screenshot(page, "static-page", ".jps-chat")


def test_a_server_without_the_extension_says_how_to_enable_it(
    page: Page, jupyter_server: JupyterServer
) -> None:
    # a page of the real server's origin whose base URL has no channel socket: both the
    # WebSocket upgrade and the long-poll get the server's 404
    prefix = f"{jupyter_server.origin}{BASE_URL}elsewhere/"
    serve(page, prefix, widget_page({"baseUrl": f"{BASE_URL}elsewhere/"}, "presence"))
    page.goto(prefix + "page.html")
    presence = page.locator(".jps-presence")
    expect(presence.locator(".jps-status")).to_have_text("unavailable")
    alert = presence.get_by_role("alert")
    expect(alert).to_contain_text("no jupyter_sente extension")
    expect(alert).to_contain_text(f"{BASE_URL}elsewhere/sente/chsk answered 404")
    expect(alert).to_contain_text("jupyter server extension enable jupyter_sente")
    screenshot(page, "no-extension", ".jps-presence")


def test_an_unknown_view_says_the_bundle_is_out_of_date(page: Page) -> None:
    serve(page, "http://static.test/export/", widget_page(None, "hologram"))
    page.goto("http://static.test/export/page.html")
    expect(page.get_by_role("alert")).to_contain_text('no widget view named "hologram"')
