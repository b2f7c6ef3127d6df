"""The demo app (Sente's example project): page, login, echo, broadcast, broadcast loop."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse

from jupyter_sente.demo import make_app
from jupyter_sente.demo.__main__ import parse_args
from tests.server.helpers import Live, S, body, ms, read, read_until


@dataclass
class Browser:
    """A page load: the session cookie and the page's CSRF token."""

    cookie: str
    csrf: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Cookie": self.cookie, **extra}


@pytest_asyncio.fixture
async def demo() -> AsyncIterator[Callable[..., Live]]:
    lives: list[Live] = []

    def start(**options: Any) -> Live:
        app = make_app(**{"tick_ms": ms(50), "lp_timeout_ms": ms(2_000), **options})
        live = Live(app.settings["demo"].server, app).start()
        live.demo = app.settings["demo"]  # type: ignore[attr-defined]
        lives.append(live)
        return live

    yield start
    for live in lives:
        live.demo.close()  # type: ignore[attr-defined]
        await live.stop()


async def open_page(live: Live) -> Browser:
    response = await AsyncHTTPClient().fetch(live.url("/"))
    page = body(response)
    match = re.search(r'id="sente-csrf-token"[^>]*data-csrf-token="([^"]+)"', page)
    assert match, "the page carries the CSRF token"
    cookie = "; ".join(c.split(";")[0] for c in response.headers.get_list("Set-Cookie"))
    assert cookie.startswith("sente-demo-session=")
    return Browser(cookie, match.group(1))


async def login(
    live: Live, browser: Browser, user_id: str, csrf: str | None = None
) -> HTTPResponse:
    return await AsyncHTTPClient().fetch(
        live.url("/login"),
        method="POST",
        body=urlencode({"user-id": user_id}),
        headers=browser.headers(**{"X-CSRF-Token": csrf or browser.csrf}),
        raise_error=False,
    )


async def ws(live: Live, browser: Browser, client_id: str = "tab-1") -> Any:
    return await live.ws(client_id, headers=browser.headers(), csrf_token=browser.csrf)


@pytest.mark.asyncio
async def test_page_has_the_csrf_token_and_the_documented_element_ids(
    demo: Callable[..., Live],
) -> None:
    live = demo()
    response = await AsyncHTTPClient().fetch(live.url("/"))
    page = body(response)
    for element_id in (
        "sente-csrf-token",
        "status",
        "transport",
        "uid",
        "login-user-id",
        "btn-login",
        "send-data",
        "btn-send",
        "btn-echo",
        "btn-broadcast",
        "btn-toggle-loop",
        "btn-use-ws",
        "btn-use-ajax",
        "btn-disconnect",
        "btn-reconnect",
        "btn-clear-log",
        "event-log",
    ):
        assert f'id="{element_id}"' in page, element_id
    assert '<script type="module">' in page and "/static/demo.js" in page
    browser = await open_page(live)
    assert len(browser.csrf) >= 32


@pytest.mark.asyncio
async def test_same_session_keeps_its_token_and_a_new_one_gets_another(
    demo: Callable[..., Live],
) -> None:
    live = demo()
    first = await open_page(live)
    again = await AsyncHTTPClient().fetch(live.url("/"), headers=first.headers())
    assert f'data-csrf-token="{first.csrf}"' in body(again)
    assert (await open_page(live)).csrf != first.csrf


@pytest.mark.asyncio
async def test_channel_socket_needs_the_pages_csrf_token(demo: Callable[..., Live]) -> None:
    live = demo()
    browser = await open_page(live)
    refused = await live.get("c1", headers=browser.headers())
    assert (refused.code, body(refused)) == (403, "Bad CSRF token")
    with pytest.raises(HTTPClientError) as upgrade:
        await live.ws("c1", headers=browser.headers(), csrf_token="wrong")
    assert upgrade.value.code == 403
    ok = await live.get("c1", headers=browser.headers(**{"X-CSRF-Token": browser.csrf}))
    assert body(ok) == "[[:chsk/handshake [:sente/nil-uid nil nil]] nil]"


@pytest.mark.asyncio
async def test_login_sets_the_uid_that_the_next_handshake_shows(demo: Callable[..., Live]) -> None:
    live = demo()
    browser = await open_page(live)
    socket = await ws(live, browser)
    assert await read(socket) == "[[:chsk/handshake [:sente/nil-uid nil nil]] nil]"
    assert (await login(live, browser, "alice", csrf="forged")).code == 403
    response = await login(live, browser, "alice")
    assert (response.code, body(response)) == (200, "ok")
    again = await ws(live, browser, "tab-2")
    assert await read(again) == '[[:chsk/handshake ["alice" nil nil]] nil]'
    # Ajax picks the new uid up at its next request: no entry for it yet, so a handshake
    poll = await live.get("tab-3", headers=browser.headers(**{"X-CSRF-Token": browser.csrf}))
    assert body(poll) == '[[:chsk/handshake ["alice" nil nil]] nil]'


