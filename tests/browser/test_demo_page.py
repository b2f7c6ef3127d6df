"""The demo page (``python -m jupyter_sente.demo``, Sente's example project) in Chromium: connect,
login, echo, broadcast between two users, forced Ajax, offline and back, the broadcast loop.

The demo server runs as a subprocess on a free loopback port, once for the module. Pages that
go offline reach it through a TCP proxy (``tests/e2e/proxy.py``): Playwright's offline mode
leaves open WebSockets up (microsoft/playwright#4910), the proxy resets them. Screenshots go to
``artifacts/browser/demo-*.png``, the server's log to ``artifacts/browser/demo-server.log``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.browser.conftest import ARTIFACTS
from tests.e2e.jupyter_process import REPO, free_port
from tests.e2e.pages import PW_S
from tests.e2e.proxy import Proxy
from tests.waits import S

pytestmark = pytest.mark.browser

#: The demo's broadcast loop ticks once a second (not configurable from its command line).
TICK_S = 1.0


@dataclass
class DemoServer:
    """The demo subprocess and its port."""

    port: int
    proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        """The page's URL."""
        return f"http://127.0.0.1:{self.port}/"


def _wait_until_up(server: DemoServer, log: str, timeout: float) -> None:
    """Poll ``/`` until it answers 200 (the process only prints once it listens)."""
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"the demo exited with {server.proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(server.url, timeout=5 * S) as res:
                if res.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # polling a process that is starting: there is no event to await


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoServer]:
    """``python -m jupyter_sente.demo`` on a free loopback port, for this module."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "demo-server.log"
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_sente.demo", "--port", str(port)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DemoServer(port, proc)
    try:
        _wait_until_up(server, str(log), 30 * S)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10 * S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10 * S)


@pytest.fixture(scope="module")
def proxy(demo: DemoServer) -> Iterator[Proxy]:
    """A proxy to the demo that can take the pages behind it offline."""
    p = Proxy(demo.port)
    p.start()
    try:
        yield p
    finally:
        p.stop()


@dataclass
class DemoPage:
    """One user's browser (a context of its own: its own session cookie) on the demo page."""

    name: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> Locator:
        """``#status``: "open" (``data-open="true"``) or the connection's state."""
        return self.page.locator("#status")

    @property
    def log(self) -> Locator:
        """The page's event log, one ``div`` a line."""
        return self.page.locator("#event-log > div")

    def line(self, pattern: str) -> Locator:
        """The log lines matching ``pattern`` (a regex searched in each line)."""
        return self.log.filter(has_text=re.compile(pattern))

    def wait_line(self, pattern: str) -> Locator:
        """Wait until a log line matches ``pattern``; the first such line."""
        first = self.line(pattern).first
        expect(first).to_be_attached()
        return first

    def wait_open(self, transport: str) -> None:
        """Wait until the page says it is open over ``transport`` ("ws" or "ajax")."""
        expect(self.status).to_have_attribute("data-open", "true")
        expect(self.status).to_have_text("open")
        expect(self.page.locator("#transport")).to_have_text(transport)

    def login(self, uid: str) -> None:
        """Log in with the page's form; wait until the reconnected socket has the uid."""
        self.page.fill("#login-user-id", uid)
        self.page.click("#btn-login")
        self.wait_line(re.escape(f'login as "{uid}": HTTP 200 ok'))
        expect(self.page.locator("#uid")).to_have_text(f'"{uid}"')
        expect(self.status).to_have_attribute("data-open", "true")

    def click(self, button: str, data: str | None = None) -> None:
        """Click ``#btn-<button>``, with ``data`` in the data field first if given."""
        if data is not None:
            self.page.fill("#send-data", data)
        self.page.click(f"#btn-{button}")

    def echo(self, data: str) -> None:
        """Echo with a reply; wait for the reply in the log."""
        self.click("echo", data)
        self.wait_line(re.escape(f'reply: "{data}"'))

    def shot(self, name: str) -> None:
        """Save ``artifacts/browser/demo-<name>.png``."""
        self.page.screenshot(path=str(ARTIFACTS / f"demo-{name}.png"))


