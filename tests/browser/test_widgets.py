"""The widgets in a real browser: JupyterLab 4 and Notebook 7 run a notebook that joins a room
from the kernel and displays the widgets; the views connect over the page's channel socket.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, WebSocket, expect

from tests.browser.conftest import (
    PW_S,
    JupyterServer,
    anywidget_warnings,
    open_and_run,
    run_all,
    screenshot,
)

pytestmark = pytest.mark.browser

# The kernel joins "lobby", greets once a browser tab is in the room (so the Chat view is there
# to see it), and answers "/echo ..." messages: both go out with room.publish.
KERNEL_LOBBY = """\
import threading
import jupyter_sente
from jupyter_sente.widgets import Chat, EventLog, Inspector, LivePlot, Presence

room = jupyter_sente.room("lobby")
greeted = threading.Event()

def greet(change=None):
    tabs = [c for m in room.members for c in m["conns"] if c["kind"] == "tab"]
    if tabs and not greeted.is_set():
        greeted.set()
        room.publish("chat/post", {"text": "hello from the kernel"})

room.observe(greet, names="members")
greet()

@room.on("chat/post")
def echo(msg):
    text = msg.data.get("text", "")
    if text.startswith("/echo "):
        room.publish("chat/post", {"text": "echo: " + text[len("/echo "):]})
"""


def test_lab_chat_presence_and_inspector(page: Page, jupyter_server: JupyterServer) -> None:
    frames: list[str] = []

    def watch(ws: WebSocket) -> None:
        if "sente/chsk" in ws.url:
            ws.on("framesent", lambda f: frames.append(f"> {f}"))
            ws.on("framereceived", lambda f: frames.append(f"< {f}"))

    page.on("websocket", watch)
    nb = jupyter_server.write_notebook(
        "lab-lobby", [KERNEL_LOBBY, 'Chat("lobby")', 'Presence("lobby")', "Inspector()"]
    )
    open_and_run(page, jupyter_server.lab_url(nb))

    chat = page.locator(".jps-chat")
    expect(chat.locator(".jps-status")).to_have_attribute("data-phase", "connected")
    kernel_msg = chat.locator(".jps-chat-msg", has_text="hello from the kernel")
    expect(kernel_msg).to_be_visible()
    expect(kernel_msg.locator(".jps-badge")).to_have_text("kernel")

    # Enter sends; the tab's own message comes back from the server, then the kernel's echo
    box = chat.get_by_role("textbox", name="message")
    box.fill("/echo hi there")
    box.press("Enter")
    expect(chat.locator(".jps-chat-msg", has_text="/echo hi there")).to_be_visible()
    expect(chat.locator(".jps-chat-msg", has_text="echo: hi there")).to_be_visible()
    expect(box).to_have_value("")

    presence = page.locator(".jps-presence")
    expect(presence.locator('.jps-conn[data-kind="tab"][data-self="true"]')).to_have_text(
        "this tab"
    )
    expect(presence.locator('.jps-conn[data-kind="kernel"]')).to_have_text(f"kernel · {nb}")
    expect(presence.locator(".jps-person")).to_have_count(2)  # the tab's user, the kernel's owner

    inspector = page.locator(".jps-inspector")
    expect(inspector.locator(".jps-status")).to_have_text(re.compile(r"connected · ws"))
    expect(inspector.locator('[data-field="transport"]')).to_have_text(re.compile(r"^ws "))
    expect(inspector).to_have_attribute("data-rtt", re.compile(r"^\d+\.\d+$"))
    expect(inspector.locator('[data-field="rtt"]')).to_have_text(re.compile(r"\d ms \(min"))
    # the round trip is Sente's ping [[:chsk/ws-ping] cb-id], answered "pong" with the cb-id
    pings = [m.group(1) for f in frames if (m := re.match(r'> \[\[:chsk/ws-ping\] "(\w+)"\]$', f))]
    assert pings and f'< ["pong" "{pings[0]}"]' in frames, frames[:20]
    expect(inspector.locator('[data-field="handshake"]')).to_contain_text(':kind "tab"')
    screenshot(page, "lab-lobby", ".jps-chat", ".jps-presence", ".jps-inspector")
    assert page.sente_errors == []  # type: ignore[attr-defined]
    # anywidget loaded three widget models and had nothing to say about their module
    assert anywidget_warnings(page) == []


# The kernel joins "dash" and, once a tab is there, sends 10,000 rows of 5 series: 9,940 in
# ten bulk events, then 60 single rows at 30 per second, then "dash/done".
KERNEL_DASH = """import math, threading, time
import jupyter_sente
from jupyter_sente.widgets import EventLog, LivePlot, Presence