@pytest.mark.asyncio
async def test_login_needs_a_user_id(demo: Callable[..., Live]) -> None:
    live = demo()
    browser = await open_page(live)
    response = await login(live, browser, "  ")
    assert response.code == 400


@pytest.mark.asyncio
async def test_echo_replies_over_websocket_and_ajax(demo: Callable[..., Live]) -> None:
    live = demo()
    browser = await open_page(live)
    socket = await ws(live, browser)
    await read(socket)
    socket.write_message('[[:example/echo {:msg "hi"}] "a1b2c3"]')
    assert await read(socket) == '[{:msg "hi"} "a1b2c3"]'
    response = await live.post(
        "[[:example/echo [1 2]] :ajax]",
        "tab-2",
        headers=browser.headers(**{"X-CSRF-Token": browser.csrf}),
    )
    assert body(response) == "[[1 2] nil]"


@pytest.mark.asyncio
async def test_broadcast_reaches_every_client_with_the_senders_uid(
    demo: Callable[..., Live],
) -> None:
    live = demo()
    alice, anon = await open_page(live), await open_page(live)
    await login(live, alice, "alice")
    alice_ws, anon_ws = await ws(live, alice, "a1"), await ws(live, anon, "n1")
    await read(alice_ws)
    await read(anon_ws)
    ajax_headers = anon.headers(**{"X-CSRF-Token": anon.csrf})
    assert (await live.get("n2", headers=ajax_headers)).code == 200  # handshake
    poll = asyncio.ensure_future(live.get("n2", headers=ajax_headers))
    await live.until(lambda: any(c.is_open for c in live.server.connections(transport="ajax")))
    alice_ws.write_message('[[:example/broadcast "hello all"] nil]')
    expected = '[[[:example/broadcast {:from "alice", :data "hello all"}]] nil]'
    pattern = re.compile(
        r'\[\[\[:example/broadcast \{:from "alice",? :data "hello all"\}\]\] nil\]'
    )
    assert pattern.fullmatch(await read(alice_ws) or ""), expected
    assert pattern.fullmatch(await read(anon_ws) or "")
    assert pattern.fullmatch(body(await poll))
    # from Ajax: a POST; the anonymous sender is :sente/nil-uid
    await live.post("[[:example/broadcast 7] nil]", "n2", headers=ajax_headers)
    from_anon = re.compile(r"\[\[\[:example/broadcast \{:from :sente/nil-uid,? :data 7\}\]\] nil\]")
    assert from_anon.fullmatch(await read(alice_ws) or "")


@pytest.mark.asyncio
async def test_broadcast_loop_ticks_until_toggled_off(demo: Callable[..., Live]) -> None:
    live = demo(tick_ms=ms(30))
    browser = await open_page(live)
    socket = await ws(live, browser)
    await read(socket)
    socket.write_message('[[:example/toggle-broadcast-loop] "000001"]')
    assert await read(socket) == '[{:running? true} "000001"]'
    ticks = [await read_until(socket, lambda m: ":example/tick" in m) for _ in range(3)]
    assert re.search(r"\[:example/tick \{:i 0\}\]", ticks[0])
    assert "{:i 2}" in "".join(ticks)
    socket.write_message('[[:example/toggle-broadcast-loop] "000002"]')
    assert (
        await read_until(socket, lambda m: m.endswith('"000002"]'))
        == '[{:running? false} "000002"]'
    )
    assert not live.demo.loop_running  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_json_packer_demo_speaks_json(demo: Callable[..., Live]) -> None:
    live = demo(packer="json")
    browser = await open_page(live)
    socket = await ws(live, browser)
    assert await read(socket) == '[["~:chsk/handshake",["~:sente/nil-uid",null,null]],null]'
    socket.write_message('[["~:example/echo",{"~:x":[1,"two"]}],"a1b2c3"]')
    assert await read(socket) == '[{"~:x":[1,"two"]},"a1b2c3"]'


def test_command_line_options() -> None:
    args = parse_args(
        [
            "--port",
            "0",
            "--packer",
            "json",
            "--lp-timeout-ms",
            "5000",
            "--ws-kalive-ms",
            "8000",
            "--allowed-origin",
            "http://127.0.0.1:1",
            "--allowed-origin",
            "http://localhost:1",
        ]
    )
    assert (args.port, args.packer, args.lp_timeout_ms, args.ws_kalive_ms) == (
        0,
        "json",
        5000,
        8000,
    )
    assert args.allowed_origin == ["http://127.0.0.1:1", "http://localhost:1"]


def test_python_dash_m_prints_the_url_and_serves_the_page() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_sente.demo", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"jupyter-sente demo: (http://127\.0\.0\.1:\d+/)\n", line)
        assert match, line
        with urllib.request.urlopen(match.group(1), timeout=10 * S) as page:
            assert b'id="sente-csrf-token"' in page.read()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10 * S) == 0
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