def broadcast_line(uid: str, data: str) -> str:
    """The log line (regex) of ``[:example/broadcast {:from uid :data data}]`` pushed to a page."""
    return re.escape(f'event: [:example/broadcast {{:from "{uid}", :data "{data}"}}]')


def nonce(text: str) -> str:
    """``text`` made unique to this run (every page of the module shares one server)."""
    return f"{text} {uuid.uuid4().hex[:6]}"


@pytest.fixture
def open_demo(
    browser: Browser, demo: DemoServer, proxy: Proxy, request: pytest.FixtureRequest
) -> Iterator[Callable[..., DemoPage]]:
    """``open_demo("alice", query="?type=ajax", via_proxy=False)``: a new context on the demo
    page, loaded and with its client module running. Closed at the end; a failed test leaves a
    screenshot of each page, a passed one must not have had uncaught page errors."""
    opened: list[DemoPage] = []

    def open_(name: str, *, query: str = "", via_proxy: bool = False) -> DemoPage:
        ctx = browser.new_context(viewport={"width": 1000, "height": 1100})
        ctx.set_default_timeout(20 * PW_S)
        pg = ctx.new_page()
        user = DemoPage(name, ctx, pg)
        pg.on("pageerror", lambda e: user.errors.append(str(e)))
        opened.append(user)
        origin = f"http://127.0.0.1:{proxy.port}/" if via_proxy else demo.url
        pg.goto(origin + query)
        pg.wait_for_function("() => window.senteDemo?.chsk !== undefined")
        return user

    try:
        yield open_
        report = getattr(request.node, "sente_report_call", None)
        if report is not None and report.failed:
            for user in opened:
                user.shot(f"failed-{request.node.name}-{user.name}")
        else:
            assert [u.errors for u in opened] == [[] for _ in opened]
    finally:
        proxy.set_online(True)
        for user in opened:
            user.context.close()


def test_the_page_connects_over_websocket_and_logs_the_handshake(
    open_demo: Callable[..., DemoPage],
) -> None:
    alice = open_demo("alice")
    alice.wait_open("ws")
    alice.wait_line(r"^\S+  client \S+, type auto$")
    alice.wait_line(r"chsk/state: first-open\? opened\?, type ws")
    # before login the session has no uid: Sente's nil uid
    alice.wait_line(re.escape("handshake: [:chsk/handshake [:sente/nil-uid "))
    expect(alice.page.locator("#uid")).to_have_text(":sente/nil-uid")
    alice.shot("connected")


def test_a_user_logs_in_then_gets_an_echo_reply(open_demo: Callable[..., DemoPage]) -> None:
    alice = open_demo("alice")
    alice.wait_open("ws")
    alice.login("alice")
    alice.wait_line(re.escape('handshake: [:chsk/handshake ["alice" '))
    data = nonce("hello from alice")
    alice.echo(data)
    alice.wait_line(re.escape(f'request: [:example/echo "{data}"]'))
    alice.wait_open("ws")
    alice.shot("login-echo")


def test_a_broadcast_from_one_user_reaches_the_other_with_the_senders_uid(
    open_demo: Callable[..., DemoPage],
) -> None:
    alice, bob = open_demo("alice"), open_demo("bob")
    for user in (alice, bob):
        user.wait_open("ws")
        user.login(user.name)
    data = nonce("hi everyone")
    alice.click("broadcast", data)
    for user in (bob, alice):  # a broadcast reaches its sender too
        user.wait_line(broadcast_line("alice", data))
    reply = nonce("hi alice")
    bob.click("broadcast", reply)
    alice.wait_line(broadcast_line("bob", reply))
    alice.shot("broadcast-alice")
    bob.shot("broadcast-bob")