room = jupyter_sente.room("dash")
started = threading.Event()

def row(i):
    return {"x": i / 30, **{f"s{k}": math.sin(i / (40 + 10 * k)) * (k + 1) for k in range(5)}}

def feed():
    for j in range(0, 9940, 1000):
        room.publish("dash/point", {"points": [row(i) for i in range(j, min(j + 1000, 9940))]})
    for i in range(9940, 10000):
        room.publish("dash/point", row(i))
        time.sleep(1 / 30)
    room.publish("dash/done", {"rows": 10000})

def start(change=None):
    tabs = [c for m in room.members for c in m["conns"] if c["kind"] == "tab"]
    if tabs and not started.is_set():
        started.set()
        threading.Thread(target=feed, daemon=True).start()

room.observe(start, names="members")
start()
"""


def test_nb7_liveplot_and_eventlog_in_the_dark_theme(
    page: Page, jupyter_server: JupyterServer
) -> None:
    nb = jupyter_server.write_notebook(
        "nb7-dash",
        [
            KERNEL_DASH,
            'LivePlot("dash", "dash/point", title="5 series, 30 updates/s")',
            'EventLog("dash")',
        ],
    )
    page.goto(jupyter_server.nb7_url(nb))
    set_theme(page, "JupyterLab Dark")
    try:
        run_all(page)
        log = page.locator(".jps-eventlog")
        expect(log.locator('.jps-log-row[data-id="dash/done"]')).to_have_count(1)

        plot = page.locator(".jps-liveplot")
        expect(plot).to_have_attribute("data-points", "50000")  # 10,000 kept in each of 5 series
        expect(plot).to_have_attribute("data-series", "5")
        expect(plot.locator(".jps-legend-item")).to_have_count(5)
        # smooth: a redraw of 50,000 points fits well within one frame at 60 fps
        draw_ms = float(plot.get_attribute("data-draw-ms") or "nan")
        assert draw_ms < 16, f"mean draw time {draw_ms} ms"
        assert int(plot.get_attribute("data-frames") or 0) >= 10

        # the log has the 71 events; the filter narrows it to one
        expect(log.locator('.jps-log-row[data-kind="event"]')).to_have_count(71)
        log.get_by_role("searchbox", name="filter events").fill("dash/done")
        expect(log.locator(".jps-log-row:visible")).to_have_count(1)
        expect(log.locator(".jps-row .jps-muted")).to_have_text(re.compile(r"^1 of \d+$"))
        screenshot(page, "nb7-dash-dark", ".jps-liveplot", ".jps-eventlog")
    finally:
        set_theme(page, "JupyterLab Light")
    assert [e for e in page.sente_errors if "jps" in e or "sente" in e] == []  # type: ignore[attr-defined]
    assert anywidget_warnings(page) == []


def rtt_samples(inspector: Locator) -> int:
    """How many round trips the Inspector has measured."""
    m = re.search(r"(\d+) samples?\)", inspector.locator('[data-field="rtt"]').inner_text())
    return int(m.group(1)) if m else 0


def set_theme(page: Page, theme: str) -> None:
    """Switch the app's theme (a user setting: the server keeps it for later pages)."""
    page.wait_for_function("() => window.jupyterapp !== undefined")
    page.evaluate(
        """async (theme) => {
            const app = window.jupyterapp;
            await app.started;
            await app.restored;
            await app.commands.execute("apputils:change-theme", { theme });
        }""",
        theme,
    )
    expect(page.locator("body")).to_have_attribute("data-jp-theme-name", theme, timeout=20 * PW_S)