def test_forced_ajax_echoes_and_broadcasts(open_demo: Callable[..., DemoPage]) -> None:
    # alice asks for Ajax in the URL; bob starts on a WebSocket and switches with the button
    alice, bob = open_demo("alice", query="?type=ajax"), open_demo("bob")
    alice.wait_open("ajax")
    alice.wait_line(r"client \S+, type ajax$")
    alice.wait_line(r"chsk/state: first-open\? opened\?, type ajax")
    bob.wait_open("ws")
    bob.click("use-ajax")
    bob.wait_open("ajax")
    bob.wait_line(r"chsk/state: opened\?, type ajax")
    for user in (alice, bob):
        user.login(user.name)
        user.wait_open("ajax")
        user.echo(nonce(f"echo over ajax for {user.name}"))
    data = nonce("from alice over ajax")
    alice.click("broadcast", data)
    bob.wait_line(broadcast_line("alice", data))
    data = nonce("from bob over ajax")
    bob.click("broadcast", data)
    alice.wait_line(broadcast_line("bob", data))
    alice.shot("ajax-alice")
    bob.shot("ajax-bob")
    # and back to a WebSocket
    bob.click("use-ws")
    bob.wait_open("ws")
    bob.echo(nonce("echo over ws again"))


def test_offline_shows_reconnecting_and_back_online_reconnects_by_itself(
    open_demo: Callable[..., DemoPage], proxy: Proxy
) -> None:
    bob = open_demo("bob", via_proxy=True)
    bob.wait_open("ws")
    bob.login("bob")
    bob.echo(nonce("before going offline"))

    bob.context.set_offline(True)
    proxy.set_online(False)  # set_offline alone leaves the open WebSocket up
    expect(bob.status).to_have_attribute("data-open", "false")
    expect(bob.status).to_have_text(re.compile(r"^(retry-wait|connecting)$"))
    bob.wait_line(r"chsk/state: closed\? \(.+\), type ws")
    bob.click("echo", nonce("while offline"))
    bob.wait_line("failed: :chsk/closed")  # as Sente: the callback gets :chsk/closed at once
    bob.wait_line("not open: nothing sent")
    bob.shot("offline")

    proxy.set_online(True)
    bob.context.set_offline(False)
    # the browser's "online" event: the client tries at once instead of waiting its backoff out
    bob.wait_open("ws")
    expect(bob.page.locator("#uid")).to_have_text('"bob"')
    bob.wait_line(re.escape('handshake: [:chsk/handshake ["bob" nil nil false]]'))  # not a first
    bob.echo(nonce("back online"))
    bob.shot("back-online")


def test_the_broadcast_loop_ticks_until_toggled_off(open_demo: Callable[..., DemoPage]) -> None:
    alice = open_demo("alice")
    alice.wait_open("ws")
    alice.click("toggle-loop")
    alice.wait_line(re.escape("reply: {:running? true}"))
    for i in (0, 1):
        alice.wait_line(re.escape(f"event: [:example/tick {{:i {i}}}]"))
    alice.shot("loop-ticking")

    alice.click("toggle-loop")
    alice.wait_line(re.escape("reply: {:running? false}"))
    ticks = alice.line(r"event: \[:example/tick ")
    seen = ticks.count()
    t0 = alice.page.evaluate("performance.now()")
    # That nothing more comes needs a window: 2.5 ticks, left early if a second tick comes. One
    # tick may still arrive: broadcasts wait out a batching window, replies do not.
    alice.page.wait_for_function(
        """([seen, t0, ms]) => {
          const ticks = [...document.querySelectorAll("#event-log > div")]
            .filter((d) => d.textContent.includes("event: [:example/tick "));
          return ticks.length > seen + 1 || performance.now() - t0 > ms;
        }""",
        arg=[seen, t0, 2.5 * TICK_S * 1000 * S],
        polling=100,
        timeout=10 * PW_S,
    )
    assert ticks.count() <= seen + 1
    alice.shot("loop-stopped")