def test_inspector_forces_ajax_disconnects_and_reconnects(
    page: Page, jupyter_server: JupyterServer
) -> None:
    nb = jupyter_server.write_notebook(
        "lab-inspector",
        ["from jupyter_sente.widgets import Chat, Inspector", 'Chat("ajax-room")', "Inspector()"],
    )
    open_and_run(page, jupyter_server.lab_url(nb))
    chat = page.locator(".jps-chat")
    inspector = page.locator(".jps-inspector")
    status = inspector.locator(".jps-status")
    expect(status).to_have_text("connected · ws")

    inspector.get_by_role("button", name="Force Ajax").click()
    expect(status).to_have_text("connected · ajax")
    expect(chat.locator(".jps-status")).to_have_text("connected · ajax")  # one page connection
    expect(inspector.locator('[data-field="transport"]')).to_have_text("ajax (requested: ajax)")
    box = chat.get_by_role("textbox", name="message")
    box.fill("over long-polling")
    box.press("Enter")
    expect(chat.locator(".jps-chat-msg", has_text="over long-polling")).to_be_visible()
    # the buttons work from the keyboard: Tab to Ping, Enter
    inspector.get_by_role("button", name="Use WebSocket").focus()
    page.keyboard.press("Tab")
    expect(inspector.get_by_role("button", name="Ping")).to_be_focused()
    samples = rtt_samples(inspector)
    # over Ajax the ping is a POST of [[:chsk/ws-ping] nil], which the server answers at once
    with page.expect_response(
        lambda r: r.request.method == "POST" and "ws-ping" in (r.request.post_data or "")
    ) as pinged:
        page.keyboard.press("Enter")
    assert (pinged.value.status, pinged.value.text()) == (200, "[:chsk/dummy-cb-200 nil]")
    expect(inspector.locator('[data-field="rtt"]')).to_have_text(
        re.compile(rf"^\d+(\.\d)? ms \(min .*\b{samples + 1} samples?\)")
    )

    inspector.get_by_role("button", name="Disconnect").click()
    expect(status).to_have_text("offline")
    expect(chat.locator(".jps-status")).to_have_text("offline")
    expect(chat.get_by_role("button", name="Send")).to_be_disabled()

    inspector.get_by_role("button", name="Reconnect").click()
    expect(status).to_have_text("connected · ajax")
    expect(chat.locator(".jps-chat-msg")).to_have_count(1)  # no second delivery over Ajax
    # (not checked after the switch back: like Sente, the server retries pushes for the
    # client's closed WebSocket for a few seconds, and one reopened that soon gets them again)
    inspector.get_by_role("button", name="Use WebSocket").click()
    expect(status).to_have_text("connected · ws")
    expect(chat.get_by_role("button", name="Send")).to_be_enabled()
    timeline = inspector.locator(".jps-timeline li")
    expect(timeline.filter(has_text="requested-disconnect")).to_have_count(1)
    expect(timeline.filter(has_text="open · ajax")).to_have_count(2)
    screenshot(page, "lab-inspector", ".jps-inspector")


def test_the_widgets_speak_json_to_a_server_with_the_json_packer(
    page: Page, json_jupyter_server: JupyterServer
) -> None:
    server = json_jupyter_server
    frames: list[str] = []

    def watch(ws: WebSocket) -> None:
        if "sente/chsk" in ws.url:
            ws.on("framereceived", lambda f: frames.append(f if isinstance(f, str) else ""))

    page.on("websocket", watch)
    nb = server.write_notebook(
        "lab-json",
        ["from jupyter_sente.widgets import Chat, Inspector", 'Chat("json-room")', "Inspector()"],
    )
    try:
        open_and_run(page, server.lab_url(nb))
        chat = page.locator(".jps-chat")
        inspector = page.locator(".jps-inspector")
        status = inspector.locator(".jps-status")
        expect(status).to_have_text("connected · ws")
        expect(inspector.locator('[data-field="handshake"]')).to_contain_text(':kind "tab"')
        # the page learnt the packer from its page config, and the wire is JSON
        assert frames[0].startswith('[["~:chsk/handshake",'), frames[0]
        box = chat.get_by_role("textbox", name="message")
        box.fill("over JSON: {:not edn} ~:tilde")
        box.press("Enter")
        expect(
            chat.locator(".jps-chat-msg", has_text="over JSON: {:not edn} ~:tilde")
        ).to_be_visible()
        expect(inspector).to_have_attribute("data-rtt", re.compile(r"^\d+\.\d+$"))

        inspector.get_by_role("button", name="Force Ajax").click()
        expect(status).to_have_text("connected · ajax")
        box.fill("over JSON and Ajax")
        box.press("Enter")
        expect(chat.locator(".jps-chat-msg", has_text="over JSON and Ajax")).to_be_visible()
        screenshot(page, "lab-json", ".jps-chat", ".jps-inspector")
        assert page.sente_errors == []  # type: ignore[attr-defined]
    finally:
        server.delete_sessions()
